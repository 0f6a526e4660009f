package results

import (
	"math"
	"testing"
)

// The Wilson interval's published values: 0 of 10 is still up to 27.8%,
// 7 of 10 is 39.7% to 89.2%.
func TestWilson(t *testing.T) {
	for _, c := range []struct {
		k, n      int
		low, high float64
	}{
		{0, 10, 0, 0.2775}, {7, 10, 0.3968, 0.8922}, {5, 5, 0.5655, 1}, {1, 2, 0.0945, 0.9055},
	} {
		lo, hi := Wilson(c.k, c.n)
		if math.Abs(lo-c.low) > 5e-4 || math.Abs(hi-c.high) > 5e-4 {
			t.Errorf("Wilson(%d, %d) = %.4f..%.4f, want %.4f..%.4f", c.k, c.n, lo, hi, c.low, c.high)
		}
	}
}

func TestStat(t *testing.T) {
	if s := NewStat([]float64{9.3, 475, 12}); s != (Stat{Median: 12, Min: 9.3, Max: 475}) {
		t.Errorf("odd: %+v", s)
	}
	if s := NewStat([]float64{4, 1, 3, 2}); s != (Stat{Median: 2.5, Min: 1, Max: 4}) {
		t.Errorf("even: %+v", s)
	}
	if !(Stat{Min: 1, Max: 3}).Overlaps(Stat{Min: 3, Max: 9}) || (Stat{Min: 1, Max: 2}).Overlaps(Stat{Min: 3, Max: 9}) {
		t.Error("Overlaps")
	}
}

// Folding repetitions keeps them all, stands the median one (by p99) for
// the design, counts in how many runs each defect showed, and leaves the
// failed one out of the figures.
func TestFold(t *testing.T) {
	rep := func(i int, p99 int64, oversold int64, errMsg string) *TargetRun {
		return &TargetRun{Target: "d", Repetition: i, Seed: uint64(i), Error: errMsg, ThroughputPerS: float64(p99),
			LatencyUS: Latency{P99: p99}, Checks: Checks{Oversold: oversold}}
	}
	reps := []*TargetRun{rep(1, 300, 4, ""), rep(2, 100, 0, ""), rep(3, 0, 0, "boom"), rep(4, 200, 9, "")}
	f := Fold(reps)
	if f.LatencyUS.P99 != 200 || f.Repetition != 0 || len(f.Repetitions) != 4 {
		t.Errorf("folded: p99 %d, repetition %d, %d repetitions; want 200, 0, 4", f.LatencyUS.P99, f.Repetition, len(f.Repetitions))
	}
	sp := f.Spread
	if sp.Repetitions != 3 || sp.Failed != 1 || sp.P99US != (Stat{Median: 200, Min: 100, Max: 300}) {
		t.Errorf("spread %+v", sp)
	}
	if in := sp.Incidence["oversold"]; in.Runs != 2 || in.Of != 3 || in.Max != 9 || in.Low <= 0 || in.High >= 1 {
		t.Errorf("oversold incidence %+v, want 2 of 3, max 9", in)
	}
	if once := rep(0, 5, 0, ""); Fold([]*TargetRun{once}) != once {
		t.Error("a design that ran once is not kept as it is")
	}
	if all := Fold([]*TargetRun{rep(1, 0, 0, "a"), rep(2, 0, 0, "b")}); all.Error != "a" || all.Spread.Failed != 2 {
		t.Errorf("every repetition failed: error %q, spread %+v", all.Error, all.Spread)
	}
	// A repetition cut short by an interrupt has partial figures: left
	// out of the spread, and the folded run is marked interrupted.
	cut := rep(3, 900, 5, "")
	cut.Interrupted = true
	f = Fold([]*TargetRun{rep(1, 100, 0, ""), rep(2, 200, 0, ""), cut})
	if !f.Interrupted || f.Spread.Repetitions != 2 || f.Spread.Interrupted != 1 || f.Spread.P99US.Max != 200 || f.Spread.Incidence["oversold"].Runs != 0 {
		t.Errorf("with an interrupted repetition: interrupted %v, spread %+v", f.Interrupted, f.Spread)
	}
}
