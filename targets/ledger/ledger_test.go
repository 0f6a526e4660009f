package ledger_test

import (
	"testing"

	"github.com/stampede-bench/stampede/internal/designtest"
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
	if ser.Checks.Oversold != 0 || ser.Checks.Sold != ser.Checks.Capacity {
		t.Errorf("ledger-serializable: oversold %d, sold %d of %d; want 0 and every seat", ser.Checks.Oversold, ser.Checks.Sold, ser.Checks.Capacity)
	}
	if ser.Orders.Conflicts == 0 {
		t.Error("ledger-serializable: no conflicts reported under a flash crowd")
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
