package scenario

import (
	"cmp"
	"math"
	"slices"
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

// Plan is a scenario made concrete: every open-loop submission scheduled in
// advance, and every order's product and quantity fixed by the seed, so all
// targets of a run face the same buyers. A Plan is read-only once built and
// safe for concurrent use.
type Plan struct {
	Scenario *Scenario
	// Orders is the number of distinct orders (ids 1..Orders).
	Orders int
	// at and sub hold the open-loop submissions in time order: the
	// intended send time (ns from the start) and the order index, with
	// dcBit set on a double-click's resubmission. sub is nil when there
	// are no double-clicks: submission i is then order i.
	at  []int64
	sub []uint32
	// click holds each submission's click when a waiting room delays its
	// send (at is then its admission); nil without one.
	click []int64
	// End is when the last submission is due (open loop) or when users
	// stop (closed loop).
	End time.Duration

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

// NewPlan builds the plan of a validated scenario.
func NewPlan(s *Scenario) *Plan {
	p := &Plan{
		Scenario: s, seed: s.Seed, products: s.Stock.Products,
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
	p.schedule()
	return p
}

// schedule fills at and sub, then lets the submissions through the
// waiting room, if any.
func (p *Plan) schedule() {
	p.arrivals()
	if r := p.Scenario.WaitingRoom.Rate; r > 0 && len(p.at) > 0 {
		p.click = p.at
		p.at = make([]int64, len(p.click))
		gap := 1e9 / r
		next := float64(p.click[0])
		for i, c := range p.click {
			admit := max(float64(c), next)
			p.at[i], next = int64(admit), admit+gap
		}
		p.End = time.Duration(p.at[len(p.at)-1])
	}
}

// arrivals fills at and sub.
func (p *Plan) arrivals() {
	s := p.Scenario
	prof := s.profile()
	total := prof.total()
	n := int(math.Floor(total + 0.5))
	if s.Demand.Buyers > 0 && s.Demand.Buyers < n {
		n = s.Demand.Buyers
	}
	at := make([]int64, 0, n)
	ns := func(sec float64) int64 { return int64(math.Round(sec * 1e9)) }
	switch {
	case s.Arrivals.Process == Even:
		for i := range n {
			at = append(at, ns(prof.at(float64(i))))
		}
	case n == int(math.Floor(total+0.5)):
		// Exactly n arrivals of a Poisson process over the whole profile:
		// given their number, the arrival times are spread as the rate is,
		// which normalised exponential gaps give.
		var sum float64
		for i := range n + 1 {
			sum += -math.Log1p(-unit(p.rand(uint32(i), saltGap)))
		}
		var c float64
		for i := range n {
			c += -math.Log1p(-unit(p.rand(uint32(i), saltGap)))
			at = append(at, ns(prof.at(total*c/sum)))
		}
	default:
		// The first n arrivals of a Poisson process with the profile's rate.
		var c float64
		for i := range n {
			c += -math.Log1p(-unit(p.rand(uint32(i), saltGap)))
			if c > total {
				break
			}
			at = append(at, ns(prof.at(c)))
		}
	}
	n = len(at)
	if s.Stop.Orders > 0 && s.Stop.Orders < n {
		n, at = s.Stop.Orders, at[:s.Stop.Orders]
	}
	// Double-clicks: the same order again, a little later.
	type click struct {
		at  int64
		sub uint32
	}
	var clicks []click
	if dc := s.Client.DoubleClick; dc > 0 {
		after := float64(s.Client.DoubleClickAfter.D())
		for i := range n {
			if unit(p.rand(uint32(i), saltClick)) < dc {
				delay := int64((1 - unit(p.rand(uint32(i), saltDelay))) * after)
				clicks = append(clicks, click{at[i] + delay, uint32(i) | dcBit})
			}
		}
	}
	// Late retries: the same order again, long after its answer (a
	// partner who calls again a day later).
	if lr := s.Client.LateRetry; lr.Share > 0 {
		for i := range n {
			if unit(p.rand(uint32(i), saltLate)) < lr.Share {
				clicks = append(clicks, click{at[i] + int64(lr.After), uint32(i) | dcBit | lateBit})
			}
		}
	}
	if len(clicks) > 0 {
		slices.SortFunc(clicks, func(a, b click) int { return cmp.Compare(a.at, b.at) })
	}
	if len(clicks) == 0 {
		p.at, p.Orders = at, n
		if n > 0 {
			p.End = time.Duration(at[n-1])
		}
		return
	}
	p.at = make([]int64, 0, n+len(clicks))
	p.sub = make([]uint32, 0, n+len(clicks))
	for i, j := 0, 0; i < n || j < len(clicks); {
		if j == len(clicks) || (i < n && at[i] <= clicks[j].at) {
			p.at, p.sub = append(p.at, at[i]), append(p.sub, uint32(i))
			i++
		} else {
			p.at, p.sub = append(p.at, clicks[j].at), append(p.sub, clicks[j].sub)
			j++
		}
	}
	if s.Stop.Orders > 0 && s.Stop.Orders < len(p.at) {
		p.at, p.sub = p.at[:s.Stop.Orders], p.sub[:s.Stop.Orders]
	}
	for _, x := range p.sub {
		if x&dcBit == 0 {
			p.Orders++
		}
	}
	if len(p.at) > 0 {
		p.End = time.Duration(p.at[len(p.at)-1])
	}
}

// Submission returns the order index of submission i and whether it is a
// double-click's resubmission.
func (p *Plan) Submission(i int) (idx uint32, again bool) {
	if p.sub == nil {
		return uint32(i), false
	}
	return p.sub[i] &^ (dcBit | lateBit), p.sub[i]&dcBit != 0
}

// Buyer returns the buyer of order index idx, from 1 (see
// Demand.OrdersPerBuyer).
func (p *Plan) Buyer(idx uint32) uint64 {
	if n := p.Scenario.Demand.OrdersPerBuyer; n > 1 {
		return uint64(idx)/uint64(n) + 1
	}
	return uint64(idx) + 1
}

// LateRetry reports whether submission i is a late retry.
func (p *Plan) LateRetry(i int) bool { return p.sub != nil && p.sub[i]&lateBit != 0 }

// At returns when open-loop submission i is due to be sent, in ns from
// the start: its click, or behind a waiting room its admission.
func (p *Plan) At(i int) int64 { return p.at[i] }

// Click returns when the buyer of open-loop submission i clicked, in ns
// from the start: At(i), unless a waiting room held the buyer.
func (p *Plan) Click(i int) int64 {
	if p.click == nil {
		return p.at[i]
	}
	return p.click[i]
}

// Room reports whether a waiting room holds the buyers.
func (p *Plan) Room() bool { return p.click != nil }

// Waiting returns how many buyers are in the waiting room at t (ns from
// the start): clicked, not yet admitted; 0 without a room.
func (p *Plan) Waiting(t int64) int {
	if p.click == nil {
		return 0
	}
	clicked, _ := slices.BinarySearch(p.click, t+1)
	admitted, _ := slices.BinarySearch(p.at, t+1)
	return clicked - admitted
}

// DoubleClicks reports whether order idx is a double-clicker's: in closed
// loop its user submits it twice.
func (p *Plan) DoubleClicks(idx uint32) bool {
	click := p.Scenario.Client.DoubleClick
	return click > 0 && unit(p.rand(idx, saltClick)) < click
}

// Submissions returns the number of open-loop submissions scheduled
// (orders plus double-clicks); 0 in closed loop.
func (p *Plan) Submissions() int { return len(p.at) }

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
