package bench

import (
	"math"
	"testing"
)

func TestLogHist(t *testing.T) {
	for _, v := range []int64{0, 1, 63, 64, 65, 100, 1000, 12345, 1 << 20, 987654321} {
		got := logValue(logIndex(v))
		if rel := math.Abs(float64(got-v)) / math.Max(float64(v), 1); rel > 0.032 {
			t.Errorf("value %d lands in a bucket of %d (%.1f%% off)", v, got, rel*100)
		}
	}
	var h logHist
	for v := int64(1); v <= 10000; v++ {
		h[logIndex(v)]++
	}
	for _, q := range []float64{0.5, 0.99} {
		want := q * 10000
		if got := float64(h.quantile(q, 10000)); math.Abs(got-want)/want > 0.035 {
			t.Errorf("quantile %g = %g, want about %g", q, got, want)
		}
	}
}
