package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stampede-bench/stampede/agents"
	"github.com/stampede-bench/stampede/bench"
	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
	httpt "github.com/stampede-bench/stampede/targets/http"
	"github.com/stampede-bench/stampede/targets/redact"
)

const agentSynopsis = `agent -nats URL [-name NAME]

Waits for work from a coordinator ('stampede run -agents K -nats URL ...')
on the NATS server at URL, and sends its share of each design's buyers:
the same seeded plan as every other agent computes, every K-th submission.
It connects to the backends the coordinator set the design up on (its
PostgreSQL DSN, its NATS), so they must be reachable from here. Runs until
Ctrl-C; the share under way then stops and its figures are still sent.`

// agentName is what -name may be.
var agentName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

func agentCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("agent", agentSynopsis, stdout)
	natsURL := fs.String("nats", "", "the NATS server coordinators and agents meet on (nats://[user:password@]host:port, comma-separated)")
	host, _ := os.Hostname()
	name := fs.String("name", fmt.Sprintf("%s-%d", nameOf(host), os.Getpid()), "this agent's name in reports (letters, digits, '_' and '-')")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *natsURL == "" {
		return usagef("agent: -nats: required (accepted: nats://[user:password@]host:port)")
	}
	if err := checkNATSURLs(*natsURL); err != nil {
		return usageError{fmt.Errorf("agent: %w", errors.Unwrap(err))}
	}
	if !agentName.MatchString(*name) {
		return usagef("agent: -name %q: accepted: letters, digits, '_' and '-', such as a1", *name)
	}
	nc, err := nats.Connect(*natsURL, nats.Name("stampede agent "+*name), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("agent: connect to %s: %w", redact.URLs(*natsURL), err)
	}
	defer nc.Close()
	a := &agents.Agent{NC: nc, Name: *name, Log: stderr, Build: buildJob}
	fmt.Fprintf(stderr, "agent %s: on %s\n", *name, redact.URLs(*natsURL))
	return a.Serve(ctx)
}

// nameOf keeps what an agent's name may hold of s (a host name).
func nameOf(s string) string {
	out := []rune{}
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return "agent"
	}
	return string(out)
}

// buildJob makes the design of a job on the job's backends.
func buildJob(job *agents.Job) (targets.Target, error) {
	var reg targets.Registration
	if job.HTTPURL != "" {
		reg = httpt.Service(job.Design, job.HTTPURL)
	} else {
		var err error
		if reg, err = targets.Lookup(job.Design); err != nil {
			return nil, err
		}
	}
	opts := targets.Options{}
	for k, v := range job.Options {
		opts[k] = v
	}
	return reg.New(targets.Config{Options: opts, Backends: jobBackends{job}})
}

// jobBackends hands out the servers a coordinator set a job's design up on.
type jobBackends struct{ job *agents.Job }

func (b jobBackends) Postgres(context.Context) (string, error) {
	if b.job.Postgres == "" {
		return "", errors.New("the coordinator gave no PostgreSQL")
	}
	return b.job.Postgres, nil
}

func (b jobBackends) NATS(context.Context, targets.NATSOptions) (targets.NATSServer, error) {
	if b.job.NATS == "" {
		return targets.NATSServer{}, errors.New("the coordinator gave no NATS")
	}
	return targets.NATSServer{URL: b.job.NATS, Embedded: b.job.NATSEmbedded}, nil
}

// seenBackends remembers the servers its Backends handed the designs
// last, for the agents of a spread run to reach the same ones.
type seenBackends struct {
	targets.Backends
	mu   sync.Mutex
	pg   string
	nats targets.NATSServer
}

func (b *seenBackends) Postgres(ctx context.Context) (string, error) {
	dsn, err := b.Backends.Postgres(ctx)
	if err == nil {
		b.mu.Lock()
		b.pg = dsn
		b.mu.Unlock()
	}
	return dsn, err
}

func (b *seenBackends) NATS(ctx context.Context, opt targets.NATSOptions) (targets.NATSServer, error) {
	s, err := b.Backends.NATS(ctx, opt)
	if err == nil {
		b.mu.Lock()
		b.nats = s
		b.mu.Unlock()
	}
	return s, err
}

// spreadRun connects a run to its agents: jobs carry each design's
// options and the servers it was set up on.
func spreadRun(ctx context.Context, natsURL string, k int, wait time.Duration, regs []targets.Registration, cfgs []targets.Config,
	services map[string]string, seen *seenBackends, stderr io.Writer) (*agents.Coordinator, func(), error) {
	nc, err := nats.Connect(natsURL, nats.Name("stampede coordinator"))
	if err != nil {
		return nil, nil, backendError{fmt.Errorf("run: -agents: connect to %s: %w", redact.URLs(natsURL), err)}
	}
	c, err := agents.Connect(ctx, nc, k, wait, stderr)
	if err != nil {
		nc.Close()
		return nil, nil, backendError{fmt.Errorf("run: -agents %d: %w", k, err)}
	}
	options := map[string]targets.Options{}
	for i, r := range regs {
		options[r.Name] = cfgs[i].Options
	}
	c.Jobs = func(_ context.Context, design string) (agents.Job, error) {
		seen.mu.Lock()
		defer seen.mu.Unlock()
		return agents.Job{Design: design, HTTPURL: services[design], Options: options[design],
			Postgres: seen.pg, NATS: seen.nats.URL, NATSEmbedded: seen.nats.Embedded}, nil
	}
	return c, func() { c.Close(); nc.Close() }, nil
}

var _ bench.Spreader = (*agents.Coordinator)(nil)

// checkSpread checks what a spread run (-agents K) needs before anything
// starts.
func checkSpread(k int, natsURL string, wait time.Duration, sc *scenario.Scenario, regs []targets.Registration, cfgs []targets.Config) error {
	switch {
	case k < 1 || k > 1000:
		return usagef("run: -agents %d: want a whole number from 1 to 1000, such as 3", k)
	case natsURL == "":
		return usagef("run: -agents: needs -nats URL, the NATS server the agents wait on (accepted: nats://host:port, such as nats://127.0.0.1:4222)")
	case wait <= 0:
		return usagef("run: -agents-wait %s: want a duration above 0s, such as 30s", wait)
	case len(sc.Faults) > 0:
		return usagef("run: -agents: faults cannot be put in during a spread run (accepted: a scenario without faults, and no -fault)")
	case sc.Closed() && sc.Arrivals.Users < k:
		return usagef("run: -agents %d: the scenario has %d closed-loop users, fewer than the agents (accepted: at most %d agents, or -users %d or more)",
			k, sc.Arrivals.Users, sc.Arrivals.Users, k)
	}
	for i, reg := range regs {
		if spreadable(reg, cfgs[i]) {
			continue
		}
		var can []string
		all, allCfgs, _ := targets.Resolve(targets.Names(), nil)
		for j, r := range all {
			if spreadable(r, allCfgs[j]) {
				can = append(can, r.Name)
			}
		}
		return usagef("run: -agents: %s %v (accepted: %s)", reg.Name, bench.ErrNotSpreadable, strings.Join(can, ", "))
	}
	return nil
}

func spreadable(reg targets.Registration, cfg targets.Config) bool {
	cfg.Backends = jobBackends{&agents.Job{}} // New connects to nothing
	t, err := reg.New(cfg)
	if err != nil {
		return false
	}
	defer t.Close()
	return bench.Spreadable(t)
}

// lazySpread is the run's bench.Spreader before its agents are found
// (suite.Ready finds them).
type lazySpread struct {
	c     *agents.Coordinator
	close func()
}

func (l *lazySpread) Spread(ctx context.Context, design string, plan *scenario.Plan, progress func(bench.Progress)) ([]*bench.Part, error) {
	if l.c == nil {
		return nil, errors.New("no agents")
	}
	return l.c.Spread(ctx, design, plan, progress)
}
