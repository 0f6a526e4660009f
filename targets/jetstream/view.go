package jetstream

// How a client knows a product's current subject sequence before its
// expected-sequence publish (jetstream.seq), the blog post's three ways:
//
//   - own: the sequence of this client's own last write of the product
//     (or of its last refresh after a conflict), in memory. Free, and
//     stale whenever another client wrote the product since: every such
//     write costs a conflict, a refresh and a second publish.
//   - fetch: the subject's last message, fetched (a direct get) before
//     every decision: a round trip per order, and a conflict only when
//     another client writes between the get and the publish.
//   - watch: a view of every product shared by all clients of the target
//     (as an application server's cache), fed by a consumer of the stream
//     (the read model's projector, which sees every message) and by the
//     clients' own writes and refreshes; it keeps, per product, the state
//     of the highest sequence it was offered. No round trip; a conflict
//     when the consumer has not delivered another client's write yet.

import (
	"fmt"
	"sync"
)

// seqMode is a way of knowing a product's current sequence.
type seqMode string

// The values of jetstream.seq.
const (
	seqOwn   seqMode = "own"
	seqFetch seqMode = "fetch"
	seqWatch seqMode = "watch"
)

// DefaultSeq is jetstream.seq's default: measured the best of the three
// (scripts/vs-natsbench, the flash crowd).
const DefaultSeq = string(seqWatch)

// view is the target's shared view of each product's state
// (jetstream.seq=watch). It is safe for concurrent use.
type view struct {
	slots []slot
}

type slot struct {
	mu sync.Mutex
	st state
	_  [40]byte // a cache line each: clients of different products do not share one
}

func newView(initial []state) *view {
	v := &view{slots: make([]slot, len(initial))}
	for p, s := range initial {
		v.slots[p].st = s
	}
	return v
}

// load returns the newest state of product p the view was offered.
func (v *view) load(p int) state {
	s := &v.slots[p]
	s.mu.Lock()
	st := s.st
	s.mu.Unlock()
	return st
}

// offer keeps st as product p's state if it is newer than the view's.
func (v *view) offer(p int, st state) {
	if v == nil || p < 0 || p >= len(v.slots) {
		return
	}
	s := &v.slots[p]
	s.mu.Lock()
	if st.seq > s.st.seq {
		s.st = st
	}
	s.mu.Unlock()
}

// seqFor reads jetstream.seq.
func seqFor(value string) (seqMode, error) {
	switch m := seqMode(value); m {
	case seqOwn, seqFetch, seqWatch:
		return m, nil
	}
	return "", fmt.Errorf("jetstream.seq: %q is not own, fetch or watch", value)
}
