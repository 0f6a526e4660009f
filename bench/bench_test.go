package bench

import (
	"context"
	"testing"
	"time"

	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
)

// BenchmarkEngine measures the harness alone: one worker sending
// orders that are all due, to a design that confirms at once. Each op is
// one order: taking it from the schedule's feed (generated alongside by
// its producer), order derivation, attempt context, two clock reads,
// histogram and per-second records. It must not allocate.
func BenchmarkEngine(b *testing.B) {
	// One order a nanosecond: each is due before the worker gets to it.
	sc := testScenario(1e9, time.Duration(max(b.N, 1)), 1)
	sc.Client.Timeout = scenario.Duration(2 * time.Second) // the deadline path, as in flash-crowd
	p := scenario.NewPlan(sc)
	r := newRun(p)
	w := r.newWorker(context.Background(), 0, noopClient{}, time.Minute)
	b.ReportAllocs()
	r.feed.start() // the schedule, generated as it is sent
	defer r.feed.finish()
	r.began = time.Now()
	b.ResetTimer()
	w.openLoop()
	b.StopTimer()
	if got := w.rec.attempts; got != int64(p.Submissions()) {
		b.Fatalf("%d attempts, want %d", got, p.Submissions())
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "orders/s")
}

// A submission allocates nothing: the worker loop's claim, enforced rather
// than only reported by BenchmarkEngine.
func TestSubmitAllocatesNothing(t *testing.T) {
	sc := testScenario(1000, time.Second, 1)
	sc.Client.Timeout = scenario.Duration(2 * time.Second)
	p := scenario.NewPlan(sc)
	r := newRun(p)
	w := r.newWorker(context.Background(), 0, noopClient{}, time.Minute)
	r.began = time.Now()
	w.submit(0, 0, 0, r.since()) // the first confirmation's histogram is made up front; warm the rest
	idx := uint32(0)
	if n := testing.AllocsPerRun(1000, func() {
		idx = (idx + 1) % uint32(p.Orders)
		now := r.since()
		w.rec.send(now, now)
		w.submit(idx, now, now, now)
	}); n != 0 {
		t.Errorf("%.1f allocations per submission, want 0", n)
	}
}

// conflictClient confirms every order after two conflicts of a named
// cause, as jetstream and ledger-serializable answer under a crowd.
type conflictClient struct{ noopClient }

func (conflictClient) Buy(context.Context, targets.Order) targets.Reply {
	return targets.Reply{Outcome: targets.Confirmed, Conflicts: 2, Cause: "jetstream 10071 (wrong last sequence)"}
}

// Counting conflicts by cause allocates nothing once the cause was seen.
func TestConflictCausesAllocateNothing(t *testing.T) {
	sc := testScenario(1000, time.Second, 1)
	p := scenario.NewPlan(sc)
	r := newRun(p)
	w := r.newWorker(context.Background(), 0, conflictClient{}, time.Minute)
	r.began = time.Now()
	w.submit(0, 0, 0, r.since()) // the cause's first count makes its entry
	idx := uint32(0)
	if n := testing.AllocsPerRun(1000, func() {
		idx = (idx + 1) % uint32(p.Orders)
		now := r.since()
		w.submit(idx, now, now, now)
	}); n != 0 {
		t.Errorf("%.1f allocations per submission with conflicts, want 0", n)
	}
	if c := w.rec.causes[causeKey{causeConflict, "jetstream 10071 (wrong last sequence)"}]; c == nil || c.n < 2000 {
		t.Errorf("conflicts by cause: %+v", w.rec.causes)
	}
}
