package bench

import (
	"runtime"
	"sync/atomic"

	"github.com/stampede-bench/stampede/bench/scenario"
)

// feedSlots is the most submissions a feed generates ahead of the
// senders: at 100,000/s, 0.65s of the schedule.
const feedSlots = 1 << 16

// noWant: the producer waits for no sender.
const noWant = ^uint64(0)

// A feed hands the open-loop schedule to the senders as a producer
// goroutine generates it (scenario.Stream), through a bounded ring, so a
// run holds a few thousand submissions, not all of them. It is a bounded
// queue after Vyukov's, with one producer: submission i goes into slot
// i%len(slots), whose sequence number says whose turn it is (i: the
// producer may write submission i; i+1: submission i is there to take;
// i+len(slots): taken, the slot is free for submission i+len(slots)).
// Senders claim indexes with run.next, as before, and take them with
// atomics only: no lock, channel or allocation per submission.
type feed struct {
	slots []feedSlot
	mask  uint64
	n     uint64 // submissions in all
	_     [40]byte
	// want is the submission whose taking the producer waits for, with a
	// full ring; its taker wakes the producer. Read at every taking,
	// written at most twice a half ring: on a line of its own.
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

type feedSlot struct {
	seq atomic.Uint64
	sub scenario.Submission
	_   [64 - 8 - 40]byte // a slot a cache line: senders of neighbouring slots do not share one
}

// newFeed returns the feed of plan's open-loop schedule, its ring of
// slots slots (a power of 2; fewer for a short schedule) filled with the
// first submissions. Its producer runs once start is called.
func newFeed(plan *scenario.Plan, slots int) *feed {
	n := uint64(plan.Submissions())
	size := uint64(slots)
	for size > 2 && size/2 >= n {
		size /= 2
	}
	f := &feed{slots: make([]feedSlot, size), mask: size - 1, n: n, stream: plan.Stream(),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	f.want.Store(noWant)
	for i := range f.slots {
		f.slots[i].seq.Store(uint64(i))
	}
	for f.produced < min(n, size) {
		f.put()
	}
	return f
}

// put generates the next submission into its slot, which is free.
func (f *feed) put() {
	i := f.produced
	s := &f.slots[i&f.mask]
	s.sub, _ = f.stream.Next()
	s.seq.Store(i + 1)
	f.produced++
}

// start runs the producer until the schedule is generated or finish is
// called.
func (f *feed) start() {
	f.started = true
	go func() {
		defer close(f.done)
		for f.produced < f.n {
			if f.slots[f.produced&f.mask].seq.Load() == f.produced {
				f.put()
				continue
			}
			if !f.await(f.produced) {
				return
			}
		}
	}()
}

// finish stops the producer and waits for it; the submissions not taken
// are then read with rest. It may be called more than once, and on a feed
// never started.
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

// await waits, the ring full, until the slot of submission i is free or
// the feed is stopped, and reports which. It waits for half the ring to
// be taken, rather than one slot, so that the producer wakes once per
// half ring; if that half is taken already but a straggler is not, for
// the straggler.
func (f *feed) await(i uint64) bool {
	size := uint64(len(f.slots))
	w := i - size/2
	if f.taken(w) {
		w = i - size
	}
	// Set want, then look again: the taker of w either sees want or its
	// taking is seen here (both sides use sequentially consistent atomics).
	f.want.Store(w)
	if f.taken(w) {
		return true
	}
	select {
	case <-f.wake:
		return true // perhaps a stale wake: the caller looks again
	case <-f.stop:
		return false
	}
}

// taken reports whether submission j, generated, was taken.
func (f *feed) taken(j uint64) bool {
	return f.slots[j&f.mask].seq.Load() == j+uint64(len(f.slots))
}

// take returns submission i (i < n), which the caller claimed. It waits,
// yielding, for the producer in the rare case it is behind: the producer
// does not wait on anything but a free slot, and every slot before i is
// taken by a sender that claimed it, so it comes.
func (f *feed) take(i uint64) scenario.Submission {
	s := &f.slots[i&f.mask]
	for s.seq.Load() != i+1 {
		runtime.Gosched()
	}
	sub := s.sub
	s.seq.Store(i + uint64(len(f.slots)))
	if f.want.Load() == i {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
	return sub
}

// rest calls fn for each submission from i on, in order, until fn
// returns false; the producer must have stopped (finish), and none of
// them may have been claimed.
func (f *feed) rest(i uint64, fn func(scenario.Submission) bool) {
	for ; i < f.n; i++ {
		var sub scenario.Submission
		if i < f.produced {
			sub = f.slots[i&f.mask].sub
		} else {
			sub, _ = f.stream.Next()
			f.produced++
		}
		if !fn(sub) {
			return
		}
	}
}
