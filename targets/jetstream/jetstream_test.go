package jetstream_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/designtest"
	"github.com/stampede-bench/stampede/targets/embedded"
)

func TestMain(m *testing.M) { designtest.Main(m) }

// The JetStream designs on the flash crowd, on a real in-process
// nats-server: one node, and three clustered with R3 streams.
func TestFlashCrowd(t *testing.T) {
	sc := designtest.Scenario(t, "flash-crowd")
	for _, setup := range []struct {
		name string
		opts []string
	}{
		{"single node", nil},
		{"3-node cluster", []string{"jetstream.replicas=3"}},
	} {
		t.Run(setup.name, func(t *testing.T) {
			runs := map[string]struct{ oversold, duplicated, lost, phantom, conflicts, contradicted int64 }{}
			for _, name := range []string{"jetstream", "jetstream-noexpect", "jetstream-nodedupe", "jetstream-kv", "jetstream-once"} {
				r := designtest.Run(t, name, sc, setup.opts...)
				k := r.Checks
				if name != "jetstream-noexpect" { // its conflicts are the expectations': wrong last sequence
					designtest.CheckConflictCauses(t, r, "jetstream 10071 (wrong last sequence)",
						"jetstream 10164 (wrong last sequence)", "jetstream 10158 (message id in process)")
				}
				runs[name] = struct{ oversold, duplicated, lost, phantom, conflicts, contradicted int64 }{
					k.Oversold, k.DuplicatedOrders, k.Lost, k.Phantom, r.Orders.Conflicts, k.Contradicted}
				want := "1"
				if setup.opts != nil {
					want = "3"
				}
				if r.Info.Settings["replicas"] != want || !strings.Contains(r.Info.Durability, "file store") {
					t.Errorf("%s: info does not state the replication (%s) and durability: %+v", name, want, r.Info)
				}
			}
			for name, r := range runs {
				if r.lost != 0 || r.phantom != 0 {
					t.Errorf("%s: lost %d, phantom %d; want 0", name, r.lost, r.phantom)
				}
			}
			for _, name := range []string{"jetstream", "jetstream-kv", "jetstream-nodedupe", "jetstream-once"} {
				if runs[name].oversold != 0 {
					t.Errorf("%s: oversold %d, want 0: the expected sequence guards the stock", name, runs[name].oversold)
				}
				if runs[name].conflicts == 0 {
					t.Errorf("%s: no conflicts reported under a flash crowd", name)
				}
			}
			// The designs with message ids answer a resubmission as the
			// stream decided it; those without cannot recognise one.
			for _, name := range []string{"jetstream", "jetstream-noexpect", "jetstream-once"} {
				if runs[name].contradicted != 0 {
					t.Errorf("%s: %d orders told both yes and no, want 0", name, runs[name].contradicted)
				}
			}
			for _, name := range []string{"jetstream", "jetstream-once"} {
				if runs[name].duplicated != 0 {
					t.Errorf("%s: duplicated %d, want 0: resubmissions are recognised", name, runs[name].duplicated)
				}
			}
			if runs["jetstream-noexpect"].oversold <= 0 {
				t.Errorf("jetstream-noexpect: oversold %d, want above 0", runs["jetstream-noexpect"].oversold)
			}
			if runs["jetstream-nodedupe"].duplicated <= 0 {
				t.Errorf("jetstream-nodedupe: duplicated %d, want above 0", runs["jetstream-nodedupe"].duplicated)
			}
		})
	}
}

// With every message fsynced the designs still hold, and say so.
func TestSyncAlways(t *testing.T) {
	sc := designtest.Scenario(t, "flash-crowd")
	r := designtest.Run(t, "jetstream", sc, "jetstream.sync=always")
	if r.Checks.Oversold != 0 || r.Checks.DuplicatedOrders != 0 || r.Checks.Lost != 0 {
		t.Errorf("oversold %d duplicated %d lost %d; want 0", r.Checks.Oversold, r.Checks.DuplicatedOrders, r.Checks.Lost)
	}
	if r.Info.Settings["sync"] != "always" || !strings.Contains(r.Info.Durability, "fsync per message") {
		t.Errorf("info does not say every message is fsynced: %+v", r.Info)
	}
}

// A server stampede did not start is labelled by what it says of itself,
// whatever its address: a nats-server on 127.0.0.1 named with -nats is not
// the embedded one, and its fsync interval is not known.
func TestInfoOfAServerNotStarted(t *testing.T) {
	s, err := server.NewServer(&server.Options{ServerName: "theirs", Host: "127.0.0.1", Port: server.RANDOM_PORT,
		JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	defer s.Shutdown()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	env := &embedded.Env{NATSURL: s.ClientURL()}
	defer env.Close()
	tgt := designtest.NewOn(t, env, "jetstream")
	if err := tgt.(targets.Preflighter).Preflight(context.Background()); err != nil {
		t.Fatalf("preflight of a working server: %v", err)
	}
	if err := tgt.Setup(context.Background(), targets.Stock{Products: 2, Capacity: 10}); err != nil {
		t.Fatal(err)
	}
	info := tgt.Info()
	if strings.Contains(info.Backend, "in-process") || !strings.Contains(info.Backend, "not started by stampede: server theirs") {
		t.Errorf("backend %q: want the server's own name, not in-process", info.Backend)
	}
	if strings.Contains(info.Durability, "2 minutes (nats-server default), one server") || !strings.Contains(info.Durability, "fsync unknown") ||
		info.Settings["sync"] != "unknown" || info.Durable {
		t.Errorf("durability %q (sync %q, durable %v): want it unknown, not the embedded server's", info.Durability, info.Settings["sync"], info.Durable)
	}
	// And the embedded server says it is.
	if embedded := designtest.New(t, "jetstream"); embedded.Setup(context.Background(), targets.Stock{Products: 1, Capacity: 1}) == nil {
		if b := embedded.Info().Backend; !strings.Contains(b, "(started by stampede") {
			t.Errorf("embedded backend %q", b)
		}
	}
}

// Preflight of a closed port names the cause.
func TestPreflightClosedPort(t *testing.T) {
	tgt := designtest.NewOn(t, &embedded.Env{NATSURL: "nats://127.0.0.1:1"}, "jetstream")
	err := tgt.(targets.Preflighter).Preflight(context.Background())
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("preflight of a closed port: %v, want the dial's cause", err)
	}
}
