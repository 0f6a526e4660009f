package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/stampede-bench/stampede/bench/results"
	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
)

// tickNS is the resolution of the answers counted for fault windows and
// recovery times.
const tickNS = int64(100 * time.Millisecond)

// ticksPerSecond is the number of ticks in a second.
const ticksPerSecond = int64(time.Second) / tickNS

// tick counts the attempts answered during one tickNS, by kind.
type tick struct{ answered, unknown, errors uint32 }

// tickAnswer counts an answer at end (ns since the start, in s's second).
func (s *second) tickAnswer(o targets.Outcome, end int64) {
	t := &s.ticks[end/tickNS%ticksPerSecond]
	switch o {
	case targets.Unknown:
		t.unknown++
	case targets.Error:
		t.errors++
	default:
		t.answered++
	}
}

// TargetFaults converts a scenario's faults to the contract's.
func TargetFaults(fs []scenario.Fault) []targets.Fault {
	out := make([]targets.Fault, len(fs))
	for i, f := range fs {
		out[i] = targetFault(f)
	}
	return out
}

func targetFault(f scenario.Fault) targets.Fault {
	return targets.Fault{Kind: f.Kind, On: f.On, At: f.At.D(), For: f.For.D(), Latency: f.Latency.D(), Jitter: f.Jitter.D()}
}

// uses reports whether a design whose backend is described by backend
// (targets.Info.Backend) runs on the fault's backend.
func uses(backend, on string) bool {
	b := strings.ToLower(backend)
	switch on {
	case targets.FaultOnPostgres:
		return strings.Contains(b, "postgres")
	case targets.FaultOnNATS:
		return strings.Contains(b, "nats")
	}
	return false
}

// faultRun puts a run's faults into the backends on schedule, one at a
// time, and undoes each after its length, or at once when the run stops.
type faultRun struct {
	stop chan struct{}
	done chan struct{}
	once sync.Once

	windows []results.FaultWindow // written by the goroutine, read after done
}

// startFaults starts putting faults into inj from began on. A fault on a
// backend the design does not use (per backend, its Info.Backend) is
// skipped and said so.
func startFaults(ctx context.Context, inj targets.Injector, faults []scenario.Fault, backend string, began time.Time) *faultRun {
	fr := &faultRun{stop: make(chan struct{}), done: make(chan struct{})}
	since := func() float64 { return time.Since(began).Seconds() }
	go func() {
		defer close(fr.done)
		for _, sf := range faults {
			f := targetFault(sf)
			w := results.FaultWindow{Fault: sf.String(), Kind: f.Kind, On: f.On, StartS: f.At.Seconds(), EndS: (f.At + f.For).Seconds()}
			if !uses(backend, f.On) {
				w.Skipped = fmt.Sprintf("the design does not run on %s", f.On)
				fr.windows = append(fr.windows, w)
				continue
			}
			if !fr.wait(ctx, began.Add(f.At)) {
				w.Skipped = "the run ended before it was due"
				fr.windows = append(fr.windows, w)
				continue
			}
			w.StartS = since()
			undo, err := inj.InjectFault(ctx, f)
			if err != nil {
				w.Error, w.EndS = err.Error(), w.StartS
				fr.windows = append(fr.windows, w)
				continue
			}
			if n, ok := inj.(interface{ FaultNote() string }); ok {
				w.Note = n.FaultNote()
			}
			fr.wait(ctx, began.Add(f.At+f.For))
			// Undo whatever happens to the run: a server left stopped or
			// down would outlive it.
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			if err := undo(uctx); err != nil {
				w.Error = "undoing it: " + err.Error()
			}
			cancel()
			w.EndS = since()
			fr.windows = append(fr.windows, w)
		}
	}()
	return fr
}

// wait waits until t, until the run stops or until ctx ends (Ctrl-C: the
// fault in place is undone at once, not once the attempts it holds up give
// up); it reports whether t came.
func (fr *faultRun) wait(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-fr.stop:
		return false
	case <-ctx.Done():
		return false
	}
}

// finish stops the schedule (undoing the fault in place) and waits for it.
func (fr *faultRun) finish() []results.FaultWindow {
	fr.once.Do(func() { close(fr.stop) })
	<-fr.done
	return fr.windows
}

// faultWindows counts, for each window, the answers the workers recorded
// during it (in the run's timeline, all folded) and the time to recover
// after it.
func faultWindows(windows []results.FaultWindow, tl *timeline) []results.FaultWindow {
	ticks := make([]tick, 0, len(tl.secs)*int(ticksPerSecond))
	for i := range tl.secs {
		ticks = append(ticks, tl.secs[i].ticks[:]...)
	}
	// last is the last tick with an answer: the run's end for recovery.
	last := -1
	for i, t := range ticks {
		if t.answered+t.unknown+t.errors > 0 {
			last = i
		}
	}
	perSecond := int(time.Second / time.Duration(tickNS))
	for k := range windows {
		w := &windows[k]
		if w.Skipped != "" || w.Error != "" && w.EndS == w.StartS {
			continue
		}
		from, to := int(w.StartS*1e9)/int(tickNS), int(w.EndS*1e9)/int(tickNS)
		for i := from; i <= to && i < len(ticks); i++ {
			w.Answers += int64(ticks[i].answered)
			w.Unknown += int64(ticks[i].unknown)
			w.Errors += int64(ticks[i].errors)
		}
		// The rate before: the 2s before the fault (or as much of them as
		// the run had, if at least half a second).
		lo := max(from-2*perSecond, 0)
		if from-lo < perSecond/2 {
			continue
		}
		var before int64
		for i := lo; i < from && i < len(ticks); i++ {
			before += int64(ticks[i].answered)
		}
		w.BeforePerS = float64(before) / (float64(from-lo) * float64(tickNS) / 1e9)
		if w.BeforePerS <= 0 {
			continue
		}
		// Recovered at the first tick from the end on whose 1s window has
		// 90% of that rate again.
		// back reports whether the 1s window from tick i holds 90% of it.
		back := func(i int) bool {
			var n int64
			for j := i; j < i+perSecond; j++ {
				n += int64(ticks[j].answered)
			}
			return float64(n) >= 0.9*w.BeforePerS
		}
		end := int(w.EndS*1e9) / int(tickNS)
		w.Unmeasured = true // until a whole second after the end is seen
		for i := end; i+perSecond-1 <= last; i++ {
			w.Unmeasured = false
			if back(i) {
				rec := max(float64(int64(i)*tickNS)/1e9-w.EndS, 0)
				w.RecoveryS = &rec
				break
			}
		}
		// Failover looks at the windows wholly within the fault, then at
		// those after it: a window across its end would count the burst
		// of a server back from a crash as a failover.
		for i := from; i+perSecond-1 <= last; i++ {
			if i+perSecond > end && i < end {
				continue
			}
			if back(i) {
				fo := max(float64(int64(i)*tickNS)/1e9-w.StartS, 0)
				w.FailoverS = &fo
				break
			}
		}
	}
	return windows
}
