package sqlcounter_test

import (
	"strings"
	"testing"

	"github.com/stampede-bench/stampede/internal/designtest"
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
