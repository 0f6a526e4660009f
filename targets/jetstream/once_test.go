package jetstream

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/stampede-bench/stampede/targets"
)

// order is a one-product order of qty tickets.
func order(id targets.OrderID, p int, qty int64) targets.Order {
	return targets.Order{ID: id, Product: p, Quantity: qty, Attempt: 1}
}

// submit places o through c and returns the outcome.
func submit(t *testing.T, c *client, o targets.Order) targets.Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	r := c.Buy(ctx, o)
	if r.Err != nil {
		t.Logf("%v: %v (%v)", o.ID, r.Outcome, r.Err)
	}
	return r.Outcome
}

// applied audits tgt and returns how many times each order applied.
func applied(t *testing.T, tgt *Target) map[targets.OrderID]int32 {
	t.Helper()
	a, err := tgt.Audit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	recs, err := targets.CollectOrders(a.Orders)
	if err != nil {
		t.Fatal(err)
	}
	n := map[targets.OrderID]int32{}
	for _, r := range recs {
		n[r.ID] = r.Applied
	}
	return n
}

// A resubmission long after the duplicate window (1s here): jetstream's
// dedupe has forgotten the order and applies it again (or, once the stock
// is gone, says "sold out" to an order it sold), while jetstream-once
// reads the order's own subject and answers "confirmed" without selling
// again.
func TestLateResubmission(t *testing.T) {
	stock := targets.Stock{Products: 2, Capacity: 2}
	js, jc := setUp(t, "jetstream", stock, "jetstream.duplicate_window=1s")
	once, oc := setUp(t, "jetstream-once", stock, "jetstream.duplicate_window=1s")
	for _, tgt := range []*Target{js, once} {
		if w := tgt.Info().Settings["duplicate_window"]; w != "1s" {
			t.Errorf("%s: duplicate_window %q, want 1s", tgt.name, w)
		}
	}
	for _, c := range []*client{jc, oc} {
		for _, o := range []targets.Order{order(1, 0, 1), order(2, 1, 2)} { // 2 sells product 1 out
			if got := submit(t, c, o); got != targets.Confirmed {
				t.Fatalf("%s: %v %v, want confirmed", c.t.name, o.ID, got)
			}
		}
	}
	// Wait for jetstream's dedupe to forget order 1: its probe stores
	// nothing and says "sold out" once the id is gone.
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) { // the poll's pace
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		r := jc.probe(ctx, order(1, 0, 1), 0)
		cancel()
		if r.Outcome == targets.SoldOut {
			t.Logf("the duplicate window forgot order 1 after %v", time.Since(start))
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("order 1 still a duplicate after 30s: %v", r.Outcome)
		}
	}
	jsLate1, jsLate2 := submit(t, jc, order(1, 0, 1)), submit(t, jc, order(2, 1, 2))
	onceLate1, onceLate2 := submit(t, oc, order(1, 0, 1)), submit(t, oc, order(2, 1, 2))
	jsApplied, onceApplied := applied(t, js), applied(t, once)
	t.Logf("late resubmissions: jetstream %v and %v, order 1 applied %d times; jetstream-once %v and %v, applied %d",
		jsLate1, jsLate2, jsApplied[1], onceLate1, onceLate2, onceApplied[1])
	if jsLate1 != targets.Confirmed || jsApplied[1] != 2 || jsLate2 != targets.SoldOut {
		t.Errorf("jetstream: late %v (applied %d) and %v; want the dedupe forgotten: confirmed, applied twice, and sold out",
			jsLate1, jsApplied[1], jsLate2)
	}
	if onceLate1 != targets.Confirmed || onceLate2 != targets.Confirmed || onceApplied[1] != 1 || onceApplied[2] != 1 {
		t.Errorf("jetstream-once: late %v and %v, applied %v; want both confirmed, each applied once", onceLate1, onceLate2, onceApplied)
	}
}

// An owner that claimed an order and went quiet: a resubmission finds the
// claim and no sale, fences it off (the next generation's claim, with the
// last generation's sale id) and sells; the old owner's sale, if it
// comes, is the fence's duplicate, and the order applies once. An owner
// that sold and whose decision was lost: the resubmission finds the sale
// on the product's subject and sells nothing.
func TestOnceTakeOver(t *testing.T) {
	tgt, c := setUp(t, "jetstream-once", targets.Stock{Products: 1, Capacity: 10})
	ctx := t.Context()
	quiet := order(1, 0, 1)
	_, stored, _, err := c.writeClaim(ctx, quiet, 1, 0)
	if err != nil || !stored {
		t.Fatalf("claim: stored %v, %v", stored, err)
	}
	if got := submit(t, c, quiet); got != targets.Confirmed {
		t.Fatalf("resubmission of a claimed order: %v, want confirmed", got)
	}
	last, err := c.stream.GetLastMsgForSubject(ctx, tgt.subject(0))
	if err != nil {
		t.Fatal(err)
	}
	ack, err := c.js.PublishMsg(ctx, &nats.Msg{Subject: tgt.subject(0), Data: salePayload(nil, 1, 1, 8)},
		natsjs.WithMsgID(saleMsgID(1, 1)), natsjs.WithExpectLastSequencePerSubject(last.Sequence))
	if err != nil || !ack.Duplicate {
		t.Errorf("the old owner's sale: %+v, %v; want the fence's duplicate", ack, err)
	}

	lost := order(2, 0, 1) // sold, its decision never written
	_, stored, _, err = c.writeClaim(ctx, lost, 1, 0)
	if err != nil || !stored {
		t.Fatalf("claim: stored %v, %v", stored, err)
	}
	if err := c.refresh(ctx, 0); err != nil {
		t.Fatal(err)
	}
	st := c.states[0]
	if _, err := c.js.PublishMsg(ctx, &nats.Msg{Subject: tgt.subject(0), Data: salePayload(nil, 2, 1, st.left-1)},
		natsjs.WithMsgID(saleMsgID(2, 1)), natsjs.WithExpectLastSequencePerSubject(st.seq)); err != nil {
		t.Fatal(err)
	}
	other, err := tgt.NewClient(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if got := submit(t, other.(*client), lost); got != targets.Confirmed {
		t.Errorf("resubmission of an order sold without its decision: %v, want confirmed", got)
	}
	n := applied(t, tgt)
	if n[1] != 1 || n[2] != 1 {
		t.Errorf("applied %v, want each order once", n)
	}
	if cost := tgt.Info().Settings["cost"]; !strings.Contains(cost, "three messages") {
		t.Errorf("info states no cost: %q", cost)
	}
}
