package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stampede-bench/stampede/bench"
	"github.com/stampede-bench/stampede/reports"
	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/embedded"
	"golang.org/x/term"
)

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

const runSynopsis = `run -targets a,b -scenario NAME|FILE [-out DIR] [flags]

Runs the scenario against each target in turn, prints a summary per target
and writes DIR/results.json (schema stampede/results/v1).`

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", runSynopsis, stdout)
	targetList := fs.String("targets", "", "comma-separated designs to run, or all (see 'stampede targets')")
	scenario := fs.String("scenario", "", "a built-in scenario (see 'stampede scenarios') or a YAML file")
	out := fs.String("out", "stampede-report", "directory for results.json")
	var opts multiFlag
	fs.Var(&opts, "opt", "a design option prefix.key=value, such as memory.rtt=200us (repeatable; see 'stampede targets -v')")
	duration := fs.Duration("duration", 0, "override the length of the arrivals (spike: of the hold; closed loop: of the users' run)")
	rate := fs.Float64("rate", 0, "override the open-loop rate in orders/s (constant rate, ramp target, spike peak)")
	users := fs.Int("users", 0, "override the number of closed-loop users")
	workers := fs.Int("workers", 0, "override the number of open-loop sending goroutines (most attempts in flight)")
	seed := fs.Uint64("seed", 0, "override the scenario's seed")
	progress := fs.String("progress", "auto", "live progress line: auto (on a terminal, not in CI), on, off")
	clientMode := fs.String("client", "auto", "how closed-loop users run: auto (as tasks of one event loop where the design offers it, else a goroutine each), goroutines")
	var checks multiFlag
	fs.Var(&checks, "check", "a threshold to hold, such as p99<50ms or memory:oversold==0: "+reports.Grammar+" (repeatable; exit 3 when crossed)")
	baselinePath := fs.String("baseline", "", "an earlier results.json for relative thresholds (p99<+10%)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of stampede itself to this file (go tool pprof)")
	natsURL := fs.String("nats", "", "NATS server or cluster for the JetStream designs (URLs, comma-separated; default: embedded in-process servers on 127.0.0.1)")
	pgDSN := fs.String("pg", "", "PostgreSQL server for the SQL designs (a DSN; default: an embedded throwaway server on 127.0.0.1)")
	if err := parse(fs, args); err != nil {
		return err
	}
	// From here on nothing prints a password of -pg: not the summary, not
	// an error, not results.json.
	scrub := newScrubber(append(embedded.Secrets(*pgDSN), natsSecrets(*natsURL)...))
	stdout, stderr = scrub.writer(stdout), scrub.writer(stderr)
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	if *targetList == "" {
		return usagef("run: -targets is required (known: %s)", strings.Join(targets.Names(), ", "))
	}
	names := strings.Split(*targetList, ",")
	if *targetList == "all" {
		names = targets.Names()
	}
	regs, cfgs, err := targets.Resolve(names, opts)
	if err != nil {
		return usageError{fmt.Errorf("run: %w", err)}
	}
	if *pgDSN != "" {
		if _, err := pgconn.ParseConfig(*pgDSN); err != nil {
			return usagef("run: -pg: not a PostgreSQL DSN (such as postgres://user:password@127.0.0.1:5432/db): %s", scrub.String(err.Error()))
		}
	}
	if *scenario == "" {
		var names []string
		for _, s := range bench.Builtins() {
			names = append(names, s.Name)
		}
		return usagef("run: -scenario is required (built-in: %s, or a YAML file)", strings.Join(names, ", "))
	}
	sc, err := bench.LoadScenario(*scenario)
	if err != nil {
		return usageError{fmt.Errorf("run: %w", err)}
	}
	if err := sc.Apply(bench.Overrides{Duration: *duration, Rate: *rate, Users: *users, Workers: *workers, Seed: *seed}, set); err != nil {
		return usageError{fmt.Errorf("run: %w", err)}
	}
	showProgress, err := wantProgress(*progress, stderr)
	if err != nil {
		return err
	}
	if *clientMode != "auto" && *clientMode != "goroutines" {
		return usagef("run: -client %q: accepted: auto, goroutines", *clientMode)
	}
	parsedChecks, err := parseChecks(checks)
	if err != nil {
		return err
	}
	var baseline *bench.Results
	if *baselinePath != "" {
		if baseline, err = readResults("run: -baseline", *baselinePath); err != nil {
			return err
		}
	}
	for _, c := range parsedChecks {
		if c.Relative && baseline == nil {
			return usagef("run: -check %q is relative: it needs -baseline OLD.json", c.Text)
		}
	}
	if err := mkdir(*out); err != nil {
		return err
	}

	// One environment serves every design of the run: an embedded server
	// starts on first use and is stopped on every way out of here.
	env := &embedded.Env{PostgresDSN: *pgDSN, NATSURL: *natsURL}
	defer env.Close()
	for i := range cfgs {
		cfgs[i].Backends = env
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("run: -cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("run: -cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}

	plan := bench.NewPlan(sc)
	res := bench.NewResults(sc, time.Now())
	ropt := bench.Options{Goroutines: *clientMode == "goroutines"}
	var failed []string
	for i, reg := range regs {
		if ctx.Err() != nil {
			break
		}
		if showProgress {
			ropt.Progress = progressLine(stderr, fmt.Sprintf("[%d/%d] ", i+1, len(regs)))
		}
		tr, err := runTarget(ctx, reg, cfgs[i], plan, ropt)
		if showProgress {
			fmt.Fprint(stderr, "\r\033[K")
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			tr = &bench.TargetRun{Target: reg.Name, Error: scrub.String(err.Error()), Timeline: []bench.Second{}}
			failed = append(failed, reg.Name)
		}
		res.Runs = append(res.Runs, tr)
	}
	res.Interrupted = ctx.Err() != nil
	path := filepath.Join(*out, "results.json")
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := bench.WriteFileAtomic(path, scrub.bytes(append(b, '\n'))); err != nil {
		return err
	}
	if err := reports.Summary(stdout, res); err != nil {
		return err
	}
	// The reports read only the results.json just written (scrubbed of
	// secrets), as a later 'stampede report' would.
	written, err := bench.ReadResults(path)
	if err != nil {
		return err
	}
	if err := reports.WriteAll(*out, written); err != nil {
		return fmt.Errorf("run: reports: %w", err)
	}
	fmt.Fprintf(stdout, "results: %s\nreport:  %s\n", path, filepath.Join(*out, "index.html"))
	switch {
	case res.Interrupted:
		return fmt.Errorf("run interrupted: partial results in %s", path)
	case len(failed) > 0:
		return fmt.Errorf("run failed for %s", strings.Join(failed, ", "))
	}
	return gate(stdout, written, baseline, parsedChecks)
}

func mkdir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("-out: %w", err)
	}
	return nil
}

// runTarget builds one design, runs it and closes it.
func runTarget(ctx context.Context, reg targets.Registration, cfg targets.Config, plan *bench.Plan, opt bench.Options) (*bench.TargetRun, error) {
	t, err := reg.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", reg.Name, err)
	}
	tr, err := bench.Run(ctx, reg.Name, t, plan, opt)
	if cerr := t.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("%s: close: %w", reg.Name, cerr)
	}
	return tr, err
}

// wantProgress decides whether to draw the live progress line: on a
// terminal, and never when CI=true, unless forced.
func wantProgress(mode string, stderr io.Writer) (bool, error) {
	switch mode {
	case "on":
		return true, nil
	case "off":
		return false, nil
	case "auto":
		if os.Getenv("CI") == "true" {
			return false, nil
		}
		f, ok := stderr.(*os.File)
		return ok && term.IsTerminal(int(f.Fd())), nil
	}
	return false, usagef("run: -progress %q: accepted: auto, on, off", mode)
}

// progressLine returns a Progress callback that redraws one line.
func progressLine(w io.Writer, prefix string) func(bench.Progress) {
	return func(p bench.Progress) {
		fmt.Fprintf(w, "\r\033[K%s%s  %5.1fs  %d attempts  %.0f/s  p99 %s  sold %d/%d",
			prefix, p.Target, p.Elapsed.Seconds(), p.Attempts, p.AttemptsPS, p.P99.Round(time.Microsecond), p.Sold, p.Capacity)
	}
}

// natsSecrets returns the passwords and tokens in NATS URLs.
func natsSecrets(urls string) []string {
	var out []string
	for _, u := range strings.Split(urls, ",") {
		out = append(out, embedded.Secrets(strings.TrimSpace(u))...)
		if pu, err := url.Parse(strings.TrimSpace(u)); err == nil && pu.User != nil {
			if _, has := pu.User.Password(); !has && pu.User.Username() != "" {
				out = append(out, pu.User.Username()) // a token
			}
		}
	}
	return out
}
