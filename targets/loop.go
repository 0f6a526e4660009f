package targets

import (
	"context"
	"errors"
	"time"
)

// LoopTarget is a Target whose clients can also run as tasks of an event
// loop: Buy is the same blocking code, but it waits for its backend through
// the Loop (LoopFD.Wait, Loop.Sleep, Loop.Park) instead of parking its
// goroutine, so that one thread drives every user without the Go
// scheduler's hand-offs, as pgbench does. The engine uses it for
// closed-loop users. Such a client must not block its goroutine for long
// (that stalls every task) nor retain ctx; it ends an attempt with
// Unknown when the loop is cancelled.
type LoopTarget interface {
	Target
	// NewLoopClient returns the client of one task of loop, or ErrNoLoop.
	// It is called from the goroutine that owns the Target, before the
	// loop runs; the client's Buy and Close run on the loop.
	NewLoopClient(ctx context.Context, worker int, loop Loop) (Client, error)
}

// ErrNoLoop is NewLoopClient's answer for a variant of a design that has
// no event-loop client: the engine then gives every worker a goroutine.
var ErrNoLoop = errors.New("no event-loop client")

// Loop is what a LoopTarget's client needs of the event loop it runs on:
// one goroutine runs many tasks, and a task hands control back to the loop
// wherever it would block. Every method but Register is called from a task
// of the loop.
type Loop interface {
	// Register adds a non-blocking descriptor to the loop (before the loop
	// runs, or from a task) and returns the handle a task waits on. The
	// descriptor stays the caller's to close, after Unregister.
	Register(fd int) (LoopFD, error)
	// Sleep parks the calling task for d, or until the loop is cancelled.
	Sleep(d time.Duration)
	// Cancelled reports whether the loop was cancelled: the run is
	// stopping, and a task that slept ends its attempt.
	Cancelled() bool
	// Self returns the calling task's Waker, for another task to wake it
	// from Park.
	Self() Waker
	// Park parks the calling task until a task of the loop wakes it (nil),
	// until deadline (context.DeadlineExceeded; the zero time waits
	// without one), or until the loop is cancelled (context.Canceled). A
	// wake may be stale: the task checks what it waited for.
	Park(deadline time.Time) error
}

// LoopFD is a descriptor registered with a Loop.
type LoopFD interface {
	// Wait parks the calling task until the descriptor may be ready (for
	// reading or writing: the caller tries again and waits again on
	// EAGAIN), until deadline (context.DeadlineExceeded; the zero time
	// waits without one), or until the loop is cancelled
	// (context.Canceled).
	Wait(deadline time.Time) error
	// Unregister removes the descriptor from the loop.
	Unregister()
}

// Waker wakes one task of a Loop parked in Park; it is called from a task
// of the same loop. A task not in Park is left alone.
type Waker interface {
	Wake()
}
