//go:build linux

package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
)

// loopTarget is funcTarget with an event-loop client: each attempt waits
// through the loop (a sleep, or a descriptor that stays silent) before it
// sells as funcTarget does.
type loopTarget struct {
	*funcTarget
	delay       time.Duration
	silentFD    int // when >= 0, Buy waits on it (nothing ever arrives)
	noLoop      bool
	loopClients atomic.Int32
}

func (t *loopTarget) NewLoopClient(_ context.Context, _ int, l targets.Loop) (targets.Client, error) {
	if t.noLoop {
		return nil, targets.ErrNoLoop
	}
	t.loopClients.Add(1)
	c := &loopClient{t: t, l: l}
	if t.silentFD >= 0 {
		fd, err := unix.Dup(t.silentFD)
		if err != nil {
			return nil, err
		}
		if c.fd, err = l.Register(fd); err != nil {
			return nil, err
		}
		c.closeFD = func() { unix.Close(fd) }
	}
	return c, nil
}

var _ targets.LoopTarget = (*loopTarget)(nil)

type loopClient struct {
	t       *loopTarget
	l       targets.Loop
	fd      targets.LoopFD
	closeFD func()
}

func (c *loopClient) Buy(ctx context.Context, o targets.Order) targets.Reply {
	if c.closeFD != nil {
		if err := c.fd.Wait(targets.Deadline(ctx)); err != nil {
			return targets.Reply{Outcome: targets.Unknown, Err: err}
		}
	}
	c.l.Sleep(c.t.delay)
	if c.l.Cancelled() {
		return targets.Reply{Outcome: targets.Unknown, Err: context.Canceled}
	}
	return funcClient{c.t.funcTarget}.Buy(ctx, o)
}

func (c *loopClient) Close() error {
	if c.closeFD != nil {
		c.fd.Unregister()
		c.closeFD()
	}
	return nil
}

// sellOne sells while stock lasts (funcTarget's audit then holds the sales).
func sellOne(t *funcTarget) func(context.Context, targets.Order) targets.Reply {
	var mu sync.Mutex
	taken := map[int]int64{}
	return func(_ context.Context, o targets.Order) targets.Reply {
		mu.Lock()
		defer mu.Unlock()
		if taken[o.Product]+o.Quantity > t.stock.Capacity {
			return targets.Reply{Outcome: targets.SoldOut}
		}
		taken[o.Product] += o.Quantity
		return targets.Reply{Outcome: targets.Confirmed}
	}
}

func newLoopTarget(delay time.Duration) *loopTarget {
	ft := newFuncTarget(nil)
	ft.buy = sellOne(ft)
	return &loopTarget{funcTarget: ft, delay: delay, silentFD: -1}
}

func smallHotProduct(t *testing.T, users int, capacity int64) *scenario.Scenario {
	sc := mustBuiltin(t, "hot-product")
	sc.Stock.Capacity = capacity
	sc.Arrivals.Users = users
	sc.Stop = scenario.Stop{SoldOut: true, Grace: scenario.Duration(50 * time.Millisecond)}
	return sc
}

// Closed-loop users of a design with an event-loop client run as tasks of
// one loop, sell exactly the stock, and say so in the results.
func TestClosedLoopOnEventLoop(t *testing.T) {
	for _, goroutines := range []bool{false, true} {
		tgt := newLoopTarget(time.Millisecond)
		res, err := Run(context.Background(), "looped", tgt, scenario.NewPlan(smallHotProduct(t, 8, 400)), Options{Goroutines: goroutines})
		if err != nil {
			t.Fatal(err)
		}
		want, loopClients, goClients := ClientLoop, int32(8), int32(0)
		if goroutines {
			want, loopClients, goClients = ClientGoroutines, 0, 8
		}
		if got := res.Info.Settings["client"]; got != want {
			t.Errorf("goroutines=%v: settings.client %q, want %q", goroutines, got, want)
		}
		if tgt.loopClients.Load() != loopClients || tgt.clients.Load() != goClients {
			t.Errorf("goroutines=%v: %d loop clients and %d goroutine clients, want %d and %d",
				goroutines, tgt.loopClients.Load(), tgt.clients.Load(), loopClients, goClients)
		}
		if res.Checks.Sold != 400 || res.Orders.Confirmed != 400 || res.Checks.Oversold != 0 || res.Checks.Lost != 0 {
			t.Errorf("goroutines=%v: sold %d, confirmed %d, oversold %d, lost %d; want 400, 400, 0, 0",
				goroutines, res.Checks.Sold, res.Orders.Confirmed, res.Checks.Oversold, res.Checks.Lost)
		}
		if res.Orders.SoldOut == 0 {
			t.Errorf("goroutines=%v: no sold-out answers after the sell-out", goroutines)
		}
	}
}

// Cancelling a run whose every task waits on a silent socket ends it at
// once, each wait answered Unknown.
func TestEventLoopInterrupt(t *testing.T) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	tgt := newLoopTarget(0)
	tgt.silentFD = p[0]
	sc := smallHotProduct(t, 6, 1000)
	sc.Client.Timeout = 0 // only the cancel can end the waits
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	res, err := Run(ctx, "silent", tgt, scenario.NewPlan(sc), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second { // a ceiling on a hang, not a timing
		t.Errorf("the run took %s to stop after cancel at 300ms", took)
	}
	if !res.Interrupted || res.Info.Settings["client"] != ClientLoop {
		t.Errorf("interrupted %v, client %q; want true, %q", res.Interrupted, res.Info.Settings["client"], ClientLoop)
	}
	if res.Orders.Attempts != 6 || res.Orders.Unknown != 6 || res.Checks.Lost != 0 {
		t.Errorf("%d attempts, %d unknown, %d lost; want each user's one attempt unknown, none lost",
			res.Orders.Attempts, res.Orders.Unknown, res.Checks.Lost)
	}
}

// A variant without a loop client, and open-loop scenarios, use goroutines.
func TestEventLoopFallback(t *testing.T) {
	tgt := newLoopTarget(0)
	tgt.noLoop = true
	res, err := Run(context.Background(), "noloop", tgt, scenario.NewPlan(smallHotProduct(t, 4, 200)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Info.Settings["client"] != ClientGoroutines || tgt.clients.Load() != 4 || res.Checks.Sold != 200 {
		t.Errorf("ErrNoLoop: client %q, %d goroutine clients, sold %d; want goroutines, 4, 200",
			res.Info.Settings["client"], tgt.clients.Load(), res.Checks.Sold)
	}
	tgt = newLoopTarget(0)
	res, err = Run(context.Background(), "open", tgt, scenario.NewPlan(testScenario(1000, 200*time.Millisecond, 2)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Info.Settings["client"] != ClientGoroutines || tgt.loopClients.Load() != 0 {
		t.Errorf("open loop: client %q with %d loop clients; want goroutines and none", res.Info.Settings["client"], tgt.loopClients.Load())
	}
}
