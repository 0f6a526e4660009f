package bench

import (
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stampede-bench/stampede/targets"
)

// sigFigs is the precision of the run's HdrHistograms.
const sigFigs = 3

// newHist returns an HdrHistogram of microseconds from 1 to highest.
func newHist(highest int64) *hdrhistogram.Histogram {
	return hdrhistogram.New(1, highest, sigFigs)
}

// logHist is a small fixed-size histogram of microseconds with about 3%
// precision, for the per-second timeline where an HdrHistogram per second
// per worker would cost too much memory. Values below 64 are exact; above,
// each power of two is split in 32 buckets.
type logHist [logHistBuckets]uint32

const logHistBuckets = 64 + 34*32

func logIndex(v int64) int {
	if v < 64 {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	e := bits.Len64(uint64(v)) - 6 // v has e+6 bits, e >= 1
	i := 64 + (e-1)*32 + int(v>>e) - 32
	return min(i, logHistBuckets-1)
}

// logValue returns a value in the middle of bucket i.
func logValue(i int) int64 {
	if i < 64 {
		return int64(i)
	}
	e := (i-64)/32 + 1
	m := int64((i-64)%32 + 32)
	return m<<e + (1<<e)/2
}

// quantile returns the value below which q (0..1) of the counts lie.
func (h *logHist) quantile(q float64, total uint64) int64 {
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total) + 0.5)
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h {
		seen += uint64(c)
		if seen >= rank {
			return logValue(i)
		}
	}
	return logValue(logHistBuckets - 1)
}

// second is what one worker, or the whole run, saw complete during one
// second of the run.
type second struct {
	sec      int                         // which second: a worker's record's tag, -1 while free
	outcomes [targets.NumOutcomes]uint32 // attempts by outcome
	sold     int64                       // units newly confirmed to clients
	resp     uint64                      // submissions finished
	hist     logHist                     // their response times
	// ticks counts the answers of each tickNS of the second, by kind,
	// for the fault windows: only when the run puts faults in.
	ticks [ticksPerSecond]tick
}

// add adds o's counts to s.
func (s *second) add(o *second) {
	for i, c := range o.outcomes {
		s.outcomes[i] += c
	}
	s.sold += o.sold
	s.resp += o.resp
	for i, c := range o.hist {
		s.hist[i] += c
	}
	for i, t := range o.ticks {
		s.ticks[i].answered += t.answered
		s.ticks[i].unknown += t.unknown
		s.ticks[i].errors += t.errors
	}
}

// timeline is the run's per-second record: the monitor folds the
// workers' seconds into it as they complete (fold), and what is left of
// them after the run, so that a run holds one record a second, not one a
// second per worker. Only the goroutine of Run touches it.
type timeline struct{ secs []second }

func newTimeline(nSeconds int) *timeline { return &timeline{secs: make([]second, nSeconds)} }

// fold adds the records of rec's seconds before its current one (all of
// them, after the run) to the timeline and frees them.
func (tl *timeline) fold(rec *recorder, all bool) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, sl := range rec.pool {
		if sl.sec >= 0 && (all || sl.sec < rec.curSec) {
			tl.secs[sl.sec].add(sl)
			*sl = second{sec: -1}
		}
	}
	if all {
		rec.curSec, rec.cur = -1, nil
	}
}

// recorder is one worker's measurements. Only its worker writes it during
// the run; it is read after the run, and its atomic fields by the monitor.
type recorder struct {
	resp [numFinals]*hdrhistogram.Histogram // response time by final result; nil until it occurs
	svc  *hdrhistogram.Histogram            // service time of every attempt
	lag  *hdrhistogram.Histogram            // open loop: send lag of each submission; nil in closed loop
	// accepted holds, for a design of two phases, each submission's time
	// from its intended start to its first "accepted"; nil until one is.
	accepted *hdrhistogram.Histogram
	// roomWait holds, behind a waiting room, each submission's time from
	// its click to its admission; nil until one waited.
	roomWait *hdrhistogram.Histogram
	highest  int64 // the histograms' top, µs
	clamped  int64 // values above highest, recorded as highest

	outcomes    [targets.NumOutcomes]int64
	attempts    int64
	submissions int64
	retries     int64
	conflicts   int64
	maxLag      int64 // the latest an attempt was sent after its intended time, ns
	lateSends   int64 // sends more than lateSend after their intended time
	lastSend    int64 // when the last scheduled submission left, ns
	expired     int64 // attempts whose timeout ran out before a sender took them
	queuedAtEnd int64 // submissions due but unsent when the run ended
	notDue      int64 // submissions scheduled after the run ended
	lateRetries int64 // late retries sent

	// The per-second records: the current second's (cur, curSec), which
	// only the worker touches, and the few others that the monitor has yet
	// to fold into the run's timeline (timeline.fold): the second before,
	// and those the answers of expired submissions go back to. mu guards
	// pool, their tags and the changes of curSec; the worker takes it only
	// to move to another second, once a second, or to write to a second
	// before its current one. A record is reused once folded; the pool
	// holds one for each second written to between two folds (the
	// expired answers of a backlog may go back a few seconds).
	mu       sync.Mutex
	pool     []*second
	cur      *second
	curSec   int
	nSeconds int  // times after the last second count in the last
	ticks    bool // count answers by tick, for fault windows
	// errs holds the first few distinct messages of failed reads (the
	// failed attempts' messages are kept by cause, in causes).
	errs []string
	// causes counts failures and conflicts by kind and cause class: built
	// only when one comes, and each key's entry once.
	causes map[causeKey]*causeCount

	// For the monitor: published with atomic stores, read without locks.
	liveAttempts atomic.Int64
	liveSold     atomic.Int64
	// Stored only on the rare paths: a send over lateSend late (the
	// first, then one in 64, so they trail by at most 63 sends), an
	// attempt expired before a sender took it.
	liveLateSends atomic.Int64
	liveMaxLag    atomic.Int64 // ns
	liveExpired   atomic.Int64
	liveSecond    atomic.Int64 // seconds before this one are complete
	_             [64]byte
}

// newRecorder allocates a recorder, with a send-lag histogram for an open
// loop. The response histogram of each outcome is allocated when the
// outcome first occurs: most runs see two or three of the five, and each
// histogram is some 150 KB.
func newRecorder(highestUS int64, nSeconds int, open bool) *recorder {
	r := &recorder{highest: highestUS, svc: newHist(highestUS), curSec: -1, nSeconds: nSeconds}
	r.pool = make([]*second, 3) // the current second, the one before, one written late
	for i := range r.pool {
		r.pool[i] = &second{sec: -1}
	}
	r.resp[targets.Confirmed] = newHist(highestUS)
	if open {
		r.lag = newHist(highestUS)
	}
	return r
}

// send records that a scheduled submission due at at (ns since the start)
// was taken by its sender at now.
func (r *recorder) send(at, now int64) {
	lag := now - at
	_ = r.lag.RecordValue(r.clamp(lag / 1e3)) // in range after clamp
	r.lastSend = now
	if lag > lateSend {
		r.lateSends++
		r.maxLag = max(r.maxLag, lag)
		if r.lateSends&63 == 1 { // the first, then one in 64: a generator behind is late on every send
			r.liveLateSends.Store(r.lateSends)
			r.liveMaxLag.Store(r.maxLag)
		}
	}
}

func (r *recorder) clamp(us int64) int64 {
	if us > r.highest {
		r.clamped++
		return r.highest
	}
	return max(us, 0)
}

// slot returns the per-second record for time t (ns since start), and
// whether it holds mu, which the caller then unlocks once it wrote the
// record: it does for any second but the current one.
func (r *recorder) slot(t int64) (sl *second, locked bool) {
	s := min(int(t/1e9), r.nSeconds-1)
	if s == r.curSec {
		return r.cur, false
	}
	r.mu.Lock()
	sl = r.find(s)
	if s > r.curSec {
		r.cur, r.curSec = sl, s
		if int64(s) > r.liveSecond.Load() {
			r.liveSecond.Store(int64(s))
		}
	}
	return sl, true
}

// find returns the record of second s not yet folded, or a free one, or
// a new one; mu is held.
func (r *recorder) find(s int) *second {
	for _, sl := range r.pool {
		if sl.sec == s {
			return sl
		}
	}
	for _, sl := range r.pool {
		if sl.sec < 0 {
			sl.sec = s
			return sl
		}
	}
	sl := &second{sec: s} // more seconds written to between two folds than ever before
	r.pool = append(r.pool, sl)
	return sl
}

// attempt records one attempt's reply; end and sent are ns since start.
// firstConfirm says the reply is its order's first confirmation, whose
// tickets count as sold.
func (r *recorder) attempt(o targets.Outcome, qty int64, firstConfirm bool, sent, end int64, conflicts int32) {
	_ = r.svc.RecordValue(r.clamp((end - sent) / 1e3)) // in range after clamp
	r.outcomes[o]++
	r.attempts++
	r.conflicts += int64(conflicts)
	sl, locked := r.slot(end)
	sl.outcomes[o]++
	if r.ticks && end/1e9 < int64(r.nSeconds) {
		sl.tickAnswer(o, end)
	}
	if firstConfirm {
		sl.sold += qty
	}
	if locked {
		r.mu.Unlock()
	}
	r.liveAttempts.Store(r.attempts)
	if firstConfirm {
		r.liveSold.Add(qty)
	}
}

// admitted records that a waiting room let a buyer who clicked at click
// in at at (ns since the start).
func (r *recorder) admitted(click, at int64) {
	if r.roomWait == nil { // the worker's first: once, not per order
		r.roomWait = newHist(r.highest)
	}
	_ = r.roomWait.RecordValue(r.clamp((at - click) / 1e3))
}

// accept records that a submission was accepted at (ns since the start),
// intended at intended.
func (r *recorder) accept(intended, at int64) {
	if r.accepted == nil { // the worker's first: once, not per order
		r.accepted = newHist(r.highest)
	}
	_ = r.accepted.RecordValue(r.clamp((at - intended) / 1e3))
}

// response records a submission's response time, from its intended start
// to its final reply, by its final result (an outcome, finalExpired or
// finalQueued).
func (r *recorder) response(final int, intended, end int64) {
	us := r.clamp((end - intended) / 1e3)
	h := r.resp[final]
	if h == nil { // the result's first occurrence in this worker
		h = newHist(r.highest)
		r.resp[final] = h
	}
	_ = h.RecordValue(us)
	if final != finalQueued {
		r.submissions++
	}
	sl, locked := r.slot(end)
	sl.resp++
	sl.hist[logIndex(us)]++
	if locked {
		r.mu.Unlock()
	}
}

// maxErrorSamples bounds the error messages a recorder keeps.
const maxErrorSamples = 5

// noteReadError keeps a read's failure among the error samples.
func (r *recorder) noteReadError(err error) {
	if len(r.errs) < maxErrorSamples {
		msg := "read: " + err.Error()
		for _, e := range r.errs {
			if e == msg {
				return
			}
		}
		r.errs = append(r.errs, msg)
	}
}

// causeConflict is the kind of a cause that made a design retry inside
// one attempt; the other kinds are the outcomes of failed attempts.
const causeConflict = targets.NumOutcomes

type causeKey struct {
	kind  targets.Outcome // an outcome, or causeConflict
	class string
}

type causeCount struct {
	n      int64
	sample string
}

// noteCauses counts a reply's conflicts and, for a failed attempt (not
// confirmed nor sold out), its failure, by cause class (Reply.Cause,
// targets.CauseOf). It runs only for replies with conflicts or failures.
func (r *recorder) noteCauses(rep *targets.Reply) {
	if rep.Conflicts > 0 {
		class := rep.Cause
		if class == "" {
			class = "conflict (cause not given)"
		}
		r.countCause(causeConflict, class, int64(rep.Conflicts), nil)
	}
	if rep.Outcome == targets.Confirmed || rep.Outcome == targets.SoldOut {
		return
	}
	class := targets.CauseOf(rep.Err)
	if class == "" {
		class = "not given"
	}
	r.countCause(rep.Outcome, class, 1, rep.Err)
}

func (r *recorder) countCause(kind targets.Outcome, class string, n int64, err error) {
	if r.causes == nil {
		r.causes = map[causeKey]*causeCount{}
	}
	k := causeKey{kind, class}
	c := r.causes[k]
	if c == nil {
		c = &causeCount{}
		if err != nil {
			c.sample = err.Error()
		}
		r.causes[k] = c
	}
	c.n += n
}

// causeKind names a cause's kind in results.json.
func causeKind(k targets.Outcome) string {
	if k == causeConflict {
		return "conflict"
	}
	return k.String()
}
