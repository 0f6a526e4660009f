package jetstream

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/stampede-bench/stampede/targets"
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
}

func (c *client) Close() error {
	c.nc.Close()
	return nil
}

// errCodeMsgIDInProcess is nats-server's 10158, "duplicate message id is in
// process": a replicated stream is still deciding the twin of this order.
const errCodeMsgIDInProcess = 10158

func isMsgIDInProcess(err error) bool {
	var apiErr *natsjs.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeMsgIDInProcess
}

// transient reports an error of JetStream's API that a retry may clear: no
// server answered yet (a cluster electing a leader), a timeout, a 503.
func transient(err error) bool {
	var apiErr *natsjs.APIError
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, natsjs.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &apiErr) && apiErr.Code == 503)
}

// retry runs f until it succeeds, fails for good, or 30s have passed, each
// try bounded to 5s: for the setup and the audit, not for sales.
func retry(ctx context.Context, f func(ctx context.Context) error) error {
	giveUp := time.Now().Add(30 * time.Second)
	for {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := f(tctx)
		cancel()
		if err == nil || !transient(err) || ctx.Err() != nil || time.Now().After(giveUp) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
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
	case errors.As(err, &apiErr):
		return targets.Reply{Outcome: targets.Error, Err: err, Conflicts: conflicts}
	case errors.Is(err, nats.ErrNoResponders):
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
	return nil
}

// Buy sells one order.
func (c *client) Buy(ctx context.Context, o targets.Order) targets.Reply {
	if o.Product < 0 || o.Product >= len(c.states) || o.Quantity <= 0 {
		return targets.Reply{Outcome: targets.Error, Err: errors.New("jetstream: no such product")}
	}
	st := &c.states[o.Product]
	var conflicts int32
	if c.t.v == noExpect { // read, then decide
		if err := c.refresh(ctx, o.Product); err != nil {
			return failed(err, 0)
		}
	}
	worked := false
	for {
		// Stock only goes down, so a view that says too few is right.
		if st.left < o.Quantity {
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
				if werr := pause(ctx, time.Millisecond); werr != nil {
					return targets.Reply{Outcome: targets.Unknown, Err: werr, Conflicts: conflicts}
				}
				continue
			}
			if isWrongLastSeq(err) { // a stale view: refresh and decide again
				conflicts++
				if rerr := c.refresh(ctx, o.Product); rerr != nil {
					return failed(rerr, conflicts)
				}
				continue
			}
			return failed(err, conflicts)
		}
		if dup { // a resubmission: the original sale stands
			return targets.Reply{Outcome: targets.Confirmed, Conflicts: conflicts}
		}
		st.seq, st.left = seq, left
		return targets.Reply{Outcome: targets.Confirmed, Conflicts: conflicts}
	}
}

// publish sends a sale with the headers of the variant.
func (c *client) publish(ctx context.Context, o targets.Order, lastSeq uint64) (*natsjs.PubAck, error) {
	msg := &nats.Msg{Subject: c.t.subject(o.Product), Data: c.buf}
	var opts []natsjs.PublishOpt
	if c.t.v != noDedupe {
		opts = append(opts, natsjs.WithMsgID(o.ID.String()))
	}
	if c.t.v != noExpect {
		opts = append(opts, natsjs.WithExpectLastSequencePerSubject(lastSeq))
	}
	return c.js.PublishMsg(ctx, msg, opts...)
}
