package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stampede-bench/stampede/targets"
)

// TestMain lets the test binary, started again by StartNATSChildren,
// become a nats-server child.
func TestMain(m *testing.M) {
	RunChild()
	os.Exit(m.Run())
}

// childPIDs returns the pids of the running children.
func childPIDs(ns *NATS) []int {
	ns.faultMu.Lock()
	defer ns.faultMu.Unlock()
	var pids []int
	for _, c := range ns.children {
		if c.proc != nil {
			pids = append(pids, c.proc.Pid)
		}
	}
	return pids
}

// stopAndCheck stops ns and fails t if a child process is still alive or
// the directory still exists.
func stopAndCheck(t *testing.T, ns *NATS) {
	t.Helper()
	pids, dir := childPIDs(ns), ns.Dir()
	if len(pids) == 0 || dir == "" {
		t.Fatalf("nothing to stop: pids %v, dir %q", pids, dir)
	}
	start := time.Now()
	if err := ns.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	t.Logf("stopped %d children in %v", len(pids), time.Since(start).Round(time.Millisecond))
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("child %d still alive after Stop", pid)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still there after Stop (%v)", dir, err)
	}
}

// publisher publishes numbered messages with a message ID each (a retry
// after a lost ack is deduplicated) and remembers the acknowledged ones.
type publisher struct {
	js    jetstream.JetStream
	acked map[uint64]string // stream sequence -> data
	next  int
}

func (p *publisher) publish(ctx context.Context, timeout time.Duration) error {
	data := fmt.Sprintf("m%d", p.next)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ack, err := p.js.Publish(ctx, "t.x", []byte(data), jetstream.WithMsgID(data))
	if err != nil {
		return err
	}
	p.acked[ack.Sequence] = data
	p.next++
	return nil
}

// A cluster of three children: killing the stream leader leaves the
// stream writable (after an election); the restarted server rejoins on the
// same ports, and no acknowledged message is lost. Stop leaves nothing.
func TestNATSChildrenCrashLeader(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	ns, err := StartNATSChildren(ctx, targets.NATSOptions{Servers: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Stop()
	t.Logf("3 clustered children up in %v", time.Since(start).Round(time.Millisecond))
	if got := len(strings.Split(ns.URL, ",")); got != 3 {
		t.Fatalf("URL %q lists %d servers, want 3", ns.URL, got)
	}
	nc, err := nats.Connect(ns.URL, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	p := &publisher{js: js, acked: map[uint64]string{}}
	for range 50 {
		if err := p.publish(ctx, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leader := info.Cluster.Leader
	var killed *natsChild
	for _, c := range ns.children {
		if c.cfg.Name == leader {
			killed = c
		}
	}
	if killed == nil {
		t.Fatalf("the stream leader %q is none of the children", leader)
	}
	pid := killed.proc.Pid

	t0 := time.Now()
	undo, err := ns.Inject(ctx, targets.Fault{Kind: targets.FaultCrash, On: targets.FaultOnNATS})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("crash: %s in %v", ns.LastFault(), time.Since(t0).Round(time.Millisecond))
	if want := "killed " + leader + ", the leader of stream T (50 messages)"; ns.LastFault() != want {
		t.Errorf("LastFault() = %q, want %q", ns.LastFault(), want)
	}
	if alive(pid) {
		t.Errorf("the leader's process %d is alive after the crash", pid)
	}

	// Publishing goes on once the two others have elected a leader.
	deadline := time.Now().Add(20 * time.Second)
	var failures int
	var lastErr error
	for want := p.next + 20; p.next < want; {
		if time.Now().After(deadline) {
			t.Fatalf("%d publishes acknowledged, %d failed, within 20s of the crash; last error: %v", 20-(want-p.next), failures, lastErr)
		}
		if lastErr = p.publish(ctx, 2*time.Second); lastErr != nil {
			failures++
			time.Sleep(50 * time.Millisecond) // polling interval
		}
	}
	t.Logf("20 publishes acknowledged %v after the crash (%d failed first)", time.Since(t0).Round(time.Millisecond), failures)

	t1 := time.Now()
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("restart of %s: %v (down %v in all)", leader, time.Since(t1).Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	c, err := nats.Connect(killed.url, nats.Timeout(2*time.Second))
	if err != nil {
		t.Fatalf("the restarted server does not accept connections on %s: %v", killed.url, err)
	}
	c.Close()

	// It catches up: every replica current again.
	deadline = time.Now().Add(20 * time.Second)
	for {
		info, err = st.Info(ctx)
		if err == nil && info.Cluster != nil && len(info.Cluster.Replicas) == 2 &&
			info.Cluster.Replicas[0].Current && info.Cluster.Replicas[1].Current &&
			!info.Cluster.Replicas[0].Offline && !info.Cluster.Replicas[1].Offline {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas not current within 20s of the restart: %+v (%v)", info.Cluster, err)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	t.Logf("every replica current %v after the restart (leader %s)", time.Since(t1).Round(time.Millisecond), info.Cluster.Leader)

	if info.State.Msgs < uint64(len(p.acked)) {
		t.Errorf("stream holds %d messages, %d were acknowledged", info.State.Msgs, len(p.acked))
	}
	for seq, data := range p.acked {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Errorf("acknowledged message %d (%s): %v", seq, data, err)
			continue
		}
		if string(m.Data) != data {
			t.Errorf("message %d = %q, acknowledged %q", seq, m.Data, data)
		}
	}
	if err := undo(ctx); err != nil {
		t.Errorf("a second undo: %v", err)
	}
	stopAndCheck(t, ns)
}

// One child: paused, it answers nothing; resumed, it does. Stop resumes
// and stops a paused child, and leaves nothing.
func TestNATSChildPause(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("processes cannot be paused on Windows")
	}
	ctx := context.Background()
	ns, err := StartNATSChildren(ctx, targets.NATSOptions{Servers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Stop()
	nc, err := nats.Connect(ns.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatal(err)
	}
	p := &publisher{js: js, acked: map[uint64]string{}}
	if err := p.publish(ctx, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	pause := targets.Fault{Kind: targets.FaultPause, On: targets.FaultOnNATS}
	undo, err := ns.Inject(ctx, pause)
	if err != nil {
		t.Fatal(err)
	}
	if want := "paused stampede-1, the only server"; ns.LastFault() != want {
		t.Errorf("LastFault() = %q, want %q", ns.LastFault(), want)
	}
	if err := p.publish(ctx, 300*time.Millisecond); err == nil {
		t.Fatal("a publish to the paused server was acknowledged")
	}
	t0 := time.Now()
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("resumed in %v", time.Since(t0).Round(time.Millisecond))
	if err := p.publish(ctx, 5*time.Second); err != nil {
		t.Fatalf("publish after the pause: %v", err)
	}
	if _, err := ns.Inject(ctx, pause); err != nil {
		t.Fatal(err)
	}
	stopAndCheck(t, ns)
	if _, err := ns.Inject(ctx, pause); !errors.Is(err, targets.ErrFault) {
		t.Errorf("Inject after Stop: %v, want targets.ErrFault", err)
	}
}

// In-process servers take no fault.
func TestNATSInProcessRefusesFaults(t *testing.T) {
	ns, err := StartNATS(context.Background(), targets.NATSOptions{Servers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Stop()
	_, err = ns.Inject(context.Background(), targets.Fault{Kind: targets.FaultCrash, On: targets.FaultOnNATS})
	if !errors.Is(err, targets.ErrFault) || !strings.Contains(err.Error(), "child processes") {
		t.Errorf("Inject on in-process servers: %v, want targets.ErrFault about child processes", err)
	}
}

// A crashed server comes back on its own port, waiting while another
// process holds it.
func TestNATSChildRestartWaitsForItsPort(t *testing.T) {
	ctx := context.Background()
	ns, err := StartNATSChildren(ctx, targets.NATSOptions{Servers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Stop()
	undo, err := ns.Inject(ctx, targets.Fault{Kind: targets.FaultCrash, On: targets.FaultOnNATS})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", strings.TrimPrefix(ns.URL, "nats://"))
	if err != nil {
		t.Fatal(err)
	}
	held := time.Now()
	time.AfterFunc(time.Second, func() { l.Close() })
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(held); d < time.Second {
		t.Errorf("restarted %v after its port was taken, before it was freed", d)
	}
	nc, err := nats.Connect(ns.URL, nats.Timeout(2*time.Second))
	if err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	nc.Close()
	b, _ := os.ReadFile(ns.children[0].log)
	if !strings.Contains(string(b), "address already in use") {
		t.Errorf("the log does not show a start refused for the port:\n%s", lastLines(b, 10))
	}
}
