package sqlcounter_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stampede-bench/stampede/bench"
	"github.com/stampede-bench/stampede/bench/evloop"
	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/designtest"
	"github.com/stampede-bench/stampede/targets/postgres"
	"github.com/stampede-bench/stampede/targets/sqlcounter"
)

func TestMain(m *testing.M) { designtest.Main(m) }

// The row-locked counters on the flash crowd, on a real PostgreSQL.
func TestFlashCrowd(t *testing.T) {
	sc := designtest.Scenario(t, "flash-crowd")
	for _, c := range []struct {
		name       string
		duplicates bool // resubmissions apply again
	}{
		{"sqlcounter", false},
		{"sqlcounter-forupdate", false},
		{"sqlcounter-noidem", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := designtest.Run(t, c.name, sc)
			k := r.Checks
			if k.Oversold != 0 {
				t.Errorf("oversold %d, want 0: a row lock never oversells", k.Oversold)
			}
			if k.Lost != 0 || k.Phantom != 0 {
				t.Errorf("lost %d, phantom %d; want 0", k.Lost, k.Phantom)
			}
			if k.Undersold != 0 {
				t.Errorf("undersold %d, want 0: it says sold out only when the row has too few seats", k.Undersold)
			}
			if c.duplicates && k.DuplicatedOrders == 0 {
				t.Error("duplicated orders 0: without idempotency double-clicks should apply twice")
			}
			if !c.duplicates && k.DuplicatedOrders != 0 {
				t.Errorf("duplicated orders %d, want 0", k.DuplicatedOrders)
			}
			if !c.duplicates && k.Contradicted != 0 {
				t.Errorf("%d orders told both yes and no: a resubmission must get the original outcome", k.Contradicted)
			}
			if out := designtest.Run(t, c.name, designtest.SellOut(t)).Checks; out.Sold != out.Capacity || out.Oversold != 0 {
				t.Errorf("sell-out: sold %d of %d, oversold %d; want every seat and no more", out.Sold, out.Capacity, out.Oversold)
			}
			if !strings.HasPrefix(r.Info.Backend, "PostgreSQL ") || r.Info.Settings["fsync"] == "" || r.Info.Settings["isolation"] != "read committed" {
				t.Errorf("info does not state the server and its durability: %+v", r.Info)
			}
		})
	}
}

// Every double-click of an idempotent design gets the original outcome,
// even when the two clicks race: many resubmissions at once, on a product
// with fewer seats than orders.
func TestResubmissionsGetTheOriginalOutcome(t *testing.T) {
	sc := designtest.Scenario(t, "flash-crowd")
	sc.Stock.Products, sc.Stock.Capacity = 1, 300
	sc.Client.DoubleClick = 1 // every buyer clicks twice
	sc.Client.DoubleClickAfter = 0
	for _, name := range []string{"sqlcounter", "sqlcounter-forupdate"} {
		t.Run(name, func(t *testing.T) {
			r := designtest.Run(t, name, sc)
			k := r.Checks
			if k.DuplicatedOrders != 0 || k.Oversold != 0 || k.Lost != 0 || k.Phantom != 0 || k.Contradicted != 0 {
				t.Errorf("duplicated %d oversold %d lost %d phantom %d contradicted %d; want 0", k.DuplicatedOrders, k.Oversold, k.Lost, k.Phantom, k.Contradicted)
			}
		})
	}
}

func TestNoIdemSQLIsPgbenchSyntax(t *testing.T) {
	for _, v := range []string{":order_id", ":product", ":qty"} {
		if !strings.Contains(sqlcounter.NoIdemSQL, v) {
			t.Errorf("noidem.sql lacks %s: scripts/vs-pgbench could not run it", v)
		}
	}
}

// Closed-loop users of sqlcounter-noidem run on the event loop (its wire
// client) and sell exactly the stock, as they do with a goroutine each
// through pgx; the other variants have no loop client and use goroutines.
func TestClosedLoopClients(t *testing.T) {
	sc := designtest.Scenario(t, "hot-product")
	sc.Stock.Capacity = 300
	sc.Arrivals.Users = 8
	sc.Stop = scenario.Stop{SoldOut: true, Grace: scenario.Duration(100 * time.Millisecond)}
	for _, c := range []struct {
		name       string
		goroutines bool
		client     string
	}{
		{"sqlcounter-noidem", false, bench.ClientLoop},
		{"sqlcounter-noidem", true, bench.ClientGoroutines},
		{"sqlcounter", false, bench.ClientGoroutines},
	} {
		t.Run(fmt.Sprintf("%s/goroutines=%v", c.name, c.goroutines), func(t *testing.T) {
			r := designtest.RunOptions(t, c.name, sc, bench.Options{Goroutines: c.goroutines})
			k := r.Checks
			if got := r.Info.Settings["client"]; got != c.client {
				t.Errorf("settings.client %q, want %q", got, c.client)
			}
			if k.Sold != 300 || r.Orders.Confirmed != 300 || k.Oversold != 0 || k.Lost != 0 || k.Phantom != 0 {
				t.Errorf("sold %d, confirmed %d, oversold %d, lost %d, phantom %d; want 300, 300, 0, 0, 0",
					k.Sold, r.Orders.Confirmed, k.Oversold, k.Lost, k.Phantom)
			}
			if r.Orders.SoldOut == 0 || r.Orders.Errors != 0 || r.Orders.Unknown != 0 {
				t.Errorf("%d sold out, %d errors, %d unknown; want sold-out answers and nothing else", r.Orders.SoldOut, r.Orders.Errors, r.Orders.Unknown)
			}
		})
	}
}

// noIdemOnLoop sets up sqlcounter-noidem with one product of capacity
// seats and returns it with a loop and the loop's client, released when
// the test ends.
func noIdemOnLoop(tb testing.TB, capacity int64) (targets.Target, *evloop.Loop, targets.Client) {
	tb.Helper()
	ctx := context.Background()
	tgt := designtest.New(tb, "sqlcounter-noidem")
	if err := tgt.Setup(ctx, targets.Stock{Products: 1, Capacity: capacity}); err != nil {
		tb.Fatal(err)
	}
	loop, err := evloop.New()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { loop.Close() })
	c, err := tgt.(targets.LoopTarget).NewLoopClient(ctx, 0, loop)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return tgt, loop, c
}

// lockStock locks sqlcounter-noidem's product 0 in a transaction of a
// connection of its own, until the transaction ends or the test does.
func lockStock(t *testing.T) pgx.Tx {
	t.Helper()
	ctx := context.Background()
	tx, err := connect(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1 FROM "+postgres.SchemaName("sqlcounter-noidem")+".stock WHERE product = 0 FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	return tx
}

// An attempt of the wire client that times out behind a row lock is
// Unknown; once the lock goes, it applies, and the next attempt on the same
// connection first reads that late answer, then gets its own.
func TestWireTimeoutThenLateAnswer(t *testing.T) {
	ctx := context.Background()
	tgt, loop, c := noIdemOnLoop(t, 10)
	tx := lockStock(t)
	timedOut, released := make(chan struct{}), make(chan error)
	go func() {
		<-timedOut
		released <- tx.Commit(ctx)
	}()
	var first, second targets.Reply
	loop.Go(func() {
		a, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		first = c.Buy(a, targets.Order{ID: 1, Product: 0, Quantity: 1, Attempt: 1})
		cancel()
		close(timedOut)
		if err := <-released; err != nil { // the only task: blocking here holds up nothing
			t.Error(err)
		}
		b, cancel := context.WithTimeout(ctx, 10*time.Second)
		second = c.Buy(b, targets.Order{ID: 2, Product: 0, Quantity: 1, Attempt: 1})
		cancel()
	})
	if err := loop.Run(); err != nil {
		t.Fatal(err)
	}
	if first.Outcome != targets.Unknown || !errors.Is(first.Err, context.DeadlineExceeded) {
		t.Errorf("behind the lock: %v (%v), want unknown after the deadline", first.Outcome, first.Err)
	}
	if second.Outcome != targets.Confirmed {
		t.Errorf("after the lock: %v (%v), want confirmed", second.Outcome, second.Err)
	}
	audit, err := tgt.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := targets.CollectOrders(audit.Orders)
	if err != nil {
		t.Fatal(err)
	}
	if audit.Sold[0] != 2 || len(recs) != 2 {
		t.Errorf("sold %d in %d orders; want 2 in 2: the unknown attempt applied late, the next one too", audit.Sold[0], len(recs))
	}
}

// BenchmarkWireExec: sqlcounter-noidem's statement through the event-loop
// wire client, one task, back to back. Allocations per op are the client's
// own per-order cost (0 is the goal).
func BenchmarkWireExec(b *testing.B) {
	ctx := context.Background()
	_, loop, c := noIdemOnLoop(b, 1<<40)
	loop.Go(func() {
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if r := c.Buy(ctx, targets.Order{ID: targets.OrderID(i + 1), Product: 0, Quantity: 1, Attempt: 1}); r.Outcome != targets.Confirmed {
				b.Fatalf("order %d: %v (%v)", i+1, r.Outcome, r.Err)
			}
		}
	})
	if err := loop.Run(); err != nil {
		b.Fatal(err)
	}
}

// poolWatch counts, from the run's progress callback (about four times a
// second, from one goroutine), the connections a design's buyers hold, and
// keeps the most it saw.
type poolWatch struct {
	t       *testing.T
	conn    *pgx.Conn
	app     string
	samples int
	most    int
}

func watchPool(t *testing.T, design string) *poolWatch {
	t.Helper()
	return &poolWatch{t: t, conn: connect(t), app: postgres.ApplicationName(design)}
}

// connect opens a connection of the test's own to the embedded server,
// closed when the test ends.
func connect(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	dsn, err := designtest.Env.Postgres(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return conn
}

// count returns how many connections the buyers hold now.
func (w *poolWatch) count() int {
	var n int
	if err := w.conn.QueryRow(context.Background(),
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", w.app).Scan(&n); err != nil {
		w.t.Error(err)
	}
	return n
}

func (w *poolWatch) progress(bench.Progress) {
	w.samples++
	w.most = max(w.most, w.count())
}

// More closed-loop users than the pool has connections: they share it,
// goroutines through pgx's pool and event-loop tasks through the loop's
// Wires, and every one of them is served: no errors, the audit matches
// what clients were told, and the server never sees more buyers'
// connections than the pool holds.
func TestMoreUsersThanThePool(t *testing.T) {
	const users, pool = 200, 8
	sc := designtest.Scenario(t, "hot-product")
	sc.Arrivals.Users = users
	sc.Arrivals.Duration = scenario.Duration(time.Second)
	// The buyers wait in line for one of 8 connections: a timeout long
	// enough for any machine keeps this a test of correctness.
	sc.Client.Timeout = scenario.Duration(time.Minute)
	for _, c := range []struct {
		name   string
		client string
	}{
		{"sqlcounter", bench.ClientGoroutines},
		{"sqlcounter-noidem", bench.ClientLoop},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			watch := watchPool(t, c.name)
			tgt := designtest.New(t, c.name, fmt.Sprintf("sqlcounter.pool=%d", pool))
			r, err := bench.Run(ctx, c.name, tgt, scenario.NewPlan(sc), bench.Options{Progress: watch.progress})
			if err != nil {
				t.Fatal(err)
			}
			after := watch.count() // pgx's pool keeps its connections until Close
			k, o := r.Checks, r.Orders
			t.Logf("%.0f/s p50 %dus p99 %dus; confirmed %d errors %d unknown %d; sold %d; connections: at most %d in %d samples, %d after; %s",
				r.ThroughputPerS, r.LatencyUS.P50, r.LatencyUS.P99, o.Confirmed, o.Errors, o.Unknown, k.Sold, watch.most, watch.samples, after, r.Info.Settings["connections"])
			if got := r.Info.Settings["client"]; got != c.client {
				t.Errorf("settings.client %q, want %q", got, c.client)
			}
			if o.Confirmed == 0 || o.Errors != 0 || o.Unknown != 0 || o.Rejected != 0 {
				t.Errorf("confirmed %d, errors %d, unknown %d, rejected %d; want sales and nothing else", o.Confirmed, o.Errors, o.Unknown, o.Rejected)
			}
			if k.Sold != o.Confirmed || k.Oversold != 0 || k.Lost != 0 || k.Phantom != 0 {
				t.Errorf("sold %d of %d confirmed, oversold %d, lost %d, phantom %d", k.Sold, o.Confirmed, k.Oversold, k.Lost, k.Phantom)
			}
			if watch.samples == 0 {
				t.Error("no sample of the connections during the run")
			}
			if watch.most > pool || after > pool {
				t.Errorf("the buyers held %d connections during the run and %d after; the pool has %d", watch.most, after, pool)
			}
			if want := fmt.Sprintf("shared by %d workers", users); !strings.Contains(r.Info.Settings["connections"], want) ||
				r.Info.Settings["pool"] != fmt.Sprint(pool) {
				t.Errorf("settings pool %q, connections %q; want %d, %q", r.Info.Settings["pool"], r.Info.Settings["connections"], pool, want)
			}
		})
	}
}

// A goroutine client beyond the pool waits for a connection as long as its
// deadline allows; past it, it fails definitely without reaching the
// server (postgres.ErrNoConnection); once the connection is free, it buys.
func TestNoConnectionWithinTheTimeout(t *testing.T) {
	ctx := context.Background()
	tgt := designtest.New(t, "sqlcounter", "sqlcounter.pool=1")
	if err := tgt.Setup(ctx, targets.Stock{Products: 1, Capacity: 10}); err != nil {
		t.Fatal(err)
	}
	holder, err := tgt.NewClient(ctx, 0) // the pool's one connection
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	waiter, err := tgt.NewClient(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer waiter.Close()
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	r := waiter.Buy(short, targets.Order{ID: 1, Product: 0, Quantity: 1, Attempt: 1})
	cancel()
	if r.Outcome != targets.Error || !errors.Is(r.Err, postgres.ErrNoConnection) {
		t.Errorf("with the only connection held: %v (%v), want error: %v", r.Outcome, r.Err, postgres.ErrNoConnection)
	}
	// The holder's attempt gives the connection back: the pool is shared.
	if r := holder.Buy(ctx, targets.Order{ID: 2, Product: 0, Quantity: 1, Attempt: 1}); r.Outcome != targets.Confirmed {
		t.Fatalf("holder: %v (%v)", r.Outcome, r.Err)
	}
	long, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if r := waiter.Buy(long, targets.Order{ID: 3, Product: 0, Quantity: 1, Attempt: 1}); r.Outcome != targets.Confirmed {
		t.Errorf("with the connection free: %v (%v), want confirmed", r.Outcome, r.Err)
	}
	assertApplied(t, tgt, 2, 3)
}

// assertApplied checks that the audit holds exactly the orders ids.
func assertApplied(t *testing.T, tgt targets.Target, ids ...targets.OrderID) {
	t.Helper()
	audit, err := tgt.Audit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	recs, err := targets.CollectOrders(audit.Orders)
	if err != nil {
		t.Fatal(err)
	}
	got := map[targets.OrderID]bool{}
	for _, r := range recs {
		got[r.ID] = true
	}
	if len(got) != len(ids) || audit.Sold[0] != int64(len(ids)) {
		t.Errorf("applied %v, sold %d; want exactly %v", recs, audit.Sold[0], ids)
	}
	for _, id := range ids {
		if !got[id] {
			t.Errorf("order %d not applied", id)
		}
	}
}

// Tasks of an event loop beyond the pool wait for a Wire through the loop:
// while the pool's one Wire waits behind a row lock, a task whose deadline
// passes fails definitely (the loop's thread was free to time it out) and
// another, without a deadline, gets the Wire once it is given back.
func TestLoopTasksWaitForAWire(t *testing.T) {
	ctx := context.Background()
	tgt := designtest.New(t, "sqlcounter-noidem", "sqlcounter.pool=1")
	if err := tgt.Setup(ctx, targets.Stock{Products: 1, Capacity: 10}); err != nil {
		t.Fatal(err)
	}
	loop, err := evloop.New()
	if err != nil {
		t.Fatal(err)
	}
	defer loop.Close()
	clients := make([]targets.Client, 3) // holder, impatient, patient
	for i := range clients {
		if clients[i], err = tgt.(targets.LoopTarget).NewLoopClient(ctx, i, loop); err != nil {
			t.Fatal(err)
		}
		defer clients[i].Close()
	}
	tx := lockStock(t)
	// The lock goes once the impatient task has given up.
	gaveUp, released := make(chan struct{}), make(chan error, 1)
	go func() {
		<-gaveUp
		released <- tx.Commit(ctx)
	}()
	replies := make([]targets.Reply, 3)
	var order []int // the order the tasks finished in; one goroutine writes it
	for i, c := range clients {
		loop.Go(func() {
			a, cancel := context.WithTimeout(ctx, time.Minute)
			if i == 1 {
				a, cancel = context.WithTimeout(ctx, 100*time.Millisecond)
			}
			replies[i] = c.Buy(a, targets.Order{ID: targets.OrderID(i + 1), Product: 0, Quantity: 1, Attempt: 1})
			cancel()
			order = append(order, i)
			if i == 1 {
				close(gaveUp)
			}
		})
	}
	if err := loop.Run(); err != nil {
		t.Fatal(err)
	}
	if err := <-released; err != nil {
		t.Fatal(err)
	}
	if r := replies[1]; r.Outcome != targets.Error || !errors.Is(r.Err, postgres.ErrNoConnection) {
		t.Errorf("impatient task: %v (%v), want error: %v", r.Outcome, r.Err, postgres.ErrNoConnection)
	}
	for _, i := range []int{0, 2} {
		if replies[i].Outcome != targets.Confirmed {
			t.Errorf("task %d: %v (%v), want confirmed", i, replies[i].Outcome, replies[i].Err)
		}
	}
	if fmt.Sprint(order) != "[1 0 2]" {
		t.Errorf("tasks finished in the order %v, want [1 0 2]: the impatient one, the holder, then the patient one", order)
	}
	assertApplied(t, tgt, 1, 3)
}

// A business rule checked against history: at most 4 tickets per buyer
// across their 5 orders. sqlcounter enforces it (refusing the order that
// would cross it) and its tables show no buyer over it;
// sqlcounter-forupdate ignores it, and the checker counts the buyers over
// it.
func TestBuyerLimit(t *testing.T) {
	sc, err := scenario.Parse([]byte(`name: buyer-limit
stock: {products: 3, capacity: 100000}
demand: {buyers: 1500, quantity: {min: 1, max: 2}, popularity: uniform, orders_per_buyer: 5, buyer_limit: 4}
arrivals: {mode: constant, rate: 1500, duration: 1s, workers: 16}
client: {timeout: 2s, double_click: 0.1, double_click_after: 5ms}
`), "buyer-limit.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := designtest.Run(t, "sqlcounter", sc)
	if r.Checks.LimitExceeded != 0 || r.Orders.Rejected == 0 || r.Checks.Lost != 0 || r.Checks.DuplicatedOrders != 0 {
		t.Errorf("sqlcounter: limit exceeded by %d buyers, %d refused, lost %d, duplicated %d; want 0 over, some refused, none lost",
			r.Checks.LimitExceeded, r.Orders.Rejected, r.Checks.Lost, r.Checks.DuplicatedOrders)
	}
	// The database itself: no buyer holds more than 4 tickets.
	conn := connect(t)
	var over int
	q := fmt.Sprintf(`SELECT count(*) FROM (SELECT buyer FROM %s.orders WHERE outcome = 'c' GROUP BY buyer HAVING SUM(qty) > 4) o`,
		pgx.Identifier{postgres.SchemaName("sqlcounter")}.Sanitize())
	if err := conn.QueryRow(context.Background(), q).Scan(&over); err != nil || over != 0 {
		t.Errorf("buyers over the limit in the database: %d (%v), want 0", over, err)
	}
	if m := designtest.Run(t, "sqlcounter-forupdate", sc); m.Checks.LimitExceeded == 0 {
		t.Error("sqlcounter-forupdate ignores the limit, yet no buyer was counted over it")
	}
}
