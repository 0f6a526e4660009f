package bench

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stampede-bench/stampede/bench/evloop"
	"github.com/stampede-bench/stampede/bench/results"
	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
)

// Progress is a snapshot of a run under way, for a live progress line.
type Progress struct {
	Target      string
	Elapsed     time.Duration
	Attempts    int64   // so far
	AttemptsPS  float64 // during the last full second
	P99         time.Duration
	Sold        int64 // units confirmed to clients so far
	Capacity    int64
	Submissions int // planned (open loop) or the order bound (closed loop)
	// Repetition (from 1) of Repeat, set by RunSuite.
	Repetition, Repeat int
	// Totals over the complete seconds of the run (every second before
	// each worker's current one, up to Complete): attempts by outcome,
	// and the response times of the submissions that ended, counted in
	// ResponseBounds (Responses[i]: at most ResponseBounds[i]; the last,
	// every one), with their sum.
	Complete time.Duration
	// The generator so far: sends that left over 1ms after their time
	// (every sender was busy), the latest of them, and the attempts whose
	// buyer's timeout ran out before a sender took them (never sent).
	LateSends, Expired int64
	MaxLag             time.Duration
	Outcomes           [targets.NumOutcomes]int64
	Responses          [len(ResponseBounds) + 1]uint64
	ResponseUS         float64
}

// ResponseBounds are the upper bounds of Progress.Responses.
var ResponseBounds = [...]time.Duration{500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
	10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second}

// addSecond adds one complete second of the run (every worker's) to p's
// totals.
func (p *Progress) addSecond(sl *second) {
	for o, c := range sl.outcomes {
		p.Outcomes[o] += int64(c)
	}
	for i, c := range sl.hist {
		if c == 0 {
			continue
		}
		v := logValue(i)
		p.ResponseUS += float64(v) * float64(c)
		b := len(ResponseBounds)
		for j, bound := range ResponseBounds {
			if time.Duration(v)*time.Microsecond <= bound {
				b = j
				break
			}
		}
		p.Responses[b] += uint64(c)
	}
}

// Options tunes a run beyond its scenario.
type Options struct {
	// Progress, if set, is called about four times a second from the
	// monitor goroutine.
	Progress func(Progress)
	// AuditTimeout bounds reading the system of record after the run
	// (default 30s).
	AuditTimeout time.Duration
	// Goroutines runs every worker on a goroutine of its own even where
	// the design offers an event-loop client (targets.LoopTarget).
	Goroutines bool
	// Injector puts the scenario's faults into the backends (its
	// PrepareFaults already told of them); a scenario with faults cannot
	// run without one.
	Injector targets.Injector
	// Spread, if set, has agents in other processes send the buyers
	// (stampede run -agents K); Run then sets the design up, merges what
	// they measured and audits it.
	Spread Spreader
	// Start, if set, is called once the workers and their clients are
	// ready, and the load starts when it returns: an agent waits there for
	// the coordinator's go. Its error ends the run before any buyer.
	Start func(ctx context.Context) error
}

// Client modes, as results.json's info.settings.client names them.
const (
	ClientLoop       = "event loop"
	ClientGoroutines = "goroutines"
)

// per-order reply flags, one byte per order, updated with atomic ORs.
const (
	flagConfirmed = 1 << iota // some attempt was confirmed
	flagNo                    // some attempt got a definite no
	flagUnknown               // some attempt got no definite answer
	flagApplied               // set by the checker: the audit holds it
	flagExpired               // some attempt expired in the queue, unsent
)

// The final results of a submission beyond the design's outcomes, as
// indexes of a recorder's response histograms.
const (
	// finalExpired: the buyer's timeout ran out, on its last attempt,
	// before a free sender took it; the design never saw that attempt.
	finalExpired = targets.NumOutcomes + iota
	// finalQueued: the submission was due but still waited for a free
	// sender when the run ended; its response time counts to the end.
	finalQueued
	numFinals
)

var finalNames = [numFinals]string{finalExpired: "expired", finalQueued: "queued_at_end"}

func finalName(f int) string {
	if f < targets.NumOutcomes {
		return targets.Outcome(f).String()
	}
	return finalNames[f]
}

// run is the state shared by a run's workers: read-only but for atomics.
type run struct {
	plan    *scenario.Plan
	began   time.Time
	stop    atomic.Bool // no new submissions
	alarm   *alarm      // open loop on Linux: wakes senders precisely
	feed    *feed       // open loop: the schedule, as it is generated
	flags   []uint32    // per-order flags, four orders a word
	soldOut []atomic.Uint32
	nSold   atomic.Int64 // products seen sold out
	timeout time.Duration
	retries int
	backoff time.Duration
	think   time.Duration
	users   int
	// share is the part of the plan this process sends: all of it, or an
	// agent's share of a spread run (open loop: plan is that share).
	share Share

	// timeline is the run's per-second record, which the monitor folds
	// the workers' seconds into.
	timeline *timeline
}

// since returns the ns elapsed since the run began, on the monotonic clock.
func (r *run) since() int64 { return int64(time.Since(r.began)) }

// mark sets flag f of order idx and reports whether it was newly set.
func (r *run) mark(idx uint32, f uint32) bool {
	f <<= 8 * (idx % 4)
	return atomic.OrUint32(&r.flags[idx/4], f)&f == 0
}

func (r *run) flag(idx int) uint8 { return uint8(r.flags[idx/4] >> (8 * (idx % 4))) }

type worker struct {
	id     int
	r      *run
	runCtx context.Context
	// fresh: the design watches Done, so each attempt gets a new context
	// (see attemptCtx.asked).
	fresh  bool
	client targets.Client
	rec    *recorder
	ctx    *attemptCtx
	// loop is set when the worker runs as a task of an event loop.
	loop *evloop.Loop
	// unsent is the click of the open-loop submission this worker took
	// but never sent because the run ended first, or -1.
	unsent int64
	// published is as many submissions as the worker saw the feed publish.
	published uint64
	// reader is the client's read side, when the scenario's buyers read
	// after buying and the design has one; stale passes the orders it did
	// not show to the run's reader.
	reader targets.Reader
	stale  staleRing
	reads  readStats
}

// submit runs one submission of order idx: its attempts, retries included.
// intended is when the buyer clicked and now when a sender took the
// submission, in ns since the start. It allocates nothing.
//
// A buyer's timeout runs from when each attempt was due (the click; for a
// retry, the end of the attempt before it plus the backoff), not from when
// a sender got round to it, as a browser's would: an attempt whose timeout
// ran out while it waited for a free sender is not sent, and counts as a
// timeout of the buyer's (Orders.Expired).
func (w *worker) submit(idx uint32, intended, admitted, now int64) {
	r := w.r
	product, qty := r.plan.Order(idx)
	o := targets.Order{ID: targets.OrderID(idx) + 1, Product: product, Quantity: qty, Attempt: 1, Buyer: r.plan.Buyer(idx)}
	due := admitted    // the timeout runs from the click, or from the admission
	var confirmed bool // this submission made the order's first confirmation
	accepted := false  // an attempt of this submission was accepted (two phases)
	for {
		deadline := int64(math.MaxInt64)
		if r.timeout > 0 {
			deadline = due + int64(r.timeout)
		}
		var end int64
		final := finalExpired
		if now >= deadline {
			// The buyer gave up before a sender was free.
			r.mark(idx, flagExpired)
			w.rec.expired++
			w.rec.liveExpired.Store(w.rec.expired)
			end = deadline
		} else {
			var dl time.Time
			if r.timeout > 0 {
				dl = r.began.Add(time.Duration(deadline))
			}
			rep := w.buy(o, dl)
			end = r.since()
			final = int(rep.Outcome)
			if rep.Accepted > 0 && !accepted {
				accepted = true
				w.rec.accept(intended, now+int64(rep.Accepted))
			}
			var first bool // the order's first confirmation: its tickets count as sold
			switch rep.Outcome {
			case targets.Confirmed:
				first = r.mark(idx, flagConfirmed)
				confirmed = confirmed || first
				if rep.Conflicts > 0 {
					w.rec.noteCauses(&rep)
				}
			case targets.Unknown:
				r.mark(idx, flagUnknown)
				w.rec.noteCauses(&rep)
			case targets.SoldOut:
				r.mark(idx, flagNo)
				if qty == 1 {
					r.noteSoldOut(product)
				}
				if rep.Conflicts > 0 {
					w.rec.noteCauses(&rep)
				}
			default:
				r.mark(idx, flagNo)
				w.rec.noteCauses(&rep)
			}
			w.rec.attempt(rep.Outcome, qty, first, now, end, rep.Conflicts)
		}
		if (final == int(targets.Unknown) || final == finalExpired) && o.Attempt <= r.retries && !r.stop.Load() {
			o.Attempt++
			w.rec.retries++
			due = end + int64(r.backoff)
			if now = r.since(); due > now {
				w.pause(time.Duration(due - now))
				now = r.since()
			}
			continue
		}
		w.rec.response(final, intended, end)
		if confirmed && w.reader != nil {
			w.readAfter(o.ID, end) // the buyer's next page
		}
		return
	}
}

// buy makes one attempt with the reusable context, or with a fresh one for
// designs that watch Done.
func (w *worker) buy(o targets.Order, deadline time.Time) targets.Reply {
	if !w.fresh {
		w.ctx.begin(deadline)
		rep := w.client.Buy(w.ctx, o)
		w.ctx.end()
		w.fresh = w.ctx.asked.Load()
		return rep
	}
	ctx, cancel := w.runCtx, context.CancelFunc(nil)
	if deadline.IsZero() {
		ctx, cancel = context.WithCancel(ctx)
	} else {
		ctx, cancel = context.WithDeadline(ctx, deadline)
	}
	rep := w.client.Buy(ctx, o)
	cancel()
	return rep
}

// pause sleeps for d, through the loop when the worker is one of its tasks.
func (w *worker) pause(d time.Duration) {
	if w.loop != nil {
		w.loop.Sleep(d)
		return
	}
	time.Sleep(d)
}

// noteSoldOut marks a product sold out: a one-ticket order was refused.
func (r *run) noteSoldOut(product int) {
	f := &r.soldOut[product]
	if f.Load() == 0 && f.CompareAndSwap(0, 1) {
		r.nSold.Add(1)
	}
}

// lateSend is how late a send may leave before it counts as late.
const lateSend = int64(time.Millisecond)

// maxSleep bounds each wait so a stop is noticed quickly.
const maxSleep = 50 * time.Millisecond

// fineWait is the stretch before a send that is slept precisely, with the
// run's alarm: the Go runtime's own timers may wake a millisecond late when
// the process idles.
const fineWait = 2 * time.Millisecond

// wait sleeps towards a send due at at (run ns), d from now: coarsely while
// it is far, precisely near it. The caller reads the clock again
// afterwards.
func (w *worker) wait(at int64, d time.Duration) {
	switch {
	case d > fineWait:
		time.Sleep(min(d-fineWait, maxSleep))
	case w.r.alarm != nil:
		w.r.alarm.wait(w.id, at, d)
	default:
		time.Sleep(d)
	}
}

// openLoop sends scheduled submissions until they run out or the run stops.
func (w *worker) openLoop() {
	r := w.r
	room := r.plan.Room()
	for !r.stop.Load() {
		sub, ok := r.feed.take(&w.published)
		if !ok {
			return
		}
		at := sub.At
		now := r.since()
		for now < at {
			w.wait(at, time.Duration(at-now))
			if r.stop.Load() {
				w.unsent = sub.Click // taken, never sent: the run ended first
				return
			}
			now = r.since()
		}
		if sub.Late {
			w.rec.lateRetries++
		}
		w.rec.send(at, now)
		if room {
			w.rec.admitted(sub.Click, at) // the waiting room held the buyer this long
			w.submit(sub.Order, sub.Click, at, now)
			continue
		}
		w.submit(sub.Order, at, at, now)
	}
}

// closedLoop is one user: buy, think, buy again, until the user's orders
// run out, the users' time is up or the run stops. User u places orders u,
// u+users, u+2*users, ...
func (w *worker) closedLoop() {
	r := w.r
	end := int64(r.plan.End)
	for idx := uint32(r.share.nth(uint64(w.id))); int(idx) < r.plan.Orders && !r.stop.Load(); idx += uint32(r.users) {
		now := r.since()
		if now >= end {
			return
		}
		w.submit(idx, now, now, now)
		if r.plan.DoubleClicks(idx) && !r.stop.Load() {
			now = r.since() // the impatient click again, right after the answer
			w.submit(idx, now, now, now)
		}
		if r.think > 0 {
			w.pause(r.think)
		}
	}
}

// Run drives target with plan and returns the measurements and checks.
// Setup, client and audit failures are returned as errors; failures of
// single attempts are counted. When ctx is cancelled the run stops within
// moments and the result, marked interrupted, holds what was measured.
// With opt.Spread the buyers are sent by agents in other processes
// (RunShare), and Run sets the design up, merges what they measured and
// audits it.
func Run(ctx context.Context, name string, t targets.Target, plan *scenario.Plan, opt Options) (*results.TargetRun, error) {
	sc := plan.Scenario
	if len(sc.Faults) > 0 && opt.Injector == nil {
		return nil, fmt.Errorf("%s: the scenario puts faults into the backends, and nothing was given to put them in (bench.Options.Injector)", name)
	}
	if err := t.Setup(ctx, StockOf(sc)); err != nil {
		return nil, fmt.Errorf("%s: setup: %w", name, err)
	}
	if opt.Spread != nil {
		return runSpread(ctx, name, t, plan, opt)
	}
	d, err := drive(ctx, name, t, plan, Share{}, opt)
	if err != nil {
		return nil, err
	}
	return d.finish(ctx, name, t, opt)
}

// StockOf returns the stock a scenario puts on sale.
func StockOf(sc *scenario.Scenario) targets.Stock {
	return targets.Stock{Products: sc.Stock.Products, Capacity: sc.Stock.Capacity, BuyerLimit: sc.Demand.BuyerLimit}
}

// driven is what the workers of a run (or of an agent's share of it)
// measured, once they stopped.
type driven struct {
	plan      *scenario.Plan
	r         *run
	workers   []*worker
	started   time.Time
	elapsed   time.Duration
	soldOutAt time.Duration
	windows   []results.FaultWindow
	loop      bool       // the workers ran on an event loop
	reader    *readStats // the stale orders' reader, when buyers read
	// agents are the parts of a spread run, in share order.
	agents []results.Agent
}

// drive sends share of plan's buyers to t, whose store is set up, and
// returns what the workers measured when they stopped.
func drive(ctx context.Context, name string, t targets.Target, plan *scenario.Plan, share Share, opt Options) (*driven, error) {
	sc := plan.Scenario
	stock := StockOf(sc)
	nWorkers := sc.Arrivals.Workers
	if sc.Closed() {
		nWorkers = sc.Arrivals.Users
	}
	if nWorkers = share.count(nWorkers); !sc.Closed() {
		nWorkers = max(nWorkers, 1) // senders: at least one
	}
	if share.of() > 1 && !sc.Closed() {
		plan = plan.Share(share.Index, share.Of) // every Of-th submission, from Index
	}
	limit := runLimit(sc, plan)
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	r := newRun(plan)
	r.share = share // closed loop: the users of the share
	r.timeline = newTimeline(timelineSeconds(limit))
	// Closed-loop users of a design that offers it run as tasks of one
	// event loop; everything else gets a goroutine per worker.
	var loop *evloop.Loop
	lt, ok := t.(targets.LoopTarget)
	if ok && sc.Closed() && !opt.Goroutines {
		if l, err := evloop.New(); err == nil {
			loop = l
			defer l.Close()
		}
	}
	newClient := func(i int) (targets.Client, error) {
		if loop != nil {
			c, err := lt.NewLoopClient(ctx, i, loop)
			// A variant without a loop client says so for its first
			// worker: then none of them runs on the loop.
			if i > 0 || !errors.Is(err, targets.ErrNoLoop) {
				return c, err
			}
			loop.Close()
			loop = nil
		}
		return t.NewClient(ctx, i)
	}
	workers := make([]*worker, nWorkers)
	var readerStart func(finished <-chan struct{})
	for i := range workers {
		c, err := newClient(i)
		if err != nil {
			for _, w := range workers[:i] {
				_ = w.client.Close()
			}
			return nil, fmt.Errorf("%s: client %d: %w", name, i, err)
		}
		workers[i] = r.newWorker(runCtx, i, c, limit)
		workers[i].loop = loop
		if rd, ok := c.(targets.Reader); ok && sc.Client.ReadAfterBuy {
			workers[i].reader = rd
			workers[i].stale.buf = make([]staleRead, max(64, min(4096, 1<<16/nWorkers)))
		}
	}
	if len(sc.Faults) > 0 {
		for _, w := range workers {
			w.rec.ticks = true
		}
	}
	closeAll := func() {
		for _, w := range workers {
			_ = w.client.Close()
		}
	}
	// The reader of stale orders, with a client of its own.
	var readerStats *readStats
	readerDone := make(chan struct{})
	if sc.Client.ReadAfterBuy && workers[0].reader != nil {
		c, err := t.NewClient(ctx, nWorkers)
		rd, ok := c.(targets.Reader)
		if err != nil || !ok {
			closeAll()
			if err == nil {
				_ = c.Close()
				err = errors.New("its reader's client has no read side")
			}
			return nil, fmt.Errorf("%s: reader: %w", name, err)
		}
		readerStats = &readStats{lag: newHist(int64((sc.Client.ReadWait.D() + time.Minute) / time.Microsecond))}
		defer func() { <-readerDone; _ = c.Close() }()
		readerStart = func(finished <-chan struct{}) {
			go func() { defer close(readerDone); r.reader(runCtx, rd, workers, finished, readerStats) }()
		}
	} else {
		close(readerDone)
	}
	if opt.Start != nil {
		// An agent: every client is ready; the load starts when the
		// coordinator says go.
		if err := opt.Start(ctx); err != nil {
			closeAll()
			if readerStart != nil {
				close(readerDone) // the reader never started
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	// Cancelling the run cancels every attempt in flight.
	stopCancel := context.AfterFunc(runCtx, func() {
		r.stop.Store(true)
		for _, w := range workers {
			w.ctx.cancel(context.Cause(runCtx))
		}
		if loop != nil {
			loop.Cancel()
		}
	})
	defer stopCancel()

	var wg sync.WaitGroup
	var loopErr error
	r.began = time.Now()
	started := r.began
	if !sc.Closed() {
		r.alarm = newAlarm(len(workers), r.since)
	}
	if r.feed != nil {
		r.feed.start()
		defer r.feed.finish()
	}
	var faults *faultRun
	if len(sc.Faults) > 0 {
		faults = startFaults(ctx, opt.Injector, sc.Faults, t.Info().Backend, r.began)
		defer faults.finish() // on every way out: nothing left paused or down
	}
	for _, w := range workers {
		body := w.openLoop
		if sc.Closed() {
			body = w.closedLoop
		}
		if loop != nil {
			loop.Go(body)
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); body() }()
	}
	if loop != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if loopErr = loop.Run(); loopErr != nil {
				cancelRun()
			}
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	if readerStart != nil {
		readerStart(finished)
	}
	soldOutAt := monitor(r, workers, stock, limit, name, finished, cancelRun, opt.Progress)
	<-finished
	elapsed := time.Since(started)
	var windows []results.FaultWindow
	if faults != nil {
		windows = faults.finish() // undone before the audit reads the backend
	}
	if r.alarm != nil {
		r.alarm.close() // the senders are done
	}
	if r.feed != nil {
		r.feed.finish() // the senders are done
	}
	r.unsent(workers, int64(elapsed))
	closeAll()
	<-readerDone // its last orders shown, or waited for, within read_wait
	if loopErr != nil {
		return nil, fmt.Errorf("%s: %w", name, loopErr)
	}
	return &driven{plan: plan, r: r, workers: workers, started: started, elapsed: elapsed, soldOutAt: soldOutAt,
		windows: windows, loop: loop != nil, reader: readerStats}, nil
}

// finish audits t, whose buyers d drove, and gathers d's figures and
// checks.
func (d *driven) finish(ctx context.Context, name string, t targets.Target, opt Options) (*results.TargetRun, error) {
	auditTimeout := opt.AuditTimeout
	if auditTimeout <= 0 {
		auditTimeout = 30 * time.Second
	}
	actx, cancelAudit := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancelAudit()
	audit, err := t.Audit(actx)
	if err != nil {
		return nil, fmt.Errorf("%s: audit: %w", name, err)
	}
	info := t.Info()
	info.Settings = maps.Clone(info.Settings)
	if info.Settings == nil {
		info.Settings = map[string]string{}
	}
	info.Settings["client"] = ClientGoroutines
	if d.loop {
		info.Settings["client"] = ClientLoop
	}
	plan, r := d.plan, d.r
	res, err := collect(name, info, plan, r, d.workers, d.elapsed, d.soldOutAt, d.reader)
	if err != nil {
		return nil, err
	}
	res.StartedAt = d.started
	if d.windows != nil {
		res.Faults = faultWindows(d.windows, r.timeline)
	}
	if res.Checks, err = check(StockOf(plan.Scenario), plan, r, audit, &res.Orders); err != nil {
		return nil, fmt.Errorf("%s: audit: %w", name, err)
	}
	if d.elapsed > 0 {
		res.GoodputPerS = float64(res.Orders.Bought) / d.elapsed.Seconds()
		res.SeatsPerS = float64(res.Orders.Seats) / d.elapsed.Seconds()
	}
	if la, ok := t.(targets.LateAnswers); ok {
		res.Orders.LateAnswers = la.LateAnswers()
	}
	res.Interrupted = ctx.Err() != nil
	if d.agents != nil {
		res.Agents = d.agents
		for _, a := range d.agents {
			res.Incomplete = res.Incomplete || !a.Complete
		}
		res.Generator.Workers = 0
		for _, a := range d.agents {
			res.Generator.Workers += a.Workers
		}
	}
	return res, nil
}

// unsent accounts, after the workers and the feed stopped, for the
// open-loop submissions no sender sent because the run ended (at end, ns
// since the start) first: those that were due wait in the queue to the
// end, and their response time says so; those not yet due are counted
// apart. Each is recorded by the worker that took it, or by the first
// worker. Clicks come in time order, so once one is not due, none after
// it is, and they are counted without being generated.
func (r *run) unsent(workers []*worker, end int64) {
	record := func(w *worker, click int64) { // a buyer in a waiting room at the end has clicked
		if click >= end {
			w.rec.notDue++
			return
		}
		w.rec.queuedAtEnd++
		w.rec.response(finalQueued, click, end)
	}
	for _, w := range workers {
		if w.unsent >= 0 {
			record(w, w.unsent)
		}
	}
	if r.feed == nil {
		return
	}
	left := r.feed.n - min(r.feed.next.Load(), r.feed.n)
	r.feed.unclaimed(func(sub scenario.Submission) bool {
		if sub.Click >= end {
			workers[0].rec.notDue += int64(left)
			return false
		}
		left--
		record(workers[0], sub.Click)
		return true
	})
}

// newRun prepares the shared state of a run of plan.
func newRun(plan *scenario.Plan) *run {
	sc := plan.Scenario
	var f *feed
	if !sc.Closed() {
		f = newFeed(plan, feedSlots)
	}
	return &run{
		plan: plan, feed: f, flags: make([]uint32, (plan.Orders+3)/4),
		soldOut: make([]atomic.Uint32, sc.Stock.Products),
		timeout: sc.Client.Timeout.D(), retries: sc.Client.Retries, backoff: sc.Client.Backoff.D(),
		think: sc.Arrivals.Think.D(), users: sc.Arrivals.Users,
	}
}

// newWorker prepares worker id with its client, for a run that lasts at
// most limit. All its memory is allocated here, none per order.
func (r *run) newWorker(runCtx context.Context, id int, c targets.Client, limit time.Duration) *worker {
	// Histograms reach a little past the longest a reply can take.
	highestUS := max(int64((limit+time.Minute)/time.Microsecond), 1_000_000)
	return &worker{id: id, r: r, runCtx: runCtx, client: c, rec: newRecorder(highestUS, timelineSeconds(limit), !r.plan.Scenario.Closed()),
		ctx: newAttemptCtx(runCtx), unsent: -1}
}

// timelineSeconds is the length of the timeline of a run that lasts at
// most limit; anything later counts in its last second.
func timelineSeconds(limit time.Duration) int { return int(limit/time.Second) + 2 }

// RunLimit is the longest a run of plan may last (what the engine stops
// it at): the scenario's cap, or the arrivals' length plus the time the
// last submission may take.
func RunLimit(plan *scenario.Plan) time.Duration { return runLimit(plan.Scenario, plan) }

// runLimit is the longest a run may last: the scenario's cap, or the
// arrivals' length plus the time the last submission may take.
func runLimit(sc *scenario.Scenario, plan *scenario.Plan) time.Duration {
	if sc.Stop.Duration > 0 {
		return sc.Stop.Duration.D()
	}
	drain := 10 * time.Second
	if sc.Client.Timeout > 0 {
		drain = time.Duration(sc.Client.Retries+1)*(sc.Client.Timeout.D()+sc.Client.Backoff.D()) + time.Second
	}
	return plan.End + drain + sc.Arrivals.Think.D()
}

// soldOut reports whether buyers were confirmed the whole stock, or every
// product refused a one-ticket order.
func soldOut(r *run, workers []*worker, stock targets.Stock) bool {
	var sold int64
	for _, w := range workers {
		sold += w.rec.liveSold.Load()
	}
	return sold >= stock.Total() || r.nSold.Load() == int64(stock.Products)
}

// monitor watches the run from its own goroutine until the workers finish:
// it reports progress, stops the run at its limit or after the sold-out
// grace, and returns when the stock sold out (-1 if it did not).
func monitor(r *run, workers []*worker, stock targets.Stock, limit time.Duration, name string,
	finished <-chan struct{}, cancel context.CancelFunc, progress func(Progress)) time.Duration {
	sc := r.plan.Scenario
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	soldOutAt := time.Duration(-1)
	var lastSecond int64 = -1
	var lastPS float64
	var lastP99 time.Duration
	var totals Progress // over the complete seconds
	var added int64     // seconds added to totals
	hardStop := time.NewTimer(limit)
	defer hardStop.Stop()
	for {
		select {
		case <-finished:
			// Sold out between the last tick and the end (or before the
			// first tick, in a short run): it sold out by now.
			if soldOutAt < 0 && soldOut(r, workers, stock) {
				soldOutAt = time.Duration(r.since())
			}
			return soldOutAt
		case <-hardStop.C:
			r.stop.Store(true)
			// Give attempts in flight a moment, then cancel them.
			grace := time.NewTimer(time.Second)
			select {
			case <-finished:
				grace.Stop()
				return soldOutAt
			case <-grace.C:
				cancel()
			}
		case <-tick.C:
		}
		now := time.Duration(r.since())
		var attempts, sold, lateSends, expired, maxLag int64
		complete := int64(math.MaxInt64)
		for _, w := range workers {
			attempts += w.rec.liveAttempts.Load()
			sold += w.rec.liveSold.Load()
			lateSends += w.rec.liveLateSends.Load()
			expired += w.rec.liveExpired.Load()
			maxLag = max(maxLag, w.rec.liveMaxLag.Load())
			complete = min(complete, w.rec.liveSecond.Load())
		}
		if soldOutAt < 0 && soldOut(r, workers, stock) {
			soldOutAt = now
		}
		if sc.Stop.SoldOut && soldOutAt >= 0 && now >= soldOutAt+sc.Stop.Grace.D() {
			r.stop.Store(true)
		}
		// Fold each worker's seconds before its current one into the
		// run's timeline: those before every worker's current one
		// (complete) are then whole there.
		for _, w := range workers {
			r.timeline.fold(w.rec, false)
		}
		if progress == nil {
			continue
		}
		// Report the last complete second.
		if s := int64(now/time.Second) - 1; s > lastSecond && s >= 0 && s < complete {
			lastSecond = s
			sl := &r.timeline.secs[s]
			var att uint32
			for _, c := range sl.outcomes {
				att += c
			}
			lastPS = float64(att)
			lastP99 = time.Duration(sl.hist.quantile(0.99, sl.resp)) * time.Microsecond
		}
		for ; added < complete && added < int64(now/time.Second) && added < int64(len(r.timeline.secs)); added++ {
			totals.addSecond(&r.timeline.secs[added])
		}
		subs := r.plan.Submissions()
		if sc.Closed() {
			subs = r.plan.Orders
		}
		p := totals
		p.Target, p.Elapsed, p.Attempts, p.AttemptsPS, p.P99 = name, now, attempts, lastPS, lastP99
		p.Sold, p.Capacity, p.Submissions, p.Complete = sold, stock.Total(), subs, time.Duration(added)*time.Second
		p.LateSends, p.Expired, p.MaxLag = lateSends, expired, time.Duration(maxLag)
		progress(p)
	}
}
