package embedded

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stampede-bench/stampede/targets"
)

// StartNATSChildren starts the servers opt asks for (1, or 3 clustered over
// loopback routes) as child processes of this program, so that a fault can
// pause or kill one: each is this program started again, made a
// nats-server by RunChild, in a process group of its own (on Linux with a
// death signal). Each has the options StartNATS gives an in-process server,
// on client and route ports fixed at the start (a server restarted after a
// crash comes back on the same ones, its routes with it) and with its
// JetStream store under one new temporary directory. It waits until every
// server accepts connections and JetStream answers. On error nothing is
// left running or on disk.
func StartNATSChildren(ctx context.Context, opt targets.NATSOptions) (*NATS, error) {
	if os.Getenv(childEnv) != "" {
		return nil, errInChild
	}
	for attempt := 0; ; attempt++ {
		ns, err := startNATSChildren(ctx, opt)
		// Another process may take a port between its choice and the
		// start: choose again.
		if err == nil || attempt == 2 || !errors.Is(err, errPortTaken) || ctx.Err() != nil {
			return ns, err
		}
	}
}

func startNATSChildren(ctx context.Context, opt targets.NATSOptions) (_ *NATS, err error) {
	n := max(opt.Servers, 1)
	dir, err := os.MkdirTemp("", "stampede-nats-*")
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	ns := &NATS{dir: dir}
	liveChildren.addDir(dir, true)
	defer func() {
		if err != nil {
			ns.Stop()
		}
	}()
	ports, err := freePorts(n)
	if err != nil {
		return nil, err
	}
	var routePorts []int
	if n > 1 {
		if routePorts, err = freePorts(n, ports...); err != nil {
			return nil, err
		}
	}
	for i := range n {
		cfg := natsChildConfig{
			Name: fmt.Sprintf("stampede-%d", i+1), Port: ports[i],
			StoreDir: filepath.Join(dir, fmt.Sprintf("s%d", i+1)), SyncAlways: opt.SyncAlways,
		}
		if n > 1 {
			cfg.ClusterPort = routePorts[i]
			for j, p := range routePorts {
				if j != i {
					cfg.Routes = append(cfg.Routes, p)
				}
			}
		}
		ns.children = append(ns.children, &natsChild{
			cfg: cfg, url: fmt.Sprintf("nats://127.0.0.1:%d", cfg.Port),
			dir: dir, log: filepath.Join(dir, fmt.Sprintf("s%d.log", i+1)),
		})
	}
	// Start them side by side: a cluster's server waits for its peers.
	errs := make(chan error, n)
	for _, c := range ns.children {
		go func() { errs <- c.start(ctx) }()
	}
	var startErrs []error
	for range n {
		startErrs = append(startErrs, <-errs)
	}
	if err := errors.Join(startErrs...); err != nil {
		return nil, err
	}
	urls := make([]string, n)
	for i, c := range ns.children {
		urls[i] = c.url
	}
	ns.URL = strings.Join(urls, ",")
	if err := waitJetStream(ctx, ns.URL); err != nil {
		return nil, err
	}
	return ns, nil
}

// freePorts returns n distinct free ports on 127.0.0.1, none of taken.
func freePorts(n int, taken ...int) ([]int, error) {
	seen := map[int]bool{}
	for _, p := range taken {
		seen[p] = true
	}
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		p, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("nats: free port: %w", err)
		}
		if seen[p] {
			if tries > 100 {
				return nil, errors.New("nats: free port: the kernel keeps handing out the same ports")
			}
			continue
		}
		seen[p] = true
		ports = append(ports, p)
	}
	return ports, nil
}

// LastFault describes the last fault Inject put into the servers: which
// server it paused or killed, and why that one ("killed stampede-2, the
// leader of stream TICKETS (1200 messages)"). It is empty before any.
func (ns *NATS) LastFault() string {
	ns.faultMu.Lock()
	defer ns.faultMu.Unlock()
	return ns.lastFault
}

// Inject puts a pause or a crash into one server of those StartNATSChildren
// started, and returns the function that undoes it. The server is, on a
// cluster, the leader of the stream the run uses (the stream with the most
// messages), else the only one:
//
//   - pause: SIGSTOP to its process group; undo sends SIGCONT and waits
//     until JetStream answers through it again;
//   - crash: SIGKILL to its process group; undo starts it again with the
//     same options, store directory and ports, and waits until it accepts
//     connections and JetStream answers through it (a cluster: it has
//     rejoined).
//
// LastFault says which server it chose. Servers started in-process
// (StartNATS) take no fault: the error wraps targets.ErrFault.
func (ns *NATS) Inject(ctx context.Context, f targets.Fault) (func(context.Context) error, error) {
	if f.Kind != targets.FaultPause && f.Kind != targets.FaultCrash {
		return nil, fmt.Errorf("%w: %s on nats (accepted: pause, crash)", targets.ErrFault, f.Kind)
	}
	ns.faultMu.Lock()
	defer ns.faultMu.Unlock()
	if len(ns.children) == 0 {
		if ns.stopped {
			return nil, fmt.Errorf("%w: %s on nats: the servers are stopped", targets.ErrFault, f.Kind)
		}
		return nil, fmt.Errorf("%w: %s on nats: the servers run inside this process; faults need them as child processes (StartNATSChildren)", targets.ErrFault, f.Kind)
	}
	c, why := ns.chooseServer(ctx)
	if c == nil {
		return nil, fmt.Errorf("%w: %s on nats: %s", targets.ErrFault, f.Kind, why)
	}
	proc := c.proc
	switch f.Kind {
	case targets.FaultPause:
		if err := stopGroup(proc); err != nil {
			return nil, fmt.Errorf("%w: pause on nats: %v", targets.ErrFault, err)
		}
		c.paused = true
		if err := waitStopped(proc.Pid); err != nil {
			_ = contGroup(proc)
			c.paused = false
			return nil, fmt.Errorf("%w: pause on nats: %v", targets.ErrFault, err)
		}
		ns.lastFault = "paused " + c.cfg.Name + why
		return func(ctx context.Context) error {
			ns.faultMu.Lock()
			defer ns.faultMu.Unlock()
			if !c.paused || c.proc != proc { // resumed by Stop, or killed since
				return nil
			}
			c.paused = false
			if err := contGroup(proc); err != nil {
				return fmt.Errorf("nats: resume %s after the pause: %w", c.cfg.Name, err)
			}
			ctx, cancel := context.WithTimeout(ctx, childStartTimeout)
			defer cancel()
			return waitJetStream(ctx, c.url)
		}, nil
	default: // crash
		if err := c.kill(); err != nil {
			return nil, err
		}
		ns.lastFault = "killed " + c.cfg.Name + why
		return func(ctx context.Context) error {
			ns.faultMu.Lock()
			defer ns.faultMu.Unlock()
			if c.proc != nil || ns.stopped { // restarted already, or stopped for good
				return nil
			}
			ctx, cancel := context.WithTimeout(ctx, childStartTimeout)
			defer cancel()
			if err := c.startRetry(ctx); err != nil {
				return fmt.Errorf("nats: restart %s after the crash: %w", c.cfg.Name, err)
			}
			if err := waitJetStream(ctx, c.url); err != nil {
				return fmt.Errorf("nats: restart %s after the crash: %w", c.cfg.Name, err)
			}
			return nil
		}, nil
	}
}

// chooseServer returns the running server a fault goes into, with why that
// one (", the leader of stream X (N messages)"): the only one, or on a
// cluster the leader of the stream with the most messages (the first
// listed of those with as many), else the first running server. With no
// server running it returns nil and why not. ns.faultMu is held.
func (ns *NATS) chooseServer(ctx context.Context) (*natsChild, string) {
	var running []*natsChild
	for _, c := range ns.children {
		if c.proc != nil && !c.paused {
			running = append(running, c)
		}
	}
	if len(running) == 0 {
		return nil, "no server is running (killed or paused by another fault)"
	}
	if len(ns.children) == 1 {
		return running[0], ", the only server"
	}
	leader, why := streamLeader(ctx, running)
	for _, c := range running {
		if c.cfg.Name == leader {
			return c, why
		}
	}
	if leader != "" {
		why = fmt.Sprintf(" (the stream's leader %s is not running)", leader)
	}
	return running[0], why
}

// streamLeader asks the cluster, through the running servers, for the
// leader of the stream with the most messages, and returns its server name
// with a description; without one, "" and why not.
func streamLeader(ctx context.Context, running []*natsChild) (string, string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	urls := make([]string, len(running))
	for i, c := range running {
		urls[i] = c.url
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.Timeout(2*time.Second), nats.Name("stampede fault"))
	if err != nil {
		return "", fmt.Sprintf(" (the stream leader is unknown: %v)", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return "", fmt.Sprintf(" (the stream leader is unknown: %v)", err)
	}
	var best *jetstream.StreamInfo
	lister := js.ListStreams(ctx)
	for si := range lister.Info() {
		if si.Cluster == nil || si.Cluster.Leader == "" {
			continue
		}
		if best == nil || si.State.Msgs > best.State.Msgs {
			best = si
		}
	}
	if best == nil {
		if err := lister.Err(); err != nil {
			return "", fmt.Sprintf(" (the stream leader is unknown: %v)", err)
		}
		return "", " (no stream has a leader)"
	}
	return best.Cluster.Leader, fmt.Sprintf(", the leader of stream %s (%d messages)", best.Config.Name, best.State.Msgs)
}
