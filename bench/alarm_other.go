//go:build !linux

package bench

import "time"

// alarm is Linux's; elsewhere senders sleep with time.Sleep alone, which
// may wake them up to a millisecond late when the process idles.
type alarm struct{}

func newAlarm(int, func() int64) *alarm { return nil }

func (a *alarm) wait(_ int, _ int64, d time.Duration) { time.Sleep(d) }

func (a *alarm) close() {}
