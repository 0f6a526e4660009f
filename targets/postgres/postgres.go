// Package postgres holds what the PostgreSQL designs share: a pool with a
// schema of their own, created fresh for each run, the server's facts for
// an honest Info, a connection per worker, and the mapping of errors to
// outcomes.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stampede-bench/stampede/targets"
)

// DB is a design's database: a pool whose connections use the design's
// own schema. It is safe for concurrent use.
type DB struct {
	Pool   *pgxpool.Pool
	Schema string
	Facts  Facts
	// Statements are prepared, by name, on every connection a worker
	// gets. Set them after Open, before the first Acquire.
	Statements map[string]string
}

// Facts are what the server says about itself, for Info.
type Facts struct {
	Version           string // server_version
	Fsync             string // fsync
	SynchronousCommit string // synchronous_commit
	Host              string // host:port, never the password
}

// Open connects to the server the Backends name and creates schema afresh
// (dropping one of that name left by an earlier run). Each connection has
// the schema as its search path.
func Open(ctx context.Context, cfg targets.Config, schema string) (*DB, error) {
	if cfg.Backends == nil {
		return nil, targets.ErrNoBackends
	}
	dsn, err := cfg.Backends.Postgres(ctx)
	if err != nil {
		return nil, err
	}
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: the DSN does not parse: %w", scrubDSN(err, dsn))
	}
	// Every worker holds one connection for the whole run: the pool is
	// as large as the number of workers, which it learns as they come.
	pc.MaxConns = 10_000
	pc.MinConns = 0
	pc.ConnConfig.RuntimeParams["search_path"] = schema
	pc.ConnConfig.RuntimeParams["application_name"] = "stampede"
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", scrubDSN(err, dsn))
	}
	db := &DB{Pool: pool, Schema: schema}
	if err := db.reset(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", scrubDSN(err, dsn))
	}
	db.Facts.Host = net.JoinHostPort(pc.ConnConfig.Host, fmt.Sprint(pc.ConnConfig.Port))
	return db, nil
}

// scrubDSN keeps a DSN's password out of an error a driver built from it.
func scrubDSN(err error, dsn string) error {
	pc, perr := pgconn.ParseConfig(dsn)
	if perr != nil || pc.Password == "" || !strings.Contains(err.Error(), pc.Password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), pc.Password, "xxxxx"))
}

func (db *DB) reset(ctx context.Context) error {
	id := pgx.Identifier{db.Schema}.Sanitize()
	if _, err := db.Pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+id+" CASCADE"); err != nil {
		return fmt.Errorf("drop schema %s: %w", db.Schema, err)
	}
	if _, err := db.Pool.Exec(ctx, "CREATE SCHEMA "+id); err != nil {
		return fmt.Errorf("create schema %s: %w", db.Schema, err)
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

// Info fills the parts of a design's Info that come from the server.
func (db *DB) Info(design, consistency, isolation string) targets.Info {
	return targets.Info{
		Design: design, Consistency: consistency, Durability: db.Facts.Durability(),
		Backend: "PostgreSQL " + db.Facts.Version + " at " + db.Facts.Host,
		Settings: map[string]string{
			"isolation": isolation, "fsync": db.Facts.Fsync, "synchronous_commit": db.Facts.SynchronousCommit,
			"server_version": db.Facts.Version, "schema": db.Schema,
		},
	}
}

// Close releases the pool. The schema stays for inspection until the next
// run of the design drops it.
func (db *DB) Close() {
	if db != nil && db.Pool != nil {
		db.Pool.Close()
	}
}

// Conn is a worker's connection, acquired for the worker's lifetime and
// replaced when it breaks (as pgx closes a connection whose query a
// timeout interrupted).
type Conn struct {
	db *DB
	c  *pgxpool.Conn
}

// Acquire returns a worker's connection, with the statements prepared.
func (db *DB) Acquire(ctx context.Context) (*Conn, error) {
	c := &Conn{db: db}
	if _, err := c.Get(ctx); err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	return c, nil
}

// Get returns a live connection, reconnecting if the last one broke.
func (c *Conn) Get(ctx context.Context) (*pgx.Conn, error) {
	if c.c != nil && c.c.Conn().IsClosed() {
		c.c.Release()
		c.c = nil
	}
	if c.c == nil {
		nc, err := c.db.Pool.Acquire(ctx)
		if err != nil {
			return nil, err
		}
		// Prepare is idempotent: a connection that has the statements
		// answers from its own cache without a round trip.
		for name, sql := range c.db.Statements {
			if _, err := nc.Conn().Prepare(ctx, name, sql); err != nil {
				nc.Release()
				return nil, fmt.Errorf("prepare %s: %w", name, err)
			}
		}
		c.c = nc
	}
	return c.c.Conn(), nil
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

// Release gives the connection back.
func (c *Conn) Release() {
	if c.c != nil {
		c.c.Release()
		c.c = nil
	}
}

// Close gives the connection back; a design's client embeds Conn for it.
func (c *Conn) Close() error {
	c.Release()
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
