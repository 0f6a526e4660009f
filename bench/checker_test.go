package bench

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stampede-bench/stampede/bench/results"
	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
)

func TestCheck(t *testing.T) {
	sc := testScenario(10, 1e9, 1)
	sc.Stock = scenario.Stock{Products: 2, Capacity: 10}
	plan := scenario.NewPlan(sc)
	plan.Orders = 11
	r := newRun(plan)
	// What clients were told, by order index (id - 1).
	told := map[uint32]uint32{
		0:  flagConfirmed,          // confirmed, applied once: fine
		1:  flagConfirmed,          // confirmed, not applied: lost
		2:  flagNo,                 // told no, applied: phantom
		3:  flagConfirmed,          // confirmed, applied twice: duplicated
		4:  flagUnknown,            // no answer, applied: unresolved, applied
		5:  flagUnknown,            // no answer, not applied: unresolved
		7:  flagConfirmed | flagNo, // confirmed then cancelled: an apology
		8:  flagExpired,            // gave up in the queue: a buyer, never sent
		9:  flagNo | flagUnknown,   // told no, another attempt unknown, applied
		10: flagNo | flagUnknown,   // told no, another attempt unknown, not applied
		// 6: never submitted: a buyer of the plan all the same
	}
	for idx, f := range told {
		r.mark(idx, f)
	}
	audit := targets.Audit{
		Sold: []int64{12, 5}, // product 0 oversold by 2
		Orders: targets.Records([]targets.OrderRecord{
			{ID: 1, Applied: 1}, {ID: 3, Applied: 1}, {ID: 4, Applied: 2}, {ID: 5, Applied: 1},
			{ID: 8, Applied: 1, Cancelled: 1}, {ID: 10, Applied: 1}, {ID: 99, Applied: 1},
		}),
	}
	var o results.Orders
	got, err := check(targets.Stock{Products: 2, Capacity: 10}, plan, r, audit, &o)
	if err != nil {
		t.Fatal(err)
	}
	want := results.Checks{Capacity: 20, Sold: 17, Oversold: 2, DuplicatedOrders: 1, DuplicateRate: 1.0 / 9, Lost: 1,
		Phantom: 1, Apologies: 1, Unresolved: 2, UnresolvedApplied: 1, Foreign: 1, Contradicted: 1,
		RefusedUnknown: 2, RefusedApplied: 1}
	// Order 10 (index) was refused and not applied: undersold if its
	// product had a seat left (product 1: 5 left; product 0 sold out).
	if p, _ := plan.Order(10); p == 1 {
		want.Undersold = 1
	}
	if got != want {
		t.Errorf("check:\n got %+v\nwant %+v", got, want)
	}
	if o.Bought != 4 || o.Seats != 4 {
		t.Errorf("bought %d orders of %d seats, want 4 and 4 (orders 0, 1, 3, 7)", o.Bought, o.Seats)
	}
	if o.Submitted != 9 || o.NotSent != 2 || o.Buyers != 11 {
		t.Errorf("buyers %d = submitted %d + not sent %d, want 11 = 9 + 2", o.Buyers, o.Submitted, o.NotSent)
	}
	// In closed loop an order the users never reached is no buyer; one
	// that expired is.
	closed := *sc
	closed.Arrivals = scenario.Arrivals{Mode: scenario.Closed, Users: 1, Duration: scenario.Duration(time.Second)}
	plan.Scenario = &closed
	o = results.Orders{}
	if _, err := check(targets.Stock{Products: 2, Capacity: 10}, plan, r, targets.Audit{}, &o); err != nil {
		t.Fatal(err)
	}
	if o.Buyers != 10 || o.NotSent != 1 {
		t.Errorf("closed loop: buyers %d, not sent %d; want 10 and 1", o.Buyers, o.NotSent)
	}
}

func TestMarkReportsFirst(t *testing.T) {
	r := newRun(&scenario.Plan{Scenario: testScenario(10, 1e9, 1), Orders: 5})
	if !r.mark(4, flagConfirmed) {
		t.Error("first confirmation of order 4 not reported as first")
	}
	if r.mark(4, flagConfirmed) {
		t.Error("second confirmation of order 4 reported as first")
	}
	if !r.mark(3, flagConfirmed) || !r.mark(4, flagNo) {
		t.Error("flags of neighbouring orders or other kinds interfere")
	}
	if f := r.flag(4); f != flagConfirmed|flagNo {
		t.Errorf("flags of order 4 = %b", f)
	}
}

// A design that cannot read its record fails the run, naming the audit.
func TestAuditReadError(t *testing.T) {
	tgt := &failingAudit{funcTarget: newFuncTarget(func(context.Context, targets.Order) targets.Reply {
		return targets.Reply{Outcome: targets.Confirmed}
	})}
	_, err := Run(context.Background(), "flaky", tgt, scenario.NewPlan(testScenario(100, 100*time.Millisecond, 1)), Options{})
	if err == nil || !errors.Is(err, errRead) || !strings.Contains(err.Error(), "flaky: audit") {
		t.Fatalf("error %v, want the audit's read failure", err)
	}
}

var errRead = errors.New("connection reset")

type failingAudit struct{ *funcTarget }

func (f *failingAudit) Audit(ctx context.Context) (targets.Audit, error) {
	a, _ := f.funcTarget.Audit(ctx)
	a.Orders = func(yield func(targets.OrderRecord, error) bool) {
		if yield(targets.OrderRecord{ID: 1, Applied: 1}, nil) {
			yield(targets.OrderRecord{}, errRead)
		}
	}
	return a, nil
}

// A design that turns buyers away while it has seats shows the seats it
// failed to sell as undersold; the same design selling honestly shows
// none, though it too answers sold out once the seats are gone.
func TestUndersold(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		var mu sync.Mutex
		var sold, refusedQty int64
		const capacity = 100
		tgt := newFuncTarget(func(_ context.Context, o targets.Order) targets.Reply {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case sold+o.Quantity > capacity:
				return targets.Reply{Outcome: targets.SoldOut}
			case refuse && o.ID%3 == 0: // a stale view, or a conflict given up
				refusedQty += o.Quantity
				return targets.Reply{Outcome: targets.SoldOut}
			}
			sold += o.Quantity
			return targets.Reply{Outcome: targets.Confirmed}
		})
		sc := testScenario(400, 300*time.Millisecond, 2)
		sc.Stock = scenario.Stock{Products: 1, Capacity: capacity}
		res, err := Run(context.Background(), "refuser", tgt, scenario.NewPlan(sc), Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := min(capacity-sold, refusedQty)
		if got := res.Checks.Undersold; got != want {
			t.Errorf("refuse %v: undersold %d, want %d (sold %d of %d, %d seats refused while left)", refuse, got, want, sold, capacity, refusedQty)
		}
		if refuse && want == 0 {
			t.Errorf("the test refused no buyer while seats were left (sold %d of %d): it proves nothing", sold, capacity)
		}
		if res.Orders.Bought != res.Orders.Seats || res.Orders.Seats != sold || res.GoodputPerS <= 0 {
			t.Errorf("refuse %v: bought %d orders, %d seats, goodput %.1f/s; want %d of one seat each", refuse, res.Orders.Bought, res.Orders.Seats, res.GoodputPerS, sold)
		}
	}
}
