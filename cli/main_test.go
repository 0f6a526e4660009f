package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stampede-bench/stampede/bench"
	"github.com/stampede-bench/stampede/bench/scenario"
)

func stampede(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestListings(t *testing.T) {
	code, out, _ := stampede(t, "targets")
	if code != 0 {
		t.Fatalf("targets: exit %d", code)
	}
	for _, want := range []string{"memory ", "memory-racy ", "never oversells", "oversells and duplicates"} {
		if !strings.Contains(out, want) {
			t.Errorf("targets output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = stampede(t, "scenarios")
	if code != 0 {
		t.Fatalf("scenarios: exit %d", code)
	}
	for _, want := range []string{"flash-crowd ", "steady ", "hot-product "} {
		if !strings.Contains(out, want) {
			t.Errorf("scenarios output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = stampede(t, "scenarios", "-show", "flash-crowd")
	if code != 0 || !strings.Contains(out, "double_click: 0.05") {
		t.Errorf("scenarios -show: exit %d, output:\n%s", code, out)
	}
	for _, cmd := range []string{"run", "targets", "scenarios"} {
		if code, out, _ := stampede(t, cmd, "-h"); code != 0 || !strings.Contains(out, "Usage: stampede "+cmd) {
			t.Errorf("%s -h: exit %d, output %q", cmd, code, out)
		}
	}
}

const smallScenario = `
name: small
stock: {products: 3, capacity: 50}
demand:
  buyers: 400
  quantity: {min: 1, max: 2}
  popularity: zipf
  zipf_s: 1.2
arrivals: {mode: constant, process: poisson, rate: 1000, duration: 400ms, workers: 8}
client: {timeout: 1s, retries: 1, double_click: 0.1, double_click_after: 50ms}
`

// builtinNames lists the built-in scenarios as errors name them.
func builtinNames() string {
	var names []string
	for _, s := range scenario.Builtins() {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBadInput(t *testing.T) {
	small := writeFile(t, "small.yaml", smallScenario)
	otherBaseline := writeFile(t, "other.json", `{"schema": "stampede/results/v1", "runs": [{"target": "memory-racy", "latency_us": {"p99": 900}, "throughput_per_s": 100}]}`)
	for _, c := range []struct {
		name string
		args []string
		want []string // all in the one line on stderr
	}{
		{"unknown target", []string{"-targets", "memory,oracle", "-scenario", "steady"}, []string{`"oracle"`, "known: ", "memory-racy"}},
		{"no target", []string{"-scenario", "steady"}, []string{"-targets: required", "memory"}},
		{"unknown scenario", []string{"-targets", "memory", "-scenario", "stampede-of-cats"}, []string{`"stampede-of-cats"`, builtinNames()}},
		{"malformed file", []string{"-targets", "memory", "-scenario", writeFile(t, "m.yaml", "stock: [1, 2")}, []string{"m.yaml"}},
		{"out-of-range field", []string{"-targets", "memory", "-scenario", writeFile(t, "r.yaml", strings.Replace(smallScenario, "products: 3", "products: -3", 1))},
			[]string{"stock.products", "from 1"}},
		{"unknown field", []string{"-targets", "memory", "-scenario", writeFile(t, "u.yaml", strings.Replace(smallScenario, "buyers: 400", "buyerz: 400", 1))},
			[]string{`"buyerz"`, "accepted: buyers, quantity, popularity"}},
		{"negative rate", []string{"-targets", "memory", "-scenario", small, "-rate", "-5"}, []string{"-rate", "above 0"}},
		{"rate on closed loop", []string{"-targets", "memory", "-scenario", "hot-product", "-rate", "100"}, []string{"-rate", "closed loop"}},
		{"unknown -opt key", []string{"-targets", "memory", "-scenario", small, "-opt", "memory.latency=1ms"}, []string{"memory.latency", "accepted: memory.rtt"}},
		{"bad -opt value", []string{"-targets", "memory", "-scenario", small, "-opt", "memory.rtt=slow"}, []string{"memory.rtt=slow", "duration"}},
		{"unknown flag", []string{"-targets", "memory", "-scenario", small, "-turbo"}, []string{"-turbo: unknown flag", "accepted: -agents, -agents-wait, -baseline", "stampede run -h"}},
		{"bad rate value", []string{"-targets", "memory", "-scenario", small, "-rate", "fast"}, []string{`-rate "fast"`, "orders/s", "such as 5000"}},
		{"bad duration value", []string{"-targets", "memory", "-scenario", small, "-duration", "5"}, []string{`-duration "5"`, "such as 10s"}},
		{"bad fault", []string{"-targets", "memory", "-scenario", small, "-fault", "pause postgres"}, []string{"-fault", `"pause postgres"`, "KIND [DELAY[±JITTER]] BACKEND at T for D"}},
		{"fault on an unknown backend", []string{"-targets", "memory", "-scenario", small, "-fault", "pause mysql at 100ms for 100ms"}, []string{"faults[0].on", "postgres, nats"}},
		{"network fault on nats", []string{"-targets", "memory", "-scenario", small, "-fault", "blackhole nats at 100ms for 100ms"}, []string{"faults[0].kind", "on postgres only"}},
		{"overlapping faults", []string{"-targets", "memory", "-scenario", small, "-fault", "pause postgres at 100ms for 200ms", "-fault", "crash postgres at 200ms for 100ms"}, []string{"faults[1].at", "one fault at a time"}},
		{"fault outside the load", []string{"-targets", "memory", "-scenario", small, "-fault", "pause postgres at 1s for 1s"}, []string{"faults[0].at", "outside the load"}},
		{"fault on a server of the user's", []string{"-targets", "sqlcounter", "-scenario", small, "-pg", "postgres://me@127.0.0.1:1/shop", "-fault", "pause postgres at 100ms for 100ms"}, []string{"pause on postgres", "leave -pg out"}},
		{"bad metrics address", []string{"-targets", "memory", "-scenario", small, "-metrics", "9464"}, []string{"-metrics", `"9464"`, "127.0.0.1:9464"}},
		{"zero repeat", []string{"-targets", "memory", "-scenario", small, "-repeat", "0"}, []string{"-repeat 0", "from 1 to 1000"}},
		{"bad repeat value", []string{"-targets", "memory", "-scenario", small, "-repeat", "few"}, []string{`-repeat "few"`, "whole number"}},
		{"bad users value", []string{"-targets", "memory", "-scenario", "hot-product", "-users", "many"}, []string{`-users "many"`, "whole number"}},
		{"flag without value", []string{"-targets", "memory", "-scenario", small, "-rate"}, []string{"-rate: needs a value"}},
		{"malformed -nats", []string{"-targets", "memory", "-scenario", small, "-nats", "nats://127.0.0.1:port"}, []string{"-nats", "not a NATS URL", "accepted: nats://"}},
		{"-nats of another scheme", []string{"-targets", "memory", "-scenario", small, "-nats", "http://127.0.0.1:4222"}, []string{"-nats", `scheme "http"`}},
		{"malformed -pg", []string{"-targets", "memory", "-scenario", small, "-pg", "mysql://u:p@h/x"}, []string{"-pg mysql://u:xxxxx@h/x", "not a PostgreSQL connection string"}},
		{"-check of a design not run", []string{"-targets", "memory", "-scenario", small, "-check", "ledger:oversold==0"}, []string{`"ledger:oversold==0"`, "not in -targets", "accepted: memory"}},
		{"-cpuprofile into a missing directory", []string{"-targets", "memory", "-scenario", small, "-cpuprofile", "/nonexistent/stampede/cpu.out"}, []string{"-cpuprofile", "cannot create"}},
		{"bad progress", []string{"-targets", "memory", "-scenario", small, "-progress", "loud"}, []string{"-progress", "auto, on, off"}},
		{"bad client", []string{"-targets", "memory", "-scenario", small, "-client", "threads"}, []string{"-client", "auto, goroutines"}},
		{"-http of another scheme", []string{"-http", "mine=https://127.0.0.1:8443", "-scenario", small}, []string{"-http mine=https://127.0.0.1:8443", `scheme "https" is not http`}},
		{"-http without a name", []string{"-http", "http://127.0.0.1:8080", "-scenario", small}, []string{"-http", "want NAME=URL", "accepted: such as mine=http"}},
		{"-http named as a built-in design", []string{"-http", "ledger=http://127.0.0.1:8080", "-scenario", small}, []string{`"ledger" is a built-in design's name`}},
		{"-http name twice", []string{"-http", "a=http://127.0.0.1:8080", "-http", "a=http://127.0.0.1:8081", "-scenario", small}, []string{`"a" is taken twice`}},
		{"-http password masked", []string{"-http", "a=ftp://u:SuperSecret123@h", "-scenario", small}, []string{"u:xxxxx@h"}},
		{"scenario option of a bad value", []string{"-targets", "memory", "-scenario", writeFile(t, "o.yaml", smallScenario+"options: [memory.rtt=slow]\n")},
			[]string{"scenario small: options: memory.rtt=slow", "duration"}},
		{"scenario option unknown", []string{"-targets", "memory", "-scenario", writeFile(t, "k.yaml", smallScenario+"options: [memory.speed=1]\n")},
			[]string{`memory takes no option "speed"`}},
		{"scenario option malformed", []string{"-targets", "memory", "-scenario", writeFile(t, "m2.yaml", smallScenario+"options: [fast]\n")},
			[]string{"options", `"fast" is not prefix.key=value`}},
		{"-agents without -nats", []string{"-targets", "sqlcounter", "-scenario", small, "-agents", "3"}, []string{"-agents", "needs -nats URL"}},
		{"-agents of memory", []string{"-targets", "sqlcounter,memory", "-scenario", small, "-agents", "2", "-nats", "nats://127.0.0.1:1"},
			[]string{"-agents: memory cannot be spread over agents", "accepted: ", "sqlcounter", "jetstream"}},
		{"-agents with a fault", []string{"-targets", "sqlcounter", "-scenario", small, "-agents", "2", "-nats", "nats://127.0.0.1:1", "-fault", "pause postgres at 100ms for 100ms"},
			[]string{"-agents: faults cannot be put in"}},
		{"-agents above the users", []string{"-targets", "sqlcounter", "-scenario", "hot-product", "-users", "2", "-agents", "3", "-nats", "nats://127.0.0.1:1"},
			[]string{"-agents 3", "2 closed-loop users"}},
		{"zero -agents", []string{"-targets", "sqlcounter", "-scenario", small, "-agents", "0", "-nats", "nats://127.0.0.1:1"}, []string{"-agents 0", "from 1 to 1000"}},
		{"relative -check without -baseline", []string{"-targets", "memory", "-scenario", small, "-check", "p99<+10%"}, []string{`"p99<+10%"`, "needs -baseline"}},
		{"relative -check of a design not in the baseline", []string{"-targets", "memory,memory-racy", "-scenario", small, "-check", "p99<+10%", "-baseline", otherBaseline},
			[]string{`"p99<+10%"`, "design memory has no figures in the baseline", "baseline: memory-racy"}},
		{"relative -check naming a design not in the baseline", []string{"-targets", "memory", "-scenario", small, "-check", "memory:throughput>-5%", "-baseline", otherBaseline},
			[]string{`"memory:throughput>-5%"`, "design memory has no figures"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			code, stdout, stderr := stampede(t, append([]string{"run", "-out", out}, c.args...)...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing: a usage error is one line on stderr", stdout)
			}
			if n := strings.Count(stderr, "\n"); n != 1 {
				t.Errorf("stderr has %d lines, want 1: %q", n, stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q lacks %q", stderr, w)
				}
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the output directory was created (%v): nothing should be written", err)
			}
		})
	}
	// A service that is not there: exit 1 before anything is written.
	out := filepath.Join(t.TempDir(), "out")
	if code, stdout, stderr := stampede(t, "run", "-http", "mine=http://127.0.0.1:1", "-scenario", small, "-out", out); code != 1 ||
		strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "mine: http: http://127.0.0.1:1/stampede/v1/info") || stdout != "" {
		t.Errorf("unreachable service: exit %d, stdout %q, stderr %q; want 1 and one line naming the service", code, stdout, stderr)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unreachable service: the output directory was created")
	}
	if code, _, stderr := stampede(t, "frobnicate"); code != 2 || !strings.Contains(stderr, "accepted: run, agent, report, compare, probe, targets, scenarios") {
		t.Errorf("unknown command: exit %d, stderr %q", code, stderr)
	}
}

// The v1 fields DESIGN.md makes public, as paths into results.json.
var v1Fields = []string{
	"schema", "started_at", "interrupted", "scenario.name", "environment.go", "environment.os", "environment.cpus", "environment.stampede",
	"runs.0.target", "runs.0.info.design", "runs.0.info.consistency", "runs.0.info.durability", "runs.0.duration_s", "runs.0.throughput_per_s",
	"runs.0.orders.submitted", "runs.0.orders.attempts", "runs.0.orders.confirmed", "runs.0.orders.sold_out", "runs.0.orders.rejected",
	"runs.0.orders.unknown", "runs.0.orders.errors", "runs.0.orders.conflicts",
	"runs.0.latency_us.mean", "runs.0.latency_us.p50", "runs.0.latency_us.p90", "runs.0.latency_us.p99", "runs.0.latency_us.p999", "runs.0.latency_us.max",
	"runs.0.service_us.mean", "runs.0.service_us.p50", "runs.0.service_us.p99", "runs.0.service_us.max",
	"runs.0.checks.capacity", "runs.0.checks.sold", "runs.0.checks.oversold", "runs.0.checks.duplicated_orders", "runs.0.checks.duplicate_rate",
	"runs.0.checks.lost", "runs.0.checks.phantom", "runs.0.checks.apologies",
	"runs.0.histograms.response", "runs.0.histograms.service",
	"runs.0.timeline.0.t_s", "runs.0.timeline.0.attempts", "runs.0.timeline.0.confirmed", "runs.0.timeline.0.sold_out",
	"runs.0.timeline.0.unknown", "runs.0.timeline.0.errors", "runs.0.timeline.0.p50_us", "runs.0.timeline.0.p99_us",
}

func lookup(v any, path string) (any, bool) {
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[k]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func lookup2(v any, a, b string) (any, any) {
	x, _ := lookup(v, a)
	y, _ := lookup(v, b)
	return x, y
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRunWritesResults(t *testing.T) {
	out := filepath.Join(t.TempDir(), "report")
	code, stdout, stderr := stampede(t, "run", "-targets", "memory,memory-racy", "-scenario", writeFile(t, "s.yaml", smallScenario), "-out", out)
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	for _, want := range []string{"throughput/s", "p99.9", "oversold", "dup rate", "lost", "memory-racy", "results: "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	if stderr != "" {
		t.Errorf("stderr not empty without a terminal: %q", stderr)
	}
	m := readJSON(t, filepath.Join(out, "results.json"))
	for _, f := range v1Fields {
		if _, ok := lookup(m, f); !ok {
			t.Errorf("results.json lacks %s", f)
		}
	}
	if s, _ := lookup(m, "schema"); s != "stampede/results/v1" {
		t.Errorf("schema %v", s)
	}
	if n, _ := lookup(m, "runs.0.orders.submitted"); n != 400.0 {
		t.Errorf("memory submitted %v orders, want 400", n)
	}
	if n, _ := lookup(m, "runs.0.checks.oversold"); n != 0.0 {
		t.Errorf("memory oversold %v", n)
	}
	if i, _ := lookup(m, "interrupted"); i != false {
		t.Errorf("interrupted %v", i)
	}
	// HdrHistogram's own log reader places the .hlog's interval inside the
	// run's wall-clock window.
	started, _ := time.Parse(time.RFC3339Nano, m["started_at"].(string))
	f, err := os.Open(filepath.Join(out, "memory.hlog"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := hdrhistogram.NewHistogramLogReader(f).NextIntervalHistogram()
	if err != nil || h == nil {
		t.Fatalf("memory.hlog: %v", err)
	}
	from, to := time.UnixMilli(h.StartTimeMs()), time.UnixMilli(h.EndTimeMs())
	if from.Before(started.Truncate(time.Millisecond)) || to.After(time.Now()) || !to.After(from) {
		t.Errorf("memory.hlog's interval %s to %s is not inside the run (started %s, now %s)", from, to, started, time.Now())
	}
	if n, sched := lookup2(m, "runs.0.generator.lag_us.count", "runs.0.orders.scheduled"); n != sched || n == nil {
		t.Errorf("generator.lag_us.count %v, want a send lag for each of the %v clicks scheduled", n, sched)
	}
	entries, _ := os.ReadDir(out)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("a temporary file was left: %s", e.Name())
		}
	}
	for _, want := range []string{"results.json", "index.html", "summary.md", "bench.txt", "latency.png", "latency.svg",
		"timeline.png", "timeline.svg", "correctness.png", "correctness.svg", "outcomes.png", "outcomes.svg",
		"memory.hgrm", "memory.hlog", "memory-racy.hgrm", "memory-racy.hlog"} {
		if !slices.Contains(names, want) {
			t.Errorf("the run wrote no %s (wrote %v)", want, names)
		}
	}
}

// Thresholds on run and compare: crossed is exit 3 and names the
// threshold; held is exit 0; malformed is exit 2 with the grammar, before
// anything runs.
func TestChecksAndCompare(t *testing.T) {
	small := writeFile(t, "s.yaml", smallScenario)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	// memory never oversells, so oversold>0 must cross, and only that one.
	code, stdout, stderr := stampede(t, "run", "-targets", "memory,memory-racy", "-scenario", small, "-out", a,
		"-check", "memory:oversold>0", "-check", "memory:lost==0")
	if code != 3 || !strings.Contains(stdout, "memory: oversold is 0, crossing memory:oversold>0") || strings.Contains(stdout, "lost is") {
		t.Errorf("exit %d, want 3 naming only the crossed threshold:\n%s\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(a, "index.html")); err != nil {
		t.Error("a run whose threshold crossed wrote no report")
	}
	code, stdout, _ = stampede(t, "run", "-targets", "memory", "-scenario", small, "-out", b, "-check", "memory:oversold==0", "-check", "lost==0")
	if code != 0 || !strings.Contains(stdout, "checks: all 2 held") {
		t.Errorf("held thresholds: exit %d\n%s", code, stdout)
	}
	for _, bad := range [][]string{
		{"run", "-targets", "memory", "-scenario", small, "-out", filepath.Join(dir, "c"), "-check", "p99<<3"},
		{"run", "-targets", "memory", "-scenario", small, "-out", filepath.Join(dir, "c"), "-check", "p99<+10%"},
		{"compare", filepath.Join(a, "results.json"), filepath.Join(b, "results.json"), "-check", "p99<<3"},
		{"compare", filepath.Join(a, "results.json")},
		{"compare", filepath.Join(a, "results.json"), filepath.Join(dir, "nope.json")},
	} {
		code, _, stderr := stampede(t, bad...)
		if code != 2 || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line", bad, code, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "c")); err == nil {
		t.Error("a run with a malformed -check wrote something")
	}
	// compare: the table, and a relative threshold crossed is exit 3.
	code, stdout, _ = stampede(t, "compare", filepath.Join(a, "results.json"), filepath.Join(b, "results.json"))
	if code != 0 || !strings.Contains(stdout, "answers/s") || !strings.Contains(stdout, "memory") {
		t.Errorf("compare: exit %d\n%s", code, stdout)
	}
	base := readJSON(t, filepath.Join(a, "results.json"))
	runs := base["runs"].([]any)
	runs[0].(map[string]any)["latency_us"].(map[string]any)["p99"] = 1.0 // a baseline 1µs p99 that the new run must cross
	slow, _ := json.Marshal(base)
	oldPath := filepath.Join(dir, "old.json")
	os.WriteFile(oldPath, slow, 0o644)
	code, stdout, _ = stampede(t, "compare", oldPath, filepath.Join(b, "results.json"), "-check", "p99<+10%")
	if code != 3 || !strings.Contains(stdout, "memory: p99 is") {
		t.Errorf("relative threshold: exit %d\n%s", code, stdout)
	}
	// report renders again from results.json alone.
	again := filepath.Join(dir, "again")
	code, _, stderr = stampede(t, "report", filepath.Join(b, "results.json"), "-out", again)
	if code != 0 {
		t.Fatalf("report: exit %d %s", code, stderr)
	}
	for _, f := range []string{"index.html", "summary.md", "latency.png", "memory.hlog", "bench.txt"} {
		if _, err := os.Stat(filepath.Join(again, f)); err != nil {
			t.Errorf("report wrote no %s", f)
		}
	}
}

// A real Ctrl-C: the built command stops within moments and leaves
// partial results marked interrupted.
func TestSIGINT(t *testing.T) {
	out := filepath.Join(t.TempDir(), "report")
	cmd := exec.Command(binary(t), "run", "-progress", "on", "-targets", "memory,memory-racy", "-scenario", "steady", "-out", out)
	stdout := interruptInTheCrowd(t, cmd, 500)
	m := readJSON(t, filepath.Join(out, "results.json"))
	if i, _ := lookup(m, "interrupted"); i != true {
		t.Errorf("interrupted = %v, want true", i)
	}
	runs, _ := lookup(m, "runs")
	if r, _ := runs.([]any); len(r) != 1 {
		t.Errorf("%d runs in results, want the one interrupted (memory)", len(r))
	}
	if n, _ := lookup(m, "runs.0.orders.attempts"); n == nil || n.(float64) < 500 {
		t.Errorf("attempts %v, want the orders made before the signal", n)
	}
	if !strings.Contains(stdout, "INTERRUPTED") {
		t.Errorf("summary does not say interrupted:\n%s", stdout)
	}
	// The design never started is named, in results.json and the summary.
	if tg, _ := lookup(m, "targets.1"); tg != "memory-racy" || !strings.Contains(stdout, "memory-racy  not run") {
		t.Errorf("targets %v; summary does not list memory-racy as not run:\n%s", m["targets"], stdout)
	}
}

// -progress auto draws on a terminal, never in CI: the terminal check is
// injected, so both rules are seen to decide.
func TestWantProgress(t *testing.T) {
	var buf bytes.Buffer
	terminal := false
	defer func(old func(io.Writer) bool) { isTerminal = old }(isTerminal)
	isTerminal = func(io.Writer) bool { return terminal }
	t.Setenv("CI", "")
	if on, _ := wantProgress("auto", &buf); on {
		t.Error("auto draws progress on a writer that is not a terminal")
	}
	terminal = true
	if on, _ := wantProgress("auto", &buf); !on {
		t.Error("auto does not draw progress on a terminal")
	}
	t.Setenv("CI", "true")
	if on, _ := wantProgress("auto", &buf); on {
		t.Error("auto draws progress on a terminal with CI=true")
	}
	if on, _ := wantProgress("on", &buf); !on {
		t.Error("on does not draw progress")
	}
	terminal = false
	if on, _ := wantProgress("on", &buf); !on {
		t.Error("on does not draw progress off a terminal")
	}
	if on, _ := wantProgress("off", &buf); on {
		t.Error("off draws progress")
	}
	if _, err := wantProgress("sometimes", &buf); err == nil {
		t.Error("a bad mode is accepted")
	}
	progressLine(&buf, "[1/2] ", bench.Progress{Target: "memory", Elapsed: 1500 * time.Millisecond, Attempts: 42, Sold: 7, Capacity: 1900})
	if got := buf.String(); !strings.Contains(got, "[1/2] memory") || !strings.Contains(got, "1.5s") || !strings.Contains(got, "sold 7/1900") {
		t.Errorf("progress line %q", got)
	}
}
