package examples_test

// End-to-end tests of the example services through the real binaries:
// stampede and ticketservice built once, a throwaway PostgreSQL, every
// service on a free loopback port, the flash crowd run and probed as a
// user would, results.json read back.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stampede-bench/stampede/targets/embedded"
)

// Bounds on waits, each far above what a healthy run needs.
const (
	buildTimeout  = 5 * time.Minute
	listenTimeout = 30 * time.Second // a service printing its address
	infoTimeout   = 10 * time.Second // then answering info
	runTimeout    = 4 * time.Minute  // stampede run, flash crowd
	probeTimeout  = 2 * time.Minute  // stampede probe
	stopTimeout   = 15 * time.Second // a child's graceful stop before SIGKILL
)

// fixture is what the tests share: the binaries, the PostgreSQL server.
var fixture struct {
	dir string // holds the binaries; removed after the tests

	buildOnce sync.Once
	buildErr  error

	pgOnce sync.Once
	pg     *embedded.Postgres
	pgErr  error
}

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "stampede-e2e-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	fixture.dir = dir
	defer os.RemoveAll(dir)
	defer func() {
		if fixture.pg != nil {
			fixture.pg.Stop()
		}
	}()
	return m.Run()
}

// bin returns the path of a built binary, building them all on first use.
func bin(t *testing.T, name string) string {
	t.Helper()
	fixture.buildOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		for _, b := range []struct{ name, pkg string }{
			{"stampede", "../cmd/stampede"},
			{"ticketservice", "./ticketservice"},
		} {
			cmd := exec.CommandContext(ctx, goTool(), "build", "-o", filepath.Join(fixture.dir, b.name), b.pkg)
			if out, err := cmd.CombinedOutput(); err != nil {
				fixture.buildErr = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
				return
			}
		}
	})
	if fixture.buildErr != nil {
		t.Fatal(fixture.buildErr)
	}
	return filepath.Join(fixture.dir, name)
}

// goTool is the go command; go test puts its own first in PATH.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// postgresDSN starts the tests' PostgreSQL on first use.
func postgresDSN(t *testing.T) string {
	t.Helper()
	fixture.pgOnce.Do(func() {
		fixture.pg, fixture.pgErr = embedded.StartPostgres(context.Background(), embedded.PostgresOptions{MaxConnections: 200})
	})
	if fixture.pgErr != nil {
		t.Fatalf("starting PostgreSQL: %v", fixture.pgErr)
	}
	return fixture.pg.DSN
}

// python3 returns the Python interpreter; without one the test fails, as
// the Python example is part of what is tested.
func python3(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 not found in PATH (%v): the Python example's tests need it; install Python 3", err)
	}
	return p
}

// output collects a child's output; its first URL after "listening on "
// is sent on addr.
type output struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	addr chan string
	sent bool
}

var listening = regexp.MustCompile(`listening on (http://[0-9.:\[\]a-f]+)`)

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	if !o.sent {
		if m := listening.FindSubmatch(o.buf.Bytes()); m != nil {
			o.sent = true
			o.addr <- string(m[1])
		}
	}
	return len(p), nil
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// startService starts a service that prints "listening on URL" and returns
// the URL once the service answers info. The service is stopped (SIGTERM,
// then SIGKILL) when the test ends, and its output logged if the test
// failed.
func startService(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	out := &output{addr: make(chan string, 1)}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(stopTimeout):
			cmd.Process.Kill()
			<-exited
			t.Errorf("%s did not stop within %s of SIGTERM; killed", name, stopTimeout)
		}
		if t.Failed() {
			t.Logf("%s's output:\n%s", name, out)
		}
	})

	var url string
	select {
	case url = <-out.addr:
	case err := <-exited:
		exited <- err // for the cleanup
		t.Fatalf("%s exited before listening (%v):\n%s", name, err, out)
	case <-time.After(listenTimeout):
		t.Fatalf("%s printed no address within %s:\n%s", name, listenTimeout, out)
	}
	waitInfo(t, name, url)
	return url
}

// waitInfo polls the service's info until it answers 200, within
// infoTimeout.
func waitInfo(t *testing.T, name, url string) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(infoTimeout)
	for {
		resp, err := client.Get(url + "/stampede/v1/info")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s at %s: info did not answer within %s: %v", name, url, infoTimeout, err)
		}
		time.Sleep(20 * time.Millisecond) // between polls
	}
}

// startTicketservice starts examples/ticketservice in mode on the tests'
// PostgreSQL, in a schema of the test's own.
func startTicketservice(t *testing.T, mode string) string {
	t.Helper()
	schema := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "_")) + "_" + mode
	return startService(t, "ticketservice -mode "+mode,
		bin(t, "ticketservice"), "-pg", postgresDSN(t), "-mode", mode, "-addr", "127.0.0.1:0", "-schema", schema)
}

// startPython starts examples/python/ticketservice.py in mode.
func startPython(t *testing.T, mode string) string {
	t.Helper()
	return startService(t, "ticketservice.py --mode "+mode,
		python3(t), "python/ticketservice.py", "--mode", mode, "--host", "127.0.0.1", "--port", "0")
}

// stampede runs the stampede binary and returns its stdout, stderr and
// exit code (-1 if it did not exit by itself within timeout).
func stampede(t *testing.T, timeout time.Duration, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin(t, "stampede"), args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = stopTimeout // then killed
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Errorf("stampede %s: still running after %s; interrupted", strings.Join(args, " "), timeout)
		return o.String(), e.String(), -1
	case err == nil:
		return o.String(), e.String(), 0
	case errors.As(err, &ee):
		return o.String(), e.String(), ee.ExitCode()
	default:
		t.Fatalf("stampede %s: %v", strings.Join(args, " "), err)
		return "", "", -1
	}
}

// run is the part of results.json's runs the tests read.
type run struct {
	Target string `json:"target"`
	Error  string `json:"error"`
	Info   struct {
		Design  string `json:"design"`
		Durable bool   `json:"durable"`
	} `json:"info"`
	Orders struct {
		Buyers    int64 `json:"buyers"`
		Submitted int64 `json:"submitted"`
		NotSent   int64 `json:"not_sent"`
		Attempts  int64 `json:"attempts"`
		Confirmed int64 `json:"confirmed"`
		SoldOut   int64 `json:"sold_out"`
		Unknown   int64 `json:"unknown"`
		Errors    int64 `json:"errors"`
		Expired   int64 `json:"expired"`
	} `json:"orders"`
	Latency struct {
		P99 int64 `json:"p99"`
	} `json:"latency_us"`
	Checks struct {
		Capacity          int64 `json:"capacity"`
		Sold              int64 `json:"sold"`
		Oversold          int64 `json:"oversold"`
		DuplicatedOrders  int64 `json:"duplicated_orders"`
		Lost              int64 `json:"lost"`
		Phantom           int64 `json:"phantom"`
		Contradicted      int64 `json:"contradicted"`
		Unresolved        int64 `json:"unresolved"`
		UnresolvedApplied int64 `json:"unresolved_applied"`
		RefusedApplied    int64 `json:"refused_applied"`
		Foreign           int64 `json:"foreign"`
	} `json:"checks"`
}

// flashCrowd runs the flash crowd against the named services (name=URL)
// and returns results.json's runs by target.
func flashCrowd(t *testing.T, services ...string) map[string]run {
	t.Helper()
	out := filepath.Join(t.TempDir(), "report")
	args := []string{"run", "-scenario", "flash-crowd", "-out", out}
	for _, s := range services {
		args = append(args, "-http", s)
	}
	stdout, stderr, code := stampede(t, runTimeout, args...)
	if code != 0 {
		t.Fatalf("stampede %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout, stderr)
	}
	raw, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatalf("stampede run wrote no results.json: %v\nstdout:\n%s", err, stdout)
	}
	var res struct {
		Runs []run `json:"runs"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	runs := make(map[string]run)
	for _, r := range res.Runs {
		runs[r.Target] = r
		t.Logf("%s (%s): buyers %d, not sent %d, attempts %d, confirmed %d, sold out %d, unknown %d, errors %d; "+
			"sold %d/%d, oversold %d, duplicated %d, lost %d, phantom %d, unresolved %d; p99 %dµs",
			r.Target, r.Info.Design, r.Orders.Buyers, r.Orders.NotSent, r.Orders.Attempts, r.Orders.Confirmed,
			r.Orders.SoldOut, r.Orders.Unknown, r.Orders.Errors, r.Checks.Sold, r.Checks.Capacity, r.Checks.Oversold,
			r.Checks.DuplicatedOrders, r.Checks.Lost, r.Checks.Phantom, r.Checks.Unresolved, r.Latency.P99)
	}
	for _, s := range services {
		name, _, _ := strings.Cut(s, "=")
		r, ok := runs[name]
		switch {
		case !ok:
			t.Fatalf("results.json has no run of %q\nstdout:\n%s", name, stdout)
		case r.Error != "":
			t.Fatalf("%s: the run failed: %s", name, r.Error)
		case r.Orders.Buyers == 0 || r.Orders.Confirmed == 0 || r.Checks.Capacity == 0:
			t.Fatalf("%s: nothing was sold: %+v", name, r)
		}
	}
	return runs
}

// checkCorrect fails the test unless run r found nothing wrong.
func checkCorrect(t *testing.T, r run) {
	t.Helper()
	c := r.Checks
	for _, f := range []struct {
		name string
		n    int64
	}{
		{"oversold", c.Oversold},
		{"duplicated_orders", c.DuplicatedOrders},
		{"lost", c.Lost},
		{"phantom", c.Phantom},
		{"contradicted", c.Contradicted},
		{"refused_applied", c.RefusedApplied},
		{"foreign", c.Foreign},
	} {
		if f.n != 0 {
			t.Errorf("%s: checks.%s = %d, want 0", r.Target, f.name, f.n)
		}
	}
	if c.Sold > c.Capacity {
		t.Errorf("%s: sold %d of a capacity of %d", r.Target, c.Sold, c.Capacity)
	}
}

// The Go service on PostgreSQL under the flash crowd: correct sells no
// seat too many and applies no order twice; racy oversells, and its
// truthful audit shows it.
func TestFlashCrowdTicketservice(t *testing.T) {
	correct := startTicketservice(t, "correct")
	racy := startTicketservice(t, "racy")
	runs := flashCrowd(t, "correct="+correct, "racy="+racy)

	checkCorrect(t, runs["correct"])
	if d := runs["correct"].Info.Design; d != "ticketservice-correct" {
		t.Errorf("correct: design %q, want ticketservice-correct", d)
	}
	if !runs["correct"].Info.Durable {
		t.Errorf("correct: not durable on a server with fsync on")
	}
	if c := runs["racy"].Checks; c.Oversold <= 0 {
		t.Errorf("racy: oversold %d (sold %d of %d), want more than 0: the check-then-act race did not show", c.Oversold, c.Sold, c.Capacity)
	}
}

// The Python service, correct mode, under the same crowd.
func TestFlashCrowdPython(t *testing.T) {
	py := startPython(t, "correct")
	runs := flashCrowd(t, "py="+py)
	checkCorrect(t, runs["py"])
}

// stampede probe passes the correct services and fails the broken ones,
// naming the check that caught each.
func TestProbe(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) string
		fails string // the check that fails, "" for none
	}{
		{"ticketservice-correct", func(t *testing.T) string { return startTicketservice(t, "correct") }, ""},
		{"python-correct", func(t *testing.T) string { return startPython(t, "correct") }, ""},
		{"python-resell", func(t *testing.T) string { return startPython(t, "resell") }, "resubmission"},
		{"python-badaudit", func(t *testing.T) string { return startPython(t, "badaudit") }, "audit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := tc.start(t)
			stdout, stderr, code := stampede(t, probeTimeout, "probe", url)
			t.Logf("stampede probe %s: exit %d\n%s%s", url, code, stdout, stderr)
			var failed []string
			for _, line := range strings.Split(stdout, "\n") {
				if rest, ok := strings.CutPrefix(line, "FAIL "); ok {
					failed = append(failed, rest)
				}
			}
			if tc.fails == "" {
				if code != 0 || len(failed) > 0 {
					t.Errorf("probe of a correct service: exit %d, failed %q; want exit 0 and no FAIL line", code, failed)
				}
				if !strings.Contains(stdout, "ok ") {
					t.Errorf("probe printed no ok line:\n%s", stdout)
				}
				return
			}
			if code == 0 {
				t.Errorf("probe of %s: exit 0, want non-zero", tc.name)
			}
			named := false
			for _, f := range failed {
				check, _, _ := strings.Cut(f, ":")
				if strings.Contains(check, tc.fails) {
					named = true
				}
			}
			if !named {
				t.Errorf("probe of %s: FAIL lines %q name no %q check", tc.name, failed, tc.fails)
			}
		})
	}
}
