//go:build !linux

package bench

import "time"

// sleeper waits with time.Sleep elsewhere than Linux.
type sleeper struct{}

func newSleeper() *sleeper { return nil }

func (s *sleeper) sleep(d time.Duration) { time.Sleep(d) }

func (s *sleeper) close() {}
