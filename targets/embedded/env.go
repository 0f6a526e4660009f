package embedded

import (
	"context"
	"errors"
	"sync"

	"github.com/stampede-bench/stampede/targets"
)

// Env hands designs their servers: the ones the user named, or embedded
// ones started on first use. One Env serves a whole program run, so every
// design of a run shares one embedded server; Close stops it. Env is safe
// for concurrent use.
type Env struct {
	// PostgresDSN names a PostgreSQL server to use; empty means embedded.
	PostgresDSN string
	// PostgresOptions tunes the embedded server.
	PostgresOptions PostgresOptions

	// NATSURL names a NATS server (or cluster) to use; empty means
	// embedded.
	NATSURL string

	mu     sync.Mutex
	pg     *Postgres
	nats   map[targets.NATSOptions]*NATS
	closed bool
}

// NATS returns the user's URL, or starts the embedded servers that opt
// asks for on first use (one set per distinct opt) and returns their URLs.
func (e *Env) NATS(ctx context.Context, opt targets.NATSOptions) (targets.NATSServer, error) {
	if e.NATSURL != "" {
		return targets.NATSServer{URL: e.NATSURL}, nil
	}
	opt.Servers = max(opt.Servers, 1)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return targets.NATSServer{}, ErrClosed
	}
	if ns, ok := e.nats[opt]; ok {
		return targets.NATSServer{URL: ns.URL, Embedded: true}, nil
	}
	ns, err := StartNATS(ctx, opt)
	if err != nil {
		return targets.NATSServer{}, err
	}
	if e.nats == nil {
		e.nats = map[targets.NATSOptions]*NATS{}
	}
	e.nats[opt] = ns
	return targets.NATSServer{URL: ns.URL, Embedded: true}, nil
}

var _ targets.Backends = (*Env)(nil)

// ErrClosed is returned for servers asked of a closed Env.
var ErrClosed = errors.New("embedded: environment closed")

// Postgres returns the DSN of the user's server, or starts the embedded
// server on first use and returns its DSN.
func (e *Env) Postgres(ctx context.Context) (string, error) {
	if e.PostgresDSN != "" {
		return e.PostgresDSN, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return "", ErrClosed
	}
	if e.pg == nil {
		pg, err := StartPostgres(ctx, e.PostgresOptions)
		if err != nil {
			return "", err
		}
		e.pg = pg
	}
	return e.pg.DSN, nil
}

// Close stops every embedded server and removes its files. It is safe to
// call more than once.
func (e *Env) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	var errs []error
	if e.pg != nil {
		errs = append(errs, e.pg.Stop())
		e.pg = nil
	}
	for k, ns := range e.nats {
		errs = append(errs, ns.Stop())
		delete(e.nats, k)
	}
	return errors.Join(errs...)
}
