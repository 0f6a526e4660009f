package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/postgres"
)

// answerNoResponders marks the server's "no responders" status on a
// request of queue-atmostonce: no handler listened.
const answerNoResponders = 'n'

// Errors of replies.
var (
	// ErrNoAnswer is the Err of an Unknown reply whose order was sent (and
	// accepted, for the queue designs) but not answered before the
	// attempt's deadline.
	ErrNoAnswer = errors.New("queue: no final answer before the deadline")
	// ErrRejected is the Err of a Rejected reply: the handler could not
	// read or sell the order.
	ErrRejected = errors.New("queue: the handler rejected the order")
	// ErrNoSuchProduct is the Err of an order for a product the stock
	// does not have; it is never sent.
	ErrNoSuchProduct = errors.New("queue: no such product")
)

// client is one worker's connection: it sends orders and receives their
// final answers on an inbox of its own (a subscription made once), the
// answer to order id on <inbox>.<id>, so every attempt of an order from
// this client waits on the same subject.
type client struct {
	t      *Target
	nc     *nats.Conn
	js     natsjs.JetStream
	sub    *nats.Subscription
	inbox  string
	msg    *nats.Msg // reused for every order
	status *nats.Msg // reused for every status request
	buf    []byte

	// mu guards waiting: the order the current attempt waits for (0 for
	// none). The subscription's callback hands its answer over answers.
	mu      sync.Mutex
	waiting targets.OrderID
	answers chan byte

	pg *postgres.Conn // queue's read side, taken on first use
}

// The clients' read side is the handler's store.
var _ targets.Reader = (*client)(nil)

// NewClient returns a client with its own connection and inbox.
func (t *Target) NewClient(_ context.Context, worker int) (targets.Client, error) {
	nc, err := nats.Connect(t.server.URL, nats.Name(fmt.Sprintf("stampede-%s-%d", t.name, worker)))
	if err != nil {
		return nil, fmt.Errorf("nats: connect: %w", err)
	}
	c := &client{t: t, nc: nc, inbox: nats.NewInbox(), answers: make(chan byte, 1),
		msg: &nats.Msg{Header: nats.Header{}}, status: &nats.Msg{Header: nats.Header{}}}
	if t.m.stream() {
		if c.js, err = natsjs.New(nc); err != nil {
			nc.Close()
			return nil, err
		}
	}
	if c.sub, err = nc.Subscribe(c.inbox+".*", c.onAnswer); err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats: subscribe inbox: %w", err)
	}
	if err := nc.Flush(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats: %w", err)
	}
	return c, nil
}

// Close closes the client's connection and gives back its PostgreSQL
// connection.
func (c *client) Close() error {
	c.nc.Close()
	if c.pg != nil {
		_ = c.pg.Close()
	}
	return nil
}

// onAnswer receives a final answer on the inbox: it goes to the attempt
// waiting for it, or counts as late.
func (c *client) onAnswer(m *nats.Msg) {
	id, err := strconv.ParseUint(m.Subject[len(c.inbox)+1:], 10, 64)
	if err != nil {
		return
	}
	var a byte
	switch {
	case len(m.Data) == 1:
		a = m.Data[0]
	case len(m.Data) == 0 && m.Header.Get("Status") == "503":
		a = answerNoResponders
	default:
		return
	}
	c.mu.Lock()
	if c.waiting == targets.OrderID(id) {
		c.waiting = 0
		c.answers <- a // room for one: only the waiting order's answer is sent
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	if a != answerNoResponders {
		c.t.late.Add(1)
	}
}

// await makes the client wait for order id's answer.
func (c *client) await(id targets.OrderID) {
	c.mu.Lock()
	c.waiting = id
	c.mu.Unlock()
}

// abandon stops waiting for order id and returns its answer if it came
// meanwhile.
func (c *client) abandon(id targets.OrderID) (byte, bool) {
	c.mu.Lock()
	came := c.waiting != id
	c.waiting = 0
	c.mu.Unlock()
	if came {
		return <-c.answers, true
	}
	return 0, false
}

// Buy sends the order, then waits for its final answer until the
// attempt's deadline. For the queue designs the PubAck is "accepted"
// (Reply.Accepted); a duplicate publish (a resubmission within the
// duplicate window) is accepted too, and asks the handler for the order's
// answer.
func (c *client) Buy(ctx context.Context, o targets.Order) targets.Reply {
	t := c.t
	if o.Product < 0 || o.Product >= t.stock.Products || o.Quantity <= 0 {
		return targets.Reply{Outcome: targets.Error, Err: ErrNoSuchProduct}
	}
	p := t.partition(o.Product)
	c.buf = appendOrder(c.buf, o)
	reply := c.inbox + "." + strconv.FormatUint(uint64(o.ID), 10)
	c.await(o.ID)
	sent := time.Now()
	var accepted time.Duration
	c.msg.Subject, c.msg.Data = t.subjects[p], c.buf
	if t.m.stream() {
		c.msg.Header.Set(ReplyHeader, reply)
		c.msg.Header.Set(nats.MsgIdHdr, o.ID.String())
		ack, err := c.js.PublishMsg(ctx, c.msg)
		if err != nil {
			if a, ok := c.abandon(o.ID); ok { // decided before the PubAck came
				return final(a, 0)
			}
			return publishFailed(err)
		}
		accepted = max(time.Since(sent), 1)
		if ack.Duplicate {
			// The first submission's message stands; ask for its answer.
			c.status.Subject = t.statuses[p]
			c.status.Data = strconv.AppendUint(c.status.Data[:0], uint64(o.ID), 10)
			c.status.Header.Set(ReplyHeader, reply)
			_ = c.nc.PublishMsg(c.status)
		}
	} else {
		c.msg.Reply = reply
		if err := c.nc.PublishMsg(c.msg); err != nil {
			c.abandon(o.ID)
			return targets.Reply{Outcome: targets.Error, Err: err} // never sent
		}
	}
	select {
	case a := <-c.answers:
		return final(a, accepted)
	case <-ctx.Done():
		if a, ok := c.abandon(o.ID); ok {
			return final(a, accepted)
		}
		return targets.Reply{Outcome: targets.Unknown, Err: fmt.Errorf("%w: %w", ErrNoAnswer, ctx.Err()), Accepted: accepted}
	}
}

// final turns an answer into a reply.
func final(a byte, accepted time.Duration) targets.Reply {
	switch a {
	case answerConfirmed:
		return targets.Reply{Outcome: targets.Confirmed, Accepted: accepted}
	case answerSoldOut:
		return targets.Reply{Outcome: targets.SoldOut, Accepted: accepted}
	case answerNoResponders:
		return targets.Reply{Outcome: targets.Error, Err: nats.ErrNoResponders}
	default:
		return targets.Reply{Outcome: targets.Rejected, Err: ErrRejected, Accepted: accepted}
	}
}

// publishFailed turns a failed publish into a reply: a timeout or a lost
// connection leaves the outcome unknown (the order may be queued); an
// error of JetStream's API, or no stream listening, is a definite failure
// (nothing was stored).
func publishFailed(err error) targets.Reply {
	var apiErr *natsjs.APIError
	switch {
	case errors.As(err, &apiErr), errors.Is(err, nats.ErrNoResponders):
		return targets.Reply{Outcome: targets.Error, Err: err}
	default:
		return targets.Reply{Outcome: targets.Unknown, Err: err}
	}
}

// Shows reads the handler's store: whether order id is confirmed there.
// It is the read side of a queue design: an order shows once its handler
// decided it, which the buyer learns with its final answer.
func (c *client) Shows(ctx context.Context, id targets.OrderID) (bool, error) {
	t := c.t
	if t.m != streamPG {
		st := t.mem.Load()
		return st != nil && st.shows(id), nil
	}
	if c.pg == nil {
		pg, err := t.db.Acquire(ctx)
		if err != nil {
			return false, err
		}
		c.pg = pg
	}
	conn, err := c.pg.Get(ctx)
	if err != nil {
		return false, err
	}
	defer c.pg.Put()
	var shows bool
	err = conn.QueryRow(ctx, stmtShows, int64(id)).Scan(&shows)
	return shows, err
}
