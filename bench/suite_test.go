package bench

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stampede-bench/stampede/bench/results"
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
