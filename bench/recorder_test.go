package bench

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stampede-bench/stampede/targets"
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

// write is one record of a worker's: an attempt answered at end, or a
// submission's response at end (ns since the start).
type write struct {
	response bool
	outcome  targets.Outcome
	end, us  int64
}

// play records w into rec.
func (w write) play(rec *recorder) {
	if w.response {
		rec.response(int(w.outcome), w.end-w.us*1e3, w.end)
		return
	}
	rec.attempt(w.outcome, 2, w.outcome == targets.Confirmed, w.end-w.us*1e3, w.end, 0)
}

// writes makes a worker's records over secs seconds: attempts and
// responses in time order, and responses of expired submissions up to 5s
// back in time; a stuck worker is silent from 2s to secs-3s.
func writes(rng *rand.Rand, secs int, stuck bool) []write {
	var out []write
	for t := int64(0); t < int64(secs)*1e9; t += rng.Int64N(2e7) {
		if stuck && t > 2e9 && t < int64(secs-3)*1e9 {
			continue
		}
		o := targets.Outcome(rng.IntN(int(targets.NumOutcomes)))
		us := rng.Int64N(100_000)
		out = append(out, write{outcome: o, end: t, us: us}, write{response: true, outcome: o, end: t, us: us})
		if rng.IntN(4) == 0 { // an expired submission: its answer at its deadline, earlier
			end := max(t-rng.Int64N(5e9), 0)
			out = append(out, write{response: true, outcome: targets.Unknown, end: end, us: 2e6})
		}
	}
	return out
}

// want is the timeline the writes of every worker make.
func want(all [][]write, nSeconds int) []second {
	tl := make([]second, nSeconds)
	for _, ws := range all {
		for _, w := range ws {
			sl := &tl[min(int(w.end/1e9), nSeconds-1)]
			if w.response {
				sl.resp++
				sl.hist[logIndex(w.us)]++
				continue
			}
			sl.outcomes[w.outcome]++
			if w.outcome == targets.Confirmed {
				sl.sold += 2
			}
			if w.end/1e9 < int64(nSeconds) {
				sl.tickAnswer(w.outcome, w.end)
			}
		}
	}
	return tl
}

// The workers' seconds folded into the run's timeline while they record
// (the monitor folding as it goes, the workers writing at once) add up
// to what they recorded, each in its second, the answers of expired
// submissions written back in time included.
func TestTimelineFoldsWhileWorkersWrite(t *testing.T) {
	const nSeconds = 12 // the last absorbs the writes after it
	rng := rand.New(rand.NewPCG(1, 2))
	all := make([][]write, 6)
	for i := range all {
		all[i] = writes(rng, 15, i == 0)
	}
	tl := newTimeline(nSeconds)
	recs := make([]*recorder, len(all))
	for i := range recs {
		recs[i] = newRecorder(10_000_000, nSeconds, true)
		recs[i].ticks = true
	}
	var wg sync.WaitGroup
	for i, rec := range recs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, w := range all[i] {
				w.play(rec)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for folding := true; folding; {
		select {
		case <-done:
			folding = false
		default:
		}
		for _, rec := range recs {
			tl.fold(rec, false)
		}
	}
	for _, rec := range recs {
		tl.fold(rec, true)
	}
	for s, w := range want(all, nSeconds) {
		if tl.secs[s] != w {
			t.Errorf("second %d: %d responses, %v attempts, %d sold; want %d, %v, %d (or their histograms or ticks differ)",
				s, tl.secs[s].resp, tl.secs[s].outcomes, tl.secs[s].sold, w.resp, w.outcomes, w.sold)
		}
	}
}

// Folded as the monitor does, a few times a second, a worker holds a few
// records whatever the run's length: when it writes back in time (one
// for each second it writes to between two folds), and
// while another worker is stuck in a long attempt (the complete seconds
// then stop, the folding of each worker's does not).
func TestWorkerSecondsStayFew(t *testing.T) {
	const nSeconds = 1000
	rng := rand.New(rand.NewPCG(3, 4))
	all := [][]write{writes(rng, 900, true), writes(rng, 900, false)}
	tl := newTimeline(nSeconds)
	recs := []*recorder{newRecorder(10_000_000, nSeconds, true), newRecorder(10_000_000, nSeconds, true)}
	recs[0].ticks, recs[1].ticks = true, true
	next := make([]int, len(all))
	for tick := int64(0); tick <= 901e9; tick += 250e6 {
		for i, rec := range recs {
			for ; next[i] < len(all[i]) && max(all[i][next[i]].end, 0) < tick; next[i]++ {
				all[i][next[i]].play(rec)
			}
			// The current second, the one before, and the (at most six)
			// seconds the expired answers go back to.
			if len(rec.pool) > 8 {
				t.Fatalf("at %.2fs worker %d holds %d records of seconds", float64(tick)/1e9, i, len(rec.pool))
			}
			tl.fold(rec, false)
		}
	}
	for _, rec := range recs {
		tl.fold(rec, true)
	}
	for s, w := range want(all, nSeconds) {
		if tl.secs[s] != w {
			t.Fatalf("second %d differs: %d responses, want %d", s, tl.secs[s].resp, w.resp)
		}
	}
}
