// Package memory holds in-process reference designs. They cost nothing to
// run and prove that stampede's checker catches what it should:
//
//   - memory: a correct design. One lock per product, and a set of the
//     order ids it confirmed (a bitset: stampede's order ids are dense, so
//     it holds a bit per order), so a resubmitted order is answered with
//     its original confirmation and never applied twice.
//   - memory-racy: check-then-act with a simulated round trip between the
//     check and the act, and no idempotency, like a naive design that reads
//     the stock from a remote store and then writes the sale. Under
//     concurrency it oversells and applies resubmissions again.
//
// Both accept the option memory.rtt, a simulated network round trip between
// client and store. A client honours its context's deadline: when the
// simulated reply cannot arrive in time it answers Unknown, whether or not
// the sale was applied, as a real remote client would.
package memory

import (
	"context"
	"errors"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stampede-bench/stampede/targets"
)

func init() {
	targets.Register(targets.Registration{
		Name:         "memory",
		Description:  "in-process reference: one lock per product and an order-id set; never oversells or duplicates",
		OptionPrefix: "memory",
		Options:      options("0s"),
		New:          func(cfg targets.Config) (targets.Target, error) { return newTarget(false, cfg), nil },
	})
	targets.Register(targets.Registration{
		Name:         "memory-racy",
		Description:  "in-process reference: check-then-act across a simulated round trip, no idempotency; oversells and duplicates",
		OptionPrefix: "memory",
		Options:      options("0s"),
		New:          func(cfg targets.Config) (targets.Target, error) { return newTarget(true, cfg), nil },
	})
}

// racyMinGap is the gap between check and act of memory-racy when no rtt is
// set: the time a real remote design spends between reading the stock and
// writing the sale.
const racyMinGap = 3 * time.Millisecond

func options(rtt string) []targets.OptionSpec {
	return []targets.OptionSpec{{
		Key: "rtt", Kind: targets.KindDuration, Default: rtt,
		Help: "simulated round trip between client and store (memory-racy waits at least 3ms between check and act)",
	}}
}

// ErrTimeout is the Reply.Err of an attempt whose simulated reply missed
// its deadline.
var ErrTimeout = errors.New("memory: deadline passed before the reply arrived")

// errBadProduct is the Reply.Err of an order for a product that does not exist.
var errBadProduct = errors.New("memory: no such product")

type product struct {
	mu        sync.Mutex
	capacity  int64
	remaining int64 // guarded by mu (memory)
	// far holds the confirmed order ids beyond the bitset's reach;
	// guarded by mu (memory).
	far map[targets.OrderID]struct{}

	stock atomic.Int64      // memory-racy: remaining, read and written without a lock
	logMu sync.Mutex        // memory-racy: guards log; one append is atomic, as a row insert is
	log   []targets.OrderID // memory-racy: every applied sale
	_     [64]byte          // keep products off each other's cache lines
}

// Target is an in-process design. It is safe for concurrent use by its
// clients.
type Target struct {
	racy      bool
	rtt       time.Duration
	products  []product
	confirmed *orderSet // memory: the order ids confirmed
}

// The confirmed order ids below 1<<32 are a bitset in chunks of
// 1<<chunkBits ids (8 KiB), allocated as ids reach them.
const (
	chunkBits = 16
	setChunks = 1 << (32 - chunkBits)
)

type setChunk [1 << chunkBits / 64]atomic.Uint64

// orderSet is a set of order ids: a bit each. Its words are read and
// written with atomics, since orders of two products may share one; the
// bit of an order is set under the lock of its product, so that checking
// it and setting it are one step for that order.
type orderSet struct {
	chunks [setChunks]atomic.Pointer[setChunk]
}

// has reports whether id (below 1<<32) is in the set.
func (s *orderSet) has(id targets.OrderID) bool {
	c := s.chunks[id>>chunkBits].Load()
	return c != nil && c[id&(1<<chunkBits-1)/64].Load()&(1<<(id%64)) != 0
}

// add puts id (below 1<<32) in the set, allocating its chunk if it is the
// first id of it.
func (s *orderSet) add(id targets.OrderID) {
	slot := &s.chunks[id>>chunkBits]
	c := slot.Load()
	if c == nil {
		c = new(setChunk)
		if !slot.CompareAndSwap(nil, c) {
			c = slot.Load() // another product's order made it first
		}
	}
	c[id&(1<<chunkBits-1)/64].Or(1 << (id % 64))
}

// all yields the ids of the set in increasing order, until yield returns
// false; it reports whether it yielded them all.
func (s *orderSet) all(yield func(targets.OrderID) bool) bool {
	for ci := range s.chunks {
		c := s.chunks[ci].Load()
		if c == nil {
			continue
		}
		for wi := range c {
			w := c[wi].Load()
			for w != 0 {
				b := bits.TrailingZeros64(w)
				w &= w - 1
				if !yield(targets.OrderID(ci<<chunkBits + wi*64 + b)) {
					return false
				}
			}
		}
	}
	return true
}

// bitsetIDs is the bound below which an order id is kept in the bitset;
// the others, which stampede never sends, in their product's map.
const bitsetIDs = 1 << 32

// isConfirmed reports whether order id of product p was confirmed; p.mu
// is held.
func (t *Target) isConfirmed(p *product, id targets.OrderID) bool {
	if id < bitsetIDs {
		return t.confirmed.has(id)
	}
	_, ok := p.far[id]
	return ok
}

// confirm records order id of product p as confirmed; p.mu is held.
func (t *Target) confirm(p *product, id targets.OrderID) {
	if id < bitsetIDs {
		t.confirmed.add(id)
		return
	}
	if p.far == nil {
		p.far = map[targets.OrderID]struct{}{}
	}
	p.far[id] = struct{}{}
}

func newTarget(racy bool, cfg targets.Config) *Target {
	return &Target{racy: racy, rtt: cfg.Options.Duration("rtt")}
}

// Info describes the design.
func (t *Target) Info() targets.Info {
	info := targets.Info{
		Backend:    "in-process",
		Durability: "none (memory only)",
		Reference:  true,
		Settings:   map[string]string{"rtt": t.rtt.String()},
	}
	if t.racy {
		info.Design = "check-then-act across a round trip, no idempotency"
		info.Consistency = "none (lost updates under concurrency)"
		info.Settings["check_act_gap"] = t.gap().String()
	} else {
		info.Design = "lock per product, order-id set"
		info.Consistency = "strong (mutex per product), idempotent"
	}
	return info
}

func (t *Target) gap() time.Duration { return max(t.rtt, racyMinGap) }

// Setup creates fresh stock.
func (t *Target) Setup(_ context.Context, s targets.Stock) error {
	if s.Products <= 0 || s.Capacity < 0 {
		return errors.New("memory: stock needs at least one product and a capacity of 0 or more")
	}
	t.products = make([]product, s.Products)
	if !t.racy {
		t.confirmed = &orderSet{}
	}
	for i := range t.products {
		p := &t.products[i]
		p.capacity = s.Capacity
		p.remaining = s.Capacity
		p.stock.Store(s.Capacity)
	}
	return nil
}

// NewClient returns a client; clients share the target's state.
func (t *Target) NewClient(context.Context, int) (targets.Client, error) {
	return &client{t: t}, nil
}

// Audit reads the stock and the record of sales. Its order sequence reads
// the design's state as it goes, without copying it.
func (t *Target) Audit(context.Context) (targets.Audit, error) {
	a := targets.Audit{Sold: make([]int64, len(t.products))}
	if !t.racy {
		for i := range t.products {
			p := &t.products[i]
			p.mu.Lock()
			a.Sold[i] = p.capacity - p.remaining
			p.mu.Unlock()
		}
		a.Orders = func(yield func(targets.OrderRecord, error) bool) {
			if !t.confirmed.all(func(id targets.OrderID) bool { return yield(targets.OrderRecord{ID: id, Applied: 1}, nil) }) {
				return
			}
			for i := range t.products {
				p := &t.products[i]
				p.mu.Lock()
				for id := range p.far {
					if !yield(targets.OrderRecord{ID: id, Applied: 1}, nil) {
						p.mu.Unlock()
						return
					}
				}
				p.mu.Unlock()
			}
		}
		return a, nil
	}
	var all []targets.OrderID
	for i := range t.products {
		p := &t.products[i]
		a.Sold[i] = p.capacity - p.stock.Load()
		p.logMu.Lock()
		all = append(all, p.log...)
		p.logMu.Unlock()
	}
	slices.Sort(all)
	a.Orders = func(yield func(targets.OrderRecord, error) bool) {
		for i := 0; i < len(all); {
			j := i + 1
			for j < len(all) && all[j] == all[i] {
				j++
			}
			if !yield(targets.OrderRecord{ID: all[i], Applied: int32(j - i)}, nil) {
				return
			}
			i = j
		}
	}
	return a, nil
}

// Close drops the state.
func (t *Target) Close() error {
	t.products, t.confirmed = nil, nil
	return nil
}

type client struct{ t *Target }

func (c *client) Close() error { return nil }

// Buy serves one attempt.
func (c *client) Buy(ctx context.Context, o targets.Order) targets.Reply {
	t := c.t
	if o.Product < 0 || o.Product >= len(t.products) || o.Quantity <= 0 {
		return targets.Reply{Outcome: targets.Error, Err: errBadProduct}
	}
	p := &t.products[o.Product]
	deadline := targets.Deadline(ctx)
	half := t.rtt / 2
	if !travel(deadline, half) { // the request travels to the store
		return targets.Reply{Outcome: targets.Unknown, Err: ErrTimeout}
	}
	var out targets.Outcome
	if t.racy {
		if p.stock.Load() < o.Quantity { // check
			out = targets.SoldOut
		} else {
			time.Sleep(t.gap())      // the round trip between reading and writing
			p.stock.Add(-o.Quantity) // act, on what may by now be stale
			p.logMu.Lock()
			p.log = append(p.log, o.ID)
			p.logMu.Unlock()
			out = targets.Confirmed
		}
	} else {
		p.mu.Lock()
		if t.isConfirmed(p, o.ID) {
			out = targets.Confirmed // the original answer, not applied again
		} else if p.remaining >= o.Quantity {
			p.remaining -= o.Quantity
			t.confirm(p, o.ID)
			out = targets.Confirmed
		} else {
			out = targets.SoldOut
		}
		p.mu.Unlock()
	}
	if !travel(deadline, half) { // the reply travels back
		return targets.Reply{Outcome: targets.Unknown, Err: ErrTimeout}
	}
	return targets.Reply{Outcome: out}
}

// The reference designs' read side is their store: a confirmed order
// shows at once.
var _ targets.Reader = (*client)(nil)

// Shows reports whether order id is among the sales (the buyer's "my
// orders"). memory reads its set of confirmed orders; memory-racy looks
// through its log of sales.
func (c *client) Shows(_ context.Context, id targets.OrderID) (bool, error) {
	if !c.t.racy && id < bitsetIDs {
		return c.t.confirmed.has(id), nil
	}
	for i := range c.t.products {
		p := &c.t.products[i]
		if c.t.racy {
			p.logMu.Lock()
			found := slices.Contains(p.log, id)
			p.logMu.Unlock()
			if found {
				return true, nil
			}
			continue
		}
		p.mu.Lock()
		_, found := p.far[id]
		p.mu.Unlock()
		if found {
			return true, nil
		}
	}
	return false, nil
}

// travel waits d, or until deadline if that comes first, and reports
// whether the full d passed in time.
func travel(deadline time.Time, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	if !deadline.IsZero() {
		if left := time.Until(deadline); left < d {
			time.Sleep(left)
			return false
		}
	}
	time.Sleep(d)
	return true
}
