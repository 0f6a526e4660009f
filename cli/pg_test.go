package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/stampede-bench/stampede/targets/embedded"
	"github.com/stampede-bench/stampede/targets/redact"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

// binary builds the command once for the package's tests, in a directory
// any user may read; TestMain removes it.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "stampede-bin-*")
		if err != nil {
			buildErr = err
			return
		}
		os.Chmod(dir, 0o755)
		builtBin = filepath.Join(dir, "stampede")
		if b, err := exec.Command("go", "build", "-o", builtBin, "../cmd/stampede").CombinedOutput(); err != nil {
			buildErr = errors.New(string(b))
		}
	})
	if buildErr != nil {
		t.Fatalf("build: %v", buildErr)
	}
	return builtBin
}

// openDir returns a new directory that any user may write, for runs as
// another user and for servers that run as the postgres user.
func openDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "stampede-test-*")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// postgresProcessesUnder lists processes whose command line names dir.
func postgresProcessesUnder(dir string) []string {
	var found []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(dir)) {
			found = append(found, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return found
}

// Ctrl-C in the middle of a run of SQL designs: the command exits within
// 2s, writes partial results, and leaves no server and no directory.
func TestSIGINTStopsPostgres(t *testing.T) {
	for _, c := range []struct {
		name   string
		args   []string
		client string // the first run's info.settings.client
	}{
		{"flash-crowd", []string{"-targets", "sqlcounter,ledger", "-scenario", "flash-crowd"}, "goroutines"},
		{"event-loop", []string{"-targets", "sqlcounter-noidem", "-scenario", "hot-product", "-users", "16"}, "event loop"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tmp := openDir(t)
			out := filepath.Join(tmp, "report")
			cmd := exec.Command(binary(t), append(append([]string{"run", "-progress", "on"}, c.args...), "-out", out)...)
			cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
			interruptInTheCrowd(t, cmd, 200)
			assertNoPostgresLeft(t, tmp)
			m := readJSON(t, filepath.Join(out, "results.json"))
			if i, _ := lookup(m, "interrupted"); i != true {
				t.Errorf("interrupted = %v, want true", i)
			}
			if n, _ := lookup(m, "runs.0.orders.attempts"); n == nil || n.(float64) < 100 {
				t.Errorf("attempts %v: the partial results hold no orders", n)
			}
			if cl, _ := lookup(m, "runs.0.info.settings.client"); cl != c.client {
				t.Errorf("info.settings.client = %v, want %q", cl, c.client)
			}
		})
	}
}

// SIGTERM (a service manager, a CI runner's cancel) stops a run as Ctrl-C
// does; a second signal stops it at once: the embedded server killed and
// its directory removed, exit code 130.
func TestSIGTERMAndSecondInterrupt(t *testing.T) {
	run := func(t *testing.T) (*exec.Cmd, string, string) {
		tmp := openDir(t)
		out := filepath.Join(tmp, "report")
		cmd := exec.Command(binary(t), "run", "-progress", "on", "-targets", "sqlcounter", "-scenario", "flash-crowd", "-out", out)
		cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
		return cmd, tmp, out
	}
	t.Run("SIGTERM", func(t *testing.T) {
		cmd, tmp, out := run(t)
		signalInTheCrowd(t, cmd, 200, 1, syscall.SIGTERM)
		assertNoPostgresLeft(t, tmp)
		if i, _ := lookup(readJSON(t, filepath.Join(out, "results.json")), "interrupted"); i != true {
			t.Errorf("interrupted = %v, want true", i)
		}
	})
	t.Run("second interrupt", func(t *testing.T) {
		cmd, tmp, _ := run(t)
		signalInTheCrowd(t, cmd, 200, 130, syscall.SIGINT, syscall.SIGINT)
		assertNoPostgresLeft(t, tmp)
	})
}

// assertNoPostgresLeft checks that no process and no server directory of
// an embedded PostgreSQL remain under tmp.
func assertNoPostgresLeft(t *testing.T, tmp string) {
	t.Helper()
	if left := postgresProcessesUnder(tmp); len(left) > 0 {
		t.Errorf("processes left running: %q", left)
	}
	dirs, _ := filepath.Glob(filepath.Join(tmp, "stampede-pg-*"))
	for _, d := range dirs {
		t.Errorf("the server's directory %s was left behind", d)
	}
}

// progressWatch is the stderr of a run with -progress on: it tells when the
// run is under way, at least n attempts into its first design.
type progressWatch struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	n       int
	reached chan struct{}
	once    sync.Once
	// stopping is closed when stampede says it took the interrupt.
	stopping     chan struct{}
	stoppingOnce sync.Once
}

var attemptsRE = regexp.MustCompile(`\s(\d+) attempts`)

func (p *progressWatch) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf.Write(b)
	if p.stopping != nil && bytes.Contains(p.buf.Bytes(), []byte("stampede: stopping")) {
		p.stoppingOnce.Do(func() { close(p.stopping) })
	}
	for _, m := range attemptsRE.FindAllSubmatch(b, -1) {
		if n, _ := strconv.Atoi(string(m[1])); n >= p.n {
			p.once.Do(func() { close(p.reached) })
		}
	}
	return len(b), nil
}

func (p *progressWatch) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}

// interruptInTheCrowd starts cmd (a run with -progress on), waits until it
// is n attempts into its crowd, sends it SIGINT, and checks that it exits
// within 5s, with exit code 1. It returns the run's stdout.
func interruptInTheCrowd(t *testing.T, cmd *exec.Cmd, n int) string {
	t.Helper()
	return signalInTheCrowd(t, cmd, n, 1, syscall.SIGINT)
}

// signalInTheCrowd is interruptInTheCrowd with the signals sent, back to
// back, and the exit code wanted.
func signalInTheCrowd(t *testing.T, cmd *exec.Cmd, n, wantCode int, sigs ...syscall.Signal) string {
	t.Helper()
	watch := &progressWatch{n: n, reached: make(chan struct{}), stopping: make(chan struct{})}
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, watch
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-watch.reached:
	case err := <-done:
		t.Fatalf("the run ended before it was under way: %v\n%s", err, watch)
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the run was not %d attempts in after 60s; stderr:\n%s", n, watch)
	}
	sent := time.Now()
	for i, sig := range sigs {
		if i > 0 {
			// Identical signals pending at once are delivered once: send
			// the next when stampede said it took the one before.
			select {
			case <-watch.stopping:
			case <-time.After(30 * time.Second):
				t.Fatalf("no word of stopping 30s after %v; stderr:\n%s", sigs[:i], watch)
			}
		}
		cmd.Process.Signal(sig)
	}
	select {
	case err := <-done:
		if took := time.Since(sent); took > 5*time.Second {
			t.Errorf("exited %s after %v, want within 5s", took, sigs)
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != wantCode {
			t.Errorf("exit: %v, want code %d; stderr:\n%s", err, wantCode, watch)
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("no exit 30s after %v; stderr:\n%s", sigs, watch)
	}
	return stdout.String()
}

// passwordServer starts a server that demands a password over TCP.
func passwordServer(t *testing.T, password string) *embedded.Postgres {
	t.Helper()
	ctx := context.Background()
	pg, err := embedded.StartPostgres(ctx, embedded.PostgresOptions{})
	if err != nil {
		t.Fatalf("embedded PostgreSQL (run scripts/setup): %v", err)
	}
	t.Cleanup(func() { pg.Stop() })
	conn, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "ALTER ROLE stampede PASSWORD '"+password+"'"); err != nil {
		t.Fatal(err)
	}
	hba := filepath.Join(pg.Dir(), "data", "pg_hba.conf")
	if err := os.WriteFile(hba, []byte("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	// The postmaster rereads pg_hba.conf after the signal, in its own
	// time: wait until a connection without the password is refused.
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := pgx.Connect(ctx, pg.DSN)
		if err != nil {
			return pg
		}
		c.Close(ctx)
		if time.Now().After(deadline) {
			t.Fatal("the server still lets a connection in without a password")
		}
	}
}

// secretPasswords are the passwords of the secrets tests: a digit, a
// letter and the user's own name, which a scrubber that searched all text
// would find everywhere, and a long one that cannot appear by chance.
var secretPasswords = []string{"1", "e", "postgres", "SuperSecret123"}

// With -pg or -nats naming a server that demands a password, whatever the
// password: a working run writes valid results and prints no DSN at all;
// a closed port fails with one line, the same line whatever the password;
// a malformed DSN or URL is shown with its password masked and nothing
// else changed. The password appears in no output and no file.
func TestPasswordsNeverShown(t *testing.T) {
	ctx := context.Background()
	pg := passwordServer(t, secretPasswords[0])
	users := map[string]string{}
	for i, p := range secretPasswords {
		users[fmt.Sprintf("buyer%d", i)] = p
	}
	natsPort := passwordNATS(t, users)
	small := writeFile(t, "small.yaml", smallScenario)
	closedLines := map[string][]string{} // backend -> stderr of each password's closed-port run
	current := secretPasswords[0]
	for i, pw := range secretPasswords {
		conn, err := pgx.Connect(ctx, strings.Replace(pg.DSN, "stampede@", "stampede:"+current+"@", 1))
		if err != nil {
			t.Fatal(err)
		}
		_, err = conn.Exec(ctx, "ALTER ROLE stampede PASSWORD '"+pw+"'")
		conn.Close(ctx)
		if err != nil {
			t.Fatal(err)
		}
		current = pw
		pgDSN := strings.Replace(pg.DSN, "stampede@", "stampede:"+pw+"@", 1)
		natsURL := fmt.Sprintf("nats://buyer%d:%s@127.0.0.1:%d", i, pw, natsPort)
		for _, c := range []struct {
			name, flag, design, value, user, secret string
		}{
			{"pg", "-pg", "sqlcounter", pgDSN, "stampede:", ""},
			{"nats", "-nats", "jetstream", natsURL, fmt.Sprintf("buyer%d:", i), ""},
		} {
			c.secret = c.user + pw + "@"
			// The subtest's name, and so its temporary paths, hold no
			// password: the password's index.
			t.Run(fmt.Sprintf("%s/password%d", c.name, i), func(t *testing.T) {
				shows := func(where, text string) {
					t.Helper()
					// The long password can appear nowhere; the short
					// ones are letters of ordinary words, so the user
					// info they make is what must not appear.
					if strings.Contains(text, c.secret) || (len(pw) >= 10 && strings.Contains(text, pw)) {
						t.Errorf("%s shows the password %q:\n%s", where, pw, text)
					}
				}
				// A working run: valid results, nothing masked because no
				// DSN is printed, and the tables as ever.
				out := filepath.Join(t.TempDir(), "report")
				code, stdout, stderr := stampede(t, "run", "-targets", c.design, "-scenario", small, "-out", out, c.flag, c.value)
				if code != 0 {
					t.Fatalf("working server: exit %d; stderr %s\nstdout %s", code, stderr, stdout)
				}
				shows("stdout", stdout)
				shows("stderr", stderr)
				if strings.Contains(stdout+stderr, redact.Mask) {
					t.Errorf("a working run printed a masked DSN:\n%s%s", stdout, stderr)
				}
				head := strings.Join(strings.Fields(strings.SplitN(stdout, "\n", 4)[2]), " ")
				if !strings.HasPrefix(stdout, "scenario small: 3 products x 50 seats\n") ||
					head != "target loop throughput/s sales/s seats/s p50 p90 p99 p99.9 max service p99 send lag p99" {
					t.Errorf("the summary changed:\n%s", stdout)
				}
				m := readJSON(t, filepath.Join(out, "results.json")) // valid JSON, or it fails
				if d, _ := lookup(m, "runs.0.info.design"); d == nil || d == "" {
					t.Errorf("results.json has no design info: %v", m["runs"])
				}
				filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
					if err == nil && !d.IsDir() {
						b, _ := os.ReadFile(p)
						shows(p, string(b))
					}
					return nil
				})
				// A closed port: one line, exit 1, nothing written.
				closed := strings.Replace(c.value, fmt.Sprint(pg.Port), "1", 1)
				if c.name == "nats" {
					closed = strings.Replace(c.value, fmt.Sprint(natsPort), "1", 1)
				}
				out2 := filepath.Join(t.TempDir(), "report")
				code, stdout, stderr = stampede(t, "run", "-targets", "memory,"+c.design, "-scenario", small, "-out", out2, c.flag, closed)
				if code != 1 || stdout != "" || strings.Count(stderr, "\n") != 1 {
					t.Errorf("closed port: exit %d, stdout %q, stderr %q; want 1, nothing, one line", code, stdout, stderr)
				}
				if _, err := os.Stat(out2); err == nil {
					t.Error("closed port: the output directory was created")
				}
				shows("stderr", stderr)
				closedLines[c.name] = append(closedLines[c.name], stderr)
				// A malformed DSN or URL: shown masked, exit 2.
				bad := strings.Replace(closed, "127.0.0.1:1", "127.0.0.1:notaport", 1)
				code, _, stderr = stampede(t, "run", "-targets", c.design, "-scenario", small, "-out", out2, c.flag, bad)
				if code != 2 || !strings.Contains(stderr, strings.Replace(bad, c.secret, c.user+redact.Mask+"@", 1)) {
					t.Errorf("malformed: exit %d, stderr %q; want 2 and the DSN with its password masked", code, stderr)
				}
				shows("stderr", stderr)
			})
		}
	}
	for backend, lines := range closedLines {
		for _, l := range lines[1:] {
			if l != lines[0] {
				t.Errorf("%s closed port: the message depends on the password:\n%s%s", backend, lines[0], l)
			}
		}
	}
}

// passwordNATS starts an in-process nats-server with JetStream that lets in
// only the given users, and returns its port.
func passwordNATS(t *testing.T, users map[string]string) int {
	t.Helper()
	var us []*server.User
	for u, p := range users {
		us = append(us, &server.User{Username: u, Password: p})
	}
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), Users: us, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	return s.Addr().(*net.TCPAddr).Port
}

// Ctrl-C in the middle of a JetStream run: the in-process servers stop with
// the command and their stores are removed.
func TestSIGINTStopsNATS(t *testing.T) {
	tmp := openDir(t)
	out := filepath.Join(tmp, "report")
	cmd := exec.Command(binary(t), "run", "-progress", "on", "-targets", "jetstream,jetstream-kv", "-scenario", "flash-crowd", "-out", out)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	natsDirs := func() []string { d, _ := filepath.Glob(filepath.Join(tmp, "stampede-nats-*")); return d }
	interruptInTheCrowd(t, cmd, 200)
	if d := natsDirs(); len(d) > 0 {
		t.Errorf("stores left behind: %v", d)
	}
	m := readJSON(t, filepath.Join(out, "results.json"))
	if i, _ := lookup(m, "interrupted"); i != true {
		t.Errorf("interrupted = %v, want true", i)
	}
	if n, _ := lookup(m, "runs.0.orders.attempts"); n == nil || n.(float64) < 100 {
		t.Errorf("attempts %v: the partial results hold no orders", n)
	}
}
