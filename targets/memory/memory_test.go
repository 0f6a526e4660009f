package memory

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stampede-bench/stampede/targets"
)

func newTestTarget(t *testing.T, name, rtt string, stock targets.Stock) targets.Target {
	t.Helper()
	regs, cfgs, err := targets.Resolve([]string{name}, []string{"memory.rtt=" + rtt})
	if err != nil {
		t.Fatal(err)
	}
	tgt, err := regs[0].New(cfgs[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := tgt.Setup(context.Background(), stock); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tgt.Close() })
	return tgt
}

// hammer has 16 goroutines buy one ticket each of 400 orders, every order
// sent twice, on one product of 100 seats.
func hammer(t *testing.T, tgt targets.Target) (confirmed int) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := tgt.NewClient(context.Background(), g)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for i := range 50 {
				id := targets.OrderID(g*25 + i%25 + 1) // each id twice, by the same goroutine
				r := c.Buy(context.Background(), targets.Order{ID: id, Product: 0, Quantity: 1, Attempt: 1})
				if r.Outcome == targets.Confirmed && i < 25 {
					mu.Lock()
					confirmed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return confirmed
}

func TestMemoryIsCorrect(t *testing.T) {
	tgt := newTestTarget(t, "memory", "0s", targets.Stock{Products: 1, Capacity: 100})
	confirmed := hammer(t, tgt)
	a, err := tgt.Audit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if a.Sold[0] != 100 || confirmed != 100 {
		t.Errorf("sold %d, first-time confirmations %d; want 100 each", a.Sold[0], confirmed)
	}
	orders, err := targets.CollectOrders(a.Orders)
	if err != nil {
		t.Fatal(err)
	}
	if len(orders) != 100 {
		t.Errorf("%d orders applied, want 100", len(orders))
	}
	for _, o := range orders {
		if o.Applied != 1 {
			t.Errorf("order %d applied %d times", o.ID, o.Applied)
		}
	}
}

func TestMemoryRacyOversells(t *testing.T) {
	tgt := newTestTarget(t, "memory-racy", "0s", targets.Stock{Products: 1, Capacity: 100})
	hammer(t, tgt)
	a, err := tgt.Audit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// 16 goroutines check together then act 3ms later: more than 100
	// pass the check before the stock runs out.
	if a.Sold[0] <= 100 {
		t.Errorf("sold %d of 100: the racy design did not oversell", a.Sold[0])
	}
}

func TestMemoryRacyDuplicates(t *testing.T) {
	tgt := newTestTarget(t, "memory-racy", "0s", targets.Stock{Products: 1, Capacity: 10000})
	hammer(t, tgt)
	a, err := tgt.Audit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	orders, err := targets.CollectOrders(a.Orders)
	if err != nil {
		t.Fatal(err)
	}
	dups := 0
	for _, o := range orders {
		if o.Applied > 1 {
			dups++
		}
	}
	if dups != 400 || a.Sold[0] != 800 {
		t.Errorf("%d orders applied twice, %d sold; want every one of 400 orders applied twice", dups, a.Sold[0])
	}
}

func TestRTTAndDeadline(t *testing.T) {
	tgt := newTestTarget(t, "memory", "20ms", targets.Stock{Products: 1, Capacity: 10})
	c, _ := tgt.NewClient(context.Background(), 0)
	start := time.Now()
	if r := c.Buy(context.Background(), targets.Order{ID: 1, Quantity: 1}); r.Outcome != targets.Confirmed {
		t.Fatalf("outcome %s", r.Outcome)
	}
	if took := time.Since(start); took < 20*time.Millisecond {
		t.Errorf("a 20ms round trip took %s", took)
	}
	// A deadline inside the reply's way back: applied, but the client cannot know.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Millisecond)
	defer cancel()
	if r := c.Buy(ctx, targets.Order{ID: 2, Quantity: 1}); r.Outcome != targets.Unknown {
		t.Errorf("outcome %s past the deadline, want unknown", r.Outcome)
	}
	a, _ := tgt.Audit(context.Background())
	if a.Sold[0] != 2 {
		t.Errorf("sold %d, want 2: the timed-out order applied", a.Sold[0])
	}
	if r := c.Buy(context.Background(), targets.Order{ID: 3, Product: 5, Quantity: 1}); r.Outcome != targets.Error {
		t.Errorf("a missing product answered %s, want error", r.Outcome)
	}
}

// The set of confirmed orders: ids of several products sharing the
// bitset's words, bought at once, across chunks and beyond the bitset's
// reach; each applied once, shown, and audited once.
func TestMemoryOrderSet(t *testing.T) {
	const products, perProduct = 8, 3000
	tgt := newTestTarget(t, "memory", "0s", targets.Stock{Products: products, Capacity: perProduct})
	far := targets.OrderID(1<<32 + 5)
	id := func(p, i int) targets.OrderID {
		if i == perProduct-1 {
			return far + targets.OrderID(p) // beyond the bitset
		}
		return targets.OrderID(i*products*9 + p + 1) // neighbours of other products, over several chunks
	}
	var wg sync.WaitGroup
	for p := range products {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _ := tgt.NewClient(context.Background(), p)
			for round := range 2 { // every order twice: the second is answered, not applied
				for i := range perProduct {
					if r := c.Buy(context.Background(), targets.Order{ID: id(p, i), Product: p, Quantity: 1, Attempt: 1}); r.Outcome != targets.Confirmed {
						t.Errorf("round %d: order %d of product %d: %s", round, id(p, i), p, r.Outcome)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	a, err := tgt.Audit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	orders, err := targets.CollectOrders(a.Orders)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[targets.OrderID]int32{}
	for _, o := range orders {
		seen[o.ID] += o.Applied
	}
	c, _ := tgt.NewClient(context.Background(), 0)
	for p := range products {
		if a.Sold[p] != perProduct {
			t.Errorf("product %d sold %d, want %d", p, a.Sold[p], perProduct)
		}
		for i := range perProduct {
			if n := seen[id(p, i)]; n != 1 {
				t.Fatalf("order %d of product %d audited %d times, want once", id(p, i), p, n)
			}
			if ok, _ := c.(targets.Reader).Shows(context.Background(), id(p, i)); !ok {
				t.Fatalf("order %d not shown", id(p, i))
			}
		}
	}
	if len(seen) != products*perProduct {
		t.Errorf("%d orders audited, want %d", len(seen), products*perProduct)
	}
	if ok, _ := c.(targets.Reader).Shows(context.Background(), id(0, 5)+products+3); ok { // between two products' orders
		t.Error("an order never bought is shown")
	}
}
