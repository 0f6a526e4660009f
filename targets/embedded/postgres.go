// Package embedded starts throwaway servers for designs that need one and
// the user named none: a PostgreSQL from the local binaries, in a temporary
// directory, on 127.0.0.1 and a free port. Every server is stopped and its
// directory removed by Stop (and by Env.Close), which callers run on every
// exit path; a server whose parent dies is sent SIGQUIT by the kernel.
package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNoPostgres is returned when the PostgreSQL server binaries cannot be
// found.
var ErrNoPostgres = errors.New("PostgreSQL server binaries (initdb, postgres) not found in PATH, /usr/lib/postgresql/*/bin or Homebrew's postgresql@*: " +
	"run scripts/setup to install them (Debian package postgresql; on macOS, brew install postgresql@15), or pass -pg DSN for a server of your own")

// postgresDirs are where packages put PostgreSQL's server binaries, a
// version per directory: Debian and Ubuntu, Homebrew (Apple silicon, then
// Intel), Postgres.app.
var postgresDirs = []string{
	"/usr/lib/postgresql/*/bin",
	"/opt/homebrew/opt/postgresql@*/bin",
	"/usr/local/opt/postgresql@*/bin",
	"/Applications/Postgres.app/Contents/Versions/*/bin",
}

// FindPostgres returns the directory holding initdb and postgres: the PATH
// first, then the newest version under postgresDirs.
func FindPostgres() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	var dirs []string
	for _, pattern := range postgresDirs {
		d, _ := filepath.Glob(pattern)
		dirs = append(dirs, d...)
	}
	sort.SliceStable(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		_, e1 := os.Stat(filepath.Join(d, "initdb"))
		_, e2 := os.Stat(filepath.Join(d, "postgres"))
		if e1 == nil && e2 == nil {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

// pgVersion reads the major version from a directory of postgresDirs:
// /usr/lib/postgresql/15/bin, /opt/homebrew/opt/postgresql@15/bin,
// .../Versions/15/bin (0 when it has none, such as Versions/latest).
func pgVersion(binDir string) int {
	name := filepath.Base(filepath.Dir(binDir))
	if _, v, ok := strings.Cut(name, "@"); ok {
		name = v
	}
	major, _, _ := strings.Cut(name, ".")
	n, _ := strconv.Atoi(major)
	return n
}

// Postgres is a running throwaway PostgreSQL server. Stop it when done.
type Postgres struct {
	// DSN connects as the superuser "stampede", without a password (the
	// server trusts loopback connections and listens on nothing else).
	DSN  string
	Port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the server process has exited
	log  string

	// How it was started, to start it again after a crash fault.
	postgres string
	args     []string
	cred     *credential
	// faultMu guards paused and the restart of a crashed server.
	faultMu sync.Mutex
	paused  bool
}

// DefaultMaxConnections is the embedded server's max_connections: room for
// pools far larger than the designs' default (64 connections) plus the few
// connections each design uses for setup, audit and reconciling, and for
// the pools of a test package's designs open side by side. A run's pool is
// checked against what is left before the run (postgres.Preflight). Each
// slot costs the server about 45 KB of shared memory (184 MB in all at
// 1000, 153 MB at 300).
const DefaultMaxConnections = 1000

// PostgresOptions tunes StartPostgres.
type PostgresOptions struct {
	// MaxConnections is the server's max_connections
	// (DefaultMaxConnections when 0).
	MaxConnections int
	// Settings are extra server settings, name to value.
	Settings map[string]string
	// StartTimeout bounds initdb and start-up (default 60s).
	StartTimeout time.Duration
}

// tempBase returns where to make the server's directory: the usual
// temporary directory, unless the server runs as another user who could not
// reach it (a private TMPDIR of root's), then /tmp.
func tempBase(cred *credential) string {
	base := os.TempDir()
	if cred == nil {
		return base
	}
	for d := base; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if d == filepath.Dir(d) {
			return base
		}
	}
}

// freePort asks the kernel for a free port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartPostgres initialises a cluster in a new temporary directory and
// starts it on 127.0.0.1. On error nothing is left running or on disk.
func StartPostgres(ctx context.Context, opt PostgresOptions) (_ *Postgres, err error) {
	bin, err := FindPostgres()
	if err != nil {
		return nil, err
	}
	if opt.MaxConnections <= 0 {
		opt.MaxConnections = DefaultMaxConnections
	}
	if opt.StartTimeout <= 0 {
		opt.StartTimeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, opt.StartTimeout)
	defer cancel()
	cred, err := serverUser()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(tempBase(cred), "stampede-pg-*")
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	p := &Postgres{dir: dir, done: make(chan struct{}), log: filepath.Join(dir, "postgres.log")}
	live.add(p, dir)
	defer func() {
		if err != nil {
			p.Stop()
		}
	}()
	if cred != nil {
		if err := chown(dir, cred); err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "stampede",
		"--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = procAttr(cred, false)
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("postgres: initdb: %v: %s", err, lastLines(out, 5))
	}
	settings := map[string]string{
		"listen_addresses":        "127.0.0.1",
		"unix_socket_directories": dir,
		"max_connections":         strconv.Itoa(opt.MaxConnections),
		"logging_collector":       "off",
		// SERIALIZABLE designs (ledger-serializable) take a predicate lock
		// per row their SUM reads; the default 64 per transaction ran out
		// of shared memory (SQLSTATE 53200) under the flash crowd, a
		// failure of the server's sizing, not of the design.
		"max_pred_locks_per_transaction": "256",
	}
	for k, v := range opt.Settings {
		settings[k] = v
	}
	for attempt := 0; ; attempt++ {
		if p.Port, err = freePort(); err != nil {
			return nil, fmt.Errorf("postgres: free port: %w", err)
		}
		args := []string{"-D", data, "-p", strconv.Itoa(p.Port)}
		keys := make([]string, 0, len(settings))
		for k := range settings {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			args = append(args, "-c", k+"="+settings[k])
		}
		p.postgres, p.args, p.cred = filepath.Join(bin, "postgres"), args, cred
		if err = p.start(ctx, p.postgres, args, cred); err == nil || attempt == 2 ||
			!strings.Contains(err.Error(), "could not bind") {
			break
		}
		// Another process took the port between our probe and the start.
	}
	if err != nil {
		return nil, err
	}
	p.DSN = fmt.Sprintf("postgres://stampede@127.0.0.1:%d/postgres?sslmode=disable", p.Port)
	return p, nil
}

// start runs the server and waits until it accepts connections.
func (p *Postgres) start(ctx context.Context, postgres string, args []string, cred *credential) error {
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(postgres, args...)
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group keeps a terminal's Ctrl-C for stampede, which
	// stops the server itself; on Linux the death signal covers a
	// stampede killed outright.
	cmd.SysProcAttr = procAttr(cred, true)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("postgres: start: %w", err)
	}
	p.cmd = cmd
	done := make(chan struct{})
	p.done = done
	live.started(p, cmd.Process, done)
	go func() { cmd.Wait(); close(done) }()
	dsn := fmt.Sprintf("postgres://stampede@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", p.Port)
	for {
		c, err := pgconn.Connect(ctx, dsn)
		if err == nil {
			c.Close(ctx)
			return nil
		}
		select {
		case <-done:
			p.cmd = nil
			b, _ := os.ReadFile(p.log)
			return fmt.Errorf("postgres: the server exited at start: %s", lastLines(b, 5))
		case <-ctx.Done():
			return fmt.Errorf("postgres: not accepting connections on 127.0.0.1:%d: %w", p.Port, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Dir returns the server's temporary directory, removed by Stop.
func (p *Postgres) Dir() string { return p.dir }

// Stop shuts the server down (a fast shutdown, then a kill after 10s) and
// removes its directory. It is safe to call more than once.
func (p *Postgres) Stop() error {
	p.faultMu.Lock()
	if p.paused && p.cmd != nil && p.cmd.Process != nil {
		_ = contGroup(p.cmd.Process) // a stopped server would not shut down
		p.paused = false
	}
	p.faultMu.Unlock()
	if p.cmd != nil && p.cmd.Process != nil {
		_ = fastShutdown(p.cmd.Process)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			killGroup(p.cmd.Process)
			<-p.done
		}
		p.cmd = nil
	}
	if p.dir == "" {
		return nil
	}
	live.remove(p)
	err := os.RemoveAll(p.dir)
	p.dir = ""
	return err
}

// live holds the servers started and not yet stopped, for Abandon.
var live = registry{servers: map[*Postgres]*liveServer{}}

type registry struct {
	mu      sync.Mutex
	servers map[*Postgres]*liveServer
}

type liveServer struct {
	dir  string
	proc *os.Process
	done chan struct{}
}

func (r *registry) add(p *Postgres, dir string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.servers[p] = &liveServer{dir: dir}
}

func (r *registry) started(p *Postgres, proc *os.Process, done chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.servers[p]; s != nil {
		s.proc, s.done = proc, done
	}
}

func (r *registry) remove(p *Postgres) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.servers, p)
}

// Abandon kills every embedded server still running, at once, and removes
// their directories: for a second Ctrl-C, when the user will not wait for
// a clean stop. It is safe to call from any goroutine, while a Stop is
// under way; the servers are unusable afterwards.
func Abandon() {
	liveChildren.abandon()
	live.mu.Lock()
	servers := live.servers
	live.servers = map[*Postgres]*liveServer{}
	live.mu.Unlock()
	for _, s := range servers {
		if s.proc != nil {
			killGroup(s.proc)
			select {
			case <-s.done:
			case <-time.After(5 * time.Second):
			}
		}
		os.RemoveAll(s.dir)
	}
}

func lastLines(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte(" | ")))
}
