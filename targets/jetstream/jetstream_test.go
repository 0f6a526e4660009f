package jetstream_test

import (
	"strings"
	"testing"

	"github.com/stampede-bench/stampede/internal/designtest"
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
			runs := map[string]struct{ oversold, duplicated, lost, phantom, conflicts int64 }{}
			for _, name := range []string{"jetstream", "jetstream-noexpect", "jetstream-nodedupe", "jetstream-kv"} {
				r := designtest.Run(t, name, sc, setup.opts...)
				k := r.Checks
				runs[name] = struct{ oversold, duplicated, lost, phantom, conflicts int64 }{
					k.Oversold, k.DuplicatedOrders, k.Lost, k.Phantom, r.Orders.Conflicts}
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
			for _, name := range []string{"jetstream", "jetstream-kv", "jetstream-nodedupe"} {
				if runs[name].oversold != 0 {
					t.Errorf("%s: oversold %d, want 0: the expected sequence guards the stock", name, runs[name].oversold)
				}
				if runs[name].conflicts == 0 {
					t.Errorf("%s: no conflicts reported under a flash crowd", name)
				}
			}
			if runs["jetstream"].duplicated != 0 {
				t.Errorf("jetstream: duplicated %d, want 0: Nats-Msg-Id dedupes resubmissions", runs["jetstream"].duplicated)
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
