package jetstream

// The read side. A buyer's "my orders" page does not read the stream: it
// reads a read model, the way event-sourced shops build one. Each design
// runs a projector: an ordered consumer of its stream (for jetstream-kv,
// of the bucket's stream, every revision) from the first message, on a
// connection of its own, which folds every sale into an in-memory set of
// the orders shown. A buyer's order shows once the consumer has delivered
// its sale, which may be after the buyer was told it was confirmed: the
// staleness the engine measures when buyers read after buying
// (targets.Reader).

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/jsapi"
)

// readModel is the orders a projector has folded from the stream. shows is
// safe for concurrent use; start and halt are called from the Target's
// owner (Setup, Audit, Close).
type readModel struct {
	mu     sync.RWMutex
	orders map[targets.OrderID]struct{} // guarded by mu
	err    error                        // why the projector stopped early, guarded by mu

	view      *view                             // fed with each product's state, or nil
	productOf func(subject string) (int, error) // a product's subject to its index

	nc       *nats.Conn
	msgs     natsjs.MessagesContext
	stopping atomic.Bool
	done     chan struct{} // closed when the projector's goroutine has returned
}

// startReadModel connects, creates an ordered consumer of stream from its
// first message and starts the projector's goroutine. A view, if not nil,
// is offered each product's state as the projector sees it.
func startReadModel(ctx context.Context, url, name, stream string, v *view, productOf func(string) (int, error)) (*readModel, error) {
	nc, err := nats.Connect(url, nats.Name("stampede-"+name+"-readmodel"))
	if err != nil {
		return nil, fmt.Errorf("read model: nats: connect: %w", err)
	}
	js, err := natsjs.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("read model: %w", err)
	}
	var cons natsjs.Consumer
	if err := jsapi.Retry(ctx, func(ctx context.Context) error {
		cons, err = js.OrderedConsumer(ctx, stream, natsjs.OrderedConsumerConfig{DeliverPolicy: natsjs.DeliverAllPolicy})
		return err
	}); err != nil {
		nc.Close()
		return nil, fmt.Errorf("read model: consumer of %s: %w", stream, err)
	}
	msgs, err := cons.Messages()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("read model: consume %s: %w", stream, err)
	}
	rm := &readModel{orders: map[targets.OrderID]struct{}{}, view: v, productOf: productOf, nc: nc, msgs: msgs, done: make(chan struct{})}
	go rm.project()
	return rm, nil
}

// project folds every message the consumer delivers until halt, or until
// a message it cannot read (kept as the read model's failure). The
// ordered consumer recreates itself after a gap or a lost server.
func (rm *readModel) project() {
	defer close(rm.done)
	for {
		msg, err := rm.msgs.Next()
		if err != nil {
			if !rm.stopping.Load() {
				rm.fail(fmt.Errorf("read model: the projector stopped during the run: %w", err))
			}
			return
		}
		m, err := parse(msg.Data())
		if err != nil {
			rm.fail(fmt.Errorf("read model: the projector stopped during the run: %s: %w", msg.Subject(), err))
			return
		}
		if m.sale {
			rm.mu.Lock()
			rm.orders[m.order] = struct{}{}
			rm.mu.Unlock()
		}
		if rm.view != nil && (m.sale || !(m.claim || m.bought || m.refused)) { // a product's sale or stock
			if p, err := rm.productOf(msg.Subject()); err == nil {
				if meta, err := msg.Metadata(); err == nil {
					rm.view.offer(p, state{seq: meta.Sequence.Stream, left: m.left})
				}
			}
		}
	}
}

func (rm *readModel) fail(err error) {
	rm.mu.Lock()
	rm.err = err
	rm.mu.Unlock()
}

// shows reports whether the read model holds order id: (false, nil) while
// the projector has not delivered its sale yet; an error when the
// projector stopped early and will never deliver it.
func (rm *readModel) shows(id targets.OrderID) (bool, error) {
	if rm == nil {
		return false, errors.New("read model: not started")
	}
	rm.mu.RLock()
	_, ok := rm.orders[id]
	err := rm.err
	rm.mu.RUnlock()
	if !ok && err != nil {
		return false, err
	}
	return ok, nil
}

// failure returns why the projector stopped early, or nil.
func (rm *readModel) failure() error {
	if rm == nil {
		return nil
	}
	rm.mu.RLock()
	defer rm.mu.RUnlock()
	return rm.err
}

// halt stops the projector, waits for its goroutine to return and closes
// its connection. The read model keeps what it folded. It is a no-op on a
// read model halted already, or nil.
func (rm *readModel) halt() {
	if rm == nil || rm.stopping.Swap(true) {
		return
	}
	rm.msgs.Stop()
	rm.nc.Close() // Next returns on a closed connection too
	<-rm.done
}

var _ targets.Reader = (*client)(nil)

// Shows reports whether the buyer's orders, as the design's read model
// holds them, show order id: not before the projector has folded its
// sale. It never touches the network, and is safe for concurrent use.
func (c *client) Shows(_ context.Context, id targets.OrderID) (bool, error) {
	return c.rm.shows(id)
}

// readSide describes the read side, for Info.
func (t *Target) readSide() string {
	of := "the design's stream"
	switch {
	case t.stream == "": // before Setup
	case t.v == kv:
		of = "the bucket's stream " + t.stream + " (every revision)"
	default:
		of = "stream " + t.stream
	}
	return "a read model in memory (order id -> shown) built by an ordered consumer of " + of +
		" from its first message; an order shows once the consumer has delivered its sale"
}
