package jetstream

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/designtest"
)

// setUp makes design name without application time and with the given
// -opt pairs, sets it up with stock s and returns it with one client. The
// test closes both when it ends.
func setUp(t *testing.T, name string, s targets.Stock, opts ...string) (*Target, *client) {
	t.Helper()
	tgt := designtest.New(t, name, append([]string{"jetstream.app_time=0s"}, opts...)...).(*Target)
	if err := tgt.Setup(t.Context(), s); err != nil {
		t.Fatalf("%s: setup: %v", name, err)
	}
	c, err := tgt.NewClient(t.Context(), 0)
	if err != nil {
		t.Fatalf("%s: client: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return tgt, c.(*client)
}

// buy places a one-ticket order of product p and fails the test unless it
// is confirmed.
func buy(t *testing.T, c *client, id targets.OrderID, p int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if r := c.Buy(ctx, targets.Order{ID: id, Product: p, Quantity: 1, Attempt: 1}); r.Outcome != targets.Confirmed {
		t.Fatalf("buy %v: %v (%v), want confirmed", id, r.Outcome, r.Err)
	}
}

// shows asks the client's read side about id and fails the test on an
// error.
func shows(t *testing.T, c *client, id targets.OrderID) bool {
	t.Helper()
	ok, err := c.Shows(t.Context(), id)
	if err != nil {
		t.Fatalf("shows %v: %v", id, err)
	}
	return ok
}

// visibleWithin polls the client's read side until it shows id, for at
// most bound, and returns how long that took; it fails the test if id
// never shows.
func visibleWithin(t *testing.T, c *client, id targets.OrderID, bound time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for !shows(t, c, id) {
		if time.Since(start) > bound {
			t.Fatalf("order %v confirmed but not shown after %v", id, bound)
		}
		time.Sleep(time.Millisecond) // the poll's pace, not a wait for the condition
	}
	return time.Since(start)
}

// Every JetStream design reads a buyer's orders from its consumer-built
// read model: a confirmed order shows within a bound, one never bought
// does not, and Info says where reads come from.
func TestReadModelShowsOwnWrites(t *testing.T) {
	for _, name := range []string{"jetstream", "jetstream-noexpect", "jetstream-nodedupe", "jetstream-kv", "jetstream-once"} {
		t.Run(name, func(t *testing.T) {
			tgt, c := setUp(t, name, targets.Stock{Products: 2, Capacity: 10})
			if rs := tgt.Info().Settings["read_side"]; !strings.Contains(rs, "ordered consumer of") || !strings.Contains(rs, tgt.stream) {
				t.Errorf("info: read_side %q, want the consumer and its stream", rs)
			}
			var lags []time.Duration
			for id := targets.OrderID(1); id <= 4; id++ {
				buy(t, c, id, int(id)%2)
				lags = append(lags, visibleWithin(t, c, id, 5*time.Second))
			}
			t.Logf("orders shown %v after their confirmation", lags)
			if shows(t, c, 99) {
				t.Error("an order never bought shows")
			}
		})
	}
}

// The projector's goroutine has returned once Close does, and once Audit
// does. After Audit the read model keeps what it folded and folds no
// more: a sale made then does not show, so reads come from the model,
// not from the stream.
func TestReadModelStops(t *testing.T) {
	for _, stop := range []string{"close", "audit"} {
		t.Run(stop, func(t *testing.T) {
			tgt, c := setUp(t, "jetstream", targets.Stock{Products: 1, Capacity: 10})
			buy(t, c, 1, 0)
			visibleWithin(t, c, 1, 5*time.Second) // the projector runs
			done := tgt.rm.done
			returned := make(chan error, 1)
			go func() {
				if stop == "close" {
					returned <- tgt.Close()
					return
				}
				a, err := tgt.Audit(t.Context())
				if err == nil && (len(a.Sold) != 1 || a.Sold[0] != 1) {
					t.Errorf("audit: sold %v, want [1]", a.Sold)
				}
				returned <- err
			}()
			select {
			case err := <-returned:
				if err != nil {
					t.Fatalf("%s: %v", stop, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s has not returned after 10s", stop)
			}
			select {
			case <-done:
			default:
				t.Fatalf("the projector still runs after %s returned", stop)
			}
			if stop == "audit" {
				buy(t, c, 2, 0)
				if !shows(t, c, 1) || shows(t, c, 2) {
					t.Errorf("after the audit: shows 1 %v, 2 %v; want the folded order only", shows(t, c, 1), shows(t, c, 2))
				}
			}
		})
	}
}

// A message the projector cannot read stops it: reads of orders it has
// not folded fail (an error, not a stale "no"), the orders it folded
// still show, and the audit fails naming the read model.
func TestReadModelFailure(t *testing.T) {
	tgt, c := setUp(t, "jetstream", targets.Stock{Products: 1, Capacity: 10})
	buy(t, c, 1, 0)
	visibleWithin(t, c, 1, 5*time.Second)
	if _, err := tgt.js.Publish(t.Context(), tgt.subject(0), []byte("not a sale")); err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); tgt.rm.failure() == nil; time.Sleep(time.Millisecond) { // the poll's pace
		if time.Since(start) > 5*time.Second {
			t.Fatal("the projector did not stop on an unreadable message")
		}
	}
	if ok, err := c.Shows(t.Context(), 2); ok || err == nil || !strings.Contains(err.Error(), "read model") {
		t.Errorf("shows an order not folded: %v, %v; want the read model's failure", ok, err)
	}
	if !shows(t, c, 1) {
		t.Error("an order folded before the failure no longer shows")
	}
	if _, err := tgt.Audit(t.Context()); err == nil || !strings.Contains(err.Error(), "read model") {
		t.Errorf("audit: %v, want the read model's failure", err)
	}
}

// jetstream on checkout-page, whose buyers read their orders right after
// a confirmed buy: the engine finds the read side, every stale order
// shows within read_wait, and the test logs the violations and the
// visibility lag (machine-dependent figures, not asserted).
func TestCheckoutPage(t *testing.T) {
	r := designtest.Run(t, "jetstream", designtest.Scenario(t, "checkout-page"))
	rw := r.ReadYourWrites
	if rw == nil {
		t.Fatal("no read-your-own-writes figures: the client is not a targets.Reader")
	}
	t.Logf("reads %d, violations %d (%.1f%%), read errors %d, never visible %d, not measured %d; lag p50 %dus p99 %dus max %dus",
		rw.Reads, rw.Violations, 100*rw.ViolationRate, rw.ReadErrors, rw.NeverVisible, rw.NotMeasured, rw.LagUS.P50, rw.LagUS.P99, rw.LagUS.Max)
	if rw.Reads == 0 || rw.NeverVisible != 0 || rw.ReadErrors != 0 {
		t.Errorf("reads %d, never visible %d, read errors %d; want reads, every order shown, no error", rw.Reads, rw.NeverVisible, rw.ReadErrors)
	}
	if k := r.Checks; k.Oversold != 0 || k.DuplicatedOrders != 0 || k.Lost != 0 {
		t.Errorf("oversold %d, duplicated %d, lost %d; want 0", k.Oversold, k.DuplicatedOrders, k.Lost)
	}
}
