package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stampede-bench/stampede/bench/results"
	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
)

// Share is the part of a plan that one process sends: agent Index (from
// 0) of Of takes the open-loop submissions i with i % Of == Index, in
// their planned order and at their planned times, and the closed-loop
// users u with u % Of == Index. The zero Share is the whole plan. Every
// agent computes its share from the same seeded plan, so the shares of a
// run together send each submission exactly once.
type Share struct{ Index, Of int }

func (s Share) of() int { return max(s.Of, 1) }

// count returns how many of the ids 0..n-1 are the share's.
func (s Share) count(n int) int {
	if s.Index >= n {
		return 0
	}
	return (n - s.Index + s.of() - 1) / s.of()
}

// nth returns the share's j-th id (from 0).
func (s Share) nth(j uint64) uint64 { return j*uint64(s.of()) + uint64(s.Index) }

// Valid reports whether the share names one part of a whole.
func (s Share) Valid() bool { return s.Of >= 1 && s.Index >= 0 && s.Index < s.Of }

// Spreader sends a design's buyers from agents in other processes
// (stampede run -agents K): the coordinator's side.
type Spreader interface {
	// Spread has K agents attach to design, which is set up, and send
	// their shares of plan starting together; it returns each agent's
	// Part in share order once every agent sent its own or was lost (a
	// Part with Error set and nothing measured). It never waits on a
	// lost agent: one that stops answering is given up within seconds.
	// progress, if set, is called with the agents' figures summed as
	// they report them. When ctx ends, the agents are told to stop and
	// their parts are still collected.
	Spread(ctx context.Context, design string, plan *scenario.Plan, progress func(Progress)) ([]*Part, error)
}

// Part is what one agent measured of its share of a design's run: the
// coordinator merges the parts exactly (histograms added bucket by
// bucket, counts summed, the per-order flags ORed) and checks the whole.
type Part struct {
	Agent string `json:"agent"`
	Share Share  `json:"share"`
	// Error says why the agent sent nothing: lost, or failed.
	Error       string        `json:"error,omitempty"`
	Elapsed     time.Duration `json:"elapsed"`
	SoldOutAt   time.Duration `json:"sold_out_at"` // -1 when the agent did not see the stock sell out
	Client      string        `json:"client"`
	Workers     int           `json:"workers"`
	Interrupted bool          `json:"interrupted,omitempty"`
	Rec         *wireRecorder `json:"rec,omitempty"`
	Reads       *wireReads    `json:"reads,omitempty"`
	// Flags holds the reply flags of every order of the plan (one byte
	// an order, 0 for the orders of other shares).
	Flags []byte `json:"flags,omitempty"`
}

// Encode writes the part as gzipped JSON, for the wire.
func (p *Part) Encode() ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(p); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// DecodePart reads what Encode wrote.
func DecodePart(b []byte) (*Part, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("part: %w", err)
	}
	var p Part
	if err := json.NewDecoder(zr).Decode(&p); err != nil {
		return nil, fmt.Errorf("part: %w", err)
	}
	_, _ = io.Copy(io.Discard, zr)
	return &p, nil
}

// ErrNotSpreadable is returned by RunShare for a design whose store
// lives in the process that set it up.
var ErrNotSpreadable = errors.New("cannot be spread over agents: its store lives in the stampede process that sets it up")

// Spreadable reports whether design t can have agents send its buyers.
func Spreadable(t targets.Target) bool {
	_, ok := t.(targets.Attacher)
	return ok
}

// RunShare is an agent's side of a spread run: it attaches t to the store
// a coordinator set up (targets.Attacher), prepares the share's workers
// and clients, calls opt.Start, which returns when the coordinator says
// go, sends the share's buyers, and returns what it measured. Nothing is
// audited here: the coordinator audits once, over every part.
func RunShare(ctx context.Context, name string, t targets.Target, plan *scenario.Plan, share Share, opt Options) (*Part, error) {
	at, ok := t.(targets.Attacher)
	if !ok {
		return nil, fmt.Errorf("%s %w", name, ErrNotSpreadable)
	}
	if !share.Valid() {
		return nil, fmt.Errorf("%s: share %d of %d", name, share.Index, share.Of)
	}
	sc := plan.Scenario
	if sc.Closed() && share.count(sc.Arrivals.Users) == 0 {
		return nil, fmt.Errorf("%s: share %d of %d has none of the %d users", name, share.Index+1, share.Of, sc.Arrivals.Users)
	}
	if err := at.Attach(ctx, StockOf(sc)); err != nil {
		return nil, fmt.Errorf("%s: attach: %w", name, err)
	}
	d, err := drive(ctx, name, t, plan, share, opt)
	if err != nil {
		return nil, err
	}
	return d.part(share, ctx.Err() != nil)
}

// part packs what d's workers measured for the coordinator.
func (d *driven) part(share Share, interrupted bool) (*Part, error) {
	p := &Part{Share: share, Elapsed: d.elapsed, SoldOutAt: d.soldOutAt, Workers: len(d.workers), Interrupted: interrupted,
		Client: ClientGoroutines}
	if d.loop {
		p.Client = ClientLoop
	}
	for _, w := range d.workers { // what is left of their seconds
		d.r.timeline.fold(w.rec, true)
	}
	rec := d.workers[0].rec
	for _, w := range d.workers[1:] {
		rec.merge(w.rec)
	}
	var err error
	if p.Rec, err = rec.wire(); err != nil {
		return nil, err
	}
	p.Rec.Seconds, p.Rec.NSeconds = d.r.timeline.wire()
	if d.reader != nil {
		reads := d.reader
		for _, w := range d.workers {
			reads.add(&w.reads)
		}
		if p.Reads, err = reads.wire(); err != nil {
			return nil, err
		}
	}
	p.Flags = make([]byte, d.plan.Orders)
	for i := range p.Flags {
		p.Flags[i] = d.r.flag(i)
	}
	return p, nil
}

// runSpread is the coordinator's side: t is set up; the agents send the
// buyers; their parts are merged and the design audited once.
func runSpread(ctx context.Context, name string, t targets.Target, plan *scenario.Plan, opt Options) (*results.TargetRun, error) {
	if len(plan.Scenario.Faults) > 0 {
		return nil, fmt.Errorf("%s: faults cannot be put in during a spread run", name)
	}
	started := time.Now()
	parts, err := opt.Spread.Spread(ctx, name, plan, opt.Progress)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	r := newRun(plan)
	r.timeline = newTimeline(0) // the agents' timelines added up
	d := &driven{plan: plan, r: r, started: started, soldOutAt: -1}
	var reads *readStats
	for k, p := range parts {
		a := results.Agent{Name: p.Agent, Share: k + 1, Of: len(parts), Error: p.Error}
		if p.Error != "" || p.Rec == nil {
			if a.Error == "" {
				a.Error = "sent no figures"
			}
			d.agents = append(d.agents, a)
			r.markShareUnknown(Share{k, len(parts)})
			continue
		}
		rec, err := p.Rec.recorder()
		if err == nil {
			err = p.Rec.addTimeline(r.timeline)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: agent %s: %w", name, p.Agent, err)
		}
		if len(p.Flags) != plan.Orders {
			return nil, fmt.Errorf("%s: agent %s: flags of %d orders, the plan has %d", name, p.Agent, len(p.Flags), plan.Orders)
		}
		for i, f := range p.Flags {
			if f != 0 {
				r.flags[i/4] |= uint32(f) << (8 * (i % 4))
			}
		}
		if p.Reads != nil {
			st, err := p.Reads.stats()
			if err != nil {
				return nil, fmt.Errorf("%s: agent %s: %w", name, p.Agent, err)
			}
			if reads == nil {
				reads = &readStats{lag: newHist(st.lag.HighestTrackableValue())}
			}
			reads.add(st)
		}
		d.workers = append(d.workers, &worker{rec: rec, unsent: -1})
		d.elapsed = max(d.elapsed, p.Elapsed)
		if p.SoldOutAt >= 0 && (d.soldOutAt < 0 || p.SoldOutAt < d.soldOutAt) {
			d.soldOutAt = p.SoldOutAt
		}
		d.loop = d.loop || p.Client == ClientLoop
		// An agent stopped by the coordinator's Ctrl-C sent all it
		// measured: whole, as the run is, marked interrupted.
		a.Complete, a.Workers, a.DurationS, a.Attempts = true, p.Workers, p.Elapsed.Seconds(), rec.attempts
		resp := newHist(rec.highest)
		for _, h := range rec.resp {
			if h != nil {
				resp.Merge(h)
			}
		}
		l := results.Summarize(resp)
		a.LatencyUS = &l
		if a.Response, err = results.EncodeHistogram(resp); err != nil {
			return nil, fmt.Errorf("%s: agent %s: %w", name, p.Agent, err)
		}
		d.agents = append(d.agents, a)
	}
	d.reader = reads
	if len(d.workers) == 0 {
		// No agent sent anything: a recorder with nothing in it keeps the
		// figures' shape.
		d.workers = []*worker{{rec: newRecorder(1_000_000, 1, !plan.Scenario.Closed()), unsent: -1}}
	}
	return d.finish(ctx, name, t, opt)
}

// markShareUnknown marks every order of share as answered unknown: its
// agent was lost, and what its buyers were told is not known.
func (r *run) markShareUnknown(s Share) {
	plan := r.plan
	set := func(idx uint32) { r.flags[idx/4] |= flagUnknown << (8 * (idx % 4)) }
	if plan.Scenario.Closed() {
		users := plan.Scenario.Arrivals.Users
		for j := range s.count(users) {
			for idx := int(s.nth(uint64(j))); idx < plan.Orders; idx += users {
				set(uint32(idx))
			}
		}
		return
	}
	st := plan.Share(s.Index, s.Of).Stream()
	for sub, ok := st.Next(); ok; sub, ok = st.Next() {
		set(sub.Order)
	}
}

// merge adds o's measurements to r's. Their histograms share a geometry.
func (r *recorder) merge(o *recorder) {
	for f, h := range o.resp {
		if h == nil {
			continue
		}
		if r.resp[f] == nil {
			r.resp[f] = newHist(r.highest)
		}
		r.clamped += r.resp[f].Merge(h)
	}
	mergeInto := func(dst **hdrhistogram.Histogram, src *hdrhistogram.Histogram) {
		if src == nil {
			return
		}
		if *dst == nil {
			*dst = newHist(r.highest)
		}
		r.clamped += (*dst).Merge(src)
	}
	mergeInto(&r.svc, o.svc)
	mergeInto(&r.lag, o.lag)
	mergeInto(&r.accepted, o.accepted)
	mergeInto(&r.roomWait, o.roomWait)
	r.clamped += o.clamped
	for i, n := range o.outcomes {
		r.outcomes[i] += n
	}
	r.attempts += o.attempts
	r.submissions += o.submissions
	r.retries += o.retries
	r.conflicts += o.conflicts
	r.maxLag = max(r.maxLag, o.maxLag)
	r.lateSends += o.lateSends
	r.lastSend = max(r.lastSend, o.lastSend)
	r.expired += o.expired
	r.queuedAtEnd += o.queuedAtEnd
	r.notDue += o.notDue
	r.lateRetries += o.lateRetries
	for _, e := range o.errs {
		if len(r.errs) < maxErrorSamples {
			r.errs = append(r.errs, e)
		}
	}
	for k, c := range o.causes {
		if r.causes == nil {
			r.causes = map[causeKey]*causeCount{}
		}
		if m := r.causes[k]; m != nil {
			m.n += c.n
		} else {
			cc := *c
			r.causes[k] = &cc
		}
	}
}

// wireRecorder is a recorder as a Part carries it, with the timeline of
// the agent's run (Seconds, NSeconds: see timeline.wire).
type wireRecorder struct {
	Highest  int64                      `json:"highest"`
	Resp     [numFinals]string          `json:"resp"` // "" for none
	Svc      string                     `json:"svc"`
	Lag      string                     `json:"lag,omitempty"`
	Accepted string                     `json:"accepted,omitempty"`
	RoomWait string                     `json:"room_wait,omitempty"`
	Clamped  int64                      `json:"clamped"`
	Outcomes [targets.NumOutcomes]int64 `json:"outcomes"`
	Counts   [11]int64                  `json:"counts"` // see counts
	Seconds  []wireSecond               `json:"seconds"`
	NSeconds int                        `json:"n_seconds"`
	Errs     []string                   `json:"errs,omitempty"`
	Causes   []wireCause                `json:"causes,omitempty"`
}

type wireSecond struct {
	S        int                         `json:"s"`
	Outcomes [targets.NumOutcomes]uint32 `json:"o"`
	Sold     int64                       `json:"sold"`
	Resp     uint64                      `json:"resp"`
	Hist     [][2]uint32                 `json:"h"` // bucket, count: the buckets that are not 0
}

type wireCause struct {
	Kind   targets.Outcome `json:"kind"`
	Class  string          `json:"class"`
	Sample string          `json:"sample,omitempty"`
	N      int64           `json:"n"`
}

// counts lists a recorder's counters in the order of wireRecorder.Counts.
func (r *recorder) counts() [11]*int64 {
	return [11]*int64{&r.attempts, &r.submissions, &r.retries, &r.conflicts, &r.maxLag, &r.lateSends,
		&r.lastSend, &r.expired, &r.queuedAtEnd, &r.notDue, &r.lateRetries}
}

func encodeOptional(h *hdrhistogram.Histogram) (string, error) {
	if h == nil {
		return "", nil
	}
	return results.EncodeHistogram(h)
}

func decodeOptional(s string) (*hdrhistogram.Histogram, error) {
	if s == "" {
		return nil, nil
	}
	return results.DecodeHistogram(s)
}

func (r *recorder) wire() (*wireRecorder, error) {
	w := &wireRecorder{Highest: r.highest, Clamped: r.clamped, Outcomes: r.outcomes, Errs: r.errs}
	var errs []error
	enc := func(dst *string, h *hdrhistogram.Histogram) {
		var err error
		*dst, err = encodeOptional(h)
		errs = append(errs, err)
	}
	for f, h := range r.resp {
		enc(&w.Resp[f], h)
	}
	enc(&w.Svc, r.svc)
	enc(&w.Lag, r.lag)
	enc(&w.Accepted, r.accepted)
	enc(&w.RoomWait, r.roomWait)
	for i, p := range r.counts() {
		w.Counts[i] = *p
	}
	for k, c := range r.causes {
		w.Causes = append(w.Causes, wireCause{Kind: k.kind, Class: k.class, Sample: c.sample, N: c.n})
	}
	return w, errors.Join(errs...)
}

func (w *wireRecorder) recorder() (*recorder, error) {
	if w.Highest < 1 || w.NSeconds < 1 || w.NSeconds > 1<<24 {
		return nil, fmt.Errorf("part: a recorder of %d seconds up to %dµs", w.NSeconds, w.Highest)
	}
	r := &recorder{highest: w.Highest, clamped: w.Clamped, outcomes: w.Outcomes, curSec: -1, nSeconds: w.NSeconds, errs: w.Errs}
	var errs []error
	dec := func(dst **hdrhistogram.Histogram, s string) {
		h, err := decodeOptional(s)
		if err == nil && h != nil && h.HighestTrackableValue() < w.Highest {
			err = fmt.Errorf("part: a histogram up to %dµs, below the recorder's %dµs", h.HighestTrackableValue(), w.Highest)
		}
		*dst = h
		errs = append(errs, err)
	}
	for f, s := range w.Resp {
		dec(&r.resp[f], s)
	}
	dec(&r.svc, w.Svc)
	dec(&r.lag, w.Lag)
	dec(&r.accepted, w.Accepted)
	dec(&r.roomWait, w.RoomWait)
	if r.svc == nil {
		r.svc = newHist(w.Highest)
	}
	for i, p := range r.counts() {
		*p = w.Counts[i]
	}
	for _, c := range w.Causes {
		if r.causes == nil {
			r.causes = map[causeKey]*causeCount{}
		}
		r.causes[causeKey{c.Kind, c.Class}] = &causeCount{n: c.N, sample: c.Sample}
	}
	return r, errors.Join(errs...)
}

// add adds o's reads to st's.
func (st *readStats) add(o *readStats) {
	if o.lag != nil && st.lag != o.lag {
		st.lag.Merge(o.lag)
	}
	st.reads += o.reads
	st.shown += o.shown
	st.violations += o.violations
	st.errors += o.errors
	st.never += o.never
	st.notMeasured += o.notMeasured
}

// wireReads is a readStats as a Part carries it.
type wireReads struct {
	Lag    string   `json:"lag"`
	Counts [6]int64 `json:"counts"` // reads, shown, violations, errors, never, not measured
}

func (st *readStats) wire() (*wireReads, error) {
	lag, err := results.EncodeHistogram(st.lag)
	return &wireReads{Lag: lag, Counts: [6]int64{st.reads, st.shown, st.violations, st.errors, st.never, st.notMeasured}}, err
}

func (w *wireReads) stats() (*readStats, error) {
	lag, err := results.DecodeHistogram(w.Lag)
	if err != nil {
		return nil, err
	}
	c := w.Counts
	return &readStats{lag: lag, reads: c[0], shown: c[1], violations: c[2], errors: c[3], never: c[4], notMeasured: c[5]}, nil
}

// Attempts returns how many attempts the part's agent made.
func (p *Part) Attempts() int64 {
	if p.Rec == nil {
		return 0
	}
	return p.Rec.Counts[0]
}

// wire returns the seconds of tl that hold anything, as a Part carries
// them, and tl's length.
func (tl *timeline) wire() ([]wireSecond, int) {
	var out []wireSecond
	for s := range tl.secs {
		sl := &tl.secs[s]
		if sl.resp == 0 && sl.sold == 0 && sl.outcomes == [targets.NumOutcomes]uint32{} {
			continue
		}
		ws := wireSecond{S: s, Outcomes: sl.outcomes, Sold: sl.sold, Resp: sl.resp}
		for i, c := range sl.hist {
			if c != 0 {
				ws.Hist = append(ws.Hist, [2]uint32{uint32(i), c})
			}
		}
		out = append(out, ws)
	}
	return out, max(len(tl.secs), 1)
}

// addTimeline adds the agent's timeline that w carries to tl, which
// grows to its length.
func (w *wireRecorder) addTimeline(tl *timeline) error {
	if w.NSeconds > len(tl.secs) {
		tl.secs = append(tl.secs, make([]second, w.NSeconds-len(tl.secs))...)
	}
	for _, ws := range w.Seconds {
		if ws.S < 0 || ws.S >= w.NSeconds {
			return fmt.Errorf("part: second %d of %d", ws.S, w.NSeconds)
		}
		o := second{outcomes: ws.Outcomes, sold: ws.Sold, resp: ws.Resp}
		for _, b := range ws.Hist {
			if int(b[0]) >= logHistBuckets {
				return fmt.Errorf("part: timeline bucket %d", b[0])
			}
			o.hist[b[0]] = b[1]
		}
		tl.secs[ws.S].add(&o)
	}
	return nil
}
