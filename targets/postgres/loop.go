package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/stampede-bench/stampede/targets"
)

// LoopConn is a task's way to the server on an event loop, the Conn of
// postgres.Wire: while the loop has no more tasks with a LoopConn than the
// design's pool has connections, each task keeps a Wire of its own, as
// pgbench's clients do, and Exec is that Wire's. With more, the tasks
// share the pool's Wires: an attempt takes one and gives it back, and a
// task that finds none free waits in line through the loop (its thread
// goes on serving the other tasks) until one is handed to it or its
// deadline passes (ErrNoConnection). A LoopConn belongs to one task.
type LoopConn struct {
	p *wirePool
	w *Wire // held: for good while the pool is not shared, else for an attempt
	// wake wakes the task when a releasing task hands it a Wire; set when
	// it gets in line.
	wake       targets.Waker
	prev, next *LoopConn // in the pool's line of waiters
	queued     bool
	closed     bool
}

// wirePool is a design's Wires on one loop. The goroutine making the
// clients touches it before the loop runs, then only the loop's tasks.
type wirePool struct {
	db      *DB
	loop    targets.Loop
	clients int     // LoopConns open
	wires   []*Wire // every Wire dialed
	idle    []*Wire
	// the line of tasks waiting for a Wire, first come first served
	head, tail *LoopConn
}

// LoopConn returns a task's connection on loop. The first Size tasks of a
// loop each dial a Wire; the tasks beyond share them. It is called, as
// NewLoopClient is, from the goroutine that owns the target, before the
// loop runs.
func (db *DB) LoopConn(ctx context.Context, loop targets.Loop) (*LoopConn, error) {
	p := db.loops[loop]
	if p == nil {
		p = &wirePool{db: db, loop: loop}
		if db.loops == nil {
			db.loops = map[targets.Loop]*wirePool{}
		}
		db.loops[loop] = p
	}
	c := &LoopConn{p: p}
	if len(p.wires) < db.Size {
		w, err := db.Wire(ctx, loop)
		if err != nil {
			return nil, err
		}
		p.wires = append(p.wires, w)
		c.w = w
	}
	p.clients++
	db.notePeak(int32(p.clients))
	return c, nil
}

// shared reports whether the loop has more tasks than the pool has Wires.
func (p *wirePool) shared() bool { return p.clients > p.db.Size }

// Exec runs the prepared statement stmt with args, as Wire.Exec does, on
// the task's Wire or, when the pool is shared, on one it waits for. An
// error wrapping ErrNotSent means the statement never left.
func (c *LoopConn) Exec(ctx context.Context, stmt string, args ...int64) (int64, error) {
	if c.w != nil && !c.p.shared() {
		return c.w.Exec(ctx, stmt, args...)
	}
	w, err := c.get(ctx)
	if err != nil {
		return 0, err
	}
	n, err := w.Exec(ctx, stmt, args...)
	c.put()
	return n, err
}

// get returns a Wire for an attempt: the one the task holds, an idle one,
// or one a releasing task hands over while this one waits in line.
func (c *LoopConn) get(ctx context.Context) (*Wire, error) {
	p := c.p
	if c.w != nil {
		return c.w, nil
	}
	if n := len(p.idle); n > 0 {
		c.w = p.idle[n-1]
		p.idle = p.idle[:n-1]
		return c.w, nil
	}
	deadline := targets.Deadline(ctx)
	c.wake = p.loop.Self()
	p.enqueue(c)
	for c.w == nil {
		// Wake-ups come from the releasing task, the deadline, the
		// loop's cancellation, or a stale wake of an earlier wait.
		if err := p.loop.Park(deadline); err != nil {
			if c.w != nil { // handed over as the wait ended: pass it on
				c.put()
			}
			p.dequeue(c)
			return nil, notSent(err)
		}
	}
	if !deadline.IsZero() && !time.Now().Before(deadline) {
		// Handed over as the deadline passed: too late to send.
		c.put()
		return nil, ErrNoConnection
	}
	return c.w, nil
}

// put gives the task's Wire to the first task in line, or back to the
// idle ones.
func (c *LoopConn) put() {
	w, p := c.w, c.p
	c.w = nil
	if n := p.head; n != nil {
		p.dequeue(n)
		n.w = w
		n.wake.Wake()
		return
	}
	p.idle = append(p.idle, w)
}

func (p *wirePool) enqueue(c *LoopConn) {
	c.queued, c.prev, c.next = true, p.tail, nil
	if p.tail != nil {
		p.tail.next = c
	} else {
		p.head = c
	}
	p.tail = c
}

func (p *wirePool) dequeue(c *LoopConn) {
	if !c.queued {
		return
	}
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		p.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		p.tail = c.prev
	}
	c.queued, c.prev, c.next = false, nil, nil
}

// Close gives the task's Wire back; the last task to close closes the
// Wires.
func (c *LoopConn) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	p := c.p
	p.dequeue(c)
	if c.w != nil {
		c.put()
	}
	if p.clients--; p.clients == 0 {
		return p.close()
	}
	return nil
}

// close closes every Wire of the pool.
func (p *wirePool) close() error {
	var errs []error
	for _, w := range p.wires {
		errs = append(errs, w.Close())
	}
	p.wires, p.idle = nil, nil
	return errors.Join(errs...)
}
