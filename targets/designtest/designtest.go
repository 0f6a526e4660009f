// Package designtest runs designs in tests the way the CLI does: through
// the same engine, on real backends (an embedded PostgreSQL), never on
// mocks of them.
package designtest

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/stampede-bench/stampede/bench"
	"github.com/stampede-bench/stampede/bench/results"
	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/embedded"
)

// Env is the package's backends, started by Main.
var Env *embedded.Env

// Main runs a test package with embedded servers (PostgreSQL, nats-server)
// started when a test first needs them, shared by the package's tests and
// stopped afterwards. A server that cannot start fails the test that needs
// it, loudly; nothing is skipped.
func Main(m *testing.M) {
	embedded.RunChild() // started again as an embedded nats-server: be one
	Env = &embedded.Env{}
	code := m.Run()
	if err := Env.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping PostgreSQL: %v\n", err)
		code = 1
	}
	os.Exit(code)
}

// Scenario returns a built-in scenario.
func Scenario(t testing.TB, name string) *scenario.Scenario {
	t.Helper()
	s := scenario.Builtin(name)
	if s == nil {
		t.Fatalf("no built-in scenario %q", name)
	}
	return s
}

// SellOut is a scenario in which a correct design sells every seat
// however slow the machine: 16 closed-loop users place 4,000 one-ticket
// orders, spread evenly over the flash crowd's 19 shows x 100 seats (about
// 210 orders a show), each waiting up to 10s for its answer. On a flash
// crowd, by contrast, a design slowed down (by -race, a busy machine) may
// time out buyers while seats remain, which is its figures' business and
// not a failure of its correctness.
func SellOut(t testing.TB) *scenario.Scenario {
	t.Helper()
	sc, err := scenario.Parse([]byte(`name: sell-out
seed: 1
stock: {products: 19, capacity: 100}
demand: {buyers: 4000, quantity: {min: 1, max: 1}, popularity: uniform}
arrivals: {mode: closed, users: 16, duration: 60s}
client: {timeout: 10s}
`), "designtest.SellOut")
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// New makes design name with the given -opt pairs on Env's backends; the
// test closes it when it ends.
func New(t testing.TB, name string, opts ...string) targets.Target {
	t.Helper()
	return NewOn(t, Env, name, opts...)
}

// NewOn makes design name with the given -opt pairs on backends b (a
// server the test started, one that refuses, ...); the test closes it
// when it ends.
func NewOn(t testing.TB, b targets.Backends, name string, opts ...string) targets.Target {
	t.Helper()
	regs, cfgs, err := targets.Resolve([]string{name}, opts)
	if err != nil {
		t.Fatal(err)
	}
	cfgs[0].Backends = b
	tgt, err := regs[0].New(cfgs[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tgt.Close() })
	return tgt
}

// Run runs design name on sc with the given -opt pairs and returns its
// figures.
func Run(t testing.TB, name string, sc *scenario.Scenario, opts ...string) *results.TargetRun {
	t.Helper()
	return RunOptions(t, name, sc, bench.Options{}, opts...)
}

// RunOptions is Run with the engine's options.
func RunOptions(t testing.TB, name string, sc *scenario.Scenario, bopt bench.Options, opts ...string) *results.TargetRun {
	t.Helper()
	tgt := New(t, name, opts...)
	res, err := bench.Run(context.Background(), name, tgt, scenario.NewPlan(sc), bopt)
	if err != nil {
		t.Fatalf("%v (the embedded servers need scripts/setup for PostgreSQL; nats-server runs in-process)", err)
	}
	t.Logf("%s %v: %.0f/s p50 %dus p99 %dus; confirmed %d sold out %d unknown %d errors %d conflicts %d; sold %d/%d oversold %d duplicated %d lost %d phantom %d apologies %d contradicted %d; %s; %q",
		name, opts, res.ThroughputPerS, res.LatencyUS.P50, res.LatencyUS.P99, res.Orders.Confirmed, res.Orders.SoldOut, res.Orders.Unknown,
		res.Orders.Errors, res.Orders.Conflicts, res.Checks.Sold, res.Checks.Capacity, res.Checks.Oversold, res.Checks.DuplicatedOrders,
		res.Checks.Lost, res.Checks.Phantom, res.Checks.Apologies, res.Checks.Contradicted, res.Info.Durability, res.Orders.ErrorSamples)
	return res
}

// Causes returns a run's counts by cause class (results.Orders.Causes) of
// one kind: "conflict", "unknown", "error" or "rejected".
func Causes(r *results.TargetRun, kind string) map[string]int64 {
	out := map[string]int64{}
	for _, c := range r.Orders.Causes {
		if c.Kind == kind {
			out[c.Class] += c.Count
		}
	}
	return out
}

// CheckConflictCauses fails t unless every conflict of r is counted under
// a cause class among want, and the first of want is among them.
func CheckConflictCauses(t testing.TB, r *results.TargetRun, want ...string) {
	t.Helper()
	causes := Causes(r, "conflict")
	var sum int64
	for class, n := range causes {
		sum += n
		if !slices.Contains(want, class) {
			t.Errorf("%s: %d conflicts of cause %q, want only %q", r.Target, n, class, want)
		}
	}
	if sum != r.Orders.Conflicts {
		t.Errorf("%s: conflicts by cause add up to %d, want %d (%v)", r.Target, sum, r.Orders.Conflicts, causes)
	}
	if r.Orders.Conflicts > 0 && causes[want[0]] == 0 {
		t.Errorf("%s: no conflict of cause %q among %v", r.Target, want[0], causes)
	}
}
