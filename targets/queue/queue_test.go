package queue_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stampede-bench/stampede/bench"
	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/designtest"
	"github.com/stampede-bench/stampede/targets/queue"
)

func TestMain(m *testing.M) { designtest.Main(m) }

// The three designs on the flash crowd, on a real in-process nats-server
// (and the embedded PostgreSQL for queue): none oversells, duplicates or
// loses a sale while its handler lives; the queue designs answer accepted
// well before their final answer.
func TestFlashCrowd(t *testing.T) {
	sc := designtest.Scenario(t, "flash-crowd")
	for _, name := range []string{"queue", "queue-memory", "queue-atmostonce"} {
		t.Run(name, func(t *testing.T) {
			r := designtest.Run(t, name, sc)
			k := r.Checks
			if k.Oversold != 0 || k.DuplicatedOrders != 0 || k.Lost != 0 || k.Phantom != 0 {
				t.Errorf("oversold %d duplicated %d lost %d phantom %d; want 0", k.Oversold, k.DuplicatedOrders, k.Lost, k.Phantom)
			}
			if r.Orders.Confirmed == 0 || k.Sold == 0 {
				t.Errorf("nothing confirmed (%d) or sold (%d)", r.Orders.Confirmed, k.Sold)
			}
			acc := "none"
			if r.AcceptedUS != nil {
				acc = fmt.Sprintf("p50 %dus p99 %dus (%d)", r.AcceptedUS.P50, r.AcceptedUS.P99, r.AcceptedUS.Count)
			}
			t.Logf("%s: final p50 %dus p99 %dus; accepted %s; unknown %d, late answers %d; info %+v",
				name, r.LatencyUS.P50, r.LatencyUS.P99, acc, r.Orders.Unknown, r.Orders.LateAnswers, r.Info.Settings)
			if name == "queue-atmostonce" {
				if r.AcceptedUS != nil {
					t.Errorf("accepted %+v for a design of one phase", *r.AcceptedUS)
				}
				if r.Info.Durable || !strings.Contains(r.Info.Durability, "nothing is stored") {
					t.Errorf("durability %q (durable %v): want none", r.Info.Durability, r.Info.Durable)
				}
				return
			}
			// How many are accepted in time depends on the machine (under
			// -race a busy one falls behind the crowd); that accepted comes
			// before final is checked below on patient buyers.
			if r.AcceptedUS == nil || r.AcceptedUS.Count == 0 {
				t.Fatal("no accepted times recorded for a design of two phases")
			}
			// The embedded nats-server does not fsync every message.
			if r.Info.Durable || !strings.Contains(r.Info.Durability, "fsync every 2 minutes") {
				t.Errorf("durability %q (durable %v): want the queue's fsync named, not durable", r.Info.Durability, r.Info.Durable)
			}
			if !strings.HasPrefix(r.Info.Backend, "NATS ") || !strings.Contains(r.Info.Backend, "JetStream") {
				t.Errorf("backend %q", r.Info.Backend)
			}
		})
	}
}

// Patient buyers (closed loop, a 10s timeout) on a machine of any speed:
// every order is accepted, and accepted before it is decided.
func TestAcceptedBeforeFinal(t *testing.T) {
	for _, name := range []string{"queue", "queue-memory"} {
		r := designtest.Run(t, name, designtest.SellOut(t))
		a := r.AcceptedUS
		if a == nil || a.Count != r.Orders.Submitted || r.Orders.Unknown != 0 {
			t.Errorf("%s: accepted %+v of %d submitted, %d unknown: want every order accepted", name, a, r.Orders.Submitted, r.Orders.Unknown)
			continue
		}
		if a.P50 >= r.LatencyUS.P50 {
			t.Errorf("%s: accepted p50 %dus, final p50 %dus: want accepted sooner", name, a.P50, r.LatencyUS.P50)
		}
		if k := r.Checks; k.Sold != k.Capacity || k.Oversold != 0 || k.Lost != 0 || k.DuplicatedOrders != 0 {
			t.Errorf("%s: sold %d of %d, oversold %d, lost %d, duplicated %d", name, k.Sold, k.Capacity, k.Oversold, k.Lost, k.DuplicatedOrders)
		}
	}
}

// With every message fsynced by the embedded server, and PostgreSQL's
// commit fsynced, queue is durable and says so.
func TestSyncAlwaysIsDurable(t *testing.T) {
	tgt := designtest.New(t, "queue", "queue.sync=always")
	if err := tgt.Setup(context.Background(), targets.Stock{Products: 1, Capacity: 1}); err != nil {
		t.Fatal(err)
	}
	info := tgt.Info()
	if !info.Durable || !strings.Contains(info.Durability, "fsync per message") || info.Settings["sync"] != "always" {
		t.Errorf("durability %q (durable %v, sync %q): want fsync per message, durable", info.Durability, info.Durable, info.Settings["sync"])
	}
}

// buy makes one attempt with a deadline d from now.
func buy(c targets.Client, o targets.Order, d time.Duration) targets.Reply {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return c.Buy(ctx, o)
}

// The read side shows a confirmed order and not one never bought; a
// resubmission from another client (a double-click on another worker)
// gets the same answer and applies nothing; an answer that comes after
// its attempt gave up is counted late, or, with no handler listening on
// core NATS, the order is a definite failure.
func TestReadSideResubmissionAndLateAnswers(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"queue", "queue-memory", "queue-atmostonce"} {
		t.Run(name, func(t *testing.T) {
			tgt := designtest.New(t, name).(*queue.Target)
			if err := tgt.Setup(ctx, targets.Stock{Products: 2, Capacity: 10}); err != nil {
				t.Fatal(err)
			}
			var clients [2]targets.Client
			for i := range clients {
				c, err := tgt.NewClient(ctx, i)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				clients[i] = c
			}
			twoPhase := name != "queue-atmostonce"
			o := targets.Order{ID: 1, Product: 1, Quantity: 2, Attempt: 1}
			rep := buy(clients[0], o, 10*time.Second)
			if rep.Outcome != targets.Confirmed || (rep.Accepted > 0) != twoPhase {
				t.Fatalf("buy: %+v; want confirmed, accepted %v", rep, twoPhase)
			}
			rd := clients[0].(targets.Reader)
			if ok, err := rd.Shows(ctx, 1); !ok || err != nil {
				t.Errorf("Shows(confirmed order 1) = %v, %v; want true", ok, err)
			}
			if ok, err := rd.Shows(ctx, 777); ok || err != nil {
				t.Errorf("Shows(order 777, never bought) = %v, %v; want false", ok, err)
			}
			// The double-click, from the other client: a duplicate publish
			// for the queue designs, answered by the handler all the same.
			o.Attempt = 1
			if rep := buy(clients[1], o, 10*time.Second); rep.Outcome != targets.Confirmed {
				t.Errorf("resubmission from another client: %+v; want confirmed", rep)
			}
			// And a retry from the same client.
			o.Attempt = 2
			if rep := buy(clients[0], o, 10*time.Second); rep.Outcome != targets.Confirmed {
				t.Errorf("retry: %+v; want confirmed", rep)
			}
			big := targets.Order{ID: 2, Product: 1, Quantity: 9, Attempt: 1}
			if rep := buy(clients[1], big, 10*time.Second); rep.Outcome != targets.SoldOut {
				t.Errorf("9 of the 8 left: %+v; want sold out", rep)
			}
			if ok, _ := rd.Shows(ctx, 2); ok {
				t.Error("Shows(sold-out order 2) = true")
			}

			tgt.StopHandlers()
			late := targets.Order{ID: 3, Product: 0, Quantity: 1, Attempt: 1}
			rep = buy(clients[0], late, 300*time.Millisecond)
			if !twoPhase {
				if rep.Outcome != targets.Error || !errors.Is(rep.Err, nats.ErrNoResponders) {
					t.Errorf("no handler listening: %+v; want a definite error, no responders", rep)
				}
			} else if rep.Outcome != targets.Unknown || rep.Accepted <= 0 || !errors.Is(rep.Err, queue.ErrNoAnswer) {
				t.Errorf("handlers stopped: %+v; want unknown, accepted", rep)
			}
			if err := tgt.StartHandlers(ctx); err != nil {
				t.Fatal(err)
			}
			if twoPhase {
				// The queued order is decided once the handlers are back, and
				// its answer reaches the client after its attempt returned.
				eventually(10*time.Second, func() bool { return tgt.LateAnswers() >= 1 })
				if n := tgt.LateAnswers(); n != 1 {
					t.Errorf("late answers %d; want 1", n)
				}
			}
			a, err := tgt.Audit(ctx)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := targets.CollectOrders(a.Orders)
			if err != nil {
				t.Fatal(err)
			}
			applied := map[targets.OrderID]int32{}
			for _, r := range recs {
				applied[r.ID] += r.Applied
			}
			switch name {
			case "queue":
				// Order 1 applied once, for all its submissions; order 3
				// decided after the restart.
				if a.Sold[0] != 1 || a.Sold[1] != 2 || applied[1] != 1 || applied[3] != 1 || len(applied) != 2 {
					t.Errorf("audit: sold %v, applied %v; want [1 2], orders 1 and 3 once", a.Sold, applied)
				}
			case "queue-memory":
				// The restarted handler forgot order 1: its memory is gone.
				if a.Sold[0] != 1 || a.Sold[1] != 0 || applied[3] != 1 || len(applied) != 1 {
					t.Errorf("audit: sold %v, applied %v; want [1 0], order 3 once (order 1 forgotten)", a.Sold, applied)
				}
			default:
				if a.Sold[0] != 0 || a.Sold[1] != 0 || len(applied) != 0 {
					t.Errorf("audit: sold %v, applied %v; want nothing (a restart forgets, order 3 never reached a handler)", a.Sold, applied)
				}
			}
		})
	}
}

// eventually polls cond until it holds or d has passed, and reports
// whether it held.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// restartScenario: a steady 600 orders/s for 4s over 8 shows of 400
// seats, short timeouts, one retry: long enough to stop the handlers
// while orders keep coming, and to start them again.
const restartScenario = `name: handler-restart
seed: 1
stock: {products: 8, capacity: 400}
demand: {quantity: {min: 1, max: 2}, popularity: uniform}
arrivals: {mode: constant, process: even, rate: 600, duration: 4s, workers: 32}
client: {timeout: 500ms, retries: 1, backoff: 50ms, double_click: 0.05, double_click_after: 200ms}
`

// A handler restart in the middle of a run of queue: once the run has made
// stopAfter attempts the handlers stop; once it has made pausedFor more
// with the handlers down (buyers waiting out their timeouts), they start
// again. The orders accepted meanwhile wait in the stream and are decided
// after the restart: nothing confirmed is lost, nothing is applied twice,
// nothing oversold, and the pause shows in the figures.
func TestHandlerRestart(t *testing.T) {
	const stopAfter, pausedFor = 300, 48
	sc, err := scenario.Parse([]byte(restartScenario), "handler-restart")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tgt := designtest.New(t, "queue").(*queue.Target)
	events := make(chan bench.Progress, 16)
	type mark struct {
		attempts int64
		at       time.Duration
	}
	var stoppedAt, restartedAt mark
	done := make(chan error, 1)
	go func() {
		stopped, restarted := false, false
		base := int64(-1) // attempts when the handlers were down
		for p := range events {
			switch {
			case !stopped && p.Attempts > stopAfter:
				stoppedAt = mark{p.Attempts, p.Elapsed}
				tgt.StopHandlers()
				stopped = true
			case stopped && base < 0:
				base = p.Attempts
			case stopped && !restarted && p.Attempts >= base+pausedFor:
				restarted, restartedAt = true, mark{p.Attempts, p.Elapsed}
				done <- tgt.StartHandlers(ctx)
			}
		}
		if !restarted {
			done <- errors.New("the run ended before the handlers were restarted")
		}
	}()
	opt := bench.Options{Progress: func(p bench.Progress) {
		select {
		case events <- p:
		default: // the controller is busy stopping: it reads the next one
		}
	}}
	r, err := bench.Run(ctx, "queue", tgt, scenario.NewPlan(sc), opt)
	close(events) // the monitor, the only sender, has returned
	if rerr := <-done; rerr != nil {
		t.Fatal(rerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	k := r.Checks
	t.Logf("stopped at %d attempts (%.1fs), restarted at %d (%.1fs); p50 %dus p99 %dus; confirmed %d sold out %d unknown %d errors %d expired %d; late answers %d; sold %d/%d oversold %d duplicated %d lost %d phantom %d",
		stoppedAt.attempts, stoppedAt.at.Seconds(), restartedAt.attempts, restartedAt.at.Seconds(), r.LatencyUS.P50, r.LatencyUS.P99,
		r.Orders.Confirmed, r.Orders.SoldOut, r.Orders.Unknown, r.Orders.Errors, r.Orders.Expired, r.Orders.LateAnswers,
		k.Sold, k.Capacity, k.Oversold, k.DuplicatedOrders, k.Lost, k.Phantom)
	answered := make([]int64, len(r.Timeline))
	for i, s := range r.Timeline {
		answered[i] = s.Confirmed + s.SoldOut
		t.Logf("second %d: attempts %d confirmed %d sold out %d unknown %d p99 %dus", s.T, s.Attempts, s.Confirmed, s.SoldOut, s.Unknown, s.P99US)
	}
	if k.Lost != 0 || k.DuplicatedOrders != 0 || k.Oversold != 0 || k.Phantom != 0 {
		t.Errorf("lost %d duplicated %d oversold %d phantom %d; want 0", k.Lost, k.DuplicatedOrders, k.Oversold, k.Phantom)
	}
	if r.Info.Settings["handler_restarts"] != "1" {
		t.Errorf("handler_restarts %q, want 1", r.Info.Settings["handler_restarts"])
	}
	// The pause: buyers left without an answer, or a second with fewer
	// answers than the run's best.
	var best, worst int64 = 0, -1
	for _, n := range answered[:max(len(answered)-1, 0)] { // the last second is partial
		best = max(best, n)
		if worst < 0 || n < worst {
			worst = n
		}
	}
	if r.Orders.Unknown == 0 && worst*2 > best {
		t.Errorf("no unknown answers and no slow second (answers a second %v): the pause does not show", answered)
	}
}

// Close leaves nothing running: no handler, no consumer, no connection of
// nats.go, no pool's goroutine, after a run that stopped and restarted its
// handlers.
func TestCloseLeavesNothingRunning(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"queue", "queue-atmostonce"} {
		tgt := designtest.New(t, name).(*queue.Target)
		if err := tgt.Setup(ctx, targets.Stock{Products: 3, Capacity: 5}); err != nil {
			t.Fatal(err)
		}
		c, err := tgt.NewClient(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if rep := buy(c, targets.Order{ID: 1, Product: 2, Quantity: 1, Attempt: 1}, 10*time.Second); rep.Outcome != targets.Confirmed {
			t.Errorf("%s: %+v, want confirmed", name, rep)
		}
		if ok, err := c.(targets.Reader).Shows(ctx, 1); !ok || err != nil {
			t.Errorf("%s: Shows = %v, %v", name, ok, err)
		}
		tgt.StopHandlers()
		if err := tgt.StartHandlers(ctx); err != nil {
			t.Fatal(err)
		}
		c.Close()
		if _, err := tgt.Audit(ctx); err != nil {
			t.Fatal(err)
		}
		tgt.Close()
	}
	var left []string
	if !eventually(10*time.Second, func() bool {
		left = running("stampede/targets/queue.", "nats-io/nats%2ego", "jackc/puddle")
		return len(left) == 0
	}) {
		t.Errorf("goroutines left after Close:\n%s", strings.Join(left, "\n\n"))
	}
}

// running returns the stacks of the goroutines running code of any of
// pkgs (as stacks spell them: nats.go's functions are nats%2ego's), but
// this test's.
func running(pkgs ...string) []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "queue_test.") {
			continue
		}
		for _, p := range pkgs {
			if strings.Contains(g, p) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}
