package agents

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stampede-bench/stampede/bench"
	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
)

// shared is a design whose store every agent of this test process
// reaches, as agents on other machines reach a database: it tests the
// transport, not a backend.
type shared struct{ s *store }

type store struct {
	mu      sync.Mutex
	left    []int64
	applied map[targets.OrderID]int32
}

var theStore struct {
	sync.Mutex
	s *store
}

func (d *shared) Info() targets.Info {
	return targets.Info{Design: "shared test store", Reference: true}
}
func (d *shared) Setup(_ context.Context, s targets.Stock) error {
	st := &store{left: make([]int64, s.Products), applied: map[targets.OrderID]int32{}}
	for i := range st.left {
		st.left[i] = s.Capacity
	}
	theStore.Lock()
	theStore.s = st
	theStore.Unlock()
	d.s = st
	return nil
}
func (d *shared) Attach(context.Context, targets.Stock) error {
	theStore.Lock()
	defer theStore.Unlock()
	d.s = theStore.s
	return nil
}
func (d *shared) NewClient(context.Context, int) (targets.Client, error) { return d, nil }
func (d *shared) Close() error                                           { return nil }
func (d *shared) Buy(_ context.Context, o targets.Order) targets.Reply {
	s := d.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.applied[o.ID] > 0 {
		return targets.Reply{Outcome: targets.Confirmed}
	}
	if s.left[o.Product] < o.Quantity {
		return targets.Reply{Outcome: targets.SoldOut}
	}
	s.left[o.Product] -= o.Quantity
	s.applied[o.ID] = 1
	return targets.Reply{Outcome: targets.Confirmed}
}
func (d *shared) Audit(context.Context) (targets.Audit, error) {
	s := d.s
	s.mu.Lock()
	defer s.mu.Unlock()
	a := targets.Audit{Sold: make([]int64, len(s.left))}
	var recs []targets.OrderRecord
	for id, n := range s.applied {
		recs = append(recs, targets.OrderRecord{ID: id, Applied: n})
	}
	a.Orders = targets.Records(recs)
	return a, nil
}

func startNATS(t *testing.T) string {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	return s.ClientURL()
}

func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Three agents in this process send a run's buyers; the parts merge to
// every submission of the plan once, and a chunk published again is
// stored once.
func TestSpreadInProcess(t *testing.T) {
	url := startNATS(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range 3 {
		a := &Agent{NC: connect(t, url), Name: "a" + strconv.Itoa(i+1),
			Build: func(*Job) (targets.Target, error) { return &shared{}, nil }}
		wg.Add(1)
		go func() { defer wg.Done(); _ = a.Serve(ctx) }()
	}
	defer func() { cancel(); wg.Wait() }()
	nc := connect(t, url)
	c, err := Connect(ctx, nc, 3, 10*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Jobs = func(context.Context, string) (Job, error) { return Job{Design: "shared"}, nil }
	// A fourth claim finds none idle.
	if _, err := Connect(ctx, connect(t, url), 1, time.Second, nil); err == nil {
		t.Error("a second run claimed an agent the first holds")
	}

	sc := scenario.Builtin("flash-crowd")
	if err := sc.Apply(scenario.Overrides{Duration: 4 * time.Second, Rate: 600}, map[string]bool{"duration": true, "rate": true}); err != nil {
		t.Fatal(err)
	}
	plan := scenario.NewPlan(sc)
	res, err := bench.Run(ctx, "shared", &shared{}, plan, bench.Options{Spread: c})
	if err != nil {
		t.Fatal(err)
	}
	o := res.Orders
	if res.Incomplete || len(res.Agents) != 3 {
		t.Fatalf("incomplete %v, agents %+v", res.Incomplete, res.Agents)
	}
	if got := o.Submissions + o.QueuedAtEnd + o.NotDue; got != int64(plan.Submissions()) || o.Buyers != int64(plan.Orders) {
		t.Errorf("submissions %d, buyers %d; the plan has %d submissions of %d orders", got, o.Buyers, plan.Submissions(), plan.Orders)
	}
	var attempts int64
	for _, a := range res.Agents {
		attempts += a.Attempts
		if a.Attempts == 0 {
			t.Errorf("agent %s made no attempt", a.Name)
		}
	}
	if attempts != o.Attempts {
		t.Errorf("the agents made %d attempts, the merge has %d", attempts, o.Attempts)
	}
	var inTimeline int64 // the agents' timelines, added up second by second
	for _, sec := range res.Timeline {
		inTimeline += sec.Attempts
	}
	if inTimeline != o.Attempts || len(res.Timeline) < 4 {
		t.Errorf("the timeline's %d seconds hold %d attempts, the merge %d", len(res.Timeline), inTimeline, o.Attempts)
	}
	if ch := res.Checks; ch.Oversold != 0 || ch.Lost != 0 || ch.Phantom != 0 || ch.DuplicatedOrders != 0 {
		t.Errorf("checks %+v", ch)
	}

	// Publishing a stored chunk again, with its message id, stores
	// nothing more.
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, Stream)
	if err != nil {
		t.Fatal(err)
	}
	before := st.CachedInfo().State.Msgs
	m, err := st.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	msg := nats.NewMsg(m.Subject)
	msg.Data, msg.Header = m.Data, m.Header
	ack, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(m.Header.Get(nats.MsgIdHdr)))
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !ack.Duplicate || info.State.Msgs != before {
		t.Errorf("a chunk sent again: duplicate %v, %d messages, %d before", ack.Duplicate, info.State.Msgs, before)
	}
	if m.Header.Get(nats.MsgIdHdr) == "" {
		t.Error("a chunk without a message id")
	}
}
