package reports

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stampede-bench/stampede/bench/results"
)

// WriteAll renders every report of res into dir: index.html, summary.md,
// the figures as PNG and SVG, a .hgrm and a .hlog per design, and
// bench.txt. Each file is written to a temporary name and renamed; then
// the report files of an earlier report in dir that this one did not
// write are removed, so that dir holds one report whole (results.json is
// the caller's and stays).
func WriteAll(dir string, res *results.Results) error {
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
		if err := results.WriteFileAtomic(filepath.Join(dir, name), data); err != nil {
			return err
		}
	}
	return removeStale(dir, files)
}

// Hgrm writes the response-time percentile distribution of a run in
// HdrHistogram's text format, in milliseconds.
func Hgrm(w io.Writer, r *results.TargetRun) error {
	h, err := decode(r.Histograms.Response)
	if err != nil {
		return err
	}
	_, err = h.PercentilesPrint(w, 5, 1000) // µs recorded, ms written
	return err
}

// Hlog writes a run's response times as an HdrHistogram interval log, in
// microseconds. results.json keeps the run's merged histogram, so the log
// holds one interval: the whole run of the design, from when its load
// began (its own start, or the run's for results written before designs
// had one) for its duration. Timestamps are relative to the BaseTime the
// log declares, so HdrHistogram's log readers place the interval at the
// real time it happened.
func Hlog(w io.Writer, res *results.Results, r *results.TargetRun) error {
	h, err := decode(r.Histograms.Response)
	if err != nil {
		return err
	}
	start := r.StartedAt.UnixMilli()
	if r.StartedAt.IsZero() {
		start = res.StartedAt.UnixMilli()
	}
	h.SetStartTimeMs(start)
	h.SetEndTimeMs(start + int64(math.Round(r.DurationS*1000)))
	h.SetTag(r.Target)
	lw := hdrhistogram.NewHistogramLogWriter(w)
	lw.SetBaseTime(start)
	for _, step := range []func() error{
		lw.OutputLogFormatVersion,
		func() error {
			return lw.OutputComment(fmt.Sprintf("stampede %s: %s on %s, response time in microseconds (so Interval_Max reads in seconds), one interval: the whole run",
				res.Environment.Stampede, r.Target, res.Scenario.Name))
		},
		// StartTime and BaseTime to the millisecond, as Java's
		// HdrHistogram writes them: the Go writer's own lines keep whole
		// seconds only, which its reader adds to our relative timestamps.
		func() error {
			_, err := fmt.Fprintf(w, "#[StartTime: %.3f (seconds since epoch), %s]\n", float64(start)/1000,
				time.UnixMilli(start).UTC().Format(time.RFC3339Nano))
			return err
		},
		func() error {
			_, err := fmt.Fprintf(w, "#[BaseTime: %.3f (seconds since epoch)]\n", float64(start)/1000)
			return err
		},
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
// benchstat compares across runs; one line per repetition of a design
// that ran several times (-repeat N), so that benchstat has its samples
// from one file. The primary figure, ns/op, is the mean
// response time of a buyer's submission (from its scheduled click to its
// final answer, the wait of buyers still queued at the end included), so
// it differs between designs where a rate would not: in open loop every
// design that keeps up answers at the offered rate. The other figures are
// custom units: answers/s, sales/s and seats/s (goodput), p50/p99/p99.9 response time, the generator's
// send-lag p99, buyers not sent, and the correctness figures. A design that
// failed or never started gets a comment line, which benchstat ignores.
func BenchText(w io.Writer, res *results.Results) error {
	fmt.Fprintf(w, "goos: %s\ngoarch: %s\npkg: github.com/stampede-bench/stampede\n", res.Environment.OS, res.Environment.Arch)
	for _, run := range res.Runs {
		name := benchName(res.Scenario.Name) + "/" + benchName(run.Target)
		for _, r := range results.Reps(run) {
			if r.Error != "" {
				fmt.Fprintf(w, "# BenchmarkStampede/%s failed: %s\n", name, OneLine(r.Error))
				continue
			}
			l := r.LatencyUS
			fmt.Fprintf(w, "BenchmarkStampede/%s\t%d\t%.0f ns/op\t%.0f answers/s\t%.1f sales/s\t%.1f seats/s\t%d p50-us\t%d p99-us\t%d p999-us\t%d send-lag-p99-us\t%d not-sent\t%d oversold\t%d undersold\t%g dup-rate\t%d lost\t%d apologies\n",
				name, max(l.Count, 1), l.Mean*1000, r.ThroughputPerS, r.GoodputPerS, r.SeatsPerS, l.P50, l.P99, l.P999, r.Generator.LagUS.P99, r.Orders.NotSent,
				r.Checks.Oversold, r.Checks.Undersold, r.Checks.DuplicateRate, r.Checks.Lost, r.Checks.Apologies)
		}
	}
	for _, t := range NotRun(res) {
		fmt.Fprintf(w, "# BenchmarkStampede/%s/%s not run: the run was interrupted before it started\n", benchName(res.Scenario.Name), benchName(t))
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
