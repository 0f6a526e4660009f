package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	toxiproxytoxics "github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/stampede-bench/stampede/targets"
)

// TestProxyFaults puts the proxy between pgx and a real, embedded
// PostgreSQL and checks each network fault and its undo, then Close.
func TestProxyFaults(t *testing.T) {
	ctx := context.Background()
	pg, err := StartPostgres(ctx, PostgresOptions{})
	if err != nil {
		t.Fatalf("embedded PostgreSQL could not start (run scripts/setup to install it): %v", err)
	}
	t.Cleanup(func() {
		if err := pg.Stop(); err != nil {
			t.Error(err)
		}
	})
	px, err := StartProxy("postgres", fmt.Sprintf("127.0.0.1:%d", pg.Port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	host, port, err := net.SplitHostPort(px.Addr())
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("Addr() = %q (%v), want 127.0.0.1 and the port the kernel chose", px.Addr(), err)
	}
	dsn := fmt.Sprintf("postgres://stampede@%s/postgres?sslmode=disable", px.Addr())

	// connect opens a connection through the proxy within d.
	connect := func(d time.Duration) (*pgx.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		return pgx.Connect(ctx, dsn)
	}
	// selectOne runs SELECT 1 on conn within d.
	selectOne := func(conn *pgx.Conn, d time.Duration) error {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		var one int
		if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
			return err
		}
		if one != 1 {
			return fmt.Errorf("SELECT 1 returned %d", one)
		}
		return nil
	}
	// works checks that a fresh connection through the proxy answers.
	works := func(t *testing.T, when string) {
		t.Helper()
		conn, err := connect(10 * time.Second)
		if err != nil {
			t.Fatalf("%s: connecting through the proxy: %v", when, err)
		}
		defer conn.Close(ctx)
		if err := selectOne(conn, 10*time.Second); err != nil {
			t.Fatalf("%s: SELECT 1 through the proxy: %v", when, err)
		}
	}
	// inject puts f into the proxy and returns its undo.
	inject := func(t *testing.T, f targets.Fault) func(context.Context) error {
		t.Helper()
		undo, err := px.Inject(f)
		if err != nil {
			t.Fatalf("Inject(%s): %v", f.Kind, err)
		}
		return undo
	}
	// runUndo calls undo twice: the second call must be harmless.
	runUndo := func(t *testing.T, undo func(context.Context) error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := undo(ctx); err != nil {
			t.Fatalf("undo: %v", err)
		}
		if err := undo(ctx); err != nil {
			t.Fatalf("a second undo: %v", err)
		}
	}

	t.Run("plain", func(t *testing.T) {
		works(t, "no fault")
	})

	t.Run("latency", func(t *testing.T) {
		conn, err := connect(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		const latency = 50 * time.Millisecond
		undo := inject(t, targets.Fault{Kind: targets.FaultLatency, Latency: latency})
		start := time.Now()
		err = selectOne(conn, 10*time.Second)
		took := time.Since(start)
		if err != nil {
			t.Fatalf("SELECT 1 with latency: %v", err)
		}
		if took < latency {
			t.Errorf("SELECT 1 with %v of latency took %v, want at least %v", latency, took, latency)
		}
		t.Logf("SELECT 1 with %v of latency: %v", latency, took)
		// A connection opened while the latency is on is slowed too.
		fresh, err := connect(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer fresh.Close(ctx)
		start = time.Now()
		err = selectOne(fresh, 10*time.Second)
		took = time.Since(start)
		if err != nil || took < latency {
			t.Errorf("SELECT 1 on a connection opened with %v of latency took %v (%v), want at least %v", latency, took, err, latency)
		}
		runUndo(t, undo)
		works(t, "after latency's undo")
		if err := selectOne(conn, 10*time.Second); err != nil {
			t.Errorf("the connection open through the latency fails after its undo: %v", err)
		}
	})

	t.Run("blackhole", func(t *testing.T) {
		const deadline = 300 * time.Millisecond
		before, err := connect(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer before.Close(ctx)
		undo := inject(t, targets.Fault{Kind: targets.FaultBlackhole})
		// A connection opened before the fault hangs.
		start := time.Now()
		err = selectOne(before, deadline)
		took := time.Since(start)
		if !timedOut(err) || took < deadline {
			t.Errorf("SELECT 1 on a blackholed connection: %v after %v, want the %v deadline", err, took, deadline)
		}
		// A connection opened during the fault hangs too: its start-up
		// message goes nowhere.
		start = time.Now()
		conn, err := connect(deadline)
		took = time.Since(start)
		if err == nil {
			conn.Close(ctx)
		}
		if !timedOut(err) || took < deadline {
			t.Errorf("connecting through the blackhole: %v after %v, want the %v deadline", err, took, deadline)
		}
		runUndo(t, undo)
		works(t, "after blackhole's undo")
	})

	t.Run("reset", func(t *testing.T) {
		before, err := connect(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer before.Close(ctx)
		undo := inject(t, targets.Fault{Kind: targets.FaultReset})
		// An open connection is cut as soon as it sends.
		if err := selectOne(before, 10*time.Second); err == nil || timedOut(err) {
			t.Errorf("SELECT 1 on a connection open through the reset: %v, want the connection cut", err)
		} else {
			t.Logf("open through the reset: %v", err)
		}
		// A new connection is cut too, at once (not by a deadline).
		conn, err := connect(10 * time.Second)
		if err == nil {
			err = selectOne(conn, 10*time.Second)
			conn.Close(ctx)
		}
		if err == nil || timedOut(err) {
			t.Errorf("a new connection through the reset: %v, want the connection cut", err)
		} else {
			t.Logf("through the reset: %v", err)
		}
		runUndo(t, undo)
		works(t, "after reset's undo")
	})

	t.Run("undo removes its own toxics", func(t *testing.T) {
		if n := toxicsOf(px); len(n) != 0 {
			t.Fatalf("toxics left by the faults before: %v", n)
		}
		a := inject(t, targets.Fault{Kind: targets.FaultLatency, Latency: time.Millisecond})
		b := inject(t, targets.Fault{Kind: targets.FaultBlackhole})
		if n := toxicsOf(px); len(n) != 3 {
			t.Errorf("toxics after a latency and a blackhole: %v, want 3 (latency downstream, timeout both ways)", n)
		}
		runUndo(t, b)
		if n := toxicsOf(px); len(n) != 1 || n[0] != "latency/downstream" {
			t.Errorf("toxics after the blackhole's undo: %v, want the latency's only", n)
		}
		runUndo(t, a)
		if n := toxicsOf(px); len(n) != 0 {
			t.Errorf("toxics after both undos: %v, want none", n)
		}
	})

	t.Run("unknown kind", func(t *testing.T) {
		for _, kind := range []string{targets.FaultPause, "jam"} {
			_, err := px.Inject(targets.Fault{Kind: kind})
			if !errors.Is(err, targets.ErrFault) || !strings.Contains(err.Error(), kind) || !strings.Contains(err.Error(), targets.FaultBlackhole) {
				t.Errorf("Inject(%s): %v, want an error wrapping targets.ErrFault naming it and the accepted kinds", kind, err)
			}
		}
		works(t, "after refused faults")
	})

	t.Run("close", func(t *testing.T) {
		open, err := connect(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer open.Close(ctx)
		if err := px.Close(); err != nil {
			t.Fatal(err)
		}
		if err := px.Close(); err != nil {
			t.Errorf("a second Close: %v", err)
		}
		if c, err := net.DialTimeout("tcp", px.Addr(), 5*time.Second); err == nil {
			c.Close()
			t.Errorf("dialing %s after Close succeeded, want it refused", px.Addr())
		} else if !strings.Contains(err.Error(), "refused") {
			t.Errorf("dialing %s after Close: %v, want it refused", px.Addr(), err)
		}
		if err := selectOne(open, 10*time.Second); err == nil || timedOut(err) {
			t.Errorf("SELECT 1 on a connection open through the proxy after Close: %v, want the connection closed", err)
		}
		if _, err := px.Inject(targets.Fault{Kind: targets.FaultLatency}); err == nil {
			t.Error("Inject on a closed proxy succeeded")
		}
	})
}

// toxicsOf lists the proxy's toxics as type/stream.
func toxicsOf(px *Proxy) []string {
	var names []string
	for _, tx := range px.tp.Toxics.GetToxicArray() {
		if w, ok := tx.(*toxiproxytoxics.ToxicWrapper); ok {
			names = append(names, w.Type+"/"+w.Stream)
		}
	}
	return names
}

// timedOut reports whether err is a context deadline's.
func timedOut(err error) bool {
	return err != nil && (errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err))
}
