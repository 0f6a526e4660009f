// Package atomic is an example design registered from outside stampede: a
// lock-free counter per product (compare-and-swap on the seats left) and a
// set of the order ids applied, so that a resubmission gets its original
// answer. It keeps its state in the process, like stampede's memory
// design, and says so.
package atomic

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/stampede-bench/stampede/targets"
)

func init() {
	targets.Register(targets.Registration{
		Name:        "atomic",
		Description: "example extension: compare-and-swap on a counter per product, an order-id set for resubmissions",
		New:         func(targets.Config) (targets.Target, error) { return &Target{}, nil },
	})
}

// Target is the design: seats left per product, and each order's answer.
type Target struct {
	left    []atomic.Int64
	stock   targets.Stock
	answers sync.Map // targets.OrderID -> targets.Outcome
}

// Info says what the design is and what it promises.
func (t *Target) Info() targets.Info {
	return targets.Info{
		Design:      "atomic (example extension)",
		Consistency: "compare-and-swap on the seats left; an order answered once, resubmissions get that answer",
		Durability:  "none (memory only)",
		Reference:   true,
	}
}

// Setup fills every product with its seats and forgets every order.
func (t *Target) Setup(_ context.Context, s targets.Stock) error {
	t.stock, t.left = s, make([]atomic.Int64, s.Products)
	for i := range t.left {
		t.left[i].Store(s.Capacity)
	}
	t.answers.Clear()
	return nil
}

// NewClient returns a worker's client; the design is in this process, so
// the client is the design.
func (t *Target) NewClient(context.Context, int) (targets.Client, error) { return client{t}, nil }

type client struct{ t *Target }

// Buy takes the seats if they are left, once per order.
func (c client) Buy(_ context.Context, o targets.Order) targets.Reply {
	if a, ok := c.t.answers.Load(o.ID); ok {
		return targets.Reply{Outcome: a.(targets.Outcome)}
	}
	left := &c.t.left[o.Product]
	for {
		n := left.Load()
		if n < o.Quantity {
			a, _ := c.t.answers.LoadOrStore(o.ID, targets.SoldOut)
			return targets.Reply{Outcome: a.(targets.Outcome)}
		}
		if left.CompareAndSwap(n, n-o.Quantity) {
			if a, loaded := c.t.answers.LoadOrStore(o.ID, targets.Confirmed); loaded {
				left.Add(o.Quantity) // a concurrent resubmission answered first: give the seats back
				return targets.Reply{Outcome: a.(targets.Outcome)}
			}
			return targets.Reply{Outcome: targets.Confirmed}
		}
	}
}

func (client) Close() error { return nil }

// Audit reads the seats sold and the orders confirmed.
func (t *Target) Audit(context.Context) (targets.Audit, error) {
	a := targets.Audit{Sold: make([]int64, t.stock.Products)}
	for i := range t.left {
		a.Sold[i] = t.stock.Capacity - t.left[i].Load()
	}
	var recs []targets.OrderRecord
	t.answers.Range(func(k, v any) bool {
		if v.(targets.Outcome) == targets.Confirmed {
			recs = append(recs, targets.OrderRecord{ID: k.(targets.OrderID), Applied: 1})
		}
		return true
	})
	a.Orders = targets.Records(recs)
	return a, nil
}

// Close releases nothing.
func (t *Target) Close() error { return nil }
