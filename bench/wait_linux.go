package bench

import (
	"syscall"
	"time"
)

// prSetTimerSlack is prctl's PR_SET_TIMERSLACK.
const prSetTimerSlack = 29

// preciseSleep sleeps d on the calling thread with the kernel's timer slack
// lowered to 1ns, waking some 20-40µs late instead of the millisecond an
// idle Go runtime's timers may take. It blocks an OS thread, which the
// runtime replaces; it does not allocate.
func preciseSleep(d time.Duration) {
	syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, 1, 0)
	ts := syscall.NsecToTimespec(int64(d))
	_ = syscall.Nanosleep(&ts, nil) // an early wake (EINTR) is fine: the caller checks the clock
}
