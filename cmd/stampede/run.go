package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stampede-bench/stampede/bench"
	"github.com/stampede-bench/stampede/reports"
	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/embedded"
	"github.com/stampede-bench/stampede/targets/redact"
	"golang.org/x/term"
)

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

const runSynopsis = `run -targets a,b -scenario NAME|FILE [-out DIR] [flags]

Runs the scenario against each target in turn, prints a summary per target
and writes DIR/results.json (schema stampede/results/v1) and the reports.
DIR must be new, empty, or an earlier report, which is replaced whole.`

// backendError marks a backend that a run needs and cannot have: exit 1,
// before any design ran.
type backendError struct{ err error }

func (e backendError) Error() string { return e.err.Error() }
func (e backendError) Unwrap() error { return e.err }

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", runSynopsis, stdout)
	targetList := fs.String("targets", "", "comma-separated designs to run, or all (see 'stampede targets')")
	scenario := fs.String("scenario", "", "a built-in scenario (see 'stampede scenarios') or a YAML file")
	out := fs.String("out", "stampede-report", "directory for results.json and the reports: new, empty, or an earlier report (replaced whole)")
	var opts multiFlag
	fs.Var(&opts, "opt", "a design option prefix.key=value, such as memory.rtt=200us (repeatable; see 'stampede targets -v')")
	duration := durationFlag(fs, "duration", "override the length of the arrivals (spike: of the hold; closed loop: of the users' run)",
		"want a duration above 0s, such as 10s or 1m30s")
	rate := floatFlag(fs, "rate", "override the open-loop rate in orders/s (constant rate, ramp target, spike peak)",
		"want a number of orders/s above 0, such as 5000")
	users := intFlag(fs, "users", "override the number of closed-loop users", "want a whole number of 1 or more, such as 64")
	workers := intFlag(fs, "workers", "override the number of open-loop sending goroutines (most attempts in flight)",
		"want a whole number of 1 or more, such as 32")
	seed := uintFlag(fs, "seed", "override the scenario's seed", "want a whole number from 0 to 18446744073709551615")
	progress := fs.String("progress", "auto", "live progress line: auto (on a terminal, not in CI), on, off")
	clientMode := fs.String("client", "auto", "how closed-loop users run: auto (as tasks of one event loop where the design offers it, else a goroutine each), goroutines")
	var checks multiFlag
	fs.Var(&checks, "check", "a threshold to hold, such as p99<50ms or memory:oversold==0: "+reports.Grammar+" (repeatable; exit 3 when crossed)")
	baselinePath := fs.String("baseline", "", "an earlier results.json for relative thresholds (p99<+10%)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of stampede itself to this file (go tool pprof)")
	natsURL := fs.String("nats", "", "NATS server or cluster for the JetStream designs (nats://[user:password@]host:port, comma-separated; default: embedded in-process servers on 127.0.0.1)")
	pgDSN := fs.String("pg", "", "PostgreSQL server for the SQL designs (a DSN; default: an embedded throwaway server on 127.0.0.1)")
	if err := parse(fs, args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	// Everything the user gave is checked before anything starts or is
	// written: a usage error is exit 2 with nothing created.
	if *targetList == "" {
		return usagef("run: -targets: required (accepted: all, or a comma-separated list of %s)", strings.Join(targets.Names(), ", "))
	}
	names := strings.Split(*targetList, ",")
	if *targetList == "all" {
		names = targets.Names()
	}
	regs, cfgs, err := targets.Resolve(names, opts)
	if err != nil {
		return usageError{fmt.Errorf("run: %w", err)}
	}
	names = names[:0]
	for _, r := range regs {
		names = append(names, r.Name)
	}
	if *pgDSN != "" {
		if err := checkDSN(*pgDSN); err != nil {
			return err
		}
	}
	if *natsURL != "" {
		if err := checkNATSURLs(*natsURL); err != nil {
			return err
		}
	}
	if *scenario == "" {
		var names []string
		for _, s := range bench.Builtins() {
			names = append(names, s.Name)
		}
		return usagef("run: -scenario: required (accepted: %s, or a YAML file)", strings.Join(names, ", "))
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
			return usagef("run: -check %q: a relative threshold needs -baseline OLD.json", c.Text)
		}
		if c.Target != "" && !slices.Contains(names, c.Target) {
			return usagef("run: -check %q: design %q is not in -targets (accepted: %s)", c.Text, c.Target, strings.Join(names, ", "))
		}
	}
	if err := reports.CheckDir(*out); err != nil {
		return usagef("run: -out: %v", err)
	}

	// One environment serves every design of the run: an embedded server
	// starts on first use and is stopped on every way out of here.
	env := &embedded.Env{PostgresDSN: *pgDSN, NATSURL: *natsURL}
	defer env.Close()
	for i := range cfgs {
		cfgs[i].Backends = env
	}
	if err := preflight(ctx, regs, cfgs); err != nil {
		return err
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return usagef("run: -cpuprofile: cannot create %s: %v", *cpuProfile, errors.Unwrap(err))
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("run: -cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		if *cpuProfile != "" {
			os.Remove(*cpuProfile)
		}
		return usagef("run: -out: cannot create %s: %v", *out, errors.Unwrap(err))
	}

	plan := bench.NewPlan(sc)
	res := bench.NewResults(sc, time.Now())
	res.Targets = names
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
			tr = &bench.TargetRun{Target: reg.Name, Error: err.Error(), Timeline: []bench.Second{}}
			failed = append(failed, reg.Name)
		}
		res.Runs = append(res.Runs, tr)
		// A design's workers may have held a lot (a recorder each: 5,000
		// users are some 2 GB); give it back before the next design.
		debug.FreeOSMemory()
	}
	res.Interrupted = ctx.Err() != nil
	path := filepath.Join(*out, "results.json")
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := bench.WriteFileAtomic(path, append(b, '\n')); err != nil {
		return err
	}
	if err := reports.Summary(stdout, res); err != nil {
		return err
	}
	// The reports read only the results.json just written, as a later
	// 'stampede report' would.
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
		return fmt.Errorf("run: interrupted: partial results in %s", path)
	case len(failed) > 0:
		return fmt.Errorf("run: failed for %s (see the notes above)", strings.Join(failed, ", "))
	}
	return gate(stdout, written, baseline, parsedChecks)
}

// checkDSN checks that -pg parses as a PostgreSQL connection string. Its
// error shows the DSN with the password masked, and the driver's reason.
func checkDSN(dsn string) error {
	_, err := pgconn.ParseConfig(dsn)
	if err == nil {
		return nil
	}
	// The driver's message quotes the DSN (masked its own way) and then
	// says why: keep the why.
	reason := err.Error()
	if _, after, ok := strings.Cut(reason, "`: "); ok {
		reason = after
	}
	for _, s := range redact.Secrets(dsn, false) {
		if len(s) >= 4 && strings.Contains(reason, s) {
			reason = "it does not parse" // the driver's words would show the password
		}
	}
	return usagef("run: -pg %s: not a PostgreSQL connection string: %s (accepted: postgres://user:password@host:port/dbname?sslmode=disable, or key=value pairs such as 'host=127.0.0.1 port=5432 user=me password=secret dbname=shop')",
		redact.DSN(dsn), reason)
}

// checkNATSURLs checks that -nats is a comma-separated list of NATS URLs.
func checkNATSURLs(urls string) error {
	for _, u := range strings.Split(urls, ",") {
		u = strings.TrimSpace(u)
		scheme, rest, ok := strings.Cut(u, "://")
		if !ok {
			rest = u
		}
		host := rest
		if at := strings.LastIndexByte(host, '@'); at >= 0 {
			host = host[at+1:]
		}
		if i := strings.IndexAny(host, "/?#"); i >= 0 {
			host = host[:i]
		}
		_, port, hasPort := strings.Cut(host, ":")
		bad := ""
		switch {
		case ok && !slices.Contains([]string{"nats", "tls", "ws", "wss"}, scheme):
			bad = fmt.Sprintf("scheme %q is not nats, tls, ws or wss", scheme)
		case host == "" || strings.HasPrefix(host, ":"):
			bad = "no host"
		case hasPort && !isPort(port):
			bad = fmt.Sprintf("port %q is not a number from 1 to 65535", port)
		}
		if bad != "" {
			return usagef("run: -nats %s: not a NATS URL: %s (accepted: nats://[user:password@]host[:port], comma-separated)", redact.URLs(urls), bad)
		}
	}
	return nil
}

func isPort(s string) bool {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
		if n > 65535 {
			return false
		}
	}
	return s != "" && n > 0
}

// preflight asks every design of the run that can tell whether it will
// be able to run (its backend reachable, its options within what the
// backend allows), before the first one runs. A design's option at fault
// is a usage error; a backend that cannot be had is exit 1.
func preflight(ctx context.Context, regs []targets.Registration, cfgs []targets.Config) error {
	for i, reg := range regs {
		t, err := reg.New(cfgs[i])
		if err != nil {
			return backendError{fmt.Errorf("run: %s: %w", reg.Name, err)}
		}
		if p, ok := t.(targets.Preflighter); ok {
			err = p.Preflight(ctx)
		}
		t.Close()
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return fmt.Errorf("run: interrupted before the first design ran")
		case errors.Is(err, targets.ErrOption):
			return usagef("run: %s: %v", reg.Name, err)
		default:
			return backendError{fmt.Errorf("run: %s: %w", reg.Name, err)}
		}
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
