package reports

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stampede-bench/stampede/bench/results"
	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
)

// crowd builds the results of a flash crowd with a reference, a fast
// design that is correct but not durable, a durable one that oversold,
// two correct durable ones and one that fell behind, one interrupted
// design and one never started.
func crowd() *results.Results {
	sc := &scenario.Scenario{Name: "flash-crowd", Stock: scenario.Stock{Products: 19, Capacity: 100}}
	res := results.New(sc, time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	res.Targets = []string{"memory", "jetstream", "ledger", "sqlcounter", "sqlcounter-forupdate", "ledger-serializable", "jetstream-kv"}
	mk := func(name string, p99 int64, durable, ref bool) *results.TargetRun {
		h := hdrhistogram.New(1, 100_000_000, 3)
		for i := int64(1); i <= 1000; i++ {
			h.RecordValue(p99 * i / 990)
		}
		b, _ := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
		return &results.TargetRun{Target: name, Loop: "open", DurationS: 8, ThroughputPerS: 3000,
			StartedAt: res.StartedAt.Add(time.Duration(len(name))*time.Second + 123*time.Millisecond), // not a whole second: the .hlog keeps milliseconds
			Info:      targets.Info{Durable: durable, Reference: ref, Durability: "d"},
			Orders:    results.Orders{Buyers: 30000, Submitted: 30000, Attempts: 31000, Confirmed: 800, SoldOut: 30200},
			LatencyUS: results.Latency{Count: 1000, Mean: float64(p99) / 2, P50: p99 / 2, P99: p99, Max: p99 * 2},
			Generator: results.Generator{LagUS: results.Latency{Count: 1000, P99: 40}},
			Checks:    results.Checks{Capacity: 1900, Sold: 1900}, Histograms: results.Histograms{Response: base64.StdEncoding.EncodeToString(b)},
		}
	}
	mem := mk("memory", 120, false, true)
	js := mk("jetstream", 4000, false, false)
	ledger := mk("ledger", 4500, true, false)
	ledger.Checks.Oversold = 22
	sql := mk("sqlcounter", 5700, true, false)
	fu := mk("sqlcounter-forupdate", 600_000, true, false)
	ser := mk("ledger-serializable", 3_900_000, true, false)
	ser.Orders = results.Orders{Buyers: 30000, Submitted: 14361, NotSent: 15639, Expired: 15000, QueuedAtEnd: 700, Attempts: 15000}
	ser.Generator.LagUS.P99 = 2_430_000 // its senders were all busy: its lag is its queue
	res.Runs = []*results.TargetRun{mem, js, ledger, sql, fu, ser}
	res.Interrupted = true
	return res
}

func TestVerdictNamesTheFastestCorrectDurableDesign(t *testing.T) {
	v := Verdict(crowd())
	for _, want := range []string{
		"these designs oversold: ledger (22 seats)",
		"Fastest at p99 of the designs that were correct (nothing oversold, duplicated, lost, phantom or apologised for) and durable: sqlcounter (5.70ms), then sqlcounter-forupdate (600.0ms)",
		"jetstream was correct at p99 4.00ms, but not durable",
		"In-process references, no backend, not a choice for production: memory (p99 120µs)",
		"These fell behind the crowd, and their response times count the wait: ledger-serializable (15000 attempts timed out waiting for a free sender, 700 clicks were still queued when the run ended, 15639 of 30000 buyers never reached it)",
		"Not run (the run was interrupted before they started): jetstream-kv",
	} {
		if !strings.Contains(v, want) {
			t.Errorf("verdict lacks %q:\n%s", want, v)
		}
	}
	if strings.Contains(v, "Fastest at p99: memory") {
		t.Errorf("the verdict crowns a reference:\n%s", v)
	}
}

// A design that fell behind is named in the terminal, summary.md and
// index.html, and a design never started is listed in all of them and in
// bench.txt.
func TestFellBehindAndNotRunShowEverywhere(t *testing.T) {
	res := crowd()
	var term, md, html, bt bytes.Buffer
	if err := Summary(&term, res); err != nil {
		t.Fatal(err)
	}
	if err := Markdown(&md, res); err != nil {
		t.Fatal(err)
	}
	if err := HTML(&html, res, nil); err != nil {
		t.Fatal(err)
	}
	if err := BenchText(&bt, res); err != nil {
		t.Fatal(err)
	}
	behind := "ledger-serializable fell behind the crowd: 15000 attempts timed out waiting for a free sender, 700 clicks were still queued when the run ended, 15639 of 30000 buyers never reached it"
	for name, out := range map[string]string{"terminal": term.String(), "summary.md": md.String(), "index.html": html.String()} {
		flat := strings.Join(strings.Fields(out), " ")
		if !strings.Contains(flat, behind) {
			t.Errorf("%s does not say that ledger-serializable fell behind:\n%s", name, out)
		}
		if !strings.Contains(flat, "jetstream-kv") {
			t.Errorf("%s does not list jetstream-kv, never started", name)
		}
	}
	if !strings.Contains(bt.String(), "# BenchmarkStampede/flash-crowd/jetstream-kv not run") {
		t.Errorf("bench.txt does not list the design never started:\n%s", bt.String())
	}
	// The floor is the generator's own lag, the least of the designs', not
	// a slow design's queue.
	if flat := strings.Join(strings.Fields(html.String()), " "); !strings.Contains(flat, "At its least in this run, 40µs (memory) at p99") {
		t.Errorf("index.html does not give the generator's floor as the least send lag:\n%s", html.String())
	}
	for _, want := range []string{"buyers", "not sent", "attempts", "rejected", "sold / capacity", "contradicted", "send lag p99", "late sends"} {
		if !strings.Contains(html.String(), "<th>"+want+"</th>") {
			t.Errorf("index.html has no %q column", want)
		}
	}
}

// bench.txt's primary figure is the mean response time, which differs
// between designs that all keep up with the same offered rate.
func TestBenchTextPrimaryFigure(t *testing.T) {
	res := crowd()
	var b bytes.Buffer
	if err := BenchText(&b, res); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, l := range strings.Split(b.String(), "\n") {
		if !strings.HasPrefix(l, "BenchmarkStampede/") {
			continue
		}
		f := strings.Fields(l)
		if f[3] != "ns/op" {
			t.Fatalf("line %q: the first figure is not ns/op", l)
		}
		seen[f[2]] = true
	}
	if len(seen) != len(res.Runs) {
		t.Errorf("%d distinct ns/op values for %d designs with different latencies:\n%s", len(seen), len(res.Runs), b.String())
	}
	if !strings.Contains(b.String(), "\t60000 ns/op\t") { // memory: mean 60µs
		t.Errorf("ns/op is not the mean response time:\n%s", b.String())
	}
}

// HdrHistogram's log reader places each design's interval at its real
// start, for its real length.
func TestHlogTimes(t *testing.T) {
	res := crowd()
	for _, r := range res.Runs {
		var b bytes.Buffer
		if err := Hlog(&b, res, r); err != nil {
			t.Fatal(err)
		}
		h, err := hdrhistogram.NewHistogramLogReader(&b).NextIntervalHistogram()
		if err != nil || h == nil {
			t.Fatalf("%s: %v", r.Target, err)
		}
		if got, want := h.StartTimeMs(), r.StartedAt.UnixMilli(); got != want {
			t.Errorf("%s: interval starts at %s, want %s", r.Target, time.UnixMilli(got).UTC(), r.StartedAt)
		}
		if got := h.EndTimeMs() - h.StartTimeMs(); got != 8000 {
			t.Errorf("%s: interval of %dms, want the run's 8000ms", r.Target, got)
		}
	}
}
