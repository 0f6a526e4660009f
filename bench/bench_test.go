package bench

import (
	"context"
	"testing"
	"time"
)

// BenchmarkEngine measures the harness alone: one worker sending
// orders that are all due, to a design that confirms at once. Each op is
// one order: schedule lookup, order derivation, attempt context, two clock
// reads, histogram and per-second records. It must not allocate.
func BenchmarkEngine(b *testing.B) {
	sc := testScenario(float64(max(b.N, 1)), time.Second, 1)
	sc.Client.Timeout = Duration(2 * time.Second) // the deadline path, as in flash-crowd
	p := NewPlan(sc)
	clear(p.at) // everything due at once: no waiting
	r := newRun(p)
	w := r.newWorker(context.Background(), 0, noopClient{}, time.Minute)
	defer w.sleeper.close()
	b.ReportAllocs()
	r.began = time.Now()
	b.ResetTimer()
	w.openLoop()
	b.StopTimer()
	if got := w.rec.attempts; got != int64(len(p.at)) {
		b.Fatalf("%d attempts, want %d", got, len(p.at))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "orders/s")
}
