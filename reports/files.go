package reports

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stampede-bench/stampede/bench"
)

// WriteAll renders every report of res into dir: index.html, summary.md,
// the figures as PNG and SVG, a .hgrm and a .hlog per design, and
// bench.txt. Each file is written to a temporary name and renamed.
func WriteAll(dir string, res *bench.Results) error {
	figs, err := Figures(res)
	if err != nil {
		return err
	}
	files := map[string][]byte{}
	for _, f := range figs {
		files[f.Name+".png"], files[f.Name+".svg"] = f.PNG, f.SVG
	}
	var b bytes.Buffer
	if err := HTML(&b, res, figs); err != nil {
		return err
	}
	files["index.html"] = bytes.Clone(b.Bytes())
	b.Reset()
	if err := Markdown(&b, res); err != nil {
		return err
	}
	files["summary.md"] = bytes.Clone(b.Bytes())
	b.Reset()
	if err := BenchText(&b, res); err != nil {
		return err
	}
	files["bench.txt"] = bytes.Clone(b.Bytes())
	for _, r := range okRuns(res) {
		b.Reset()
		if err := Hgrm(&b, r); err != nil {
			return fmt.Errorf("%s.hgrm: %w", r.Target, err)
		}
		files[r.Target+".hgrm"] = bytes.Clone(b.Bytes())
		b.Reset()
		if err := Hlog(&b, res, r); err != nil {
			return fmt.Errorf("%s.hlog: %w", r.Target, err)
		}
		files[r.Target+".hlog"] = bytes.Clone(b.Bytes())
	}
	for name, data := range files {
		if err := bench.WriteFileAtomic(filepath.Join(dir, name), data); err != nil {
			return err
		}
	}
	return nil
}

// Hgrm writes the response-time percentile distribution of a run in
// HdrHistogram's text format, in milliseconds.
func Hgrm(w io.Writer, r *bench.TargetRun) error {
	h, err := decode(r.Histograms.Response)
	if err != nil {
		return err
	}
	_, err = h.PercentilesPrint(w, 5, 1000) // µs recorded, ms written
	return err
}

// Hlog writes a run's response times as an HdrHistogram interval log, in
// microseconds. results.json keeps the run's merged histogram, so the log
// holds one interval: the whole run.
func Hlog(w io.Writer, res *bench.Results, r *bench.TargetRun) error {
	h, err := decode(r.Histograms.Response)
	if err != nil {
		return err
	}
	start := res.StartedAt.UnixMilli()
	h.SetStartTimeMs(start)
	h.SetEndTimeMs(start + int64(r.DurationS*1000))
	h.SetTag(r.Target)
	lw := hdrhistogram.NewHistogramLogWriter(w)
	for _, step := range []func() error{
		lw.OutputLogFormatVersion,
		func() error {
			return lw.OutputComment(fmt.Sprintf("stampede %s: %s on %s, response time in microseconds (so Interval_Max reads in seconds), one interval: the whole run",
				res.Environment.Stampede, r.Target, res.Scenario.Name))
		},
		func() error { return lw.OutputStartTime(start) },
		func() error { return lw.OutputBaseTime(start) },
		lw.OutputLegend,
		func() error { return lw.OutputIntervalHistogram(h) },
	} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// BenchText writes one line per design in the Go benchmark format, which
// benchstat compares across runs: time per answer (ns/op), p50 and p99
// response time, throughput, and the correctness figures as custom units.
func BenchText(w io.Writer, res *bench.Results) error {
	fmt.Fprintf(w, "goos: %s\ngoarch: %s\npkg: github.com/stampede-bench/stampede\n", res.Environment.OS, res.Environment.Arch)
	for _, r := range okRuns(res) {
		nsPerOp := 0.0
		if r.ThroughputPerS > 0 {
			nsPerOp = 1e9 / r.ThroughputPerS
		}
		name := benchName(res.Scenario.Name) + "/" + benchName(r.Target)
		fmt.Fprintf(w, "BenchmarkStampede/%s\t%d\t%.0f ns/op\t%.0f answers/s\t%d p50-us\t%d p99-us\t%d p999-us\t%d oversold\t%g dup-rate\t%d lost\t%d apologies\n",
			name, max(r.Orders.Attempts, 1), nsPerOp, r.ThroughputPerS, r.LatencyUS.P50, r.LatencyUS.P99, r.LatencyUS.P999,
			r.Checks.Oversold, r.Checks.DuplicateRate, r.Checks.Lost, r.Checks.Apologies)
	}
	return nil
}

// benchName keeps a name to the characters a benchmark name may hold.
func benchName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\n' {
			return '_'
		}
		return r
	}, s)
}
