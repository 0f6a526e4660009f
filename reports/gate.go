package reports

import (
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/stampede-bench/stampede/bench/results"
)

// Grammar is the accepted form of a -check expression, for error messages.
const Grammar = `[design:]metric op value, where metric is one of ` + metricNames +
	`; op is <, <=, >, >=, == or !=; value is a number, with a unit for latencies (us, ms, s: p99<50ms), ` +
	`or +N% / -N% relative to -baseline (p99<+10%, throughput>-5%)`

const metricNames = "throughput, goodput, seats_per_s, p50, p90, p99, p999, max, oversold, undersold, duplicated, duplicate_rate, lost, phantom, apologies, unknown, errors, conflicts, contradicted, refused_applied, limit_exceeded, ryw_violations, visibility_p99, recovery"

// worstOf names the correctness metrics: over repetitions a check holds
// them to the worst run (oversold==0 holds only if no run oversold);
// every other metric is held at its median.
var worstOf = map[string]bool{"oversold": true, "undersold": true, "duplicated": true, "duplicate_rate": true, "lost": true,
	"phantom": true, "apologies": true, "contradicted": true, "refused_applied": true, "limit_exceeded": true, "ryw_violations": true}

// metricOf returns metric of r: its value for a design that ran once; over
// repetitions, the worst run's for a correctness metric and the median
// for the others, with the range over the runs.
func metricOf(r *results.TargetRun, metric string) (float64, results.Stat) {
	st := statOf(r, metrics[metric].get)
	if r.Spread == nil {
		v := metrics[metric].get(r)
		return v, results.Stat{Median: v, Min: v, Max: v}
	}
	if worstOf[metric] {
		return st.Max, st
	}
	return st.Median, st
}

// metrics reads a figure of a run; latencies are in microseconds.
var metrics = map[string]struct {
	latency bool
	get     func(*results.TargetRun) float64
}{
	"throughput":      {false, func(r *results.TargetRun) float64 { return r.ThroughputPerS }},
	"goodput":         {false, func(r *results.TargetRun) float64 { return r.GoodputPerS }},
	"seats_per_s":     {false, func(r *results.TargetRun) float64 { return r.SeatsPerS }},
	"undersold":       {false, func(r *results.TargetRun) float64 { return float64(r.Checks.Undersold) }},
	"p50":             {true, func(r *results.TargetRun) float64 { return float64(r.LatencyUS.P50) }},
	"p90":             {true, func(r *results.TargetRun) float64 { return float64(r.LatencyUS.P90) }},
	"p99":             {true, func(r *results.TargetRun) float64 { return float64(r.LatencyUS.P99) }},
	"p999":            {true, func(r *results.TargetRun) float64 { return float64(r.LatencyUS.P999) }},
	"max":             {true, func(r *results.TargetRun) float64 { return float64(r.LatencyUS.Max) }},
	"oversold":        {false, func(r *results.TargetRun) float64 { return float64(r.Checks.Oversold) }},
	"duplicated":      {false, func(r *results.TargetRun) float64 { return float64(r.Checks.DuplicatedOrders) }},
	"duplicate_rate":  {false, func(r *results.TargetRun) float64 { return r.Checks.DuplicateRate }},
	"lost":            {false, func(r *results.TargetRun) float64 { return float64(r.Checks.Lost) }},
	"phantom":         {false, func(r *results.TargetRun) float64 { return float64(r.Checks.Phantom) }},
	"apologies":       {false, func(r *results.TargetRun) float64 { return float64(r.Checks.Apologies) }},
	"unknown":         {false, func(r *results.TargetRun) float64 { return float64(r.Orders.Unknown) }},
	"errors":          {false, func(r *results.TargetRun) float64 { return float64(r.Orders.Errors) }},
	"conflicts":       {false, func(r *results.TargetRun) float64 { return float64(r.Orders.Conflicts) }},
	"contradicted":    {false, func(r *results.TargetRun) float64 { return float64(r.Checks.Contradicted) }},
	"refused_applied": {false, func(r *results.TargetRun) float64 { return float64(r.Checks.RefusedApplied) }},
	"limit_exceeded":  {false, func(r *results.TargetRun) float64 { return float64(r.Checks.LimitExceeded) }},
	"ryw_violations": {false, func(r *results.TargetRun) float64 {
		if r.ReadYourWrites == nil {
			return 0
		}
		return float64(r.ReadYourWrites.Violations)
	}},
	// recovery is the longest time to recover from a fault (µs); a fault
	// not recovered from within the run counts as forever.
	"recovery": {true, func(r *results.TargetRun) float64 {
		var worst float64
		for _, f := range r.Faults {
			switch {
			case f.RecoveryS != nil:
				worst = math.Max(worst, *f.RecoveryS*1e6)
			case f.Skipped == "" && f.BeforePerS > 0 && !f.Unmeasured:
				return math.Inf(1)
			}
		}
		return worst
	}},
	"visibility_p99": {true, func(r *results.TargetRun) float64 {
		if r.ReadYourWrites == nil {
			return 0
		}
		return float64(r.ReadYourWrites.LagUS.P99)
	}},
}

// Check is one parsed threshold.
type Check struct {
	Text     string
	Target   string // "" for every design
	Metric   string
	Op       string
	Value    float64 // absolute: in the metric's unit (µs for latencies)
	Relative bool    // Value is a fraction of the baseline: +0.10 for +10%
}

// ErrBadCheck is wrapped by every parse error of a -check expression.
var ErrBadCheck = errors.New("bad -check expression")

var checkRE = regexp.MustCompile(`^(?:([A-Za-z0-9._-]+):)?([a-z_0-9]+)\s*(<=|>=|==|!=|<|>)\s*([+-]?[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*(%|us|µs|ms|s)?$`)

// ParseCheck parses one threshold.
func ParseCheck(s string) (Check, error) {
	m := checkRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return Check{}, fmt.Errorf("%w %q: want %s", ErrBadCheck, s, Grammar)
	}
	c := Check{Text: s, Target: m[1], Metric: m[2], Op: m[3]}
	spec, ok := metrics[c.Metric]
	if !ok {
		return Check{}, fmt.Errorf("%w %q: unknown metric %q (accepted: %s)", ErrBadCheck, s, c.Metric, metricNames)
	}
	v, err := strconv.ParseFloat(m[4], 64)
	if err != nil {
		return Check{}, fmt.Errorf("%w %q: want %s", ErrBadCheck, s, Grammar)
	}
	signed := strings.HasPrefix(m[4], "+") || strings.HasPrefix(m[4], "-")
	switch unit := m[5]; {
	case unit == "%":
		if !signed {
			return Check{}, fmt.Errorf("%w %q: a relative value is signed, such as +10%% or -5%%", ErrBadCheck, s)
		}
		c.Value, c.Relative = v/100, true
	case signed && v < 0:
		return Check{}, fmt.Errorf("%w %q: a negative value needs %% (relative to -baseline)", ErrBadCheck, s)
	case spec.latency && unit == "":
		return Check{}, fmt.Errorf("%w %q: %s needs a unit (us, ms or s), such as %s<50ms", ErrBadCheck, s, c.Metric, c.Metric)
	case !spec.latency && unit != "":
		return Check{}, fmt.Errorf("%w %q: %s takes no unit", ErrBadCheck, s, c.Metric)
	case unit == "ms":
		c.Value = v * 1e3
	case unit == "s":
		c.Value = v * 1e6
	default:
		c.Value = v
	}
	return c, nil
}

// Crossed is a threshold a run did not meet.
type Crossed struct {
	Check  Check
	Target string
	Got    float64
	Limit  float64
	// Of says which figure Got is, over repetitions: "median of 5 runs"
	// or "worst of 5 runs"; "" for a design that ran once.
	Of string
	// Note says, for a relative threshold over repetitions, that the
	// difference lies within the runs' spread.
	Note string
}

func (c Crossed) String() string {
	got, limit := fmt.Sprintf("%g", c.Got), fmt.Sprintf("%g", c.Limit)
	if metrics[c.Check.Metric].latency {
		got, limit = FormatUS(int64(c.Got)), FormatUS(int64(math.Round(c.Limit)))
	}
	of := ""
	if c.Of != "" {
		of = " (" + c.Of + ")"
	}
	s := fmt.Sprintf("%s: %s is %s%s, crossing %s (limit %s)", c.Target, c.Check.Metric, got, of, c.Check.Text, limit)
	if c.Note != "" {
		s += "; " + c.Note
	}
	return s
}

// formatMetric formats a value of metric for people.
func formatMetric(metric string, v float64) string {
	if metrics[metric].latency {
		return FormatUS(int64(math.Round(v)))
	}
	return fmt.Sprintf("%g", v)
}

// Evaluate applies checks to the runs of res, relative ones against
// baseline (which may be nil when no check is relative). It returns the
// thresholds crossed, and an error for a check that cannot be evaluated (a
// design absent from the results, a relative check without a baseline).
func Evaluate(res, baseline *results.Results, checks []Check) ([]Crossed, error) {
	var out []Crossed
	for _, c := range checks {
		if c.Relative && baseline == nil {
			return nil, fmt.Errorf("%w %q: a relative threshold needs -baseline OLD.json", ErrBadCheck, c.Text)
		}
		matched := false
		for _, r := range okRuns(res) {
			if c.Target != "" && r.Target != c.Target {
				continue
			}
			matched = true
			got, spread := metricOf(r, c.Metric)
			limit := c.Value
			var note string
			if c.Relative {
				old := findRun(baseline, r.Target)
				if old == nil {
					return nil, fmt.Errorf("%w %q: design %s has no figures in the baseline to be relative to (baseline: %s)",
						ErrBadCheck, c.Text, r.Target, strings.Join(targetNames(baseline), ", "))
				}
				was, oldSpread := metricOf(old, c.Metric)
				limit = was * (1 + c.Value)
				if (r.Spread != nil || old.Spread != nil) && spread.Overlaps(oldSpread) {
					note = fmt.Sprintf("within the spread of the runs (baseline %s–%s, now %s–%s): not a clear change",
						formatMetric(c.Metric, oldSpread.Min), formatMetric(c.Metric, oldSpread.Max),
						formatMetric(c.Metric, spread.Min), formatMetric(c.Metric, spread.Max))
				}
			}
			if !holds(got, c.Op, limit) {
				cr := Crossed{Check: c, Target: r.Target, Got: got, Limit: limit, Note: note}
				if r.Spread != nil {
					cr.Of = fmt.Sprintf("median of %d runs", r.Spread.Repetitions)
					if worstOf[c.Metric] {
						cr.Of = fmt.Sprintf("worst of %d runs", r.Spread.Repetitions)
					}
				}
				out = append(out, cr)
			}
		}
		if !matched && c.Target != "" {
			return nil, fmt.Errorf("%w %q: no design %q in the results (present: %s)", ErrBadCheck, c.Text, c.Target, strings.Join(targetNames(res), ", "))
		}
	}
	return out, nil
}

func holds(got float64, op string, limit float64) bool {
	switch op {
	case "<":
		return got < limit
	case "<=":
		return got <= limit
	case ">":
		return got > limit
	case ">=":
		return got >= limit
	case "==":
		return got == limit
	default:
		return got != limit
	}
}

// CheckBaseline returns an error wrapping ErrBadCheck for the first
// relative check that a design of designs cannot be held to: no baseline,
// or no figures of that design in it. A run calls it before it starts.
func CheckBaseline(checks []Check, baseline *results.Results, designs []string) error {
	for _, c := range checks {
		if !c.Relative {
			continue
		}
		if baseline == nil {
			return fmt.Errorf("%w %q: a relative threshold needs -baseline OLD.json", ErrBadCheck, c.Text)
		}
		for _, d := range designs {
			if (c.Target == "" || c.Target == d) && findRun(baseline, d) == nil {
				return fmt.Errorf("%w %q: design %s has no figures in the baseline to be relative to (baseline: %s)",
					ErrBadCheck, c.Text, d, strings.Join(targetNames(baseline), ", "))
			}
		}
	}
	return nil
}

func findRun(res *results.Results, target string) *results.TargetRun {
	for _, r := range okRuns(res) {
		if r.Target == target {
			return r
		}
	}
	return nil
}

func targetNames(res *results.Results) []string {
	var names []string
	for _, r := range res.Runs {
		names = append(names, r.Target)
	}
	sort.Strings(names)
	return names
}

// Compare writes, per design present in both runs, the old and new figures
// and the change. Over repetitions the figures are medians, and the worst
// run's for correctness; a change whose ranges overlap is marked "within
// the spread".
func Compare(w io.Writer, old, cur *results.Results) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	spreads := repeated(old) || repeated(cur)
	if spreads {
		fmt.Fprintln(tw, "design\tmetric\told\tnew\tchange\t\t")
	} else {
		fmt.Fprintln(tw, "design\tmetric\told\tnew\tchange\t")
	}
	count := func(v float64) string { return fmt.Sprintf("%.0f", v) }
	rows := []struct {
		name, metric string
		fmt          func(float64) string
	}{
		{"answers/s", "throughput", count},
		{"sales/s", "goodput", count},
		{"p50", "p50", formatUSf},
		{"p99", "p99", formatUSf},
		{"p99.9", "p999", formatUSf},
		{"oversold", "oversold", count},
		{"undersold", "undersold", count},
		{"dup rate", "duplicate_rate", func(v float64) string { return fmt.Sprintf("%.4f", v) }},
		{"lost", "lost", count},
	}
	n := 0
	for _, nr := range okRuns(cur) {
		or := findRun(old, nr.Target)
		if or == nil {
			continue
		}
		n++
		for i, row := range rows {
			name := ""
			if i == 0 {
				name = nr.Target
			}
			a, sa := metricOf(or, row.metric)
			b, sb := metricOf(nr, row.metric)
			if !spreads {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", name, row.name, row.fmt(a), row.fmt(b), change(a, b))
				continue
			}
			note := ""
			if a != b && !worstOf[row.metric] && sa.Overlaps(sb) {
				note = "within the spread"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", name, row.name, row.fmt(a), row.fmt(b), change(a, b), note)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("no design is in both runs (old: %s; new: %s)", strings.Join(targetNames(old), ", "), strings.Join(targetNames(cur), ", "))
	}
	return nil
}

func change(a, b float64) string {
	switch {
	case a == b:
		return "="
	case a == 0:
		return fmt.Sprintf("%+g", b)
	}
	return fmt.Sprintf("%+.1f%%", 100*(b-a)/a)
}
