package bench

import (
	"sync"
	"testing"
	"time"

	"github.com/stampede-bench/stampede/bench/scenario"
)

// streamed returns the whole of plan's schedule.
func streamed(plan *scenario.Plan) []scenario.Submission {
	var out []scenario.Submission
	for st := plan.Stream(); ; {
		s, ok := st.Next()
		if !ok {
			return out
		}
		out = append(out, s)
	}
}

// Senders taking from a feed whose ring is much smaller than the schedule
// get every submission once, as the stream has it, however they race the
// producer and each other.
func TestFeedHandsEverySubmissionOnce(t *testing.T) {
	sc := mustBuiltin(t, "flash-crowd") // double-clicks: resubmissions merged in
	plan := scenario.NewPlan(sc)
	want := streamed(plan)
	for _, slots := range []int{4, 64, 4096} {
		f := newFeed(plan, slots)
		var next sync.Mutex // the test's claim counter; the engine's is atomic
		claim := uint64(0)
		got := make([]scenario.Submission, len(want))
		taken := make([]int, len(want))
		f.start()
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					next.Lock()
					i := claim
					claim++
					next.Unlock()
					if i >= f.n {
						return
					}
					s := f.take(i)
					got[i] = s
					taken[i]++
				}
			}()
		}
		wg.Wait()
		f.finish()
		for i := range want {
			if taken[i] != 1 || got[i] != want[i] {
				t.Fatalf("%d slots: submission %d taken %d times as %+v, want once as %+v", slots, i, taken[i], got[i], want[i])
			}
		}
	}
}

// A feed stopped part way gives the submissions nobody took, in order,
// from its ring and then from its stream.
func TestFeedRest(t *testing.T) {
	plan := scenario.NewPlan(mustBuiltin(t, "flash-crowd"))
	want := streamed(plan)
	f := newFeed(plan, 64)
	f.start()
	const took = 1000
	for i := range uint64(took) {
		if s := f.take(i); s != want[i] {
			t.Fatalf("submission %d: %+v, want %+v", i, s, want[i])
		}
	}
	f.finish() // wherever the producer got to in refilling the ring

	f.finish() // twice is fine
	i := took
	f.rest(took, func(s scenario.Submission) bool {
		if s != want[i] {
			t.Fatalf("rest: submission %d: %+v, want %+v", i, s, want[i])
		}
		i++
		return i < len(want)-5
	})
	if i != len(want)-5 {
		t.Errorf("rest stopped at %d, want %d", i, len(want)-5)
	}
}

// A run stopped early whose schedule is many rings long: the senders
// take through the ring as the producer refills it, and every buyer not
// sent is counted, the rest of the schedule without being generated.
func TestLongScheduleStoppedEarly(t *testing.T) {
	sc := testScenario(100_000, 3*time.Second, 4) // 300,000 submissions: 4.6 rings
	sc.Stop.Duration = scenario.Duration(time.Second)
	res := runTarget(t, t.Context(), "memory", sc)
	o := res.Orders
	if o.Scheduled != 300_000 || o.Submissions+o.QueuedAtEnd+o.NotDue != o.Scheduled || o.NotDue < 150_000 || o.NotDue > 210_000 {
		t.Errorf("scheduled %d: submissions %d + queued %d + not due %d; want 300000, about 200000 not due",
			o.Scheduled, o.Submissions, o.QueuedAtEnd, o.NotDue)
	}
}
