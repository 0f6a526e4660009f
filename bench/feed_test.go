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
	for _, slots := range []int{128, 256, 4096} {
		f := newFeed(plan, slots)
		got := make([][]scenario.Submission, 8)
		f.start()
		var wg sync.WaitGroup
		for k := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var seen uint64
				for {
					s, ok := f.take(&seen)
					if !ok {
						return
					}
					got[k] = append(got[k], s)
				}
			}()
		}
		wg.Wait()
		f.finish()
		taken := make([]int, len(want))
		for k := range got {
			for j, s := range got[k] {
				if s.I < 0 || s.I >= len(want) || s != want[s.I] {
					t.Fatalf("%d slots: sender %d took %+v, not a submission of the schedule", slots, k, s)
				}
				if j > 0 && got[k][j-1].I >= s.I {
					t.Fatalf("%d slots: sender %d took %d after %d: not in order", slots, k, s.I, got[k][j-1].I)
				}
				taken[s.I]++
			}
		}
		for i, n := range taken {
			if n != 1 {
				t.Fatalf("%d slots: submission %d taken %d times, want once", slots, i, n)
			}
		}
	}
}

// A feed stopped part way gives the submissions nobody claimed, in order,
// from its ring and then from its stream.
func TestFeedUnclaimed(t *testing.T) {
	plan := scenario.NewPlan(mustBuiltin(t, "flash-crowd"))
	want := streamed(plan)
	f := newFeed(plan, 128)
	f.start()
	const took = 1000
	var seen uint64
	for i := range took {
		if s, ok := f.take(&seen); !ok || s != want[i] {
			t.Fatalf("submission %d: %+v, want %+v", i, s, want[i])
		}
	}
	f.finish() // wherever the producer got to in refilling the ring
	f.finish() // twice is fine
	i := took
	f.unclaimed(func(s scenario.Submission) bool {
		if s != want[i] {
			t.Fatalf("unclaimed: submission %d: %+v, want %+v", i, s, want[i])
		}
		i++
		return i < len(want)-5
	})
	if i != len(want)-5 {
		t.Errorf("unclaimed stopped at %d, want %d", i, len(want)-5)
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
