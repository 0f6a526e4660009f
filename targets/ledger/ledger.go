// Package ledger holds the append-only delta ledger on PostgreSQL: no row
// is ever updated. A product's stock is the sum of its rows: a restock
// appends +n, a sale appends -qty, a compensation appends +qty back. An
// index on (product) INCLUDE (delta) keeps the stock read proportional to
// one product's rows. A sale's row is unique per order id, so a
// resubmission is recognised in every variant.
//
//   - ledger: check-then-append at READ COMMITTED: read SUM(delta), append
//     -qty if enough, in two round trips with the application's work
//     between them (option ledger.app_time, 3ms). Concurrent buyers all
//     see the same stock: it oversells.
//   - ledger-serializable: the same at SERIALIZABLE; serialization
//     failures are retried (each counted as a conflict). Never oversells.
//   - ledger-reconcile: the naive append, confirmed at once; a reconciler
//     (every 100ms during the run, and once after) finds products below
//     zero and cancels their most recent sales with compensating rows,
//     each an apology to a buyer who was told yes. Oversold 0 after
//     reconciliation, at the price of apologies.
//   - ledger-projection: writes as ledger-serializable does; buyers read
//     their orders from a read model (my_orders) that a projector
//     refreshes every ledger.projection_interval (100ms), so a confirmed
//     order may not show at once (projection.go).
//   - ledger-snapshot: check-then-append under a lock per product, and
//     the sale that makes a product's Nth sale since its last snapshot
//     also writes a snapshot of its stock (option ledger.snapshot_every,
//     1000); the check reads the latest snapshot and the rows after it,
//     not the product's whole history (snapshot.go).
//
// Every variant's client is a targets.Reader: the ledgers show a buyer's
// orders from the ledger itself (a sale not compensated), at once;
// ledger-projection from its read model, once projected.
//
// The buyers share a pool of connections, as a shop's application tier
// does (option ledger.pool, 64 by default; see package postgres): up to
// that many workers keep one each for the whole run; beyond, each attempt
// takes one and gives it back, waiting in line for a free one, and the
// wait is part of the buyer's response time. An attempt holds its
// connection through the application's work (app_time), as a transaction
// must. A buyer whose deadline passes while it waits is told Error ("no
// connection within the timeout"), not Unknown: its order never reached
// the database, so it was not applied. The reconciler has a connection of
// its own, outside the pool.
package ledger

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/postgres"
)

type variant int

const (
	naive variant = iota
	serializable
	reconcile
	projection
	snapshot
)

// isolation is the level the variant's sales run at.
func (v variant) isolation() pgx.TxIsoLevel {
	if v == serializable || v == projection {
		return pgx.Serializable
	}
	return pgx.ReadCommitted
}

func init() {
	for _, r := range []struct {
		name, desc string
		v          variant
	}{
		{"ledger", "PostgreSQL append-only ledger, check SUM(delta) then append at READ COMMITTED; oversells", naive},
		{"ledger-serializable", "PostgreSQL append-only ledger, check then append at SERIALIZABLE, retrying conflicts; never oversells", serializable},
		{"ledger-reconcile", "PostgreSQL append-only ledger, append and confirm, then compensate oversold sales: oversold 0 after apologies", reconcile},
		{"ledger-projection", "PostgreSQL append-only ledger at SERIALIZABLE; buyers read their orders from a projection refreshed every interval: read-your-own-writes may fail", projection},
		{"ledger-snapshot", "PostgreSQL append-only ledger, a lock per product, a stock snapshot every N sales of it: the check reads the snapshot and the rows after it, so it stays cheap as the ledger grows", snapshot},
	} {
		targets.Register(targets.Registration{
			Name: r.name, Description: r.desc, OptionPrefix: "ledger",
			Options: []targets.OptionSpec{
				{Key: "app_time", Kind: targets.KindDuration, Default: "3ms",
					Help: "the application's work between reading the stock and appending the sale (validation, pricing, a payment hold)"},
				{Key: "reconcile_every", Kind: targets.KindDuration, Default: "100ms",
					Help: "ledger-reconcile: how often the reconciler runs during the run"},
				{Key: "projection_interval", Kind: targets.KindDuration, Default: "100ms",
					Help: "ledger-projection: how often the projector folds newly committed sales into the read model buyers read their orders from (my_orders)"},
				{Key: "snapshot_every", Kind: targets.KindInt, Default: strconv.Itoa(DefaultSnapshotEvery), Min: 1,
					Help: "ledger-snapshot: a product's stock is snapshotted by every Nth sale of it; the check reads the latest snapshot and at most about N rows after it"},
				postgres.PoolOption,
			},
			New: func(cfg targets.Config) (targets.Target, error) {
				if cfg.Backends == nil {
					return nil, targets.ErrNoBackends
				}
				every := cfg.Options.Duration("reconcile_every")
				if r.v == projection {
					every = cfg.Options.Duration("projection_interval")
				}
				if every <= 0 {
					every = 100 * time.Millisecond
				}
				return &Target{name: r.name, v: r.v, cfg: cfg, every: every, appTime: cfg.Options.Duration("app_time"),
					snapshotEvery: snapshotEvery(cfg.Options)}, nil
			},
		})
	}
}

// poolOption names the designs' pool option (postgres.PoolOption).
const poolOption = "ledger.pool"

const schemaSQL = `
CREATE TABLE ledger (
	id       bigserial PRIMARY KEY,
	product  int NOT NULL,
	delta    bigint NOT NULL,
	order_id bigint,
	kind     "char" NOT NULL,        -- 'r' restock, 's' sale, 'c' compensation
	at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ledger_product ON ledger (product) INCLUDE (delta);
CREATE UNIQUE INDEX ledger_sale ON ledger (order_id) WHERE kind = 's';
CREATE INDEX ledger_compensation ON ledger (order_id) WHERE kind = 'c'`

const (
	stmtCheck = "check"
	sqlCheck  = `SELECT COALESCE(SUM(delta), 0), EXISTS (SELECT 1 FROM ledger WHERE order_id = $2 AND kind = 's') FROM ledger WHERE product = $1`
	stmtShows = "shows"
	// sqlShows reads a buyer's order from the system of record: sold, and
	// not cancelled by the reconciler.
	sqlShows = `SELECT EXISTS (SELECT 1 FROM ledger WHERE order_id = $1 AND kind = 's') AND NOT EXISTS (SELECT 1 FROM ledger WHERE order_id = $1 AND kind = 'c')`
	stmtSale = "sale"
	sqlSale  = `INSERT INTO ledger (product, delta, order_id, kind) VALUES ($1, -$2::bigint, $3, 's') ON CONFLICT (order_id) WHERE kind = 's' DO NOTHING`

	// sqlCompensate cancels, newest first, the uncancelled sales of product
	// $1 that took its stock below zero.
	sqlCompensate = `
WITH deficit AS (
	SELECT -SUM(delta) AS d FROM ledger WHERE product = $1
), open_sales AS (
	SELECT s.order_id, -s.delta AS qty, SUM(-s.delta) OVER (ORDER BY s.id DESC) AS upto
	FROM ledger s
	WHERE s.product = $1 AND s.kind = 's'
	  AND NOT EXISTS (SELECT 1 FROM ledger c WHERE c.kind = 'c' AND c.order_id = s.order_id)
)
INSERT INTO ledger (product, delta, order_id, kind)
SELECT $1, o.qty, o.order_id, 'c' FROM open_sales o, deficit
WHERE deficit.d > 0 AND o.upto - o.qty < deficit.d`
)

var _ targets.Preflighter = (*Target)(nil)

// Target is a ledger design. It is safe for concurrent use by its clients.
type Target struct {
	name string
	v    variant
	cfg  targets.Config
	// every is how often the background pass runs: the reconciler's
	// (ledger-reconcile) or the projector's (ledger-projection).
	every time.Duration
	// appTime is the application's work between the read and the append.
	appTime time.Duration
	db      *postgres.DB
	stock   targets.Stock
	// snapshotEvery is ledger-snapshot's N: every Nth sale of a product
	// since its latest snapshot takes a new one.
	snapshotEvery int64
	lockClass     int32 // ledger-snapshot: the first key of its products' locks

	bg background // the reconciler or the projector
}

// background runs a pass (a reconciliation, a projection) in a goroutine
// of its own every interval until stopped, one pass at a time, and keeps
// the first failure. run and failure are safe for concurrent use; start
// and halt are called from the Target's owner (Setup, Audit, Close).
type background struct {
	stop context.CancelFunc
	done chan struct{} // closed when the goroutine has returned
	mu   sync.Mutex    // one pass at a time
	err  error         // the first failure of a pass, guarded by mu
}

// start runs pass every interval until stop, on a context that outlives
// ctx's cancellation (Setup's context ends before the run does).
func (b *background) start(ctx context.Context, every time.Duration, pass func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	b.stop, b.done = cancel, done
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if err := b.run(ctx, pass); err != nil && ctx.Err() == nil {
					b.mu.Lock()
					if b.err == nil {
						b.err = err
					}
					b.mu.Unlock()
				}
			}
		}
	}()
}

// run runs one pass, after any other pass has ended.
func (b *background) run(ctx context.Context, pass func(context.Context) error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return pass(ctx)
}

// failure returns the first failure of a pass run by the goroutine.
func (b *background) failure() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// halt stops the goroutine and waits for it to return. It is a no-op when
// none runs.
func (b *background) halt() {
	if b.stop != nil {
		b.stop()
		<-b.done
		b.stop = nil
	}
}

// Info describes the design and the server it ran on.
func (t *Target) Info() targets.Info {
	if t.db == nil {
		return targets.Info{Design: t.name}
	}
	var info targets.Info
	switch t.v {
	case serializable:
		info = t.db.Info("append-only ledger: read SUM(delta), app work, append -qty (2 round trips), retry serialization failures",
			"strong (SERIALIZABLE, optimistic: conflicts retried)", "serializable")
	case reconcile:
		info = t.db.Info("append-only ledger: read SUM(delta), app work, append -qty, confirm; reconciler compensates oversold sales",
			"eventual (oversells, then compensates: apologies)", "read committed")
		info.Settings["reconcile_every"] = t.every.String()
	case projection:
		info = t.projectionInfo()
	case snapshot:
		info = t.snapshotInfo()
	default:
		info = t.db.Info("append-only ledger: read SUM(delta), app work, append -qty if enough (2 round trips)",
			"none (check-then-act at READ COMMITTED: oversells)", "read committed")
	}
	info.Settings["app_time"] = t.appTime.String()
	return info
}

// Setup creates the ledger in a fresh schema with one restock per product
// (and ledger-projection's read model), and starts ledger-reconcile's
// reconciler or ledger-projection's projector.
func (t *Target) Setup(ctx context.Context, s targets.Stock) error {
	db, err := postgres.Open(ctx, t.cfg, t.name)
	if err != nil {
		return err
	}
	t.use(db, s)
	stmts := []string{schemaSQL}
	switch t.v {
	case projection:
		stmts = append(stmts, projectionSchemaSQL...)
	case snapshot:
		stmts = append(stmts, snapshotSchemaSQL...)
	}
	stmts = append(stmts,
		fmt.Sprintf("INSERT INTO ledger (product, delta, kind) SELECT g, %d, 'r' FROM generate_series(0, %d) g", s.Capacity, s.Products-1),
		"ANALYZE ledger")
	if err := db.Exec(ctx, stmts...); err != nil {
		return err
	}
	switch t.v {
	case snapshot:
		return t.setUpSnapshot(ctx)
	case reconcile:
		t.bg.start(ctx, t.every, t.reconcile)
	case projection:
		t.bg.start(ctx, t.every, t.project)
	}
	return nil
}

// Attach connects to the ledger a Setup elsewhere created (an agent of a
// spread run). ledger-reconcile's reconciler and ledger-projection's
// projector run where the ledger was set up, not on agents.
func (t *Target) Attach(ctx context.Context, s targets.Stock) error {
	db, err := postgres.Attach(ctx, t.cfg, t.name)
	if err != nil {
		return err
	}
	t.use(db, s)
	if t.v == snapshot {
		return t.setUpSnapshot(ctx)
	}
	return nil
}

var _ targets.Attacher = (*Target)(nil)

func (t *Target) use(db *postgres.DB, s targets.Stock) {
	t.db, t.stock = db, s
	db.Statements = map[string]string{stmtCheck: sqlCheck, stmtSale: sqlSale, stmtShows: sqlShows}
	switch t.v {
	case projection:
		db.Statements[stmtShows] = sqlShowsProjected
	case snapshot:
		for name, sql := range snapshotStatements {
			db.Statements[name] = sql
		}
	}
}

// reconcile compensates the newest sales of every product below zero.
func (t *Target) reconcile(ctx context.Context) error {
	rows, err := t.db.Pool.Query(ctx, "SELECT product FROM ledger GROUP BY product HAVING SUM(delta) < 0")
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	products, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	for _, p := range products {
		if _, err := t.db.Pool.Exec(ctx, sqlCompensate, p); err != nil {
			return fmt.Errorf("reconcile product %d: %w", p, err)
		}
	}
	return nil
}

// Preflight checks that the server is reachable and has room for the
// pool (postgres.Preflight).
func (t *Target) Preflight(ctx context.Context) error {
	return postgres.Preflight(ctx, t.cfg, poolOption)
}

// NewClient returns a client of the buyers' pool.
func (t *Target) NewClient(ctx context.Context, _ int) (targets.Client, error) {
	c, err := t.db.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return &client{Conn: c, t: t}, nil
}

// Audit stops the reconciler (the projector), reconciles (projects) a last
// time, and reads the ledger. The read model is not audited: the ledger is
// the system of record.
func (t *Target) Audit(ctx context.Context) (targets.Audit, error) {
	a := targets.Audit{Sold: make([]int64, t.stock.Products)}
	switch t.v {
	case reconcile:
		t.bg.halt()
		if err := t.bg.run(ctx, t.reconcile); err != nil {
			return a, err
		}
		if err := t.bg.failure(); err != nil {
			return a, fmt.Errorf("the reconciler failed during the run: %w", err)
		}
	case projection:
		t.bg.halt()
		if err := t.bg.failure(); err != nil {
			return a, fmt.Errorf("the projector failed during the run: %w", err)
		}
		if err := t.bg.run(ctx, t.project); err != nil {
			return a, err
		}
	}
	sold, err := postgres.SoldByProduct(ctx, t.db.Pool, "SELECT product, -SUM(delta) FILTER (WHERE kind <> 'r') FROM ledger GROUP BY product", t.stock.Products)
	a.Sold = sold
	if err != nil {
		return a, err
	}
	a.Orders = postgres.StreamOrders(ctx, t.db.Pool, `SELECT order_id, count(*) FILTER (WHERE kind = 's'), count(*) FILTER (WHERE kind = 'c')
		FROM ledger WHERE order_id IS NOT NULL GROUP BY order_id`)
	return a, nil
}

// Close stops the reconciler (the projector) and releases the pool.
func (t *Target) Close() error {
	t.bg.halt()
	t.db.Close()
	return nil
}

// client is one worker's way to the buyers' pool (its Close gives back
// what it holds).
type client struct {
	*postgres.Conn
	t *Target
}

// A ledger's client reads the buyer's orders: from the ledger itself (at
// once), or from ledger-projection's read model (once projected).
var _ targets.Reader = (*client)(nil)

// Shows reports whether the buyer's orders show order id: a sale in the
// ledger not cancelled by a compensation, or, for ledger-projection, a row
// of the read model my_orders. It reads through the worker's connection,
// as Buy does.
func (c *client) Shows(ctx context.Context, id targets.OrderID) (bool, error) {
	conn, err := c.Get(ctx)
	if err != nil {
		return false, err
	}
	defer c.Put()
	var shows bool
	if err := conn.QueryRow(ctx, stmtShows, int64(id)).Scan(&shows); err != nil {
		return false, fmt.Errorf("ledger: read order %v: %w", id, err)
	}
	return shows, nil
}

// errGaveUp is the Err of an order whose serializable retries ran out of
// time.
var errGaveUp = errors.New("ledger: gave up retrying serialization failures")

// Buy sells one order: read the stock, append the sale if enough.
func (c *client) Buy(ctx context.Context, o targets.Order) targets.Reply {
	conn, err := c.Get(ctx)
	if err != nil {
		return postgres.Failed(ctx, err)
	}
	defer c.Put()
	iso := c.t.v.isolation()
	var conflicts int32
	var cause string // of the last conflict
	for {
		var out targets.Outcome
		if c.t.v == snapshot {
			out, err = c.t.checkSnapshotThenAppend(ctx, conn, o)
		} else {
			out, err = checkThenAppend(ctx, conn, iso, o, c.t.appTime)
		}
		if err == nil {
			return targets.Reply{Outcome: out, Conflicts: conflicts, Cause: cause}
		}
		if code := postgres.Code(err); code == postgres.SerializationFailure || code == postgres.DeadlockDetected {
			conflicts++
			cause = targets.SQLStateCause(code)
			if ctx.Err() == nil {
				continue
			}
			return targets.Reply{Outcome: targets.Rejected, Err: fmt.Errorf("%w: %w", errGaveUp, err), Conflicts: conflicts, Cause: cause}
		}
		r := postgres.Failed(ctx, err)
		r.Conflicts, r.Cause = conflicts, cause
		return r
	}
}

// checkThenAppend is one try, in one transaction: round trip 1 begins and
// reads the stock (and whether this order already sold); the application
// works on the order for appTime; round trip 2 appends the sale and
// commits.
func checkThenAppend(ctx context.Context, conn *pgx.Conn, iso pgx.TxIsoLevel, o targets.Order, appTime time.Duration) (targets.Outcome, error) {
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: iso})
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var stock int64
	var sold bool
	if err := tx.QueryRow(ctx, stmtCheck, o.Product, int64(o.ID)).Scan(&stock, &sold); err != nil {
		return 0, err
	}
	switch {
	case sold: // a resubmission of a sale
		return targets.Confirmed, tx.Commit(ctx)
	case stock < o.Quantity:
		return targets.SoldOut, tx.Commit(ctx)
	}
	if err := work(ctx, appTime); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, stmtSale, o.Product, o.Quantity, int64(o.ID)); err != nil {
		return 0, err
	}
	return targets.Confirmed, tx.Commit(ctx)
}

// work is the application's work on an order between reading the stock and
// writing the sale: it takes appTime, or returns ctx's error if that ends
// first.
func work(ctx context.Context, appTime time.Duration) error {
	if appTime <= 0 {
		return nil
	}
	t := time.NewTimer(appTime)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
