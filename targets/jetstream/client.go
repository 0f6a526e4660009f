package jetstream

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/jsapi"
)

// client is one worker's connection and its view of the products.
type client struct {
	t      *Target
	nc     *nats.Conn
	js     natsjs.JetStream
	stream natsjs.Stream
	kv     natsjs.KeyValue
	rm     *readModel // the target's read side
	states []state
	buf    []byte
	dbuf   []byte    // a message of an order's subject (jetstream-once)
	msg    *nats.Msg // the sale publish reuses it
	// conflict is the cause of the current Buy's last conflict.
	conflict string
}

func (c *client) Close() error {
	c.nc.Close()
	return nil
}

// isMsgIDInProcess reports nats-server's 10158: a message with the same
// id is being stored (its twin, being decided).
func isMsgIDInProcess(err error) bool {
	var apiErr *natsjs.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jsapi.ErrCodeMsgIDInProcess
}

// conflictCause returns the cause class of a conflict's error.
func conflictCause(err error) string {
	if c := jsapi.Cause(err); c != "" {
		return c
	}
	return targets.CauseOf(err)
}

// isWrongLastSeq reports a rejected expectation: code 10071, or 10164 from
// a replicated stream.
func isWrongLastSeq(err error) bool {
	var apiErr *natsjs.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode == natsjs.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == natsjs.JSErrCodeStreamWrongLastSequenceConstant
	}
	return errors.Is(err, natsjs.ErrKeyExists)
}

// failed turns a publish or read error into a reply: a timeout or a lost
// connection leaves the outcome unknown (the message may be stored); an
// API error is a definite failure.
func failed(err error, conflicts int32) targets.Reply {
	var apiErr *natsjs.APIError
	switch {
	case errors.As(err, &apiErr), errors.Is(err, nats.ErrNoResponders):
		return targets.Reply{Outcome: targets.Error, Err: err, Conflicts: conflicts}
	default:
		return targets.Reply{Outcome: targets.Unknown, Err: err, Conflicts: conflicts}
	}
}

// work is the application's time between deciding and publishing.
func (c *client) work(ctx context.Context) error { return pause(ctx, c.t.appTime) }

// pause waits d, or until ctx is done.
func pause(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// refresh reads a product's last message (a direct get) into the client's
// view.
func (c *client) refresh(ctx context.Context, p int) error {
	st := &c.states[p]
	if c.t.v == kv {
		e, err := c.kv.Get(ctx, kvKey(p))
		if err != nil {
			return err
		}
		m, err := parse(e.Value())
		if err != nil {
			return err
		}
		st.seq, st.left = e.Revision(), m.left
		c.t.view.offer(p, *st)
		return nil
	}
	msg, err := c.stream.GetLastMsgForSubject(ctx, c.t.subject(p))
	if err != nil {
		return err
	}
	m, err := parse(msg.Data)
	if err != nil {
		return err
	}
	st.seq, st.left = msg.Sequence, m.left
	c.t.view.offer(p, *st)
	return nil
}

// fresh brings the client's view of o's product up to date before o
// decides on it, as jetstream.seq says: own leaves it as the client's
// last write left it, fetch reads the subject's last message (unless the
// view says too few seats already: stock only goes down), watch takes the
// target's shared view if it is newer.
func (c *client) fresh(ctx context.Context, o targets.Order) error {
	p := o.Product
	switch c.t.seq {
	case seqFetch:
		if c.states[p].left < o.Quantity {
			return nil
		}
		return c.refresh(ctx, p)
	case seqWatch:
		if v := c.t.view.load(p); v.seq > c.states[p].seq {
			c.states[p] = v
		}
	}
	return nil
}

// Buy sells one order.
func (c *client) Buy(ctx context.Context, o targets.Order) targets.Reply {
	c.conflict = ""
	r := c.buy(ctx, o)
	if r.Conflicts > 0 {
		r.Cause = c.conflict
	}
	return r
}

func (c *client) buy(ctx context.Context, o targets.Order) targets.Reply {
	if o.Product < 0 || o.Product >= len(c.states) || o.Quantity <= 0 {
		return targets.Reply{Outcome: targets.Error, Err: errors.New("jetstream: no such product")}
	}
	if c.t.v == once {
		return c.buyOnce(ctx, o)
	}
	st := &c.states[o.Product]
	var conflicts int32
	if c.t.v == noExpect { // read, then decide
		if err := c.refresh(ctx, o.Product); err != nil {
			return failed(err, 0)
		}
	} else if err := c.fresh(ctx, o); err != nil {
		return failed(err, 0)
	}
	worked := false
	for {
		// Stock only goes down, so a view that says too few is right; but
		// the order may be a resubmission whose first click bought, so a
		// design with message ids asks the stream before saying no.
		if st.left < o.Quantity {
			if c.t.v == expect || c.t.v == noExpect {
				return c.probe(ctx, o, conflicts)
			}
			return targets.Reply{Outcome: targets.SoldOut, Conflicts: conflicts}
		}
		if !worked {
			if err := c.work(ctx); err != nil {
				return targets.Reply{Outcome: targets.Unknown, Err: err, Conflicts: conflicts}
			}
			worked = true
		}
		left := st.left - o.Quantity
		c.buf = salePayload(c.buf, o.ID, o.Quantity, left)
		var seq uint64
		var dup bool
		var err error
		if c.t.v == kv {
			seq, err = c.kv.Update(ctx, kvKey(o.Product), c.buf, st.seq)
		} else {
			var ack *natsjs.PubAck
			ack, err = c.publish(ctx, o, st.seq)
			if ack != nil {
				seq, dup = ack.Sequence, ack.Duplicate
			}
		}
		if err != nil {
			if isMsgIDInProcess(err) { // the twin is being decided: ask again shortly
				conflicts++
				c.conflict = jsapi.CauseInProcess
				if werr := pause(ctx, time.Millisecond); werr != nil {
					return targets.Reply{Outcome: targets.Unknown, Err: werr, Conflicts: conflicts}
				}
				continue
			}
			if isWrongLastSeq(err) { // a stale view: refresh and decide again
				conflicts++
				c.conflict = conflictCause(err)
				if rerr := c.refresh(ctx, o.Product); rerr != nil {
					return failed(rerr, conflicts)
				}
				continue
			}
			return failed(err, conflicts)
		}
		if dup { // a resubmission: what the stream decided for the order stands
			return c.decided(ctx, o, seq, conflicts)
		}
		st.seq, st.left = seq, left
		c.t.view.offer(o.Product, *st)
		return targets.Reply{Outcome: targets.Confirmed, Conflicts: conflicts}
	}
}

// publish sends a sale with the headers of the variant: the client's one
// message, its headers set in place (the hot path of a run).
func (c *client) publish(ctx context.Context, o targets.Order, lastSeq uint64) (*natsjs.PubAck, error) {
	if c.msg == nil {
		c.msg = &nats.Msg{Header: nats.Header{}}
		if c.t.v != noDedupe {
			c.msg.Header[natsjs.MsgIDHeader] = []string{""}
		}
		if c.t.v != noExpect {
			c.msg.Header[natsjs.ExpectedLastSubjSeqHeader] = []string{""}
		}
	}
	c.msg.Subject, c.msg.Data = c.t.subjects[o.Product], c.buf
	if c.t.v != noDedupe {
		c.msg.Header[natsjs.MsgIDHeader][0] = msgID(o.ID)
	}
	if c.t.v != noExpect {
		c.msg.Header[natsjs.ExpectedLastSubjSeqHeader][0] = strconv.FormatUint(lastSeq, 10)
	}
	return c.js.PublishMsg(ctx, c.msg)
}

// msgID is an order's Nats-Msg-Id, its external key ("o-42").
func msgID(id targets.OrderID) string { return "o-" + strconv.FormatUint(uint64(id), 10) }

// probe asks the stream whether it holds a message with order o's id
// (Nats-Msg-Id), without storing one: the impatient clicker's tactic, for
// an order the client's view says is sold out. A duplicate
// acknowledgement names the order's sale, and the order is confirmed;
// any other answer means no sale of o is in the duplicate window, and o
// is sold out.
//
// Why a sale of o is in the window if there is one: the client's view
// said too few seats, and stock only goes down, so no sale of o can be
// stored after the state the view was read from; a sale of o stored
// before it is in the stream when the probe is sent. A sale in the
// making (a replicated stream's proposal) answers "in process", and the
// probe asks again. Past the window the sale is forgotten (see
// jetstream-once).
//
// The probe carries an expectation that can never hold, checked after
// the duplicate check, so nothing is stored: on one server (R1) the
// duplicate check comes after the per-subject expectations and before
// Nats-Expected-Last-Msg-Id, which names an id no message has; on a
// replicated stream the leader checks duplicates before every
// expectation, and Nats-Expected-Last-Msg-Id would only be checked once
// the message is proposed (leaving the id "in process"), so the probe
// expects a subject sequence no subject reaches. The tests hold
// nats-server to this order.
func (c *client) probe(ctx context.Context, o targets.Order, conflicts int32) targets.Reply {
	opts := []natsjs.PublishOpt{natsjs.WithMsgID(msgID(o.ID))}
	if c.t.replicas > 1 {
		opts = append(opts, natsjs.WithExpectLastSequencePerSubject(math.MaxUint64))
	} else {
		opts = append(opts, natsjs.WithExpectLastMsgID(probeLastMsgID))
	}
	for {
		ack, err := c.js.PublishMsg(ctx, &nats.Msg{Subject: c.t.probeSubject()}, opts...)
		switch {
		case err == nil && ack.Duplicate:
			return c.decided(ctx, o, ack.Sequence, conflicts)
		case err == nil: // stored: the server ignored the expectation
			return targets.Reply{Outcome: targets.Unknown, Err: errors.New("jetstream: a probe was stored"), Conflicts: conflicts}
		case isMsgIDInProcess(err): // the twin is being decided: ask again shortly
			conflicts++
			c.conflict = jsapi.CauseInProcess
			if werr := pause(ctx, time.Millisecond); werr != nil {
				return targets.Reply{Outcome: targets.Unknown, Err: werr, Conflicts: conflicts}
			}
		case isProbeMiss(err):
			return targets.Reply{Outcome: targets.SoldOut, Conflicts: conflicts}
		default:
			return failed(err, conflicts)
		}
	}
}

// errCodeWrongLastMsgID is nats-server's 10070, "wrong last msg ID".
const errCodeWrongLastMsgID = 10070

// probeLastMsgID is a message id no message has.
const probeLastMsgID = "stampede-probe: no message has this id"

// isProbeMiss reports the expectation a probe carries failing: the id was
// not a duplicate.
func isProbeMiss(err error) bool {
	var apiErr *natsjs.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == errCodeWrongLastMsgID ||
		apiErr.ErrorCode == natsjs.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == natsjs.JSErrCodeStreamWrongLastSequenceConstant)
}

// decided answers a resubmission of o with the stream's decision: the
// message at seq, which a duplicate acknowledgement named (a direct get).
// A decision that cannot be read leaves the answer unknown: the order was
// decided, one way or the other.
func (c *client) decided(ctx context.Context, o targets.Order, seq uint64, conflicts int32) targets.Reply {
	msg, err := c.stored(ctx, seq)
	if err != nil {
		return targets.Reply{Outcome: targets.Unknown, Err: fmt.Errorf("jetstream: reading the decision of %v: %w", o.ID, err), Conflicts: conflicts}
	}
	m, err := parse(msg.Data)
	switch {
	case err != nil:
	case m.sale && m.order == o.ID:
		return targets.Reply{Outcome: targets.Confirmed, Conflicts: conflicts}
	default:
		err = fmt.Errorf("message %d is %q", seq, msg.Data)
	}
	return targets.Reply{Outcome: targets.Unknown, Err: fmt.Errorf("jetstream: the duplicate of %v: %w", o.ID, err), Conflicts: conflicts}
}

// stored reads the message at seq, which the stream has acknowledged: a
// direct get, which any replica of an R3 stream may answer, one that
// lags behind the quorum with "not found"; it asks again until ctx ends.
func (c *client) stored(ctx context.Context, seq uint64) (*natsjs.RawStreamMsg, error) {
	for {
		msg, err := c.stream.GetMsg(ctx, seq)
		if !errors.Is(err, natsjs.ErrMsgNotFound) {
			return msg, err
		}
		if werr := pause(ctx, time.Millisecond); werr != nil {
			return nil, errors.Join(err, werr)
		}
	}
}
