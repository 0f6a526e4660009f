package ledger

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/designtest"
	"github.com/stampede-bench/stampede/targets/postgres"
)

// schemaConn connects to the embedded PostgreSQL in the schema of design,
// apart from the design's own pools, with ledger-snapshot's statements
// prepared; the test closes it when it ends.
func schemaConn(t *testing.T, design string) *pgx.Conn {
	t.Helper()
	dsn, err := designtest.Env.Postgres(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = postgres.SchemaName(design)
	conn, err := pgx.ConnectConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	for name, sql := range snapshotStatements {
		if _, err := conn.Prepare(t.Context(), name, sql); err != nil {
			t.Fatal(err)
		}
	}
	return conn
}

// snapshotsExact returns how many snapshots the design's schema holds. It
// fails the test for each whose stock is not the sum of its product's
// ledger rows up to its upto, and for each product whose snapshots are not
// one per every sales.
func snapshotsExact(t *testing.T, conn *pgx.Conn, every int64) int {
	t.Helper()
	rows, err := conn.Query(t.Context(), `SELECT s.product, s.upto, s.stock, (SELECT SUM(delta) FROM ledger l WHERE l.product = s.product AND l.id <= s.upto)
		FROM ledger_snapshot s ORDER BY s.product, s.upto`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var product int
		var upto, stock, sum int64
		if err := rows.Scan(&product, &upto, &stock, &sum); err != nil {
			t.Fatal(err)
		}
		if stock != sum {
			t.Errorf("snapshot of product %d up to ledger id %d: stock %d, but its rows sum to %d", product, upto, stock, sum)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows, err = conn.Query(t.Context(), `SELECT l.product, count(*), (SELECT count(*) FROM ledger_snapshot s WHERE s.product = l.product)
		FROM ledger l WHERE l.kind = 's' GROUP BY l.product ORDER BY l.product`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var product int
		var sales, snaps int64
		if err := rows.Scan(&product, &sales, &snaps); err != nil {
			t.Fatal(err)
		}
		if snaps != sales/every {
			t.Errorf("product %d: %d snapshots after %d sales, want one every %d sales: %d", product, snaps, sales, every, sales/every)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// sell begins a sale's transaction on conn and appends one seat of
// product for order id as the design does, under the product's lock
// (class being the design's lock key), with a snapshot; it leaves the
// transaction open, holding the lock, and the test rolls it back if it
// has not ended.
func sell(t *testing.T, conn *pgx.Conn, class int32, product int, id targets.OrderID) (pgx.Tx, error) {
	t.Helper()
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(context.Background()) })
	sold, err := lockAndAppend(t.Context(), tx, class, targets.Order{ID: id, Product: product, Quantity: 1, Attempt: 1}, 1)
	if err == nil && !sold {
		t.Fatalf("order %v of product %d not sold", id, product)
	}
	return tx, err
}

// ledger-snapshot on the flash crowd, with a snapshot every 10 sales (the
// default 1000 is never reached on 100 seats a show): a show's sales wait
// for its lock, so it never oversells, duplicates nor loses a sale, and the
// snapshots its buyers took as they raced are exact.
func TestSnapshotFlashCrowd(t *testing.T) {
	r := designtest.Run(t, "ledger-snapshot", designtest.Scenario(t, "flash-crowd"), "ledger.snapshot_every=10")
	k := r.Checks
	if k.Oversold != 0 || k.DuplicatedOrders != 0 || k.Lost != 0 || k.Phantom != 0 || r.Orders.Errors != 0 {
		t.Errorf("oversold %d, duplicated %d, lost %d, phantom %d, errors %d; want 0", k.Oversold, k.DuplicatedOrders, k.Lost, k.Phantom, r.Orders.Errors)
	}
	if k.Sold < 10 {
		t.Fatalf("sold %d seats, too few to snapshot", k.Sold)
	}
	if n := snapshotsExact(t, schemaConn(t, "ledger-snapshot"), 10); n == 0 {
		t.Error("no snapshot taken")
	}
	if !strings.Contains(r.Info.Consistency, "lock per product") || r.Info.Settings["snapshot_every"] != "10" {
		t.Errorf("consistency %q, snapshot_every %q; want a lock per product, 10", r.Info.Consistency, r.Info.Settings["snapshot_every"])
	}
}

// Every Nth sale of a product snapshots its stock, and the check reads the
// latest snapshot and the sales after it: after 35 one-seat sales of a
// product with a snapshot every 10, it has 3 snapshots, taken by its 10th,
// 20th and 30th sales, the check counts 5 sales since, and its stock is the
// sum of the whole ledger. A snapshot made wrong by hand moves the check's
// stock by as much: the check did not sum the ledger.
func TestSnapshotEveryNSales(t *testing.T) {
	const capacity = 100
	tgt, c := setUp(t, "ledger-snapshot", targets.Stock{Products: 2, Capacity: capacity}, "ledger.snapshot_every=10", "ledger.app_time=0s")
	if info := tgt.Info(); !strings.Contains(info.Consistency, "strong") || info.Durable != tgt.db.Facts.Durable() {
		t.Errorf("info: consistency %q, durable %v", info.Consistency, info.Durable)
	}
	for id := targets.OrderID(1); id <= 35; id++ {
		buy(t, c, id)
	}
	// An order of the other product, which does not count towards the
	// first's snapshots.
	if r := c.Buy(t.Context(), targets.Order{ID: 100, Product: 1, Quantity: 1, Attempt: 1}); r.Outcome != targets.Confirmed {
		t.Fatalf("buy of product 1: %v (%v)", r.Outcome, r.Err)
	}
	if !shows(t, c, 35) || shows(t, c, 36) {
		t.Errorf("shows 35 %v, 36 %v; want true, false", shows(t, c, 35), shows(t, c, 36))
	}

	conn := schemaConn(t, "ledger-snapshot")
	var sales []int64
	rows, err := conn.Query(t.Context(), "SELECT id FROM ledger WHERE product = 0 AND kind = 's' ORDER BY id")
	if err == nil {
		sales, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	}
	if err != nil {
		t.Fatal(err)
	}
	rows, err = conn.Query(t.Context(), "SELECT upto, stock FROM ledger_snapshot WHERE product = 0 ORDER BY upto")
	if err != nil {
		t.Fatal(err)
	}
	type snap struct{ Upto, Stock int64 }
	snaps, err := pgx.CollectRows(rows, pgx.RowToStructByPos[snap])
	if err != nil {
		t.Fatal(err)
	}
	if len(sales) != 35 || len(snaps) != 3 {
		t.Fatalf("%d sales, %d snapshots of product 0; want 35, 3", len(sales), len(snaps))
	}
	for i, s := range snaps {
		nth := 10 * (i + 1)
		if want := (snap{sales[nth-1], capacity - int64(nth)}); s != want {
			t.Errorf("snapshot %d: up to id %d, stock %d; want the %dth sale's id %d, stock %d", i+1, s.Upto, s.Stock, nth, want.Upto, want.Stock)
		}
	}
	if n := snapshotsExact(t, conn, 10); n != 3 {
		t.Errorf("%d snapshots in all, want 3 (none for product 1's one sale)", n)
	}

	check := func() stockCheck {
		t.Helper()
		var k stockCheck
		if err := conn.QueryRow(t.Context(), stmtSnapshotCheck, 0, 999).Scan(&k.stock, &k.since, &k.sold); err != nil {
			t.Fatal(err)
		}
		return k
	}
	var sum int64
	if err := conn.QueryRow(t.Context(), "SELECT SUM(delta) FROM ledger WHERE product = 0").Scan(&sum); err != nil {
		t.Fatal(err)
	}
	if k := check(); k.stock != sum || sum != capacity-35 || k.since != 5 || k.sold {
		t.Errorf("check: stock %d, %d sales since the snapshot, sold %v; want the ledger's sum %d (of %d), 5, false", k.stock, k.since, k.sold, sum, capacity-35)
	}
	if _, err := conn.Exec(t.Context(), "UPDATE ledger_snapshot SET stock = stock + 1000 WHERE product = 0 AND upto = $1", snaps[2].Upto); err != nil {
		t.Fatal(err)
	}
	if k := check(); k.stock != sum+1000 {
		t.Errorf("check after the latest snapshot gained 1000: stock %d, want %d; the check does not read the snapshot", k.stock, sum+1000)
	}
}

// A snapshot sums the rows up to its sale's id, but ids are taken at
// insert, not at commit: a sale with a lower id, still uncommitted when the
// snapshot is taken, would be missed by it and, below it, by every later
// check. A sale holds its product's lock from its check to its commit, so
// another sale of the product cannot even check until it ends (it times
// out waiting), and then it reads the first; a sale of another product
// does not wait. The snapshots are exact.
func TestSnapshotLockPerProduct(t *testing.T) {
	tgt, _ := setUp(t, "ledger-snapshot", targets.Stock{Products: 2, Capacity: 100}, "ledger.snapshot_every=1")
	first, second := schemaConn(t, "ledger-snapshot"), schemaConn(t, "ledger-snapshot")
	if _, err := second.Exec(t.Context(), "SET lock_timeout = '100ms'"); err != nil {
		t.Fatal(err)
	}
	held, err := sell(t, first, tgt.lockClass, 0, 1) // the lower id, uncommitted
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sell(t, second, tgt.lockClass, 0, 2); postgres.Code(err) != "55P03" {
		t.Errorf("a second sale of product 0 while the first holds its lock: %v, want a lock timeout (55P03)", err)
	}
	if _, err := second.Exec(t.Context(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	other, err := sell(t, second, tgt.lockClass, 1, 3)
	if err == nil {
		err = other.Commit(t.Context())
	}
	if err != nil {
		t.Errorf("a sale of product 1 while product 0's lock is held: %v, want it sold at once", err)
	}
	if err := held.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	next, err := sell(t, second, tgt.lockClass, 0, 2)
	if err == nil {
		err = next.Commit(t.Context())
	}
	if err != nil {
		t.Fatalf("the second sale of product 0 once the first committed: %v", err)
	}
	if n := snapshotsExact(t, first, 1); n != 3 {
		t.Errorf("%d snapshots, want 3, one per sale", n)
	}
}

// A few seconds of the long sale with a snapshot every 50 sales of a show:
// no errors, nothing oversold, duplicated or lost, and the snapshots exact,
// one every 50 sales of each show.
func TestSnapshotLongSale(t *testing.T) {
	sc := designtest.Scenario(t, "long-sale")
	sc.Arrivals.Duration = scenario.Duration(3 * time.Second)
	r := designtest.Run(t, "ledger-snapshot", sc, "ledger.snapshot_every=50")
	k := r.Checks
	if r.Orders.Errors != 0 || k.Oversold != 0 || k.DuplicatedOrders != 0 || k.Lost != 0 || k.Phantom != 0 {
		t.Errorf("errors %d (%q), oversold %d, duplicated %d, lost %d, phantom %d; want 0",
			r.Orders.Errors, r.Orders.ErrorSamples, k.Oversold, k.DuplicatedOrders, k.Lost, k.Phantom)
	}
	if n := snapshotsExact(t, schemaConn(t, "ledger-snapshot"), 50); n == 0 {
		t.Errorf("no snapshot after %d sales", r.Orders.Confirmed)
	}
}
