package targets

import (
	"context"
	"errors"
	"time"
)

// The kinds of fault a run can put into a backend.
const (
	// FaultPause stops the backend's processes (SIGSTOP) for the fault's
	// length, then resumes them (SIGCONT): a long GC pause, a stalled VM.
	FaultPause = "pause"
	// FaultCrash kills the backend's processes outright (SIGKILL) and
	// restarts them on the same data after the fault's length: crash
	// recovery. On a JetStream cluster, one server: the stream leader.
	FaultCrash = "crash"
	// FaultLatency adds Latency, give or take up to Jitter, to each round
	// trip between the clients and the backend, through a proxy.
	FaultLatency = "latency"
	// FaultBlackhole makes the proxy swallow the traffic: connections
	// hang, neither answered nor closed.
	FaultBlackhole = "blackhole"
	// FaultReset makes the proxy cut every connection that carries data
	// (a TCP reset); new ones are cut too while it lasts.
	FaultReset = "reset"
)

// FaultKinds lists the kinds of fault, for messages.
var FaultKinds = []string{FaultPause, FaultCrash, FaultLatency, FaultBlackhole, FaultReset}

// The backends a fault can be put into.
const (
	FaultOnPostgres = "postgres"
	FaultOnNATS     = "nats"
)

// Fault is one fault a run puts into a backend during the load.
type Fault struct {
	Kind string // one of FaultKinds
	On   string // FaultOnPostgres or FaultOnNATS
	// At is when it starts, from the start of the load; For, how long it
	// lasts (a crash: how long the server stays down before its restart).
	At, For time.Duration
	// Latency and Jitter are a latency fault's added delay.
	Latency, Jitter time.Duration
}

// Network reports whether the fault is one of the proxy's.
func (f Fault) Network() bool {
	return f.Kind == FaultLatency || f.Kind == FaultBlackhole || f.Kind == FaultReset
}

// ErrFault is wrapped by the error of a fault that a backend cannot take
// (a server the user named, a kind the backend does not support).
var ErrFault = errors.New("cannot inject the fault")

// Injector is Backends that can put faults into the servers it runs.
type Injector interface {
	Backends
	// PrepareFaults is told, before any design asks for its servers,
	// every fault the run will inject, so that the servers start in a way
	// that can take them (behind a proxy, as child processes). Its error
	// wraps ErrFault for a fault it cannot inject.
	PrepareFaults(faults []Fault) error
	// InjectFault puts f into the backend now and returns the function
	// that undoes it (resumes what it paused, restarts what it killed,
	// removes what it added to the proxy) and waits, within ctx, until the
	// backend accepts work again. undo is called once, on every way out of
	// a run.
	InjectFault(ctx context.Context, f Fault) (undo func(ctx context.Context) error, err error)
}
