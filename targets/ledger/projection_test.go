package ledger

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/designtest"
)

// setUp makes design name with the given -opt pairs on the embedded
// PostgreSQL, sets it up with stock s and returns it with one client. The
// test closes both when it ends.
func setUp(t *testing.T, name string, s targets.Stock, opts ...string) (*Target, *client) {
	t.Helper()
	tgt := designtest.New(t, name, opts...).(*Target)
	if err := tgt.Setup(t.Context(), s); err != nil {
		t.Fatalf("%s: setup: %v", name, err)
	}
	c, err := tgt.NewClient(t.Context(), 0)
	if err != nil {
		t.Fatalf("%s: client: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return tgt, c.(*client)
}

// buy places a one-ticket order of product 0 and fails the test unless it
// is confirmed.
func buy(t *testing.T, c *client, id targets.OrderID) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if r := c.Buy(ctx, targets.Order{ID: id, Product: 0, Quantity: 1, Attempt: 1}); r.Outcome != targets.Confirmed {
		t.Fatalf("buy %v: %v (%v), want confirmed", id, r.Outcome, r.Err)
	}
}

// shows asks the client's read side about id and fails the test on an
// error.
func shows(t *testing.T, c *client, id targets.OrderID) bool {
	t.Helper()
	ok, err := c.Shows(t.Context(), id)
	if err != nil {
		t.Fatalf("shows %v: %v", id, err)
	}
	return ok
}

// visibleWithin polls the client's read side until it shows id, for at
// most bound, and returns how long that took; it fails the test if id
// never shows.
func visibleWithin(t *testing.T, c *client, id targets.OrderID, bound time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for !shows(t, c, id) {
		if time.Since(start) > bound {
			t.Fatalf("order %v confirmed but not shown after %v", id, bound)
		}
		time.Sleep(5 * time.Millisecond) // the poll's pace, not a wait for the condition
	}
	return time.Since(start)
}

// The ledgers read a buyer's orders from their system of record: a
// confirmed order shows at once, one never bought never does.
func TestLedgersShowOwnWrites(t *testing.T) {
	for _, name := range []string{"ledger", "ledger-serializable", "ledger-reconcile"} {
		t.Run(name, func(t *testing.T) {
			_, c := setUp(t, name, targets.Stock{Products: 2, Capacity: 10})
			var _ targets.Reader = c
			buy(t, c, 1)
			if !shows(t, c, 1) {
				t.Error("a confirmed order does not show at once")
			}
			if shows(t, c, 2) {
				t.Error("an order never bought shows")
			}
		})
	}
}

// ledger-reconcile: a sale the reconciler cancelled no longer shows; the
// one it kept still does.
func TestReconcileCancelledSaleDoesNotShow(t *testing.T) {
	tgt, c := setUp(t, "ledger-reconcile", targets.Stock{Products: 1, Capacity: 1}, "ledger.reconcile_every=1h")
	buy(t, c, 1)
	// A second sale of the last seat, as a racing buyer would append it.
	if _, err := tgt.db.Pool.Exec(t.Context(), "INSERT INTO ledger (product, delta, order_id, kind) VALUES (0, -1, 2, 's')"); err != nil {
		t.Fatal(err)
	}
	if !shows(t, c, 2) {
		t.Fatal("the oversold sale does not show before reconciliation")
	}
	if err := tgt.bg.run(t.Context(), tgt.reconcile); err != nil {
		t.Fatal(err)
	}
	if shows(t, c, 2) {
		t.Error("the newest sale was cancelled but still shows")
	}
	if !shows(t, c, 1) {
		t.Error("the sale kept by the reconciler no longer shows")
	}
}

// ledger-projection confirms a sale before its read model shows it: with
// a projector that will not run for an hour, the buyer's next page does
// not show the order; one pass later it does.
func TestProjectionStaleUntilProjected(t *testing.T) {
	tgt, c := setUp(t, "ledger-projection", targets.Stock{Products: 2, Capacity: 10}, "ledger.projection_interval=1h")
	if info := tgt.Info(); !strings.Contains(info.Consistency, "every 1h0m0s") || info.Durable != tgt.db.Facts.Durable() {
		t.Errorf("info: consistency %q, durable %v", info.Consistency, info.Durable)
	}
	buy(t, c, 1)
	if shows(t, c, 1) {
		t.Fatal("a confirmed order shows before any projection")
	}
	if err := tgt.bg.run(t.Context(), tgt.project); err != nil {
		t.Fatal(err)
	}
	if !shows(t, c, 1) {
		t.Error("a confirmed order does not show after a projection")
	}
	if shows(t, c, 2) {
		t.Error("an order never bought shows")
	}
	var left int64
	if err := tgt.db.Pool.QueryRow(t.Context(), "SELECT remaining FROM seats_left WHERE product = 0").Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 9 {
		t.Errorf("seats_left of product 0: %d after one sale of 10 seats, want 9", left)
	}
}

// With the default interval (100ms) a confirmed order shows within a
// bound; the test logs how long each took.
func TestProjectionCatchesUp(t *testing.T) {
	tgt, c := setUp(t, "ledger-projection", targets.Stock{Products: 1, Capacity: 10})
	if tgt.every != 100*time.Millisecond {
		t.Fatalf("default projection interval %v, want 100ms", tgt.every)
	}
	var lags []time.Duration
	for id := targets.OrderID(1); id <= 5; id++ {
		buy(t, c, id)
		lags = append(lags, visibleWithin(t, c, id, 5*time.Second))
	}
	t.Logf("orders shown %v after their confirmation (projection interval %v)", lags, tgt.every)
	if shows(t, c, 99) {
		t.Error("an order never bought shows")
	}
}

// Ledger ids are taken at insert, not at commit: a sale may commit after
// one with a higher id. The projector folds by transaction, not by id, so
// the earlier sale is folded once it commits, never skipped.
func TestProjectionFoldsSalesCommittedOutOfOrder(t *testing.T) {
	tgt, c := setUp(t, "ledger-projection", targets.Stock{Products: 1, Capacity: 10}, "ledger.projection_interval=1h")
	slow, err := tgt.db.Pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Rollback(context.Background())
	// The slow sale takes the lower id and stays uncommitted...
	if _, err := slow.Exec(t.Context(), "INSERT INTO ledger (product, delta, order_id, kind) VALUES (0, -1, 1, 's')"); err != nil {
		t.Fatal(err)
	}
	// ...while a buyer's sale takes a higher id and commits.
	buy(t, c, 2)
	project := func() {
		t.Helper()
		if err := tgt.bg.run(t.Context(), tgt.project); err != nil {
			t.Fatal(err)
		}
	}
	project()
	if shows(t, c, 2) {
		t.Error("order 2 projected while an older transaction is open: the horizon must wait for it")
	}
	if err := slow.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	project()
	if !shows(t, c, 1) || !shows(t, c, 2) {
		t.Errorf("after the slow sale committed: shows 1 %v, 2 %v; want both", shows(t, c, 1), shows(t, c, 2))
	}
}

// The projector's goroutine has returned once Close does, and once Audit
// does.
func TestProjectorStops(t *testing.T) {
	for _, stop := range []string{"close", "audit"} {
		t.Run(stop, func(t *testing.T) {
			tgt, c := setUp(t, "ledger-projection", targets.Stock{Products: 1, Capacity: 10}, "ledger.projection_interval=5ms")
			buy(t, c, 1)
			visibleWithin(t, c, 1, 5*time.Second) // the projector runs
			done := tgt.bg.done
			c.Close()
			switch stop {
			case "close":
				if err := tgt.Close(); err != nil {
					t.Fatal(err)
				}
			case "audit":
				if _, err := tgt.Audit(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case <-done:
			default:
				t.Fatalf("the projector still runs after %s returned", stop)
			}
		})
	}
}

// A projector that fails during the run fails the audit, which says so,
// rather than leaving a read side that silently stopped.
func TestProjectorFailureFailsAudit(t *testing.T) {
	tgt, _ := setUp(t, "ledger-projection", targets.Stock{Products: 1, Capacity: 10}, "ledger.projection_interval=5ms")
	if _, err := tgt.db.Pool.Exec(t.Context(), "DROP TABLE projection_state"); err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); tgt.bg.failure() == nil; time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatal("the projector did not fail without its state table")
		}
	}
	_, err := tgt.Audit(t.Context())
	if err == nil || !strings.Contains(err.Error(), "projector failed") {
		t.Errorf("audit: %v, want the projector's failure", err)
	}
}

// ledger-projection on the flash crowd: its writes are
// ledger-serializable's, so it never oversells, duplicates nor loses a
// sale (the audit reads the ledger, not the projection).
func TestProjectionFlashCrowd(t *testing.T) {
	r := designtest.Run(t, "ledger-projection", designtest.Scenario(t, "flash-crowd"))
	k := r.Checks
	if k.Oversold != 0 || k.DuplicatedOrders != 0 || k.Lost != 0 || k.Phantom != 0 {
		t.Errorf("oversold %d, duplicated %d, lost %d, phantom %d; want 0", k.Oversold, k.DuplicatedOrders, k.Lost, k.Phantom)
	}
	if !strings.Contains(r.Info.Consistency, "projection refreshed every 100ms") {
		t.Errorf("consistency %q, want the projection's interval", r.Info.Consistency)
	}
}
