// Package sqlcounter holds the row-locked SQL counter on PostgreSQL: one row
// per product with the seats remaining, and a sale a conditional update of
// that row. It never oversells; its latency grows with contention on the
// hot row.
//
//   - sqlcounter: in one transaction (one round trip, pipelined), claim the
//     order id in an orders table, then the conditional
//     UPDATE ... SET remaining = remaining - qty WHERE remaining >= qty, and
//     record the outcome. A resubmitted order finds its claim and gets the
//     original outcome: idempotent.
//   - sqlcounter-forupdate: the same with SELECT ... FOR UPDATE, a check in
//     the client, then UPDATE: the pessimistic version, holding the row
//     lock across a second round trip.
//   - sqlcounter-noidem: the conditional UPDATE alone (plus an append to an
//     audit table in the same statement, so duplicates can be counted):
//     resubmissions apply again. Its closed-loop users can run as tasks of
//     an event loop (targets.LoopTarget), speaking the wire protocol
//     (postgres.Wire).
//
// The buyers share a pool of connections, as a shop's application tier
// does (option sqlcounter.pool, 64 by default; see package postgres): up
// to that many workers keep one each for the whole run; beyond, each
// attempt takes one and gives it back, waiting in line for a free one, and
// the wait is part of the buyer's response time. Event-loop tasks share
// the pool's connections the same way, waiting through the loop, so that
// the loop serves any number of users. A buyer whose deadline passes while
// it waits is told Error ("no connection within the timeout"), not
// Unknown: its order never reached the database, so it was not applied.
package sqlcounter

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/postgres"
)

type variant int

const (
	idempotent variant = iota
	forUpdate
	noIdem
)

func init() {
	for _, r := range []struct {
		name, desc string
		v          variant
	}{
		{"sqlcounter", "PostgreSQL row per product, conditional UPDATE and an order-id claim in one transaction; never oversells or duplicates", idempotent},
		{"sqlcounter-forupdate", "PostgreSQL row per product, SELECT FOR UPDATE then UPDATE across two round trips, idempotent: the pessimistic version", forUpdate},
		{"sqlcounter-noidem", "PostgreSQL row per product, the conditional UPDATE alone: never oversells, applies resubmissions again", noIdem},
	} {
		targets.Register(targets.Registration{
			Name: r.name, Description: r.desc, OptionPrefix: "sqlcounter",
			Options: []targets.OptionSpec{postgres.PoolOption},
			New: func(cfg targets.Config) (targets.Target, error) {
				if cfg.Backends == nil {
					return nil, targets.ErrNoBackends
				}
				return &Target{name: r.name, v: r.v, cfg: cfg}, nil
			},
		})
	}
}

// poolOption names the designs' pool option (postgres.PoolOption).
const poolOption = "sqlcounter.pool"

// NoIdemSQL is sqlcounter-noidem's statement in pgbench's syntax
// (:order_id, :product, :qty), so scripts/vs-pgbench runs the very same.
//
//go:embed noidem.sql
var NoIdemSQL string

var pgbenchVar = regexp.MustCompile(`:(order_id|product|qty)\b`)

// positional turns pgbench variables into $1 (order_id), $2 (product), $3 (qty).
func positional(sql string) string {
	sql = strings.TrimSuffix(strings.TrimSpace(sql), ";")
	return pgbenchVar.ReplaceAllStringFunc(sql, func(v string) string {
		return map[string]string{":order_id": "$1", ":product": "$2", ":qty": "$3"}[v]
	})
}

const schemaSQL = `
CREATE TABLE stock (
	product   int PRIMARY KEY,
	capacity  bigint NOT NULL,
	remaining bigint NOT NULL
);
CREATE TABLE orders (
	order_id bigint PRIMARY KEY,
	product  int NOT NULL,
	qty      bigint NOT NULL,
	buyer    bigint NOT NULL DEFAULT 0,
	outcome  "char",                 -- 'c' confirmed, 's' sold out, 'r' refused by the buyer limit; NULL while being decided
	at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_buyer ON orders (buyer);
CREATE TABLE applied (               -- sqlcounter-noidem's audit trail: no key, every application
	order_id bigint NOT NULL,
	product  int NOT NULL,
	qty      bigint NOT NULL
)`

// Statements, prepared on every connection.
const (
	// claim takes the order id; it waits for a concurrent twin to end
	// and then does nothing.
	stmtClaim = "claim"
	sqlClaim  = `INSERT INTO orders (order_id, product, qty, buyer) VALUES ($1, $2, $3, $4) ON CONFLICT (order_id) DO NOTHING`
	// sell sells if the claim is this transaction's (outcome still NULL)
	// and records the outcome.
	stmtSell = "sell"
	sqlSell  = `
WITH sale AS (
	UPDATE stock SET remaining = remaining - $3
	WHERE product = $2 AND remaining >= $3
	  AND EXISTS (SELECT 1 FROM orders WHERE order_id = $1 AND outcome IS NULL)
	RETURNING product
)
UPDATE orders SET outcome = CASE WHEN EXISTS (SELECT 1 FROM sale) THEN 'c' ELSE 's' END
WHERE order_id = $1 AND outcome IS NULL`
	// sell_limited is sell under a per-buyer limit ($5 tickets): with the
	// buyer's lock held (buyer_lock), the tickets the buyer already holds
	// plus these must stay within it, or the order is refused ('r').
	stmtBuyerLock   = "buyer_lock"
	sqlBuyerLock    = `SELECT pg_advisory_xact_lock($1)`
	stmtSellLimited = "sell_limited"
	sqlSellLimited  = `
WITH spent AS (SELECT COALESCE(SUM(qty), 0) AS n FROM orders WHERE buyer = $4 AND outcome = 'c'),
sale AS (
	UPDATE stock SET remaining = remaining - $3
	WHERE product = $2 AND remaining >= $3
	  AND (SELECT n FROM spent) + $3 <= $5
	  AND EXISTS (SELECT 1 FROM orders WHERE order_id = $1 AND outcome IS NULL)
	RETURNING product
)
UPDATE orders SET outcome = CASE WHEN EXISTS (SELECT 1 FROM sale) THEN 'c'
	WHEN (SELECT n FROM spent) + $3 > $5 THEN 'r' ELSE 's' END
WHERE order_id = $1 AND outcome IS NULL`
	stmtOutcome = "outcome"
	sqlOutcome  = `SELECT outcome FROM orders WHERE order_id = $1`

	// forupdate: claim and lock, then decide in the client.
	stmtLock   = "lock"
	sqlLock    = `SELECT remaining FROM stock WHERE product = $1 FOR UPDATE`
	stmtTake   = "take"
	sqlTake    = `UPDATE stock SET remaining = remaining - $2 WHERE product = $1`
	stmtDecide = "decide"
	sqlDecide  = `UPDATE orders SET outcome = $2 WHERE order_id = $1`
	// shows: the buyer's "my orders", read from the tables sales write.
	stmtShows      = "shows"
	sqlShows       = `SELECT EXISTS (SELECT 1 FROM orders WHERE order_id = $1 AND outcome = 'c')`
	stmtShowsNoIdm = "shows_noidem"
	sqlShowsNoIdem = `SELECT EXISTS (SELECT 1 FROM applied WHERE order_id = $1)`
	stmtNoIdem     = "noidem"
)

var (
	_ targets.LoopTarget  = (*Target)(nil)
	_ targets.Preflighter = (*Target)(nil)
)

// Target is a row-locked counter design. It is safe for concurrent use by
// its clients.
type Target struct {
	name  string
	v     variant
	cfg   targets.Config
	db    *postgres.DB
	stock targets.Stock
}

// Info describes the design and the server it ran on.
func (t *Target) Info() targets.Info {
	if t.db == nil {
		return targets.Info{Design: t.name}
	}
	switch t.v {
	case forUpdate:
		return t.db.Info("SELECT ... FOR UPDATE, check, UPDATE; orders keyed by id (2 round trips)",
			"strong (row lock held across a round trip), idempotent", "read committed")
	case noIdem:
		return t.db.Info("conditional UPDATE ... WHERE remaining >= qty, nothing else (1 round trip)",
			"strong (row lock), not idempotent", "read committed")
	}
	i := t.db.Info("claim order id, conditional UPDATE ... WHERE remaining >= qty, record outcome (1 pipelined round trip)",
		"strong (row lock), idempotent", "read committed")
	if t.stock.BuyerLimit > 0 {
		i.Settings["buyer_limit"] = fmt.Sprintf("%d tickets, enforced under a lock per buyer", t.stock.BuyerLimit)
	}
	return i
}

// Setup creates the tables in a fresh schema and stocks the products.
func (t *Target) Setup(ctx context.Context, s targets.Stock) error {
	db, err := postgres.Open(ctx, t.cfg, t.name)
	if err != nil {
		return err
	}
	t.use(db, s)
	return db.Exec(ctx, schemaSQL,
		fmt.Sprintf("INSERT INTO stock SELECT g, %d, %d FROM generate_series(0, %d) g", s.Capacity, s.Capacity, s.Products-1))
}

// Attach connects to the tables a Setup elsewhere created (an agent of a
// spread run).
func (t *Target) Attach(ctx context.Context, s targets.Stock) error {
	db, err := postgres.Attach(ctx, t.cfg, t.name)
	if err != nil {
		return err
	}
	t.use(db, s)
	return nil
}

func (t *Target) use(db *postgres.DB, s targets.Stock) {
	t.db, t.stock = db, s
	db.Statements = map[string]string{
		stmtClaim: sqlClaim, stmtSell: sqlSell, stmtOutcome: sqlOutcome,
		stmtLock: sqlLock, stmtTake: sqlTake, stmtDecide: sqlDecide, stmtNoIdem: positional(NoIdemSQL),
		stmtShows: sqlShows, stmtShowsNoIdm: sqlShowsNoIdem, stmtBuyerLock: sqlBuyerLock, stmtSellLimited: sqlSellLimited,
	}
}

var _ targets.Attacher = (*Target)(nil)

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

// Its noidem variant's clients run on the engine's event loop; a drift of
// NewLoopClient's signature must not silently fall back to goroutines.
var _ targets.LoopTarget = (*Target)(nil)

// NewLoopClient returns sqlcounter-noidem's client for a task of an event
// loop: the same statement, over postgres.Wire, on a connection of its own
// or one of the pool's that it waits for through the loop
// (postgres.LoopConn). The other variants have none (targets.ErrNoLoop).
func (t *Target) NewLoopClient(ctx context.Context, _ int, loop targets.Loop) (targets.Client, error) {
	if t.v != noIdem {
		return nil, targets.ErrNoLoop
	}
	c, err := t.db.LoopConn(ctx, loop)
	if err != nil {
		return nil, err
	}
	return &loopClient{c}, nil
}

// loopClient is sqlcounter-noidem's client on an event loop.
type loopClient struct{ *postgres.LoopConn }

// Buy sells one order with the conditional UPDATE.
func (c *loopClient) Buy(ctx context.Context, o targets.Order) targets.Reply {
	n, err := c.Exec(ctx, stmtNoIdem, int64(o.ID), int64(o.Product), o.Quantity)
	if err != nil {
		return postgres.Failed(ctx, err)
	}
	return noIdemReply(n)
}

func noIdemReply(rowsAffected int64) targets.Reply {
	if rowsAffected == 1 {
		return targets.Reply{Outcome: targets.Confirmed}
	}
	return targets.Reply{Outcome: targets.SoldOut}
}

// Audit reads the stock rows and the orders.
func (t *Target) Audit(ctx context.Context) (targets.Audit, error) {
	sold, err := postgres.SoldByProduct(ctx, t.db.Pool, "SELECT product, capacity - remaining FROM stock", t.stock.Products)
	a := targets.Audit{Sold: sold}
	if err != nil {
		return a, err
	}
	q := "SELECT order_id, 1 FROM orders WHERE outcome = 'c'"
	if t.v == noIdem {
		q = "SELECT order_id, count(*) FROM applied GROUP BY order_id"
	}
	a.Orders = postgres.StreamOrders(ctx, t.db.Pool, q)
	return a, nil
}

// Close releases the pool.
func (t *Target) Close() error {
	t.db.Close()
	return nil
}

// client is one worker's way to the buyers' pool (its Close gives back
// what it holds).
type client struct {
	*postgres.Conn
	t *Target
}

// The SQL designs' read side is their system of record: a confirmed
// order shows at once.
var _ targets.Reader = (*client)(nil)

// Shows reads the buyer's orders: the order is there once confirmed.
func (c *client) Shows(ctx context.Context, id targets.OrderID) (bool, error) {
	conn, err := c.Get(ctx)
	if err != nil {
		return false, err
	}
	defer c.Put()
	stmt := stmtShows
	if c.t.v == noIdem {
		stmt = stmtShowsNoIdm
	}
	var shows bool
	err = conn.QueryRow(ctx, stmt, int64(id)).Scan(&shows)
	return shows, err
}

// errBuyerLimit is the Err of an order refused by the per-buyer limit.
var errBuyerLimit = errors.New("sqlcounter: refused: the buyer's ticket limit")

// errUndecided is the Err of a reply whose order was claimed by a twin
// that left no outcome.
var errUndecided = errors.New("sqlcounter: order claimed but undecided")

// Buy sells one order.
func (c *client) Buy(ctx context.Context, o targets.Order) targets.Reply {
	conn, err := c.Get(ctx)
	if err != nil {
		return postgres.Failed(ctx, err)
	}
	defer c.Put()
	id := int64(o.ID)
	switch c.t.v {
	case noIdem:
		tag, err := conn.Exec(ctx, stmtNoIdem, id, o.Product, o.Quantity)
		if err != nil {
			return postgres.Failed(ctx, err)
		}
		return noIdemReply(tag.RowsAffected())
	case forUpdate:
		return c.buyForUpdate(ctx, conn, id, o)
	}
	// One round trip: the batch runs as one implicit transaction.
	b := &pgx.Batch{}
	b.Queue(stmtClaim, id, o.Product, o.Quantity, int64(o.Buyer))
	limited := c.t.stock.BuyerLimit > 0
	if limited {
		// The buyer's orders decide one at a time: their lock is the
		// transaction's (the batch is one), so each sees the last's sale.
		b.Queue(stmtBuyerLock, int64(o.Buyer))
		b.Queue(stmtSellLimited, id, o.Product, o.Quantity, int64(o.Buyer), c.t.stock.BuyerLimit)
	} else {
		b.Queue(stmtSell, id, o.Product, o.Quantity)
	}
	b.Queue(stmtOutcome, id)
	br := conn.SendBatch(ctx, b)
	var outcome *string
	_, err = br.Exec()
	if err == nil && limited {
		_, err = br.Exec()
	}
	if err == nil {
		_, err = br.Exec()
	}
	if err == nil {
		err = br.QueryRow().Scan(&outcome)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return postgres.Failed(ctx, err)
	}
	return outcomeReply(outcome)
}

func outcomeReply(outcome *string) targets.Reply {
	switch {
	case outcome == nil:
		return targets.Reply{Outcome: targets.Error, Err: errUndecided}
	case *outcome == "c":
		return targets.Reply{Outcome: targets.Confirmed}
	case *outcome == "r":
		return targets.Reply{Outcome: targets.Rejected, Err: errBuyerLimit}
	default:
		return targets.Reply{Outcome: targets.SoldOut}
	}
}

// buyForUpdate: round trip 1 begins, claims the order and locks the row;
// round trip 2 writes the decision and commits.
func (c *client) buyForUpdate(ctx context.Context, conn *pgx.Conn, id int64, o targets.Order) targets.Reply {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return postgres.Failed(ctx, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	b := &pgx.Batch{}
	b.Queue(stmtClaim, id, o.Product, o.Quantity, int64(o.Buyer))
	b.Queue(stmtOutcome, id)
	b.Queue(stmtLock, o.Product)
	br := tx.SendBatch(ctx, b)
	var claimed bool
	var outcome *string
	var remaining int64
	tag, err := br.Exec()
	if err == nil {
		claimed = tag.RowsAffected() == 1
		err = br.QueryRow().Scan(&outcome)
	}
	if err == nil {
		err = br.QueryRow().Scan(&remaining)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return postgres.Failed(ctx, err)
	}
	if !claimed { // a resubmission: the twin committed its outcome
		return outcomeReply(outcome)
	}
	b = &pgx.Batch{}
	decision := "s"
	if remaining >= o.Quantity {
		decision = "c"
		b.Queue(stmtTake, o.Product, o.Quantity)
	}
	b.Queue(stmtDecide, id, decision)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return postgres.Failed(ctx, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return postgres.Failed(ctx, err)
	}
	return outcomeReply(&decision)
}
