package bench

import (
	"math"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// alarm makes Go's own timers precise for every sender of an open-loop run
// with one kernel timer.
//
// A sender due to send in d sleeps with time.Sleep, which costs no system
// call while the runtime is awake; but when the process idles the runtime
// waits in epoll_wait, whose timeout is in whole milliseconds, and would
// fire the timer up to a millisecond late. So the alarm keeps one timerfd
// armed for the earliest moment any sender waits for; when it fires, the
// runtime wakes and runs every timer that is due. One fire serves every
// sender due by then, where a kernel timer per sender costs, per send, a
// system call to arm it, an interrupt and a wake-up through the netpoller
// (on a virtual machine, arming a timer exits to the hypervisor): at
// 100,000 orders/s that was most of the generator's CPU and a p99 send
// lag of milliseconds.
//
// Senders publish the time they wait for in a slot of their own and arm
// the alarm only when theirs is earlier than the one armed (a CAS, no
// lock); the alarm's goroutine (run) arms it again after each fire for the
// earliest time still awaited.
type alarm struct {
	fd    int
	f     *os.File
	off   int64        // CLOCK_MONOTONIC minus the run's clock (run.since), ns
	armed atomic.Int64 // when (run ns) the timerfd is armed for; math.MaxInt64: not armed
	due   []dueSlot    // per sender: the time it waits for; 0: not waiting
	stop  atomic.Bool
	done  chan struct{}
	buf   [8]byte
}

// dueSlot is a sender's published wake-up time, alone on its cache line.
type dueSlot struct {
	atomic.Int64
	_ [56]byte
}

const (
	// alarmMargin puts the alarm just after the Go timer it wakes the
	// runtime for, so that the timer is due when the runtime looks.
	alarmMargin = 3 * time.Microsecond
	// alarmRetry is how soon the alarm looks again for a sender whose
	// time has come but who has not run yet, lest the runtime then sleep
	// a whole millisecond.
	alarmRetry = 20 * time.Microsecond
)

// newAlarm returns an alarm for n senders of a run whose clock is since,
// with its goroutine running, or nil if the kernel refuses a timerfd (the
// senders then sleep with time.Sleep alone).
func newAlarm(n int, since func() int64) *alarm {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil
	}
	a := &alarm{fd: fd, f: os.NewFile(uintptr(fd), "alarm"), due: make([]dueSlot, n), done: make(chan struct{})}
	a.armed.Store(math.MaxInt64)
	// Both clocks are CLOCK_MONOTONIC; the offset comes from the closest
	// of a few reads.
	closest := int64(math.MaxInt64)
	for range 5 {
		var ts unix.Timespec
		before := since()
		if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) != nil {
			a.f.Close()
			return nil
		}
		after := since()
		if after-before < closest {
			closest = after - before
			a.off = ts.Nano() - (before+after)/2
		}
	}
	go a.run(since)
	return a
}

// set arms the timerfd for when (run ns).
func (a *alarm) set(when int64) {
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(when + a.off + int64(alarmMargin))}
	_ = unix.TimerfdSettime(a.fd, unix.TFD_TIMER_ABSTIME, &spec, nil)
}

// wait sleeps sender s until when (run ns), d from now. It allocates
// nothing and takes no lock.
func (a *alarm) wait(s int, when int64, d time.Duration) {
	a.due[s].Store(when)
	for {
		cur := a.armed.Load()
		if cur <= when {
			break // an earlier alarm wakes the runtime; run then arms for this one
		}
		if a.armed.CompareAndSwap(cur, when) {
			a.set(when)
			break
		}
	}
	time.Sleep(d)
	a.due[s].Store(0)
}

// run arms the alarm again after each fire for the earliest time a sender
// still waits for, until close.
func (a *alarm) run(since func() int64) {
	defer close(a.done)
	for {
		if _, err := a.f.Read(a.buf[:]); err != nil || a.stop.Load() {
			return
		}
		// Let the timers that are due run first: their senders send now;
		// the next alarm can wait a moment.
		runtime.Gosched()
		for {
			now := since()
			next := int64(math.MaxInt64)
			for i := range a.due {
				if d := a.due[i].Load(); d != 0 && d < next {
					next = d
				}
			}
			if next != math.MaxInt64 {
				next = max(next, now+int64(alarmRetry))
			}
			cur := a.armed.Load()
			if next >= cur && cur > now {
				break // armed early enough already
			}
			if !a.armed.CompareAndSwap(cur, next) {
				continue // a sender armed it meanwhile: look again
			}
			if next == math.MaxInt64 {
				break // nobody waits: the next sender arms it
			}
			a.set(next)
		}
	}
}

// close stops the alarm's goroutine, once the senders are done, and
// releases the timer.
func (a *alarm) close() {
	a.stop.Store(true)
	now := unix.ItimerSpec{Value: unix.Timespec{Nsec: 1}}
	_ = unix.TimerfdSettime(a.fd, 0, &now, nil) // wake run to see stop
	<-a.done
	a.f.Close()
}
