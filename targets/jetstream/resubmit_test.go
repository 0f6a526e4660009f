package jetstream

import (
	"context"
	"testing"
	"time"

	"github.com/stampede-bench/stampede/targets"
)

// A resubmission is answered the way the stream decided its order, never
// "sold out" from the client's own view while its first click bought:
// a client whose view is stale, and one whose view says sold out, both
// hear "confirmed" for an order sold; an order refused is refused again;
// and the probes that asked store nothing. On one server and on an R3
// stream, whose servers check duplicates at different points.
func TestResubmissionAnsweredAsDecided(t *testing.T) {
	for _, setup := range []struct {
		name string
		opts []string
	}{
		{"single node", nil},
		{"3-node cluster", []string{"jetstream.replicas=3"}},
	} {
		t.Run(setup.name, func(t *testing.T) {
			tgt, c1 := setUp(t, "jetstream", targets.Stock{Products: 1, Capacity: 2}, setup.opts...)
			other, err := tgt.NewClient(t.Context(), 1)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			c2 := other.(*client) // its view: the stock as set up, stale once c1 sells
			buy(t, c1, 1, 0)
			buy(t, c1, 2, 0) // sold out now, and c1 knows it
			for _, step := range []struct {
				c    *client
				id   targets.OrderID
				want targets.Outcome
			}{
				{c2, 1, targets.Confirmed}, // a stale view: conflict, refresh, sold out, probe
				{c1, 2, targets.Confirmed}, // a view that says sold out: probe
				{c1, 3, targets.SoldOut},   // never sold
				{c2, 3, targets.SoldOut},   // and its resubmission
				{c2, 2, targets.Confirmed},
			} {
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				r := step.c.Buy(ctx, targets.Order{ID: step.id, Product: 0, Quantity: 1, Attempt: 1})
				cancel()
				if r.Outcome != step.want {
					t.Errorf("resubmitting %v: %v (%v), want %v", step.id, r.Outcome, r.Err, step.want)
				}
			}
			st, err := tgt.js.Stream(t.Context(), tgt.stream)
			if err != nil {
				t.Fatal(err)
			}
			if n := st.CachedInfo().State.Msgs; n != 3 {
				t.Errorf("the stream holds %d messages, want 3 (the stock and two sales): a probe was stored", n)
			}
			a, err := tgt.Audit(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			recs, err := targets.CollectOrders(a.Orders)
			if err != nil || len(recs) != 2 || a.Sold[0] != 2 {
				t.Errorf("audit: sold %v, orders %+v (%v); want 2 orders sold once each", a.Sold, recs, err)
			}
			for _, r := range recs {
				if r.Applied != 1 {
					t.Errorf("order %v applied %d times", r.ID, r.Applied)
				}
			}
		})
	}
}
