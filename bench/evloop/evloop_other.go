//go:build !linux

package evloop

import (
	"errors"
	"time"

	"github.com/stampede-bench/stampede/targets"
)

// ErrUnsupported is New's error where there is no epoll.
var ErrUnsupported = errors.New("evloop: needs Linux (epoll)")

// Loop is Linux-only; elsewhere New fails and callers use goroutines.
type Loop struct{}

// FD is a descriptor registered with a loop.
type FD struct{}

func New() (*Loop, error)                               { return nil, ErrUnsupported }
func (l *Loop) Go(fn func())                            {}
func (l *Loop) Register(fd int) (targets.LoopFD, error) { return nil, ErrUnsupported }
func (f *FD) Unregister()                               {}
func (f *FD) Wait(deadline time.Time) error             { return ErrUnsupported }
func (l *Loop) Sleep(d time.Duration)                   {}
func (l *Loop) Self() targets.Waker                     { return nil }
func (l *Loop) Park(time.Time) error                    { return ErrUnsupported }
func (l *Loop) Cancelled() bool                         { return true }
func (l *Loop) Cancel()                                 {}
func (l *Loop) Run() error                              { return ErrUnsupported }
func (l *Loop) Close() error                            { return nil }

var _ targets.Loop = (*Loop)(nil)
