package bench

import (
	"runtime"
	"sync/atomic"

	"github.com/stampede-bench/stampede/bench/scenario"
)

// feedSlots is the most submissions a feed generates ahead of the
// senders: at 100,000/s, 0.65s of the schedule.
const feedSlots = 1 << 16

// chunk is the number of slots whose taking one word of a feed's taken
// bits records, and that its producer refills and publishes at once.
const chunk = 64

// noWant: the producer waits for no sender.
const noWant = ^uint64(0)

// A feed hands the open-loop schedule to the senders as a producer
// goroutine generates it (scenario.Stream), through a bounded ring, so a
// run holds a few thousand submissions, not all of them. Submission i
// goes into slot i%len(subs). The producer writes the slots a chunk at a
// time, then publishes them (published: the number of submissions
// generated). A sender claims submission i by moving next on, waits
// until it is published, copies it, and sets its bit in the chunk's word
// of taken bits; the producer reuses a chunk's slots once every bit of
// its word is set, and clears the word. So a sender takes a submission
// with two atomic operations, one of them on a word that the producer
// touches once per chunk, and the producer writes the slots with plain
// stores: no lock, channel or allocation per submission on either side.
type feed struct {
	subs  []scenario.Submission
	taken []atomic.Uint64 // per chunk of slots: which were taken since the producer filled them
	mask  uint64
	n     uint64 // submissions in all
	_     [8]byte
	// next is the next submission to claim.
	next atomic.Uint64
	_    [56]byte
	// published is the number of submissions generated and readable,
	// written by the producer at the end of each chunk, and before it
	// waits.
	published atomic.Uint64
	_         [56]byte
	// want is the chunk (of submissions: i/chunk) whose taking the
	// producer waits for, with a full ring; the sender that completes it
	// wakes the producer.
	want atomic.Uint64
	wake chan struct{}
	stop chan struct{}
	done chan struct{}
	_    [32]byte
	// The producer's: the stream, and the next submission to generate.
	// Read by others only once it stopped (finish).
	stream   *scenario.Stream
	produced uint64
	// Run's goroutine's: the producer was started, was stopped.
	started, stopped bool
}

// newFeed returns the feed of plan's open-loop schedule, its ring of
// slots slots (a power of 2, at least 2 chunks; fewer for a short
// schedule) filled with the first submissions. Its producer runs once
// start is called.
func newFeed(plan *scenario.Plan, slots int) *feed {
	n := uint64(plan.Submissions())
	size := uint64(max(slots, 2*chunk))
	for size > 2*chunk && size/2 >= n {
		size /= 2
	}
	f := &feed{subs: make([]scenario.Submission, size), taken: make([]atomic.Uint64, size/chunk), mask: size - 1, n: n,
		stream: plan.Stream(), wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	f.want.Store(noWant)
	for f.produced < min(n, size) {
		f.put()
	}
	f.published.Store(f.produced)
	return f
}

// put generates the next submission into its slot, which is free.
func (f *feed) put() {
	f.subs[f.produced&f.mask], _ = f.stream.Next()
	f.produced++
}

// start runs the producer until the schedule is generated or finish is
// called.
func (f *feed) start() {
	f.started = true
	go func() {
		defer close(f.done)
		ring := uint64(len(f.subs)) / chunk
		for f.produced < f.n {
			p := f.produced
			if p%chunk == 0 && p/chunk >= ring { // a chunk of slots to fill again
				if !f.chunkTaken(p/chunk - ring) {
					f.published.Store(p) // before waiting: senders may wait for these
					if !f.await(p / chunk) {
						return
					}
					continue
				}
				f.taken[p/chunk%ring].Store(0)
			}
			if f.put(); f.produced%chunk == 0 || f.produced == f.n {
				f.published.Store(f.produced)
			}
		}
	}()
}

// finish stops the producer and waits for it; the submissions not taken
// are then read with unclaimed. It may be called more than once, and on a
// feed never started.
func (f *feed) finish() {
	if f.stopped {
		return
	}
	f.stopped = true
	close(f.stop)
	if f.started {
		<-f.done
	}
}

// chunkTaken reports whether every submission of chunk c (of
// submissions), generated, was taken.
func (f *feed) chunkTaken(c uint64) bool {
	return f.taken[c%uint64(len(f.taken))].Load() == ^uint64(0)
}

// await waits, the ring full, until the slots of chunk c (of
// submissions) are free (chunk c less a ring was taken), or the feed is
// stopped, and reports which. It waits for half the ring to be taken,
// rather than one chunk, so that the producer wakes once per half ring;
// if that half is taken already but a straggler (a sender between its
// claim and its copy) is not, for the straggler's chunk.
func (f *feed) await(c uint64) bool {
	ring := uint64(len(f.taken))
	w := c - ring/2
	if f.chunkTaken(w) {
		w = c - ring
	}
	// Set want, then look again: the sender that completes w either sees
	// want or its taking is seen here (both sides use sequentially
	// consistent atomics).
	f.want.Store(w)
	if f.chunkTaken(w) {
		return true
	}
	select {
	case <-f.wake:
		return true // perhaps a stale wake: the caller looks again
	case <-f.stop:
		return false
	}
}

// take claims the next submission and returns it, or false when none is
// left; seen is the caller's own copy of published, so that it reads the
// producer's word only when it is behind. It waits, yielding, for the
// producer in the rare case it is behind: the producer waits only for
// the taking of submissions published before, which their claimers take
// at once.
func (f *feed) take(seen *uint64) (scenario.Submission, bool) {
	i := f.next.Add(1) - 1
	if i >= f.n {
		return scenario.Submission{}, false
	}
	if i >= *seen {
		f.awaitPublished(i, seen)
	}
	sub := f.subs[i&f.mask]
	bit := uint64(1) << (i % chunk)
	if old := f.taken[i/chunk%uint64(len(f.taken))].Or(bit); old|bit == ^uint64(0) && f.want.Load() == i/chunk {
		f.wakeProducer()
	}
	return sub, true
}

// awaitPublished waits until submission i is published.
func (f *feed) awaitPublished(i uint64, seen *uint64) {
	for *seen = f.published.Load(); i >= *seen; *seen = f.published.Load() {
		runtime.Gosched()
	}
}

func (f *feed) wakeProducer() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// unclaimed calls fn for each submission no sender claimed, in order,
// until fn returns false; the producer and the senders must have stopped.
func (f *feed) unclaimed(fn func(scenario.Submission) bool) {
	for i := min(f.next.Load(), f.n); i < f.n; i++ {
		var sub scenario.Submission
		if i < f.produced {
			sub = f.subs[i&f.mask]
		} else {
			sub, _ = f.stream.Next()
			f.produced++
		}
		if !fn(sub) {
			return
		}
	}
}
