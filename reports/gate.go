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

const metricNames = "throughput, p50, p90, p99, p999, max, oversold, duplicated, duplicate_rate, lost, phantom, apologies, unknown, errors, conflicts, contradicted, refused_applied, limit_exceeded, ryw_violations, visibility_p99"

// metrics reads a figure of a run; latencies are in microseconds.
var metrics = map[string]struct {
	latency bool
	get     func(*results.TargetRun) float64
}{
	"throughput":      {false, func(r *results.TargetRun) float64 { return r.ThroughputPerS }},
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
}

func (c Crossed) String() string {
	got, limit := fmt.Sprintf("%g", c.Got), fmt.Sprintf("%g", c.Limit)
	if metrics[c.Check.Metric].latency {
		got, limit = FormatUS(int64(c.Got)), FormatUS(int64(math.Round(c.Limit)))
	}
	return fmt.Sprintf("%s: %s is %s, crossing %s (limit %s)", c.Target, c.Check.Metric, got, c.Check.Text, limit)
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
			got := metrics[c.Metric].get(r)
			limit := c.Value
			if c.Relative {
				old := findRun(baseline, r.Target)
				if old == nil {
					return nil, fmt.Errorf("%w %q: design %s has no figures in the baseline to be relative to (baseline: %s)",
						ErrBadCheck, c.Text, r.Target, strings.Join(targetNames(baseline), ", "))
				}
				limit = metrics[c.Metric].get(old) * (1 + c.Value)
			}
			if !holds(got, c.Op, limit) {
				out = append(out, Crossed{Check: c, Target: r.Target, Got: got, Limit: limit})
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
// and the change.
func Compare(w io.Writer, old, cur *results.Results) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "design\tmetric\told\tnew\tchange\t")
	rows := []struct {
		name string
		get  func(*results.TargetRun) float64
		fmt  func(float64) string
	}{
		{"answers/s", func(r *results.TargetRun) float64 { return r.ThroughputPerS }, func(v float64) string { return fmt.Sprintf("%.0f", v) }},
		{"p50", metrics["p50"].get, func(v float64) string { return FormatUS(int64(v)) }},
		{"p99", metrics["p99"].get, func(v float64) string { return FormatUS(int64(v)) }},
		{"p99.9", metrics["p999"].get, func(v float64) string { return FormatUS(int64(v)) }},
		{"oversold", metrics["oversold"].get, func(v float64) string { return fmt.Sprintf("%.0f", v) }},
		{"dup rate", metrics["duplicate_rate"].get, func(v float64) string { return fmt.Sprintf("%.4f", v) }},
		{"lost", metrics["lost"].get, func(v float64) string { return fmt.Sprintf("%.0f", v) }},
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
			a, b := row.get(or), row.get(nr)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", name, row.name, row.fmt(a), row.fmt(b), change(a, b))
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
