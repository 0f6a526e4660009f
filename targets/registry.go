package targets

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Factory builds a Target from its validated configuration.
type Factory func(cfg Config) (Target, error)

// Registration is what a design tells the registry about itself.
type Registration struct {
	// Name is the name users select the design by ("ledger-serializable").
	Name string
	// Description is one line shown by `stampede targets`.
	Description string
	// OptionPrefix namespaces the design's options: with prefix "memory",
	// `-opt memory.rtt=200us` sets option "rtt". Designs of one family
	// share a prefix.
	OptionPrefix string
	// Options lists the options the design accepts.
	Options []OptionSpec
	// New builds the design.
	New Factory
	// External marks a design that measures a system of the user's own
	// (the http design, given a URL): it runs only when named, never as
	// part of -targets all.
	External bool
}

// Config is what a Factory receives.
type Config struct {
	// Options holds every option of the design's prefix, defaults filled
	// in and values validated against their kinds.
	Options Options
	// Backends hands out the servers designs run on. It is nil for
	// designs that need none; a design that needs one and finds it nil
	// returns an error from its Factory.
	Backends Backends
}

// Backends hands designs the servers they run on: a server the user named,
// or an embedded one started on first use and stopped when the program is
// done with it. It is safe for concurrent use.
type Backends interface {
	// Postgres returns a connection string for a PostgreSQL server. Never
	// print it: it may hold a password (see redact.DSN).
	Postgres(ctx context.Context) (dsn string, err error)
	// NATS returns a NATS server with JetStream, or a cluster: the user's,
	// or embedded servers started as opt asks.
	NATS(ctx context.Context, opt NATSOptions) (NATSServer, error)
}

// NATSServer is the NATS a design runs on.
type NATSServer struct {
	// URL lists the client URLs, comma-separated. Never print it: it may
	// hold a password or a token (see redact.URLs).
	URL string
	// Embedded says stampede started these servers, with the NATSOptions
	// asked for. For a server the user named it is false, and what the
	// server does (its fsync, its replicas) is known only from what it
	// says about itself.
	Embedded bool
}

// NATSOptions is what a design asks of an embedded NATS: how many servers
// (1, or 3 clustered) and whether every message is fsynced. A server the
// user named is used as it is.
type NATSOptions struct {
	Servers    int
	SyncAlways bool
}

// ErrNoBackends is returned by designs that need a server when their
// Config has no Backends.
var ErrNoBackends = errors.New("no backends configured")

var (
	regMu    sync.RWMutex
	registry = map[string]Registration{}
)

// ErrUnknownTarget is wrapped by Lookup's error for a name nobody registered.
var ErrUnknownTarget = errors.New("unknown target")

// Register makes a design available by name. It is meant to be called from
// init functions and panics if the name is empty, has no factory, or is
// already taken. It is safe for concurrent use.
func Register(r Registration) {
	if r.Name == "" || r.New == nil {
		panic("targets: Register needs a name and a factory")
	}
	if r.OptionPrefix == "" {
		r.OptionPrefix = r.Name
	}
	for _, o := range r.Options {
		if err := o.check(); err != nil {
			panic(fmt.Sprintf("targets: Register(%q): %v", r.Name, err))
		}
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[r.Name]; dup {
		panic(fmt.Sprintf("targets: Register called twice for %q", r.Name))
	}
	registry[r.Name] = r
}

// Names returns the registered names, sorted. It is safe for concurrent use.
func Names() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Lookup returns the registration of name, or an error that lists the known
// names. It is safe for concurrent use.
func Lookup(name string) (Registration, error) {
	regMu.RLock()
	r, ok := registry[name]
	regMu.RUnlock()
	if !ok {
		return Registration{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownTarget, name, strings.Join(Names(), ", "))
	}
	return r, nil
}

// Shipped returns the names of the designs stampede ships, sorted: every
// registered one but the External ones. It is what -targets all runs.
func Shipped() []string {
	var out []string
	for _, n := range Names() {
		if r, _ := Lookup(n); !r.External {
			out = append(out, n)
		}
	}
	return out
}

// Registrations returns every registration, sorted by name.
func Registrations() []Registration {
	names := Names()
	out := make([]Registration, 0, len(names))
	regMu.RLock()
	defer regMu.RUnlock()
	for _, n := range names {
		out = append(out, registry[n])
	}
	return out
}

// Resolve looks up every name and validates the user's `-opt` pairs against
// the options of the selected designs. Every pair must belong to a selected
// design's prefix and name an option it declares. It returns the
// registrations and each one's Config, in the order of names.
func Resolve(names []string, opts []string) ([]Registration, []Config, error) {
	if len(names) == 0 {
		return nil, nil, fmt.Errorf("-targets: no target named (known: %s)", strings.Join(Names(), ", "))
	}
	regs := make([]Registration, 0, len(names))
	seen := map[string]bool{}
	for _, n := range names {
		n = strings.TrimSpace(n)
		if seen[n] {
			return nil, nil, fmt.Errorf("-targets: %q named twice", n)
		}
		seen[n] = true
		r, err := Lookup(n)
		if err != nil {
			return nil, nil, fmt.Errorf("-targets: %w", err)
		}
		regs = append(regs, r)
	}
	given, err := parsePairs(opts)
	if err != nil {
		return nil, nil, err
	}
	// Every given key must be accepted by some selected design.
	accepted := map[string]OptionSpec{}
	var acceptedKeys []string
	for _, r := range regs {
		for _, o := range r.Options {
			k := r.OptionPrefix + "." + o.Key
			if _, ok := accepted[k]; !ok {
				acceptedKeys = append(acceptedKeys, k)
			}
			accepted[k] = o
		}
	}
	sort.Strings(acceptedKeys)
	for _, p := range given {
		spec, ok := accepted[p.key]
		if !ok {
			list := "none for these targets"
			if len(acceptedKeys) > 0 {
				list = strings.Join(acceptedKeys, ", ")
			}
			return nil, nil, fmt.Errorf("-opt %s: unknown option (accepted: %s)", p.key, list)
		}
		if err := spec.validate(p.value); err != nil {
			return nil, nil, fmt.Errorf("-opt %s=%s: %v", p.key, p.value, err)
		}
	}
	cfgs := make([]Config, len(regs))
	for i, r := range regs {
		o := Options{}
		for _, spec := range r.Options {
			o[spec.Key] = spec.Default
		}
		for _, p := range given {
			if prefix, key, _ := strings.Cut(p.key, "."); prefix == r.OptionPrefix {
				o[key] = p.value
			}
		}
		cfgs[i] = Config{Options: o}
	}
	return regs, cfgs, nil
}
