package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Info is the answer to GET /stampede/v1/info.
type Info struct {
	Protocol     string            `json:"protocol"`
	Design       string            `json:"design"`
	Consistency  string            `json:"consistency"`
	Durability   string            `json:"durability"`
	Durable      bool              `json:"durable"`
	Backend      string            `json:"backend,omitempty"`
	Settings     map[string]string `json:"settings,omitempty"`
	Reset        bool              `json:"reset"`
	Capabilities []string          `json:"capabilities"`
}

// Outcome is a decided buy.
type Outcome string

// The outcomes a buy can be decided with.
const (
	Confirmed Outcome = "confirmed"
	SoldOut   Outcome = "sold_out"
)

// outcomeOf reads the orders table's outcome column.
func outcomeOf(code string) Outcome {
	if code == "c" {
		return Confirmed
	}
	return SoldOut
}

// store is the system of record. It is safe for concurrent use.
type store struct {
	pool     *pgxpool.Pool
	mode     Mode
	info     Info
	products atomic.Int64 // products of the last reset
}

// The tables, in the schema the pool's search_path names. outcome is 'c'
// (confirmed) or 's' (sold out); in correct mode it is NULL while the
// claiming transaction decides, which no other transaction ever sees.
const schemaSQL = `
CREATE TABLE IF NOT EXISTS stock (
	product   int PRIMARY KEY,
	capacity  bigint NOT NULL,
	remaining bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
	order_id bigint PRIMARY KEY,
	product  int NOT NULL,
	qty      bigint NOT NULL,
	outcome  "char"
)`

// openStore connects, creates the schema and its tables if need be, and
// reads what info reports about the server.
func openStore(ctx context.Context, pc *pgxpool.Config, mode Mode, schema string) (*store, error) {
	pc.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting: %w", err)
	}
	s := &store{pool: pool, mode: mode}
	if err := s.init(ctx, schema); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

func (s *store) init(ctx context.Context, schema string) error {
	if _, err := s.pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return fmt.Errorf("creating schema: %w", err)
	}
	if _, err := s.pool.Exec(ctx, schemaSQL); err != nil {
		return fmt.Errorf("creating tables: %w", err)
	}
	var version, fsync, syncCommit string
	var products int64
	err := s.pool.QueryRow(ctx, `SELECT current_setting('server_version'), current_setting('fsync'),
		current_setting('synchronous_commit'), (SELECT count(*) FROM stock)`).Scan(&version, &fsync, &syncCommit, &products)
	if err != nil {
		return fmt.Errorf("reading server settings: %w", err)
	}
	s.products.Store(products)
	if f := strings.Fields(version); len(f) > 0 {
		version = f[0] // 15.8, without the packager's note
	}

	durability := fmt.Sprintf("PostgreSQL, fsync per commit (fsync %s, synchronous_commit %s), one server, no replica", fsync, syncCommit)
	durable := fsync == "on" && syncCommit != "off"
	switch {
	case fsync != "on":
		durability = "PostgreSQL with fsync off: a crash can lose confirmed sales"
	case syncCommit == "off":
		durability = "PostgreSQL with synchronous_commit off: a crash can lose the last confirmed sales"
	}
	s.info = Info{
		Protocol:   "stampede/http/v1",
		Design:     "ticketservice-" + string(s.mode),
		Durability: durability,
		Durable:    durable,
		Backend:    "PostgreSQL " + version,
		Settings: map[string]string{
			"isolation": "read committed", "fsync": fsync, "synchronous_commit": syncCommit,
			"schema": schema, "pool": strconv.Itoa(int(s.pool.Config().MaxConns)),
		},
		Reset:        true,
		Capabilities: []string{},
	}
	if s.mode == ModeRacy {
		s.info.Consistency = "none: reads the seats remaining, decides in Go, writes the count back without a row lock " +
			"(check-then-act, lost updates: oversells under a crowd); order id is the primary key, idempotent"
	} else {
		s.info.Consistency = "claim the order id (primary key), conditional UPDATE ... WHERE remaining >= qty, record the outcome, " +
			"in one transaction: never oversells, idempotent"
	}
	return nil
}

func (s *store) close() { s.pool.Close() }

// reset forgets every order and stocks products products of capacity seats.
func (s *store) reset(ctx context.Context, products int, capacity int64) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "TRUNCATE orders, stock"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO stock SELECT g, $2::bigint, $2::bigint FROM generate_series(0, $1::int - 1) g",
			products, capacity)
		return err
	})
	if err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	s.products.Store(int64(products))
	return nil
}

// buyError is a buy that failed. NotApplied says the order is known not to
// have applied (nothing was written, or the transaction rolled back);
// otherwise it may have.
type buyError struct {
	err        error
	NotApplied bool
}

func (e *buyError) Error() string { return e.err.Error() }
func (e *buyError) Unwrap() error { return e.err }

// failed classifies err, met while writing: a server's error means the
// transaction rolled back, and an error pgx knows happened before anything
// was sent is safe too; a timeout or a broken connection leaves the order
// unknown.
func failed(err error) error {
	var pe *pgconn.PgError
	notApplied := errors.As(err, &pe) || pgconn.SafeToRetry(err)
	return &buyError{err: err, NotApplied: notApplied}
}

// notApplied marks err, met before anything was written, as definite.
func notApplied(err error) error { return &buyError{err: err, NotApplied: true} }

// buy applies one order, or answers the outcome a resubmission's earlier
// attempt recorded.
func (s *store) buy(ctx context.Context, order int64, product int, qty int64) (Outcome, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return "", notApplied(fmt.Errorf("no database connection: %w", err))
	}
	defer conn.Release()
	if s.mode == ModeRacy {
		return buyRacy(ctx, conn.Conn(), order, product, qty)
	}
	return buyCorrect(ctx, conn.Conn(), order, product, qty)
}

// The correct mode's statements. sell only acts while the order's claim is
// this transaction's own (outcome still NULL): a resubmission whose twin
// committed finds the outcome set and changes nothing.
const (
	sqlClaim = `INSERT INTO orders (order_id, product, qty) VALUES ($1, $2, $3) ON CONFLICT (order_id) DO NOTHING`
	sqlSell  = `
WITH sale AS (
	UPDATE stock SET remaining = remaining - $3
	WHERE product = $2 AND remaining >= $3
	  AND EXISTS (SELECT 1 FROM orders WHERE order_id = $1 AND outcome IS NULL)
	RETURNING product
)
UPDATE orders SET outcome = CASE WHEN EXISTS (SELECT 1 FROM sale) THEN 'c' ELSE 's' END
WHERE order_id = $1 AND outcome IS NULL`
	sqlOutcome = `SELECT outcome FROM orders WHERE order_id = $1`
)

// buyCorrect claims, sells and reads the outcome in one round trip: a batch
// is one implicit transaction, committed at its end. A concurrent twin's
// claim makes this one's wait until the twin commits, then do nothing.
func buyCorrect(ctx context.Context, conn *pgx.Conn, order int64, product int, qty int64) (Outcome, error) {
	b := &pgx.Batch{}
	b.Queue(sqlClaim, order, product, qty)
	b.Queue(sqlSell, order, product, qty)
	b.Queue(sqlOutcome, order)
	br := conn.SendBatch(ctx, b)
	var code *string
	_, err := br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	if err == nil {
		err = br.QueryRow().Scan(&code)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", failed(err)
	}
	if code == nil { // cannot happen: the claim is decided in its transaction
		return "", notApplied(errors.New("order claimed but undecided"))
	}
	return outcomeOf(*code), nil
}

// The racy mode's statements: read, then write what Go decided.
const (
	sqlRemaining = `SELECT remaining FROM stock WHERE product = $1`
	// sqlTake records the sale and sets the count Go computed from its
	// earlier read, whatever others sold meanwhile (a lost update).
	sqlTake = `
WITH sale AS (
	INSERT INTO orders (order_id, product, qty, outcome) VALUES ($1, $2, $3, 'c')
	ON CONFLICT (order_id) DO NOTHING RETURNING 1
)
UPDATE stock SET remaining = $4 WHERE product = $2 AND EXISTS (SELECT 1 FROM sale)`
	sqlRefuse = `INSERT INTO orders (order_id, product, qty, outcome) VALUES ($1, $2, $3, 's') ON CONFLICT (order_id) DO NOTHING`
)

// buyRacy reads the order's outcome and the seats remaining in one round
// trip, decides in Go, and writes in a second: between the two, any number
// of other buyers read the same count.
func buyRacy(ctx context.Context, conn *pgx.Conn, order int64, product int, qty int64) (Outcome, error) {
	b := &pgx.Batch{}
	b.Queue(sqlOutcome, order)
	b.Queue(sqlRemaining, product)
	br := conn.SendBatch(ctx, b)
	var code *string
	var remaining int64
	err := br.QueryRow().Scan(&code)
	if errors.Is(err, pgx.ErrNoRows) {
		err = nil
	}
	if err == nil {
		err = br.QueryRow().Scan(&remaining)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil { // nothing written yet
		return "", notApplied(err)
	}
	if code != nil { // a resubmission of a decided order
		return outcomeOf(*code), nil
	}
	var tag pgconn.CommandTag
	decided := SoldOut
	if remaining >= qty {
		decided = Confirmed
		tag, err = conn.Exec(ctx, sqlTake, order, product, qty, remaining-qty)
	} else {
		tag, err = conn.Exec(ctx, sqlRefuse, order, product, qty)
	}
	if err != nil {
		return "", failed(err)
	}
	if tag.RowsAffected() == 1 {
		return decided, nil
	}
	// A twin recorded the order between our read and our write: this
	// attempt wrote nothing, but the twin may have sold, so a failure to
	// read its outcome leaves the order unknown.
	if err := conn.QueryRow(ctx, sqlOutcome, order).Scan(&code); err != nil || code == nil {
		return "", &buyError{err: fmt.Errorf("reading the outcome a twin recorded: %v", err)}
	}
	return outcomeOf(*code), nil
}

// auditRead streams the audit from one snapshot: sold per product from the
// orders recorded as confirmed, then each confirmed order. emitSold is
// called once, before emitOrder is called for each order.
func (s *store) auditRead(ctx context.Context, emitSold func([]int64) error, emitOrder func(int64) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var products int64
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM stock").Scan(&products); err != nil {
		return err
	}
	sold := make([]int64, products)
	rows, err := tx.Query(ctx, "SELECT product, sum(qty)::bigint FROM orders WHERE outcome = 'c' GROUP BY product")
	if err != nil {
		return err
	}
	for rows.Next() {
		var p, n int64
		if err := rows.Scan(&p, &n); err != nil {
			return err
		}
		if p < 0 || p >= products {
			rows.Close()
			return fmt.Errorf("order for product %d of %d", p, products)
		}
		sold[p] = n
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if err := emitSold(sold); err != nil {
		return err
	}
	rows, err = tx.Query(ctx, "SELECT order_id FROM orders WHERE outcome = 'c'")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return err
		}
		if err := emitOrder(id); err != nil {
			return err
		}
	}
	return rows.Err()
}
