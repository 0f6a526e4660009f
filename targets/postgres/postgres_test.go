package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/designtest"
	"github.com/stampede-bench/stampede/targets/postgres"
)

// open opens a DB of the test's own on the embedded server, with a fresh
// schema, closed when the test ends.
func open(t *testing.T, name string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), targets.Config{Backends: designtest.Env}, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

// closes reports whether f returns within limit: a bound on a hang, not a
// timing assertion.
func closes(f func(), limit time.Duration) bool {
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(limit):
		return false
	}
}

// An audit whose rows cannot be read fails with the reason, and gives its
// connection back: before, a Scan error returned with the rows open, and
// closing the design waited for that connection for ever.
func TestAuditScanErrorReleasesConnection(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct{ design, table string }{
		{"sqlcounter", "stock"},
		{"ledger", "ledger"},
	} {
		t.Run(c.design, func(t *testing.T) {
			regs, cfgs, err := targets.Resolve([]string{c.design}, nil)
			if err != nil {
				t.Fatal(err)
			}
			cfgs[0].Backends = designtest.Env
			tgt, err := regs[0].New(cfgs[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := tgt.Setup(ctx, targets.Stock{Products: 3, Capacity: 10}); err != nil {
				tgt.Close()
				t.Fatal(err)
			}
			// A product that is not a number: the audit cannot scan it.
			admin := open(t, c.design+"-admin")
			schema := tgt.Info().Settings["schema"]
			if err := admin.Exec(ctx, fmt.Sprintf("ALTER TABLE %s.%s ALTER COLUMN product TYPE text USING 'show ' || product", schema, c.table)); err != nil {
				tgt.Close()
				t.Fatal(err)
			}
			if _, err := tgt.Audit(ctx); err == nil {
				t.Error("the audit read products that are not numbers")
			}
			if !closes(func() { tgt.Close() }, 30*time.Second) {
				t.Fatal("Close still waits after 30s: the audit kept a connection")
			}
		})
	}
}

// SoldByProduct reads units per product, NULL as none, ignores products
// out of range, and gives its connection back on an error.
func TestSoldByProduct(t *testing.T) {
	ctx := context.Background()
	db := open(t, "soldbyproduct")
	sold, err := postgres.SoldByProduct(ctx, db.Pool, "SELECT * FROM (VALUES (0, 5::bigint), (2, NULL), (7, 9), (-1, 3)) v", 3)
	if err != nil || fmt.Sprint(sold) != "[5 0 0]" {
		t.Errorf("sold %v (%v), want [5 0 0]", sold, err)
	}
	for range 3 * postgres.AdminConns { // more errors than the pool has connections
		if _, err := postgres.SoldByProduct(ctx, db.Pool, "SELECT 'x', 1::bigint", 3); err == nil {
			t.Fatal("a product that is not a number was read")
		}
	}
	if _, err := postgres.SoldByProduct(ctx, db.Pool, "SELECT 0, 1::bigint", 1); err != nil {
		t.Errorf("after the errors: %v (the pool has no connection left)", err)
	}
}

// StreamOrders streams a large result without holding it, reads two or
// three columns, stops when the consumer stops (and frees the connection),
// and yields an error it meets on the way.
func TestStreamOrders(t *testing.T) {
	ctx := context.Background()
	db := open(t, "streamorders")
	const n = 200_000
	var count, sum int64
	for rec, err := range postgres.StreamOrders(ctx, db.Pool, fmt.Sprintf("SELECT g, 1, g %% 2 FROM generate_series(1, %d) g", n)) {
		if err != nil {
			t.Fatal(err)
		}
		count++
		sum += int64(rec.Cancelled)
		if rec.ID != targets.OrderID(count) || rec.Applied != 1 {
			t.Fatalf("record %d: %+v", count, rec)
		}
	}
	if count != n || sum != n/2 {
		t.Errorf("%d records, %d cancelled; want %d and %d", count, sum, n, n/2)
	}
	for rec, err := range postgres.StreamOrders(ctx, db.Pool, "SELECT 7, 2") {
		if err != nil || rec != (targets.OrderRecord{ID: 7, Applied: 2}) {
			t.Errorf("two columns: %+v, %v", rec, err)
		}
	}
	for range 3 * postgres.AdminConns { // each stopped early: the rows must be closed
		for range postgres.StreamOrders(ctx, db.Pool, "SELECT g, 1 FROM generate_series(1, 100000) g") {
			break
		}
	}
	var failed error
	for _, err := range postgres.StreamOrders(ctx, db.Pool, "SELECT g, 1 / (g - 3) FROM generate_series(1, 5) g") {
		if err != nil {
			failed = err
		}
	}
	if postgres.Code(failed) != "22012" { // division_by_zero
		t.Errorf("error in the stream: %v, want division by zero", failed)
	}
	if !closes(func() { db.Close() }, 30*time.Second) {
		t.Fatal("Close still waits after 30s: a stream kept a connection")
	}
}

// The rule every SQL design answers by: an error the server sent, or one
// before anything was sent, is a definite failure; a timeout or a broken
// connection after sending leaves the outcome unknown.
func TestFailedUnknownVersusError(t *testing.T) {
	expired, cancel := context.WithTimeout(context.Background(), -time.Second)
	defer cancel()
	live := context.Background()
	for _, c := range []struct {
		name string
		ctx  context.Context
		err  error
		want targets.Outcome
	}{
		{"not sent", live, fmt.Errorf("%w: reconnect: refused", postgres.ErrNotSent), targets.Error},
		{"no connection in time", expired, postgres.ErrNoConnection, targets.Error},
		{"server error", live, &pgconn.PgError{Code: postgres.SerializationFailure}, targets.Error},
		{"server error after the deadline", expired, &pgconn.PgError{Code: "57014"}, targets.Error},
		{"deadline", live, context.DeadlineExceeded, targets.Unknown},
		{"cancelled", live, fmt.Errorf("read: %w", context.Canceled), targets.Unknown},
		{"context done", expired, errors.New("read tcp: i/o timeout"), targets.Unknown},
		{"connection reset", live, &net.OpError{Op: "read", Err: errors.New("connection reset by peer")}, targets.Unknown},
		{"eof", live, io.ErrUnexpectedEOF, targets.Unknown},
	} {
		if got := postgres.Failed(c.ctx, c.err); got.Outcome != c.want || got.Err == nil {
			t.Errorf("%s: %v (err %v), want %v", c.name, got.Outcome, got.Err, c.want)
		}
	}
}
