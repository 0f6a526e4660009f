// Package queue holds the queue-and-reply designs on NATS: the buyer's
// order goes into a queue and is answered "accepted" at once; a handler
// service decides it later and pushes the final answer back to the buyer,
// as a page would receive it over a WebSocket (the talk's NServiceBus and
// SignalR demo).
//
//   - queue: a JetStream work-queue stream (file storage), a subject per
//     partition of the products (<prefix>.p<N>, product p in partition
//     p % queue.partitions). The buyer's client publishes the order with
//     Nats-Msg-Id set to the order id and the subject of its own inbox for
//     this order in the Stampede-Reply header; the PubAck is "accepted"
//     (Reply.Accepted). A handler service, started in Setup with
//     connections of its own, consumes each partition in order through a
//     durable pull consumer of its own, decides each fetched group of
//     orders in one PostgreSQL transaction (claim the order id, the
//     conditional UPDATE of the product's row, record the outcome: a
//     redelivered or resubmitted order gets its recorded outcome, never
//     applied twice), commits, then acks the messages, then publishes each
//     final answer to its reply subject. The client waits on its inbox for
//     the answer until the attempt's deadline.
//   - queue-memory: the same queue and handler, the handler's state in its
//     own memory (a lock per partition): fastest, and its decisions are
//     gone when the handler stops.
//   - queue-atmostonce: core NATS request/reply, no stream: the order is a
//     request to <prefix>.p<N>, served by a queue group of handlers that
//     decide in memory and reply. Nothing is stored and nothing is
//     redelivered; there is no accepted phase.
//
// # Resubmissions
//
// A retry or a double-click publishes the order again with the same
// Nats-Msg-Id. Within the stream's duplicate window JetStream drops it and
// its PubAck says Duplicate: the order is accepted (the first submission's
// message stands), and the handler will not see this one. The client then
// asks the handler, with a core NATS message to <prefix>.status.p<N>, to
// answer this order on its inbox too: the handler answers at once from its
// store when the order is decided, or notes the inbox and answers it with
// the decision. So a double-click sent by another worker (another inbox)
// gets its answer, and so does a retry whose first attempt's answer came
// after that attempt gave up.
//
// An answer that comes for an order its client no longer waits for (the
// attempt's deadline passed; a redelivery answered again) is counted, never
// lost: Target.LateAnswers.
//
// # Stopping the handlers
//
// Audit stops the handler service cleanly, after it has decided what the
// queue holds (bounded by the audit's context): no more fetches, the
// decisions in flight committed, acked and answered. StopHandlers and
// StartHandlers do the same during a run, for tests and fault injection.
package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/jsapi"
	"github.com/stampede-bench/stampede/targets/postgres"
)

// mode is the design's kind of queue and handler state.
type mode int

const (
	// streamPG: a JetStream work queue, decisions in PostgreSQL (queue).
	streamPG mode = iota
	// streamMemory: a JetStream work queue, decisions in memory (queue-memory).
	streamMemory
	// core: core NATS request/reply, decisions in memory (queue-atmostonce).
	core
)

// stream reports whether the design queues orders in a JetStream stream.
func (m mode) stream() bool { return m != core }

// Option keys (prefix "queue").
const (
	optPartitions = "partitions"
	optHandlers   = "handlers"
	optBatch      = "batch"
	optSync       = "sync"
	poolOption    = "queue.pool"
)

func init() {
	for _, r := range []struct {
		name, desc string
		m          mode
	}{
		{"queue", "NATS JetStream work queue answered accepted at once, a handler deciding in PostgreSQL and pushing the answer back; idempotent, never oversells", streamPG},
		{"queue-memory", "NATS JetStream work queue answered accepted at once, a handler deciding in its own memory: correct while the handler lives, forgets every sale when it stops", streamMemory},
		{"queue-atmostonce", "core NATS request/reply to a queue group of handlers deciding in memory: nothing stored, nothing redelivered, no accepted phase", core},
	} {
		targets.Register(targets.Registration{
			Name: r.name, Description: r.desc, OptionPrefix: "queue",
			Options: []targets.OptionSpec{
				{Key: optPartitions, Kind: targets.KindInt, Default: "4", Min: 1,
					Help: "partitions of the products, a subject each (product p in partition p % partitions), each consumed in order by one handler"},
				{Key: optHandlers, Kind: targets.KindInt, Default: "0",
					Help: "handler instances, each with its own NATS connection; 0 for as many as partitions (the queue designs use at most that many)"},
				{Key: optBatch, Kind: targets.KindInt, Default: "64", Min: 1,
					Help: "orders a handler fetches from a partition at once; those already there are decided in one transaction"},
				{Key: optSync, Kind: targets.KindChoice, Default: "default", Choices: []string{"default", "always"},
					Help: "the embedded nats-server's fsync: default (every 2 minutes) or always (every message)"},
				postgres.PoolOption,
			},
			New: func(cfg targets.Config) (targets.Target, error) {
				if cfg.Backends == nil {
					return nil, targets.ErrNoBackends
				}
				return newTarget(r.name, r.m, cfg), nil
			},
		})
	}
}

// dupWindow is the stream's duplicate window.
const dupWindow = 2 * time.Minute

// ackWait is how long the consumers wait for a handler's ack before they
// deliver a message again.
const ackWait = 10 * time.Second

// ReplyHeader is the header of a queued order (and of a status request)
// that holds the subject its final answer goes to.
const ReplyHeader = "Stampede-Reply"

// Target is a queue design: the queue, the handler service and its store.
// Its clients may be used concurrently with each other and with
// StopHandlers and StartHandlers; Setup, Audit and Close are called from
// one goroutine, as targets.Target says.
type Target struct {
	name       string
	m          mode
	cfg        targets.Config
	partitions int
	handlers   int
	batch      int
	syncAlways bool

	server     targets.NATSServer
	nc         *nats.Conn // the target's own: setup, audit
	js         natsjs.JetStream
	version    string
	serverName string
	cluster    string
	stream     string
	prefix     string
	subjects   []string // partition p's orders
	statuses   []string // partition p's status requests
	stock      targets.Stock

	db  *postgres.DB             // queue
	mem atomic.Pointer[memState] // queue-memory, queue-atmostonce

	late          atomic.Int64 // final answers after their attempt returned
	handlerErrors atomic.Int64 // decisions that failed and were left to redelivery
	restarts      atomic.Int64
	undecided     atomic.Int64 // orders still queued when the audit read the store

	mu  sync.Mutex // guards svc
	svc *service
}

var (
	_ targets.LateAnswers = (*Target)(nil)
	_ targets.Preflighter = (*Target)(nil)
)

func newTarget(name string, m mode, cfg targets.Config) *Target {
	t := &Target{name: name, m: m, cfg: cfg,
		partitions: max(cfg.Options.Int(optPartitions), 1),
		batch:      max(cfg.Options.Int(optBatch), 1),
		syncAlways: cfg.Options.String(optSync) == "always",
	}
	t.handlers = cfg.Options.Int(optHandlers)
	if t.handlers <= 0 {
		t.handlers = t.partitions
	}
	if m.stream() {
		// A partition is consumed in order, by one handler.
		t.handlers = min(t.handlers, t.partitions)
	}
	return t
}

// LateAnswers returns how many final answers came for an attempt that had
// already returned (its deadline passed), or came again (a redelivery
// answered a second time). It is safe for concurrent use.
func (t *Target) LateAnswers() int64 { return t.late.Load() }

func upperName(design string) string {
	return strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(design))
}

// partition returns the partition of product p.
func (t *Target) partition(p int) int { return p % t.partitions }

// Info describes the design, its durability and its backends.
func (t *Target) Info() targets.Info {
	info := targets.Info{Settings: map[string]string{
		"partitions": strconv.Itoa(t.partitions), "handlers": strconv.Itoa(t.handlers),
	}}
	if n := t.handlerErrors.Load(); n > 0 {
		info.Settings["handler_errors"] = strconv.FormatInt(n, 10)
	}
	if n := t.restarts.Load(); n > 0 {
		info.Settings["handler_restarts"] = strconv.FormatInt(n, 10)
	}
	sync := "default"
	if t.syncAlways {
		sync = "always"
	}
	var queued string // what the stream's fsync means for accepted orders
	if t.m.stream() {
		info.Settings["batch"] = strconv.Itoa(t.batch)
		info.Settings["stream"] = t.stream
		info.Settings["retention"] = "work queue"
		info.Settings["duplicate_window"] = dupWindow.String()
		info.Settings["ack_wait"] = ackWait.String()
		info.Settings["sync"] = sync
		if n := t.undecided.Load(); n > 0 {
			info.Settings["undecided_at_audit"] = strconv.FormatInt(n, 10)
		}
		switch {
		case !t.server.Embedded:
			info.Settings["sync"] = "unknown"
			queued = "orders queued in a file store, one server, fsync unknown (the server's own setting; nats-server's default is every 2 minutes): a crash may lose accepted orders not yet decided"
		case t.syncAlways:
			queued = "orders queued in a file store, fsync per message, one server, no replica"
		default:
			queued = "orders queued in a file store, fsync every 2 minutes (nats-server default), one server: a crash can lose accepted orders not yet decided"
		}
	}
	switch t.m {
	case streamPG:
		info.Design = "publish to a JetStream work queue (a subject per partition, Nats-Msg-Id = order id), accepted on the PubAck; a handler per partition decides in order in PostgreSQL (claim the order id, conditional UPDATE, record the outcome, one transaction per fetched group), commits, acks, then pushes the answer to the buyer's inbox"
		info.Consistency = "strong (one handler decides a partition in order; the conditional UPDATE guards the stock), idempotent (orders keyed by id: a redelivery or resubmission gets its recorded outcome)"
		if t.db != nil {
			pg := t.db.Info("", "", "read committed")
			for k, v := range pg.Settings {
				info.Settings[k] = v
			}
			// The pool serves the handlers, a connection per partition,
			// and the clients' read side (Shows), one each once it reads.
			info.Settings["connections"] = fmt.Sprintf("one per partition's handler (%d), one per client that reads", t.partitions)
			info.Durability = queued + "; decisions in PostgreSQL: " + pg.Durability
			info.Durable = pg.Durable && t.server.Embedded && t.syncAlways
			info.Backend = t.natsBackend("JetStream work queue") + "; " + pg.Backend
		} else {
			info.Durability = queued
			info.Backend = t.natsBackend("JetStream work queue")
		}
	case streamMemory:
		info.Design = "publish to a JetStream work queue (a subject per partition, Nats-Msg-Id = order id), accepted on the PubAck; a handler per partition decides in order in its own memory, acks, then pushes the answer to the buyer's inbox"
		info.Consistency = "strong while the handler lives (one handler decides a partition in order, under a lock per partition), idempotent in the handler's memory"
		info.Durability = queued + "; decisions in the handler's memory only: lost when the handler stops or dies (a restarted handler starts from the initial stock and forgets every sale)"
		info.Backend = t.natsBackend("JetStream work queue")
	default:
		info.Design = "core NATS request/reply to a queue group of handlers, a subject per partition; the handler decides in memory (a lock per partition) and replies; no stream, no accepted phase"
		info.Consistency = "strong while the handler lives (a lock per partition), idempotent in its memory; at most once: an order no handler received (none listening, a connection lost) is never decided nor redelivered, and its buyer gets no responders or no answer"
		info.Durability = "none: nothing is stored; decisions in the handler's memory only, lost when it stops or dies (a restarted handler forgets every sale)"
		info.Backend = t.natsBackend("core (no JetStream)")
	}
	return info
}

// natsBackend names the NATS server: its version, and who started it.
func (t *Target) natsBackend(what string) string {
	b := "NATS " + t.version + " " + what
	switch {
	case t.server.Embedded:
		b += " (nats-server in-process, started by stampede: one server on 127.0.0.1)"
	case t.version != "":
		b += " (not started by stampede: server " + t.serverName
		if t.cluster != "" {
			b += " of cluster " + t.cluster
		}
		b += ")"
	}
	return b
}

// natsServer returns the NATS the design runs on: the user's, or one
// embedded server.
func (t *Target) natsServer(ctx context.Context) (targets.NATSServer, error) {
	return t.cfg.Backends.NATS(ctx, targets.NATSOptions{Servers: 1, SyncAlways: t.syncAlways})
}

// Preflight checks, before any design of a run starts, that the NATS the
// design will use accepts a connection (and, for the queue designs, has
// JetStream on), and for queue that PostgreSQL has room for its pool.
func (t *Target) Preflight(ctx context.Context) error {
	server, err := t.natsServer(ctx)
	if err != nil {
		return err
	}
	nc, err := nats.Connect(server.URL, nats.Name("stampede-preflight"), nats.Timeout(5*time.Second), nats.NoReconnect())
	if err != nil {
		return fmt.Errorf("cannot reach NATS: %w", err)
	}
	defer nc.Close()
	if t.m.stream() {
		js, err := natsjs.New(nc)
		if err != nil {
			return err
		}
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := js.AccountInfo(actx); err != nil {
			return fmt.Errorf("NATS at %s has no JetStream for this account: %w", nc.ConnectedAddr(), err)
		}
	}
	if t.m == streamPG {
		return postgres.Preflight(ctx, t.cfg, poolOption)
	}
	return nil
}

// Setup connects, creates the stream and its consumers afresh (the
// queue designs), the store (a fresh PostgreSQL schema, or fresh memory)
// holding s, and starts the handler service.
func (t *Target) Setup(ctx context.Context, s targets.Stock) error {
	t.StopHandlers()
	t.closeConns()
	server, err := t.natsServer(ctx)
	if err != nil {
		return err
	}
	t.server, t.stock = server, s
	t.late.Store(0)
	t.handlerErrors.Store(0)
	t.restarts.Store(0)
	t.undecided.Store(0)
	if t.nc, err = nats.Connect(server.URL, nats.Name("stampede-"+t.name)); err != nil {
		return fmt.Errorf("nats: connect: %w", err)
	}
	t.version = t.nc.ConnectedServerVersion()
	t.serverName, t.cluster = t.nc.ConnectedServerName(), t.nc.ConnectedClusterName()
	t.prefix = "stampede." + t.name
	t.subjects = make([]string, t.partitions)
	t.statuses = make([]string, t.partitions)
	for p := range t.partitions {
		t.subjects[p] = t.prefix + ".p" + strconv.Itoa(p)
		t.statuses[p] = t.prefix + ".status.p" + strconv.Itoa(p)
	}
	if t.m.stream() {
		if err := t.setupStream(ctx); err != nil {
			return err
		}
	}
	switch t.m {
	case streamPG:
		if err := t.setupPG(ctx, s); err != nil {
			return err
		}
	default:
		t.mem.Store(newMemState(s, t.partitions))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.startLocked(ctx)
}

// setupStream deletes and creates the work-queue stream (a purge would
// keep the duplicate window) and a durable pull consumer per partition.
func (t *Target) setupStream(ctx context.Context) error {
	var err error
	if t.js, err = natsjs.New(t.nc); err != nil {
		return err
	}
	t.stream = "STAMPEDE_" + upperName(t.name)
	if err := jsapi.Retry(ctx, func(ctx context.Context) error {
		if err := t.js.DeleteStream(ctx, t.stream); err != nil && !errors.Is(err, natsjs.ErrStreamNotFound) {
			return err
		}
		return nil
	}); err != nil {
		return fmt.Errorf("delete stream %s: %w", t.stream, err)
	}
	if err := jsapi.Retry(ctx, func(ctx context.Context) error {
		_, err := t.js.CreateStream(ctx, natsjs.StreamConfig{
			Name: t.stream, Subjects: []string{t.prefix + ".*"}, Retention: natsjs.WorkQueuePolicy,
			Storage: natsjs.FileStorage, Replicas: 1, Duplicates: dupWindow,
		})
		return err
	}); err != nil {
		return fmt.Errorf("create stream %s: %w", t.stream, err)
	}
	for p := range t.partitions {
		if err := jsapi.Retry(ctx, func(ctx context.Context) error {
			_, err := t.js.CreateOrUpdateConsumer(ctx, t.stream, natsjs.ConsumerConfig{
				Durable: consumerName(p), FilterSubject: t.subjects[p],
				AckPolicy: natsjs.AckExplicitPolicy, AckWait: ackWait, DeliverPolicy: natsjs.DeliverAllPolicy,
				MaxAckPending: max(1024, 4*t.batch),
			})
			return err
		}); err != nil {
			return fmt.Errorf("create consumer of partition %d: %w", p, err)
		}
	}
	return nil
}

func consumerName(p int) string { return "handler-p" + strconv.Itoa(p) }

// StopHandlers stops the handler service cleanly, as a deployment stops a
// process: its consumers fetch no more, the decisions in flight are
// committed, acked and answered, and its connections close. Orders sent
// meanwhile wait in the stream (queue, queue-memory) or find no handler
// (queue-atmostonce). It is a hook for tests and for a fault injector; it
// is safe for concurrent use with the clients, and does nothing when the
// service is not running.
func (t *Target) StopHandlers() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopLocked()
}

// StartHandlers starts the handler service again after StopHandlers, with
// new connections, as a restarted process would: the queue designs'
// consumers resume where the stream stands; a handler whose state was in
// its memory (queue-memory, queue-atmostonce) starts from the initial stock
// and knows no order. It is a hook for tests and for a fault injector; it
// does nothing when the service is running.
func (t *Target) StartHandlers(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.svc != nil {
		return nil
	}
	if t.nc == nil {
		return errors.New("queue: StartHandlers before Setup")
	}
	if t.m != streamPG {
		t.mem.Store(newMemState(t.stock, t.partitions))
	}
	t.restarts.Add(1)
	return t.startLocked(ctx)
}

func (t *Target) startLocked(ctx context.Context) error {
	svc, err := t.startService(ctx)
	if err != nil {
		return fmt.Errorf("start handlers: %w", err)
	}
	t.svc = svc
	return nil
}

func (t *Target) stopLocked() {
	if t.svc != nil {
		t.svc.stop()
		t.svc = nil
	}
}

// Audit lets the handler service decide what the queue holds (for as long
// as ctx allows, 10s at most), stops it cleanly, and reads its system of
// record: the PostgreSQL tables (queue) or the handler's memory.
func (t *Target) Audit(ctx context.Context) (targets.Audit, error) {
	a := targets.Audit{Sold: make([]int64, t.stock.Products)}
	t.mu.Lock()
	if t.svc != nil && t.m.stream() {
		t.settle(ctx)
	}
	t.stopLocked()
	t.mu.Unlock()
	if t.m.stream() {
		if n, err := t.queued(ctx); err == nil {
			t.undecided.Store(int64(n))
		}
	}
	if t.m != streamPG {
		st := t.mem.Load()
		if st == nil {
			return a, errors.New("audit: no handler state (Setup did not run)")
		}
		a.Sold, a.Orders = st.audit()
		return a, nil
	}
	if t.db == nil {
		return a, errors.New("audit: no database (Setup did not run)")
	}
	sold, err := postgres.SoldByProduct(ctx, t.db.Pool, "SELECT product, capacity - remaining FROM stock", t.stock.Products)
	a.Sold = sold
	if err != nil {
		return a, fmt.Errorf("audit: %w", err)
	}
	a.Orders = postgres.StreamOrders(ctx, t.db.Pool, "SELECT order_id, 1 FROM orders WHERE outcome = 'c'")
	return a, nil
}

// settle waits, polling, until the stream holds no order (each was
// decided and acked), for as long as ctx allows and 10s at most.
func (t *Target) settle(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if n, err := t.queued(ctx); err == nil && n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// queued returns how many orders the stream holds.
func (t *Target) queued(ctx context.Context) (uint64, error) {
	var n uint64
	err := jsapi.Retry(ctx, func(ctx context.Context) error {
		st, err := t.js.Stream(ctx, t.stream)
		if err != nil {
			return err
		}
		n = st.CachedInfo().State.Msgs
		return nil
	})
	return n, err
}

// Close stops the handler service and releases the connections and the
// pool. The stream and the schema stay for inspection until the design's
// next Setup.
func (t *Target) Close() error {
	t.StopHandlers()
	t.closeConns()
	return nil
}

func (t *Target) closeConns() {
	if t.nc != nil {
		t.nc.Close()
		t.nc = nil
	}
	if t.db != nil {
		t.db.Close()
		t.db = nil
	}
}
