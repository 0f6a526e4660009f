package scenario

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// segment is a stretch of the arrival profile whose rate moves linearly
// from r0 to r1 (orders/s) over dur seconds.
type segment struct{ dur, r0, r1 float64 }

// profile is an open-loop arrival rate over time, piecewise linear.
type profile []segment

func (s *Scenario) profile() profile {
	a := s.Arrivals
	sec := func(d Duration) float64 { return d.D().Seconds() }
	switch a.Mode {
	case Constant:
		return profile{{sec(a.Duration), a.Rate, a.Rate}}
	case Ramp:
		return profile{{sec(a.Ramp), a.From, a.Rate}, {sec(a.Duration - a.Ramp), a.Rate, a.Rate}}
	case Spike:
		return profile{{sec(a.Ramp), 0, a.Rate}, {sec(a.Hold), a.Rate, a.Rate}, {sec(a.Decay), a.Rate, 0}}
	}
	return nil
}

// total returns the expected number of arrivals over the whole profile.
func (p profile) total() float64 {
	var n float64
	for _, s := range p {
		n += (s.r0 + s.r1) / 2 * s.dur
	}
	return n
}

func (p profile) length() time.Duration {
	var t float64
	for _, s := range p {
		t += s.dur
	}
	return time.Duration(t * 1e9)
}

// at returns the time (seconds) by which a arrivals are expected: the
// inverse of the cumulative rate.
func (p profile) at(a float64) float64 {
	var t float64
	for _, s := range p {
		n := (s.r0 + s.r1) / 2 * s.dur
		if a > n || n == 0 {
			a -= n
			t += s.dur
			continue
		}
		// Solve r0*x + k*x^2 = a for x in [0, dur], k = (r1-r0)/(2*dur),
		// in the form that stays exact when k is 0.
		k := (s.r1 - s.r0) / (2 * s.dur)
		disc := s.r0*s.r0 + 4*k*a
		if disc < 0 {
			disc = 0
		}
		den := s.r0 + math.Sqrt(disc)
		if den == 0 {
			return t
		}
		return t + min(2*a/den, s.dur)
	}
	return t
}

// Plan is a scenario made concrete: every order's product and quantity,
// and the open-loop schedule (when each submission is due, and of which
// order), all fixed by the seed, so all targets of a run face the same
// buyers. The schedule is not held in memory: a Stream generates it in
// time order as it is sent, the same for the same seed, and NewPlan only
// counts it. A Plan is read-only once built and safe for concurrent use;
// each Stream belongs to one goroutine.
type Plan struct {
	Scenario *Scenario
	// Orders is the number of distinct orders (ids 1..Orders) of the
	// whole schedule, in a share too.
	Orders int
	// End is when the last submission of the whole schedule is due (open
	// loop) or when users stop (closed loop).
	End time.Duration

	subs   int     // open-loop submissions of this plan (of its share)
	all    int     // open-loop submissions of the whole schedule
	base   int     // first submissions (one per order), after stop.orders
	exact  bool    // Poisson with exactly as many arrivals as the profile expects
	gapSum float64 // then the sum of their n+1 gaps, which spreads them
	// share of shares: this plan's submissions are those of the whole
	// schedule whose index i has i%shares == share (0 of 1: all).
	share, shares int

	seed        uint64
	cdf         []float64 // popularity; nil for uniform
	products    int
	qmin, qspan int64
}

const (
	dcBit   = 1 << 31 // a resubmission: a double-click, or a late retry
	lateBit = 1 << 30 // a late retry
)

// Salts keep the pseudo-random streams of one order apart.
const (
	saltProduct = 0x9e3779b97f4a7c15
	saltQty     = 0xbf58476d1ce4e5b9
	saltClick   = 0x94d049bb133111eb
	saltDelay   = 0xd6e8feb86659fd93
	saltGap     = 0xa0761d6478bd642f
	saltLate    = 0xe7037ed1a0b428db
)

// mix is splitmix64's finalizer: a fast, well-spread hash of x.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func (p *Plan) rand(idx uint32, salt uint64) uint64 {
	return mix(p.seed*0x2545f4914f6cdd1d + uint64(idx)*0x9e3779b97f4a7c15 + salt)
}

// unit maps a hash to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// gap is the i-th exponential gap of a Poisson process of rate 1.
func (p *Plan) gap(i int) float64 { return -math.Log1p(-unit(p.rand(uint32(i), saltGap))) }

// ns converts seconds to whole nanoseconds.
func ns(sec float64) int64 { return int64(math.Round(sec * 1e9)) }

// NewPlan builds the plan of a validated scenario. In open loop it counts
// the schedule without keeping it: the submissions, the orders and when
// the last is due. That takes one pass over the gaps of a Poisson process,
// and one over the whole schedule when buyers click twice, retry late or
// wait in a waiting room.
func NewPlan(s *Scenario) *Plan {
	p := &Plan{
		Scenario: s, seed: s.Seed, products: s.Stock.Products, shares: 1,
		qmin: s.Demand.Quantity.Min, qspan: s.Demand.Quantity.Max - s.Demand.Quantity.Min + 1,
	}
	switch s.Demand.Popularity {
	case Zipf:
		p.cdf = make([]float64, p.products)
		var sum float64
		for k := range p.cdf {
			sum += 1 / math.Pow(float64(k+1), s.Demand.ZipfS)
			p.cdf[k] = sum
		}
		for k := range p.cdf {
			p.cdf[k] /= sum
		}
	case Hot:
		p.cdf = make([]float64, p.products)
		rest := (1 - s.Demand.HotShare) / float64(max(p.products-1, 1))
		for k := range p.cdf {
			if k == 0 {
				p.cdf[k] = s.Demand.HotShare
			} else {
				p.cdf[k] = p.cdf[k-1] + rest
			}
		}
		p.cdf[p.products-1] = 1
	}
	if s.Closed() {
		p.Orders = s.Demand.Buyers
		if s.Stop.Orders > 0 {
			p.Orders = min(p.Orders, s.Stop.Orders)
		}
		p.End = s.Arrivals.Duration.D()
		return p
	}
	p.count()
	return p
}

// count sizes the open-loop schedule: the first submissions of the orders
// (base), then, unless every submission is an order's only one and sent
// at its click, the whole schedule, counted as a Stream yields it.
func (p *Plan) count() {
	s := p.Scenario
	prof := s.profile()
	total := prof.total()
	n0 := int(math.Floor(total + 0.5))
	n := n0
	if s.Demand.Buyers > 0 && s.Demand.Buyers < n {
		n = s.Demand.Buyers
	}
	stop := n
	if s.Stop.Orders > 0 {
		stop = min(n, s.Stop.Orders)
	}
	var last float64 // when the last first submission is due, s
	switch {
	case s.Arrivals.Process == Even:
		p.base = stop
		last = prof.at(float64(stop - 1))
	case n == n0:
		// Exactly n arrivals of a Poisson process over the whole profile:
		// given their number, the arrival times are spread as the rate
		// is, which normalised exponential gaps give.
		p.exact = true
		var c, lastC float64
		for i := range n + 1 {
			c += p.gap(i)
			if i == stop-1 {
				lastC = c
			}
		}
		p.gapSum, p.base = c, stop
		last = prof.at(total * lastC / c)
	default:
		// The first n arrivals of a Poisson process with the profile's
		// rate: as many as come before the profile ends.
		var c float64
		for i := range stop {
			if c += p.gap(i); c > total {
				break
			}
			p.base, last = i+1, prof.at(c)
		}
	}
	cl := s.Client
	if cl.DoubleClick == 0 && cl.LateRetry.Share == 0 && s.WaitingRoom.Rate <= 0 {
		p.all, p.subs, p.Orders = p.base, p.base, p.base
		if p.base > 0 {
			p.End = time.Duration(ns(last))
		}
		return
	}
	p.all = math.MaxInt
	if s.Stop.Orders > 0 {
		p.all = s.Stop.Orders
	}
	st := p.Stream()
	var count int
	for {
		sub, ok := st.Next()
		if !ok {
			break
		}
		if count++; !sub.Again {
			p.Orders++
		}
		p.End = time.Duration(sub.At)
	}
	p.all, p.subs = count, count
}

// Share returns the share k of n of the open-loop schedule (0 <= k < n):
// the submissions whose index i in the whole schedule has i%n == k, so
// that n senders (agents) given shares 0..n-1 send each submission once.
// A share's Submissions counts its own and its Stream yields only them,
// with their indexes, times and orders in the whole schedule; its Orders
// and End are the whole schedule's. p must be a whole plan, not a share.
func (p *Plan) Share(k, n int) *Plan {
	if p.shares != 1 || n < 1 || k < 0 || k >= n {
		panic(fmt.Sprintf("scenario: share %d of %d of a plan already shared %d ways", k, n, p.shares))
	}
	q := *p
	q.share, q.shares = k, n
	q.subs = 0
	if k < p.all {
		q.subs = (p.all-k-1)/n + 1
	}
	return &q
}

// whole returns the plan of the whole schedule p is a share of.
func (p *Plan) whole() *Plan {
	if p.shares == 1 {
		return p
	}
	q := *p
	q.share, q.shares, q.subs = 0, 1, p.all
	return &q
}

// Submission is one open-loop submission of a plan's schedule.
type Submission struct {
	// I is its index in the whole schedule, from 0, in time order.
	I int
	// At is when it is due to be sent, in ns from the start: the click,
	// or behind a waiting room the buyer's admission.
	At int64
	// Click is when the buyer clicked, in ns from the start: At, unless
	// a waiting room held the buyer.
	Click int64
	// Order is the order's index (its id less 1).
	Order uint32
	// Again marks a resubmission of an order submitted before (a
	// double-click or a late retry); Late, a late retry.
	Again, Late bool
}

// pending is a resubmission generated, not yet due in the schedule: when
// it is due, and its order index with dcBit and lateBit.
type pending struct {
	at  int64
	sub uint32
}

func (a pending) before(b pending) bool { return a.at < b.at || a.at == b.at && a.sub < b.sub }

// A Stream generates a plan's open-loop schedule in time order, one
// submission at a time, holding only the resubmissions generated and not
// yet due (about rate x double_click_after x double_click, plus rate x
// late_retry.after x late_retry.share). Two streams of one plan yield the
// same submissions. A Stream is not safe for concurrent use; Next
// allocates nothing once the pending resubmissions stop growing.
type Stream struct {
	p     *Plan
	prof  profile
	total float64
	i     int     // the next first submission
	c     float64 // Poisson: the sum of the gaps so far
	at    int64   // when first submission i is due, once peeked
	ready bool    // first submission i is peeked (at, and its resubmissions pending)
	pend  []pending
	n     int // submissions of the whole schedule yielded

	click, clickAfter float64 // double-clicks: share, longest delay (ns)
	late              float64 // late retries: share
	lateAfter         int64
	room              bool
	roomGap, roomNext float64 // ns between admissions; the next admission free
}

// Stream returns a stream of p's open-loop schedule from its start.
func (p *Plan) Stream() *Stream {
	s := p.Scenario
	st := &Stream{p: p, prof: s.profile(),
		click: s.Client.DoubleClick, clickAfter: float64(s.Client.DoubleClickAfter.D()),
		late: s.Client.LateRetry.Share, lateAfter: int64(s.Client.LateRetry.After),
		room: s.WaitingRoom.Rate > 0}
	st.total = st.prof.total()
	if st.room {
		st.roomGap = 1e9 / s.WaitingRoom.Rate
	}
	return st
}

// Next returns the next submission of the stream's plan (of its share),
// or false when there are no more.
func (st *Stream) Next() (Submission, bool) {
	for {
		sub, ok := st.next()
		if !ok || st.p.shares == 1 || sub.I%st.p.shares == st.p.share {
			return sub, ok
		}
	}
}

// next returns the next submission of the whole schedule. A first
// submission goes before a resubmission due at the same time, and
// resubmissions due at the same time go in order of their order index,
// double-clicks before late retries.
func (st *Stream) next() (Submission, bool) {
	p := st.p
	if st.n >= p.all {
		return Submission{}, false
	}
	if !st.ready && st.i < p.base {
		st.at, st.ready = st.arrival(st.i), true
		st.resubmissions(st.i, st.at)
	}
	var sub Submission
	switch {
	case st.ready && (len(st.pend) == 0 || st.at <= st.pend[0].at):
		sub = Submission{At: st.at, Order: uint32(st.i)}
		st.i, st.ready = st.i+1, false
	case len(st.pend) > 0:
		top := st.pop()
		sub = Submission{At: top.at, Order: top.sub &^ (dcBit | lateBit), Again: true, Late: top.sub&lateBit != 0}
	default:
		return Submission{}, false
	}
	sub.I, sub.Click = st.n, sub.At
	st.n++
	if st.room {
		// The room lets buyers in in the order they clicked, one each
		// roomGap at most.
		if sub.I == 0 {
			st.roomNext = float64(sub.Click)
		}
		admit := max(float64(sub.Click), st.roomNext)
		sub.At, st.roomNext = int64(admit), admit+st.roomGap
	}
	return sub, true
}

// arrival returns when first submission i is due, ns from the start; it
// is called for i = 0, 1, 2, ... in turn.
func (st *Stream) arrival(i int) int64 {
	p := st.p
	var sec float64
	switch {
	case p.Scenario.Arrivals.Process == Even:
		sec = st.prof.at(float64(i))
	case p.exact:
		st.c += p.gap(i)
		sec = st.prof.at(st.total * st.c / p.gapSum)
	default:
		st.c += p.gap(i)
		sec = st.prof.at(st.c)
	}
	return ns(sec)
}

// resubmissions puts the double-click and the late retry of order i, if
// its buyer makes them, among the pending.
func (st *Stream) resubmissions(i int, at int64) {
	p := st.p
	if st.click > 0 && unit(p.rand(uint32(i), saltClick)) < st.click {
		// The same order again, a little later.
		delay := int64((1 - unit(p.rand(uint32(i), saltDelay))) * st.clickAfter)
		st.push(pending{at + delay, uint32(i) | dcBit})
	}
	if st.late > 0 && unit(p.rand(uint32(i), saltLate)) < st.late {
		// The same order again, long after its answer (a partner who
		// calls again a day later).
		st.push(pending{at + st.lateAfter, uint32(i) | dcBit | lateBit})
	}
}

// push and pop keep pend a binary min-heap.
func (st *Stream) push(x pending) {
	h := append(st.pend, x)
	for j := len(h) - 1; j > 0; {
		parent := (j - 1) / 2
		if !h[j].before(h[parent]) {
			break
		}
		h[j], h[parent] = h[parent], h[j]
		j = parent
	}
	st.pend = h
}

func (st *Stream) pop() pending {
	h := st.pend
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for j := 0; ; {
		l, small := 2*j+1, j
		if l < len(h) && h[l].before(h[small]) {
			small = l
		}
		if r := l + 1; r < len(h) && h[r].before(h[small]) {
			small = r
		}
		if small == j {
			break
		}
		h[j], h[small] = h[small], h[j]
		j = small
	}
	st.pend = h
	return top
}

// Buyer returns the buyer of order index idx, from 1 (see
// Demand.OrdersPerBuyer).
func (p *Plan) Buyer(idx uint32) uint64 {
	if n := p.Scenario.Demand.OrdersPerBuyer; n > 1 {
		return uint64(idx)/uint64(n) + 1
	}
	return uint64(idx) + 1
}

// Room reports whether a waiting room holds the buyers of the open-loop
// schedule.
func (p *Plan) Room() bool {
	return p.Scenario.WaitingRoom.Rate > 0 && !p.Scenario.Closed() && p.all > 0
}

// RoomQueue counts the buyers in a plan's waiting room as time goes on.
// It walks the whole schedule twice (clicks, admissions) as its times
// move on, holding nothing else; it is not safe for concurrent use.
type RoomQueue struct {
	clicks, admits   *Stream
	click, admit     Submission
	moreC, moreA     bool
	clicked, entered int
	last             int64
}

// RoomQueue returns a counter of the buyers in p's waiting room, of the
// whole schedule (in a share too).
func (p *Plan) RoomQueue() *RoomQueue {
	w := p.whole()
	q := &RoomQueue{clicks: w.Stream(), admits: w.Stream(), last: math.MinInt64}
	q.click, q.moreC = q.clicks.Next()
	q.admit, q.moreA = q.admits.Next()
	return q
}

// At returns how many buyers are in the waiting room at t (ns from the
// start): clicked, not yet admitted; 0 without a room. t must not be
// before the t of the call before.
func (q *RoomQueue) At(t int64) int {
	if t < q.last {
		panic("scenario: RoomQueue.At went back in time")
	}
	q.last = t
	if !q.clicks.p.Room() {
		return 0
	}
	for q.moreC && q.click.Click <= t {
		q.clicked++
		q.click, q.moreC = q.clicks.Next()
	}
	for q.moreA && q.admit.At <= t {
		q.entered++
		q.admit, q.moreA = q.admits.Next()
	}
	return q.clicked - q.entered
}

// DoubleClicks reports whether order idx is a double-clicker's: in closed
// loop its user submits it twice.
func (p *Plan) DoubleClicks(idx uint32) bool {
	click := p.Scenario.Client.DoubleClick
	return click > 0 && unit(p.rand(idx, saltClick)) < click
}

// Submissions returns the number of open-loop submissions scheduled
// (orders plus double-clicks and late retries; of its share only in a
// share); 0 in closed loop.
func (p *Plan) Submissions() int { return p.subs }

// Order returns the product and quantity of order index idx. It does not
// allocate.
func (p *Plan) Order(idx uint32) (product int, qty int64) {
	h := p.rand(idx, saltProduct)
	if p.cdf == nil {
		product = int(h % uint64(p.products))
	} else {
		product = sort.SearchFloat64s(p.cdf, unit(h))
		if product >= p.products {
			product = p.products - 1
		}
	}
	qty = p.qmin + int64(p.rand(idx, saltQty)%uint64(p.qspan))
	return product, qty
}
