package jetstream

// jetstream-once: "There can only be one". Each order has a subject of its
// own, <base>.o.<id>, in the design's stream, beside the products'. The
// first message written there is written with
// Nats-Expected-Last-Subject-Sequence 0, which holds only while the
// subject is empty, whatever the duplicate window, so an order is owned,
// or decided, once for ever; the product's stock stays guarded as in
// jetstream, by the expected last sequence of the product's subject.
//
// Those are two guards on two subjects, and a publish carries one
// expectation, so an order's sale takes more than one message, and the
// order of operations is what keeps both guards:
//
//  1. Claim: "claim <order> <product> <qty> <gen>" on the order's subject,
//     expected empty. Whoever writes it owns generation 1 of the order:
//     only an owner sells it. (An order the client's view says is sold out
//     needs no claim: its decision, "refused", is written alone, expected
//     empty. Stock only goes down, so that "no" is right for ever.)
//  2. Sell: the sale on the product's subject, expected at the client's
//     last known sequence (conflicts refresh and retry, as in jetstream),
//     with Nats-Msg-Id "o-<id>/<gen>".
//  3. Decide: "bought ..." (or "refused ...", sold out) on the order's
//     subject, expected at the claim's sequence. The sale is confirmed
//     once stored: "bought" is sent without waiting for its
//     acknowledgement, for resubmissions to read; one lost is found again
//     by a scan (below).
//
// Why the claim comes first: a sale written before its claim could be
// stored with no trace on the order's subject (a timeout, a crash in
// between), and a resubmission after the duplicate window, finding the
// subject empty, would sell the order again. With the claim first, a
// resubmission always finds the order's subject taken, and reads it:
//
//   - a decision: that is the answer, in the window or a year later;
//   - a claim of generation g at sequence c, no decision: the owner is at
//     work, gave up (a timeout), or sold and its "bought" was lost. Its
//     sale, if stored, is on the product's subject after c: a scan finds
//     it (the answer is "confirmed", and the scanner writes "bought").
//     Otherwise the resubmission fences the owner off: it writes the claim
//     of generation g+1, expected at c, with Nats-Msg-Id "o-<id>/<g>",
//     the id of generation g's sale. If that sale was stored meanwhile,
//     the fence is a duplicate, which names the sale: "confirmed". If not,
//     the fence is stored, the resubmission owns generation g+1, and the
//     old owner's sale, if it comes, is the duplicate (within the window:
//     a publish is taken to reach the stream within the window of being
//     sent); that owner then waits for the new owner's decision.
//
// Never sold twice: a sale needs a generation owned, a generation is
// owned by one writer (the expectation on the order's subject), the next
// generation is owned only once the last one's sale is known not to be
// stored (scan, then the duplicate check); never a confirmed sale lost:
// a sale is confirmed once stored, and every reader finds it (decision,
// scan or duplicate). The cost: a sale is three messages (claim, sale,
// decision; the decision off the buyer's path) against jetstream's one,
// a refusal one stored message where jetstream stores nothing, and the
// order subjects grow the stream for ever.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/jsapi"
)

// buyOnce sells one order of jetstream-once.
func (c *client) buyOnce(ctx context.Context, o targets.Order) targets.Reply {
	st := &c.states[o.Product]
	var conflicts int32
	if err := c.fresh(ctx, o); err != nil {
		return failed(err, conflicts)
	}
	// The first write on the order's subject: a refusal, or a claim.
	var gen int
	var claim uint64
	if st.left < o.Quantity {
		stored, err := c.writeDecision(ctx, o, false, 0)
		switch {
		case err != nil:
			return failed(err, conflicts)
		case stored:
			return targets.Reply{Outcome: targets.SoldOut, Conflicts: conflicts}
		}
	} else {
		seq, stored, _, err := c.writeClaim(ctx, o, 1, 0)
		switch {
		case err != nil:
			return failed(err, conflicts)
		case stored:
			gen, claim = 1, seq
		}
	}
	// The subject was taken: a resubmission. Learn the order's decision,
	// or own its next generation.
	for gen == 0 {
		m, seq, err := c.lastOnOrder(ctx, o)
		if err != nil {
			return targets.Reply{Outcome: targets.Unknown, Err: err, Conflicts: conflicts}
		}
		switch {
		case m.bought:
			return targets.Reply{Outcome: targets.Confirmed, Conflicts: conflicts}
		case m.refused:
			return targets.Reply{Outcome: targets.SoldOut, Conflicts: conflicts}
		}
		sold, err := c.soldSince(ctx, o, seq)
		if err != nil {
			return targets.Reply{Outcome: targets.Unknown, Err: err, Conflicts: conflicts}
		}
		if sold {
			c.sendDecision(o, true, seq)
			return targets.Reply{Outcome: targets.Confirmed, Conflicts: conflicts}
		}
		fence, stored, dup, err := c.writeClaim(ctx, o, m.gen+1, seq)
		switch {
		case err != nil:
			return failed(err, conflicts)
		case dup > 0: // generation m.gen's sale was stored meanwhile
			r := c.decided(ctx, o, dup, conflicts)
			if r.Outcome == targets.Confirmed {
				c.sendDecision(o, true, seq)
			}
			return r
		case stored:
			gen, claim = m.gen+1, fence
		}
		// Otherwise the subject moved on (a decision, another fence): read
		// it again.
	}
	// Sell, as the owner of generation gen.
	worked := false
	for {
		if st.left < o.Quantity {
			stored, err := c.writeDecision(ctx, o, false, claim)
			switch {
			case err != nil:
				return failed(err, conflicts)
			case stored:
				return targets.Reply{Outcome: targets.SoldOut, Conflicts: conflicts}
			}
			return c.awaitDecision(ctx, o, conflicts) // fenced off
		}
		if !worked {
			if err := c.work(ctx); err != nil {
				return targets.Reply{Outcome: targets.Unknown, Err: err, Conflicts: conflicts}
			}
			worked = true
		}
		left := st.left - o.Quantity
		c.buf = salePayload(c.buf, o.ID, o.Quantity, left)
		ack, err := c.js.PublishMsg(ctx, &nats.Msg{Subject: c.t.subject(o.Product), Data: c.buf},
			natsjs.WithMsgID(saleMsgID(o.ID, gen)), natsjs.WithExpectLastSequencePerSubject(st.seq))
		switch {
		case err == nil && ack.Duplicate: // the fence of a resubmission holds this id
			return c.awaitDecision(ctx, o, conflicts)
		case err == nil:
			st.seq, st.left = ack.Sequence, left
			c.t.view.offer(o.Product, *st)
			c.sendDecision(o, true, claim)
			return targets.Reply{Outcome: targets.Confirmed, Conflicts: conflicts}
		case isMsgIDInProcess(err): // a fence being decided: ask again shortly
			conflicts++
			c.conflict = jsapi.CauseInProcess
			if werr := pause(ctx, time.Millisecond); werr != nil {
				return targets.Reply{Outcome: targets.Unknown, Err: werr, Conflicts: conflicts}
			}
		case isWrongLastSeq(err):
			conflicts++
			c.conflict = conflictCause(err)
			if rerr := c.refresh(ctx, o.Product); rerr != nil {
				return failed(rerr, conflicts)
			}
		default:
			return failed(err, conflicts)
		}
	}
}

// saleMsgID is the Nats-Msg-Id of generation gen's sale of an order, and
// of the fence that ends that generation.
func saleMsgID(id targets.OrderID, gen int) string {
	return msgID(id) + "/" + strconv.Itoa(gen)
}

// writeClaim writes the claim of generation gen of order o, expected at
// sequence after on the order's subject; a generation after the first is
// a fence, with the last generation's sale id. stored reports it written
// (at seq); dup, the sequence of that sale, stored already; neither, the
// subject moved on.
func (c *client) writeClaim(ctx context.Context, o targets.Order, gen int, after uint64) (seq uint64, stored bool, dup uint64, err error) {
	c.dbuf = claimPayload(c.dbuf, o, gen)
	opts := []natsjs.PublishOpt{natsjs.WithExpectLastSequencePerSubject(after)}
	if gen > 1 {
		opts = append(opts, natsjs.WithMsgID(saleMsgID(o.ID, gen-1)))
	}
	for {
		ack, err := c.js.PublishMsg(ctx, &nats.Msg{Subject: c.t.orderSubject(o.ID), Data: c.dbuf}, opts...)
		switch {
		case err == nil && ack.Duplicate:
			return 0, false, ack.Sequence, nil
		case err == nil:
			return ack.Sequence, true, 0, nil
		case isWrongLastSeq(err):
			return 0, false, 0, nil
		case isMsgIDInProcess(err): // the sale being stored: ask again shortly
			if werr := pause(ctx, time.Millisecond); werr != nil {
				return 0, false, 0, errors.Join(err, werr)
			}
		default:
			return 0, false, 0, err
		}
	}
}

// writeDecision writes order o's decision, expected at sequence after on
// its subject (0: the subject empty), and reports whether it was stored.
func (c *client) writeDecision(ctx context.Context, o targets.Order, bought bool, after uint64) (bool, error) {
	c.dbuf = decisionPayload(c.dbuf, bought, o)
	_, err := c.js.PublishMsg(ctx, &nats.Msg{Subject: c.t.orderSubject(o.ID), Data: c.dbuf},
		natsjs.WithExpectLastSequencePerSubject(after))
	if isWrongLastSeq(err) {
		return false, nil
	}
	return err == nil, err
}

// sendDecision sends order o's decision "bought", expected at the claim's
// sequence, without waiting for the stream's answer: the sale is stored,
// and a decision lost is found again by soldSince.
func (c *client) sendDecision(o targets.Order, bought bool, claim uint64) {
	c.dbuf = decisionPayload(c.dbuf, bought, o)
	msg := &nats.Msg{Subject: c.t.orderSubject(o.ID), Data: c.dbuf, Header: nats.Header{
		natsjs.ExpectedLastSubjSeqHeader: {strconv.FormatUint(claim, 10)},
	}}
	_ = c.nc.PublishMsg(msg) // best effort, by design
}

// lastOnOrder reads the last message of order o's subject, which the
// stream said is taken: a replica behind that has not got it yet is asked
// again until ctx ends.
func (c *client) lastOnOrder(ctx context.Context, o targets.Order) (parsed, uint64, error) {
	for {
		msg, err := c.stream.GetLastMsgForSubject(ctx, c.t.orderSubject(o.ID))
		if errors.Is(err, natsjs.ErrMsgNotFound) {
			if werr := pause(ctx, time.Millisecond); werr != nil {
				err = errors.Join(err, werr)
			} else {
				continue
			}
		}
		if err != nil {
			return parsed{}, 0, fmt.Errorf("jetstream: reading the subject of %v: %w", o.ID, err)
		}
		m, err := parse(msg.Data)
		if err == nil && (m.order != o.ID || !(m.claim || m.bought || m.refused)) {
			err = fmt.Errorf("message %d is %q", msg.Sequence, msg.Data)
		}
		if err != nil {
			return parsed{}, 0, fmt.Errorf("jetstream: the subject of %v: %w", o.ID, err)
		}
		return m, msg.Sequence, nil
	}
}

// soldSince reports whether the product's subject holds a sale of order o
// after sequence claim: each message of the subject after it, one direct
// get each.
func (c *client) soldSince(ctx context.Context, o targets.Order, claim uint64) (bool, error) {
	subject := c.t.subject(o.Product)
	for seq := claim + 1; ; {
		msg, err := c.stream.GetMsg(ctx, seq, natsjs.WithGetMsgSubject(subject))
		if errors.Is(err, natsjs.ErrMsgNotFound) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("jetstream: looking for the sale of %v: %w", o.ID, err)
		}
		if m, err := parse(msg.Data); err != nil {
			return false, fmt.Errorf("jetstream: looking for the sale of %v: %w", o.ID, err)
		} else if m.sale && m.order == o.ID {
			return true, nil
		}
		seq = msg.Sequence + 1
	}
}

// awaitDecision waits, asking again at a growing interval up to 10ms, for
// the decision of order o that a resubmission fenced this client off: the
// new owner's. Unknown if it has not come by the time ctx ends.
func (c *client) awaitDecision(ctx context.Context, o targets.Order, conflicts int32) targets.Reply {
	wait := time.Millisecond
	for {
		m, _, err := c.lastOnOrder(ctx, o)
		switch {
		case err != nil:
			return targets.Reply{Outcome: targets.Unknown, Err: err, Conflicts: conflicts}
		case m.bought:
			return targets.Reply{Outcome: targets.Confirmed, Conflicts: conflicts}
		case m.refused:
			return targets.Reply{Outcome: targets.SoldOut, Conflicts: conflicts}
		}
		if err := pause(ctx, wait); err != nil {
			return targets.Reply{Outcome: targets.Unknown, Err: fmt.Errorf("jetstream: %v was taken over and is not decided yet: %w", o.ID, err), Conflicts: conflicts}
		}
		wait = min(2*wait, 10*time.Millisecond)
	}
}
