package bench

import (
	"fmt"

	"github.com/stampede-bench/stampede/bench/results"
	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
)

// check compares what clients were told (the run's per-order flags) with
// what the system of record holds (the audit), as DESIGN.md defines:
//
//   - oversold: the sum over products of max(0, sold - capacity);
//   - duplicated orders: orders applied more than once, and their share of
//     the distinct orders submitted;
//   - lost: confirmed to a client, absent from the audit;
//   - phantom: applied, though every reply for it was a definite no;
//   - apologies: orders cancelled by a compensation after they applied;
//   - contradicted: orders told both yes and no by different attempts;
//   - unresolved: orders that never got a definite answer, counted apart
//     and never guessed; the audit tells how many applied;
//   - limit exceeded: buyers holding more tickets than the scenario's
//     per-buyer limit, from the audit's applied orders (0 without one);
//   - refused-unknown: orders never confirmed, told no by one attempt and
//     left unknown by another; refused-applied, those of them applied
//     after all (the buyer was told no and holds the seats);
//   - undersold: per product, the smaller of the seats left unsold and
//     the seats of the orders refused while stock remained (told no:
//     sold out, rejected or a definite error;
//     never confirmed nor applied, their quantity within the seats left at
//     the end, and not over the buyer's limit), summed over products.
//
// It also fills o.Buyers, o.Submitted, o.NotSent, o.Bought and o.Seats: in open loop every
// order of the plan is a buyer, sent or not; in closed loop the orders the
// users placed. It runs after the workers have stopped, so it reads and
// writes the flags without atomics.
func check(stock targets.Stock, plan *scenario.Plan, r *run, a targets.Audit, o *results.Orders) (results.Checks, error) {
	orders := plan.Orders
	c := results.Checks{Capacity: stock.Total()}
	for p, sold := range a.Sold {
		c.Sold += sold
		if p < stock.Products && sold > stock.Capacity {
			c.Oversold += sold - stock.Capacity
		}
	}
	orderRecords := a.Orders
	if orderRecords == nil {
		orderRecords = targets.Records(nil)
	}
	// tickets per buyer, when the scenario limits them
	var tickets map[uint64]int64
	if stock.BuyerLimit > 0 {
		tickets = map[uint64]int64{}
	}
	for rec, err := range orderRecords {
		if err != nil {
			return c, fmt.Errorf("reading the audit's orders: %w", err)
		}
		if rec.ID < 1 || uint64(rec.ID) > uint64(orders) {
			c.Foreign++
			continue
		}
		idx := int(rec.ID - 1)
		if rec.Applied < 1 {
			continue
		}
		r.flags[idx/4] |= flagApplied << (8 * (idx % 4))
		if rec.Applied > 1 {
			c.DuplicatedOrders++
		}
		if rec.Cancelled > 0 {
			c.Apologies++
		}
		if tickets != nil {
			_, qty := plan.Order(uint32(idx))
			tickets[plan.Buyer(uint32(idx))] += qty * int64(rec.Applied-rec.Cancelled)
		}
	}
	for _, n := range tickets {
		if n > stock.BuyerLimit {
			c.LimitExceeded++
		}
	}
	// Seats left per product, and the seats of the orders refused while
	// they were left.
	left := make([]int64, stock.Products)
	refused := make([]int64, stock.Products)
	for p := range left {
		left[p] = stock.Capacity
		if p < len(a.Sold) {
			left[p] = max(stock.Capacity-a.Sold[p], 0)
		}
	}
	for idx := range orders {
		f := r.flag(idx)
		if f&(flagConfirmed|flagNo|flagUnknown) == 0 {
			// Never sent: in open loop a buyer all the same (the run ended
			// first, or its timeout ran out in the queue); in closed loop
			// an order the users never reached, unless it expired.
			if !plan.Scenario.Closed() || f&flagExpired != 0 {
				o.Buyers++
				o.NotSent++
			}
			if f&flagApplied != 0 {
				c.Phantom++ // applied, though it never reached the design
			}
			continue
		}
		o.Buyers++
		o.Submitted++
		applied := f&flagApplied != 0
		if f&flagConfirmed != 0 && f&flagNo != 0 {
			c.Contradicted++
		}
		if f&flagConfirmed != 0 {
			_, qty := plan.Order(uint32(idx))
			o.Bought++
			o.Seats += qty
		} else if f&flagNo != 0 && !applied {
			p, qty := plan.Order(uint32(idx))
			overLimit := tickets != nil && tickets[plan.Buyer(uint32(idx))]+qty > stock.BuyerLimit
			if p < len(left) && qty <= left[p] && !overLimit {
				refused[p] += qty
			}
		}
		switch {
		case f&flagConfirmed != 0:
			if !applied {
				c.Lost++
			}
		case f&flagUnknown == 0: // only definite noes
			if applied {
				c.Phantom++
			}
		case f&flagNo == 0: // only unknowns
			c.Unresolved++
			if applied {
				c.UnresolvedApplied++
			}
		default: // a definite no, and an unknown
			c.RefusedUnknown++
			if applied {
				c.RefusedApplied++
			}
		}
	}
	for p := range left {
		c.Undersold += min(left[p], refused[p])
	}
	if o.Submitted > 0 {
		c.DuplicateRate = float64(c.DuplicatedOrders) / float64(o.Submitted)
	}
	return c, nil
}
