package embedded

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// A child process is an embedded server run by this same program, started
// again (os.Executable) with these variables in its environment: childEnv
// names what it runs ("nats"), natsOptionsEnv holds the nats-server's
// options as JSON (natsChildConfig). The child prints natsReadyPrefix and
// its client URL on a line of its standard output once it accepts
// connections, and shuts down on SIGTERM, SIGINT, SIGQUIT (the death
// signal on Linux) or when its standard input closes (its parent gone).
const (
	childEnv        = "STAMPEDE_EMBEDDED_CHILD"
	natsOptionsEnv  = "STAMPEDE_EMBEDDED_NATS_OPTIONS"
	natsReadyPrefix = "stampede: nats-server ready at "
)

// Bounds of a child's life: how long it may take to accept connections
// (a restart recovers its JetStream store first), and how long a shutdown
// may take before the process is killed.
const (
	childStartTimeout = 60 * time.Second
	childStopTimeout  = 5 * time.Second
)

// RunChild makes this process one of the embedded servers that
// StartNATSChildren runs as child processes, when it was started as one
// (STAMPEDE_EMBEDDED_CHILD=nats in its environment): it runs a nats-server
// with the options handed down until told to stop, then exits the process.
// Otherwise it returns at once. Programs that may start embedded NATS
// servers as children call it first thing: cli.Run (the stampede binary),
// designtest.Main (the design packages' test binaries).
func RunChild() {
	kind := os.Getenv(childEnv)
	if kind == "" {
		return
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGQUIT)
	if kind != "nats" {
		fmt.Fprintf(os.Stderr, "stampede: %s=%q: no such embedded child (accepted: nats)\n", childEnv, kind)
		os.Exit(2)
	}
	os.Exit(runNATSChild(os.Getenv(natsOptionsEnv), os.Stdin, os.Stdout, os.Stderr, sigs))
}

// natsChildConfig is what a NATS child is told of its server, the same
// options as StartNATS gives an in-process one.
type natsChildConfig struct {
	Name       string `json:"name"`
	Port       int    `json:"port"`
	StoreDir   string `json:"store_dir"`
	SyncAlways bool   `json:"sync_always,omitempty"`
	// ClusterPort is the server's route port in a cluster (0: alone);
	// Routes, the other servers' route ports.
	ClusterPort int   `json:"cluster_port,omitempty"`
	Routes      []int `json:"routes,omitempty"`
}

// serverOptions are the nats-server options: StartNATS's, on fixed ports,
// logging to standard error (the child's log file).
func (c natsChildConfig) serverOptions() *server.Options {
	o := &server.Options{
		ServerName: c.Name,
		Host:       "127.0.0.1", Port: c.Port,
		JetStream: true, StoreDir: c.StoreDir,
		NoSigs: true, Logtime: true, SyncAlways: c.SyncAlways,
	}
	if c.ClusterPort != 0 {
		o.Cluster = server.ClusterOpts{Name: "stampede", Host: "127.0.0.1", Port: c.ClusterPort}
		var routes []string
		for _, p := range c.Routes {
			routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
		}
		o.Routes = server.RoutesFromStr(strings.Join(routes, ","))
	}
	return o
}

// runNATSChild runs the server that cfgJSON describes until a signal
// arrives on sigs or stdin closes, and returns the exit code.
func runNATSChild(cfgJSON string, stdin io.Reader, stdout, stderr io.Writer, sigs <-chan os.Signal) int {
	var cfg natsChildConfig
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		fmt.Fprintf(stderr, "stampede: %s: %v\n", natsOptionsEnv, err)
		return 2
	}
	s, err := server.NewServer(cfg.serverOptions())
	if err != nil {
		fmt.Fprintf(stderr, "stampede: nats-server %s: %v\n", cfg.Name, err)
		return 1
	}
	s.ConfigureLogger()
	go s.Start()
	if !s.ReadyForConnections(childStartTimeout) {
		fmt.Fprintf(stderr, "stampede: nats-server %s: not accepting connections within %v\n", cfg.Name, childStartTimeout)
		s.Shutdown()
		return 1
	}
	if _, err := fmt.Fprintf(stdout, "%s%s\n", natsReadyPrefix, s.ClientURL()); err != nil {
		s.Shutdown()
		return 1
	}
	eof := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		close(eof)
	}()
	select {
	case <-sigs:
	case <-eof:
	}
	s.Shutdown()
	down := make(chan struct{})
	go func() { s.WaitForShutdown(); close(down) }()
	select {
	case <-down:
		return 0
	case <-time.After(childStopTimeout):
		fmt.Fprintf(stderr, "stampede: nats-server %s: shutdown took over %v\n", cfg.Name, childStopTimeout)
		return 1
	}
}

// natsChild is one nats-server run as a child process. Its fields are
// guarded by the owning NATS's faultMu.
type natsChild struct {
	cfg natsChildConfig
	url string // its client URL
	dir string // the working directory, holding log
	log string // its standard error, appended to by each start

	proc   *os.Process   // nil while not running (killed, stopped)
	done   chan struct{} // closed when proc has exited
	stdin  *os.File      // the write end of its standard input
	paused bool          // SIGSTOPped by a pause fault
}

// errPortTaken is wrapped by the error of a child whose ports another
// process took between their choice and the start.
var errPortTaken = errors.New("port taken")

// errInChild is returned by StartNATSChildren in a process that was itself
// started as a child: its main did not call RunChild.
var errInChild = fmt.Errorf("nats: this process was started as an embedded server (%s is set) but did not become one: its main must call embedded.RunChild first thing", childEnv)

// start runs the child and waits until it accepts connections. On error
// nothing is left running.
func (c *natsChild) start(ctx context.Context) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("nats: this program's path, to run %s: %w", c.cfg.Name, err)
	}
	cfg, err := json.Marshal(c.cfg)
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	logf, err := os.OpenFile(c.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	defer logf.Close()
	inR, inW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return fmt.Errorf("nats: %w", err)
	}
	// The argument matters only to a test binary that does not call
	// RunChild: it runs no test, instead of every test again, and the
	// child fails to start.
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=nats", natsOptionsEnv+"="+string(cfg))
	cmd.Dir = c.dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, logf
	// Its own process group, to be paused and killed whole and to keep a
	// terminal's Ctrl-C for stampede; on Linux, the death signal.
	cmd.SysProcAttr = procAttr(nil, true)
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return fmt.Errorf("nats: start %s: %w", c.cfg.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	ready := make(chan bool, 1)
	go func() {
		br := bufio.NewReader(outR)
		line, _ := br.ReadString('\n')
		ready <- strings.HasPrefix(line, natsReadyPrefix)
		_, _ = io.Copy(io.Discard, br) // until the child exits
		outR.Close()
	}()
	fail := func(err error) error {
		killGroup(cmd.Process)
		inW.Close()
		select {
		case <-done:
		case <-time.After(childStopTimeout):
		}
		return err
	}
	timer := time.NewTimer(childStartTimeout)
	defer timer.Stop()
	select {
	case ok := <-ready:
		if !ok {
			<-waitOr(done, childStopTimeout)
			return fail(c.exitError())
		}
	case <-done:
		return fail(c.exitError())
	case <-ctx.Done():
		return fail(fmt.Errorf("nats: %s not accepting connections on %s: %w", c.cfg.Name, c.url, ctx.Err()))
	case <-timer.C:
		return fail(fmt.Errorf("nats: %s not accepting connections on %s within %v", c.cfg.Name, c.url, childStartTimeout))
	}
	c.proc, c.done, c.stdin, c.paused = cmd.Process, done, inW, false
	liveChildren.add(cmd.Process, done)
	return nil
}

// waitOr returns a channel closed when done is or after d.
func waitOr(done <-chan struct{}, d time.Duration) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		select {
		case <-done:
		case <-time.After(d):
		}
		close(ch)
	}()
	return ch
}

// exitError describes a child that exited before it was ready, from the
// end of its log; it wraps errPortTaken when its port was taken.
func (c *natsChild) exitError() error {
	b, _ := os.ReadFile(c.log)
	tail := lastLines(b, 3)
	if !strings.Contains(string(b), "nats-server") { // its own words, or the server's log
		tail = "it did not become a nats-server (does this program call embedded.RunChild first thing?) " + tail
	}
	if strings.Contains(tail, "address already in use") {
		return fmt.Errorf("nats: %s exited at start: %w: %s", c.cfg.Name, errPortTaken, tail)
	}
	return fmt.Errorf("nats: %s exited at start: %s", c.cfg.Name, tail)
}

// startRetry starts the child, again while its port is taken (an outgoing
// connection may hold it for a while), until ctx ends.
func (c *natsChild) startRetry(ctx context.Context) error {
	for {
		err := c.start(ctx)
		if err == nil || !errors.Is(err, errPortTaken) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// kill kills the child's process group and waits until it has exited.
func (c *natsChild) kill() error {
	if c.proc == nil {
		return nil
	}
	killGroup(c.proc)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("nats: %s did not die within 10s of SIGKILL", c.cfg.Name)
	}
	c.stdin.Close()
	c.proc, c.paused = nil, false
	return nil
}

// stop resumes the child if paused, asks it to shut down (SIGTERM, and its
// standard input closed), and kills it if it has not within
// childStopTimeout.
func (c *natsChild) stop() error {
	if c.proc == nil {
		return nil
	}
	if c.paused {
		_ = contGroup(c.proc) // a stopped server would not shut down
		c.paused = false
	}
	c.stdin.Close()
	_ = c.proc.Signal(syscall.SIGTERM) // not on Windows: stdin's end does it
	select {
	case <-c.done:
	case <-time.After(childStopTimeout):
		if err := c.kill(); err != nil {
			return err
		}
	}
	c.proc = nil
	return nil
}

// stopChildren stops every child process (at once) and keeps any from
// starting again. Stop calls it; it does nothing for in-process servers.
func (ns *NATS) stopChildren() error {
	ns.faultMu.Lock()
	defer ns.faultMu.Unlock()
	ns.stopped = true
	errs := make([]error, len(ns.children))
	done := make(chan struct{})
	for i, c := range ns.children {
		go func() {
			errs[i] = c.stop()
			done <- struct{}{}
		}()
	}
	for range ns.children {
		<-done
	}
	ns.children = nil
	return errors.Join(errs...)
}

// liveChildren holds the child servers' processes and directories not yet
// stopped, for Abandon: on a second Ctrl-C they are killed and their files
// removed, as the embedded PostgreSQL's are.
var liveChildren = childRegistry{procs: map[*os.Process]chan struct{}{}, dirs: map[string]bool{}}

type childRegistry struct {
	mu    sync.Mutex
	procs map[*os.Process]chan struct{}
	dirs  map[string]bool
}

func (r *childRegistry) add(p *os.Process, done chan struct{}) {
	r.mu.Lock()
	r.procs[p] = done
	r.mu.Unlock()
	go func() { // forgotten once it exits, however it does
		<-done
		r.mu.Lock()
		delete(r.procs, p)
		r.mu.Unlock()
	}()
}

func (r *childRegistry) addDir(dir string, keep bool) {
	r.mu.Lock()
	if keep {
		r.dirs[dir] = true
	} else {
		delete(r.dirs, dir)
	}
	r.mu.Unlock()
}

// abandon kills every child server and removes their directories.
func (r *childRegistry) abandon() {
	r.mu.Lock()
	procs, dirs := r.procs, r.dirs
	r.procs, r.dirs = map[*os.Process]chan struct{}{}, map[string]bool{}
	r.mu.Unlock()
	for p, done := range procs {
		killGroup(p)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}
	for d := range dirs {
		os.RemoveAll(d)
	}
}
