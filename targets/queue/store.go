package queue

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/postgres"
)

// The final answers, one byte on the wire.
const (
	answerConfirmed = 'c'
	answerSoldOut   = 's'
	answerRejected  = 'r' // an order the handler cannot read or sell (no such product)
)

// answers holds each answer's payload, shared: a publish copies it.
var answers = map[byte][]byte{
	answerConfirmed: {answerConfirmed}, answerSoldOut: {answerSoldOut}, answerRejected: {answerRejected},
}

// order is a queued order as the handler reads it.
type order struct {
	id      targets.OrderID
	product int
	qty     int64
	reply   string // the subject its final answer goes to
}

// decider decides a partition's orders, in order: one per partition of a
// running handler service, used by one goroutine at a time.
type decider interface {
	// decide decides orders, in order, into out (one answer each): all
	// of them committed, or none and an error.
	decide(ctx context.Context, orders []order, out []byte) error
	close()
}

// memState is the handler's state in memory (queue-memory,
// queue-atmostonce): the stock left per product and every order decided,
// both by partition, each partition under its own lock. A product is only
// read or written under its partition's lock.
type memState struct {
	capacity  int64
	remaining []int64 // by product
	parts     []memPart
}

type memPart struct {
	mu     sync.Mutex
	orders map[targets.OrderID]memOrder
}

// memOrder is an order decided: its outcome and how many times it was
// applied (more than once would be a duplicate).
type memOrder struct {
	outcome byte
	applied int32
}

func newMemState(s targets.Stock, partitions int) *memState {
	st := &memState{capacity: s.Capacity, remaining: make([]int64, s.Products), parts: make([]memPart, partitions)}
	for p := range st.remaining {
		st.remaining[p] = s.Capacity
	}
	for i := range st.parts {
		st.parts[i].orders = map[targets.OrderID]memOrder{}
	}
	return st
}

// decideOne decides o in partition p: the recorded outcome of an order
// decided before, else a sale while the stock lasts. It is safe for
// concurrent use.
func (st *memState) decideOne(p int, o order) byte {
	if o.product < 0 || o.product >= len(st.remaining) || o.qty <= 0 {
		return answerRejected
	}
	part := &st.parts[p]
	part.mu.Lock()
	defer part.mu.Unlock()
	if rec, ok := part.orders[o.id]; ok {
		return rec.outcome
	}
	rec := memOrder{outcome: answerSoldOut}
	if st.remaining[o.product] >= o.qty {
		st.remaining[o.product] -= o.qty
		rec = memOrder{outcome: answerConfirmed, applied: 1}
	}
	part.orders[o.id] = rec
	return rec.outcome
}

// lookup returns the recorded outcome of order id in partition p.
func (st *memState) lookup(p int, id targets.OrderID) (byte, bool) {
	part := &st.parts[p]
	part.mu.Lock()
	defer part.mu.Unlock()
	rec, ok := part.orders[id]
	return rec.outcome, ok
}

// shows reports whether order id was confirmed, in any partition.
func (st *memState) shows(id targets.OrderID) bool {
	for p := range st.parts {
		if out, ok := st.lookup(p, id); ok {
			return out == answerConfirmed
		}
	}
	return false
}

// audit returns the units sold per product and every order applied.
func (st *memState) audit() ([]int64, iter.Seq2[targets.OrderRecord, error]) {
	sold := make([]int64, len(st.remaining))
	var recs []targets.OrderRecord
	for i := range st.parts {
		part := &st.parts[i]
		part.mu.Lock()
		for id, rec := range part.orders {
			if rec.applied > 0 {
				recs = append(recs, targets.OrderRecord{ID: id, Applied: rec.applied})
			}
		}
		for p := i; p < len(st.remaining); p += len(st.parts) {
			sold[p] = st.capacity - st.remaining[p]
		}
		part.mu.Unlock()
	}
	return sold, targets.Records(recs)
}

// memDecider decides a partition's orders in memory.
type memDecider struct {
	st *memState
	p  int
}

func (d memDecider) decide(_ context.Context, orders []order, out []byte) error {
	for i, o := range orders {
		out[i] = d.st.decideOne(d.p, o)
	}
	return nil
}

func (memDecider) close() {}

// The PostgreSQL store of queue: a row per product with the stock left and
// a row per order decided, keyed by its id.
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
	outcome  "char",                 -- 'c' confirmed, 's' sold out; NULL only inside the deciding transaction
	at       timestamptz NOT NULL DEFAULT now()
)`

// Statements, prepared on every connection of the pool.
const (
	// claim takes the order id; a redelivered or resubmitted order finds
	// it taken and does nothing.
	stmtClaim = "claim"
	sqlClaim  = `INSERT INTO orders (order_id, product, qty) VALUES ($1, $2, $3) ON CONFLICT (order_id) DO NOTHING`
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
	// outcome reads the order's outcome: this transaction's, or the one
	// recorded before.
	stmtOutcome = "outcome"
	sqlOutcome  = `SELECT outcome FROM orders WHERE order_id = $1`
	// shows: the buyer's "my orders", read from the handler's tables.
	stmtShows = "shows"
	sqlShows  = `SELECT EXISTS (SELECT 1 FROM orders WHERE order_id = $1 AND outcome = 'c')`
)

// setupPG opens the design's schema afresh and stocks the products.
func (t *Target) setupPG(ctx context.Context, s targets.Stock) error {
	db, err := postgres.Open(ctx, t.cfg, t.name)
	if err != nil {
		return err
	}
	t.db = db
	db.Statements = map[string]string{
		stmtClaim: sqlClaim, stmtSell: sqlSell, stmtOutcome: sqlOutcome, stmtShows: sqlShows,
	}
	if err := db.Exec(ctx, schemaSQL,
		fmt.Sprintf("INSERT INTO stock SELECT g, %d, %d FROM generate_series(0, %d) g", s.Capacity, s.Capacity, s.Products-1)); err != nil {
		return fmt.Errorf("postgres: create tables: %w", err)
	}
	return nil
}

// pgDecider decides a partition's orders in PostgreSQL on a connection of
// the pool it keeps.
type pgDecider struct {
	conn *postgres.Conn
}

// errUndecided is a decision that left no outcome: the transaction did
// not decide the order, and did not commit.
var errUndecided = errors.New("queue: order claimed but undecided")

// decide claims, sells and reads back each order in one implicit
// transaction (one pipelined round trip), committed when the batch ends.
func (d *pgDecider) decide(ctx context.Context, orders []order, out []byte) error {
	conn, err := d.conn.Get(ctx)
	if err != nil {
		return err
	}
	defer d.conn.Put()
	b := &pgx.Batch{}
	for _, o := range orders {
		id := int64(o.id)
		b.Queue(stmtClaim, id, o.product, o.qty)
		b.Queue(stmtSell, id, o.product, o.qty)
		b.Queue(stmtOutcome, id)
	}
	br := conn.SendBatch(ctx, b)
	for i := range orders {
		var outcome *string
		_, err = br.Exec()
		if err == nil {
			_, err = br.Exec()
		}
		if err == nil {
			err = br.QueryRow().Scan(&outcome)
		}
		if err != nil {
			break
		}
		switch {
		case outcome == nil || *outcome == "":
			err = errUndecided
		case *outcome == "c":
			out[i] = answerConfirmed
		default:
			out[i] = answerSoldOut
		}
		if err != nil {
			break
		}
	}
	// Close reads to the end of the batch: the commit.
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

func (d *pgDecider) close() { _ = d.conn.Close() }

// newDecider returns partition p's decider.
func (t *Target) newDecider(ctx context.Context, p int) (decider, error) {
	if t.m != streamPG {
		return memDecider{st: t.mem.Load(), p: p}, nil
	}
	c, err := t.db.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return &pgDecider{conn: c}, nil
}

// lookup returns the recorded outcome of order id of partition p, and
// whether it is decided.
func (t *Target) lookup(ctx context.Context, p int, id targets.OrderID) (byte, bool, error) {
	if t.m != streamPG {
		out, ok := t.mem.Load().lookup(p, id)
		return out, ok, nil
	}
	var outcome *string
	err := t.db.Pool.QueryRow(ctx, sqlOutcome, int64(id)).Scan(&outcome)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, err
	case outcome == nil || *outcome == "":
		return 0, false, nil
	case *outcome == "c":
		return answerConfirmed, true, nil
	default:
		return answerSoldOut, true, nil
	}
}
