// Package jetstream holds the NATS JetStream designs: one subject per
// product in a stream created afresh for each run; the first message of a
// subject sets the product's capacity, and each sale is a small message
// carrying the order id, the quantity and the stock left after it.
//
//   - jetstream: every sale is published with
//     Nats-Expected-Last-Subject-Sequence (from the client's last known
//     state of the product) and Nats-Msg-Id set to the order id. A stale
//     writer is rejected, refreshes the product's state with a direct get
//     of the subject's last message and tries again (each try a conflict);
//     a resubmission inside the duplicate window is recognised and answered
//     with the original confirmation. An order the client's view says is
//     sold out is first probed by its id (client.probe): the stream
//     answers a duplicate if its first click bought, so a resubmission is
//     never told "sold out" from the client's view while it was sold.
//     Never oversells, never duplicates inside the window.
//   - jetstream-noexpect: reads the product's last message, checks, and
//     publishes without an expected sequence: concurrent buyers overwrite
//     each other's view of the stock, and it oversells. It probes as
//     jetstream does.
//   - jetstream-nodedupe: expectations but no message id: resubmissions
//     apply again, or are told "sold out" once the stock is gone though
//     their first click bought.
//   - jetstream-kv: a key-value bucket, one key per product, each sale a
//     compare-and-set update by revision (retried on conflict); the bucket
//     keeps every revision for the audit. Not idempotent, as
//     jetstream-nodedupe.
//   - jetstream-once: "There can only be one": jetstream's sale, with a
//     subject per order in the same stream, taken once (expected last
//     subject sequence 0) by a claim before the sale and a decision after
//     it, so a resubmission, however late, reads the order's decision
//     rather than trusting the duplicate window (once.go).
//
// Like the ledger designs, every variant spends jetstream.app_time (3ms)
// between deciding a sale and publishing it: the application's own work.
//
// Every variant's client is a targets.Reader: buyers read their orders
// from a read model that a consumer of the stream builds (readmodel.go),
// so a confirmed order may not show at once.
package jetstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/jsapi"
)

type variant int

const (
	expect variant = iota
	noExpect
	noDedupe
	kv
	once
)

func init() {
	for _, r := range []struct {
		name, desc string
		v          variant
	}{
		{"jetstream", "NATS JetStream, a subject per product, expected last subject sequence and Nats-Msg-Id dedupe; never oversells or duplicates", expect},
		{"jetstream-noexpect", "NATS JetStream, read the last message then publish without an expected sequence; oversells", noExpect},
		{"jetstream-nodedupe", "NATS JetStream, expected last subject sequence but no Nats-Msg-Id; resubmissions apply again", noDedupe},
		{"jetstream-kv", "NATS JetStream key-value bucket, a key per product, compare-and-set by revision; never oversells", kv},
		{"jetstream-once", "NATS JetStream, a subject per order taken once (expected sequence 0) before the sale; an order applies at most once for ever, whatever the duplicate window", once},
	} {
		targets.Register(targets.Registration{
			Name: r.name, Description: r.desc, OptionPrefix: "jetstream",
			Options: []targets.OptionSpec{
				{Key: "replicas", Kind: targets.KindChoice, Default: "1", Choices: []string{"1", "3"},
					Help: "stream replicas; 3 starts three embedded servers clustered on loopback"},
				{Key: "sync", Kind: targets.KindChoice, Default: "default", Choices: []string{"default", "always"},
					Help: "embedded servers' fsync: default (every 2 minutes) or always (every message)"},
				{Key: "app_time", Kind: targets.KindDuration, Default: "3ms",
					Help: "the application's work between deciding a sale and publishing it"},
				{Key: "duplicate_window", Kind: targets.KindDuration, Default: DefaultDuplicateWindow.String(),
					Help: "the stream's duplicate window (Nats-Msg-Id dedupe); 0 is the server's default"},
				{Key: "seq", Kind: targets.KindChoice, Default: DefaultSeq, Choices: []string{string(seqOwn), string(seqFetch), string(seqWatch)},
					Help: "how a client knows a product's last sequence before writing: own (its own last write), fetch (a direct get before each order), watch (a view shared by the target's clients, fed by a consumer of the stream)"},
			},
			New: func(cfg targets.Config) (targets.Target, error) {
				if cfg.Backends == nil {
					return nil, targets.ErrNoBackends
				}
				seq, err := seqFor(cfg.Options.String("seq"))
				if err != nil {
					return nil, err
				}
				return &Target{name: r.name, v: r.v, cfg: cfg, replicas: cfg.Options.Int("replicas"),
					syncAlways: cfg.Options.String("sync") == "always", appTime: cfg.Options.Duration("app_time"),
					dupWindow: cfg.Options.Duration("duplicate_window"), seq: seq}, nil
			},
		})
	}
}

// DefaultDuplicateWindow is nats-server's duplicate window, the default
// of jetstream.duplicate_window.
const DefaultDuplicateWindow = 2 * time.Minute

// state is a client's last known state of a product: the sequence (or KV
// revision) of its last message and the stock it left.
type state struct {
	seq  uint64
	left int64
}

// Target is a JetStream design. It is safe for concurrent use by its
// clients.
type Target struct {
	name       string
	v          variant
	cfg        targets.Config
	replicas   int
	syncAlways bool
	appTime    time.Duration
	dupWindow  time.Duration // the stream's duplicate window, as the server set it after Setup
	seq        seqMode

	server     targets.NATSServer
	url        string
	serverName string
	cluster    string
	nc         *nats.Conn
	js         natsjs.JetStream
	stream     string // the stream name (for kv, the bucket's stream)
	bucket     string
	base       string   // the stream's subjects: base + ">"
	prefix     string   // subject of product p is prefix + p (stream) or the key p<p> (kv)
	subjects   []string // subject of each product, made once
	initial    []state
	stock      targets.Stock
	version    string
	rm         *readModel // the read side, started by Setup
	view       *view      // the products' states shared by the clients (seq=watch), fed by rm
}

func upperName(design string) string {
	return strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(design))
}

// Info describes the design, its durability and its replication.
func (t *Target) Info() targets.Info {
	info := targets.Info{Settings: map[string]string{
		"replicas": strconv.Itoa(t.replicas), "app_time": t.appTime.String(), "stream": t.stream,
		"duplicate_window": t.dupWindow.String(), "read_side": t.readSide(), "seq": t.seqSource(),
	}}
	switch t.v {
	case noExpect:
		info.Design = "read the subject's last message, check, publish with Nats-Msg-Id and no expected sequence"
		info.Consistency = "none (lost updates: oversells)"
	case noDedupe:
		info.Design = "publish with Nats-Expected-Last-Subject-Sequence, no Nats-Msg-Id; refresh and retry on conflict"
		info.Consistency = "strong per product (optimistic), not idempotent"
	case kv:
		info.Design = "key-value bucket, a key per product, compare-and-set update by revision; refresh and retry on conflict"
		info.Consistency = "strong per product (optimistic), not idempotent"
		info.Settings["bucket"] = t.bucket
		delete(info.Settings, "duplicate_window") // no message ids
	case once:
		info.Design = "a subject per order, first written expected empty (Nats-Expected-Last-Subject-Sequence 0): a claim, then the sale " +
			"on the product's subject (expected last subject sequence, Nats-Msg-Id per claim), then the decision; a refusal written alone; " +
			"a resubmission reads the decision, or finds the sale, or fences the claim off and takes the order over"
		info.Consistency = "strong per product (optimistic), idempotent for ever: an order's subject is taken once, whatever the duplicate window"
		info.Settings["cost"] = "a sale is three messages (claim, sale, decision; two round trips, the decision not waited for) against jetstream's one; " +
			"a refusal is one stored message where jetstream's probe stores nothing; the order subjects grow the stream by a message or three per order, for ever"
	default:
		info.Design = "publish with Nats-Expected-Last-Subject-Sequence and Nats-Msg-Id; refresh and retry on conflict"
		info.Consistency = "strong per product (optimistic), idempotent within the duplicate window (" + t.dupWindow.String() + ")"
	}
	sync := "default"
	if t.syncAlways {
		sync = "always"
	}
	info.Settings["sync"] = sync
	repl := "one server, no replica"
	if t.replicas > 1 {
		repl = fmt.Sprintf("%d replicas, each sale acknowledged by a quorum of %d", t.replicas, t.replicas/2+1)
	}
	// What stampede started it knows; of a server the user named it
	// knows only what the server says (version, name, cluster), not how
	// often it fsyncs.
	switch {
	case !t.server.Embedded:
		info.Settings["sync"] = "unknown"
		info.Durability = "file store, " + repl + "; fsync unknown: the server's sync interval is its own setting, which clients cannot read (nats-server's default is every 2 minutes)"
		info.Durable = t.replicas > 1
	case t.syncAlways:
		info.Durability = "file store, fsync per message, " + repl
		info.Durable = true
	case t.replicas > 1:
		info.Durability = "file store, fsync every 2 minutes (nats-server default), " + repl + ": losing a quorum at once can lose the last confirmed sales"
		info.Durable = true
	default:
		info.Durability = "file store, fsync every 2 minutes (nats-server default), " + repl + ": a crash can lose the last confirmed sales"
	}
	info.Backend = "nats-server " + t.version
	switch {
	case t.server.Embedded:
		info.Backend += fmt.Sprintf(" (started by stampede: %d server(s) on 127.0.0.1)", max(t.replicas, 1))
	case t.version != "":
		info.Backend += " (not started by stampede: server " + t.serverName
		if t.cluster != "" {
			info.Backend += " of cluster " + t.cluster
		}
		info.Backend += ")"
	}
	return info
}

// Setup connects, creates the stream (or bucket) afresh, writes each
// product's capacity, and starts the read model's projector.
func (t *Target) Setup(ctx context.Context, s targets.Stock) error {
	if err := t.connect(ctx, s); err != nil {
		return err
	}
	if t.v == kv {
		if err := t.setupKV(ctx, s); err != nil {
			return err
		}
		return t.startReadModel(ctx)
	}
	// Deleting, not purging: a purge would keep the duplicate window.
	if err := jsapi.Retry(ctx, func(ctx context.Context) error {
		if err := t.js.DeleteStream(ctx, t.stream); err != nil && !errors.Is(err, natsjs.ErrStreamNotFound) {
			return err
		}
		return nil
	}); err != nil {
		return fmt.Errorf("delete stream %s: %w", t.stream, err)
	}
	if err := jsapi.Retry(ctx, func(ctx context.Context) error {
		st, err := t.js.CreateStream(ctx, natsjs.StreamConfig{
			Name: t.stream, Subjects: []string{t.base + ">"}, Storage: natsjs.FileStorage,
			Replicas: t.replicas, AllowDirect: true, Duplicates: t.dupWindow,
		})
		if err == nil {
			cfg := st.CachedInfo().Config
			t.dupWindow = cfg.Duplicates
		}
		return err
	}); err != nil {
		return fmt.Errorf("create stream %s: %w", t.stream, err)
	}
	for p := range s.Products {
		// A message id makes the retry of a timed-out publish harmless.
		id := fmt.Sprintf("stock-%d", p)
		if err := jsapi.Retry(ctx, func(ctx context.Context) error {
			ack, err := t.js.Publish(ctx, t.subject(p), []byte(stockPayload(s.Capacity)), natsjs.WithMsgID(id))
			if err == nil {
				t.initial[p] = state{seq: ack.Sequence, left: s.Capacity}
			}
			return err
		}); err != nil {
			return fmt.Errorf("stock product %d: %w", p, err)
		}
	}
	return t.startReadModel(ctx)
}

// connect connects to the design's NATS, stops the projector of an
// earlier Setup, and names the stream (or bucket) and subjects of stock s.
func (t *Target) connect(ctx context.Context, s targets.Stock) error {
	t.rm.halt()
	t.rm = nil
	server, err := t.natsServer(ctx)
	if err != nil {
		return err
	}
	t.server, t.url, t.stock = server, server.URL, s
	if t.nc, err = nats.Connect(t.url, nats.Name("stampede-"+t.name)); err != nil {
		return fmt.Errorf("nats: connect: %w", err)
	}
	t.version = t.nc.ConnectedServerVersion()
	t.serverName, t.cluster = t.nc.ConnectedServerName(), t.nc.ConnectedClusterName()
	if t.js, err = natsjs.New(t.nc); err != nil {
		return err
	}
	t.initial = make([]state, s.Products)
	if t.v == kv {
		t.bucket = "STAMPEDE_" + upperName(t.name)
		t.stream = "KV_" + t.bucket
		return nil
	}
	t.stream = "STAMPEDE_" + upperName(t.name)
	t.base = "stampede." + t.name + "."
	t.prefix = t.base + "p."
	t.subjects = make([]string, s.Products)
	for p := range t.subjects {
		t.subjects[p] = t.prefix + strconv.Itoa(p)
	}
	return nil
}

// startReadModel starts the projector of the design's stream (the
// bucket's, for kv) from its first message.
func (t *Target) startReadModel(ctx context.Context) error {
	t.view = nil
	if t.seq == seqWatch {
		t.view = newView(t.initial)
	}
	rm, err := startReadModel(ctx, t.url, t.name, t.stream, t.view, t.productOf)
	if err != nil {
		return err
	}
	t.rm = rm
	return nil
}

func (t *Target) setupKV(ctx context.Context, s targets.Stock) error {
	if err := jsapi.Retry(ctx, func(ctx context.Context) error {
		if err := t.js.DeleteKeyValue(ctx, t.bucket); err != nil && !errors.Is(err, natsjs.ErrBucketNotFound) {
			return err
		}
		return nil
	}); err != nil {
		return fmt.Errorf("delete bucket %s: %w", t.bucket, err)
	}
	var b natsjs.KeyValue
	if err := jsapi.Retry(ctx, func(ctx context.Context) error {
		if _, err := t.js.CreateKeyValue(ctx, natsjs.KeyValueConfig{
			Bucket: t.bucket, History: 64, Storage: natsjs.FileStorage, Replicas: t.replicas,
		}); err != nil && !errors.Is(err, natsjs.ErrBucketExists) {
			return err
		}
		// Keep every revision, not the last 64, so the audit can read each sale.
		st, err := t.js.Stream(ctx, t.stream)
		if err != nil {
			return err
		}
		cfg := st.CachedInfo().Config
		cfg.MaxMsgsPerSubject = 1 << 40
		if _, err := t.js.UpdateStream(ctx, cfg); err != nil {
			return err
		}
		b, err = t.js.KeyValue(ctx, t.bucket)
		return err
	}); err != nil {
		return fmt.Errorf("create bucket %s: %w", t.bucket, err)
	}
	for p := range s.Products {
		if err := jsapi.Retry(ctx, func(ctx context.Context) error {
			rev, err := b.Create(ctx, kvKey(p), []byte(stockPayload(s.Capacity)))
			if errors.Is(err, natsjs.ErrKeyExists) { // a retried create that had landed
				e, gerr := b.Get(ctx, kvKey(p))
				if gerr != nil {
					return gerr
				}
				rev, err = e.Revision(), nil
			}
			if err == nil {
				t.initial[p] = state{seq: rev, left: s.Capacity}
			}
			return err
		}); err != nil {
			return fmt.Errorf("stock product %d: %w", p, err)
		}
	}
	return nil
}

func (t *Target) subject(p int) string { return t.prefix + strconv.Itoa(p) }

// probeSubject is where a probe is sent (never stored).
func (t *Target) probeSubject() string { return t.base + "probe" }

// orderSubject is the subject of order id (jetstream-once): its one
// decision.
func (t *Target) orderSubject(id targets.OrderID) string {
	return t.base + "o." + strconv.FormatUint(uint64(id), 10)
}

func kvKey(p int) string { return "p" + strconv.Itoa(p) }

// The payloads: "stock <capacity>" and "sale <order> <qty> <left>" on a
// product's subject; "claim <order> <product> <qty> <generation>", "bought
// <order> <product> <qty>" and "refused <order> <product> <qty>" on an
// order's (jetstream-once).
func stockPayload(capacity int64) string { return "stock " + strconv.FormatInt(capacity, 10) }

func salePayload(buf []byte, id targets.OrderID, qty, left int64) []byte {
	buf = append(buf[:0], "sale "...)
	buf = strconv.AppendUint(buf, uint64(id), 10)
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, qty, 10)
	buf = append(buf, ' ')
	return strconv.AppendInt(buf, left, 10)
}

func claimPayload(buf []byte, o targets.Order, gen int) []byte {
	buf = append(buf[:0], "claim "...)
	buf = strconv.AppendUint(buf, uint64(o.ID), 10)
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, int64(o.Product), 10)
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, o.Quantity, 10)
	buf = append(buf, ' ')
	return strconv.AppendInt(buf, int64(gen), 10)
}

func decisionPayload(buf []byte, bought bool, o targets.Order) []byte {
	if bought {
		buf = append(buf[:0], "bought "...)
	} else {
		buf = append(buf[:0], "refused "...)
	}
	buf = strconv.AppendUint(buf, uint64(o.ID), 10)
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, int64(o.Product), 10)
	buf = append(buf, ' ')
	return strconv.AppendInt(buf, o.Quantity, 10)
}

// parsed is a message of the stream: a product's stock or sale, or an
// order's decision.
type parsed struct {
	sale    bool
	claim   bool // an order's owner, of generation gen
	bought  bool // an order's decision: sold
	refused bool // an order's decision: sold out
	order   targets.OrderID
	product int // of a claim or a decision
	gen     int
	qty     int64
	left    int64
}

func parse(data []byte) (parsed, error) {
	f := strings.Fields(string(data))
	switch {
	case len(f) == 2 && f[0] == "stock":
		n, err := strconv.ParseInt(f[1], 10, 64)
		return parsed{left: n}, err
	case len(f) == 4 && f[0] == "sale":
		id, err1 := strconv.ParseUint(f[1], 10, 64)
		qty, err2 := strconv.ParseInt(f[2], 10, 64)
		left, err3 := strconv.ParseInt(f[3], 10, 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			return parsed{}, err
		}
		return parsed{sale: true, order: targets.OrderID(id), qty: qty, left: left}, nil
	case len(f) == 4 && (f[0] == "bought" || f[0] == "refused"):
		id, err1 := strconv.ParseUint(f[1], 10, 64)
		p, err2 := strconv.Atoi(f[2])
		qty, err3 := strconv.ParseInt(f[3], 10, 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			return parsed{}, err
		}
		return parsed{bought: f[0] == "bought", refused: f[0] == "refused", order: targets.OrderID(id), product: p, qty: qty}, nil
	case len(f) == 5 && f[0] == "claim":
		id, err1 := strconv.ParseUint(f[1], 10, 64)
		p, err2 := strconv.Atoi(f[2])
		qty, err3 := strconv.ParseInt(f[3], 10, 64)
		gen, err4 := strconv.Atoi(f[4])
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			return parsed{}, err
		}
		return parsed{claim: true, order: targets.OrderID(id), product: p, qty: qty, gen: gen}, nil
	}
	return parsed{}, fmt.Errorf("jetstream: unreadable message %q", data)
}

// NewClient returns a client with its own connection and its own view of
// each product's state.
func (t *Target) NewClient(ctx context.Context, worker int) (targets.Client, error) {
	nc, err := nats.Connect(t.url, nats.Name(fmt.Sprintf("stampede-%s-%d", t.name, worker)))
	if err != nil {
		return nil, fmt.Errorf("nats: connect: %w", err)
	}
	js, err := natsjs.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	c := &client{t: t, nc: nc, js: js, rm: t.rm, states: append([]state(nil), t.initial...)}
	if t.v == kv {
		if c.kv, err = js.KeyValue(ctx, t.bucket); err != nil {
			nc.Close()
			return nil, err
		}
	} else if c.stream, err = js.Stream(ctx, t.stream); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// Close stops the read model's projector and closes the target's
// connection.
func (t *Target) Close() error {
	t.rm.halt()
	if t.nc != nil {
		t.nc.Close()
	}
	return nil
}

var _ targets.Preflighter = (*Target)(nil)

// natsServer returns the NATS the design runs on: the user's, or embedded
// servers as its options ask (one, or three clustered for R3 streams).
func (t *Target) natsServer(ctx context.Context) (targets.NATSServer, error) {
	servers := 1
	if t.replicas > 1 {
		servers = 3
	}
	return t.cfg.Backends.NATS(ctx, targets.NATSOptions{Servers: servers, SyncAlways: t.syncAlways})
}

// Preflight checks, before any design of a run starts, that the NATS the
// design will use accepts a connection and has JetStream on. It starts
// the embedded servers if they are the ones to use.
func (t *Target) Preflight(ctx context.Context) error {
	server, err := t.natsServer(ctx)
	if err != nil {
		return err
	}
	nc, err := nats.Connect(server.URL, nats.Name("stampede-preflight"), nats.Timeout(5*time.Second),
		nats.NoReconnect())
	if err != nil {
		return fmt.Errorf("cannot reach NATS: %w", dialCause(ctx, server.URL, err))
	}
	defer nc.Close()
	js, err := natsjs.New(nc)
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(actx); err != nil {
		return fmt.Errorf("NATS at %s has no JetStream for this account: %w", nc.ConnectedAddr(), err)
	}
	return nil
}

// dialCause returns, for nats.go's "no servers available", why the first
// server could not be reached (connection refused, no such host), which
// nats.go does not say; any other error as it is.
func dialCause(ctx context.Context, urls string, err error) error {
	if !errors.Is(err, nats.ErrNoServers) {
		return err
	}
	first, _, _ := strings.Cut(urls, ",")
	u, perr := url.Parse(strings.TrimSpace(first))
	if perr != nil || u.Host == "" {
		return err
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "4222")
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	c, derr := d.DialContext(ctx, "tcp", host)
	if derr != nil {
		return fmt.Errorf("%w (%w)", err, derr)
	}
	c.Close()
	return err
}

// seqSource says, for Info, how the design's clients know a product's
// last sequence.
func (t *Target) seqSource() string {
	switch {
	case t.v == noExpect:
		return "fetch: the product's last message, read before each order (the design's own read), whatever jetstream.seq"
	case t.seq == seqFetch:
		return "fetch: a direct get of the product's last message before each order"
	case t.seq == seqWatch:
		return "watch: a view shared by the target's clients, fed by the read model's consumer and by their own writes"
	}
	return "own: the client's own last write of the product (or its refresh after a conflict)"
}
