package bench_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stampede-bench/stampede/bench"
	"github.com/stampede-bench/stampede/bench/results"
	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
	_ "github.com/stampede-bench/stampede/targets/all"
	"github.com/stampede-bench/stampede/targets/designtest"
	"github.com/stampede-bench/stampede/targets/embedded"
)

// TestMain gives the package's benchmarks one embedded PostgreSQL and one
// in-process nats-server, started when first needed and stopped at the end.
func TestMain(m *testing.M) { designtest.Main(m) }

// benchScenarios are the built-in scenarios cut to benchmark size.
func benchScenarios(b *testing.B) []*scenario.Scenario {
	hot := designtest.Scenario(b, "hot-product")
	hot.Name = "hot-product"
	hot.Arrivals.Users, hot.Arrivals.Duration = 16, scenario.Duration(time.Second)
	crowd := designtest.Scenario(b, "flash-crowd")
	crowd.Name = "flash-crowd-short"
	// 0 to 5,000/s in 0.5s, 1s hold, 0.5s down: 7,500 buyers for 1,900 seats.
	crowd.Arrivals.Ramp, crowd.Arrivals.Hold, crowd.Arrivals.Decay = scenario.Duration(500*time.Millisecond), scenario.Duration(time.Second), scenario.Duration(500*time.Millisecond)
	crowd.Demand.Buyers = 0
	for _, s := range []*scenario.Scenario{hot, crowd} {
		if err := s.Validate(); err != nil {
			b.Fatal(err)
		}
	}
	return []*scenario.Scenario{hot, crowd}
}

// BenchmarkDesigns runs every registered design on each benchmark scenario
// through the same engine as the CLI. One op is one whole run; ns/op is
// the time per definite answer (1/throughput), and the custom metrics are
// the run's p50 and p99 response time, orders per second, oversold tickets,
// duplicate rate and conflicts per order. A design whose backend cannot be
// had is skipped with the way to get it, except with CI=true.
func BenchmarkDesigns(b *testing.B) {
	scenarios := benchScenarios(b)
	for _, name := range targets.Names() {
		for _, sc := range scenarios {
			b.Run(name+"/"+sc.Name, func(b *testing.B) {
				plan := scenario.NewPlan(sc)
				var thr, p50, p99, oversold, dup, conflicts, orders float64
				for range b.N {
					r := runDesign(b, name, plan)
					thr += r.ThroughputPerS
					p50 += float64(r.LatencyUS.P50)
					p99 += float64(r.LatencyUS.P99)
					oversold += float64(r.Checks.Oversold)
					dup += r.Checks.DuplicateRate
					conflicts += float64(r.Orders.Conflicts)
					orders += float64(max(r.Orders.Submitted, 1))
				}
				n := float64(b.N)
				if thr > 0 {
					b.ReportMetric(1e9/(thr/n), "ns/op")
				}
				b.ReportMetric(thr/n, "orders/s")
				b.ReportMetric(p50/n, "p50-us")
				b.ReportMetric(p99/n, "p99-us")
				b.ReportMetric(oversold/n, "oversold")
				b.ReportMetric(dup/n, "dup-rate")
				b.ReportMetric(conflicts/orders, "conflicts/order")
			})
		}
	}
}

func runDesign(b *testing.B, name string, plan *scenario.Plan) *results.TargetRun {
	b.Helper()
	tgt := designtest.New(b, name)
	r, err := bench.Run(context.Background(), name, tgt, plan, bench.Options{})
	if err != nil {
		if errors.Is(err, embedded.ErrNoPostgres) && os.Getenv("CI") != "true" {
			b.Skipf("%s needs PostgreSQL's server binaries: run scripts/setup (installs the Debian package postgresql): %v", name, err)
		}
		b.Fatal(err)
	}
	return r
}
