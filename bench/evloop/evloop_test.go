//go:build linux

package evloop

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stampede-bench/stampede/targets"
	"golang.org/x/sys/unix"
)

// pipe returns a non-blocking pipe, closed at the end of the test.
func pipe(t testing.TB) (r, w int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	return p[0], p[1]
}

func newLoop(t testing.TB) *Loop {
	t.Helper()
	l, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// readByte reads one byte from fd, waiting through the loop.
func readByte(f targets.LoopFD, fd int, deadline time.Time) (byte, error) {
	var b [1]byte
	for {
		n, err := unix.Read(fd, b[:])
		if err == unix.EAGAIN {
			if err := f.Wait(deadline); err != nil {
				return 0, err
			}
			continue
		}
		if err != nil {
			return 0, err
		}
		if n == 0 {
			return 0, errors.New("EOF")
		}
		return b[0], nil
	}
}

// runLoop runs l in its own goroutine and fails the test if it has not
// returned within limit (a bound on a hang, not a timing assertion).
func runLoop(t *testing.T, l *Loop, limit time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- l.Run() }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		t.Fatalf("the loop did not return within %v", limit)
		return nil
	}
}

// Tasks blocked on their own descriptors resume in the order their data
// arrives, not the order they started.
func TestTasksResumeAsDataArrives(t *testing.T) {
	l := newLoop(t)
	const n = 5
	var order []int
	writers := make([]int, n)
	for i := range n {
		r, w := pipe(t)
		writers[i] = w
		f, err := l.Register(r)
		if err != nil {
			t.Fatal(err)
		}
		l.Go(func() {
			b, err := readByte(f, r, time.Time{})
			if err != nil {
				t.Errorf("task %d: %v", i, err)
				return
			}
			order = append(order, int(b))
		})
	}
	// Feed the pipes from last to first, one at a time, each only after the
	// task before it has read: a task that resumed early would read nothing
	// and wait again, so the order is the feed order.
	l.Go(func() {
		for i := n - 1; i >= 0; i-- {
			if _, err := unix.Write(writers[i], []byte{byte(i)}); err != nil {
				t.Error(err)
			}
			l.Sleep(time.Millisecond)
		}
	})
	if err := runLoop(t, l, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if want := []int{4, 3, 2, 1, 0}; !slices.Equal(order, want) {
		t.Errorf("tasks resumed in order %v, want %v", order, want)
	}
}

func TestWaitDeadline(t *testing.T) {
	l := newLoop(t)
	r, _ := pipe(t)
	f, err := l.Register(r)
	if err != nil {
		t.Fatal(err)
	}
	var got error
	var waited time.Duration
	l.Go(func() {
		start := time.Now()
		_, got = readByte(f, r, start.Add(30*time.Millisecond))
		waited = time.Since(start)
	})
	if err := runLoop(t, l, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(got, context.DeadlineExceeded) {
		t.Errorf("a wait past its deadline returned %v, want context.DeadlineExceeded", got)
	}
	if waited < 30*time.Millisecond {
		t.Errorf("the wait gave up after %v, before its 30ms deadline", waited)
	}
}

func TestSleepOrder(t *testing.T) {
	l := newLoop(t)
	var woke []int
	for _, ms := range []int{30, 10, 20} {
		l.Go(func() {
			start := time.Now()
			l.Sleep(time.Duration(ms) * time.Millisecond)
			if d := time.Since(start); d < time.Duration(ms)*time.Millisecond {
				t.Errorf("Sleep(%dms) returned after %v", ms, d)
			}
			woke = append(woke, ms)
		})
	}
	if err := runLoop(t, l, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if want := []int{10, 20, 30}; !slices.Equal(woke, want) {
		t.Errorf("sleepers woke in order %v, want %v", woke, want)
	}
}

// A deadline left behind by a wait that data ended must not cut short the
// task's next wait.
func TestStaleDeadlineIgnored(t *testing.T) {
	l := newLoop(t)
	r, w := pipe(t)
	f, err := l.Register(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(w, []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	l.Go(func() {
		if _, err := readByte(f, r, time.Now().Add(10*time.Millisecond)); err != nil {
			t.Error(err)
		}
		if _, err := readByte(f, r, time.Now().Add(10*time.Millisecond)); err != nil {
			t.Error(err)
		}
		// The first two waits ended with data well before their deadlines.
		start := time.Now()
		var got error
		_, got = readByte(f, r, start.Add(100*time.Millisecond))
		if !errors.Is(got, context.DeadlineExceeded) {
			t.Errorf("third wait: %v, want its own deadline", got)
		}
		if d := time.Since(start); d < 100*time.Millisecond {
			t.Errorf("third wait ended after %v: a stale 10ms deadline woke it", d)
		}
	})
	if err := runLoop(t, l, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestCancelWakesEveryTask(t *testing.T) {
	l := newLoop(t)
	const n = 4
	errs := make([]error, n)
	for i := range n {
		r, _ := pipe(t)
		f, err := l.Register(r)
		if err != nil {
			t.Fatal(err)
		}
		l.Go(func() { _, errs[i] = readByte(f, r, time.Time{}) })
	}
	// Tasks first run in the order they were added: when this one runs,
	// the others are parked, and Cancel comes from another goroutine.
	l.Go(func() {
		go l.Cancel()
		l.Sleep(time.Hour)
	})
	if err := runLoop(t, l, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("task %d: %v, want context.Canceled", i, err)
		}
	}
	if !l.Cancelled() {
		t.Error("Cancelled() is false after Cancel")
	}
}

func TestPanicLeavesRun(t *testing.T) {
	l := newLoop(t)
	l.Go(func() { l.Sleep(time.Millisecond); panic("boom") })
	defer func() {
		if r := recover(); r != "boom" {
			t.Errorf("recovered %v, want the task's panic", r)
		}
	}()
	l.Run()
	t.Error("Run returned although a task panicked")
}

func TestWaitOutsideTask(t *testing.T) {
	l := newLoop(t)
	defer func() {
		if r := recover(); r != ErrNotTask {
			t.Errorf("recovered %v, want ErrNotTask", r)
		}
	}()
	l.Sleep(time.Millisecond)
}

// BenchmarkPingPong passes a byte back and forth between two tasks through
// two pipes: two waits, two reads and two writes per op, and no allocation.
func BenchmarkPingPong(b *testing.B) {
	l := newLoop(b)
	ar, aw := pipe(b)
	br, bw := pipe(b)
	fa, err := l.Register(ar)
	if err != nil {
		b.Fatal(err)
	}
	fb, err := l.Register(br)
	if err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(time.Hour)
	one := []byte{1}
	l.Go(func() {
		for range b.N {
			unix.Write(aw, one)
			if _, err := readByte(fb, br, deadline); err != nil {
				b.Error(err)
				return
			}
		}
	})
	l.Go(func() {
		for range b.N {
			if _, err := readByte(fa, ar, deadline); err != nil {
				b.Error(err)
				return
			}
			unix.Write(bw, one)
		}
	})
	b.ReportAllocs()
	b.ResetTimer()
	if err := l.Run(); err != nil {
		b.Fatal(err)
	}
}

// Park and Wake: a task parks until another wakes it, with no descriptor;
// a Park's deadline ends it with DeadlineExceeded, and a Wake of a task
// not parked does nothing.
func TestParkAndWake(t *testing.T) {
	l := newLoop(t)
	var order []string
	var waiter targets.Waker
	var ready bool
	l.Go(func() {
		waiter = l.Self()
		for !ready { // a stale wake would be checked here
			if err := l.Park(time.Time{}); err != nil {
				t.Errorf("park: %v", err)
				return
			}
		}
		order = append(order, "woken")
	})
	l.Go(func() {
		l.Self().Wake() // not parked: nothing happens
		err := l.Park(time.Now().Add(5 * time.Millisecond))
		order = append(order, "deadline")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("park with a deadline: %v, want DeadlineExceeded", err)
		}
		ready = true
		waiter.Wake()
		order = append(order, "waker")
	})
	if err := l.Run(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"deadline", "waker", "woken"}; !slices.Equal(order, want) {
		t.Errorf("order %v, want %v: a woken task resumes once its waker yields", order, want)
	}
}

// Cancel ends a Park with Canceled.
func TestParkCancelled(t *testing.T) {
	l := newLoop(t)
	var err error
	l.Go(func() { err = l.Park(time.Time{}) })
	l.Go(func() { l.Cancel() })
	if rerr := l.Run(); rerr != nil {
		t.Fatal(rerr)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("park of a cancelled loop: %v, want Canceled", err)
	}
}
