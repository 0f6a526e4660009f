package bench

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/stampede-bench/stampede/bench/results"
	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
)

// Suite is a run of several designs over one scenario: what the CLI's run
// command, a test or a coordinator asks RunSuite for.
type Suite struct {
	Scenario *scenario.Scenario
	// Designs are resolved designs (targets.Resolve) in the order they
	// run; their Config's Backends are set to Backends.
	Designs  []targets.Registration
	Configs  []targets.Config
	Backends targets.Backends
	// Out, if set, is the directory results.json is written to (it must
	// exist); the file is written whole at the end, interrupted or not.
	Out string
	// Options are the engine's, for every design. Their Progress is
	// replaced by Progress below when that is set.
	Options Options
	// Progress, if set, is called about four times a second while design
	// i (from 0) runs.
	Progress func(i int, p Progress)
	// Ready, if set, is called once every design said it can run, before
	// the first starts; an error from it ends RunSuite with that error
	// and no results.
	Ready func() error
	// Done, if set, is called after design i ran (tr holds its figures, or
	// its error) and before the next one starts; with Repeat above 1, after
	// each repetition (tr.Repetition).
	Done func(i int, tr *results.TargetRun)
	// Repeat runs every design this many times (0 and 1: once). Each
	// repetition r (from 0) sets every design up afresh, runs the plan of
	// seed Scenario.Seed+r, and runs the designs in an order rotated by r,
	// so that a drift of the machine over the run favours none.
	// results.json keeps every repetition (results.Fold).
	Repeat int
}

// PreflightError is a design that said, before any design ran, that it
// cannot run: its backend cannot be reached, or one of its options is
// beyond what the backend allows (errors.Is(err, targets.ErrOption)).
type PreflightError struct {
	Design string
	Err    error
}

func (e *PreflightError) Error() string { return e.Design + ": " + e.Err.Error() }
func (e *PreflightError) Unwrap() error { return e.Err }

// ErrInterrupted is returned by RunSuite, beside the partial results, when
// its context ended before every design ran to the end.
var ErrInterrupted = errors.New("interrupted")

// RunSuite asks every design whether it can run (targets.Preflighter),
// then runs each in turn over the same plan: builds it, sets its stock up,
// drives it, audits it, closes it and collects its figures. A design that
// fails is recorded with its error and the next one runs. When ctx ends,
// the design running stops within moments, no other starts, and the
// results, marked interrupted, hold what was measured; RunSuite then
// returns them with ErrInterrupted. A *PreflightError returns no results.
// Any other error is one of writing results.json.
func RunSuite(ctx context.Context, s Suite) (*results.Results, error) {
	if len(s.Designs) != len(s.Configs) {
		return nil, fmt.Errorf("bench: %d designs and %d configs", len(s.Designs), len(s.Configs))
	}
	cfgs := make([]targets.Config, len(s.Configs))
	for i, c := range s.Configs {
		c.Backends = s.Backends
		cfgs[i] = c
	}
	if faults := s.Scenario.Faults; len(faults) > 0 {
		inj, ok := s.Backends.(targets.Injector)
		if !ok {
			return nil, &PreflightError{"faults", fmt.Errorf("%w: the backends cannot take faults", targets.ErrFault)}
		}
		if err := inj.PrepareFaults(TargetFaults(faults)); err != nil {
			return nil, &PreflightError{"faults", err}
		}
		s.Options.Injector = inj
	}
	if err := Preflight(ctx, s.Designs, cfgs); err != nil {
		return nil, err
	}
	if s.Ready != nil {
		if err := s.Ready(); err != nil {
			return nil, err
		}
	}
	res := results.New(s.Scenario, time.Now())
	for _, reg := range s.Designs {
		res.Targets = append(res.Targets, reg.Name)
	}
	repeat := max(s.Repeat, 1)
	reps := make([][]*results.TargetRun, len(s.Designs))
	n := len(s.Designs)
repetitions:
	for r := range repeat {
		plan := scenario.NewPlan(s.Scenario)
		if repeat > 1 {
			sc := *s.Scenario
			sc.Seed += uint64(r)
			plan = scenario.NewPlan(&sc)
			res.Repeat = repeat
		}
		for k := range n {
			if ctx.Err() != nil {
				break repetitions
			}
			i := (k + r) % n
			reg := s.Designs[i]
			opt := s.Options
			if s.Progress != nil {
				opt.Progress = func(p Progress) {
					p.Repetition, p.Repeat = r+1, repeat
					s.Progress(i, p)
				}
			}
			tr, err := runDesign(ctx, reg, cfgs[i], plan, opt)
			if err != nil {
				if ctx.Err() != nil {
					break repetitions
				}
				tr = &results.TargetRun{Target: reg.Name, Error: err.Error(), Timeline: []results.Second{}}
			}
			if repeat > 1 {
				tr.Repetition, tr.Seed = r+1, plan.Scenario.Seed
			}
			reps[i] = append(reps[i], tr)
			if s.Done != nil {
				s.Done(i, tr)
			}
			// A design's workers may have held a lot (a recorder each:
			// 5,000 users are some 2 GB); give it back before the next.
			debug.FreeOSMemory()
		}
	}
	for i := range s.Designs {
		if len(reps[i]) > 0 {
			res.Runs = append(res.Runs, results.Fold(reps[i]))
		}
	}
	res.Interrupted = ctx.Err() != nil
	if s.Out != "" {
		if err := results.Write(filepath.Join(s.Out, "results.json"), res); err != nil {
			return res, err
		}
	}
	if res.Interrupted {
		return res, ErrInterrupted
	}
	return res, nil
}

// Preflight asks every design that can tell (targets.Preflighter) whether
// it will be able to run, before the first one runs. Its error is a
// *PreflightError, or ErrInterrupted when ctx ended meanwhile.
func Preflight(ctx context.Context, regs []targets.Registration, cfgs []targets.Config) error {
	for i, reg := range regs {
		t, err := reg.New(cfgs[i])
		if err != nil {
			return &PreflightError{reg.Name, err}
		}
		if p, ok := t.(targets.Preflighter); ok {
			err = p.Preflight(ctx)
		}
		t.Close()
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return ErrInterrupted
		default:
			return &PreflightError{reg.Name, err}
		}
	}
	return nil
}

// runDesign builds one design, runs it and closes it.
func runDesign(ctx context.Context, reg targets.Registration, cfg targets.Config, plan *scenario.Plan, opt Options) (*results.TargetRun, error) {
	t, err := reg.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", reg.Name, err)
	}
	tr, err := Run(ctx, reg.Name, t, plan, opt)
	if cerr := t.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("%s: close: %w", reg.Name, cerr)
	}
	return tr, err
}
