// Package targets defines the contract between stampede's load generator and
// the designs it measures, and the registry through which designs make
// themselves known.
//
// A design registers itself in an init function, like a database/sql driver:
//
//	func init() {
//		targets.Register(targets.Registration{Name: "memory", New: newCorrect, ...})
//	}
//
// and a program pulls designs in with blank imports (see targets/all).
package targets

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"
)

// OrderID identifies one logical order. It is stable across every
// resubmission of that order (a retry after a timeout, an impatient
// double-click), so a design can recognise a resubmission. The harness hands
// out ids from 1 upwards; 0 is never a valid id.
type OrderID uint64

// String returns the id in the form designs use as an external key ("o-42").
func (id OrderID) String() string { return fmt.Sprintf("o-%d", uint64(id)) }

// Order is one attempt to buy. The same ID may arrive several times with
// growing Attempt numbers (retries) or with the same Attempt number (a
// double-click resubmits the order as a fresh submission).
type Order struct {
	ID       OrderID
	Product  int   // index into the Stock's products, 0-based
	Quantity int64 // tickets wanted, at least 1
	Attempt  int   // 1 for the first try of a submission, 2 for its first retry, ...
	// Buyer identifies who placed the order, from 1; a buyer may place
	// several (Stock.BuyerLimit caps their tickets across them).
	Buyer uint64
}

// Outcome is what a client was told about one attempt.
type Outcome uint8

// The outcomes of an attempt. Errors are data: a design never fails a run
// by returning an error from Buy; it answers with an Outcome.
const (
	// Confirmed: the purchase is made.
	Confirmed Outcome = iota
	// SoldOut: a definite no because there is not enough stock.
	SoldOut
	// Rejected: a definite no for another reason (a business rule, a
	// conflict the design gave up on).
	Rejected
	// Unknown: no definite answer (a timeout or a lost connection); the
	// purchase may or may not have been applied.
	Unknown
	// Error: a definite failure; the purchase was not applied.
	Error

	// NumOutcomes is the number of outcomes, for arrays indexed by Outcome.
	NumOutcomes = 5
)

var outcomeNames = [NumOutcomes]string{"confirmed", "sold_out", "rejected", "unknown", "error"}

// String returns the outcome's name as results.json spells it.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// Definite reports whether the outcome is a definite answer (the client
// knows whether the purchase was applied).
func (o Outcome) Definite() bool { return o != Unknown }

// Reply is a design's answer to one attempt.
type Reply struct {
	Outcome Outcome
	// Conflicts counts optimistic conflicts the design met and retried
	// internally while serving this attempt. (Beside Outcome, so that a
	// Reply, returned for every attempt, packs into 48 bytes.)
	Conflicts int32
	// Err says why, for Unknown, Rejected and Error outcomes. It is
	// counted, never fatal.
	Err error
	// Cause names the backend's cause class of the conflicts, such as
	// "sqlstate 40001 (serialization_failure)" or "jetstream 10071 (wrong
	// last sequence)" (of the last one, when they differ); best a
	// constant, so that it does not allocate. Err's class is read from
	// its chain (CauseOf): a design wraps an error whose class is not in
	// it in a Causer.
	Cause string
	// Accepted is set by a design that answers in two phases (a queue
	// design: the order is accepted at once, decided later): how long
	// after the attempt was sent it was accepted. Outcome is then the
	// final answer, which Buy waits for until the attempt's deadline; an
	// attempt accepted but not decided by then is Unknown, with Accepted
	// set. 0 means never accepted, or a design of one phase.
	Accepted time.Duration
}

// LateAnswers is a Target of two phases that counts final answers that
// came after their buyer had given up (the attempt's deadline passed):
// never lost, counted apart. The engine reads it after the run.
type LateAnswers interface {
	Target
	LateAnswers() int64
}

// Stock is the inventory a run starts with: Products products, each with
// Capacity units.
type Stock struct {
	Products int
	Capacity int64
	// BuyerLimit, if above 0, is a business rule a design may enforce: at
	// most this many tickets per buyer (Order.Buyer) across their orders.
	// A design that enforces it refuses an order that would cross it
	// (Rejected); the checker counts buyers over it either way.
	BuyerLimit int64
}

// Total returns the number of units across all products.
func (s Stock) Total() int64 { return int64(s.Products) * s.Capacity }

// Info describes a design honestly, so reports can show what each figure
// was bought with.
type Info struct {
	Design      string `json:"design"`      // one line: what the design does
	Consistency string `json:"consistency"` // e.g. "strong (row lock)", "none (check-then-act)"
	Durability  string `json:"durability"`  // e.g. "fsync per commit", "memory only"
	Backend     string `json:"backend,omitempty"`
	// Durable says that a confirmed sale survives the crash of any one
	// server of the backend: it was fsynced before the answer, or
	// acknowledged by a quorum of replicas. Reports name the fastest
	// design that was both correct and durable.
	Durable bool `json:"durable"`
	// Reference marks an in-process reference design (no real backend):
	// a yardstick for the checker and the generator, kept apart from the
	// real designs in verdicts.
	Reference bool `json:"reference,omitempty"`
	// Settings holds further facts worth printing (isolation level,
	// replicas, sync interval, option values).
	Settings map[string]string `json:"settings,omitempty"`
}

// OrderRecord is what the system of record holds about one order id.
type OrderRecord struct {
	ID OrderID
	// Applied counts how many times the sale was recorded. More than one
	// is a duplicate.
	Applied int32
	// Cancelled counts compensations recorded for this order after it was
	// applied (an apology to the buyer).
	Cancelled int32
}

// Audit is the system of record read after a run.
type Audit struct {
	// Sold holds, per product, the units sold net of compensations.
	Sold []int64
	// Orders yields every order id applied at least once, in any order,
	// once each. A design streams them from its store (a run may have
	// millions); a failure to read is yielded as an error, after which
	// the sequence stops. The checker ranges over it once.
	Orders iter.Seq2[OrderRecord, error]
}

// Records returns a sequence over recs, for designs that hold their record
// in memory.
func Records(recs []OrderRecord) iter.Seq2[OrderRecord, error] {
	return func(yield func(OrderRecord, error) bool) {
		for _, r := range recs {
			if !yield(r, nil) {
				return
			}
		}
	}
}

// CollectOrders reads a whole sequence of order records into a slice.
func CollectOrders(seq iter.Seq2[OrderRecord, error]) ([]OrderRecord, error) {
	var out []OrderRecord
	if seq == nil {
		return out, nil
	}
	for r, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Target is one design under test, on its backend. Setup, NewClient, Audit
// and Close are called from one goroutine, in that order; the Clients it
// hands out are then used concurrently, one per goroutine.
type Target interface {
	// Info describes the design and the durability it really has.
	Info() Info
	// Setup creates fresh state holding s.
	Setup(ctx context.Context, s Stock) error
	// NewClient returns a client for one worker goroutine.
	NewClient(ctx context.Context, worker int) (Client, error)
	// Audit reads the system of record.
	Audit(ctx context.Context) (Audit, error)
	// Close releases everything the target holds.
	Close() error
}

// Client belongs to one worker goroutine and is never shared.
type Client interface {
	// Buy attempts one order. It must not retain ctx after it returns. A
	// client honours ctx's deadline by answering Unknown when it cannot
	// know whether the purchase applied.
	Buy(ctx context.Context, o Order) Reply
	// Close releases the client's resources.
	Close() error
}

// Preflighter is a Target that can check, before any design of a run
// starts, that it will be able to run: its backend is reachable and can
// hold what the design's options ask for (a connection pool within the
// server's limit, say). Callers run Preflight on every design of a run
// before the first one runs, so that a missing backend fails the run at
// once instead of after the designs before it. Preflight may start an
// embedded server, which the run would start anyway; it is called before
// Setup, from the goroutine that owns the Target.
type Preflighter interface {
	Target
	Preflight(ctx context.Context) error
}

// ErrOption is wrapped by a Preflight error that blames one of the
// design's options (a pool larger than the server allows): the user's
// input, not the backend, is at fault.
var ErrOption = errors.New("option not accepted")

// Deadline returns ctx's deadline, or the zero time when it has none.
// Designs that simulate time (targets/memory) use it instead of ctx.Done,
// which costs a timer.
func Deadline(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// Attacher is a Target whose clients can run in other processes than the
// one that set it up: an agent of a spread run (stampede agent) builds the
// design with the same options and backends, and Attach connects it to the
// store a Setup of the same design prepared elsewhere, without changing
// that store, so that its clients (NewClient) buy from the same stock.
// Designs whose store lives in the process that set them up (memory) are
// not Attachers and cannot be spread. Attach is called instead of Setup;
// Audit is not called on an attached Target.
type Attacher interface {
	Target
	Attach(ctx context.Context, s Stock) error
}
