package reports

import (
	"strings"
	"testing"
	"time"

	"github.com/stampede-bench/stampede/bench/results"
	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
)

var testTime = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func TestFormatUS(t *testing.T) {
	for us, want := range map[int64]string{0: "0µs", 850: "850µs", 1234: "1.23ms", 12345: "12.3ms", 1_500_000: "1.50s"} {
		if got := FormatUS(us); got != want {
			t.Errorf("FormatUS(%d) = %q, want %q", us, got, want)
		}
	}
}

func TestSummary(t *testing.T) {
	sc := &scenario.Scenario{Name: "flash-crowd", Stock: scenario.Stock{Products: 19, Capacity: 100}}
	res := results.New(sc, testTime)
	res.Interrupted = true
	res.Runs = []*results.TargetRun{
		{Target: "memory-racy", Loop: "open", ThroughputPerS: 3891, Info: targets.Info{Durability: "none (memory only)"},
			LatencyUS: results.Latency{P50: 39, P90: 67, P99: 3430, P999: 4000, Max: 6130}, ServiceUS: results.Latency{P99: 3380},
			Orders:    results.Orders{Submitted: 30000, Attempts: 31443, Confirmed: 772, SoldOut: 30671, Bought: 772, Seats: 1909},
			Checks:    results.Checks{Capacity: 1900, Sold: 1909, Oversold: 9, DuplicatedOrders: 23, DuplicateRate: 0.00077},
			Generator: results.Generator{LateSends: 1000, MaxLagUS: 950_000}},
		{Target: "ledger", Error: "ledger: setup: no server"},
	}
	var b strings.Builder
	if err := Summary(&b, res); err != nil {
		t.Fatal(err)
	}
	out := strings.Join(strings.Fields(b.String()), " ") // column widths vary with the rows
	for _, want := range []string{
		"INTERRUPTED", "memory-racy open 3891 0 0 39µs 67µs 3.43ms 4.00ms 6.13ms 3.38ms", "1909/1900 9 0 23 0.0008 0 0 0",
		"ledger failed", "ledger failed: ledger: setup: no server", "memory-racy durability: none (memory only)",
		"3.2% of sends left over 1ms late (worst 950.0ms)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

// A spread run's notes name its agents, and say so when one was lost.
func TestAgentsNote(t *testing.T) {
	sc := &scenario.Scenario{Name: "steady", Stock: scenario.Stock{Products: 1, Capacity: 10}}
	res := results.New(sc, testTime)
	res.Runs = []*results.TargetRun{{Target: "sqlcounter", Loop: "open", Incomplete: true, Agents: []results.Agent{
		{Name: "a1", Share: 1, Of: 2, Complete: true, Attempts: 120, LatencyUS: &results.Latency{P99: 1234}},
		{Name: "a2", Share: 2, Of: 2, Error: "lost: no heartbeat for 3s"},
	}}}
	notes := strings.Join(Notes(res), "\n")
	for _, want := range []string{
		"sqlcounter was sent by 2 agents, merged exactly: a1 (share 1/2, 120 attempts, p99 1.23ms); a2 (share 2/2): incomplete, lost: no heartbeat for 3s",
		"INCOMPLETE: the buyers of a lost agent's share are counted as unknown answers",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
}
