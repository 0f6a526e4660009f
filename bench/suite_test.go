package bench

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stampede-bench/stampede/bench/results"
	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
)

// Two designs through the library call a CLI, a test or a coordinator
// makes: both run over the same plan, in order, each with its figures and
// checks, and results.json holds exactly what RunSuite returned.
func TestRunSuiteTwoDesigns(t *testing.T) {
	regs, cfgs, err := targets.Resolve([]string{"memory", "memory-racy"}, []string{"memory.rtt=0s"})
	if err != nil {
		t.Fatal(err)
	}
	sc := testScenario(2000, 300*time.Millisecond, 4)
	sc.Stock.Products, sc.Stock.Capacity = 1, 100
	sc.Client.Timeout = 0
	out := t.TempDir()
	var done []string
	res, err := RunSuite(context.Background(), Suite{Scenario: sc, Designs: regs, Configs: cfgs, Out: out,
		Done: func(i int, tr *results.TargetRun) { done = append(done, tr.Target) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != 2 || res.Runs[0].Target != "memory" || res.Runs[1].Target != "memory-racy" || len(done) != 2 {
		t.Fatalf("runs %v, done %v; want memory then memory-racy", res.Targets, done)
	}
	for _, tr := range res.Runs {
		if tr.Error != "" || tr.Orders.Buyers != 600 || tr.Checks.Capacity != 100 {
			t.Errorf("%s: error %q, %d buyers, capacity %d; want none, 600, 100", tr.Target, tr.Error, tr.Orders.Buyers, tr.Checks.Capacity)
		}
	}
	if k := res.Runs[0].Checks; k.Sold != 100 || k.Oversold != 0 {
		t.Errorf("memory: sold %d, oversold %d; want 100 and 0", k.Sold, k.Oversold)
	}
	if res.Interrupted {
		t.Error("marked interrupted")
	}
	written, err := results.Read(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(written.Runs) != 2 || written.Runs[1].Checks != res.Runs[1].Checks || len(written.Targets) != 2 {
		t.Errorf("results.json holds %d runs, targets %v; want what RunSuite returned", len(written.Runs), written.Targets)
	}
}

// refusing is a design whose Preflight refuses.
type refusing struct {
	*funcTarget
	err error
}

func (r refusing) Preflight(context.Context) error { return r.err }

// A design that cannot run stops the suite before any design ran: nothing
// is run, nothing written, and the error names the design.
func TestRunSuitePreflight(t *testing.T) {
	ran := false
	ok := targets.Registration{Name: "fine", New: func(targets.Config) (targets.Target, error) {
		return newFuncTarget(func(context.Context, targets.Order) targets.Reply {
			ran = true
			return targets.Reply{Outcome: targets.Confirmed}
		}), nil
	}}
	for _, cause := range []error{errors.New("connection refused"), targets.ErrOption} {
		bad := targets.Registration{Name: "refusing", New: func(targets.Config) (targets.Target, error) {
			return refusing{newFuncTarget(nil), cause}, nil
		}}
		out := t.TempDir()
		res, err := RunSuite(context.Background(), Suite{Scenario: testScenario(100, 100*time.Millisecond, 1),
			Designs: []targets.Registration{ok, bad}, Configs: make([]targets.Config, 2), Out: out})
		var pf *PreflightError
		if !errors.As(err, &pf) || pf.Design != "refusing" || !errors.Is(err, cause) || res != nil {
			t.Errorf("error %v, results %v; want a PreflightError of refusing wrapping %v", err, res, cause)
		}
		if ran {
			t.Error("a design ran although another could not")
		}
		if _, err := results.Read(filepath.Join(out, "results.json")); err == nil {
			t.Error("results.json written")
		}
	}
}

// A suite interrupted stops, writes what it measured marked interrupted,
// and says so; the designs after it never start.
func TestRunSuiteInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var started int
	reg := func(name string) targets.Registration {
		return targets.Registration{Name: name, New: func(targets.Config) (targets.Target, error) {
			started++
			return newFuncTarget(func(ctx context.Context, _ targets.Order) targets.Reply {
				cancel() // the first order interrupts the run
				return targets.Reply{Outcome: targets.Confirmed}
			}), nil
		}}
	}
	out := t.TempDir()
	res, err := RunSuite(ctx, Suite{Scenario: testScenario(100, time.Second, 1),
		Designs: []targets.Registration{reg("first"), reg("second")}, Configs: make([]targets.Config, 2), Out: out})
	if !errors.Is(err, ErrInterrupted) || res == nil || !res.Interrupted {
		t.Fatalf("error %v, results %v; want ErrInterrupted and results marked interrupted", err, res)
	}
	// Preflight built each design once; only the first was built to run.
	if started != 3 || len(res.Runs) != 1 || len(res.Targets) != 2 {
		t.Errorf("%d designs built, %d runs, targets %v; want 3 (two preflights, one run), 1, both named", started, len(res.Runs), res.Targets)
	}
	written, err := results.Read(filepath.Join(out, "results.json"))
	if err != nil || !written.Interrupted {
		t.Errorf("results.json: %v, interrupted %v; want written, marked interrupted", err, written != nil && written.Interrupted)
	}
}

// With Repeat, every design runs that many times, each repetition with
// the next seed and the designs taking turns in a rotating order; the
// results hold one run per design with every repetition and their spread.
func TestRunSuiteRepeat(t *testing.T) {
	regs, cfgs, err := targets.Resolve([]string{"memory", "memory-racy"}, []string{"memory.rtt=0s"})
	if err != nil {
		t.Fatal(err)
	}
	sc := testScenario(2000, 200*time.Millisecond, 4)
	sc.Stock.Products, sc.Stock.Capacity = 1, 100
	sc.Client.Timeout = 0
	sc.Seed = 7
	var order []string
	res, err := RunSuite(context.Background(), Suite{Scenario: sc, Designs: regs, Configs: cfgs, Repeat: 3,
		Done: func(i int, tr *results.TargetRun) {
			order = append(order, fmt.Sprintf("%s#%d", tr.Target, tr.Repetition))
		}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"memory#1", "memory-racy#1", "memory-racy#2", "memory#2", "memory#3", "memory-racy#3"}
	if !slices.Equal(order, want) {
		t.Errorf("ran %v, want %v", order, want)
	}
	if res.Repeat != 3 || len(res.Runs) != 2 || res.Scenario.Seed != 7 {
		t.Fatalf("repeat %d, %d runs, seed %d; want 3, 2, 7", res.Repeat, len(res.Runs), res.Scenario.Seed)
	}
	for _, tr := range res.Runs {
		if len(tr.Repetitions) != 3 || tr.Spread == nil || tr.Spread.Repetitions != 3 {
			t.Fatalf("%s: %d repetitions, spread %+v; want 3", tr.Target, len(tr.Repetitions), tr.Spread)
		}
		for i, rep := range tr.Repetitions {
			if rep.Repetition != i+1 || rep.Seed != uint64(7+i) || rep.Target != tr.Target {
				t.Errorf("%s: repetition %d is #%d of seed %d (%s)", tr.Target, i+1, rep.Repetition, rep.Seed, rep.Target)
			}
		}
		if tr.Repetition != 0 || tr.LatencyUS != results.Representative(tr.Repetitions).LatencyUS {
			t.Errorf("%s: the run's figures are not its median repetition's", tr.Target)
		}
		if in := tr.Spread.Incidence["oversold"]; in.Of != 3 {
			t.Errorf("%s: oversold incidence of %d runs, want 3", tr.Target, in.Of)
		}
	}
	if in := res.Runs[0].Spread.Incidence["oversold"]; in.Runs != 0 {
		t.Errorf("memory oversold in %d runs, want none", in.Runs)
	}
}

// Failures and conflicts are counted by their cause: the class the design
// names for its conflicts, the class of the error's chain for a failure.
func TestCausesCounted(t *testing.T) {
	tgt := newFuncTarget(func(_ context.Context, o targets.Order) targets.Reply {
		switch o.ID % 4 {
		case 0:
			return targets.Reply{Outcome: targets.Unknown, Err: fmt.Errorf("buy: %w", context.DeadlineExceeded)}
		case 1:
			return targets.Reply{Outcome: targets.Confirmed, Conflicts: 2, Cause: targets.SQLStateCause("40001")}
		case 2:
			return targets.Reply{Outcome: targets.Error, Err: fmt.Errorf("send: %w", syscall.ECONNRESET)}
		}
		return targets.Reply{Outcome: targets.Confirmed}
	})
	sc := testScenario(1000, 200*time.Millisecond, 2)
	sc.Client.Retries = 0
	res, err := Run(context.Background(), "causes", tgt, scenario.NewPlan(sc), Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, c := range res.Orders.Causes {
		got[c.Kind+": "+c.Class] = c.Count
		if c.Kind != "conflict" && c.Sample == "" {
			t.Errorf("%s %s: no sample message", c.Kind, c.Class)
		}
	}
	n := int64(sc.Arrivals.Rate * 0.2) // orders, ids from 1
	want := map[string]int64{
		"unknown: timeout": n / 4, "error: connection reset": n / 4,
		"conflict: sqlstate 40001 (serialization_failure)": 2 * (n / 4),
	}
	if !maps.Equal(got, want) {
		t.Errorf("causes %v, want %v", got, want)
	}
	if res.Orders.Causes[0].Count < res.Orders.Causes[len(res.Orders.Causes)-1].Count {
		t.Errorf("causes not most frequent first: %+v", res.Orders.Causes)
	}
}
