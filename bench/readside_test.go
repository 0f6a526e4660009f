package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stampede-bench/stampede/bench/results"
	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
)

// projected is a design whose read side shows a confirmed order only lag
// after its confirmation, as an asynchronous projection does.
type projected struct {
	*funcTarget
	lag  time.Duration
	mu   sync.Mutex
	seen map[targets.OrderID]time.Time
}

func newProjected(lag time.Duration) *projected {
	p := &projected{lag: lag, seen: map[targets.OrderID]time.Time{}}
	p.funcTarget = newFuncTarget(func(_ context.Context, o targets.Order) targets.Reply {
		p.mu.Lock()
		if _, ok := p.seen[o.ID]; !ok {
			p.seen[o.ID] = time.Now()
		}
		p.mu.Unlock()
		return targets.Reply{Outcome: targets.Confirmed}
	})
	return p
}

func (p *projected) NewClient(ctx context.Context, i int) (targets.Client, error) {
	c, _ := p.funcTarget.NewClient(ctx, i)
	return projectedClient{c.(funcClient), p}, nil
}

type projectedClient struct {
	funcClient
	p *projected
}

func (c projectedClient) Shows(_ context.Context, id targets.OrderID) (bool, error) {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	at, ok := c.p.seen[id]
	return ok && time.Since(at) >= c.p.lag, nil
}

func checkoutScenario(wait time.Duration) *scenario.Scenario {
	sc := testScenario(400, 500*time.Millisecond, 4) // 200 buyers
	sc.Client = scenario.Client{Timeout: scenario.Duration(time.Second), ReadAfterBuy: true, ReadWait: scenario.Duration(wait)}
	return sc
}

// Buyers read their orders right after a confirmed buy: a read side that
// shows them at once has no violation and a lag of 0; one that shows them
// 30ms later has a violation per read, and a lag of at least 30ms; one
// slower than read_wait never shows them; a design without a read side has
// no figures.
func TestReadYourWrites(t *testing.T) {
	run := func(tgt targets.Target, wait time.Duration) *results.ReadYourWrites {
		t.Helper()
		res, err := Run(context.Background(), "t", tgt, scenario.NewPlan(checkoutScenario(wait)), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Orders.Confirmed != 200 {
			t.Fatalf("%d confirmed, want 200", res.Orders.Confirmed)
		}
		if res.ReadYourWrites == nil {
			return nil
		}
		if res.Histograms.VisibilityLag == "" {
			t.Error("no visibility-lag histogram")
		}
		return res.ReadYourWrites
	}
	at := run(newProjected(0), time.Second)
	if at == nil || at.Reads != 200 || at.Violations != 0 || at.LagUS.Max != 0 || at.LagUS.Count != 200 {
		t.Errorf("shown at once: %+v; want 200 reads, no violation, lag 0", at)
	}
	late := run(newProjected(30*time.Millisecond), 2*time.Second)
	if late == nil || late.Reads != 200 || late.Violations != 200 || late.ViolationRate != 1 || late.NeverVisible != 0 ||
		late.LagUS.Count != 200 || late.LagUS.P50 < 30_000 || late.LagUS.Max > 2_000_000 {
		t.Errorf("shown after 30ms: %+v; want every read a violation, lag from 30ms, all shown", late)
	}
	never := run(newProjected(time.Hour), 100*time.Millisecond)
	if never == nil || never.Violations != 200 || never.NeverVisible != 200 || never.LagUS.Count != 0 {
		t.Errorf("never shown: %+v; want 200 violations, all never visible, no lag", never)
	}
	if none := run(newFuncTarget(func(context.Context, targets.Order) targets.Reply {
		return targets.Reply{Outcome: targets.Confirmed}
	}), time.Second); none != nil {
		t.Errorf("a design without a read side: %+v, want no figures", none)
	}
}

// twoPhase is a design that accepts each order at once and decides it
// decide later: its replies carry Accepted, and it counts late answers.
type twoPhase struct {
	*funcTarget
	late atomic.Int64
}

func (t *twoPhase) LateAnswers() int64 { return t.late.Load() }

// A design of two phases: the time to accepted and the time to the final
// answer are both recorded from the click, the first well below the
// second; late final answers are reported as the design counted them.
func TestTwoPhaseAnswers(t *testing.T) {
	const accept, decide = 2 * time.Millisecond, 30 * time.Millisecond
	tgt := &twoPhase{}
	tgt.funcTarget = newFuncTarget(func(ctx context.Context, o targets.Order) targets.Reply {
		time.Sleep(decide)
		return targets.Reply{Outcome: targets.Confirmed, Accepted: accept}
	})
	tgt.late.Store(3)
	sc := testScenario(200, 500*time.Millisecond, 16) // 100 buyers
	sc.Client.Timeout = scenario.Duration(time.Second)
	res, err := Run(context.Background(), "queue", tgt, scenario.NewPlan(sc), Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := res.AcceptedUS
	if a == nil || a.Count != 100 || res.Histograms.Accepted == "" {
		t.Fatalf("accepted %+v, histogram %q: want 100 submissions accepted", a, res.Histograms.Accepted)
	}
	if a.P50 < 2_000 || a.P99 >= res.LatencyUS.P50 || res.LatencyUS.P50 < 30_000 {
		t.Errorf("accepted p50 %dus p99 %dus, final p50 %dus: want accepted from 2ms, below the final answer's 30ms", a.P50, a.P99, res.LatencyUS.P50)
	}
	if res.Orders.LateAnswers != 3 {
		t.Errorf("late answers %d, want the design's 3", res.Orders.LateAnswers)
	}
	one, err := Run(context.Background(), "one", newFuncTarget(func(context.Context, targets.Order) targets.Reply {
		return targets.Reply{Outcome: targets.Confirmed}
	}), scenario.NewPlan(sc), Options{})
	if err != nil || one.AcceptedUS != nil || one.Histograms.Accepted != "" {
		t.Errorf("a design of one phase: %v, accepted %+v; want no accepted figures", err, one.AcceptedUS)
	}
}
