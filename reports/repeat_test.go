package reports

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stampede-bench/stampede/bench/results"
	"github.com/stampede-bench/stampede/targets"
)

// repeatedCrowd is a run of -repeat 5 over three durable designs: fast
// (p99 10-12ms), near (11-14ms: overlapping fast) and slow (40-50ms),
// and racy, durable too, that oversold in 2 of the 5 runs.
func repeatedCrowd() *results.Results {
	res := fixture()
	res.Repeat = 5
	res.Scenario.Seed = 11
	base := res.Runs[0]
	mk := func(name string, p99s []int64, oversold []int64) *results.TargetRun {
		var reps []*results.TargetRun
		for i, p99 := range p99s {
			r := *base
			r.Target, r.Repetition, r.Seed = name, i+1, uint64(11+i)
			r.Info = targets.Info{Durable: true, Durability: "fsync per commit"}
			r.LatencyUS.P99 = p99 * 1000
			r.ThroughputPerS = 3000 + float64(i)
			r.GoodputPerS, r.SeatsPerS = 190, 190
			r.Orders.Bought, r.Orders.Seats = 1900, 1900
			r.Checks = results.Checks{Capacity: 1900, Sold: 1900}
			if oversold != nil {
				r.Checks.Oversold = oversold[i]
				r.Checks.Sold += oversold[i]
			}
			r.Orders.Causes = []results.Cause{{Kind: "conflict", Class: "sqlstate 40001 (serialization_failure)", Count: 100 + int64(i), Sample: ""},
				{Kind: "unknown", Class: "timeout", Count: 2, Sample: "buy: context deadline exceeded"}}
			reps = append(reps, &r)
		}
		return results.Fold(reps)
	}
	res.Runs = []*results.TargetRun{
		mk("fast", []int64{10, 12, 11, 10, 12}, nil),
		mk("near", []int64{14, 11, 13, 12, 13}, nil),
		mk("slow", []int64{40, 50, 45, 44, 41}, nil),
		mk("racy", []int64{5, 5, 6, 5, 5}, []int64{0, 3, 0, 7, 0}),
	}
	res.Targets = []string{"fast", "near", "slow", "racy"}
	return res
}

func TestRepeatedSummary(t *testing.T) {
	res := repeatedCrowd()
	var b bytes.Buffer
	if err := Summary(&b, res); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(strings.Fields(b.String()), " ")
	for _, want := range []string{
		"Each design ran 5 times (seeds 11 to 15",
		"fast open 3002 (3000–3004) 190 190", // throughput median and range; goodput
		"11.0ms (10.0ms–12.0ms)",             // fast's p99
		"in 2 of 5 runs (12–77%), up to 7",   // racy's oversold, with its Wilson interval
		"0 in 5 runs",
		"fast: 510 conflicts retried of sqlstate 40001 (serialization_failure)",
		"fast: 10 unknown answers of timeout, such as: buy: context deadline exceeded",
		"racy (in 2 of 5 runs (12–77%), up to 7 seats)",
		"no design was faster at p99: fast (median 11.0ms, range 10.0ms–12.0ms) and near (median 13.0ms, range 11.0ms–14.0ms) overlap",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
	// Without the overlapping design, the fastest is named, by how much.
	res.Runs = append(res.Runs[:1], res.Runs[2:]...)
	res.Targets = []string{"fast", "slow", "racy"}
	if v := Verdict(res); !strings.Contains(v, "fast (11.0ms, range 10.0ms–12.0ms), 4.0x faster than slow (44.0ms, range 40.0ms–50.0ms), beyond the spread of either") {
		t.Errorf("verdict: %s", v)
	}
}

// A gate over repetitions holds a correctness check to the worst run and
// a speed check to the median, and says when a relative change lies
// within the spread.
func TestRepeatedChecks(t *testing.T) {
	res := repeatedCrowd()
	parse := func(s string) Check {
		c, err := ParseCheck(s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	crossed, err := Evaluate(res, nil, []Check{parse("racy:oversold==0"), parse("fast:p99<11ms"), parse("fast:p99<12ms")})
	if err != nil {
		t.Fatal(err)
	}
	if len(crossed) != 2 || crossed[0].Got != 7 || !strings.Contains(crossed[0].String(), "worst of 5 runs") ||
		crossed[1].Got != 11000 || !strings.Contains(crossed[1].String(), "median of 5 runs") {
		t.Fatalf("crossed %v; want racy's oversold 7 (worst run) and fast's p99 11ms (median)", crossed)
	}
	// Against itself with one run slower: +5% crossed at the median, but
	// within the spread.
	base := repeatedCrowd()
	crossed, err = Evaluate(res, base, []Check{parse("near:p99<+0%")})
	if err != nil {
		t.Fatal(err)
	}
	if len(crossed) != 1 || !strings.Contains(crossed[0].Note, "within the spread of the runs (baseline 11.0ms–14.0ms, now 11.0ms–14.0ms)") {
		t.Errorf("crossed %v, want near's p99 crossed with a note of the spread", crossed)
	}
	var b bytes.Buffer
	for _, r := range res.Runs[1].Repetitions { // near, each run 1ms slower
		r.LatencyUS.P99 += 1000
	}
	res.Runs[1].Spread = results.Summarise(res.Runs[1].Repetitions)
	if err := Compare(&b, base, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "13.0ms  14.0ms") || !strings.Contains(b.String(), "within the spread") {
		t.Errorf("compare lacks near's new median p99 within the spread:\n%s", b.String())
	}
}

// bench.txt holds a line per repetition, for benchstat's samples.
func TestRepeatedBenchText(t *testing.T) {
	var b bytes.Buffer
	if err := BenchText(&b, repeatedCrowd()); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), "BenchmarkStampede/flash-crowd/racy\t"); n != 5 {
		t.Errorf("%d lines of racy, want 5:\n%s", n, b.String())
	}
	for _, unit := range []string{" sales/s\t", " seats/s\t", " undersold\t"} {
		if !strings.Contains(b.String(), unit) {
			t.Errorf("bench.txt lacks %q", unit)
		}
	}
}

// A results.json written before repetitions, goodput, undersold and
// causes existed renders whole, its missing figures shown as such.
func TestRendersResultsBeforeRepeat(t *testing.T) {
	res, err := results.Read(filepath.Join("testdata", "results-before-repeat.json"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WriteAll(dir, res); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"index.html", "summary.md", "bench.txt", "latency.png", "memory.hgrm"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	var b bytes.Buffer
	if err := Summary(&b, res); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(strings.Fields(b.String()), " "); !strings.Contains(got, "memory open 301 - - ") || !strings.Contains(got, "461/1000000000 0 - 0") {
		t.Errorf("summary of an old file: sales/s, seats/s and undersold should read '-':\n%s", b.String())
	}
}
