package bench

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
)

func TestAttemptCtxDeadline(t *testing.T) {
	c := newAttemptCtx(context.Background())
	for round := range 3 { // reused across attempts, including after a timeout
		c.begin(time.Now().Add(10 * time.Millisecond))
		if d, ok := c.Deadline(); !ok || d.IsZero() {
			t.Fatal("no deadline")
		}
		select {
		case <-c.Done():
		case <-time.After(2 * time.Second):
			t.Fatalf("round %d: Done not closed after the deadline", round)
		}
		if !errors.Is(c.Err(), context.DeadlineExceeded) {
			t.Fatalf("round %d: Err = %v", round, c.Err())
		}
		c.end()
		c.begin(time.Time{}) // the next attempt starts clean
		if c.Err() != nil {
			t.Fatalf("round %d: a fresh attempt starts with Err %v", round, c.Err())
		}
		select {
		case <-c.Done():
			t.Fatalf("round %d: a fresh attempt starts with Done closed", round)
		default:
		}
		c.end()
	}
	// An attempt that ends in time is not cancelled later by its timer.
	c.begin(time.Now().Add(20 * time.Millisecond))
	done := c.Done()
	c.end()
	c.begin(time.Time{})
	select {
	case <-done:
		t.Fatal("a stopped timer closed the next attempt's channel")
	case <-time.After(50 * time.Millisecond):
	}
}

func TestAttemptCtxParentCancel(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	c := newAttemptCtx(parent)
	stop := context.AfterFunc(parent, func() { c.cancel(context.Cause(parent)) })
	defer stop()
	c.begin(time.Time{})
	cancel()
	select {
	case <-c.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("Done not closed when the run was cancelled")
	}
	if !errors.Is(c.Err(), context.Canceled) {
		t.Errorf("Err = %v, want Canceled", c.Err())
	}
	c.end()
	if c.Err() == nil {
		t.Error("a cancelled run's attempts must stay cancelled")
	}
}

func TestAttemptCtxNoAllocs(t *testing.T) {
	c := newAttemptCtx(context.Background())
	deadline := time.Now().Add(time.Hour)
	n := testing.AllocsPerRun(1000, func() {
		c.begin(deadline)
		_ = c.Done() // arms and then stops the timer
		c.end()
	})
	if n != 0 {
		t.Errorf("%v allocations per attempt, want 0", n)
	}
}

// A design that watches Done through context.WithCancel, as database
// drivers do: the worker must switch to fresh contexts, and the race
// detector must find nothing.
func TestDesignWatchingDone(t *testing.T) {
	tgt := newFuncTarget(func(ctx context.Context, o targets.Order) targets.Reply {
		child, cancel := context.WithCancel(ctx) // watches ctx.Done from a goroutine of its own
		defer cancel()
		select {
		case <-child.Done():
			return targets.Reply{Outcome: targets.Unknown, Err: child.Err()}
		default:
			return targets.Reply{Outcome: targets.Confirmed}
		}
	})
	sc := testScenario(2000, 500*time.Millisecond, 4)
	sc.Client.Timeout = scenario.Duration(time.Second)
	res, err := Run(context.Background(), "watcher", tgt, scenario.NewPlan(sc), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Orders.Confirmed != 1000 {
		t.Errorf("%d confirmed of 1000", res.Orders.Confirmed)
	}
}
