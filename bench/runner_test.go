package bench

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stampede-bench/stampede/bench/results"
	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
	_ "github.com/stampede-bench/stampede/targets/memory"
)

func runTarget(t *testing.T, ctx context.Context, name string, sc *scenario.Scenario, opts ...string) *results.TargetRun {
	t.Helper()
	regs, cfgs, err := targets.Resolve([]string{name}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tgt, err := regs[0].New(cfgs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	res, err := Run(ctx, name, tgt, scenario.NewPlan(sc), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// The reference designs on the real flash crowd: the correct one is
// correct, and the checker catches the racy one.
func TestFlashCrowdReferences(t *testing.T) {
	sc := mustBuiltin(t, "flash-crowd")
	seats, buyers := int64(sc.Stock.Products)*sc.Stock.Capacity, int64(sc.Demand.Buyers)
	mem := runTarget(t, context.Background(), "memory", sc)
	c := mem.Checks
	if c.Oversold != 0 || c.DuplicatedOrders != 0 || c.Lost != 0 || c.Phantom != 0 {
		t.Errorf("memory: oversold %d, duplicated %d, lost %d, phantom %d; want all 0", c.Oversold, c.DuplicatedOrders, c.Lost, c.Phantom)
	}
	if c.Contradicted != 0 {
		t.Errorf("memory: %d orders told both yes and no, want 0", c.Contradicted)
	}
	if c.Sold != seats || c.Capacity != seats {
		t.Errorf("memory: sold %d of %d, want all %d seats sold", c.Sold, c.Capacity, seats)
	}
	if mem.Orders.Submitted != buyers {
		t.Errorf("memory: %d orders submitted, want %d", mem.Orders.Submitted, buyers)
	}
	if mem.Orders.Submissions <= mem.Orders.Submitted {
		t.Errorf("memory: %d submissions for %d orders: no double-click was sent", mem.Orders.Submissions, mem.Orders.Submitted)
	}
	o := mem.Orders
	if sum := o.Confirmed + o.SoldOut + o.Rejected + o.Unknown + o.Errors; sum != o.Attempts {
		t.Errorf("memory: outcomes add up to %d, attempts %d", sum, o.Attempts)
	}
	if mem.LatencyUS.Count != o.Submissions || mem.ServiceUS.Count != o.Attempts {
		t.Errorf("memory: %d response and %d service values for %d submissions and %d attempts",
			mem.LatencyUS.Count, mem.ServiceUS.Count, o.Submissions, o.Attempts)
	}
	byOutcome := mem.LatencyByOutcome
	if byOutcome["confirmed"].Count+byOutcome["sold_out"].Count != o.Submissions || len(byOutcome) != 2 {
		t.Errorf("memory: response by outcome %+v does not split the %d submissions into confirmed and sold out", byOutcome, o.Submissions)
	}
	if mem.SoldOutAtS == nil {
		t.Error("memory: the sell-out was not noticed")
	}
	var sold int64
	for _, s := range mem.Timeline {
		sold += s.Sold
	}
	if sold != seats {
		t.Errorf("memory: timeline sells %d seats, want %d", sold, seats)
	}

	racy := runTarget(t, context.Background(), "memory-racy", sc)
	if racy.Checks.Oversold <= 0 || racy.Checks.DuplicatedOrders <= 0 {
		t.Errorf("memory-racy: oversold %d, duplicated %d; want both above 0", racy.Checks.Oversold, racy.Checks.DuplicatedOrders)
	}
	if racy.Checks.Lost != 0 {
		t.Errorf("memory-racy: lost %d, want 0 (it loses nothing, it oversells)", racy.Checks.Lost)
	}
}

// Coordinated omission: a design that stalls for a second during a
// constant-rate run. Response time counts from the intended start, so the
// queue behind the stall shows; service time, from the actual send, stays
// small for all but the few calls caught inside the stall.
func TestCoordinatedOmission(t *testing.T) {
	var stall sync.Mutex
	var once sync.Once
	began := time.Now()
	tgt := newFuncTarget(func(ctx context.Context, o targets.Order) targets.Reply {
		if time.Since(began) > time.Second {
			once.Do(func() {
				stall.Lock() // the whole design freezes for 1s
				time.AfterFunc(time.Second, stall.Unlock)
			})
		}
		stall.Lock()
		stall.Unlock() //nolint:staticcheck // waiting out the stall is the point
		return targets.Reply{Outcome: targets.Confirmed}
	})
	sc := testScenario(1000, 4*time.Second, 8)
	began = time.Now()
	res, err := Run(context.Background(), "stall", tgt, scenario.NewPlan(sc), Options{})
	if err != nil {
		t.Fatal(err)
	}
	resp, svc := time.Duration(res.LatencyUS.P99)*time.Microsecond, time.Duration(res.ServiceUS.P99)*time.Microsecond
	t.Logf("response p99 %s, service p99 %s, max %s", resp, svc, time.Duration(res.LatencyUS.Max)*time.Microsecond)
	if resp < 500*time.Millisecond {
		t.Errorf("response p99 %s, want at least 500ms: the stall is hidden", resp)
	}
	if svc > 50*time.Millisecond {
		t.Errorf("service p99 %s, want under 50ms", svc)
	}
	if res.Orders.Attempts != 4000 {
		t.Errorf("%d attempts, want all 4000 scheduled", res.Orders.Attempts)
	}
	// About 1000 sends were due during the stall and left late.
	if g := res.Generator; g.LateSends < 500 || g.MaxLagUS < 500_000 {
		t.Errorf("%d late sends, worst %dus: the stall's queue is not reported", g.LateSends, g.MaxLagUS)
	}
}

// Open-loop accuracy: against memory at a constant 5,000 orders/s, the
// achieved attempt rate is the rate asked for (the bound is loose enough
// for a busy 2-core machine under -race; BenchmarkOpenLoopRate measures
// the accuracy at 50,000/s).
func TestOpenLoopRate(t *testing.T) {
	const rate = 5000
	sc := testScenario(rate, 2*time.Second, 32)
	res := runTarget(t, context.Background(), "memory", sc)
	got := res.Generator.AttemptRate
	t.Logf("asked %d/s, achieved %.1f/s, max lag %dus", rate, got, res.Generator.MaxLagUS)
	if got < rate*0.95 || got > rate*1.01 {
		t.Errorf("achieved %.1f attempts/s, want within -5%%/+1%% of %d", got, rate)
	}
	if res.Orders.Attempts != 10000 {
		t.Errorf("%d attempts, want the schedule's 10000", res.Orders.Attempts)
	}
}

// BenchmarkOpenLoopRate runs memory at a constant 50,000 orders/s for 5s
// per op and reports the achieved rate as a share of the asked one
// (rate_ratio, 1 is exact) and the send lag's p99.
func BenchmarkOpenLoopRate(b *testing.B) {
	const rate = 50000
	regs, cfgs, err := targets.Resolve([]string{"memory"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	var ratio, lag float64
	for range b.N {
		tgt, err := regs[0].New(cfgs[0])
		if err != nil {
			b.Fatal(err)
		}
		res, err := Run(context.Background(), "memory", tgt, scenario.NewPlan(testScenario(rate, 5*time.Second, 32)), Options{})
		tgt.Close()
		if err != nil {
			b.Fatal(err)
		}
		ratio += res.Generator.AttemptRate / rate
		lag += float64(res.Generator.LagUS.P99)
	}
	b.ReportMetric(ratio/float64(b.N), "rate_ratio")
	b.ReportMetric(lag/float64(b.N), "lag_p99_us")
}

// A design that never answers in time: every attempt times out, is retried
// once with the same order id, and ends Unknown.
func TestTimeoutsAndRetries(t *testing.T) {
	var mu sync.Mutex
	attempts := map[targets.OrderID][]int{}
	tgt := newFuncTarget(func(ctx context.Context, o targets.Order) targets.Reply {
		mu.Lock()
		attempts[o.ID] = append(attempts[o.ID], o.Attempt)
		mu.Unlock()
		<-ctx.Done() // a design that waits on the context
		return targets.Reply{Outcome: targets.Unknown, Err: ctx.Err()}
	})
	sc := testScenario(100, time.Second, 8)
	sc.Client = scenario.Client{Timeout: scenario.Duration(20 * time.Millisecond), Retries: 1}
	res, err := Run(context.Background(), "slow", tgt, scenario.NewPlan(sc), Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := res.Orders
	if o.Attempts != 200 || o.Unknown != 200 || o.Retries != 100 || o.Submitted != 100 {
		t.Errorf("attempts %d, unknown %d, retries %d, submitted %d; want 200, 200, 100, 100", o.Attempts, o.Unknown, o.Retries, o.Submitted)
	}
	if res.Checks.Unresolved != 100 {
		t.Errorf("unresolved %d, want 100", res.Checks.Unresolved)
	}
	if len(o.ErrorSamples) != 1 || o.ErrorSamples[0] != "unknown: context deadline exceeded" {
		t.Errorf("error samples %q, want the one timeout", o.ErrorSamples)
	}
	for id, a := range attempts {
		if len(a) != 2 || a[0] != 1 || a[1] != 2 {
			t.Fatalf("order %d saw attempts %v, want [1 2]", id, a)
		}
	}
	// Each attempt waited its 20ms timeout, and no longer than a busy
	// machine's scheduling adds; the response spans both.
	if p50 := time.Duration(res.ServiceUS.P50) * time.Microsecond; p50 < 20*time.Millisecond || p50 > 200*time.Millisecond {
		t.Errorf("service p50 %s, want the 20ms timeout (and well under 200ms)", p50)
	}
	if p50 := time.Duration(res.LatencyUS.P50) * time.Microsecond; p50 < 40*time.Millisecond {
		t.Errorf("response p50 %s, want at least two timeouts (40ms)", p50)
	}
}

// Ctrl-C: a cancelled run stops at once and says it was interrupted.
func TestInterrupt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	tgt := newFuncTarget(func(ctx context.Context, o targets.Order) targets.Reply {
		select { // a slow design that honours cancellation
		case <-ctx.Done():
			return targets.Reply{Outcome: targets.Unknown, Err: ctx.Err()}
		case <-time.After(5 * time.Millisecond):
			return targets.Reply{Outcome: targets.Confirmed}
		}
	})
	sc := testScenario(1000, 30*time.Second, 8)
	time.AfterFunc(500*time.Millisecond, cancel)
	start := time.Now()
	res, err := Run(ctx, "slow", tgt, scenario.NewPlan(sc), Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Stopped within moments: a generous ceiling, far below the 30s the
	// schedule would take.
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the run took %s to stop after cancel at 500ms", took)
	}
	if !res.Interrupted {
		t.Error("result not marked interrupted")
	}
	if res.Orders.Attempts < 10 || res.Orders.Attempts > 1000 {
		t.Errorf("%d attempts, want the orders of about half a second", res.Orders.Attempts)
	}
	if res.Checks.Lost != 0 {
		t.Errorf("lost %d: cancelled attempts must not count as confirmed", res.Checks.Lost)
	}
}

// Closed loop: users buy back to back; with the sold-out stop the run ends
// soon after the stock is gone.
func TestClosedLoopSoldOutStop(t *testing.T) {
	sc := mustBuiltin(t, "hot-product")
	sc.Stock.Capacity = 20000
	sc.Arrivals.Users = 8
	sc.Stop = scenario.Stop{SoldOut: true, Grace: scenario.Duration(100 * time.Millisecond)}
	start := time.Now()
	res := runTarget(t, context.Background(), "memory", sc)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("run took %s; the sold-out stop should end it well before its 10s", took)
	}
	if res.Loop != "closed" || res.SoldOutAtS == nil {
		t.Fatalf("loop %q, sold out at %v; want closed and a sell-out", res.Loop, res.SoldOutAtS)
	}
	if res.Checks.Sold != 20000 || res.Orders.Confirmed != 20000 || res.Checks.Oversold != 0 {
		t.Errorf("sold %d, confirmed %d, oversold %d; want 20000, 20000, 0", res.Checks.Sold, res.Orders.Confirmed, res.Checks.Oversold)
	}
	if res.Orders.SoldOut == 0 {
		t.Error("no sold-out answers during the grace period")
	}
}

// A failing setup is an error naming the design.
func TestSetupError(t *testing.T) {
	_, err := Run(context.Background(), "broken", &brokenTarget{}, scenario.NewPlan(testScenario(10, time.Second, 1)), Options{})
	if err == nil || !errors.Is(err, errBroken) {
		t.Fatalf("error %v, want one wrapping the setup failure", err)
	}
}

var errBroken = errors.New("no backend")

type brokenTarget struct{ funcTarget }

func (*brokenTarget) Setup(context.Context, targets.Stock) error { return errBroken }

// The rate check can fail: one worker against a design that takes 1ms per
// order cannot send 2000 orders a second, and the achieved rate says so.
func TestOpenLoopRateShowsAStarvedGenerator(t *testing.T) {
	tgt := newFuncTarget(func(ctx context.Context, o targets.Order) targets.Reply {
		time.Sleep(time.Millisecond)
		return targets.Reply{Outcome: targets.Confirmed}
	})
	res, err := Run(context.Background(), "slow", tgt, scenario.NewPlan(testScenario(2000, time.Second, 1)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Generator.AttemptRate; got > 1200 {
		t.Errorf("achieved %.0f attempts/s with one worker and 1ms per order, want at most about 1000", got)
	}
	if res.Generator.LateSends < 1000 {
		t.Errorf("%d late sends, want most of the 2000", res.Generator.LateSends)
	}
}

// A design too slow for the crowd: the run ends (stop.duration) with buyers
// still waiting for a free sender. None of them vanishes: each is counted
// not sent, and each one's response time runs to the end of the run, so
// the percentiles cannot improve because the design was slow.
func TestBuyersQueuedAtTheEndAreCounted(t *testing.T) {
	tgt := newFuncTarget(func(ctx context.Context, o targets.Order) targets.Reply {
		time.Sleep(20 * time.Millisecond) // 2 workers: about 100 orders/s
		return targets.Reply{Outcome: targets.Confirmed}
	})
	sc := testScenario(500, 400*time.Millisecond, 2) // 200 buyers, all due within 400ms
	sc.Stop.Duration = scenario.Duration(time.Second)
	res, err := Run(context.Background(), "slow", tgt, scenario.NewPlan(sc), Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := res.Orders
	t.Logf("buyers %d: submitted %d, not sent %d (queued at end %d, not due %d); response p50 %dus",
		o.Buyers, o.Submitted, o.NotSent, o.QueuedAtEnd, o.NotDue, res.LatencyUS.P50)
	if o.Buyers != 200 || o.Submitted+o.NotSent != o.Buyers {
		t.Errorf("buyers %d, submitted %d + not sent %d: want 200 buyers, every one accounted for", o.Buyers, o.Submitted, o.NotSent)
	}
	if o.QueuedAtEnd < 50 || o.NotSent != o.QueuedAtEnd || o.NotDue != 0 {
		t.Errorf("queued at end %d, not sent %d, not due %d: want the slow design's backlog (about 100), all due", o.QueuedAtEnd, o.NotSent, o.NotDue)
	}
	if o.Scheduled != 200 || o.Submissions+o.QueuedAtEnd+o.NotDue != o.Scheduled {
		t.Errorf("scheduled %d != submissions %d + queued %d + not due %d", o.Scheduled, o.Submissions, o.QueuedAtEnd, o.NotDue)
	}
	q := res.LatencyByOutcome["queued_at_end"]
	if q.Count != o.QueuedAtEnd || res.LatencyUS.Count != o.Submissions+o.QueuedAtEnd {
		t.Errorf("response histogram holds %d values, %d of them queued; want %d + %d", res.LatencyUS.Count, q.Count, o.Submissions, o.QueuedAtEnd)
	}
	// Every queued buyer was due by 400ms and waited to the end.
	if floor := int64((res.DurationS - 0.4) * 1e6 * 0.99); q.P50 < floor || res.LatencyUS.P99 < floor {
		t.Errorf("queued p50 %dus, response p99 %dus: want at least %dus (run end minus the last due time)", q.P50, res.LatencyUS.P99, floor)
	}
}

// A run stopped before its schedule is over: the buyers not yet due are
// counted apart from those the design kept waiting.
func TestBuyersNotDueWhenTheRunStopsEarly(t *testing.T) {
	sc := testScenario(1000, 2*time.Second, 4)
	sc.Stop.Duration = scenario.Duration(500 * time.Millisecond)
	res := runTarget(t, context.Background(), "memory", sc)
	o := res.Orders
	if o.NotDue < 1000 || o.Submitted+o.NotSent != o.Buyers || o.Buyers != 2000 {
		t.Errorf("buyers %d, submitted %d, not sent %d, not due %d: want 2000 buyers, about 1500 not due", o.Buyers, o.Submitted, o.NotSent, o.NotDue)
	}
	if o.Submissions+o.QueuedAtEnd+o.NotDue != o.Scheduled {
		t.Errorf("scheduled %d != submissions %d + queued %d + not due %d", o.Scheduled, o.Submissions, o.QueuedAtEnd, o.NotDue)
	}
	if res.LatencyUS.Count != o.Submissions+o.QueuedAtEnd {
		t.Errorf("%d response times for %d submissions and %d queued: a buyer not yet due has no response time", res.LatencyUS.Count, o.Submissions, o.QueuedAtEnd)
	}
}

// The client timeout runs from the click, not from the send: a buyer who
// waited for a free sender longer than its timeout has given up, and is
// never sent; it counts as a timeout of exactly its timeout, and the
// design never sees the attempt.
func TestTimeoutRunsWhileQueued(t *testing.T) {
	var calls atomic.Int64
	var stale atomic.Int64 // attempts that reached the design after their deadline
	tgt := newFuncTarget(func(ctx context.Context, o targets.Order) targets.Reply {
		calls.Add(1)
		if dl, ok := ctx.Deadline(); ok && time.Now().After(dl) {
			stale.Add(1)
		}
		time.Sleep(30 * time.Millisecond) // one worker: about 33 orders/s
		return targets.Reply{Outcome: targets.Confirmed}
	})
	sc := testScenario(100, time.Second, 1)
	sc.Client = scenario.Client{Timeout: scenario.Duration(100 * time.Millisecond)}
	var last Progress // the monitor's goroutine writes it; read after Run returns
	res, err := Run(context.Background(), "slow", tgt, scenario.NewPlan(sc), Options{Progress: func(p Progress) { last = p }})
	if err != nil {
		t.Fatal(err)
	}
	o := res.Orders
	t.Logf("attempts %d, expired %d, not sent %d, submitted %d", o.Attempts, o.Expired, o.NotSent, o.Submitted)
	// The live figures (-metrics, -progress json) saw the generator fall
	// behind while it did, and never more than the run's totals.
	if g := res.Generator; last.LateSends < 1 || last.LateSends > g.LateSends || last.Expired < 1 || last.Expired > o.Expired ||
		last.MaxLag <= 0 || last.MaxLag.Microseconds() > g.MaxLagUS {
		t.Errorf("last progress: %d late sends (run: %d), %d expired (run: %d), max lag %s (run: %dµs)",
			last.LateSends, g.LateSends, last.Expired, o.Expired, last.MaxLag, g.MaxLagUS)
	}
	if o.Expired < 20 || o.Attempts+o.Expired != 100 || o.Attempts != calls.Load() {
		t.Errorf("attempts %d (design saw %d) + expired %d: want 100, with many expired", o.Attempts, calls.Load(), o.Expired)
	}
	if o.NotSent != o.Expired || o.Submitted+o.NotSent != 100 || o.QueuedAtEnd != 0 {
		t.Errorf("submitted %d, not sent %d, queued at end %d: want every expired buyer not sent, none left queued", o.Submitted, o.NotSent, o.QueuedAtEnd)
	}
	if n := stale.Load(); n > 0 {
		t.Errorf("%d attempts reached the design after their buyer's timeout", n)
	}
	e := res.LatencyByOutcome["expired"]
	if e.Count != o.Expired || e.P50 < 99_000 || e.Max > 101_000 {
		t.Errorf("expired response times %+v: want %d values of the 100ms timeout", e, o.Expired)
	}
}

// Scenario files with only the required fields run with their defaults.
func TestMinimalScenariosRun(t *testing.T) {
	open, err := scenario.Parse([]byte("stock: {products: 2, capacity: 10}\narrivals: {mode: constant, rate: 100, duration: 500ms}\n"), "minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res := runTarget(t, context.Background(), "memory", open)
	if res.Orders.Submitted != 50 || res.Checks.Sold != 20 {
		t.Errorf("minimal file on memory: %d submitted, %d sold; want 50 and all 20 tickets", res.Orders.Submitted, res.Checks.Sold)
	}
	closed, err := scenario.Parse([]byte("stock: {products: 1, capacity: 100}\ndemand: {buyers: 500}\narrivals: {mode: closed, users: 4, duration: 200ms}\n"), "closed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if res := runTarget(t, context.Background(), "memory", closed); res.Checks.Sold != 100 {
		t.Errorf("closed-loop file on memory: sold %d, want all 100 tickets", res.Checks.Sold)
	}
}

// Late retries reach the design long after the first answer: an
// idempotent design answers them with the original outcome and applies
// nothing twice; one without idempotency sells them again, and the
// checker says so.
func TestLateRetries(t *testing.T) {
	sc := mustBuiltin(t, "late-retry")
	sc.Demand.Buyers, sc.Arrivals.Rate, sc.Arrivals.Duration = 300, 300, scenario.Duration(time.Second)
	sc.Client.LateRetry.After = scenario.Duration(1500 * time.Millisecond)
	mem := runTarget(t, context.Background(), "memory", sc)
	o := mem.Orders
	if o.LateRetries < 30 || o.Submissions != int64(sc.Demand.Buyers)+o.LateRetries || mem.Checks.DuplicatedOrders != 0 {
		t.Errorf("memory: %d late retries, %d submissions, %d duplicated: want about 60 retries sent, none applied twice", o.LateRetries, o.Submissions, mem.Checks.DuplicatedOrders)
	}
	racy := runTarget(t, context.Background(), "memory-racy", sc)
	if racy.Checks.DuplicatedOrders < racy.Orders.LateRetries/2 {
		t.Errorf("memory-racy: %d duplicated of %d late retries: want most late retries applied again", racy.Checks.DuplicatedOrders, racy.Orders.LateRetries)
	}
}

// A waiting room lets buyers in at its rate, in the order they clicked:
// the design sees no more than that, so its service time stays as when
// unloaded; the buyers' wait is recorded apart and their response time
// still runs from the click; the queue's length is in the timeline.
func TestWaitingRoom(t *testing.T) {
	sc := testScenario(2000, 500*time.Millisecond, 8)  // 1,000 clicks in half a second
	sc.WaitingRoom.Rate = 1000                         // let in over a second
	sc.Client.Timeout = scenario.Duration(time.Second) // from the admission: no one expires
	var inFlight, most atomic.Int64
	res, err := Run(context.Background(), "room", newFuncTarget(func(context.Context, targets.Order) targets.Reply {
		n := inFlight.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(time.Millisecond)
		inFlight.Add(-1)
		return targets.Reply{Outcome: targets.Confirmed}
	}), scenario.NewPlan(sc), Options{})
	if err != nil {
		t.Fatal(err)
	}
	wr := res.WaitingRoom
	if wr == nil || wr.WaitUS.Count != 1000 || res.Orders.Confirmed != 1000 || res.Orders.Expired != 0 {
		t.Fatalf("waiting room %+v, %d confirmed, %d expired: want 1000 buyers through, none expired", wr, res.Orders.Confirmed, res.Orders.Expired)
	}
	// The last buyers clicked at about 0.5s and were let in at about 1s.
	if wr.WaitUS.Max < 400_000 || wr.WaitUS.Max > 600_000 || wr.MaxQueue < 400 || res.Histograms.RoomWait == "" {
		t.Errorf("wait max %dus, queue max %d: want about 500ms and 500 buyers", wr.WaitUS.Max, wr.MaxQueue)
	}
	if res.LatencyUS.Max < wr.WaitUS.Max || res.ServiceUS.P50 > 100_000 {
		t.Errorf("response max %dus, service p50 %dus: want the wait in the response, not in the service", res.LatencyUS.Max, res.ServiceUS.P50)
	}
	if res.Generator.AttemptRate > 1100 {
		t.Errorf("the design saw %.0f attempts/s, more than the room's 1000", res.Generator.AttemptRate)
	}
	q := scenario.NewPlan(sc).RoomQueue()
	if q, end := q.At(int64(450*time.Millisecond)), q.At(int64(1100*time.Millisecond)); q < 350 || end != 0 {
		t.Errorf("waiting at 0.45s: %d, at 1.1s: %d; want about 450, then none", q, end)
	}
}
