package reports

import (
	"bytes"
	"encoding/base64"
	"flag"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stampede-bench/stampede/bench"
	"github.com/stampede-bench/stampede/targets"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fixture builds results deterministically: three designs with known
// latencies and figures, one failed.
func fixture() *bench.Results {
	sc := &bench.Scenario{Name: "flash-crowd", Description: "a <b>test</b> crowd & more", Stock: bench.Stock{Products: 19, Capacity: 100},
		Arrivals: bench.Arrivals{Mode: bench.Spike}}
	res := bench.NewResults(sc, time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	res.Environment = bench.Environment{Go: "go1.26", OS: "linux", Arch: "amd64", CPUs: 2, Stampede: "test"}
	mk := func(name string, base int64, oversold, dup, lost, apologies int64, thr float64) *bench.TargetRun {
		resp, svc := hdrhistogram.New(1, 100_000_000, 3), hdrhistogram.New(1, 100_000_000, 3)
		for i := int64(1); i <= 10_000; i++ {
			v := base + i*base/1000 // a spread from base to 11x base
			resp.RecordValue(v)
			svc.RecordValue(v / 2)
		}
		enc := func(h *hdrhistogram.Histogram) string {
			b, _ := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
			return base64.StdEncoding.EncodeToString(b)
		}
		soldOut := 1.5
		r := &bench.TargetRun{Target: name, Loop: "open", DurationS: 8, ThroughputPerS: thr, SoldOutAtS: &soldOut,
			Info:       targets.Info{Design: name + " design", Consistency: "strong | <i>escaped</i>", Durability: "memory only"},
			Orders:     bench.Orders{Submitted: 9000, Attempts: 10_000, Confirmed: 800, SoldOut: 9100, Unknown: 60, Errors: 40},
			LatencyUS:  bench.Latency{Count: 10_000, P50: resp.ValueAtQuantile(50), P90: resp.ValueAtQuantile(90), P99: resp.ValueAtQuantile(99), P999: resp.ValueAtQuantile(99.9), Max: resp.Max()},
			ServiceUS:  bench.Latency{Count: 10_000, P50: svc.ValueAtQuantile(50), P99: svc.ValueAtQuantile(99), Max: svc.Max()},
			Checks:     bench.Checks{Capacity: 1900, Sold: 1900 + oversold, Oversold: oversold, DuplicatedOrders: dup, DuplicateRate: float64(dup) / 9000, Lost: lost, Apologies: apologies},
			Histograms: bench.Histograms{Response: enc(resp), Service: enc(svc)},
		}
		for s := range 8 {
			r.Timeline = append(r.Timeline, bench.Second{T: s, Attempts: 1250, Confirmed: 100, SoldOut: 1150, P50US: base, P99US: base * 10})
		}
		return r
	}
	res.Runs = []*bench.TargetRun{
		mk("memory", 40, 0, 0, 0, 0, 3891),
		mk("memory-racy", 400, 9, 23, 0, 0, 3890),
		mk("ledger-reconcile", 4000, 0, 0, 0, 12, 3500),
		{Target: "broken", Error: "setup: no <server>", Timeline: []bench.Second{}},
	}
	return res
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./reports -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./reports -update to accept):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestGoldenText(t *testing.T) {
	res := fixture()
	for _, c := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"summary.txt", func(b *bytes.Buffer) error { return Summary(b, res) }},
		{"summary.md", func(b *bytes.Buffer) error { return Markdown(b, res) }},
		{"bench.txt", func(b *bytes.Buffer) error { return BenchText(b, res) }},
		{"memory.hgrm", func(b *bytes.Buffer) error { return Hgrm(b, res.Runs[0]) }},
		{"compare.txt", func(b *bytes.Buffer) error {
			cur := fixture()
			cur.Runs[0].LatencyUS.P99 *= 2
			cur.Runs[1].Checks.Oversold = 0
			return Compare(b, res, cur)
		}},
	} {
		var b bytes.Buffer
		if err := c.write(&b); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		golden(t, c.name, b.Bytes())
	}
}

func TestVerdict(t *testing.T) {
	v := Verdict(fixture())
	for _, want := range []string{"these designs oversold: memory-racy (9 seats)", "These applied resubmitted orders twice: memory-racy (23 orders)",
		"No design lost a confirmed order", "apologies): ledger-reconcile (12 apologies)", "Fastest at p99: memory"} {
		if !strings.Contains(v, want) {
			t.Errorf("verdict lacks %q:\n%s", want, v)
		}
	}
}

// The plots hold real content: the right size, and every design's line or
// bar drawn in its colour.
func TestFigures(t *testing.T) {
	res := fixture()
	figs, err := Figures(res)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range figs {
		names[f.Name] = true
		img, err := png.Decode(bytes.NewReader(f.PNG))
		if err != nil {
			t.Fatalf("%s.png: %v", f.Name, err)
		}
		if b := img.Bounds(); b.Dx() != 990 || b.Dy() != 550 {
			t.Errorf("%s.png is %dx%d, want 990x550", f.Name, b.Dx(), b.Dy())
		}
		if !bytes.HasPrefix(bytes.TrimSpace(f.SVG), []byte("<?xml")) || !bytes.Contains(f.SVG, []byte("<svg")) {
			t.Errorf("%s.svg is not SVG", f.Name)
		}
		switch f.Name {
		case "latency", "timeline":
			// Each design has its own colour, and pixels of it are drawn.
			for i, r := range okRuns(res) {
				if n := countColor(img, palette[i]); n < 50 {
					t.Errorf("%s: %d pixels of %s's colour: its series is not drawn", f.Name, n, r.Target)
				}
				if !bytes.Contains(f.SVG, []byte(r.Target)) {
					t.Errorf("%s.svg does not name %s", f.Name, r.Target)
				}
			}
		case "correctness":
			// A zero is drawn as a labelled 0; 9 oversold, 23 duplicated, 12 apologies as numbers.
			for _, want := range []string{">0<", ">9<", ">23<", ">12<"} {
				if !bytes.Contains(f.SVG, []byte(want)) {
					t.Errorf("correctness.svg lacks the label %s", want)
				}
			}
		}
		if f.Name == "latency" && len(f.Series) != 6 {
			t.Errorf("latency draws %d series, want response and service for 3 designs: %v", len(f.Series), f.Series)
		}
	}
	for _, n := range []string{"latency", "timeline", "correctness", "outcomes"} {
		if !names[n] {
			t.Errorf("no %s figure", n)
		}
	}
}

func countColor(img image.Image, c interface{ RGBA() (r, g, b, a uint32) }) int {
	wr, wg, wb, _ := c.RGBA()
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r == wr && g == wg && bl == wb {
				n++
			}
		}
	}
	return n
}

func TestHTMLEscapesAndInlines(t *testing.T) {
	res := fixture()
	figs, err := Figures(res)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := HTML(&b, res, figs); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, bad := range []string{"<b>test</b>", "<i>escaped</i>", "no <server>"} {
		if strings.Contains(page, bad) {
			t.Errorf("index.html holds unescaped input %q", bad)
		}
	}
	if !strings.Contains(page, "&lt;b&gt;test&lt;/b&gt;") {
		t.Error("the scenario description is not escaped as text")
	}
	if n := strings.Count(page, `src="data:image/png;base64,`); n != 4 {
		t.Errorf("%d inline images, want 4", n)
	}
	for _, fetch := range []string{"http://", "https://", "<script", "<link"} {
		if strings.Contains(page, fetch) {
			t.Errorf("index.html would fetch or run something: %q", fetch)
		}
	}
}

// HdrHistogram's own reader reads the .hlog back, and its merged p99 is
// results.json's p99 within the histogram's precision.
func TestHlogRoundTrip(t *testing.T) {
	res := fixture()
	for _, r := range okRuns(res) {
		var b bytes.Buffer
		if err := Hlog(&b, res, r); err != nil {
			t.Fatal(err)
		}
		reader := hdrhistogram.NewHistogramLogReader(&b)
		merged := hdrhistogram.New(1, 100_000_000, 3)
		n := 0
		for {
			h, err := reader.NextIntervalHistogram()
			if err != nil {
				t.Fatalf("%s: %v", r.Target, err)
			}
			if h == nil {
				break
			}
			n++
			merged.Merge(h)
		}
		if n != 1 {
			t.Errorf("%s: %d intervals, want 1", r.Target, n)
		}
		got, want := merged.ValueAtQuantile(99), r.LatencyUS.P99
		if !merged.ValuesAreEquivalent(got, want) && math.Abs(float64(got-want)) > float64(want)/1000 {
			t.Errorf("%s: .hlog p99 %d, results.json p99 %d", r.Target, got, want)
		}
	}
}

func TestChecks(t *testing.T) {
	res := fixture()
	base := fixture()
	base.Runs[2].LatencyUS.P99 /= 2 // ledger-reconcile's p99 doubled since the baseline
	for _, c := range []struct {
		expr    string
		crossed []string // targets that cross
	}{
		{"oversold==0", []string{"memory-racy"}},
		{"memory:oversold==0", nil},
		{"memory-racy:duplicate_rate<0.001", []string{"memory-racy"}},
		{"p99<40ms", []string{"ledger-reconcile"}},
		{"throughput>3600", []string{"ledger-reconcile"}},
		{"p99<+10%", []string{"ledger-reconcile"}},
		{"apologies<=12", nil},
	} {
		ch, err := ParseCheck(c.expr)
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		crossed, err := Evaluate(res, base, []Check{ch})
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		var got []string
		for _, x := range crossed {
			got = append(got, x.Target)
		}
		if strings.Join(got, ",") != strings.Join(c.crossed, ",") {
			t.Errorf("%s: crossed by %v, want %v", c.expr, got, c.crossed)
		}
	}
	for _, bad := range []string{"p99<<3", "p99<50", "oversold==0ms", "speed>3", "p99<10%", "", "oversold==-1"} {
		if _, err := ParseCheck(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	ch, _ := ParseCheck("nosuch:p99<1ms")
	if _, err := Evaluate(res, nil, []Check{ch}); err == nil || !strings.Contains(err.Error(), "no design") {
		t.Errorf("a check of an absent design: %v", err)
	}
	ch, _ = ParseCheck("p99<+10%")
	if _, err := Evaluate(res, nil, []Check{ch}); err == nil {
		t.Error("a relative check without a baseline was evaluated")
	}
}

func TestWriteAll(t *testing.T) {
	dir := t.TempDir()
	if err := WriteAll(dir, fixture()); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"index.html", "summary.md", "bench.txt", "latency.png", "latency.svg", "timeline.png", "timeline.svg",
		"correctness.png", "correctness.svg", "outcomes.png", "outcomes.svg", "memory.hgrm", "memory.hlog", "memory-racy.hgrm",
		"memory-racy.hlog", "ledger-reconcile.hgrm", "ledger-reconcile.hlog"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "broken.hgrm")); err == nil {
		t.Error("a failed run got a .hgrm")
	}
}

// Reports render whatever the results: no design completed, or one that
// answered nothing before it was interrupted.
func TestFiguresWithoutData(t *testing.T) {
	res := fixture()
	res.Runs = res.Runs[3:] // only the failed one
	if err := WriteAll(t.TempDir(), res); err != nil {
		t.Fatalf("only a failed run: %v", err)
	}
	empty := fixture()
	for _, r := range empty.Runs[:3] {
		r.Histograms = bench.Histograms{}
		r.Timeline = nil
		r.SoldOutAtS = nil
	}
	figs, err := Figures(empty)
	if err != nil || len(figs) != 4 {
		t.Fatalf("runs without data: %d figures, %v", len(figs), err)
	}
	// An interrupted run: one second, one p99, one latency value.
	short := fixture()
	for _, r := range short.Runs[:3] {
		r.Timeline = r.Timeline[:1]
		h := hdrhistogram.New(1, 1000, 3)
		h.RecordValue(7)
		b, _ := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
		r.Histograms = bench.Histograms{Response: base64.StdEncoding.EncodeToString(b), Service: base64.StdEncoding.EncodeToString(b)}
	}
	if figs, err := Figures(short); err != nil || len(figs) != 4 {
		t.Fatalf("a one-second run: %d figures, %v", len(figs), err)
	}
}
