package scenario

import (
	"cmp"
	"math"
	"slices"
	"testing"
	"time"
)

// oldPlan is the schedule as it was built before it was streamed: every
// submission held in advance. Its code below is the old code, kept as the
// reference the stream must reproduce (only the receiver's name changed).
type oldPlan struct {
	Scenario *Scenario
	Orders   int
	at       []int64
	sub      []uint32
	click    []int64
	End      time.Duration
	plan     *Plan // for rand
}

func (p *oldPlan) rand(idx uint32, salt uint64) uint64 { return p.plan.rand(idx, salt) }

func newOldPlan(s *Scenario) *oldPlan {
	p := &oldPlan{Scenario: s, plan: &Plan{seed: s.Seed}}
	p.schedule()
	return p
}

// schedule fills at and sub, then lets the submissions through the
// waiting room, if any.
func (p *oldPlan) schedule() {
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
func (p *oldPlan) arrivals() {
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

// The submission i of the old plan, as a Stream yields it.
func (p *oldPlan) submission(i int) Submission {
	s := Submission{I: i, At: p.at[i], Click: p.at[i], Order: uint32(i)}
	if p.click != nil {
		s.Click = p.click[i]
	}
	if p.sub != nil {
		s.Order = p.sub[i] &^ (dcBit | lateBit)
		s.Again, s.Late = p.sub[i]&dcBit != 0, p.sub[i]&lateBit != 0
	}
	return s
}

// streamVariants are the built-in scenarios and variants of them that
// cover every part of the schedule: even and Poisson arrivals, constant,
// ramp and spike profiles, double-clicks, late retries, a waiting room,
// and the caps of stop.orders and demand.buyers.
func streamVariants(t testing.TB) map[string]*Scenario {
	out := map[string]*Scenario{}
	for _, s := range Builtins() {
		if !s.Closed() {
			out[s.Name] = s
		}
	}
	variant := func(base, name string, change func(s *Scenario)) {
		s := mustBuiltin(t, base)
		change(s)
		if err := s.Validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = s
	}
	ramp := func(s *Scenario) {
		s.Arrivals.Mode, s.Arrivals.From, s.Arrivals.Rate = Ramp, 200, 3000
		s.Arrivals.Ramp, s.Arrivals.Duration = Duration(2*time.Second), Duration(5*time.Second)
	}
	variant("flash-crowd", "spike even", func(s *Scenario) { s.Arrivals.Process = Even })
	variant("flash-crowd", "spike poisson fewer buyers", func(s *Scenario) { s.Demand.Buyers = 20000 }) // the first n arrivals
	variant("flash-crowd", "spike buyers above profile", func(s *Scenario) { s.Demand.Buyers = 40000 })
	variant("flash-crowd", "spike stop.orders", func(s *Scenario) { s.Stop.Orders = 12345 })
	variant("flash-crowd", "spike double-click 0 after", func(s *Scenario) { s.Client.DoubleClickAfter = 0 })
	variant("flash-crowd", "spike waiting room", func(s *Scenario) { s.WaitingRoom.Rate = 3000 })
	variant("flash-crowd", "spike all", func(s *Scenario) {
		s.Client.DoubleClick, s.Client.LateRetry = 0.3, LateRetry{Share: 0.2, After: Duration(3 * time.Second)}
		s.WaitingRoom.Rate, s.Stop.Orders = 4000, 30000
	})
	variant("steady", "ramp even", ramp)
	variant("steady", "ramp poisson double-click", func(s *Scenario) {
		ramp(s)
		s.Arrivals.Process, s.Client.DoubleClick, s.Client.DoubleClickAfter = Poisson, 0.1, Duration(time.Second)
	})
	variant("steady", "ramp poisson capped late retry", func(s *Scenario) {
		ramp(s)
		s.Arrivals.Process, s.Demand.Buyers = Poisson, 5000
		s.Client.LateRetry = LateRetry{Share: 0.5, After: Duration(500 * time.Millisecond)}
	})
	variant("steady", "constant even stop.orders room", func(s *Scenario) {
		s.Stop.Orders, s.WaitingRoom.Rate = 7000, 1500
	})
	variant("steady", "constant poisson", func(s *Scenario) { s.Arrivals.Process = Poisson })
	variant("steady", "constant even late retry stop.orders", func(s *Scenario) {
		s.Client.LateRetry, s.Stop.Orders = LateRetry{Share: 0.9, After: Duration(time.Second)}, 15000
	})
	variant("late-retry", "late retry double-click room", func(s *Scenario) {
		s.Client.DoubleClick, s.Client.DoubleClickAfter, s.WaitingRoom.Rate = 0.2, Duration(time.Second), 400
	})
	variant("late-retry", "late retry 1ns after", func(s *Scenario) { // ties between first clicks and retries
		s.Client.LateRetry.After = 1
	})
	return out
}

// Resubmissions due at the same nanosecond went in the order the old
// code's unstable sort left them; the stream puts them in order of their
// order index, double-clicks before late retries. Otherwise the schedule
// is the old one.
func TestStreamTies(t *testing.T) {
	sc := mustBuiltin(t, "late-retry")
	sc.Client.LateRetry.After = 1
	sc.Client.DoubleClick, sc.Client.DoubleClickAfter = 0.5, 2 // 0 to 2ns after the click: many ties
	old, p := newOldPlan(sc), NewPlan(sc)
	got := schedule(p)
	want := make([]Submission, len(old.at))
	for i := range want {
		want[i] = old.submission(i)
	}
	key := func(s Submission) int64 {
		k := int64(s.Order) << 2
		if s.Again {
			k |= 2
		}
		if s.Late {
			k |= 1
		}
		return k
	}
	ties := 0
	for i := 1; i < len(got); i++ {
		a, b := got[i-1], got[i]
		if a.At == b.At && a.Again && b.Again {
			ties++
			if key(a) > key(b) {
				t.Fatalf("submissions %d and %d, due at once: %+v before %+v", i-1, i, a, b)
			}
		}
	}
	byTime := func(a, b Submission) int { return cmp.Or(cmp.Compare(a.At, b.At), cmp.Compare(key(a), key(b))) }
	for i := range want {
		want[i].I = 0
		got[i].I = 0
	}
	slices.SortFunc(want, byTime)
	slices.SortFunc(got, byTime)
	if ties == 0 || !slices.Equal(got, want) || p.Orders != old.Orders || p.End != old.End {
		t.Errorf("%d ties; the same submissions as the old plan: %v", ties, slices.Equal(got, want))
	}
}

// The streamed schedule is the one the old code held in advance,
// submission by submission, with the same counts and end.
func TestStreamMatchesOldPlan(t *testing.T) {
	for name, sc := range streamVariants(t) {
		t.Run(name, func(t *testing.T) {
			old, p := newOldPlan(sc), NewPlan(sc)
			if p.Submissions() != len(old.at) || p.Orders != old.Orders || p.End != old.End || p.Room() != (old.click != nil) {
				t.Fatalf("submissions %d, orders %d, end %s, room %v; the old plan: %d, %d, %s, %v",
					p.Submissions(), p.Orders, p.End, p.Room(), len(old.at), old.Orders, old.End, old.click != nil)
			}
			st := p.Stream()
			for i := range len(old.at) {
				got, ok := st.Next()
				if want := old.submission(i); !ok || got != want {
					t.Fatalf("submission %d: %+v (%v), want %+v", i, got, ok, want)
				}
			}
			if extra, ok := st.Next(); ok {
				t.Fatalf("the stream goes on past the old plan's end: %+v", extra)
			}
			// The waiting room's queue, where the old plan searched it.
			q := p.RoomQueue()
			for tt := int64(0); tt <= int64(p.End)+int64(time.Second); tt += int64(7 * time.Millisecond) {
				if got, want := q.At(tt), old.waiting(tt); got != want {
					t.Fatalf("waiting at %dns: %d, want %d", tt, got, want)
				}
			}
		})
	}
}

// waiting is the old Plan.Waiting.
func (p *oldPlan) waiting(t int64) int {
	if p.click == nil {
		return 0
	}
	clicked, _ := slices.BinarySearch(p.click, t+1)
	admitted, _ := slices.BinarySearch(p.at, t+1)
	return clicked - admitted
}

// The shares of a plan yield every submission of the whole once, with its
// index, time and order, and count their own.
func TestPlanShares(t *testing.T) {
	for _, name := range []string{"flash-crowd", "late-retry", "steady"} {
		p := NewPlan(mustBuiltin(t, name))
		var whole []Submission
		for st := p.Stream(); ; {
			s, ok := st.Next()
			if !ok {
				break
			}
			whole = append(whole, s)
		}
		for _, n := range []int{1, 3, 32} {
			seen := make([]int, len(whole))
			total := 0
			for k := range n {
				sh := p.Share(k, n)
				count := 0
				for st := sh.Stream(); ; count++ {
					s, ok := st.Next()
					if !ok {
						break
					}
					if s.I%n != k || s != whole[s.I] {
						t.Fatalf("%s share %d of %d: %+v, want index ≡ %d and %+v", name, k, n, s, k, whole[s.I])
					}
					seen[s.I]++
				}
				if count != sh.Submissions() || sh.Orders != p.Orders || sh.End != p.End {
					t.Fatalf("%s share %d of %d: yields %d, counts %d; orders %d, end %s", name, k, n, count, sh.Submissions(), sh.Orders, sh.End)
				}
				total += count
			}
			if total != len(whole) || slices.ContainsFunc(seen, func(c int) bool { return c != 1 }) {
				t.Fatalf("%s in %d shares: %d submissions, want each of %d once", name, n, total, len(whole))
			}
		}
	}
}

// A share beyond the schedule's end is empty.
func TestPlanShareEmpty(t *testing.T) {
	p := NewPlan(testSmall(t))
	sh := p.Share(p.Submissions()+1, p.Submissions()+2)
	if _, ok := sh.Stream().Next(); ok || sh.Submissions() != 0 {
		t.Errorf("share past the end: %d submissions", sh.Submissions())
	}
}

func testSmall(t testing.TB) *Scenario {
	s := mustBuiltin(t, "steady")
	s.Arrivals.Duration = Duration(10 * time.Millisecond)
	return s
}

// NewPlan's count and a stream's pass over the schedule of a soak: 60
// million submissions at 100,000/s (go test -bench Soak -benchtime 1x).
func BenchmarkSoakPlan(b *testing.B) {
	for _, c := range []struct {
		name    string
		process Process
		click   float64
	}{{"even", Even, 0}, {"poisson", Poisson, 0}, {"even double-click", Even, 0.05}} {
		sc := mustBuiltin(b, "steady")
		sc.Arrivals.Rate, sc.Arrivals.Duration, sc.Arrivals.Process = 100000, Duration(10*time.Minute), c.process
		sc.Client.DoubleClick, sc.Client.DoubleClickAfter = c.click, Duration(300*time.Millisecond)
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				start := time.Now()
				p := NewPlan(sc)
				counted := time.Since(start)
				start = time.Now()
				n := 0
				for st := p.Stream(); ; n++ {
					if _, ok := st.Next(); !ok {
						break
					}
				}
				if n != p.Submissions() {
					b.Fatalf("streamed %d, counted %d", n, p.Submissions())
				}
				b.ReportMetric(counted.Seconds(), "count-s")
				b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(n), "stream-ns/submission")
				b.ReportMetric(float64(n), "submissions")
			}
		})
	}
}
