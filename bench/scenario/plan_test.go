package scenario

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"slices"
	"testing"
	"time"
)

func mustBuiltin(t testing.TB, name string) *Scenario {
	t.Helper()
	s := Builtin(name)
	if s == nil {
		t.Fatalf("no built-in scenario %q", name)
	}
	return s
}

// schedule returns the whole of p's stream.
func schedule(p *Plan) []Submission {
	var out []Submission
	for st := p.Stream(); ; {
		s, ok := st.Next()
		if !ok {
			return out
		}
		out = append(out, s)
	}
}

func TestProfileAt(t *testing.T) {
	spike := profile{{2, 0, 5000}, {4, 5000, 5000}, {2, 5000, 0}}
	for _, c := range []struct {
		name string
		p    profile
		a    float64
		want float64
	}{
		// 100/s for 10s: the 500th arrival is due at 5s.
		{"constant middle", profile{{10, 100, 100}}, 500, 5},
		{"constant start", profile{{10, 100, 100}}, 0, 0},
		// Ramp 0->5000/s over 2s: A(t) = 1250 t^2, so 1250 arrivals by 1s.
		{"ramp quadratic", spike, 1250, 1},
		{"ramp end", spike, 5000, 2},
		{"hold", spike, 15000, 4},
		// Decay mirrors the ramp: 2500 arrivals remain after 7s... the 28750th at 7s.
		{"decay", spike, 28750, 7},
		{"end", spike, 30000, 8},
		{"past end clamps", spike, 40000, 8},
		// A ramp from 1000 to 3000/s over 1s: A(t) = 1000t + 1000t^2, A(0.5) = 750.
		{"ramp from non-zero", profile{{1, 1000, 3000}}, 750, 0.5},
	} {
		if got := c.p.at(c.a); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s: at(%g) = %g, want %g", c.name, c.a, got, c.want)
		}
	}
	if n := spike.total(); n != 30000 {
		t.Errorf("spike total = %g, want 30000", n)
	}
}

func TestPlanFlashCrowd(t *testing.T) {
	sc := mustBuiltin(t, "flash-crowd")
	p := NewPlan(sc)
	if p.Orders != 30000 {
		t.Fatalf("orders = %d, want 30000", p.Orders)
	}
	clicks := p.Submissions() - p.Orders
	// 5% of 30000 double-click: 1500, binomial sd ~38.
	if clicks < 1350 || clicks > 1650 {
		t.Errorf("double-clicks = %d, want about 1500", clicks)
	}
	var prev int64
	perSecond := make([]int, 9)
	for i, s := range schedule(p) {
		if s.At < prev || s.I != i {
			t.Fatalf("submission %d (index %d) at %d before %d: not in time order", i, s.I, s.At, prev)
		}
		prev = s.At
		if !s.Again {
			perSecond[s.At/1e9]++
		}
	}
	if p.End > 8*time.Second+300*time.Millisecond {
		t.Errorf("last submission at %s, want by 8.3s", p.End)
	}
	// The spike's shape: 1250 expected in the first second, 5000 in each
	// second of the hold, 1250 in the last.
	for s, want := range map[int]int{0: 1250, 3: 5000, 7: 1250} {
		if got := perSecond[s]; math.Abs(float64(got-want)) > 5*math.Sqrt(float64(want)) {
			t.Errorf("second %d: %d arrivals, want about %d", s, got, want)
		}
	}
}

func TestPlanEvenConstant(t *testing.T) {
	sc := mustBuiltin(t, "steady")
	if err := sc.Apply(Overrides{Rate: 1000, Duration: 2 * time.Second}, map[string]bool{"rate": true, "duration": true}); err != nil {
		t.Fatal(err)
	}
	p := NewPlan(sc)
	if p.Orders != 2000 || p.Submissions() != 2000 {
		t.Fatalf("orders %d, submissions %d; want 2000 each", p.Orders, p.Submissions())
	}
	for i, s := range schedule(p) {
		if want := int64(i) * 1e6; s.At != want || s.Click != want || s.Order != uint32(i) {
			t.Fatalf("arrival %d at %dns (click %dns, order %d), want %dns", i, s.At, s.Click, s.Order, want)
		}
	}
}

func TestPlanDeterministic(t *testing.T) {
	a, b := NewPlan(mustBuiltin(t, "flash-crowd")), NewPlan(mustBuiltin(t, "flash-crowd"))
	other := mustBuiltin(t, "flash-crowd")
	other.Seed = 2
	c := NewPlan(other)
	sa, sb, sc := schedule(a), schedule(b), schedule(c)
	same := slices.Equal(sa, sb) && len(sa) == a.Submissions()
	differ := false
	for i := range min(len(sa), len(sc)) {
		differ = differ || sa[i].At != sc[i].At
	}
	if !same {
		t.Error("two plans of one scenario and seed differ")
	}
	if !differ {
		t.Error("plans of different seeds are the same")
	}
	for i := range uint32(1000) {
		p1, q1 := a.Order(i)
		p2, q2 := b.Order(i)
		if p1 != p2 || q1 != q2 {
			t.Fatalf("order %d: (%d,%d) vs (%d,%d)", i, p1, q1, p2, q2)
		}
	}
}

func TestPlanPopularityAndQuantity(t *testing.T) {
	for _, c := range []struct {
		name   string
		pop    Popularity
		share0 float64 // expected share of product 0
	}{
		// zipf s=1 over 19 products: 1/H(19) = 0.2814.
		{"zipf", Zipf, 0.2814},
		{"hot 0.9", Hot, 0.9},
		{"uniform", Uniform, 1.0 / 19},
	} {
		sc := mustBuiltin(t, "flash-crowd")
		sc.Demand.Popularity, sc.Demand.HotShare = c.pop, 0.9
		p := NewPlan(sc)
		counts := make([]int, 19)
		const n = 100000
		for i := range uint32(n) {
			prod, qty := p.Order(i)
			if qty < 1 || qty > 4 {
				t.Fatalf("%s: quantity %d outside 1..4", c.name, qty)
			}
			counts[prod]++
		}
		if got := float64(counts[0]) / n; math.Abs(got-c.share0) > 0.01 {
			t.Errorf("%s: product 0 got %.4f of orders, want %.4f", c.name, got, c.share0)
		}
		if c.pop == Zipf && counts[1] <= counts[10] {
			t.Errorf("zipf: product 1 (%d) not more popular than product 10 (%d)", counts[1], counts[10])
		}
	}
}

func TestPlanStopOrders(t *testing.T) {
	sc := mustBuiltin(t, "flash-crowd")
	sc.Stop.Orders = 100
	p := NewPlan(sc)
	if p.Submissions() != 100 {
		t.Fatalf("submissions = %d, want 100", p.Submissions())
	}
	if p.Orders < 90 || p.Orders > 100 {
		t.Errorf("orders = %d, want 100 less the double-clicks among them", p.Orders)
	}
}

// fingerprint hashes everything a plan decides: each submission's due time
// and order, each order's product and quantity and whether its buyer
// double-clicks.
func fingerprint(p *Plan) uint64 {
	h := fnv.New64a()
	var b [8]byte
	put := func(v uint64) {
		binary.LittleEndian.PutUint64(b[:], v)
		h.Write(b[:])
	}
	for _, s := range schedule(p) {
		put(uint64(s.At))
		put(uint64(s.Order))
		if s.Again {
			put(1)
		}
	}
	for idx := range uint32(p.Orders) {
		prod, qty := p.Order(idx)
		put(uint64(prod))
		put(uint64(qty))
		if p.DoubleClicks(idx) {
			put(1)
		}
	}
	return h.Sum64()
}

// The buyers of a seed are the same in every version: a change of the
// hash, its salts or the schedule would silently change who buys what and
// when, and make runs of two versions incomparable. If a change is meant,
// update the golden values and say so in the release notes.
func TestPlanGoldenFingerprint(t *testing.T) {
	golden := map[string]uint64{
		"flash-crowd": 0x91dc7bec8434c5a8,
		"steady":      0x854394d57af56353,
		"hot-product": 0x1933e1220c5dbb25,
	}
	for name, want := range golden {
		p := NewPlan(mustBuiltin(t, name))
		if got := fingerprint(p); got != want {
			t.Errorf("%s (seed 1): plan fingerprint %#x, want %#x: the buyers of a seed changed", name, got, want)
		}
	}
}

// Late retries: a share of the orders comes again, the same order, after
// the scenario's delay; counted apart from the orders.
func TestPlanLateRetries(t *testing.T) {
	sc := mustBuiltin(t, "late-retry")
	p := NewPlan(sc)
	after := int64(sc.Client.LateRetry.After)
	first := map[uint32]int64{}
	late := 0
	for i, s := range schedule(p) {
		if !s.Late {
			if s.Again {
				t.Fatalf("submission %d: a resubmission that is not a late retry (the scenario has no double-clicks)", i)
			}
			first[s.Order] = s.At
			continue
		}
		late++
		if at, ok := first[s.Order]; !ok || s.At-at != after {
			t.Errorf("late retry of order %d at %d, its first click at %d (%v): want %d later", s.Order, s.At, at, ok, after)
		}
	}
	if p.Orders != sc.Demand.Buyers || late < sc.Demand.Buyers/10 || late > sc.Demand.Buyers*3/10 {
		t.Errorf("%d orders, %d late retries: want %d orders and about a fifth of them again", p.Orders, late, sc.Demand.Buyers)
	}
}
