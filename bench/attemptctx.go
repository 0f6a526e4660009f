package bench

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// attemptCtx is the context.Context of one attempt, reused by its worker for
// every attempt so the hot path allocates nothing. Its deadline is the
// attempt's timeout. A timer is armed only when a design asks for Done
// (designs that only read Deadline pay nothing), and the context is
// cancelled with the run. Once a design has asked for Done, its worker
// retires the context (see asked).
//
// The worker calls begin before Buy and end after it; Done, Err, Deadline
// and Value may be called from any goroutine during Buy, as the context
// contract allows. mu belongs to this worker alone: it is taken when a
// design asks for Done, when the timer fires and when the run is cancelled,
// never by another worker.
type attemptCtx struct {
	parent   context.Context
	deadline time.Time // written by begin, before Buy

	armed atomic.Bool // a timer is running for this attempt
	// asked is set once a design has called Done. The worker then stops
	// reusing this context: code the design calls may touch Done after
	// Buy returned (the standard library's context.WithCancel watches its
	// parent from a goroutine of its own), which a reused context cannot
	// allow. Such designs get a fresh context per attempt instead.
	asked atomic.Bool
	mu    sync.Mutex
	done  chan struct{} // guarded by mu; replaced after it was closed by a timeout
	fired bool          // guarded by mu: done is closed
	err   error         // guarded by mu
	timer *time.Timer
}

var _ context.Context = (*attemptCtx)(nil)

func newAttemptCtx(parent context.Context) *attemptCtx {
	c := &attemptCtx{parent: parent, done: make(chan struct{})}
	c.timer = time.AfterFunc(time.Hour, func() { c.cancel(context.DeadlineExceeded) })
	c.timer.Stop()
	return c
}

// begin prepares the context for an attempt that must end by deadline (the
// zero time for none).
func (c *attemptCtx) begin(deadline time.Time) { c.deadline = deadline }

// end closes the attempt: it stops the timer if Done armed one and, if the
// timeout fired, gives the next attempt a fresh channel (the only
// allocation, and only after a timeout).
func (c *attemptCtx) end() {
	if !c.armed.Load() {
		return
	}
	c.armed.Store(false)
	if !c.timer.Stop() {
		// The timer went off: wait until its callback has closed done.
		for {
			c.mu.Lock()
			if c.fired {
				break
			}
			c.mu.Unlock()
			runtime.Gosched()
		}
	} else {
		c.mu.Lock()
	}
	if c.fired && c.parent.Err() == nil {
		c.done, c.fired, c.err = make(chan struct{}), false, nil
	}
	c.mu.Unlock()
}

// cancel closes done, once, with err.
func (c *attemptCtx) cancel(err error) {
	c.mu.Lock()
	if !c.fired {
		c.fired, c.err = true, err
		close(c.done)
	}
	c.mu.Unlock()
}

// Deadline returns the attempt's deadline.
func (c *attemptCtx) Deadline() (time.Time, bool) {
	return c.deadline, !c.deadline.IsZero()
}

// Done returns a channel closed when the attempt times out or the run is
// cancelled. The first call of an attempt arms the timeout's timer.
func (c *attemptCtx) Done() <-chan struct{} {
	c.asked.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.fired && !c.deadline.IsZero() && !c.armed.Load() {
		c.armed.Store(true)
		c.timer.Reset(time.Until(c.deadline))
	}
	return c.done
}

// Err returns why the attempt's context is done, or nil.
func (c *attemptCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fired {
		return c.err
	}
	if !c.deadline.IsZero() && !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// Value returns the run context's value for key.
func (c *attemptCtx) Value(key any) any { return c.parent.Value(key) }
