package results

import (
	"math"
	"slices"
	"sort"
)

// Spread summarises the repetitions of one design (-repeat N): the median
// of each speed figure with its range, and for each correctness check in
// how many repetitions it showed, with a 95% interval on that rate.
type Spread struct {
	// Repetitions counts the repetitions whose figures are summarised;
	// Failed, those that failed (their error is in Repetitions), and
	// Interrupted, those cut short by an interrupt (partial figures), are
	// left out, unless every repetition that did not fail was
	// interrupted.
	Repetitions int `json:"repetitions"`
	Failed      int `json:"failed,omitempty"`
	Interrupted int `json:"interrupted,omitempty"`

	ThroughputPerS Stat `json:"throughput_per_s"`
	GoodputPerS    Stat `json:"goodput_per_s"`
	SeatsPerS      Stat `json:"seats_per_s"`
	P50US          Stat `json:"p50_us"`
	P90US          Stat `json:"p90_us"`
	P99US          Stat `json:"p99_us"`
	P999US         Stat `json:"p999_us"`
	MaxUS          Stat `json:"max_us"`
	// Incidence holds, per correctness check (the names of CheckNames), in
	// how many repetitions it was above 0.
	Incidence map[string]Incidence `json:"incidence"`
}

// Stat is a figure over repetitions: its median, lowest and highest.
type Stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// Within reports whether v lies inside the range of s.
func (s Stat) Within(v float64) bool { return v >= s.Min && v <= s.Max }

// Overlaps reports whether the ranges of s and o share a value.
func (s Stat) Overlaps(o Stat) bool { return s.Min <= o.Max && o.Min <= s.Max }

// Incidence is how often a defect showed over repetitions: in Runs of Of
// repetitions, with Low..High the 95% Wilson score interval on the rate
// Runs/Of, and Max the most any one repetition showed.
type Incidence struct {
	Runs int     `json:"runs"`
	Of   int     `json:"of"`
	Low  float64 `json:"low"`
	High float64 `json:"high"`
	Max  float64 `json:"max"`
}

// checks reads each correctness check a Spread counts, in the order
// reports show them.
var checks = []struct {
	name string
	get  func(Checks) int64
}{
	{"oversold", func(c Checks) int64 { return c.Oversold }},
	{"undersold", func(c Checks) int64 { return c.Undersold }},
	{"duplicated", func(c Checks) int64 { return c.DuplicatedOrders }},
	{"lost", func(c Checks) int64 { return c.Lost }},
	{"phantom", func(c Checks) int64 { return c.Phantom }},
	{"contradicted", func(c Checks) int64 { return c.Contradicted }},
	{"apologies", func(c Checks) int64 { return c.Apologies }},
	{"refused_applied", func(c Checks) int64 { return c.RefusedApplied }},
	{"limit_exceeded", func(c Checks) int64 { return c.LimitExceeded }},
}

// CheckNames lists the correctness checks whose incidence a Spread counts,
// in the order reports show them; Check reads one of a run.
var CheckNames = func() []string {
	names := make([]string, len(checks))
	for i, c := range checks {
		names[i] = c.name
	}
	return names
}()

// Check returns the value of the correctness check name (one of
// CheckNames) in r, or 0 for another name.
func Check(r *TargetRun, name string) float64 {
	for _, c := range checks {
		if c.name == name {
			return float64(c.get(r.Checks))
		}
	}
	return 0
}

// Wilson returns the 95% Wilson score interval of a rate of k successes in
// n trials: a sound interval for small n and for rates of 0 or 1, where
// the normal approximation says nothing (0 in 10 runs: 0% to 27.8%).
func Wilson(k, n int) (low, high float64) {
	if n <= 0 {
		return 0, 1
	}
	const z = 1.959963984540054
	p, nf := float64(k)/float64(n), float64(n)
	den := 1 + z*z/nf
	mid := (p + z*z/(2*nf)) / den
	half := z / den * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf))
	return max(0, mid-half), min(1, mid+half)
}

// NewStat returns the median and range of vs (the mean of the middle two
// for an even count).
func NewStat(vs []float64) Stat {
	if len(vs) == 0 {
		return Stat{}
	}
	s := slices.Clone(vs)
	sort.Float64s(s)
	n := len(s)
	m := s[n/2]
	if n%2 == 0 {
		m = (s[n/2-1] + s[n/2]) / 2
	}
	return Stat{Median: m, Min: s[0], Max: s[n-1]}
}

// Summarise returns the spread of a design's repetitions; those that
// failed are counted apart.
func Summarise(reps []*TargetRun) *Spread {
	sp := &Spread{Incidence: map[string]Incidence{}}
	for _, r := range reps {
		switch {
		case r.Error != "":
			sp.Failed++
		case r.Interrupted:
			sp.Interrupted++
		}
	}
	ok := Whole(reps)
	if len(ok) == 0 || ok[0].Interrupted {
		sp.Interrupted = 0
	}
	sp.Repetitions = len(ok)
	stat := func(get func(*TargetRun) float64) Stat {
		vs := make([]float64, len(ok))
		for i, r := range ok {
			vs[i] = get(r)
		}
		return NewStat(vs)
	}
	sp.ThroughputPerS = stat(func(r *TargetRun) float64 { return r.ThroughputPerS })
	sp.GoodputPerS = stat(func(r *TargetRun) float64 { return r.GoodputPerS })
	sp.SeatsPerS = stat(func(r *TargetRun) float64 { return r.SeatsPerS })
	sp.P50US = stat(func(r *TargetRun) float64 { return float64(r.LatencyUS.P50) })
	sp.P90US = stat(func(r *TargetRun) float64 { return float64(r.LatencyUS.P90) })
	sp.P99US = stat(func(r *TargetRun) float64 { return float64(r.LatencyUS.P99) })
	sp.P999US = stat(func(r *TargetRun) float64 { return float64(r.LatencyUS.P999) })
	sp.MaxUS = stat(func(r *TargetRun) float64 { return float64(r.LatencyUS.Max) })
	for _, name := range CheckNames {
		in := Incidence{Of: len(ok)}
		for _, r := range ok {
			if v := Check(r, name); v > 0 {
				in.Runs++
				in.Max = max(in.Max, v)
			}
		}
		in.Low, in.High = Wilson(in.Runs, in.Of)
		sp.Incidence[name] = in
	}
	return sp
}

// Whole returns the repetitions that ran to their end, or, if none did,
// those that did not fail (cut short by an interrupt).
func Whole(reps []*TargetRun) []*TargetRun {
	var done, cut []*TargetRun
	for _, r := range reps {
		switch {
		case r.Error != "":
		case r.Interrupted:
			cut = append(cut, r)
		default:
			done = append(done, r)
		}
	}
	if len(done) > 0 {
		return done
	}
	return cut
}

// Representative returns the repetition whose figures stand for the
// design: of those that ran to their end (see Whole), the one at the median of p99 (the
// lower of the middle two for an even count, ties to the earlier seed);
// nil when every repetition failed.
func Representative(reps []*TargetRun) *TargetRun {
	ok := Whole(reps)
	if len(ok) == 0 {
		return nil
	}
	sorted := slices.Clone(ok)
	slices.SortStableFunc(sorted, func(a, b *TargetRun) int {
		switch {
		case a.LatencyUS.P99 < b.LatencyUS.P99:
			return -1
		case a.LatencyUS.P99 > b.LatencyUS.P99:
			return 1
		}
		return 0
	})
	return sorted[(len(sorted)-1)/2]
}

// Fold makes a design's repetitions into the one run results.json lists:
// a copy of the representative repetition, holding every repetition and
// their spread. The one run of a design that ran once (no Repetition) is
// returned as it is.
func Fold(reps []*TargetRun) *TargetRun {
	if len(reps) == 1 && reps[0].Repetition == 0 {
		return reps[0]
	}
	rep := Representative(reps)
	var out TargetRun
	if rep == nil { // every repetition failed: the first one's error stands
		out = TargetRun{Target: reps[0].Target, Error: reps[0].Error, Timeline: []Second{}}
	} else {
		out = *rep
	}
	out.Repetition, out.Seed = 0, 0
	for _, r := range reps {
		out.Interrupted = out.Interrupted || r.Interrupted
	}
	out.Repetitions = reps
	out.Spread = Summarise(reps)
	return &out
}

// Reps returns the repetitions of r: its Repetitions, or r alone for a
// design that ran once.
func Reps(r *TargetRun) []*TargetRun {
	if len(r.Repetitions) > 0 {
		return r.Repetitions
	}
	return []*TargetRun{r}
}
