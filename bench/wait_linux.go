package bench

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// sleeper waits precisely on Linux: a timerfd read through Go's netpoller.
// The goroutine parks, no OS thread is held, and it wakes on the timer's
// event some 20-40µs late, where the runtime's own timers may take a
// millisecond when the process idles (its poller waits in whole
// milliseconds). It does not allocate. A sleeper belongs to one worker.
type sleeper struct {
	fd  int
	f   *os.File
	buf [8]byte
}

// newSleeper returns a sleeper, or nil if the kernel refuses a timerfd, in
// which case sleep falls back to time.Sleep.
func newSleeper() *sleeper {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil
	}
	return &sleeper{fd: fd, f: os.NewFile(uintptr(fd), "timerfd")}
}

func (s *sleeper) sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	if s != nil {
		spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
		if unix.TimerfdSettime(s.fd, 0, &spec, nil) == nil {
			if _, err := s.f.Read(s.buf[:]); err == nil {
				return
			}
		}
	}
	time.Sleep(d)
}

func (s *sleeper) close() {
	if s != nil {
		s.f.Close()
	}
}
