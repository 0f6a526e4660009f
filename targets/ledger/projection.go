package ledger

// ledger-projection: the ledger of ledger-serializable (the same check and
// append, at SERIALIZABLE, the same retries) with an asynchronous read
// side. Buyers read "my orders" from a read model, my_orders, which a
// projector refreshes every projection_interval from the sales committed
// since its last pass; it also keeps seats_left, the stock a shop page
// would show. Between a sale's commit and the next pass the buyer's own
// order does not show: the stale read the engine counts when buyers read
// after buying.
//
// # Which rows a pass folds
//
// A ledger row's id is taken from a sequence when the row is inserted,
// not when its transaction commits: a sale with id 100 may commit after
// one with id 101. A projector that remembered "folded up to id 101"
// would never fold sale 100, and its buyer would never see the order. So
// the projector remembers a transaction horizon instead. Each row records
// the transaction that wrote it (column tx, pg_current_xact_id()). A pass
// folds the rows whose transaction is below the xmin of its snapshot
// (pg_snapshot_xmin(pg_current_snapshot())) and at or above the horizon
// of the previous pass: every transaction below xmin has ended, so those
// rows are all the rows there will ever be below it, and the set folded
// is exact. Then the horizon moves to that xmin. The price: a sale shows
// only once every transaction that took an id before it has ended (a
// buyer's transaction holds one from its append to its commit, a round
// trip; a long transaction elsewhere on the server holds the projection
// back as long as it runs). It needs PostgreSQL 13 or later.
//
// A pass is one statement, so it folds and moves the horizon atomically: a
// pass that fails folds nothing and the next one does its work. The state
// lives in the table projection_state, for inspection after a run.

import (
	"context"
	"fmt"

	"github.com/stampede-bench/stampede/targets"
)

// projectionSchemaSQL adds the read model to the ledger's schema: the
// writing transaction of each ledger row (filled by default, so the sale's
// statement is ledger-serializable's), the read model and the projector's
// horizon.
var projectionSchemaSQL = []string{
	`ALTER TABLE ledger ADD COLUMN tx xid8 NOT NULL DEFAULT pg_current_xact_id()`,
	`CREATE INDEX ledger_tx ON ledger (tx)`,
	`CREATE TABLE my_orders (
	order_id bigint PRIMARY KEY,
	product  int NOT NULL,
	qty      bigint NOT NULL
)`,
	`CREATE TABLE seats_left (
	product   int PRIMARY KEY,
	remaining bigint NOT NULL
)`,
	// folded: every ledger row written by a transaction below it has been
	// folded, and none at or above it.
	`CREATE TABLE projection_state (folded xid8 NOT NULL)`,
	`INSERT INTO projection_state VALUES ('0')`,
}

// sqlShowsProjected reads a buyer's order from the read model.
const sqlShowsProjected = `SELECT EXISTS (SELECT 1 FROM my_orders WHERE order_id = $1)`

// sqlProject is one pass: it folds the rows of the transactions between
// the horizon and its snapshot's xmin, and moves the horizon there. Its
// parts share one snapshot.
const sqlProject = `
WITH h AS (
	SELECT folded AS lo, pg_snapshot_xmin(pg_current_snapshot()) AS hi FROM projection_state
), sales AS (
	INSERT INTO my_orders (order_id, product, qty)
	SELECT l.order_id, l.product, -l.delta FROM ledger l, h
	WHERE l.kind = 's' AND l.tx >= h.lo AND l.tx < h.hi
	ON CONFLICT (order_id) DO NOTHING
), seats AS (
	INSERT INTO seats_left (product, remaining)
	SELECT l.product, SUM(l.delta) FROM ledger l, h
	WHERE l.tx >= h.lo AND l.tx < h.hi
	GROUP BY l.product
	ON CONFLICT (product) DO UPDATE SET remaining = seats_left.remaining + EXCLUDED.remaining
)
UPDATE projection_state SET folded = h.hi FROM h WHERE h.hi > h.lo`

// project runs one pass of the projector, on the design's own pool (not
// the buyers').
func (t *Target) project(ctx context.Context) error {
	if _, err := t.db.Pool.Exec(ctx, sqlProject); err != nil {
		return fmt.Errorf("project the ledger into my_orders: %w", err)
	}
	return nil
}

// projectionInfo describes ledger-projection.
func (t *Target) projectionInfo() targets.Info {
	info := t.db.Info("append-only ledger as ledger-serializable (read SUM(delta), app work, append -qty, retry serialization failures); "+
		"buyers read their orders from a read model (my_orders) that a projector refreshes from the committed sales",
		fmt.Sprintf("serializable writes; reads from a projection refreshed every %v: a buyer may not see their order at once", t.every),
		"serializable")
	info.Settings["projection_interval"] = t.every.String()
	info.Settings["read_side"] = "my_orders, projected asynchronously"
	return info
}
