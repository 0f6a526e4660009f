package bench_test

import (
	"context"
	"strings"
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
	// 6s after the crash: time for a slow restart and a second at the
	// rate before, on a busy machine under -race.
	sc.Arrivals.Rate, sc.Arrivals.Duration = 400, scenario.Duration(8*time.Second)
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

// Network faults through the proxy in front of PostgreSQL: 50ms of added
// latency shows in the response times, a blackhole as unknown answers, and
// both are undone: the answers come back, and the server answers through
// the proxy after the run.
func TestNetworkFaults(t *testing.T) {
	sc := designtest.Scenario(t, "steady")
	sc.Arrivals.Rate, sc.Arrivals.Duration = 300, scenario.Duration(5*time.Second)
	sc.Client.Timeout = scenario.Duration(500 * time.Millisecond)
	sc.Faults = []scenario.Fault{
		{Kind: "latency", On: "postgres", At: scenario.Duration(500 * time.Millisecond), For: scenario.Duration(time.Second), Latency: scenario.Duration(50 * time.Millisecond)},
		{Kind: "blackhole", On: "postgres", At: scenario.Duration(2 * time.Second), For: scenario.Duration(700 * time.Millisecond)},
	}
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
	regs, cfgs, err := targets.Resolve([]string{"sqlcounter"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := &embedded.Env{}
	defer env.Close()
	res, err := bench.RunSuite(t.Context(), bench.Suite{Scenario: sc, Designs: regs, Configs: cfgs, Backends: env})
	if err != nil {
		t.Fatal(err)
	}
	tr := res.Runs[0]
	if tr.Error != "" || len(tr.Faults) != 2 {
		t.Fatalf("error %q, %d fault windows; want none and 2", tr.Error, len(tr.Faults))
	}
	t.Logf("faults %+v; latency %+v", tr.Faults, tr.LatencyUS)
	lat, hole := tr.Faults[0], tr.Faults[1]
	for _, f := range tr.Faults {
		if f.Skipped != "" || f.Error != "" {
			t.Errorf("%s: skipped %q, error %q", f.Fault, f.Skipped, f.Error)
		}
	}
	// A fifth of the run's answers waited 50ms more: its p90 did.
	if tr.LatencyUS.P90 < 50_000 {
		t.Errorf("p90 %dµs with 50ms of latency over a fifth of the run, want at least 50ms", tr.LatencyUS.P90)
	}
	if lat.Answers == 0 || lat.Unknown != 0 {
		t.Errorf("latency: %d answers, %d unknown during it; want answers, slower, and no unknown", lat.Answers, lat.Unknown)
	}
	if hole.Unknown == 0 || hole.RecoveryS == nil {
		t.Errorf("blackhole: %d unknown during it, recovery %v; want unknowns, then the answers back", hole.Unknown, hole.RecoveryS)
	}
	dsn, err := env.Postgres(t.Context()) // through the proxy
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("through the proxy after the run: %v", err)
	}
	defer conn.Close(context.Background())
	if err := conn.Ping(ctx); err != nil {
		t.Errorf("through the proxy after the run: %v", err)
	}
}

// A crash of the stream leader of a 3-node JetStream cluster in the
// middle of a sale (its process killed, restarted on its store 2s later):
// jetstream loses nothing, applies nothing twice, oversells nothing, and
// its failover time is reported.
func TestJetStreamLeaderCrash(t *testing.T) {
	sc := designtest.Scenario(t, "crash-during-sale")
	sc.Arrivals.Rate, sc.Arrivals.Duration = 300, scenario.Duration(10*time.Second)
	sc.Faults = []scenario.Fault{{Kind: "crash", On: "nats", At: scenario.Duration(2 * time.Second), For: scenario.Duration(2 * time.Second)}}
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
	regs, cfgs, err := targets.Resolve([]string{"jetstream"}, []string{"jetstream.replicas=3"})
	if err != nil {
		t.Fatal(err)
	}
	env := &embedded.Env{} // child-process servers, this test's alone
	defer env.Close()
	res, err := bench.RunSuite(t.Context(), bench.Suite{Scenario: sc, Designs: regs, Configs: cfgs, Backends: env})
	if err != nil {
		t.Fatal(err)
	}
	tr := res.Runs[0]
	if tr.Error != "" || len(tr.Faults) != 1 {
		t.Fatalf("error %q, %d fault windows; want none and 1", tr.Error, len(tr.Faults))
	}
	f, k := tr.Faults[0], tr.Checks
	t.Logf("fault %+v; checks %+v; causes %+v", f, k, tr.Orders.Causes)
	if k.Lost != 0 || k.DuplicatedOrders != 0 || k.Oversold != 0 || k.Phantom != 0 {
		t.Errorf("lost %d, duplicated %d, oversold %d, phantom %d through the leader's crash; want 0", k.Lost, k.DuplicatedOrders, k.Oversold, k.Phantom)
	}
	switch {
	case f.Skipped != "" || f.Error != "":
		t.Errorf("the crash was not put in and undone: skipped %q, error %q", f.Skipped, f.Error)
	case !strings.Contains(f.Note, "leader of stream"):
		t.Errorf("note %q does not say the stream leader was killed", f.Note)
	case f.FailoverS == nil:
		t.Errorf("no failover time: never back to 90%% of %.0f answers/s: %+v", f.BeforePerS, f)
	}
}
