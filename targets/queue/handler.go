package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/jsapi"
)

// fetchWait bounds each fetch of a partition's consumer: how long a stop
// waits for the fetch in flight, and how often an idle handler asks again.
const fetchWait = 200 * time.Millisecond

// decideTimeout bounds one group's decision; the decisions in flight when
// the service stops get this long to commit.
const decideTimeout = 10 * time.Second

// drainTimeout bounds the drain of a handler connection at stop.
const drainTimeout = 10 * time.Second

// service is a running handler service: its connections (one per handler
// instance), a goroutine per partition consuming it in order (queue
// designs) or a queue-group subscription per partition and instance
// (queue-atmostonce).
type service struct {
	t     *Target
	conns []*nats.Conn
	// closed[i] is closed when conns[i] is.
	closed   []chan struct{}
	parts    []*servicePart
	stopping chan struct{}
	wg       sync.WaitGroup
}

// servicePart is what the service knows of a partition beyond its store:
// the inboxes waiting for orders not yet decided (status requests).
type servicePart struct {
	mu      sync.Mutex
	waiting map[targets.OrderID][]string
}

// startService connects the handler instances and starts consuming.
func (t *Target) startService(ctx context.Context) (_ *service, err error) {
	s := &service{t: t, stopping: make(chan struct{}), parts: make([]*servicePart, t.partitions)}
	for p := range s.parts {
		s.parts[p] = &servicePart{waiting: map[targets.OrderID][]string{}}
	}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	for h := range t.handlers {
		closed := make(chan struct{})
		nc, err := nats.Connect(t.server.URL, nats.Name(fmt.Sprintf("stampede-%s-handler-%d", t.name, h)),
			nats.ClosedHandler(func(*nats.Conn) { close(closed) }), nats.DrainTimeout(drainTimeout))
		if err != nil {
			return nil, fmt.Errorf("nats: connect handler %d: %w", h, err)
		}
		s.conns = append(s.conns, nc)
		s.closed = append(s.closed, closed)
	}
	if !t.m.stream() {
		st := t.mem.Load()
		for _, nc := range s.conns {
			for p, subj := range t.subjects {
				if _, err := nc.QueueSubscribe(subj, "handlers", func(m *nats.Msg) { s.serveRequest(st, p, m) }); err != nil {
					return nil, fmt.Errorf("nats: subscribe %s: %w", subj, err)
				}
			}
			if err := nc.Flush(); err != nil {
				return nil, fmt.Errorf("nats: %w", err)
			}
		}
		return s, nil
	}
	// Partition p is handler p % handlers's: its consumer, its status
	// requests, on that handler's connection.
	for p := range t.partitions {
		nc := s.conns[p%len(s.conns)]
		js, err := natsjs.New(nc)
		if err != nil {
			return nil, err
		}
		var cons natsjs.Consumer
		if err := jsapi.Retry(ctx, func(ctx context.Context) error {
			cons, err = js.Consumer(ctx, t.stream, consumerName(p))
			return err
		}); err != nil {
			return nil, fmt.Errorf("consumer of partition %d: %w", p, err)
		}
		d, err := t.newDecider(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("partition %d: %w", p, err)
		}
		if _, err := nc.Subscribe(t.statuses[p], func(m *nats.Msg) { s.serveStatus(nc, p, m) }); err != nil {
			d.close()
			return nil, fmt.Errorf("nats: subscribe %s: %w", t.statuses[p], err)
		}
		s.wg.Add(1)
		go s.consume(p, nc, cons, d)
	}
	for _, nc := range s.conns {
		if err := nc.Flush(); err != nil {
			return nil, fmt.Errorf("nats: %w", err)
		}
	}
	return s, nil
}

// stop stops fetching, waits for the decisions in flight, and drains the
// connections (the acks and answers published are flushed), each within
// a bound.
func (s *service) stop() {
	close(s.stopping)
	s.wg.Wait()
	for _, nc := range s.conns {
		if err := nc.Drain(); err != nil {
			nc.Close()
		}
	}
	for i, nc := range s.conns {
		select {
		case <-s.closed[i]:
		case <-time.After(drainTimeout + time.Second):
			nc.Close()
		}
	}
}

func (s *service) stopped() bool {
	select {
	case <-s.stopping:
		return true
	default:
		return false
	}
}

// consume is partition p's handler: fetch, decide the orders already
// there as one group, commit, ack, answer; again, until the service stops.
func (s *service) consume(p int, nc *nats.Conn, cons natsjs.Consumer, d decider) {
	defer s.wg.Done()
	defer d.close()
	t := s.t
	group := make([]natsjs.Msg, 0, t.batch)
	for !s.stopped() {
		batch, err := cons.Fetch(t.batch, natsjs.FetchMaxWait(fetchWait))
		if err != nil {
			// The server is away (restarting, a connection lost): ask
			// again shortly.
			select {
			case <-s.stopping:
				return
			case <-time.After(fetchWait):
			}
			continue
		}
		msgs := batch.Messages()
		for m := range msgs {
			group = append(group[:0], m)
		more: // the orders already delivered join the group
			for len(group) < cap(group) {
				select {
				case m, ok := <-msgs:
					if !ok {
						break more
					}
					group = append(group, m)
				default:
					break more
				}
			}
			s.handle(p, nc, d, group)
		}
	}
}

// handle decides a group of partition p's messages: it commits, acks each
// message, then publishes each answer to the order's reply subject and to
// the inboxes that asked for it. A group that fails to decide is left to
// redelivery (nak).
func (s *service) handle(p int, nc *nats.Conn, d decider, msgs []natsjs.Msg) {
	t := s.t
	orders := make([]order, 0, len(msgs))
	kept := msgs[:0]
	for _, m := range msgs {
		o, err := parseOrder(m.Data())
		o.reply = m.Headers().Get(ReplyHeader)
		switch {
		case err != nil:
			_ = m.Term() // unreadable: never decided, never redelivered
			continue
		case o.product < 0 || o.product >= t.stock.Products || t.partition(o.product) != p || o.qty <= 0:
			_ = m.Ack()
			answer(nc, o.reply, answerRejected)
			continue
		}
		orders = append(orders, o)
		kept = append(kept, m)
	}
	if len(orders) == 0 {
		return
	}
	out := make([]byte, len(orders))
	ctx, cancel := context.WithTimeout(context.Background(), decideTimeout)
	err := d.decide(ctx, orders, out)
	cancel()
	if err != nil {
		t.handlerErrors.Add(int64(len(orders)))
		for _, m := range kept {
			_ = m.NakWithDelay(fetchWait)
		}
		return
	}
	for _, m := range kept {
		_ = m.Ack()
	}
	part := s.parts[p]
	var extra [][]string
	part.mu.Lock()
	if len(part.waiting) > 0 {
		extra = make([][]string, len(orders))
		for i, o := range orders {
			if w, ok := part.waiting[o.id]; ok {
				extra[i] = w
				delete(part.waiting, o.id)
			}
		}
	}
	part.mu.Unlock()
	for i, o := range orders {
		answer(nc, o.reply, out[i])
		if extra != nil {
			for _, r := range extra[i] {
				if r != o.reply {
					answer(nc, r, out[i])
				}
			}
		}
	}
}

// answer publishes an order's final answer to reply.
func answer(nc *nats.Conn, reply string, a byte) {
	if reply == "" {
		return
	}
	_ = nc.Publish(reply, answers[a])
}

// serveStatus answers a client whose publish of an order was a duplicate:
// at once from the store when the order is decided, else when it is. The
// store is read under the partition's lock, which handle takes after its
// commit to collect the waiting inboxes, so no decision slips between.
func (s *service) serveStatus(nc *nats.Conn, p int, m *nats.Msg) {
	reply := m.Header.Get(ReplyHeader)
	id, err := strconv.ParseUint(string(m.Data), 10, 64)
	if reply == "" || err != nil {
		return
	}
	oid := targets.OrderID(id)
	part := s.parts[p]
	part.mu.Lock()
	ctx, cancel := context.WithTimeout(context.Background(), decideTimeout)
	a, decided, err := s.t.lookup(ctx, p, oid)
	cancel()
	if err == nil && !decided {
		part.waiting[oid] = append(part.waiting[oid], reply)
	}
	part.mu.Unlock()
	if err == nil && decided {
		answer(nc, reply, a)
	}
}

// serveRequest decides a request of queue-atmostonce in memory and
// replies.
func (s *service) serveRequest(st *memState, p int, m *nats.Msg) {
	o, err := parseOrder(m.Data)
	if err != nil || o.product < 0 || o.product >= s.t.stock.Products || s.t.partition(o.product) != p {
		_ = m.Respond(answers[answerRejected])
		return
	}
	_ = m.Respond(answers[st.decideOne(p, o)])
}

// appendOrder encodes an order as its message's payload: "id product qty".
func appendOrder(buf []byte, o targets.Order) []byte {
	buf = strconv.AppendUint(buf[:0], uint64(o.ID), 10)
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, int64(o.Product), 10)
	buf = append(buf, ' ')
	return strconv.AppendInt(buf, o.Quantity, 10)
}

var errBadOrder = errors.New("queue: unreadable order")

// parseOrder reads a payload of appendOrder.
func parseOrder(data []byte) (order, error) {
	var f [3][]byte
	for i := range f {
		data = bytes.TrimLeft(data, " ")
		end := bytes.IndexByte(data, ' ')
		if end < 0 {
			end = len(data)
		}
		f[i], data = data[:end], data[end:]
	}
	if len(bytes.TrimSpace(data)) != 0 {
		return order{}, errBadOrder
	}
	id, err1 := strconv.ParseUint(string(f[0]), 10, 64)
	p, err2 := strconv.Atoi(string(f[1]))
	q, err3 := strconv.ParseInt(string(f[2]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || id == 0 {
		return order{}, errBadOrder
	}
	return order{id: targets.OrderID(id), product: p, qty: q}, nil
}
