package http

import (
	"context"
	"fmt"
	"net"
	nethttp "net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/designtest"
	"gopkg.in/yaml.v3"
)

func TestMain(m *testing.M) { designtest.Main(m) }

// crowd is a short flash crowd: 6,000 buyers peaking at 3,000/s on the
// flash crowd's 19 shows x 100 seats.
func crowd(t *testing.T) *scenario.Scenario {
	sc := designtest.Scenario(t, "flash-crowd")
	sc.Demand.Buyers = 6000
	sc.Arrivals.Rate = 3000
	return sc
}

// A correct service is measured and found correct, a racy one is caught
// overselling, through the engine as the CLI runs them.
func TestFlashCrowd(t *testing.T) {
	sc := crowd(t)
	good := designtest.Run(t, "http", sc, "http.url="+newService(t, &service{}))
	k := good.Checks
	if k.Oversold != 0 || k.DuplicatedOrders != 0 || k.Lost != 0 || k.Phantom != 0 || k.Contradicted != 0 {
		t.Errorf("correct service: oversold %d, duplicated %d, lost %d, phantom %d, contradicted %d; want 0", k.Oversold, k.DuplicatedOrders, k.Lost, k.Phantom, k.Contradicted)
	}
	if good.Orders.Confirmed == 0 || good.Orders.Errors != 0 || good.Orders.Unknown != 0 {
		t.Errorf("correct service: %d confirmed, %d errors, %d unknown %q; want answers, all definite", good.Orders.Confirmed, good.Orders.Errors, good.Orders.Unknown, good.Orders.ErrorSamples)
	}
	if good.Info.Design != "test-service" || good.Info.Consistency != "a mutex" || good.Info.Settings["url"] == "" || good.Info.Settings["racy"] != "false" {
		t.Errorf("info %+v: want the service's own words and its URL", good.Info)
	}
	racy := designtest.Run(t, "http", sc, "http.url="+newService(t, &service{racy: true}))
	if racy.Checks.Oversold <= 0 {
		t.Errorf("racy service: oversold %d, want above 0", racy.Checks.Oversold)
	}
}

// Answers are read as the protocol says: definite only when the service
// says so.
func TestClassify(t *testing.T) {
	for _, c := range []struct {
		status int
		body   string
		want   targets.Outcome
	}{
		{200, `{"outcome":"confirmed"}`, targets.Confirmed},
		{200, ` { "outcome" : "sold_out" , "extra": {"outcome": "confirmed", "list": [1, "]"]} } `, targets.SoldOut},
		{200, `{"reason":"limit","outcome":"rejected"}`, targets.Rejected},
		{503, `{"applied":false,"reason":"overloaded"}`, targets.Error},
		{200, `{"outcome":"confirmed","applied":false}`, targets.Error},
		{500, `{"outcome":"confirmed"}`, targets.Unknown},
		{503, `{"applied":true}`, targets.Unknown},
		{200, `{"outcome":"accepted"}`, targets.Unknown},
		{200, `{"outcome":"confirmed"`, targets.Unknown},
		{200, `<html><body>confirmed</body></html>`, targets.Unknown},
		{200, ``, targets.Unknown},
		{200, `{}`, targets.Unknown},
		{200, `{"outcome":"confirmed"} trailing`, targets.Unknown},
		{200, `{"outcome":"conf\"irmed"}`, targets.Unknown},
		{502, `Bad Gateway`, targets.Unknown},
	} {
		r := classify(c.status, []byte(c.body))
		if r.Outcome != c.want {
			t.Errorf("%d %s: %v (%v), want %v", c.status, c.body, r.Outcome, r.Err, c.want)
		}
		if r.Outcome != targets.Confirmed && r.Outcome != targets.SoldOut && r.Err == nil {
			t.Errorf("%d %s: %v without a reason", c.status, c.body, r.Outcome)
		}
	}
	if r := classify(200, []byte(`{"outcome":"rejected","reason":"one per buyer"}`)); !strings.Contains(fmt.Sprint(r.Err), "one per buyer") {
		t.Errorf("rejected's reason lost: %v", r.Err)
	}
}

func mustBase(t testing.TB, raw string) base {
	b, err := parseBase(raw)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// deadline is a context whose deadline is d from now.
func deadline(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// newTarget makes the design for url and sets it up.
func newTarget(t *testing.T, url string, s targets.Stock) *Target {
	t.Helper()
	tgt, err := New(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tgt.Close() })
	if err := tgt.Setup(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return tgt
}

// A buy allocates nothing: the request is formatted, sent and its answer
// read and classified in the client's own buffers.
func TestBuyAllocatesNothing(t *testing.T) {
	c := newClient(context.Background(), mustBase(t, constServer(t)))
	defer c.Close()
	ctx := deadline(t, time.Minute)
	id := targets.OrderID(0)
	buy := func() {
		id++
		if r := c.Buy(ctx, targets.Order{ID: id, Product: 0, Quantity: 1, Attempt: 1}); r.Outcome != targets.Confirmed {
			t.Fatalf("order %d: %v (%v)", id, r.Outcome, r.Err)
		}
	}
	buy() // dial
	if n := testing.AllocsPerRun(200, buy); n != 0 {
		t.Errorf("%.1f allocations per buy, want 0", n)
	}
}

// BenchmarkBuy measures a buy's round trip to an in-process server that
// allocates nothing: the client's cost, and its allocations (0).
func BenchmarkBuy(b *testing.B) {
	c := newClient(context.Background(), mustBase(b, constServer(b)))
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	b.ReportAllocs()
	for i := range b.N {
		if r := c.Buy(ctx, targets.Order{ID: targets.OrderID(i + 1), Product: 0, Quantity: 1, Attempt: 1}); r.Outcome != targets.Confirmed {
			b.Fatal(r.Outcome, r.Err)
		}
	}
}

// What the wire can do to a buy: a connection the server closes after each
// answer is dialed again; a server that does not answer in time leaves
// the buy unknown, one that is gone makes it a definite error (not sent);
// a resubmission carries its order id in Idempotency-Key (the service
// checks it and rejects a mismatch as not applied).
func TestBuyOverTheWire(t *testing.T) {
	s := &service{}
	url := newService(t, s)
	tgt := newTarget(t, url, targets.Stock{Products: 1, Capacity: 10})
	c, _ := tgt.NewClient(context.Background(), 0)
	defer c.Close()
	buy := func(id targets.OrderID, d time.Duration) targets.Reply {
		return c.Buy(deadline(t, d), targets.Order{ID: id, Product: 0, Quantity: 1, Attempt: 1})
	}
	if r := buy(1, time.Second); r.Outcome != targets.Confirmed {
		t.Fatalf("buy: %v %v", r.Outcome, r.Err)
	}
	if r := buy(1, time.Second); r.Outcome != targets.Confirmed {
		t.Errorf("resubmission: %v", r.Outcome)
	}
	s.set(func() {
		if s.applied[1] != 1 {
			t.Errorf("resubmission applied %d times, want once", s.applied[1])
		}
		s.buyAnswer = func(w nethttp.ResponseWriter) bool {
			w.Header().Set("Connection", "close")
			return false
		}
	})
	for id := targets.OrderID(2); id < 5; id++ {
		if r := buy(id, time.Second); r.Outcome != targets.Confirmed {
			t.Errorf("order %d over a connection closed after each answer: %v %v", id, r.Outcome, r.Err)
		}
	}
	s.set(func() { s.buyAnswer, s.delay = nil, 300*time.Millisecond })
	if r := buy(5, 50*time.Millisecond); r.Outcome != targets.Unknown {
		t.Errorf("an answer after the deadline: %v %v, want unknown", r.Outcome, r.Err)
	}
	s.set(func() { s.delay = 0 })
	if r := buy(6, time.Second); r.Outcome != targets.Confirmed {
		t.Errorf("after a timeout: %v %v, want confirmed on a new connection", r.Outcome, r.Err)
	}
	s.set(func() {
		s.buyAnswer = func(w nethttp.ResponseWriter) bool {
			w.WriteHeader(500)
			fmt.Fprint(w, "internal error")
			return true
		}
	})
	if r := buy(7, time.Second); r.Outcome != targets.Unknown || !strings.Contains(r.Err.Error(), "status 500") {
		t.Errorf("a 500: %v %v, want unknown naming the status", r.Outcome, r.Err)
	}
	// A port nobody listens on: nothing was sent.
	gone, _ := New(refusedURL(t))
	g, _ := gone.NewClient(context.Background(), 0)
	defer g.Close()
	if r := g.Buy(deadline(t, time.Second), targets.Order{ID: 1, Product: 0, Quantity: 1, Attempt: 1}); r.Outcome != targets.Error {
		t.Errorf("connection refused: %v %v, want a definite error", r.Outcome, r.Err)
	}
}

// refusedURL is a loopback URL whose port nobody listens on.
func refusedURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String()
	l.Close()
	return u
}

// The run's end (Ctrl-C) ends a buy that waits for its answer, even one
// without a timeout.
func TestBuyInterrupted(t *testing.T) {
	s := &service{delay: 10 * time.Second}
	tgt := newTarget(t, newService(t, s), targets.Stock{Products: 1, Capacity: 10})
	run, stop := context.WithCancel(context.Background())
	c, _ := tgt.NewClient(run, 0)
	defer c.Close()
	time.AfterFunc(100*time.Millisecond, stop)
	start := time.Now()
	r := c.Buy(run, targets.Order{ID: 1, Product: 0, Quantity: 1, Attempt: 1})
	if r.Outcome != targets.Unknown || time.Since(start) > 5*time.Second {
		t.Errorf("%v %v after %s; want unknown at once", r.Outcome, r.Err, time.Since(start))
	}
}

// A service that is not there, or not a stampede/http/v1 service, is
// found before the run, in one line naming what is wrong.
func TestPreflight(t *testing.T) {
	for _, c := range []struct {
		name string
		url  string
		want string
	}{
		{"refused", refusedURL(t), "connection refused"},
		{"HTML", newService(t, &service{info: "<html><body>Welcome</body></html>"}), "not a JSON object"},
		{"another protocol", newService(t, &service{info: `{"protocol": "acme/2", "design": "x", "consistency": "y", "durability": "z"}`}), `speaks "acme/2"`},
		{"no design", newService(t, &service{info: `{"protocol": "stampede/http/v1"}`}), "lacks design"},
		{"404", newService(t, &service{info: ""}) + "/elsewhere", "404"},
	} {
		tgt, err := New(c.url)
		if err != nil {
			t.Fatal(err)
		}
		err = tgt.Preflight(context.Background())
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v; want one line with %q", c.name, err, c.want)
		}
		tgt.Close()
	}
}

// A service that hangs is given up on within the info bound.
func TestPreflightHang(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tgt, _ := New("http://" + l.Addr().String())
	defer tgt.Close()
	ctx := deadline(t, 200*time.Millisecond) // the bound, shortened
	start := time.Now()
	if err := tgt.Preflight(ctx); err == nil || !strings.Contains(err.Error(), "no answer within") || time.Since(start) > 5*time.Second {
		t.Errorf("%v after %s; want no answer within the bound", err, time.Since(start))
	}
}

// A service that cannot reset runs when its stock is the scenario's, and
// says why not otherwise.
func TestNoReset(t *testing.T) {
	url := newService(t, &service{noReset: true})
	tgt, _ := New(url)
	defer tgt.Close()
	if err := tgt.Setup(context.Background(), targets.Stock{Products: 2, Capacity: 10}); err != nil {
		t.Errorf("matching stock: %v", err)
	}
	if err := tgt.Setup(context.Background(), targets.Stock{Products: 19, Capacity: 100}); err == nil || !strings.Contains(err.Error(), "holds 2 products x 10 seats") {
		t.Errorf("other stock: %v", err)
	}
}

// The audit streams; a cut one, a miscounted one and one that never ends
// are errors, never taken for a whole record.
func TestAudit(t *testing.T) {
	s := &service{}
	tgt := newTarget(t, newService(t, s), targets.Stock{Products: 2, Capacity: 10})
	c, _ := tgt.NewClient(context.Background(), 0)
	defer c.Close()
	for id := targets.OrderID(1); id <= 3; id++ {
		c.Buy(deadline(t, time.Second), targets.Order{ID: id, Product: int(id % 2), Quantity: 2, Attempt: 1})
	}
	a, err := tgt.Audit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	recs, err := targets.CollectOrders(a.Orders)
	if err != nil || len(recs) != 3 || fmt.Sprint(a.Sold) != "[2 4]" {
		t.Errorf("audit: sold %v, %d orders, %v; want [2 4], 3", a.Sold, len(recs), err)
	}
	for _, c := range []struct {
		name, body string
		hang       bool
		want       string
	}{
		{"cut", "{\"sold\":[1,0]}\n{\"order\":1,\"applied\":1}\n", false, "without its end line"},
		{"miscounted", "{\"sold\":[1,0]}\n{\"order\":1,\"applied\":1}\n{\"end\":true,\"orders\":2}\n", false, "says 2 orders; 1 order lines came"},
		{"not an order", "{\"sold\":[1,0]}\n{\"order\":0,\"applied\":1}\n{\"end\":true,\"orders\":1}\n", false, "not an order line"},
		{"never ends", "{\"sold\":[1,0]}\n{\"order\":1,\"applied\":1}\n", true, "audit timeout"},
	} {
		s.set(func() {
			s.audit = func(w nethttp.ResponseWriter) bool {
				fmt.Fprint(w, c.body)
				if c.hang {
					w.(nethttp.Flusher).Flush()
					time.Sleep(2 * time.Second) // a service stuck in its audit
				}
				return true
			}
		})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond) // the audit timeout, shortened
		a, err := tgt.Audit(ctx)
		if err == nil {
			_, err = targets.CollectOrders(a.Orders)
		}
		cancel()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
	s.set(func() {
		s.audit = func(w nethttp.ResponseWriter) bool { fmt.Fprint(w, "{\"sold\":[1,2,3]}\n"); return true }
	})
	if _, err := tgt.Audit(context.Background()); err == nil || !strings.Contains(err.Error(), "3 products; the stock has 2") {
		t.Errorf("too many products: %v", err)
	}
}

// The probe passes a correct service, and names the broken part of one
// that sells a resubmission again or whose audit disagrees.
func TestProbe(t *testing.T) {
	names := func(cs []Check) (ok, failed []string) {
		for _, c := range cs {
			if c.OK {
				ok = append(ok, c.Name)
			} else {
				failed = append(failed, c.Name)
			}
		}
		return ok, failed
	}
	checks, err := Probe(context.Background(), newService(t, &service{}))
	ok, failed := names(checks)
	if err != nil || len(failed) > 0 || fmt.Sprint(ok) != "[info reset buy buy sold out last seat second product resubmission audit]" {
		t.Errorf("correct service: %v; held %v, failed %v", err, ok, failed)
	}
	for _, c := range []struct {
		name string
		s    *service
		want string
	}{
		{"resells", &service{resell: true}, "[second product resubmission audit]"},
		{"audit off by one", &service{audit: func(w nethttp.ResponseWriter) bool {
			fmt.Fprint(w, "{\"sold\":[3,2]}\n{\"order\":1,\"applied\":1}\n{\"order\":3,\"applied\":1}\n{\"order\":4,\"applied\":1}\n{\"order\":5,\"applied\":1}\n{\"end\":true,\"orders\":4}\n")
			return true
		}}, "[audit]"},
		{"audit forgets an order", &service{audit: func(w nethttp.ResponseWriter) bool {
			fmt.Fprint(w, "{\"sold\":[3,3]}\n{\"order\":1,\"applied\":1}\n{\"order\":3,\"applied\":1}\n{\"order\":4,\"applied\":1}\n{\"end\":true,\"orders\":3}\n")
			return true
		}}, "[audit]"},
		{"not a service", &service{info: "<html></html>"}, "[info]"},
	} {
		checks, err := Probe(context.Background(), newService(t, c.s))
		if _, failed := names(checks); err != nil || fmt.Sprint(failed) != c.want {
			t.Errorf("%s: %v; failed %v, want %s: %q", c.name, err, failed, c.want, checks)
		}
	}
}

// A service that offers the read capability is read after each confirmed
// buy: one whose read side lags shows violations and the lag; one without
// it has no read figures.
func TestReadCapability(t *testing.T) {
	sc := designtest.Scenario(t, "checkout-page")
	sc.Demand.Buyers, sc.Arrivals.Rate = 3000, 1500
	at := designtest.Run(t, "http", sc, "http.url="+newService(t, &service{read: true}))
	if rw := at.ReadYourWrites; rw == nil || rw.Reads == 0 || rw.Violations != 0 || rw.LagUS.Max != 0 {
		t.Errorf("read side at once: %+v; want reads, no violation, lag 0", rw)
	}
	late := designtest.Run(t, "http", sc, "http.url="+newService(t, &service{read: true, readLag: 20 * time.Millisecond}))
	if rw := late.ReadYourWrites; rw == nil || rw.Violations != rw.Reads || rw.Reads == 0 || rw.LagUS.P50 < 20_000 || rw.NeverVisible != 0 {
		t.Errorf("read side 20ms behind: %+v; want every read a violation, lag from 20ms", rw)
	}
	if none := designtest.Run(t, "http", sc, "http.url="+newService(t, &service{})); none.ReadYourWrites != nil {
		t.Errorf("no read capability: %+v, want no read figures", none.ReadYourWrites)
	}
}

// A service that offers the two-phase capability accepts each order and
// decides it later: stampede records the time to accepted beside the
// time to the final answer, asks for the outcome until it is decided, and
// audits as ever.
func TestTwoPhaseCapability(t *testing.T) {
	sc := crowd(t)
	sc.Demand.Buyers = 3000
	res := designtest.Run(t, "http", sc, "http.url="+newService(t, &service{twoPhase: true, decideAfter: 20 * time.Millisecond}))
	a, k := res.AcceptedUS, res.Checks
	if a == nil || a.Count == 0 || res.Histograms.Accepted == "" {
		t.Fatalf("accepted %+v: want the time to accepted recorded", a)
	}
	if a.P50 >= res.LatencyUS.P50 || res.LatencyUS.P50 < 20_000 {
		t.Errorf("accepted p50 %dus, final p50 %dus: want accepted at once and decided from 20ms", a.P50, res.LatencyUS.P50)
	}
	if k.Oversold != 0 || k.DuplicatedOrders != 0 || k.Lost != 0 || res.Orders.Confirmed == 0 {
		t.Errorf("checks %+v, %d confirmed: want correct sales", k, res.Orders.Confirmed)
	}
}

// The machine-readable schema parses and names every request this package
// makes, so the protocol's two descriptions cannot drift apart.
func TestSchemaNamesEveryRequest(t *testing.T) {
	b, err := os.ReadFile("../../docs/protocol.openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string         `yaml:"openapi"`
		Paths   map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("protocol.openapi.yaml: %v", err)
	}
	for _, p := range []string{PathInfo, PathReset, PathBuy, PathAudit, PathReadOrders + "{order}", PathTwoPhaseOrders + "{order}"} {
		if _, ok := doc.Paths[p]; !ok {
			t.Errorf("the schema lacks %s", p)
		}
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q, want 3.x", doc.OpenAPI)
	}
}
