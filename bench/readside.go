package bench

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stampede-bench/stampede/bench/results"
	"github.com/stampede-bench/stampede/targets"
)

// Read-your-own-writes: on a scenario with client.read_after_buy, a worker
// whose buyer was confirmed reads the design's read side at once
// (targets.Reader), as the next page would. An order the read shows has a
// visibility lag of 0; one it does not is a violation, handed to the run's
// one reader, which reads it again, backing off, until it shows or
// read_wait has passed, and records how long it took to show.

// staleRead is a confirmed order a read did not show yet.
type staleRead struct {
	id targets.OrderID
	at int64 // its confirmation, ns since the start
}

// staleRing passes a worker's stale reads to the reader without a lock:
// the worker alone writes tail, the reader alone head.
type staleRing struct {
	buf  []staleRead
	head atomic.Uint64
	tail atomic.Uint64
}

func (q *staleRing) push(s staleRead) bool {
	t := q.tail.Load()
	if t-q.head.Load() == uint64(len(q.buf)) {
		return false
	}
	q.buf[t%uint64(len(q.buf))] = s
	q.tail.Store(t + 1)
	return true
}

// drain appends what the worker pushed to out.
func (q *staleRing) drain(out []staleRead) []staleRead {
	h, t := q.head.Load(), q.tail.Load()
	for ; h < t; h++ {
		out = append(out, q.buf[h%uint64(len(q.buf))])
	}
	q.head.Store(h)
	return out
}

// readStats are the read-side counts of a worker, or of the reader. A
// worker's reads that show the order at once (lag 0) are only counted:
// five thousand users need no histogram each.
type readStats struct {
	lag                                                  *hdrhistogram.Histogram // µs; the reader's only
	reads, shown, violations, errors, never, notMeasured int64
}

// readAfter reads order id right after its confirmation at confirmed (ns
// since the start), through the worker's client. It allocates nothing
// when the read side shows the order.
func (w *worker) readAfter(id targets.OrderID, confirmed int64) {
	r, st := w.r, &w.reads
	st.reads++
	var dl time.Time
	if r.timeout > 0 {
		dl = time.Now().Add(r.timeout)
	}
	w.ctx.begin(dl)
	shows, err := w.reader.Shows(w.ctx, id)
	w.ctx.end()
	switch {
	case err != nil:
		st.errors++
		w.rec.noteReadError(err)
	case shows:
		st.shown++
	default:
		st.violations++
		if !w.stale.push(staleRead{id, confirmed}) {
			st.notMeasured++
		}
	}
}

// Bounds of the reader's backoff between two reads of an order.
const (
	firstReread = time.Millisecond
	maxReread   = 10 * time.Millisecond
)

// reader reads stale orders again until they show, from its own client,
// until the workers have finished (done closes) and every order it holds
// has shown or waited its read_wait. It stops at once when ctx ends; what
// it still holds then is not measured.
func (r *run) reader(ctx context.Context, c targets.Reader, workers []*worker, done <-chan struct{}, st *readStats) {
	type pending struct {
		staleRead
		next int64 // when to read it again, ns since the start
		gap  time.Duration
	}
	var held []pending
	var fresh []staleRead
	wait := int64(r.plan.Scenario.Client.ReadWait)
	finished := false
	for {
		for _, w := range workers {
			fresh = w.stale.drain(fresh[:0])
			for _, s := range fresh {
				held = append(held, pending{s, s.at + int64(firstReread), firstReread})
			}
		}
		if finished && len(held) == 0 {
			return
		}
		now := r.since()
		next := now + int64(maxReread)
		kept := held[:0]
		for _, p := range held {
			if p.next > now {
				next = min(next, p.next)
				kept = append(kept, p)
				continue
			}
			rctx, cancel := context.WithTimeout(ctx, time.Second)
			shows, err := c.Shows(rctx, p.id)
			cancel()
			now = r.since()
			switch {
			case ctx.Err() != nil:
				st.notMeasured += int64(len(held))
				return
			case err == nil && shows:
				_ = st.lag.RecordValue(max((now-p.at)/1e3, 1))
				continue
			case err != nil:
				st.errors++
			}
			if now-p.at >= wait {
				st.never++
				continue
			}
			p.gap = min(2*p.gap, maxReread)
			p.next = now + int64(p.gap)
			next = min(next, p.next)
			kept = append(kept, p)
		}
		held = kept
		select {
		case <-ctx.Done():
			st.notMeasured += int64(len(held))
			return
		case <-done:
			finished = true
			done = nil // drain the rings once more, then only the held
		case <-time.After(time.Duration(max(next-r.since(), int64(100*time.Microsecond)))):
		}
	}
}

// readYourWrites merges the workers' and the reader's counts into the
// run's figures; nil when the run had no read side.
func readYourWrites(workers []*worker, reader *readStats, highestUS int64) (*results.ReadYourWrites, string, error) {
	if reader == nil {
		return nil, "", nil
	}
	lag := newHist(highestUS)
	rw := &results.ReadYourWrites{}
	add := func(st *readStats) {
		if st.lag != nil {
			lag.Merge(st.lag)
		}
		if st.shown > 0 {
			_ = lag.RecordValues(0, st.shown)
		}
		rw.Reads += st.reads
		rw.Violations += st.violations
		rw.ReadErrors += st.errors
		rw.NeverVisible += st.never
		rw.NotMeasured += st.notMeasured
	}
	for _, w := range workers {
		add(&w.reads)
	}
	add(reader)
	if rw.Reads > 0 {
		rw.ViolationRate = float64(rw.Violations) / float64(rw.Reads)
	}
	rw.LagUS = results.Summarize(lag)
	enc, err := results.EncodeHistogram(lag)
	return rw, enc, err
}
