package bench

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stampede-bench/stampede/bench/results"
	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
)

// collect merges the workers' recorders into a TargetRun.
func collect(name string, info targets.Info, plan *scenario.Plan, r *run, workers []*worker, elapsed, soldOutAt time.Duration, reader *readStats) (*results.TargetRun, error) {
	sc := plan.Scenario
	highest := workers[0].rec.highest
	resp, svc := newHist(highest), newHist(highest)
	res := &results.TargetRun{Target: name, Info: info, Loop: "open", DurationS: elapsed.Seconds(),
		Generator: results.Generator{Workers: len(workers)}}
	if sc.Closed() {
		res.Loop = "closed"
	}
	byOutcome := [numFinals]*hdrhistogram.Histogram{}
	var lag *hdrhistogram.Histogram
	if !sc.Closed() {
		lag = newHist(highest)
	}
	// What is left of the workers' seconds goes into the run's timeline
	// (the run's last seconds, and the queued buyers counted at its end).
	for _, w := range workers {
		r.timeline.fold(w.rec, true)
	}
	nSeconds := 0
	for s := len(r.timeline.secs) - 1; s >= 0; s-- {
		if sl := &r.timeline.secs[s]; sl.resp > 0 || sl.outcomes != [targets.NumOutcomes]uint32{} {
			nSeconds = s + 1
			break
		}
	}
	for _, w := range workers {
		rec := w.rec
		for o, h := range rec.resp {
			if h == nil {
				continue
			}
			if byOutcome[o] == nil {
				byOutcome[o] = newHist(highest)
			}
			res.Generator.Clamped += resp.Merge(h) + byOutcome[o].Merge(h) // same geometry: nothing should drop
		}
		res.Generator.Clamped += svc.Merge(rec.svc)
		if lag != nil && rec.lag != nil {
			res.Generator.Clamped += lag.Merge(rec.lag)
		}
		o := &res.Orders
		o.Expired += rec.expired
		o.QueuedAtEnd += rec.queuedAtEnd
		o.NotDue += rec.notDue
		o.LateRetries += rec.lateRetries
		o.Attempts += rec.attempts
		o.Confirmed += rec.outcomes[targets.Confirmed]
		o.SoldOut += rec.outcomes[targets.SoldOut]
		o.Rejected += rec.outcomes[targets.Rejected]
		o.Unknown += rec.outcomes[targets.Unknown]
		o.Errors += rec.outcomes[targets.Error]
		o.Conflicts += rec.conflicts
		o.Retries += rec.retries
		o.Submissions += rec.submissions
		res.Generator.MaxLagUS = max(res.Generator.MaxLagUS, rec.maxLag/1e3)
		res.Generator.LateSends += rec.lateSends
		res.Generator.Clamped += rec.clamped
	}
	res.Orders.Causes = mergeCauses(workers)
	res.Orders.ErrorSamples = errorSamples(res.Orders.Causes, workers)
	res.Response, res.Service = resp, svc
	res.LatencyByOutcome = map[string]results.Latency{}
	for o, h := range byOutcome {
		if h != nil && h.TotalCount() > 0 {
			res.LatencyByOutcome[finalName(o)] = results.Summarize(h)
		}
	}
	res.LatencyUS, res.ServiceUS = results.Summarize(resp), results.Summarize(svc)
	var errResp, errSvc, errLag error
	res.Histograms.Response, errResp = results.EncodeHistogram(resp)
	res.Histograms.Service, errSvc = results.EncodeHistogram(svc)
	if lag != nil {
		res.Generator.LagUS = results.Summarize(lag)
		res.Histograms.Lag, errLag = results.EncodeHistogram(lag)
	}
	var accepted *hdrhistogram.Histogram
	for _, w := range workers {
		if w.rec.accepted != nil {
			if accepted == nil {
				accepted = newHist(highest)
			}
			res.Generator.Clamped += accepted.Merge(w.rec.accepted)
		}
	}
	var errAcc error
	if accepted != nil {
		a := results.Summarize(accepted)
		res.AcceptedUS = &a
		res.Histograms.Accepted, errAcc = results.EncodeHistogram(accepted)
	}
	var errRoom error
	if rate := sc.WaitingRoom.Rate; rate > 0 && !sc.Closed() {
		wait := newHist(highest)
		for _, w := range workers {
			if w.rec.roomWait != nil {
				res.Generator.Clamped += wait.Merge(w.rec.roomWait)
			}
		}
		res.WaitingRoom = &results.WaitingRoom{Rate: rate, WaitUS: results.Summarize(wait)} // MaxQueue below
		res.Histograms.RoomWait, errRoom = results.EncodeHistogram(wait)
	}
	var errVis error
	res.ReadYourWrites, res.Histograms.VisibilityLag, errVis = readYourWrites(workers, reader, highest)
	if err := errors.Join(errResp, errSvc, errLag, errVis, errAcc, errRoom); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	res.Orders.Scheduled = int64(plan.Submissions())
	o := res.Orders
	if elapsed > 0 {
		res.ThroughputPerS = float64(o.Confirmed+o.SoldOut+o.Rejected) / elapsed.Seconds()
	}
	if !sc.Closed() {
		// Over the schedule's length, or longer if the last send left late.
		var last int64
		for _, w := range workers {
			last = max(last, w.rec.lastSend)
		}
		span := max(time.Duration(last), plan.End, time.Millisecond)
		res.Generator.AttemptRate = float64(o.Attempts) / span.Seconds()
	} else if elapsed > 0 {
		res.Generator.AttemptRate = float64(o.Attempts) / elapsed.Seconds()
	}
	if soldOutAt >= 0 {
		s := soldOutAt.Seconds()
		res.SoldOutAtS = &s
	}
	res.Timeline = make([]results.Second, nSeconds)
	for s := range nSeconds {
		sl := &r.timeline.secs[s]
		sec := results.Second{T: s,
			Confirmed: int64(sl.outcomes[targets.Confirmed]), SoldOut: int64(sl.outcomes[targets.SoldOut]),
			Rejected: int64(sl.outcomes[targets.Rejected]), Unknown: int64(sl.outcomes[targets.Unknown]),
			Errors: int64(sl.outcomes[targets.Error]), Sold: sl.sold}
		sec.Attempts = sec.Confirmed + sec.SoldOut + sec.Rejected + sec.Unknown + sec.Errors
		sec.P50US, sec.P99US = sl.hist.quantile(0.50, sl.resp), sl.hist.quantile(0.99, sl.resp)
		res.Timeline[s] = sec
	}
	if res.WaitingRoom != nil {
		// The room's queue every 10ms to the end of the schedule (its
		// longest) and at the end of each second of the timeline, in one
		// pass over the schedule.
		q := plan.RoomQueue()
		step, sec := int64(10*time.Millisecond), int64(time.Second)
		for t := int64(0); t <= max(int64(plan.End), int64(len(res.Timeline))*sec); t += step {
			n := int64(q.At(t))
			if t <= int64(plan.End) {
				res.WaitingRoom.MaxQueue = max(res.WaitingRoom.MaxQueue, n)
			}
			if i := t / sec; t%sec == 0 && i > 0 && i <= int64(len(res.Timeline)) {
				res.Timeline[i-1].Queue = n
			}
		}
	}
	return res, nil
}

// mergeCauses adds up the workers' failures and conflicts by cause, most
// frequent first.
func mergeCauses(workers []*worker) []results.Cause {
	merged := map[causeKey]*results.Cause{}
	var out []results.Cause
	for _, w := range workers {
		for k, c := range w.rec.causes {
			m := merged[k]
			if m == nil {
				m = &results.Cause{Kind: causeKind(k.kind), Class: k.class, Sample: c.sample}
				merged[k] = m
			}
			m.Count += c.n
			if m.Sample == "" {
				m.Sample = c.sample
			}
		}
	}
	for _, m := range merged {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b results.Cause) int {
		switch {
		case a.Count != b.Count:
			return cmp.Compare(b.Count, a.Count)
		case a.Kind != b.Kind:
			return cmp.Compare(a.Kind, b.Kind)
		}
		return cmp.Compare(a.Class, b.Class)
	})
	return out
}

// errorSamples keeps a few messages of what went wrong, for
// results.json's error_samples: one of each most frequent cause of a
// failed attempt ("unknown: ..."), then the failed reads.
func errorSamples(causes []results.Cause, workers []*worker) []string {
	var out []string
	add := func(s string) {
		if len(out) < maxErrorSamples && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, c := range causes {
		if c.Sample != "" {
			add(c.Kind + ": " + c.Sample)
		}
	}
	for _, w := range workers {
		for _, e := range w.rec.errs {
			add(e)
		}
	}
	return out
}
