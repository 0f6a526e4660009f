package embedded

import (
	"context"
	"fmt"
	"time"

	"github.com/stampede-bench/stampede/targets"
)

// Inject puts a pause or a crash into the server now and returns the
// function that undoes it:
//
//   - pause: SIGSTOP to the postmaster and every backend (its process
//     group); undo sends SIGCONT;
//   - crash: SIGKILL to them all, as a power cut would leave the
//     processes (not the disk: data in the OS page cache survives); undo
//     starts the server again on the same data directory and port, which
//     runs crash recovery from the write-ahead log, and waits until it
//     accepts connections.
func (p *Postgres) Inject(ctx context.Context, f targets.Fault) (func(context.Context) error, error) {
	p.faultMu.Lock()
	defer p.faultMu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return nil, fmt.Errorf("%w: %s on postgres: the server is not running", targets.ErrFault, f.Kind)
	}
	proc := p.cmd.Process
	switch f.Kind {
	case targets.FaultPause:
		if err := stopGroup(proc); err != nil {
			return nil, fmt.Errorf("%w: pause on postgres: %v", targets.ErrFault, err)
		}
		p.paused = true
		if err := waitStopped(proc.Pid); err != nil {
			_ = contGroup(proc)
			p.paused = false
			return nil, fmt.Errorf("%w: pause on postgres: %v", targets.ErrFault, err)
		}
		return func(context.Context) error {
			p.faultMu.Lock()
			defer p.faultMu.Unlock()
			if !p.paused || p.cmd == nil || p.cmd.Process != proc {
				return nil
			}
			p.paused = false
			if err := contGroup(proc); err != nil {
				return fmt.Errorf("postgres: resume after the pause: %w", err)
			}
			return nil
		}, nil
	case targets.FaultCrash:
		killGroup(proc)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			return nil, fmt.Errorf("postgres: crash: the server did not die within 10s of SIGKILL")
		}
		p.cmd = nil
		return func(ctx context.Context) error {
			p.faultMu.Lock()
			defer p.faultMu.Unlock()
			if p.cmd != nil || p.dir == "" { // restarted already, or stopped for good
				return nil
			}
			ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			if err := p.start(ctx, p.postgres, p.args, p.cred); err != nil {
				return fmt.Errorf("postgres: restart after the crash: %w", err)
			}
			return nil
		}, nil
	}
	return nil, fmt.Errorf("%w: %s on postgres (accepted: pause, crash; latency, blackhole and reset go through the proxy)", targets.ErrFault, f.Kind)
}
