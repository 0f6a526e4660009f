package ledger

// ledger-snapshot: a ledger whose check does not read a product's whole
// history. The naive check sums every row of the product, so it costs more
// with every sale: on a long sale the check that read ten rows at the
// start reads thousands later, on every order. Event stores meet the same
// problem ("too many events") with snapshots, and so does this design: the
// sale that makes a product's Nth sale since its latest snapshot (option
// ledger.snapshot_every, DefaultSnapshotEvery) also writes a snapshot row,
// (product, upto, stock), where upto is that sale's own ledger id and stock
// the product's stock once it is sold. The check reads the latest snapshot
// and sums the rows after it: at most N rows, however long the ledger is. The ledger is still the system of record: the audit, and a buyer's
// read of their orders, read the ledger, never the snapshots, so a wrong
// snapshot could not hide an oversell from the checker.
//
// # Consistency: a lock per product, around the append
//
// The stock is read twice. First as the other ledgers read it, before the
// application's work, without a lock: it answers at once an order whose
// show is sold out (the stock only falls) or which already sold (a
// resubmission). Then the append takes a lock of its product (a
// transaction-level advisory lock, keyed by the snapshot table and the
// product) and, in one statement begun once the lock is held, reads the
// stock again and appends the sale only if it is enough. The transaction
// runs at READ COMMITTED, so that statement sees every sale of the product
// committed before, and the lock is held to the commit: a product's
// appends happen one at a time, on the true stock, and the design never
// oversells. It is pessimistic where ledger-serializable is optimistic: a
// product's appends wait in line for its lock (the wait is in the buyers'
// response times) instead of conflicting and retrying, but the lock is
// not held across the application's work, only across the append and the
// commit, about a millisecond; sales of different products do not wait
// for one another. The lock and the append go in one round trip (a
// pipeline of two statements), so a sale takes the round trips of the
// other ledgers (begin, check, append, commit).
//
// # Why a snapshot is exact
//
// A snapshot says "the rows of the product with an id up to upto sum to
// stock", and every later check trusts it. Ledger ids are taken when a row
// is inserted, not when its transaction commits, so the danger is a row
// with an id below upto that commits after the snapshot: no check would
// ever count it. Here every row of a product is appended by a holder of
// the product's lock, one transaction at a time, so each takes its id
// after every earlier holder has committed or rolled back: the rows below
// a sale's id are all committed, visible to its append's statement, and in
// the stock it snapshots (which that statement reads, under the lock).
// This holds as long as every writer of the ledger takes the lock, as the
// design's buyers do; a row appended by hand without it could slip below
// a snapshot (the audit would still count it).
//
// # Why not SERIALIZABLE
//
// A first version ran ledger-serializable's transaction with snapshots,
// and its snapshots were exact too: a sale with a lower id committing after
// the snapshot read the product's rows before writing, as the snapshotting
// sale did, and PostgreSQL aborted one of the two (a read-write cycle).
// But SERIALIZABLE records reads as predicate locks on index pages, and
// while a product's rows share index pages with its neighbours' (on a
// fresh ledger, or before a product's first snapshot, when the check reads
// from the product's first row), sales of different products conflict. On
// long-sale (10 shows, 1,000 orders/s) it retried 1.4 to 3.7 times per
// order and answered at p50 1.1 to 2 s; with 100 shows of 10 sales/s each,
// still 2.2 times per order. The cost of the check is what the design
// shows, and the retries drowned it. A second version held the product's
// lock from the check to the commit, across the application's work (3ms):
// about 5ms a sale, and at 150 sales/s a show (1,500 orders/s over 10
// shows) it fell behind (p50 159ms).

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/stampede-bench/stampede/targets"
)

// DefaultSnapshotEvery is how many sales of a product ledger-snapshot lets
// pass between two snapshots of its stock, unless option
// ledger.snapshot_every says otherwise.
const DefaultSnapshotEvery = 1000

// snapshotEvery returns option snapshot_every: DefaultSnapshotEvery when
// absent.
func snapshotEvery(o targets.Options) int64 {
	if n := o.Int("snapshot_every"); n >= 1 {
		return int64(n)
	}
	return DefaultSnapshotEvery
}

// snapshotSchemaSQL adapts the ledger's schema to ledger-snapshot: the
// product index is ordered by id, so that the rows after a snapshot are
// one range of it, which is all the check reads, and the snapshots have a
// table of their own.
var snapshotSchemaSQL = []string{
	`DROP INDEX ledger_product`,
	`CREATE INDEX ledger_product ON ledger (product, id) INCLUDE (delta, kind)`,
	// A snapshot: the rows of product with an id up to upto (the id of
	// the sale that took it, included) sum to stock.
	`CREATE TABLE ledger_snapshot (
	product int NOT NULL,
	upto    bigint NOT NULL,
	stock   bigint NOT NULL,
	at      timestamptz NOT NULL DEFAULT clock_timestamp(),
	PRIMARY KEY (product, upto)
)`,
}

// sqlSnapshotLockClass is the first key of the products' locks: the
// snapshot table's oid, so that two schemas' locks differ.
const sqlSnapshotLockClass = `SELECT 'ledger_snapshot'::regclass::oid::bigint`

const (
	stmtSnapshotLock = "snapshot_lock"
	// sqlSnapshotLock waits for the lock of product $2 (class $1) and
	// holds it to the end of the transaction.
	sqlSnapshotLock = `SELECT pg_advisory_xact_lock($1::int, $2::int)`

	// sqlSnapshotStock is the stock of product $1: its latest snapshot
	// and the rows after it (snap's), and how many sales those rows hold.
	sqlSnapshotStock = `
snap AS (
	SELECT upto, stock FROM ledger_snapshot WHERE product = $1 ORDER BY upto DESC LIMIT 1
), cur AS (
	SELECT COALESCE((SELECT stock FROM snap), 0) + COALESCE(SUM(l.delta), 0) AS stock,
		count(*) FILTER (WHERE l.kind = 's') AS since
	FROM ledger l
	WHERE l.product = $1 AND l.id > COALESCE((SELECT upto FROM snap), 0)
)`

	stmtSnapshotCheck = "snapshot_check"
	// sqlSnapshotCheck reads product $1's stock, the sales since its
	// latest snapshot, and whether order $2 already sold.
	sqlSnapshotCheck = `WITH ` + sqlSnapshotStock + `
SELECT stock, since, EXISTS (SELECT 1 FROM ledger WHERE order_id = $2 AND kind = 's') FROM cur`

	stmtSnapshotAppend = "snapshot_append"
	// sqlSnapshotAppend reads product $1's stock again and appends the
	// sale of order $3, $2 seats, if the stock is enough and the order
	// did not sell already; when the sale is the $4th since the latest
	// snapshot, it also snapshots the stock, less the sale. It returns
	// whether the order is sold (now or before) and the stock it read.
	sqlSnapshotAppend = `WITH ` + sqlSnapshotStock + `, sale AS (
	INSERT INTO ledger (product, delta, order_id, kind)
	SELECT $1, -$2::bigint, $3, 's' FROM cur WHERE cur.stock >= $2
	ON CONFLICT (order_id) WHERE kind = 's' DO NOTHING
	RETURNING id
), snapshot AS (
	INSERT INTO ledger_snapshot (product, upto, stock)
	SELECT $1, sale.id, cur.stock - $2 FROM sale, cur WHERE cur.since + 1 >= $4
)
SELECT EXISTS (SELECT 1 FROM sale) OR EXISTS (SELECT 1 FROM ledger WHERE order_id = $3 AND kind = 's'), stock FROM cur`
)

// snapshotStatements are ledger-snapshot's statements, prepared on every
// buyer's connection.
var snapshotStatements = map[string]string{
	stmtSnapshotLock: sqlSnapshotLock, stmtSnapshotCheck: sqlSnapshotCheck, stmtSnapshotAppend: sqlSnapshotAppend,
}

// stockCheck is what ledger-snapshot's check reads of a product.
type stockCheck struct {
	stock int64 // the product's stock: its latest snapshot plus the rows after it
	since int64 // the sales after the latest snapshot (every sale, before the first)
	sold  bool  // the order already sold
}

// checkStock reads the stock of product and whether order id sold, without
// a lock.
func checkStock(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, product int, id targets.OrderID) (stockCheck, error) {
	var c stockCheck
	err := q.QueryRow(ctx, stmtSnapshotCheck, product, int64(id)).Scan(&c.stock, &c.since, &c.sold)
	return c, err
}

// lockAndAppend takes the lock of o's product (keys class, product) in tx
// and appends o if the stock, read again under the lock, is enough, with a
// snapshot if o is the every-th sale since the latest; one round trip. It
// returns whether o is sold (now or before).
func lockAndAppend(ctx context.Context, tx pgx.Tx, class int32, o targets.Order, every int64) (bool, error) {
	var b pgx.Batch
	b.Queue(stmtSnapshotLock, class, o.Product)
	b.Queue(stmtSnapshotAppend, o.Product, o.Quantity, int64(o.ID), every)
	br := tx.SendBatch(ctx, &b)
	var sold bool
	var stock int64
	_, err := br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&sold, &stock)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return sold, err
}

// checkSnapshotThenAppend is ledger-snapshot's try, in one transaction at
// READ COMMITTED: round trip 1 begins; round trip 2 reads the stock (the
// latest snapshot and the rows after it) and whether the order sold; the
// application works on the order for appTime; round trip 3 takes the
// product's lock and appends the sale if the stock, read again, is enough
// (with a new snapshot when it is the Nth sale since the latest); round
// trip 4 commits, which lets the lock go.
func (t *Target) checkSnapshotThenAppend(ctx context.Context, conn *pgx.Conn, o targets.Order) (targets.Outcome, error) {
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	c, err := checkStock(ctx, tx, o.Product, o.ID)
	if err != nil {
		return 0, err
	}
	switch {
	case c.sold: // a resubmission of a sale
		return targets.Confirmed, tx.Commit(ctx)
	case c.stock < o.Quantity: // the stock only falls: sold out for good
		return targets.SoldOut, tx.Commit(ctx)
	}
	if err := work(ctx, t.appTime); err != nil {
		return 0, err
	}
	sold, err := lockAndAppend(ctx, tx, t.lockClass, o, t.snapshotEvery)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	if !sold { // the seats went to others during the application's work
		return targets.SoldOut, nil
	}
	return targets.Confirmed, nil
}

// setUpSnapshot reads the first key of the products' locks, once the
// schema exists.
func (t *Target) setUpSnapshot(ctx context.Context) error {
	var oid int64
	if err := t.db.Pool.QueryRow(ctx, sqlSnapshotLockClass).Scan(&oid); err != nil {
		return fmt.Errorf("ledger-snapshot: read the lock key: %w", err)
	}
	t.lockClass = int32(uint32(oid)) // an oid is 32 bits, the lock's key a signed int
	return nil
}

// snapshotInfo describes ledger-snapshot.
func (t *Target) snapshotInfo() targets.Info {
	info := t.db.Info(fmt.Sprintf("append-only ledger: read the product's latest stock snapshot and SUM(delta) of the rows after it, app work, "+
		"then under a lock of the product read it again and append -qty if enough (2 round trips); a snapshot of a product's stock every %d sales of it", t.snapshotEvery),
		"strong (a lock per product from the append to the commit: a product's appends wait in line, on the stock read under the lock; snapshots exact)",
		"read committed")
	info.Settings["snapshot_every"] = strconv.FormatInt(t.snapshotEvery, 10)
	return info
}
