package embedded

import (
	"context"
	"errors"
	"fmt"

	"github.com/stampede-bench/stampede/targets"
)

// StartNATSChildren starts the servers opt asks for as child processes of
// this program, so that a fault can pause or kill one. (Stub.)
func StartNATSChildren(ctx context.Context, opt targets.NATSOptions) (*NATS, error) {
	return nil, errors.New("nats: child processes: not written yet")
}

// Inject puts a pause or a crash into the servers (a cluster: the stream
// leader's server) and returns the function that undoes it. (Stub.)
func (ns *NATS) Inject(ctx context.Context, f targets.Fault) (func(context.Context) error, error) {
	return nil, fmt.Errorf("%w: %s on nats: not written yet", targets.ErrFault, f.Kind)
}
