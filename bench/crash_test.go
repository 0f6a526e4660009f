package bench_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stampede-bench/stampede/bench"
	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/designtest"
	"github.com/stampede-bench/stampede/targets/embedded"
	"github.com/stampede-bench/stampede/targets/postgres"
)

// Through a crash of PostgreSQL in the middle of a sale (every process
// killed, then restarted on the same data: crash recovery), the designs
// that decide on the row and fsync every commit lose nothing, apply
// nothing twice and oversell nothing, and recover once the server is
// back. The database is then counted independently of the designs'
// audits.
func TestCrashDuringSale(t *testing.T) {
	sc := designtest.Scenario(t, "crash-during-sale")
	sc.Stock.Capacity = 150
	sc.Arrivals.Rate, sc.Arrivals.Duration = 400, scenario.Duration(5*time.Second)
	sc.Faults = []scenario.Fault{{Kind: "crash", On: "postgres", At: scenario.Duration(2 * time.Second), For: scenario.Duration(time.Second)}}
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
	designs := []string{"sqlcounter", "sqlcounter-forupdate", "ledger-serializable"}
	regs, cfgs, err := targets.Resolve(designs, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := &embedded.Env{} // its own server: the crash is this test's alone
	defer env.Close()
	res, err := bench.RunSuite(t.Context(), bench.Suite{Scenario: sc, Designs: regs, Configs: cfgs, Backends: env})
	if err != nil {
		t.Fatal(err)
	}
	dsn, err := env.Postgres(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for i, tr := range res.Runs {
		name := designs[i]
		if tr.Error != "" {
			t.Fatalf("%s: %s", name, tr.Error)
		}
		k := tr.Checks
		t.Logf("%s: %+v; faults %+v; checks %+v", name, tr.Orders.Causes, tr.Faults, k)
		if k.Lost != 0 || k.DuplicatedOrders != 0 || k.Oversold != 0 || k.Phantom != 0 {
			t.Errorf("%s: lost %d, duplicated %d, oversold %d, phantom %d through the crash; want 0", name, k.Lost, k.DuplicatedOrders, k.Oversold, k.Phantom)
		}
		if len(tr.Faults) != 1 {
			t.Fatalf("%s: %d fault windows, want 1", name, len(tr.Faults))
		}
		f := tr.Faults[0]
		switch {
		case f.Skipped != "" || f.Error != "":
			t.Errorf("%s: the crash was not put in and undone: skipped %q, error %q", name, f.Skipped, f.Error)
		case f.EndS-f.StartS < 1:
			t.Errorf("%s: the server was back %.2fs after the crash, want at least its 1s down", name, f.EndS-f.StartS)
		case f.Unknown+f.Errors == 0:
			t.Errorf("%s: no attempt failed while the server was down: %+v", name, f)
		case f.RecoveryS == nil:
			t.Errorf("%s: never back to 90%% of %.0f answers/s after the restart: %+v", name, f.BeforePerS, f)
		}
		// The database, counted without the design: no product over its
		// capacity, the seats the audit reported, no order applied twice,
		// and every confirmed order there.
		schema := pgx.Identifier{postgres.SchemaName(name)}.Sanitize()
		sales := "SELECT product, qty, order_id FROM " + schema + ".orders WHERE outcome = 'c'"
		if name == "ledger-serializable" {
			sales = "SELECT product, -delta, order_id FROM " + schema + ".ledger WHERE kind = 's'"
		}
		rows, err := conn.Query(t.Context(), sales)
		if err != nil {
			t.Fatal(err)
		}
		sold := map[int]int64{}
		seen := map[int64]bool{}
		var total, twice int64
		for rows.Next() {
			var product int
			var qty, id int64
			if err := rows.Scan(&product, &qty, &id); err != nil {
				t.Fatal(err)
			}
			sold[product] += qty
			total += qty
			if seen[id] {
				twice++
			}
			seen[id] = true
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		for p, n := range sold {
			if n > sc.Stock.Capacity {
				t.Errorf("%s: the database holds %d seats of product %d sold, of %d", name, n, p, sc.Stock.Capacity)
			}
		}
		if total != k.Sold || twice != 0 || int64(len(seen)) < tr.Orders.Bought {
			t.Errorf("%s: the database holds %d seats in %d orders (%d applied twice); the audit said %d seats, and %d orders were confirmed",
				name, total, len(seen), twice, k.Sold, tr.Orders.Bought)
		}
	}
}
