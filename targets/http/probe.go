package http

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stampede-bench/stampede/targets"
)

// Check is one part of the protocol a probe tried, and whether it held.
type Check struct {
	Name   string
	OK     bool
	Detail string
}

func (c Check) String() string {
	mark := "ok  "
	if !c.OK {
		mark = "FAIL"
	}
	return fmt.Sprintf("%s %s: %s", mark, c.Name, c.Detail)
}

// probeTimeout bounds each buy of a probe.
const probeTimeout = 5 * time.Second

// Probe checks the service at raw against the protocol in a few requests,
// the way a run will use it: its info; a reset to 2 products x 3 seats; a
// buy; resubmissions, one while seats remain and one when too few do
// (each answered as the first time, applied once); a buy refused as sold
// out; the last seat; the rest of the other product; and an audit that
// agrees with every answer and ends as it should. It returns
// the checks in that order; a check that could not be tried after an
// earlier one failed is not listed. A service that cannot reset is probed
// on the stock it has, with order ids no run uses.
func Probe(ctx context.Context, raw string) ([]Check, error) {
	t, err := New(raw)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	var out []Check
	add := func(name string, ok bool, format string, args ...any) bool {
		out = append(out, Check{name, ok, fmt.Sprintf(format, args...)})
		return ok
	}
	info, err := t.Info1(ctx)
	if !add("info", err == nil, "%s", func() string {
		if err != nil {
			return err.Error()
		}
		return fmt.Sprintf("%s; consistency: %s; durability: %s", info.Design, info.Consistency, info.Durability)
	}()) {
		return out, nil
	}
	stock := targets.Stock{Products: 2, Capacity: 3}
	ids := targets.OrderID(1)
	if !info.CanReset() {
		stock = *info.Stock
		ids = targets.OrderID(1 << 62) // far from any run's
	}
	err = t.Setup(ctx, stock)
	if !add("reset", err == nil, "%s", func() string {
		switch {
		case err != nil:
			return err.Error()
		case !info.CanReset():
			return fmt.Sprintf("cannot reset; probing the stock it has, %d products x %d seats", stock.Products, stock.Capacity)
		}
		return "2 products x 3 seats"
	}()) {
		return out, nil
	}
	if stock.Capacity < 3 || stock.Products < 2 {
		add("stock", false, "the probe needs 2 products of 3 seats or more; the service has %d x %d", stock.Products, stock.Capacity)
		return out, nil
	}
	c, _ := t.NewClient(ctx, 0)
	defer c.Close()
	buy := func(id targets.OrderID, p int, q int64, attempt int) targets.Reply {
		bctx, cancel := context.WithTimeout(ctx, probeTimeout)
		defer cancel()
		return c.Buy(bctx, targets.Order{ID: id, Product: p, Quantity: q, Attempt: attempt})
	}
	said := func(r targets.Reply) string {
		if r.Err != nil {
			return fmt.Sprintf("%v (%v)", r.Outcome, r.Err)
		}
		return r.Outcome.String()
	}
	first := ids
	// A service that cannot reset keeps what the probe buys: it is not
	// sold out for the probe's sake.
	fill := info.CanReset() || stock.Capacity <= 20
	r := buy(first, 0, 2, 1)
	if !add("buy", r.Outcome == targets.Confirmed, "order %d, 2 seats of product 0: %s, want confirmed", first, said(r)) {
		return out, nil
	}
	// Fill product 0 up to 1 seat left, so that 2 more are sold out.
	filler := ids + 10
	for left := stock.Capacity - 2; fill && left > 1; left-- {
		if r := buy(filler, 0, 1, 1); r.Outcome != targets.Confirmed {
			add("buy", false, "order %d, 1 seat of product 0 (%d left): %s, want confirmed", filler, left, said(r))
			return out, nil
		}
		filler++
	}
	// Resubmissions: a double-click of a 1-seat order while seats remain
	// (selling it again would succeed), and a retry of the first order
	// when too few seats are left for it (answering sold out would be
	// easy). Both must get their first answer, and apply once.
	click := ids + 3
	r = buy(click, 1, 1, 1)
	if !add("buy", r.Outcome == targets.Confirmed, "order %d, 1 seat of product 1: %s, want confirmed", click, said(r)) {
		return out, nil
	}
	clicked := buy(click, 1, 1, 1)
	again := buy(first, 0, 2, 2)
	resubmission := Check{"resubmission", clicked.Outcome == targets.Confirmed && again.Outcome == targets.Confirmed,
		fmt.Sprintf("order %d clicked again with seats left: %s; order %d again (attempt 2) with too few left: %s; want confirmed, their first answer",
			click, said(clicked), first, said(again))}
	want := map[targets.OrderID]int32{first: 1, click: 1, ids + 4: 1}
	if fill {
		r = buy(ids+1, 0, 2, 1)
		add("sold out", r.Outcome == targets.SoldOut, "order %d, 2 seats of product 0 with 1 left: %s, want sold_out", ids+1, said(r))
		r = buy(ids+2, 0, 1, 1)
		add("last seat", r.Outcome == targets.Confirmed, "order %d, the last seat of product 0: %s, want confirmed", ids+2, said(r))
		want[ids+2] = 1
	} else {
		add("sold out", true, "not tried: the service cannot reset, and the probe does not buy its %d seats", stock.Capacity)
	}
	r = buy(ids+4, 1, stock.Capacity-1, 1)
	add("second product", r.Outcome == targets.Confirmed, "order %d, the other %d seats of product 1: %s, want confirmed", ids+4, stock.Capacity-1, said(r))

	// What the answers say the record holds.
	for id := ids + 10; id < filler; id++ {
		want[id] = 1
	}
	a, err := t.Audit(ctx)
	var recs []targets.OrderRecord
	if err == nil {
		recs, err = targets.CollectOrders(a.Orders)
	}
	if err != nil {
		out = append(out, resubmission)
		add("audit", false, "%v", err)
		return out, nil
	}
	got := map[targets.OrderID]int32{}
	for _, rec := range recs {
		got[rec.ID] += rec.Applied - rec.Cancelled
	}
	for _, id := range []targets.OrderID{click, first} {
		if n := got[id]; n > 1 {
			resubmission.OK = false
			resubmission.Detail += fmt.Sprintf("; the audit shows order %d applied %d times: the resubmission was sold again", id, n)
		}
	}
	out = append(out, resubmission)
	var wrong []string
	if info.CanReset() {
		if a.Sold[0] != stock.Capacity || a.Sold[1] != stock.Capacity {
			wrong = append(wrong, fmt.Sprintf("sold %v, want [%d %d]", a.Sold, stock.Capacity, stock.Capacity))
		}
		for id, n := range got {
			if _, ok := want[id]; !ok && n > 0 {
				wrong = append(wrong, fmt.Sprintf("order %d applied though no answer confirmed it", id))
			}
		}
	}
	for id, n := range want {
		if got[id] < n {
			wrong = append(wrong, fmt.Sprintf("order %d confirmed, missing", id))
		}
	}
	slices.Sort(wrong)
	if len(wrong) > 3 {
		wrong = append(wrong[:3], fmt.Sprintf("and %d more", len(wrong)-3))
	}
	add("audit", len(wrong) == 0, "%s", func() string {
		if len(wrong) > 0 {
			return "disagrees with the answers: " + strings.Join(wrong, "; ")
		}
		return fmt.Sprintf("sold %v, %d orders each applied once, the stream complete", a.Sold[:2], len(want))
	}())
	return out, nil
}
