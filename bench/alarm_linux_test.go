package bench

import (
	"testing"
	"time"
)

// A sender waiting through the alarm allocates nothing either, and wakes
// no earlier than asked.
func TestAlarmWaitAllocatesNothing(t *testing.T) {
	began := time.Now()
	since := func() int64 { return int64(time.Since(began)) }
	a := newAlarm(1, since)
	defer a.close()
	if n := testing.AllocsPerRun(200, func() {
		when := since() + int64(50*time.Microsecond)
		a.wait(0, when, 50*time.Microsecond)
		if now := since(); now < when {
			t.Fatalf("woke %dns early", when-now)
		}
	}); n != 0 {
		t.Errorf("%.1f allocations per wait, want 0", n)
	}
}
