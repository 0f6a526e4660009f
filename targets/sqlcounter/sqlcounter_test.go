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
	"github.com/stampede-bench/stampede/internal/designtest"
	"github.com/stampede-bench/stampede/internal/evloop"
	"github.com/stampede-bench/stampede/targets"
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
			if k.Sold != k.Capacity {
				t.Errorf("sold %d of %d, want every seat", k.Sold, k.Capacity)
			}
			if k.Lost != 0 || k.Phantom != 0 {
				t.Errorf("lost %d, phantom %d; want 0", k.Lost, k.Phantom)
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
	sc.Stop = bench.Stop{SoldOut: true, Grace: bench.Duration(100 * time.Millisecond)}
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

// An attempt of the wire client that times out behind a row lock is
// Unknown; once the lock goes, it applies, and the next attempt on the same
// connection first reads that late answer, then gets its own.
func TestWireTimeoutThenLateAnswer(t *testing.T) {
	ctx := context.Background()
	tgt, loop, c := noIdemOnLoop(t, 10)
	dsn, err := designtest.Env.Postgres(ctx)
	if err != nil {
		t.Fatal(err)
	}
	locker, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close(ctx)
	tx, err := locker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1 FROM "+postgres.SchemaName("sqlcounter-noidem")+".stock WHERE product = 0 FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
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
