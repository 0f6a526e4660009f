package main

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stampede-bench/stampede/targets/embedded"
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
		if b, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput(); err != nil {
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
			cmd := exec.Command(binary(t), append(append([]string{"run"}, c.args...), "-out", out)...)
			cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Wait until the embedded server is up and the run under way.
			deadline := time.Now().Add(30 * time.Second)
			for len(postgresProcessesUnder(tmp)) == 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if len(postgresProcessesUnder(tmp)) == 0 {
				cmd.Process.Kill()
				t.Fatalf("no embedded server appeared under %s; stderr: %s", tmp, stderr.String())
			}
			interruptInTheCrowd(t, cmd)
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

// interruptInTheCrowd lets a started run go 2s into its crowd, sends it
// SIGINT, and checks that it exits within 2s.
func interruptInTheCrowd(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	time.Sleep(2 * time.Second) // into the crowd: the test's input, not a race fix
	sent := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		if took := time.Since(sent); took > 2*time.Second {
			t.Errorf("exited %s after SIGINT, want within 2s", took)
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("no exit 20s after SIGINT")
	}
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

// With -pg naming a server with a password, the password appears in no
// output and no file of the run, whether the run works or fails.
func TestPasswordNeverPrinted(t *testing.T) {
	const password = "Sup3r-S3cret-pw"
	pg := passwordServer(t, password)
	dsn := strings.Replace(pg.DSN, "stampede@", "stampede:"+password+"@", 1)
	small := writeFile(t, "small.yaml", smallScenario)
	for _, c := range []struct {
		name, dsn string
		code      int
	}{
		{"right password", dsn, 0},
		{"wrong password", strings.Replace(dsn, password, password+"-nope", 1), 1},
		{"malformed DSN", "postgres://stampede:" + password + "@127.0.0.1:notaport/x", 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "report")
			code, stdout, stderr := stampede(t, "run", "-targets", "sqlcounter,ledger", "-scenario", small, "-out", out, "-pg", c.dsn)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, c.code, stderr)
			}
			for name, text := range map[string]string{"stdout": stdout, "stderr": stderr} {
				if strings.Contains(text, password) {
					t.Errorf("%s shows the password:\n%s", name, text)
				}
			}
			filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return nil
				}
				if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(password)) {
					t.Errorf("%s holds the password", p)
				}
				return nil
			})
			t.Logf("stderr: %s", stderr)
			if c.code == 0 && !strings.Contains(stdout, "sqlcounter") {
				t.Errorf("no summary:\n%s", stdout)
			}
		})
	}
}

// The embedded server works for a normal user too. Run as root, the test
// runs the command as nobody; run as a normal user, as that user.
func TestRunAsNormalUser(t *testing.T) {
	tmp := openDir(t)
	out := filepath.Join(tmp, "report")
	small := filepath.Join(tmp, "small.yaml")
	os.WriteFile(small, []byte(smallScenario), 0o644)
	cmd := exec.Command(binary(t), "run", "-targets", "sqlcounter-noidem", "-scenario", small, "-out", out)
	cmd.Env = []string{"TMPDIR=" + tmp, "PATH=" + os.Getenv("PATH")}
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run as uid %d: %v\n%s", 65534, err, b)
	}
	if !strings.Contains(string(b), "sqlcounter-noidem") {
		t.Errorf("no summary:\n%s", b)
	}
	assertNoPostgresLeft(t, tmp)
}

// Ctrl-C in the middle of a JetStream run: the in-process servers stop with
// the command and their stores are removed.
func TestSIGINTStopsNATS(t *testing.T) {
	tmp := openDir(t)
	out := filepath.Join(tmp, "report")
	cmd := exec.Command(binary(t), "run", "-targets", "jetstream,jetstream-kv", "-scenario", "flash-crowd", "-out", out)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	natsDirs := func() []string { d, _ := filepath.Glob(filepath.Join(tmp, "stampede-nats-*")); return d }
	deadline := time.Now().Add(30 * time.Second)
	for len(natsDirs()) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if len(natsDirs()) == 0 {
		cmd.Process.Kill()
		t.Fatalf("no embedded nats-server store appeared under %s; stderr: %s", tmp, stderr.String())
	}
	interruptInTheCrowd(t, cmd)
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

func TestNATSSecrets(t *testing.T) {
	got := natsSecrets("nats://alice:pw-one@127.0.0.1:4222, nats://s3cr3t-token@127.0.0.1:4223,nats://127.0.0.1:4224")
	for _, want := range []string{"pw-one", "s3cr3t-token"} {
		if !slices.Contains(got, want) {
			t.Errorf("natsSecrets missed %q: %v", want, got)
		}
	}
}
