//go:build linux

// Package evloop runs many tasks from one goroutine, the way pgbench and
// wrk drive their connections: each task is plain blocking code on a
// coroutine of its own (iter.Pull), and where it would block on a socket or
// a timer it hands control back to the loop, which waits for all of them
// in one epoll_wait.
//
// A goroutine per connection costs the Go scheduler a park, a wake-up and
// often a thread hand-off per round trip; on a small machine shared with
// the server under test that is a tenth of the throughput. The loop
// switches between tasks without the scheduler.
package evloop

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/stampede-bench/stampede/targets"
	"golang.org/x/sys/unix"
)

// ErrNotTask is the panic of a wait called from outside the loop's tasks.
var ErrNotTask = errors.New("evloop: wait called outside a task of the loop")

// maxBlock bounds each epoll_wait, so the loop comes back to Go code (and
// its safe points) at least this often even when nothing happens.
const maxBlock = 5 * time.Millisecond

// Loop runs tasks. Go adds tasks before Run; Run, the tasks and their waits
// belong to one goroutine. Cancel may be called from any goroutine.
type Loop struct {
	ep     int
	wakeFD int // eventfd: Cancel interrupts epoll_wait through it
	tasks  []*task
	cur    *task
	fds    []*task // registered descriptors, by registration index
	timers timerHeap
	evs    []unix.EpollEvent
	ready  []*task // parked tasks a Waker woke, to resume
	live   int
	// raw: epoll_wait is entered without telling the scheduler (see wait).
	raw       bool
	cancelled atomic.Bool
	closed    bool
}

type task struct {
	l     *Loop
	next  func() (struct{}, bool)
	stop  func()
	yield func(struct{}) bool
	// the wait the task is parked in
	waiting bool
	parked  bool      // in Park: a Waker may wake it
	fd      int       // the registration index waited on, or -1
	at      time.Time // its deadline, when hidx >= 0
	hidx    int       // its place in the timer heap, or -1
	err     error
}

// New returns an empty loop. Close releases it.
func New() (*Loop, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("evloop: epoll_create1: %w", err)
	}
	wfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(ep)
		return nil, fmt.Errorf("evloop: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: -1}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, wfd, &ev); err != nil {
		unix.Close(ep)
		unix.Close(wfd)
		return nil, fmt.Errorf("evloop: epoll_ctl: %w", err)
	}
	// With one P, a raw epoll_wait would hold the only P while it blocks
	// and starve the process's other goroutines until preempted.
	return &Loop{ep: ep, wakeFD: wfd, evs: make([]unix.EpollEvent, 128), raw: runtime.GOMAXPROCS(0) > 1}, nil
}

// Go adds a task that runs fn. It must be called before Run.
func (l *Loop) Go(fn func()) {
	t := &task{l: l, fd: -1, hidx: -1}
	t.next, t.stop = iter.Pull(func(yield func(struct{}) bool) {
		t.yield = yield
		fn()
	})
	l.tasks = append(l.tasks, t)
}

// Register adds a non-blocking descriptor to the loop and returns the
// handle a task waits on. The descriptor stays the caller's to close, after
// Unregister or Close.
func (l *Loop) Register(fd int) (targets.LoopFD, error) {
	i := len(l.fds)
	l.fds = append(l.fds, nil)
	// Edge-triggered: a task reads or writes until EAGAIN before it waits,
	// and an edge that arrives meanwhile is kept for the next epoll_wait.
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(i)}
	if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return nil, fmt.Errorf("evloop: epoll_ctl: %w", err)
	}
	return &FD{l: l, fd: fd, idx: i}, nil
}

// FD is a descriptor registered with a loop.
type FD struct {
	l   *Loop
	fd  int
	idx int
}

// Unregister removes the descriptor from the loop.
func (f *FD) Unregister() {
	if f.l != nil && !f.l.closed {
		_ = unix.EpollCtl(f.l.ep, unix.EPOLL_CTL_DEL, f.fd, nil)
		f.l.fds[f.idx] = nil
	}
}

// Wait parks the calling task until the descriptor may be ready (for
// reading or writing: the caller tries again and waits again on EAGAIN),
// until deadline (context.DeadlineExceeded; the zero time waits without
// one), or until the loop is cancelled (context.Canceled).
func (f *FD) Wait(deadline time.Time) error {
	return f.l.park(f.idx, deadline)
}

// Sleep parks the calling task for d, or until the loop is cancelled.
func (l *Loop) Sleep(d time.Duration) {
	if d > 0 {
		_ = l.park(-1, time.Now().Add(d))
	}
}

// Self returns the calling task's Waker: a task gets its own and hands it
// to another task (a line of waiters, say), which wakes it from Park. It
// is the task itself, so handing it over does not allocate.
func (l *Loop) Self() targets.Waker {
	if l.cur == nil {
		panic(ErrNotTask)
	}
	return l.cur
}

// Park parks the calling task until a task of the loop wakes it (nil),
// until deadline (context.DeadlineExceeded; the zero time waits without
// one), or until the loop is cancelled (context.Canceled). No descriptor
// and no system call is involved: a task waiting for another, such as for
// a connection it gives back, waits here. A wake may be stale (meant for
// an earlier Park that ended otherwise): the task checks what it waited
// for, and parks again if it has not come.
func (l *Loop) Park(deadline time.Time) error {
	if l.cur != nil {
		l.cur.parked = true
	}
	return l.park(-1, deadline)
}

// Wake makes the task, if it is parked in Park, runnable again; the loop
// resumes it once the calling task yields. A task not in Park is left
// alone.
func (t *task) Wake() {
	if t.waiting && t.parked {
		t.l.ready = append(t.l.ready, t)
	}
}

// The event loop is what a targets.LoopTarget's clients run on.
var _ targets.Loop = (*Loop)(nil)

// Cancelled reports whether Cancel was called.
func (l *Loop) Cancelled() bool { return l.cancelled.Load() }

// Cancel wakes every parked task with context.Canceled, now and in every
// later wait. Safe from any goroutine.
func (l *Loop) Cancel() {
	if l.cancelled.CompareAndSwap(false, true) {
		var one = [8]byte{1}
		_, _ = unix.Write(l.wakeFD, one[:])
	}
}

func (l *Loop) park(idx int, deadline time.Time) error {
	t := l.cur
	if t == nil {
		panic(ErrNotTask)
	}
	if l.cancelled.Load() {
		return context.Canceled
	}
	t.waiting, t.fd, t.err = true, idx, nil
	if idx >= 0 {
		l.fds[idx] = t
	}
	if !deadline.IsZero() {
		t.at = deadline
		l.timers.push(t)
	}
	t.yield(struct{}{})
	return t.err
}

// wake makes the parked task t runnable again with err.
func (l *Loop) wake(t *task, err error) {
	t.waiting, t.parked, t.err = false, false, err
	if t.fd >= 0 && l.fds[t.fd] == t {
		l.fds[t.fd] = nil
	}
	if t.hidx >= 0 {
		l.timers.remove(t)
	}
	l.resume(t)
}

func (l *Loop) resume(t *task) {
	l.cur = t
	_, ok := t.next()
	l.cur = nil
	if !ok {
		l.live--
	}
}

// Run runs the tasks until every one has returned. A task's panic comes out
// of Run.
func (l *Loop) Run() error {
	l.live = len(l.tasks)
	for _, t := range l.tasks {
		l.resume(t)
	}
	l.runReady()
	for l.live > 0 {
		timeout := maxBlock
		if at, ok := l.timers.peek(); ok {
			timeout = min(timeout, max(time.Until(at), 0))
		}
		if len(l.ready) > 0 {
			timeout = 0
		}
		n, err := l.wait(timeout)
		if err != nil {
			return err
		}
		for _, ev := range l.evs[:n] {
			if ev.Fd < 0 {
				continue // Cancel's eventfd: handled below
			}
			if t := l.fds[ev.Fd]; t != nil && t.waiting {
				l.wake(t, nil)
			}
		}
		if l.cancelled.Load() {
			for _, t := range l.tasks {
				if t.waiting {
					l.wake(t, context.Canceled)
				}
			}
		}
		now := time.Now()
		for {
			tm, ok := l.timers.peek()
			if !ok || tm.After(now) {
				break
			}
			t := l.timers[0]
			var err error
			if t.fd >= 0 || t.parked {
				err = context.DeadlineExceeded
			}
			l.wake(t, err) // takes t out of the heap
		}
		l.runReady()
	}
	return nil
}

// runReady resumes the tasks Wakers woke, and those they wake in turn.
func (l *Loop) runReady() {
	for i := 0; i < len(l.ready); i++ {
		if t := l.ready[i]; t.waiting && t.parked {
			l.wake(t, nil)
		}
	}
	l.ready = l.ready[:0]
}

// wait is epoll_wait for up to d. On a machine with more than one P it is
// a raw system call: the scheduler is not told, so it neither hands the P
// to another thread nor wakes one to poll in its place, which is what made
// a blocking wait cost as much as the goroutine it replaces. The thread is
// still preemptible: a signal ends the wait with EINTR, and maxBlock bounds
// it.
func (l *Loop) wait(d time.Duration) (int, error) {
	ms := int((d + time.Millisecond - 1) / time.Millisecond)
	var n int
	var err error
	if l.raw {
		r, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_WAIT, uintptr(l.ep),
			uintptr(unsafe.Pointer(&l.evs[0])), uintptr(len(l.evs)), uintptr(ms), 0, 0)
		n = int(r)
		if e != 0 {
			err = e
		}
	} else {
		n, err = unix.EpollWait(l.ep, l.evs, ms)
	}
	switch {
	case err == unix.EINTR:
		return 0, nil // a signal: the caller goes round again
	case err != nil:
		return 0, fmt.Errorf("evloop: epoll_wait: %w", err)
	}
	return n, nil
}

// Close stops tasks that have not returned and releases the loop.
func (l *Loop) Close() error {
	if l.closed {
		return nil
	}
	l.closed = true
	for _, t := range l.tasks {
		t.stop()
	}
	unix.Close(l.wakeFD)
	return unix.Close(l.ep)
}

// timerHeap is a min-heap of the tasks parked with a deadline, by
// deadline. Each task is in it at most once (task.hidx), so it holds no
// more entries than there are tasks.
type timerHeap []*task

func (h *timerHeap) peek() (time.Time, bool) {
	if len(*h) == 0 {
		return time.Time{}, false
	}
	return (*h)[0].at, true
}

func (h *timerHeap) push(t *task) {
	t.hidx = len(*h)
	*h = append(*h, t)
	h.up(t.hidx)
}

// remove takes t out of the heap.
func (h *timerHeap) remove(t *task) {
	i, last := t.hidx, len(*h)-1
	if i != last {
		h.swap(i, last)
	}
	(*h)[last] = nil
	*h = (*h)[:last]
	t.hidx = -1
	if i != last {
		h.down(i)
		h.up(i)
	}
}

func (h timerHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx, h[j].hidx = i, j
}

func (h timerHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h[i].at.Before(h[p].at) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h timerHeap) down(i int) {
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if c+1 < len(h) && h[c+1].at.Before(h[c].at) {
			c++
		}
		if !h[c].at.Before(h[i].at) {
			return
		}
		h.swap(i, c)
		i = c
	}
}
