package embedded

import (
	"context"
	"errors"
	"fmt"
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

	// Set by PrepareFaults: PostgreSQL is reached through a proxy that
	// can add network faults; the NATS servers run as child processes
	// that can be paused and killed.
	pgProxied    bool
	proxy        *Proxy
	natsChildren bool
	note         string // what the last fault did
}

// FaultNote says what the last fault put in did, such as which server
// of a cluster it killed.
func (e *Env) FaultNote() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.note
}

func (e *Env) setNote(s string) {
	e.mu.Lock()
	e.note = s
	e.mu.Unlock()
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
	start := StartNATS
	if e.natsChildren {
		start = StartNATSChildren
	}
	ns, err := start(ctx, opt)
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
	if e.pgProxied {
		if e.proxy == nil {
			px, err := StartProxy("postgres", fmt.Sprintf("127.0.0.1:%d", e.pg.Port))
			if err != nil {
				return "", err
			}
			e.proxy = px
		}
		return fmt.Sprintf("postgres://stampede@%s/postgres?sslmode=disable", e.proxy.Addr()), nil
	}
	return e.pg.DSN, nil
}

var _ targets.Injector = (*Env)(nil)

// PrepareFaults makes the servers this Env starts able to take faults:
// PostgreSQL behind a proxy for network faults, the NATS servers as child
// processes to pause or kill. A server the user named takes no fault.
func (e *Env) PrepareFaults(faults []targets.Fault) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, f := range faults {
		switch f.On {
		case targets.FaultOnPostgres:
			if e.PostgresDSN != "" {
				return fmt.Errorf("%w: %s on postgres: stampede puts faults only into the PostgreSQL it runs itself (leave -pg out)", targets.ErrFault, f.Kind)
			}
			if e.pg != nil && f.Network() && !e.pgProxied {
				return fmt.Errorf("%w: %s on postgres: the server started before the faults were known", targets.ErrFault, f.Kind)
			}
			e.pgProxied = e.pgProxied || f.Network()
		case targets.FaultOnNATS:
			if e.NATSURL != "" {
				return fmt.Errorf("%w: %s on nats: stampede puts faults only into the NATS servers it runs itself (leave -nats out)", targets.ErrFault, f.Kind)
			}
			if f.Network() {
				return fmt.Errorf("%w: %s on nats: network faults are put between the clients and PostgreSQL only (accepted on nats: pause, crash)", targets.ErrFault, f.Kind)
			}
			if len(e.nats) > 0 && !e.natsChildren {
				return fmt.Errorf("%w: %s on nats: the servers started before the faults were known", targets.ErrFault, f.Kind)
			}
			e.natsChildren = true
		default:
			return fmt.Errorf("%w: on %q (accepted: postgres, nats)", targets.ErrFault, f.On)
		}
	}
	return nil
}

// InjectFault puts f into the servers started for it: PostgreSQL's
// processes or its proxy, or every set of NATS servers started.
func (e *Env) InjectFault(ctx context.Context, f targets.Fault) (func(context.Context) error, error) {
	e.mu.Lock()
	pg, proxy := e.pg, e.proxy
	var sets []*NATS
	for _, ns := range e.nats {
		sets = append(sets, ns)
	}
	e.mu.Unlock()
	switch {
	case f.On == targets.FaultOnPostgres && f.Network():
		if proxy == nil {
			return nil, fmt.Errorf("%w: %s on postgres: no proxy (PrepareFaults was not told)", targets.ErrFault, f.Kind)
		}
		return proxy.Inject(f)
	case f.On == targets.FaultOnPostgres:
		if pg == nil {
			return nil, fmt.Errorf("%w: %s on postgres: no embedded PostgreSQL runs", targets.ErrFault, f.Kind)
		}
		undo, err := pg.Inject(ctx, f)
		if err == nil && f.Kind == targets.FaultCrash {
			e.setNote("killed every process of PostgreSQL (SIGKILL); restarted on the same data directory")
		} else if err == nil {
			e.setNote("stopped every process of PostgreSQL (SIGSTOP), then resumed them")
		}
		return undo, err
	case f.On == targets.FaultOnNATS:
		if len(sets) == 0 {
			return nil, fmt.Errorf("%w: %s on nats: no embedded NATS runs", targets.ErrFault, f.Kind)
		}
		var undos []func(context.Context) error
		for _, ns := range sets {
			undo, err := ns.Inject(ctx, f)
			if err != nil {
				for _, u := range undos {
					_ = u(ctx)
				}
				return nil, err
			}
			undos = append(undos, undo)
			e.setNote(ns.LastFault())
		}
		return func(ctx context.Context) error {
			var errs []error
			for _, u := range undos {
				errs = append(errs, u(ctx))
			}
			return errors.Join(errs...)
		}, nil
	}
	return nil, fmt.Errorf("%w: on %q (accepted: postgres, nats)", targets.ErrFault, f.On)
}

// Close stops every embedded server and removes its files. It is safe to
// call more than once.
func (e *Env) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	var errs []error
	if e.proxy != nil {
		errs = append(errs, e.proxy.Close())
		e.proxy = nil
	}
	if e.pg != nil {
		errs = append(errs, e.pg.Stop()) // a paused server is resumed first
		e.pg = nil
	}
	for k, ns := range e.nats {
		errs = append(errs, ns.Stop())
		delete(e.nats, k)
	}
	return errors.Join(errs...)
}
