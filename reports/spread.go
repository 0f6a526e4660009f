package reports

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/stampede-bench/stampede/bench/results"
)

// repeated reports whether the run repeated every design (-repeat N).
func repeated(res *results.Results) bool { return res.Repeat > 1 }

// okReps returns the repetitions of r whose figures count (results.Whole:
// those that ran to their end), or r alone for a design that ran once.
func okReps(r *results.TargetRun) []*results.TargetRun { return results.Whole(results.Reps(r)) }

// statOf returns a figure of r over its repetitions: the value itself
// for a design that ran once (a range of one).
func statOf(r *results.TargetRun, get func(*results.TargetRun) float64) results.Stat {
	var vs []float64
	for _, x := range okReps(r) {
		vs = append(vs, get(x))
	}
	return results.NewStat(vs)
}

// cell formats a figure of r: the value of a design that ran once; over
// repetitions, the median with its range, "12.0ms (9.3ms–475ms)".
func cell(r *results.TargetRun, get func(*results.TargetRun) float64, format func(float64) string) string {
	if r.Spread == nil {
		return format(get(r))
	}
	s := statOf(r, get)
	if s.Min == s.Max {
		return format(s.Median)
	}
	return fmt.Sprintf("%s (%s–%s)", format(s.Median), format(s.Min), format(s.Max))
}

func formatRate(v float64) string { return fmt.Sprintf("%.0f", v) }

// salesCell formats goodput or seats a second: "-" for results written
// before stampede counted them.
func salesCell(r *results.TargetRun, get func(*results.TargetRun) float64) string {
	if before(r) {
		return "-"
	}
	return cell(r, get, formatRate)
}

// before reports whether r was written before stampede counted the
// orders bought (and with them goodput and undersold seats).
func before(r *results.TargetRun) bool { return r.Orders.Bought == 0 && r.Orders.Confirmed > 0 }
func formatUSf(v float64) string       { return FormatUS(int64(v)) }

// Figures of a run, as the tables show them.
var (
	getThroughput = func(r *results.TargetRun) float64 { return r.ThroughputPerS }
	getGoodput    = func(r *results.TargetRun) float64 { return r.GoodputPerS }
	getSeats      = func(r *results.TargetRun) float64 { return r.SeatsPerS }
	getP50        = func(r *results.TargetRun) float64 { return float64(r.LatencyUS.P50) }
	getP90        = func(r *results.TargetRun) float64 { return float64(r.LatencyUS.P90) }
	getP99        = func(r *results.TargetRun) float64 { return float64(r.LatencyUS.P99) }
	getP999       = func(r *results.TargetRun) float64 { return float64(r.LatencyUS.P999) }
	getMax        = func(r *results.TargetRun) float64 { return float64(r.LatencyUS.Max) }
)

// checkCell formats a correctness check (a name of results.CheckNames) of
// r: its count for a design that ran once; over repetitions, in how many
// runs it showed, "in 3 of 5 runs (23–88%), up to 9", or "0 in 5 runs".
func checkCell(r *results.TargetRun, name string) string {
	if name == "undersold" && before(r) {
		return "-"
	}
	if r.Spread == nil {
		return fmt.Sprintf("%.0f", results.Check(r, name))
	}
	in := r.Spread.Incidence[name]
	if in.Runs == 0 {
		return fmt.Sprintf("0 in %d runs", in.Of)
	}
	return fmt.Sprintf("in %d of %d runs (%s), up to %.0f", in.Runs, in.Of, wilsonText(in), in.Max)
}

// checkShown reports whether a check showed in any repetition of r.
func checkShown(r *results.TargetRun, name string) bool {
	for _, x := range okReps(r) {
		if results.Check(x, name) > 0 {
			return true
		}
	}
	return false
}

// wilsonText formats the 95% interval of an incidence: "23–88%".
func wilsonText(in results.Incidence) string {
	return fmt.Sprintf("%.0f–%.0f%%", 100*in.Low, 100*in.High)
}

// incidenceText says how often a check showed over a design's runs, for
// the verdict: "9 seats" for a design that ran once, "in 3 of 5 runs
// (23–88%), up to 9 seats" over repetitions.
func incidenceText(r *results.TargetRun, name, unit string) string {
	if r.Spread == nil {
		return fmt.Sprintf("%.0f %s", results.Check(r, name), unit)
	}
	in := r.Spread.Incidence[name]
	return fmt.Sprintf("in %d of %d runs (%s), up to %.0f %s", in.Runs, in.Of, wilsonText(in), in.Max, unit)
}

// repeatLine says how the figures of a repeated run were made, for the
// head of each report; "" for a run of one repetition.
func repeatLine(res *results.Results) string {
	if !repeated(res) {
		return ""
	}
	seed := uint64(0)
	if res.Scenario != nil {
		seed = res.Scenario.Seed
	}
	return fmt.Sprintf("Each design ran %d times (seeds %d to %d, each afresh, the designs taking turns in a rotating order). "+
		"Figures are medians with their range (lowest–highest) over the runs; a defect shows in how many runs it occurred, "+
		"with a 95%% Wilson interval on that rate. Counts of buyers and answers are the median run's (by p99).",
		res.Repeat, seed, seed+uint64(res.Repeat)-1)
}

// maxCauses bounds the causes a report lists per design.
const maxCauses = 5

// causes returns the most frequent causes of r's failures and conflicts,
// summed over its repetitions, with one sample each.
func causes(r *results.TargetRun) []results.Cause {
	type key struct{ kind, class string }
	sum := map[key]*results.Cause{}
	var order []key
	for _, x := range okReps(r) {
		for _, c := range x.Orders.Causes {
			k := key{c.Kind, c.Class}
			if sum[k] == nil {
				cc := c
				sum[k] = &cc
				order = append(order, k)
				continue
			}
			sum[k].Count += c.Count
			if sum[k].Sample == "" {
				sum[k].Sample = c.Sample
			}
		}
	}
	var out []results.Cause
	for _, k := range order {
		out = append(out, *sum[k])
	}
	slices.SortStableFunc(out, func(a, b results.Cause) int { return cmp.Compare(b.Count, a.Count) }) // most frequent first
	return out
}

// causeLines lists, per design, its top causes of failures and conflicts:
// "ledger-serializable: 1234 conflicts of sqlstate 40001
// (serialization_failure)", and a sample message of each.
func causeLines(res *results.Results) []string {
	var out []string
	for _, r := range okRuns(res) {
		cs := causes(r)
		for i, c := range cs {
			if i == maxCauses {
				out = append(out, fmt.Sprintf("%s: %d more causes (results.json lists them)", r.Target, len(cs)-maxCauses))
				break
			}
			line := fmt.Sprintf("%s: %d %s of %s", r.Target, c.Count, kindPlural(c.Kind, c.Count), c.Class)
			if c.Sample != "" {
				line += ", such as: " + OneLine(c.Sample)
			}
			out = append(out, line)
		}
	}
	return out
}

func kindPlural(kind string, n int64) string {
	s := ""
	if n != 1 {
		s = "s"
	}
	if kind == "conflict" {
		return "conflict" + s + " retried"
	}
	return kind + " answer" + s
}
