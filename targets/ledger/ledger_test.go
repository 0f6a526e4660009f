package ledger_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/designtest"
)

func TestMain(m *testing.M) { designtest.Main(m) }

// The append-only ledgers on the flash crowd, on a real PostgreSQL.
func TestFlashCrowd(t *testing.T) {
	sc := designtest.Scenario(t, "flash-crowd")

	naive := designtest.Run(t, "ledger", sc)
	if naive.Checks.Oversold <= 0 {
		t.Errorf("ledger: oversold %d, want above 0: check-then-append at READ COMMITTED races", naive.Checks.Oversold)
	}

	ser := designtest.Run(t, "ledger-serializable", sc)
	if ser.Checks.Oversold != 0 {
		t.Errorf("ledger-serializable: oversold %d, want 0", ser.Checks.Oversold)
	}
	if ser.Orders.Conflicts == 0 {
		t.Error("ledger-serializable: no conflicts reported under a flash crowd")
	}
	// Its conflicts are serialization failures (and deadlocks), counted
	// under their SQLSTATE; an order that gave up retrying them, too.
	designtest.CheckConflictCauses(t, ser, targets.SQLStateCause("40001"), targets.SQLStateCause("40P01"))
	for class, n := range designtest.Causes(ser, "rejected") {
		if !strings.HasPrefix(class, "sqlstate 40") {
			t.Errorf("ledger-serializable: %d rejected of cause %q, want a SQLSTATE of class 40", n, class)
		}
	}

	rec := designtest.Run(t, "ledger-reconcile", sc)
	if rec.Checks.Oversold != 0 {
		t.Errorf("ledger-reconcile: oversold %d after reconciliation, want 0", rec.Checks.Oversold)
	}
	if rec.Checks.Apologies <= 0 {
		t.Errorf("ledger-reconcile: apologies %d, want above 0: it oversells, then compensates", rec.Checks.Apologies)
	}
	if rec.Checks.Sold != rec.Checks.Capacity {
		t.Errorf("ledger-reconcile: sold %d of %d after reconciliation, want every seat", rec.Checks.Sold, rec.Checks.Capacity)
	}

	for _, r := range []struct {
		name                       string
		lost, dup, phantom, errors int64
	}{
		{"ledger", naive.Checks.Lost, naive.Checks.DuplicatedOrders, naive.Checks.Phantom, naive.Orders.Errors},
		{"ledger-serializable", ser.Checks.Lost, ser.Checks.DuplicatedOrders, ser.Checks.Phantom, ser.Orders.Errors},
		{"ledger-reconcile", rec.Checks.Lost, rec.Checks.DuplicatedOrders, rec.Checks.Phantom, rec.Orders.Errors},
	} {
		if r.lost != 0 || r.dup != 0 || r.phantom != 0 || r.errors != 0 {
			t.Errorf("%s: lost %d, duplicated %d, phantom %d, errors %d; want 0", r.name, r.lost, r.dup, r.phantom, r.errors)
		}
	}
}

// Serializable ledgers give up on conflicts after some retries, but with
// patient buyers and enough demand the retries sell every seat.
func TestSerializableSellsOut(t *testing.T) {
	r := designtest.Run(t, "ledger-serializable", designtest.SellOut(t))
	k := r.Checks
	if k.Sold != k.Capacity || k.Oversold != 0 {
		t.Errorf("sold %d of %d, oversold %d; want every seat and no more", k.Sold, k.Capacity, k.Oversold)
	}
	if k.Lost != 0 || k.Phantom != 0 || k.DuplicatedOrders != 0 {
		t.Errorf("lost %d, phantom %d, duplicated %d; want 0", k.Lost, k.Phantom, k.DuplicatedOrders)
	}
}

// The wait for a connection is part of a buyer's response time. Two users
// share a pool of one connection, which each order holds for the
// application's work (app_time) and more: while one user's order holds it,
// the other's waits, so an order takes about two app_times from the
// buyer's click, though the design serves it in one.
func TestPoolWaitIsInResponseTime(t *testing.T) {
	const appTime = 100 * time.Millisecond
	sc := designtest.Scenario(t, "hot-product")
	sc.Arrivals.Users = 2
	sc.Demand.Buyers = 8 // four orders each
	sc.Client.Timeout = scenario.Duration(time.Minute)
	r := designtest.Run(t, "ledger", sc, "ledger.pool=1", "ledger.app_time="+appTime.String())
	if r.Orders.Confirmed != 8 || r.Orders.Errors != 0 || r.Orders.Unknown != 0 {
		t.Fatalf("confirmed %d, errors %d, unknown %d; want 8, 0, 0", r.Orders.Confirmed, r.Orders.Errors, r.Orders.Unknown)
	}
	// All but the first order and perhaps the last of each user waited a
	// whole order of the other's: the median holds a wait.
	if p50 := time.Duration(r.LatencyUS.P50) * time.Microsecond; p50 < appTime*3/2 {
		t.Errorf("response p50 %v, want at least %v: the app time %v and the wait for the one connection", p50, appTime*3/2, appTime)
	}
}
