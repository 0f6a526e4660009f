package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stampede-bench/stampede/bench"
	"github.com/stampede-bench/stampede/targets"
)

// checkMetricsAddr reads -metrics: HOST:PORT, or :PORT for 127.0.0.1.
// The endpoint listens on loopback unless the user names another host.
func checkMetricsAddr(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", usagef("run: -metrics %q: not HOST:PORT (accepted: such as 127.0.0.1:9464, or :9464 for 127.0.0.1)", s)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", usagef("run: -metrics %q: the port %q is not a number from 0 to 65535 (accepted: such as 127.0.0.1:9464)", s, port)
	}
	return net.JoinHostPort(host, port), nil
}

// liveMetrics serves Prometheus metrics of the run under way at /metrics,
// from the engine's progress reports: the endpoint lives as long as the
// run.
type liveMetrics struct {
	srv  *http.Server
	addr string

	mu       sync.Mutex
	scenario string
	designs  []string                  // in the order they first reported
	last     map[string]bench.Progress // each design's latest report
}

// startMetrics listens on addr and serves /metrics.
func startMetrics(addr, scenario string) (*liveMetrics, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	m := &liveMetrics{addr: ln.Addr().String(), scenario: scenario, last: map[string]bench.Progress{}}
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go m.srv.Serve(ln)
	return m, nil
}

// update keeps a design's latest progress report.
func (m *liveMetrics) update(p bench.Progress) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.last[p.Target]; !ok {
		m.designs = append(m.designs, p.Target)
	}
	m.last[p.Target] = p
}

// Close stops the endpoint: its port no longer listens.
func (m *liveMetrics) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

var (
	descAttempts  = prometheus.NewDesc("stampede_attempts_total", "Attempts sent to the design (retries and double-clicks included).", []string{"scenario", "design"}, nil)
	descAnswers   = prometheus.NewDesc("stampede_answers_total", "Attempts answered, by outcome, over the complete seconds of the run.", []string{"scenario", "design", "outcome"}, nil)
	descSold      = prometheus.NewDesc("stampede_sold_seats_total", "Seats confirmed to buyers (each order's first confirmation).", []string{"scenario", "design"}, nil)
	descCapacity  = prometheus.NewDesc("stampede_capacity_seats", "Seats on sale.", []string{"scenario", "design"}, nil)
	descRate      = prometheus.NewDesc("stampede_attempts_per_second", "Attempts answered during the last complete second.", []string{"scenario", "design"}, nil)
	descP99       = prometheus.NewDesc("stampede_response_p99_seconds", "p99 response time of the last complete second (from the scheduled click).", []string{"scenario", "design"}, nil)
	descResponse  = prometheus.NewDesc("stampede_response_seconds", "Response times of the submissions that ended, from the scheduled click, over the complete seconds of the run.", []string{"scenario", "design"}, nil)
	descElapsed   = prometheus.NewDesc("stampede_elapsed_seconds", "Time since the design's load began.", []string{"scenario", "design"}, nil)
	descRepeating = prometheus.NewDesc("stampede_repetition", "The repetition under way (-repeat).", []string{"scenario", "design"}, nil)
	descLate      = prometheus.NewDesc("stampede_late_sends_total", "Sends that left over 1ms after their scheduled time: every sender was busy (generator lag).", []string{"scenario", "design"}, nil)
	descMaxLag    = prometheus.NewDesc("stampede_send_lag_max_seconds", "The latest a send has left after its scheduled time so far (counted from 1ms late).", []string{"scenario", "design"}, nil)
	descExpired   = prometheus.NewDesc("stampede_not_sent_expired_total", "Attempts never sent: the buyer's timeout ran out while every sender was busy.", []string{"scenario", "design"}, nil)
)

// Describe and Collect make liveMetrics a prometheus.Collector.
func (m *liveMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAttempts, descAnswers, descSold, descCapacity, descRate, descP99, descResponse, descElapsed, descRepeating,
		descLate, descMaxLag, descExpired} {
		ch <- d
	}
}

func (m *liveMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range m.designs {
		p := m.last[d]
		l := []string{m.scenario, d}
		ch <- prometheus.MustNewConstMetric(descAttempts, prometheus.CounterValue, float64(p.Attempts), l...)
		for o, n := range p.Outcomes {
			ch <- prometheus.MustNewConstMetric(descAnswers, prometheus.CounterValue, float64(n), m.scenario, d, targets.Outcome(o).String())
		}
		ch <- prometheus.MustNewConstMetric(descSold, prometheus.CounterValue, float64(p.Sold), l...)
		ch <- prometheus.MustNewConstMetric(descCapacity, prometheus.GaugeValue, float64(p.Capacity), l...)
		ch <- prometheus.MustNewConstMetric(descRate, prometheus.GaugeValue, p.AttemptsPS, l...)
		ch <- prometheus.MustNewConstMetric(descP99, prometheus.GaugeValue, p.P99.Seconds(), l...)
		ch <- prometheus.MustNewConstMetric(descElapsed, prometheus.GaugeValue, p.Elapsed.Seconds(), l...)
		ch <- prometheus.MustNewConstMetric(descRepeating, prometheus.GaugeValue, float64(max(p.Repetition, 1)), l...)
		ch <- prometheus.MustNewConstMetric(descLate, prometheus.CounterValue, float64(p.LateSends), l...)
		ch <- prometheus.MustNewConstMetric(descMaxLag, prometheus.GaugeValue, p.MaxLag.Seconds(), l...)
		ch <- prometheus.MustNewConstMetric(descExpired, prometheus.CounterValue, float64(p.Expired), l...)
		buckets := map[float64]uint64{}
		var cum uint64
		for i, b := range bench.ResponseBounds {
			cum += p.Responses[i]
			buckets[b.Seconds()] = cum
		}
		cum += p.Responses[len(bench.ResponseBounds)]
		ch <- prometheus.MustNewConstHistogram(descResponse, cum, p.ResponseUS/1e6, buckets, l...)
	}
}

// jsonProgress writes a progress report as one line of JSON, at most one
// a second per design, for CI logs (-progress json).
type jsonProgress struct {
	w    io.Writer
	last map[string]time.Duration
}

func (j *jsonProgress) write(i, n int, p bench.Progress) {
	if last, ok := j.last[p.Target]; ok && p.Elapsed-last < time.Second {
		return
	}
	j.last[p.Target] = p.Elapsed
	line := struct {
		Design      string  `json:"design"`
		Index       int     `json:"index"`
		Designs     int     `json:"designs"`
		Repetition  int     `json:"repetition,omitempty"`
		Repeat      int     `json:"repeat,omitempty"`
		ElapsedS    float64 `json:"elapsed_s"`
		Attempts    int64   `json:"attempts"`
		AttemptsPS  float64 `json:"attempts_per_s"`
		P99MS       float64 `json:"p99_ms"`
		Sold        int64   `json:"sold"`
		Capacity    int64   `json:"capacity"`
		Submissions int     `json:"submissions"`
		LateSends   int64   `json:"late_sends"`
		MaxLagMS    float64 `json:"max_send_lag_ms"`
		Expired     int64   `json:"not_sent_expired"`
	}{p.Target, i + 1, n, p.Repetition, p.Repeat, p.Elapsed.Seconds(), p.Attempts, p.AttemptsPS,
		float64(p.P99.Microseconds()) / 1e3, p.Sold, p.Capacity, p.Submissions,
		p.LateSends, float64(p.MaxLag.Microseconds()) / 1e3, p.Expired}
	b, _ := json.Marshal(line)
	fmt.Fprintf(j.w, "%s\n", b)
}
