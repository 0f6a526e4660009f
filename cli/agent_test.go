package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stampede-bench/stampede/bench/results"
	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/reports"
)

// syncBuffer is a buffer a process writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startAgents starts n agent processes on natsURL, named a1..an, each
// until the test ends; it returns them, with their output.
func startAgents(t *testing.T, natsURL string, n int) ([]*exec.Cmd, []*syncBuffer) {
	t.Helper()
	var cmds []*exec.Cmd
	var outs []*syncBuffer
	for i := range n {
		out := &syncBuffer{}
		cmd := exec.Command(binary(t), "agent", "-nats", natsURL, "-name", fmt.Sprintf("a%d", i+1))
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGINT)
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Errorf("agent a%d did not leave within 10s of SIGINT:\n%s", i+1, out.String())
			}
		})
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	return cmds, outs
}

func mustResults(t *testing.T, path string) *results.Results {
	t.Helper()
	r, err := results.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A coordinator and three agent processes on loopback, against the
// embedded PostgreSQL and against JetStream: the merged results hold
// exactly the plan's submissions, every order is checked once, the
// thresholds read the merged figures, and the merged p99 is that of the
// agents' histograms merged here, independently.
func TestAgentsSpreadARun(t *testing.T) {
	natsURL := fmt.Sprintf("nats://127.0.0.1:%d", passwordNATS(t, nil))
	_, agentOut := startAgents(t, natsURL, 3)
	for _, c := range []struct {
		name    string
		targets string
	}{
		{"postgres", "sqlcounter,ledger"},
		{"jetstream", "jetstream"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tmp := openDir(t)
			out := filepath.Join(tmp, "report")
			args := []string{"run", "-agents", "3", "-nats", natsURL, "-targets", c.targets, "-scenario", "flash-crowd",
				"-duration", "5s", "-rate", "1500", "-progress", "off", "-out", out,
				"-check", "p99<1us", "-check", "throughput<1"} // crossed: the gate says by how much
			cmd := exec.Command(binary(t), args...)
			cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != 3 {
				t.Fatalf("run: %v, want exit 3 (thresholds crossed)\n%s%s\nagents:\n%s%s%s", err, stdout.String(), stderr.String(),
					agentOut[0].String(), agentOut[1].String(), agentOut[2].String())
			}
			res := mustResults(t, filepath.Join(out, "results.json"))
			// The plan every agent computed a share of, computed here.
			sc := scenario.Builtin("flash-crowd")
			if err := sc.Apply(scenario.Overrides{Duration: 5 * time.Second, Rate: 1500},
				map[string]bool{"duration": true, "rate": true}); err != nil {
				t.Fatal(err)
			}
			plan := scenario.NewPlan(sc)
			for _, run := range res.Runs {
				o := run.Orders
				if run.Error != "" || run.Incomplete {
					t.Fatalf("%s: error %q, incomplete %v", run.Target, run.Error, run.Incomplete)
				}
				if o.Scheduled != int64(plan.Submissions()) {
					t.Errorf("%s: scheduled %d, the plan has %d submissions", run.Target, o.Scheduled, plan.Submissions())
				}
				// Every submission sent once, by one agent, and answered, or
				// accounted for as not sent.
				if got := o.Submissions + o.QueuedAtEnd + o.NotDue; got != int64(plan.Submissions()) {
					t.Errorf("%s: %d submissions ended + %d queued at the end + %d not due = %d, want the plan's %d",
						run.Target, o.Submissions, o.QueuedAtEnd, o.NotDue, got, plan.Submissions())
				}
				// The checker saw every order of the plan once.
				if o.Buyers != int64(plan.Orders) || o.Submitted+o.NotSent != o.Buyers {
					t.Errorf("%s: buyers %d (submitted %d + not sent %d), want the plan's %d orders",
						run.Target, o.Buyers, o.Submitted, o.NotSent, plan.Orders)
				}
				if len(run.Agents) != 3 {
					t.Fatalf("%s: %d agents in the results, want 3", run.Target, len(run.Agents))
				}
				merged := hdrhistogram.New(1, 1, 3)
				var attempts int64
				for i, a := range run.Agents {
					if !a.Complete || a.Share != i+1 || a.Of != 3 || a.Name != fmt.Sprintf("a%d", i+1) {
						t.Errorf("%s: agent %d: %+v", run.Target, i, a)
					}
					h, err := hdrhistogram.Decode([]byte(a.Response))
					if err != nil {
						t.Fatalf("%s: agent %s's histogram: %v", run.Target, a.Name, err)
					}
					if h.TotalCount() == 0 {
						t.Errorf("%s: agent %s answered nobody", run.Target, a.Name)
					}
					if i == 0 {
						merged = h
					} else if dropped := merged.Merge(h); dropped != 0 {
						t.Errorf("merging agent %s's histogram dropped %d values", a.Name, dropped)
					}
					attempts += a.Attempts
				}
				if p99 := merged.ValueAtQuantile(99); p99 != run.LatencyUS.P99 || merged.TotalCount() != run.LatencyUS.Count {
					t.Errorf("%s: p99 %dµs of %d responses, the agents' histograms merged here give %dµs of %d",
						run.Target, run.LatencyUS.P99, run.LatencyUS.Count, p99, merged.TotalCount())
				}
				if attempts != o.Attempts {
					t.Errorf("%s: %d attempts, the agents made %d", run.Target, o.Attempts, attempts)
				}
				if strings.HasPrefix(run.Target, "sqlcounter") || run.Target == "jetstream" {
					if ch := run.Checks; ch.Oversold != 0 || ch.DuplicatedOrders != 0 || ch.Lost != 0 || ch.Phantom != 0 {
						t.Errorf("%s: checks %+v", run.Target, ch)
					}
				}
				// The gate read the merged figures: p99 of every response,
				// and the answers of all three agents a second.
				for _, want := range []string{
					fmt.Sprintf("%s: p99 is %s,", run.Target, reports.FormatUS(run.LatencyUS.P99)),
					fmt.Sprintf("%s: throughput is %g,", run.Target, run.ThroughputPerS),
				} {
					if !strings.Contains(stdout.String(), want) {
						t.Errorf("the gate's output lacks %q:\n%s", want, stdout.String())
					}
				}
				if a := run.Agents[0]; float64(a.Attempts) > 0.5*float64(o.Attempts) {
					t.Errorf("%s: agent a1 made %d of the %d attempts: not a third", run.Target, a.Attempts, o.Attempts)
				}
			}
		})
	}
}

// Killing an agent during the run: the coordinator says so within 5s,
// finishes with the others, writes the partial results marked incomplete
// and exits 1.
func TestAgentLostMidRun(t *testing.T) {
	natsURL := fmt.Sprintf("nats://127.0.0.1:%d", passwordNATS(t, nil))
	agents, _ := startAgents(t, natsURL, 3)
	tmp := openDir(t)
	out := filepath.Join(tmp, "report")
	cmd := exec.Command(binary(t), "run", "-agents", "3", "-nats", natsURL, "-targets", "sqlcounter", "-scenario", "steady",
		"-duration", "10s", "-rate", "300", "-progress", "json", "-out", out)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	pr, pw := io.Pipe()
	var stderr syncBuffer
	cmd.Stderr = io.MultiWriter(&stderr, pw)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); pw.Close() }()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitFor := func(what string, within time.Duration, found func(line string) bool) time.Time {
		t.Helper()
		deadline := time.After(within)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("the run ended before %s:\n%s", what, stderr.String())
				}
				if found(l) {
					return time.Now()
				}
			case <-deadline:
				cmd.Process.Kill()
				t.Fatalf("no %s within %s:\n%s", what, within, stderr.String())
			}
		}
	}
	waitLine := func(substr string, within time.Duration) time.Time {
		t.Helper()
		return waitFor(fmt.Sprintf("%q", substr), within, func(l string) bool { return strings.Contains(l, substr) })
	}
	waitLine("sqlcounter started on", 60*time.Second)
	// The agents well into the load: their heartbeats tell the
	// coordinator's progress of 300 attempts and more.
	waitFor("300 attempts", 30*time.Second, func(l string) bool {
		var p struct{ Attempts int64 }
		return json.Unmarshal([]byte(l), &p) == nil && p.Attempts >= 300
	})
	if err := agents[1].Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	reported := waitLine("a2 lost", 30*time.Second)
	if d := reported.Sub(killed); d > 5*time.Second {
		t.Errorf("the lost agent was reported %s after it was killed, want within 5s", d)
	} else {
		t.Logf("the lost agent was reported %s after it was killed", d.Round(time.Millisecond))
	}
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("exit: %v, want code 1; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the coordinator did not end within 60s of the loss:\n%s", stderr.String())
	}
	go func() {
		for range lines {
		}
	}()
	if !strings.Contains(stderr.String(), "incomplete") {
		t.Errorf("stderr does not say the results are incomplete:\n%s", stderr.String())
	}
	res := mustResults(t, filepath.Join(out, "results.json"))
	run := res.Runs[0]
	if !run.Incomplete || len(run.Agents) != 3 || run.Agents[1].Complete || !run.Agents[0].Complete || !run.Agents[2].Complete {
		t.Fatalf("incomplete %v, agents %+v", run.Incomplete, run.Agents)
	}
	if !strings.Contains(run.Agents[1].Error, "lost") {
		t.Errorf("agent a2's error %q does not say it was lost", run.Agents[1].Error)
	}
	// The lost share's buyers are accounted for as unknown answers, not
	// dropped: every order of the plan is a buyer.
	if run.Orders.Buyers != run.Orders.Scheduled || run.Checks.Phantom != 0 {
		t.Errorf("buyers %d of %d scheduled, phantom %d", run.Orders.Buyers, run.Orders.Scheduled, run.Checks.Phantom)
	}
}

func TestAgentBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"agent"}, "agent: -nats: required"},
		{[]string{"agent", "-nats", "http://127.0.0.1:4222"}, `scheme "http"`},
		{[]string{"agent", "-nats", "nats://127.0.0.1:4222", "-name", "a b"}, `-name "a b": accepted: letters`},
	} {
		code, stdout, stderr := stampede(t, c.args...)
		if code != 2 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and one line with %q", c.args, code, stdout, stderr, c.want)
		}
	}
}
