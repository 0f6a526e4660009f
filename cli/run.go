package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	httpt "github.com/stampede-bench/stampede/targets/http"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stampede-bench/stampede/bench"
	"github.com/stampede-bench/stampede/bench/results"
	"github.com/stampede-bench/stampede/bench/scenario"
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

const runSynopsis = `run -targets a,b | -http NAME=URL ... -scenario NAME|FILE [-out DIR] [flags]

Runs the scenario against each target in turn (the designs of -targets,
then the services of -http, which speak stampede/http/v1: see
docs/protocol.md), prints a summary per target
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
	scenarioName := fs.String("scenario", "", "a built-in scenario (see 'stampede scenarios') or a YAML file")
	out := fs.String("out", "stampede-report", "directory for results.json and the reports: new, empty, or an earlier report (replaced whole)")
	var services multiFlag
	fs.Var(&services, "http", "a service of your own that speaks stampede/http/v1, as NAME=URL, such as mine=http://127.0.0.1:8080 (repeatable: several services face the same crowd)")
	var faultFlags multiFlag
	fs.Var(&faultFlags, "fault", "a fault to put into a backend during the load, such as 'pause postgres at 4s for 1s', 'crash nats at 3s for 2s' or 'latency 50ms postgres at 2s for 3s' (repeatable; replaces the scenario's faults): "+scenario.FaultGrammar)
	var opts multiFlag
	fs.Var(&opts, "opt", "a design option prefix.key=value, such as memory.rtt=200us (repeatable; see 'stampede targets -v')")
	duration := durationFlag(fs, "duration", "override the length of the arrivals (spike: of the hold; closed loop: of the users' run)",
		"want a duration above 0s, such as 10s or 1m30s")
	rate := floatFlag(fs, "rate", "override the open-loop rate in orders/s (constant rate, ramp target, spike peak)",
		"want a number of orders/s above 0, such as 5000")
	users := intFlag(fs, "users", "override the number of closed-loop users", "want a whole number of 1 or more, such as 64")
	workers := intFlag(fs, "workers", "override the number of open-loop sending goroutines (most attempts in flight)",
		"want a whole number of 1 or more, such as 32")
	room := floatFlag(fs, "waiting-room", "put a waiting room in front of every design: buyers queue and are let in, in arrival order, at most this many a second (open loop)",
		"want a number of admissions/s, such as 500")
	repeat := intFlag(fs, "repeat", "run every design this many times, each afresh with the next seed (seed, seed+1, ...) and the designs taking turns in a rotating order; the reports show medians with their range and how many runs showed each defect",
		"want a whole number of 1 or more, such as 5")
	seed := uintFlag(fs, "seed", "override the scenario's seed", "want a whole number from 0 to 18446744073709551615")
	progress := fs.String("progress", "auto", "live progress line: auto (on a terminal, not in CI), on, off, or json (a line of JSON a second on stderr, for CI logs)")
	metricsAddr := fs.String("metrics", "", "serve Prometheus metrics of the run at http://HOST:PORT/metrics while it runs, such as 127.0.0.1:9464 (:PORT listens on 127.0.0.1)")
	clientMode := fs.String("client", "auto", "how closed-loop users run: auto (as tasks of one event loop where the design offers it, else a goroutine each), goroutines")
	var checks multiFlag
	fs.Var(&checks, "check", "a threshold to hold, such as p99<50ms or memory:oversold==0: "+reports.Grammar+" (repeatable; exit 3 when crossed)")
	baselinePath := fs.String("baseline", "", "an earlier results.json for relative thresholds (p99<+10%)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of stampede itself to this file (go tool pprof)")
	natsURL := fs.String("nats", "", "NATS server or cluster for the JetStream designs (nats://[user:password@]host:port, comma-separated; default: embedded in-process servers on 127.0.0.1)")
	nAgents := intFlag(fs, "agents", "send the buyers from this many agents ('stampede agent -nats URL', on this machine or others) that meet on -nats; each sends every K-th buyer of the same plan, and this process sets each design up, merges the agents' figures and audits once (docs/agents.md)",
		"want a whole number of 1 or more, such as 3")
	agentsWait := fs.Duration("agents-wait", 30*time.Second, "with -agents: how long to wait for enough idle agents")
	pgDSN := fs.String("pg", "", "PostgreSQL server for the SQL designs (a DSN; default: an embedded throwaway server on 127.0.0.1)")
	if err := parse(fs, args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	// Everything the user gave is checked before anything starts or is
	// written: a usage error is exit 2 with nothing created.
	if *targetList == "" && len(services) == 0 {
		return usagef("run: -targets: required unless -http names a service (accepted: all, or a comma-separated list of %s)", strings.Join(targets.Names(), ", "))
	}
	var names []string
	switch *targetList {
	case "":
	case "all":
		names = targets.Shipped()
	default:
		names = strings.Split(*targetList, ",")
	}
	var regs []targets.Registration
	var cfgs []targets.Config
	var err error
	if len(names) > 0 {
		if regs, cfgs, err = targets.Resolve(names, opts); err != nil {
			return usageError{fmt.Errorf("run: %w", err)}
		}
	} else if len(opts) > 0 {
		return usagef("run: -opt %s: no design of -targets takes options (the services of -http take none)", opts[0])
	}
	names = names[:0]
	for _, r := range regs {
		names = append(names, r.Name)
	}
	for _, s := range services {
		reg, err := httpService(s, names)
		if err != nil {
			return err
		}
		regs, cfgs, names = append(regs, reg), append(cfgs, targets.Config{Options: targets.Options{}}), append(names, reg.Name)
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
	if *scenarioName == "" {
		var names []string
		for _, s := range scenario.Builtins() {
			names = append(names, s.Name)
		}
		return usagef("run: -scenario: required (accepted: %s, or a YAML file)", strings.Join(names, ", "))
	}
	sc, err := scenario.Load(*scenarioName)
	if err != nil {
		return usageError{fmt.Errorf("run: %w", err)}
	}
	var faults []scenario.Fault
	for _, s := range faultFlags {
		f, err := scenario.ParseFault(s)
		if err != nil {
			return usagef("run: -fault %v", err)
		}
		faults = append(faults, f)
	}
	if err := sc.Apply(scenario.Overrides{Duration: *duration, Rate: *rate, Users: *users, Workers: *workers, Seed: *seed, WaitingRoom: *room, Faults: faults}, set); err != nil {
		return usageError{fmt.Errorf("run: %w", err)}
	}
	if err := scenarioOptions(sc, regs, cfgs, opts); err != nil {
		return err
	}
	jsonLines := *progress == "json"
	showProgress := false
	if !jsonLines {
		if showProgress, err = wantProgress(*progress, stderr); err != nil {
			return err
		}
	}
	var metricsAt string
	if *metricsAddr != "" {
		if metricsAt, err = checkMetricsAddr(*metricsAddr); err != nil {
			return err
		}
	}
	if set["repeat"] && (*repeat < 1 || *repeat > 1000) {
		return usagef("run: -repeat %d: want a whole number from 1 to 1000, such as 5", *repeat)
	}
	if *clientMode != "auto" && *clientMode != "goroutines" {
		return usagef("run: -client %q: accepted: auto, goroutines", *clientMode)
	}
	parsedChecks, err := parseChecks(checks)
	if err != nil {
		return err
	}
	var baseline *results.Results
	if *baselinePath != "" {
		if baseline, err = readResults("run: -baseline", *baselinePath); err != nil {
			return err
		}
	}
	for _, c := range parsedChecks {
		if c.Target != "" && !slices.Contains(names, c.Target) {
			return usagef("run: -check %q: design %q is not in -targets (accepted: %s)", c.Text, c.Target, strings.Join(names, ", "))
		}
	}
	if err := reports.CheckBaseline(parsedChecks, baseline, names); err != nil {
		return usagef("run: -check: %v", err)
	}
	if set["agents"] {
		if err := checkSpread(*nAgents, *natsURL, *agentsWait, sc, regs, cfgs); err != nil {
			return err
		}
	}
	if err := reports.CheckDir(*out); err != nil {
		return usagef("run: -out: %v", err)
	}

	// One environment serves every design of the run: an embedded server
	// starts on first use and is stopped on every way out of here.
	env := &embedded.Env{PostgresDSN: *pgDSN, NATSURL: *natsURL}
	defer env.Close()
	stopProfile := func() {}
	suite := bench.Suite{Scenario: sc, Designs: regs, Configs: cfgs, Backends: env, Out: *out,
		Options: bench.Options{Goroutines: *clientMode == "goroutines"}, Repeat: *repeat}
	// A spread run: the designs learn their servers through seen, which
	// the agents' jobs read; the agents are found once the designs said
	// they can run.
	var spread *lazySpread
	seen := &seenBackends{Backends: env}
	if set["agents"] {
		spread = &lazySpread{}
		suite.Backends, suite.Options.Spread = seen, spread
		defer func() {
			if spread.close != nil {
				spread.close() // the agents released
			}
		}()
	}
	var metrics *liveMetrics
	defer func() {
		if metrics != nil {
			metrics.Close() // the endpoint lives as long as the run
		}
	}()
	jsonOut := &jsonProgress{w: stderr, last: map[string]time.Duration{}}
	if showProgress || jsonLines || metricsAt != "" {
		suite.Progress = func(i int, p bench.Progress) {
			if metrics != nil {
				metrics.update(p)
			}
			switch {
			case jsonLines:
				jsonOut.write(i, len(regs), p)
			case showProgress:
				prefix := fmt.Sprintf("[%d/%d] ", i+1, len(regs))
				if p.Repeat > 1 {
					prefix = fmt.Sprintf("[%d/%d, run %d/%d] ", i+1, len(regs), p.Repetition, p.Repeat)
				}
				progressLine(stderr, prefix, p)
			}
		}
	}
	if showProgress {
		suite.Done = func(int, *results.TargetRun) { fmt.Fprint(stderr, "\r\033[K") }
	}
	// The checks done, -out and -cpuprofile are created only once the
	// designs said they can run.
	suite.Ready = func() error {
		if spread != nil {
			svc := map[string]string{}
			for _, s := range services {
				name, u, _ := strings.Cut(s, "=")
				svc[strings.TrimSpace(name)] = u
			}
			c, closeC, err := spreadRun(ctx, *natsURL, *nAgents, *agentsWait, regs, cfgs, svc, seen, stderr)
			if err != nil {
				return err
			}
			spread.c, spread.close = c, closeC
		}
		if *cpuProfile != "" {
			f, err := os.Create(*cpuProfile)
			if err != nil {
				return usagef("run: -cpuprofile: cannot create %s: %v", *cpuProfile, errors.Unwrap(err))
			}
			stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
			if err := pprof.StartCPUProfile(f); err != nil {
				return fmt.Errorf("run: -cpuprofile: %w", err)
			}
		}
		if metricsAt != "" {
			m, err := startMetrics(metricsAt, sc.Name)
			if err != nil {
				if *cpuProfile != "" {
					stopProfile()
					os.Remove(*cpuProfile)
				}
				return usagef("run: -metrics %s: cannot listen: %v (accepted: a free HOST:PORT, such as 127.0.0.1:9464)", *metricsAddr, err)
			}
			metrics = m
			fmt.Fprintf(stderr, "metrics: http://%s/metrics\n", m.addr)
		}
		if err := os.MkdirAll(*out, 0o755); err != nil {
			if *cpuProfile != "" {
				stopProfile()
				os.Remove(*cpuProfile)
			}
			return usagef("run: -out: cannot create %s: %v", *out, errors.Unwrap(err))
		}
		return nil
	}
	defer func() { stopProfile() }()

	res, err := bench.RunSuite(ctx, suite)
	var pf *bench.PreflightError
	switch {
	case errors.As(err, &pf) && (errors.Is(err, targets.ErrOption) || errors.Is(err, targets.ErrFault)):
		return usagef("run: %v", err)
	case errors.As(err, &pf):
		return backendError{fmt.Errorf("run: %w", err)}
	case res == nil && errors.Is(err, bench.ErrInterrupted):
		return fmt.Errorf("run: interrupted before the first design ran")
	case res == nil && errors.As(err, new(backendError)):
		return err // from Ready: the agents
	case res == nil && err != nil:
		return err // from Ready
	case err != nil && !errors.Is(err, bench.ErrInterrupted):
		return err
	}
	var failed, incomplete []string
	for _, tr := range res.Runs {
		if tr.Error != "" {
			failed = append(failed, tr.Target)
		}
		for _, rep := range results.Reps(tr) {
			for _, a := range rep.Agents {
				if !a.Complete {
					incomplete = append(incomplete, fmt.Sprintf("%s's agent %s (share %d/%d: %s)", tr.Target, a.Name, a.Share, a.Of, a.Error))
				}
			}
		}
	}
	path := filepath.Join(*out, "results.json")
	if err := reports.Summary(stdout, res); err != nil {
		return err
	}
	// The reports read only the results.json just written, as a later
	// 'stampede report' would.
	written, err := results.Read(path)
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
	case len(incomplete) > 0:
		return fmt.Errorf("run: incomplete: %s: partial results in %s", strings.Join(incomplete, "; "), path)
	case len(failed) > 0:
		return fmt.Errorf("run: failed for %s (see the notes above)", strings.Join(failed, ", "))
	}
	return gate(stdout, written, baseline, parsedChecks)
}

// scenarioOptions gives the designs of the run the options their scenario
// asks for (sc.Options), where the command line's -opt does not set them.
// A pair for a design not in the run is left aside.
func scenarioOptions(sc *scenario.Scenario, regs []targets.Registration, cfgs []targets.Config, opts []string) error {
	user := map[string]bool{}
	for _, o := range opts {
		k, _, _ := strings.Cut(o, "=")
		user[strings.TrimSpace(k)] = true
	}
	for _, pair := range sc.Options {
		k, v, _ := strings.Cut(pair, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if user[k] {
			continue
		}
		prefix, key, _ := strings.Cut(k, ".")
		for i, r := range regs {
			if r.OptionPrefix != prefix {
				continue
			}
			j := slices.IndexFunc(r.Options, func(o targets.OptionSpec) bool { return o.Key == key })
			if j < 0 {
				return usagef("run: scenario %s: options: %s: %s takes no option %q", sc.Name, pair, r.Name, key)
			}
			if err := r.Options[j].Validate(v); err != nil {
				return usagef("run: scenario %s: options: %s: %v", sc.Name, pair, err)
			}
			cfgs[i].Options[key] = v
		}
	}
	return nil
}

// serviceName is what a -http NAME may be: it names the design in every
// report and in -check.
var serviceName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// httpService reads one -http NAME=URL into a design, named apart from
// every built-in design and every name before it.
func httpService(s string, before []string) (targets.Registration, error) {
	name, u, ok := strings.Cut(s, "=")
	name = strings.TrimSpace(name)
	switch {
	case !ok || u == "":
		return targets.Registration{}, usagef("run: -http %q: want NAME=URL (accepted: such as mine=http://127.0.0.1:8080)", redact.URLs(s))
	case !serviceName.MatchString(name):
		return targets.Registration{}, usagef("run: -http %s: the name %q is not accepted (accepted: lower-case letters, digits, '.', '_' and '-', such as mine or v2)", redact.URLs(s), name)
	case slices.Contains(before, name):
		return targets.Registration{}, usagef("run: -http %s: the name %q is taken twice (accepted: one name per design)", redact.URLs(s), name)
	}
	if _, err := targets.Lookup(name); err == nil {
		return targets.Registration{}, usagef("run: -http %s: %q is a built-in design's name (accepted: any other, such as mine or v2)", redact.URLs(s), name)
	}
	if err := httpt.CheckURL(u); err != nil {
		return targets.Registration{}, usagef("run: -http %s=%v", name, err)
	}
	return httpt.Service(name, u), nil
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
		return isTerminal(stderr), nil
	}
	return false, usagef("run: -progress %q: accepted: auto, on, off, json", mode)
}

// isTerminal reports whether w is a terminal; tests replace it.
var isTerminal = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressLine redraws the progress line.
func progressLine(w io.Writer, prefix string, p bench.Progress) {
	fmt.Fprintf(w, "\r\033[K%s%s  %5.1fs  %d attempts  %.0f/s  p99 %s  sold %d/%d",
		prefix, p.Target, p.Elapsed.Seconds(), p.Attempts, p.AttemptsPS, p.P99.Round(time.Microsecond), p.Sold, p.Capacity)
}
