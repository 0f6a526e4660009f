// Package postgres holds what the PostgreSQL designs share: a schema of
// their own, created fresh for each run, the server's facts for an honest
// Info, the buyers' bounded pool of connections, the check before a run
// that the server has room for it, and the mapping of errors to outcomes.
//
// # The buyers' pool
//
// A shop's application tier serves thousands of buyers from a bounded pool
// of database connections, and so does a design here: option pool (-opt
// sqlcounter.pool=N, -opt ledger.pool=N; DefaultPool) caps the connections
// its buyers use. While a design has no more clients (workers) than that,
// each client keeps one connection for the whole run, as pgbench's clients
// do, and nothing waits. With more clients than connections, a client
// takes a connection for each attempt and gives it back after it; a buyer
// who finds none free waits in line (first come, first served) for as long
// as its attempt's deadline allows. The wait is part of the attempt, so the
// engine counts it in the buyer's response time (and its service time: the
// buyer sent the order to the shop, whose tier made it wait).
//
// A buyer whose deadline passes while it waits for a connection gets a
// definite failure (targets.Error, ErrNoConnection), not Unknown: its order
// never reached the database, so it cannot have been applied, and the
// checker holds the design to that (an applied order whose every reply was
// a definite no counts as phantom). Unknown is for the doubt of an order in
// flight; calling a wait in line unknown would blur that figure. It is the
// shop's "busy, try again" (an HTTP 503) sent at the buyer's deadline. The
// engine does not retry a definite failure as it retries a timeout, so a
// scenario's retries do not apply to these buyers.
//
// Besides its pool a design uses up to AdminConns connections of its own
// for setup, the audit and a reconciler. Preflight checks before a run that
// the server has room for both.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/redact"
)

// DB is a design's database: its schema, its buyers' pool and a small pool
// of its own for setup, audit and reconciling. It is safe for concurrent
// use.
type DB struct {
	// Pool serves setup, the audit and a reconciler: at most AdminConns
	// connections, apart from the buyers'.
	Pool   *pgxpool.Pool
	Schema string
	Facts  Facts
	// Statements are prepared, by name, on every connection a buyer
	// gets. Set them after Open, before the first client.
	Statements map[string]string
	// Size is the buyers' pool: the most connections the design's
	// clients hold at once.
	Size int

	buyers *pgxpool.Pool
	// clients counts the pgx clients open; more than Size and they
	// share the pool, a connection per attempt.
	clients atomic.Int32
	peak    atomic.Int32 // the most clients open at once, pgx or loop
	loops   map[targets.Loop]*wirePool
}

// DefaultPool is the size of a design's pool unless option pool says
// otherwise: as many connections as the built-in scenarios have workers
// at most (hot-product's 64 users), so that each keeps one, as before
// pools, and none waits.
const DefaultPool = 64

// AdminConns is how many connections a design uses besides its buyers'
// pool: for setup, the audit and a reconciler.
const AdminConns = 2

// PoolOption is the option that sizes a design's pool, for the Options of
// its targets.Register call.
var PoolOption = targets.OptionSpec{
	Key: "pool", Kind: targets.KindInt, Default: strconv.Itoa(DefaultPool), Min: 1,
	Help: "connections in the buyers' pool (the application tier's); up to this many users keep one each, more wait in line for one, inside their response time",
}

// PoolSize returns the pool option's value: DefaultPool when absent.
func PoolSize(o targets.Options) int {
	if _, ok := o[PoolOption.Key]; !ok {
		return DefaultPool
	}
	return o.Int(PoolOption.Key)
}

// Open connects to the server the Backends name and creates the schema of
// design afresh (dropping one of that name left by an earlier run). Each
// connection has the schema as its search path, and design in its
// application_name: "stampede <design>" for the buyers' connections,
// "stampede <design> admin" for the others. The buyers' pool holds
// PoolSize(cfg.Options) connections.
func Open(ctx context.Context, cfg targets.Config, design string) (*DB, error) {
	return connect(ctx, cfg, design, true)
}

// Attach connects to the schema of design that an Open elsewhere (the
// coordinator of a spread run) created, and leaves it as it is: for
// targets.Attacher. The caller sets Statements before the first client.
func Attach(ctx context.Context, cfg targets.Config, design string) (*DB, error) {
	return connect(ctx, cfg, design, false)
}

func connect(ctx context.Context, cfg targets.Config, design string, fresh bool) (*DB, error) {
	if cfg.Backends == nil {
		return nil, targets.ErrNoBackends
	}
	dsn, err := cfg.Backends.Postgres(ctx)
	if err != nil {
		return nil, err
	}
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: the DSN does not parse: %w", redact.DSNInError(err, dsn))
	}
	db := &DB{Schema: SchemaName(design), Size: PoolSize(cfg.Options)}
	pc.MinConns = 0
	pc.ConnConfig.RuntimeParams["search_path"] = db.Schema
	bc := pc.Copy()
	pc.MaxConns = AdminConns
	pc.ConnConfig.RuntimeParams["application_name"] = ApplicationName(design) + " admin"
	bc.MaxConns = int32(db.Size)
	bc.ConnConfig.RuntimeParams["application_name"] = ApplicationName(design)
	bc.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		for name, sql := range db.Statements {
			if _, err := c.Prepare(ctx, name, sql); err != nil {
				return fmt.Errorf("prepare %s: %w", name, err)
			}
		}
		return nil
	}
	if db.Pool, err = pgxpool.NewWithConfig(ctx, pc); err != nil {
		return nil, fmt.Errorf("postgres: %w", redact.DSNInError(err, dsn))
	}
	if db.buyers, err = pgxpool.NewWithConfig(ctx, bc); err != nil {
		db.Pool.Close()
		return nil, fmt.Errorf("postgres: %w", redact.DSNInError(err, dsn))
	}
	if err := db.reset(ctx, fresh); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: %w", redact.DSNInError(err, dsn))
	}
	db.Facts.Host = net.JoinHostPort(pc.ConnConfig.Host, fmt.Sprint(pc.ConnConfig.Port))
	return db, nil
}

// ApplicationName is the application_name of a design's buyers'
// connections, by which pg_stat_activity tells them apart.
func ApplicationName(design string) string { return "stampede " + design }

// Facts are what the server says about itself, for Info.
type Facts struct {
	Version           string // server_version
	Fsync             string // fsync
	SynchronousCommit string // synchronous_commit
	Host              string // host:port, never the password
}

func (db *DB) reset(ctx context.Context, fresh bool) error {
	id := pgx.Identifier{db.Schema}.Sanitize()
	if fresh {
		if _, err := db.Pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+id+" CASCADE"); err != nil {
			return fmt.Errorf("drop schema %s: %w", db.Schema, err)
		}
		if _, err := db.Pool.Exec(ctx, "CREATE SCHEMA "+id); err != nil {
			return fmt.Errorf("create schema %s: %w", db.Schema, err)
		}
	} else {
		var found bool
		if err := db.Pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", db.Schema).Scan(&found); err != nil {
			return fmt.Errorf("look for schema %s: %w", db.Schema, err)
		}
		if !found {
			return fmt.Errorf("schema %s is not there: the design was not set up on this server", db.Schema)
		}
	}
	return db.Pool.QueryRow(ctx, "SELECT current_setting('server_version'), current_setting('fsync'), current_setting('synchronous_commit')").
		Scan(&db.Facts.Version, &db.Facts.Fsync, &db.Facts.SynchronousCommit)
}

// Exec runs statements in order, in one transaction.
func (db *DB) Exec(ctx context.Context, stmts ...string) error {
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", firstLine(s), err)
		}
	}
	return tx.Commit(ctx)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i > 0 {
		return s[:i]
	}
	return s
}

// Durability says what a confirmed sale survives, from the server's
// settings.
func (f Facts) Durability() string {
	switch {
	case f.Fsync != "on":
		return "weak: fsync off, a crash can lose confirmed sales"
	case f.SynchronousCommit == "off":
		return "weak: synchronous_commit off, a crash can lose the last confirmed sales"
	default:
		return fmt.Sprintf("fsync per commit (fsync %s, synchronous_commit %s), one server, no replica", f.Fsync, f.SynchronousCommit)
	}
}

// Durable reports whether a confirmed sale was fsynced before its answer.
func (f Facts) Durable() bool { return f.Fsync == "on" && f.SynchronousCommit != "off" }

// Info fills the parts of a design's Info that come from the server and
// its pool.
func (db *DB) Info(design, consistency, isolation string) targets.Info {
	return targets.Info{
		Design: design, Consistency: consistency, Durability: db.Facts.Durability(), Durable: db.Facts.Durable(),
		Backend: "PostgreSQL " + db.Facts.Version + " at " + db.Facts.Host,
		Settings: map[string]string{
			"isolation": isolation, "fsync": db.Facts.Fsync, "synchronous_commit": db.Facts.SynchronousCommit,
			"server_version": db.Facts.Version, "schema": db.Schema,
			"pool": strconv.Itoa(db.Size), "connections": db.connections(),
		},
	}
}

// connections says how the workers used the pool.
func (db *DB) connections() string {
	switch n := int(db.peak.Load()); {
	case n == 0:
		return "no worker yet"
	case n <= db.Size:
		return fmt.Sprintf("one per worker (%d workers)", n)
	default:
		return fmt.Sprintf("shared by %d workers: one per attempt, waiting in line for a free one", n)
	}
}

// notePeak records that n clients are open.
func (db *DB) notePeak(n int32) {
	for p := db.peak.Load(); n > p && !db.peak.CompareAndSwap(p, n); p = db.peak.Load() {
	}
}

// Close releases the pools and the event-loop connections. The schema
// stays for inspection until the next run of the design drops it.
func (db *DB) Close() {
	if db == nil {
		return
	}
	for _, p := range db.loops {
		p.close()
	}
	db.loops = nil
	if db.buyers != nil {
		db.buyers.Close()
	}
	if db.Pool != nil {
		db.Pool.Close()
	}
}

// ErrNotSent marks an attempt that failed before its statement reached the
// server: a definite failure, not an unknown outcome.
var ErrNotSent = errors.New("postgres: not sent")

// ErrNoConnection is the Err of an attempt whose deadline passed while it
// waited for a connection from the design's pool: it never reached the
// server, a definite failure.
var ErrNoConnection = fmt.Errorf("%w: no connection within the timeout", ErrNotSent)

// notSent wraps the error of getting a connection for an attempt: its
// statement was never sent.
func notSent(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return ErrNoConnection
	}
	return fmt.Errorf("%w: no connection: %w", ErrNotSent, err)
}

// Conn is a worker's way to a connection of the buyers' pool: it keeps one
// for the worker's lifetime while the design has no more clients than
// connections, and takes one for each attempt otherwise (Get, then Put).
// A connection that broke (as pgx closes one whose query a timeout
// interrupted) is replaced. A Conn belongs to one worker.
type Conn struct {
	db     *DB
	c      *pgxpool.Conn
	closed bool
}

// Acquire returns a worker's Conn. While the design has no more clients
// than its pool has connections, the Conn takes its connection now and
// keeps it.
func (db *DB) Acquire(ctx context.Context) (*Conn, error) {
	c := &Conn{db: db}
	n := db.clients.Add(1)
	db.notePeak(n)
	if int(n) <= db.Size {
		nc, err := db.buyers.Acquire(ctx)
		if err != nil {
			db.clients.Add(-1)
			return nil, fmt.Errorf("postgres: connect: %w", err)
		}
		c.c = nc
	}
	return c, nil
}

// shared reports whether the design has more clients than connections.
func (db *DB) shared() bool { return int(db.clients.Load()) > db.Size }

// Get returns a live connection for an attempt: the one the Conn holds,
// or one from the pool, waiting for a free one as long as ctx allows. The
// statements are prepared on every connection of the pool.
//
// When the pool is shared, an error wraps ErrNotSent (ErrNoConnection when
// ctx's deadline passed while the attempt waited in line). Otherwise the
// Conn only ever reconnects here, after its connection broke, and the error
// is the driver's, which Failed judges as it judged such an error before
// there were pools (unknown when the deadline has passed).
func (c *Conn) Get(ctx context.Context) (*pgx.Conn, error) {
	if c.c != nil && c.c.Conn().IsClosed() {
		c.c.Release()
		c.c = nil
	}
	if c.c == nil {
		nc, err := c.db.buyers.Acquire(ctx)
		if err != nil {
			if c.db.shared() {
				return nil, notSent(err)
			}
			return nil, err
		}
		c.c = nc
	}
	return c.c.Conn(), nil
}

// Put ends an attempt: the connection goes back to the pool when the
// design has more clients than connections, and stays otherwise.
func (c *Conn) Put() {
	if c.c != nil && c.db.shared() {
		c.c.Release()
		c.c = nil
	}
}

// SoldByProduct runs query, whose rows are a product and the units sold of
// it (NULL for none), and returns the units sold per product of
// 0..products-1; rows of other products are ignored. The rows are closed
// on every way out: a connection left holding them would never go back to
// the pool, whose Close would then wait for it for ever.
func SoldByProduct(ctx context.Context, pool *pgxpool.Pool, query string, products int) ([]int64, error) {
	sold := make([]int64, products)
	rows, err := pool.Query(ctx, query)
	if err != nil {
		return sold, err
	}
	defer rows.Close()
	for rows.Next() {
		var p int
		var n *int64
		if err := rows.Scan(&p, &n); err != nil {
			return sold, err
		}
		if p >= 0 && p < products && n != nil {
			sold[p] = *n
		}
	}
	return sold, rows.Err()
}

// StreamOrders returns a sequence over the rows of query, each an order id
// and how many times it was applied, and optionally how many times it was
// cancelled. The query runs when the sequence is ranged over.
func StreamOrders(ctx context.Context, pool *pgxpool.Pool, query string) iter.Seq2[targets.OrderRecord, error] {
	return func(yield func(targets.OrderRecord, error) bool) {
		rows, err := pool.Query(ctx, query)
		if err != nil {
			yield(targets.OrderRecord{}, err)
			return
		}
		defer rows.Close()
		n := len(rows.FieldDescriptions())
		for rows.Next() {
			var id, applied, cancelled int64
			dest := []any{&id, &applied, &cancelled}[:n]
			if err := rows.Scan(dest...); err != nil {
				yield(targets.OrderRecord{}, err)
				return
			}
			if !yield(targets.OrderRecord{ID: targets.OrderID(id), Applied: int32(applied), Cancelled: int32(cancelled)}, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(targets.OrderRecord{}, err)
		}
	}
}

// Close gives the connection back and leaves the pool to the other
// clients; a design's client embeds Conn for it.
func (c *Conn) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	if c.c != nil {
		c.c.Release()
		c.c = nil
	}
	c.db.clients.Add(-1)
	return nil
}

// SQLSTATE codes the designs act on.
const (
	UniqueViolation      = "23505"
	SerializationFailure = "40001"
	DeadlockDetected     = "40P01"
)

// Code returns err's SQLSTATE, or "".
func Code(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// Failed turns an error of an attempt into its reply: a server's error is a
// definite failure (the transaction rolled back); a timeout or a broken
// connection leaves the outcome unknown, unless nothing was sent.
func Failed(ctx context.Context, err error) targets.Reply {
	switch {
	case errors.Is(err, ErrNotSent):
		return targets.Reply{Outcome: targets.Error, Err: err}
	case Code(err) != "":
		return targets.Reply{Outcome: targets.Error, Err: err}
	case ctx.Err() != nil, errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return targets.Reply{Outcome: targets.Unknown, Err: err}
	case pgconn.SafeToRetry(err):
		return targets.Reply{Outcome: targets.Error, Err: err}
	default:
		return targets.Reply{Outcome: targets.Unknown, Err: err}
	}
}

// SchemaName returns the schema of a design: stampede_ and its name.
func SchemaName(design string) string {
	return "stampede_" + strings.NewReplacer("-", "_", ".", "_").Replace(design)
}
