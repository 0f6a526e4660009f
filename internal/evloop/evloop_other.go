//go:build !linux

package evloop

import (
	"errors"
	"time"
)

// ErrUnsupported is New's error where there is no epoll.
var ErrUnsupported = errors.New("evloop: needs Linux (epoll)")

// Loop is Linux-only; elsewhere New fails and callers use goroutines.
type Loop struct{}

// FD is a descriptor registered with a loop.
type FD struct{}

// Waker wakes a task parked with Park.
type Waker struct{}

func New() (*Loop, error)                   { return nil, ErrUnsupported }
func (l *Loop) Go(fn func())                {}
func (l *Loop) Register(fd int) (FD, error) { return FD{}, ErrUnsupported }
func (f FD) Unregister()                    {}
func (f FD) Wait(deadline time.Time) error  { return ErrUnsupported }
func (l *Loop) Sleep(d time.Duration)       {}
func (l *Loop) Self() Waker                 { return Waker{} }
func (l *Loop) Park(time.Time) error        { return ErrUnsupported }
func (w Waker) Wake()                       {}
func (l *Loop) Cancelled() bool             { return true }
func (l *Loop) Cancel()                     {}
func (l *Loop) Run() error                  { return ErrUnsupported }
func (l *Loop) Close() error                { return nil }
