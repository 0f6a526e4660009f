package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
)

// funcTarget is a test design whose Buy is a function; it records what
// the function confirms so its audit is honest.
type funcTarget struct {
	buy     func(ctx context.Context, o targets.Order) targets.Reply
	stock   targets.Stock
	mu      sync.Mutex
	applied map[targets.OrderID]int32
	sold    []int64
	clients atomic.Int32
}

func newFuncTarget(buy func(ctx context.Context, o targets.Order) targets.Reply) *funcTarget {
	return &funcTarget{buy: buy}
}

func (t *funcTarget) Info() targets.Info { return targets.Info{Design: "test", Durability: "none"} }
func (t *funcTarget) Setup(_ context.Context, s targets.Stock) error {
	t.stock, t.applied, t.sold = s, map[targets.OrderID]int32{}, make([]int64, s.Products)
	return nil
}
func (t *funcTarget) NewClient(context.Context, int) (targets.Client, error) {
	t.clients.Add(1)
	return funcClient{t}, nil
}
func (t *funcTarget) Audit(context.Context) (targets.Audit, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var recs []targets.OrderRecord
	for id, n := range t.applied {
		recs = append(recs, targets.OrderRecord{ID: id, Applied: n})
	}
	return targets.Audit{Sold: append([]int64(nil), t.sold...), Orders: targets.Records(recs)}, nil
}
func (t *funcTarget) Close() error { return nil }

type funcClient struct{ t *funcTarget }

func (c funcClient) Buy(ctx context.Context, o targets.Order) targets.Reply {
	r := c.t.buy(ctx, o)
	if r.Outcome == targets.Confirmed {
		c.t.mu.Lock()
		c.t.applied[o.ID]++
		c.t.sold[o.Product] += o.Quantity
		c.t.mu.Unlock()
	}
	return r
}
func (c funcClient) Close() error { return nil }

// noopClient confirms everything at once and records nothing: the cost of
// the harness alone.
type noopClient struct{}

func (noopClient) Buy(context.Context, targets.Order) targets.Reply {
	return targets.Reply{Outcome: targets.Confirmed}
}
func (noopClient) Close() error { return nil }

// testScenario is a small open-loop scenario: rate orders/s for d.
func testScenario(rate float64, d time.Duration, workers int) *scenario.Scenario {
	return &scenario.Scenario{
		Name: "test", Seed: 1,
		Stock:    scenario.Stock{Products: 4, Capacity: 1_000_000},
		Demand:   scenario.Demand{Quantity: scenario.Quantity{Min: 1, Max: 1}, Popularity: scenario.Uniform},
		Arrivals: scenario.Arrivals{Mode: scenario.Constant, Process: scenario.Even, Rate: rate, Duration: scenario.Duration(d), Workers: workers},
	}
}

func mustBuiltin(t testing.TB, name string) *scenario.Scenario {
	t.Helper()
	s := scenario.Builtin(name)
	if s == nil {
		t.Fatalf("no built-in scenario %q", name)
	}
	return s
}
