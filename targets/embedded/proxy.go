package embedded

import (
	"context"
	"errors"
	"fmt"

	"github.com/stampede-bench/stampede/targets"
)

// Proxy is a TCP proxy on 127.0.0.1 in front of a server, through which
// network faults are put between the clients and the server.
// (Stub: to be written on Toxiproxy, used as a library.)
type Proxy struct{ addr string }

// StartProxy starts a proxy named name on a free port of 127.0.0.1 that
// forwards to upstream (host:port).
func StartProxy(name, upstream string) (*Proxy, error) {
	return nil, errors.New("proxy: not written yet")
}

// Addr returns the proxy's host:port.
func (p *Proxy) Addr() string { return p.addr }

// Inject adds the network fault f (latency, blackhole, reset) to the
// proxy now and returns the function that removes it.
func (p *Proxy) Inject(f targets.Fault) (func(context.Context) error, error) {
	return nil, fmt.Errorf("%w: %s: not written yet", targets.ErrFault, f.Kind)
}

// Close stops the proxy: its port no longer listens.
func (p *Proxy) Close() error { return nil }
