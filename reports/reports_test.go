package reports

import (
	"bytes"
	"encoding/base64"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stampede-bench/stampede/bench/results"
	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fixture builds results deterministically: three designs with known
// latencies and figures, one failed.
func fixture() *results.Results {
	sc := &scenario.Scenario{Name: "flash-crowd", Description: "a <b>test</b> crowd & more", Stock: scenario.Stock{Products: 19, Capacity: 100},
		Arrivals: scenario.Arrivals{Mode: scenario.Spike}}
	res := results.New(sc, time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	res.Environment = results.Environment{Go: "go1.26", OS: "linux", Arch: "amd64", CPUs: 2, Stampede: "test"}
	mk := func(name string, base int64, oversold, dup, lost, apologies int64, thr float64) *results.TargetRun {
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
		r := &results.TargetRun{Target: name, Loop: "open", DurationS: 8, ThroughputPerS: thr, SoldOutAtS: &soldOut,
			Info:        targets.Info{Design: name + " design", Consistency: "strong | <i>escaped</i>", Durability: "memory only"},
			Orders:      results.Orders{Submitted: 9000, Attempts: 10_000, Confirmed: 800, SoldOut: 9100, Unknown: 60, Errors: 40, Bought: 800, Seats: 1900 + oversold},
			GoodputPerS: 100, SeatsPerS: float64(1900+oversold) / 8,
			LatencyUS:  results.Latency{Count: 10_000, P50: resp.ValueAtQuantile(50), P90: resp.ValueAtQuantile(90), P99: resp.ValueAtQuantile(99), P999: resp.ValueAtQuantile(99.9), Max: resp.Max()},
			ServiceUS:  results.Latency{Count: 10_000, P50: svc.ValueAtQuantile(50), P99: svc.ValueAtQuantile(99), Max: svc.Max()},
			Checks:     results.Checks{Capacity: 1900, Sold: 1900 + oversold, Oversold: oversold, DuplicatedOrders: dup, DuplicateRate: float64(dup) / 9000, Lost: lost, Apologies: apologies},
			Histograms: results.Histograms{Response: enc(resp), Service: enc(svc)},
		}
		for s := range 8 {
			r.Timeline = append(r.Timeline, results.Second{T: s, Attempts: 1250, Confirmed: 100, SoldOut: 1150, P50US: base, P99US: base * 10})
		}
		return r
	}
	res.Runs = []*results.TargetRun{
		mk("memory", 40, 0, 0, 0, 0, 3891),
		mk("memory-racy", 400, 9, 23, 0, 0, 3890),
		mk("ledger-reconcile", 4000, 0, 0, 0, 12, 3500),
		{Target: "broken", Error: "setup: no <server>", Timeline: []results.Second{}},
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
		"No design lost a confirmed order", "apologies): ledger-reconcile (12 apologies)", "No design was both correct (nothing oversold, duplicated, lost, phantom or apologised for) and durable"} {
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
		// As wide as index.html's column, and tall enough to read.
		if b := img.Bounds(); b.Dx() != 1210 || b.Dy() < 150 || b.Dy() > 1400 {
			t.Errorf("%s.png is %dx%d, want 1210 wide and 150 to 1400 high", f.Name, b.Dx(), b.Dy())
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
		r.Histograms = results.Histograms{}
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
		r.Histograms = results.Histograms{Response: base64.StdEncoding.EncodeToString(b), Service: base64.StdEncoding.EncodeToString(b)}
	}
	if figs, err := Figures(short); err != nil || len(figs) != 4 {
		t.Fatalf("a one-second run: %d figures, %v", len(figs), err)
	}
}

// designs returns results of n designs made from the fixture's three,
// under names of their own.
func designs(n int) *results.Results {
	res := fixture()
	base := res.Runs[:3]
	res.Runs = nil
	for i := range n {
		r := *base[i%3]
		r.Target = fmt.Sprintf("%s-%02d", base[i%3].Target, i)
		res.Runs = append(res.Runs, &r)
	}
	return res
}

func figure(t *testing.T, res *results.Results, name string) Figure {
	t.Helper()
	figs, err := Figures(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range figs {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("no %s figure", name)
	return Figure{}
}

// Sixteen designs get sixteen colours, one of them red, and every one of
// them is drawn; past sixteen, a design differs by its dashes.
func TestPaletteSixteenDesigns(t *testing.T) {
	seen := map[color.RGBA]int{}
	reds := 0
	for i := range 16 {
		c := styleOf(i).color
		if j, ok := seen[c]; ok {
			t.Errorf("designs %d and %d share the colour %v", j, i, c)
		}
		seen[c] = i
		if h, s, v := hsv(c); (h < 20 || h > 340) && s > 0.5 && v > 0.4 {
			reds++
		}
	}
	if reds != 1 {
		t.Errorf("%d reds among the first 16 colours, want 1", reds)
	}
	for i := range 32 {
		for j := range i {
			a, b := styleOf(i), styleOf(j)
			if a.color == b.color && slices.Equal(a.dashes, b.dashes) {
				t.Errorf("designs %d and %d are drawn alike", j, i)
			}
		}
	}
	svg := string(figure(t, designs(16), "latency").SVG)
	for i, c := range palette {
		if !strings.Contains(svg, fmt.Sprintf("stroke:#%02X%02X%02X", c.R, c.G, c.B)) {
			t.Errorf("latency.svg of 16 designs has no line in colour %d", i)
		}
	}
}

// hsv returns a colour's hue in degrees, saturation and value.
func hsv(c color.RGBA) (h, s, v float64) {
	r, g, b := float64(c.R)/255, float64(c.G)/255, float64(c.B)/255
	hi, lo := max(r, g, b), min(r, g, b)
	if hi == 0 || hi == lo {
		return 0, 0, hi
	}
	d := hi - lo
	switch hi {
	case r:
		h = math.Mod((g-b)/d, 6)
	case g:
		h = (b-r)/d + 2
	default:
		h = (r-g)/d + 4
	}
	return math.Mod(h*60+360, 360), d / hi, hi
}

// A count axis has whole numbers only, written without needless decimals.
func TestCountTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		want   []string // labels that must be there
	}{
		{0, 1, []string{"0", "1"}},           // no 0.5 of an order
		{0, 3, []string{"0", "1", "2", "3"}}, // nor 2.5
		{0, 8000, []string{"0", "2000", "8000"}},
		{0, 12_500, []string{"0", "5000", "10k"}},
		{0, 2.5e6, []string{"0", "1M", "2M"}},
	} {
		var labels []string
		for _, tk := range (countTicks{}).Ticks(c.lo, c.hi) {
			if tk.Value != math.Trunc(tk.Value) {
				t.Errorf("%v..%v: a tick at %v", c.lo, c.hi, tk.Value)
			}
			if strings.HasSuffix(strings.TrimRight(tk.Label, "kM"), ".0") || strings.Contains(tk.Label, ".00") {
				t.Errorf("%v..%v: a tick labelled %q", c.lo, c.hi, tk.Label)
			}
			labels = append(labels, tk.Label)
		}
		for _, w := range c.want {
			if !slices.Contains(labels, w) {
				t.Errorf("%v..%v: labels %q lack %q", c.lo, c.hi, labels, w)
			}
		}
	}
	for v, want := range map[float64]string{0: "0", 2.5: "2.5", 5000: "5000", 12_000: "12k", 2_500_000: "2.5M"} {
		if got := formatCount(v); got != want {
			t.Errorf("formatCount(%v) = %q, want %q", v, got, want)
		}
	}
}

// A log axis of durations is labelled with units at every power of ten up
// to its top, which is the power of ten at or above the largest value.
func TestDurationTicksReachTheTop(t *testing.T) {
	lo, hi := decades(3, 3_258_367) // 3µs to 3.26s
	if lo != 1 || hi != 1e7 {
		t.Fatalf("decades(3µs, 3.26s) = %v..%v, want 1..1e7", lo, hi)
	}
	want := []string{"1µs", "10µs", "100µs", "1ms", "10ms", "100ms", "1s", "10s"}
	var got []string
	for _, tk := range (durationTicks{}).Ticks(lo, hi) {
		if tk.Label != "" {
			got = append(got, tk.Label)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("labels %q, want %q", got, want)
	}
	got = nil
	for _, tk := range (durationTicks{compact: true}).Ticks(lo, hi) {
		if tk.Label != "" {
			got = append(got, tk.Label)
		}
	}
	if len(got) < 3 || got[len(got)-1] != "10s" {
		t.Errorf("compact labels %q: the top, 10s, is not labelled", got)
	}
	// In the figure: the fixture's slowest design reaches 44ms.
	svg := string(figure(t, fixture(), "latency").SVG)
	for _, w := range []string{">100ms<", ">10ms<", ">1ms<", ">100µs<"} {
		if !strings.Contains(svg, w) {
			t.Errorf("latency.svg lacks the tick label %s", w)
		}
	}
	if strings.Contains(svg, "1000.00") || strings.Contains(svg, ".00<") {
		t.Error("latency.svg has tick labels with needless decimals")
	}
}

// A 9-seat oversell is drawn beside 1,463: a bar a good part as long,
// labelled; a zero is labelled 0.
func TestSmallBesideLarge(t *testing.T) {
	res := fixture()
	res.Runs[0].Checks.Oversold = 1463 // memory-racy oversold 9
	svg := string(figure(t, res, "correctness").SVG)
	for _, w := range []string{">9<", ">1,463<", ">0<"} {
		if !strings.Contains(svg, w) {
			t.Errorf("correctness.svg lacks the label %s", w)
		}
	}
	_, top := decades(1, 1463)
	if n := (symlogScale{}).Normalize(0, top, 9) / (symlogScale{}).Normalize(0, top, 1463); n < 0.25 {
		t.Errorf("9 is drawn %.0f%% as long as 1,463: not visible enough", 100*n)
	}
	if (symlogScale{}).Normalize(0, top, 0) != 0 || (symlogScale{}).Normalize(0, top, 1) <= 0 {
		t.Error("0 and 1 are not told apart")
	}
}

// The outcome figure shows every outcome, the attempts never sent
// included, each count labelled, however small beside the rest.
func TestOutcomesShowMinorities(t *testing.T) {
	res := fixture()
	res.Runs[2].Orders.Expired = 1200
	res.Runs[2].Orders.QueuedAtEnd = 7
	f := figure(t, res, "outcomes")
	for _, w := range []string{"confirmed", "sold out", "rejected", "unknown", "errors", "expired in queue", "queued at end"} {
		if !slices.Contains(f.Series, w) {
			t.Errorf("outcomes lacks %q: %v", w, f.Series)
		}
	}
	for _, w := range []string{">9,100<", ">1,200<", ">7<", ">40<"} {
		if !strings.Contains(string(f.SVG), w) {
			t.Errorf("outcomes.svg lacks the label %s", w)
		}
	}
}

// The generator's send lag is drawn as the floor under response times;
// results without it (older files, closed loop) draw without it.
func TestLatencyFloor(t *testing.T) {
	res := fixture()
	lag := hdrhistogram.New(1, 100_000_000, 3)
	for i := range int64(1000) {
		lag.RecordValue(1 + i%50)
	}
	b, _ := lag.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	res.Runs[1].Histograms.Lag = base64.StdEncoding.EncodeToString(b)
	f := figure(t, res, "latency")
	if !slices.Contains(f.Series, floorLabel) || !strings.Contains(string(f.SVG), ">"+floorLabel+"<") {
		t.Errorf("the send lag is not drawn: %v", f.Series)
	}
	if f := figure(t, fixture(), "latency"); slices.Contains(f.Series, floorLabel) {
		t.Error("a send lag is drawn for results without one")
	}
	res.Runs[1].Histograms.Lag = "not base64"
	if _, err := Figures(res); err == nil || !strings.Contains(err.Error(), "lag") {
		t.Errorf("a broken lag histogram: %v", err)
	}
}

// The picture does not repeat the heading index.html gives it, and the
// same results draw the same bytes.
func TestFiguresTitledOnceAndDeterministic(t *testing.T) {
	a, err := Figures(designs(7))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Figures(designs(7))
	titles := map[string]bool{}
	for i, f := range a {
		if f.Title == "" || titles[f.Title] {
			t.Errorf("%s: title %q is empty or repeated", f.Name, f.Title)
		}
		titles[f.Title] = true
		if strings.Contains(string(f.SVG), ">"+f.Title+"<") {
			t.Errorf("%s.svg repeats its heading %q", f.Name, f.Title)
		}
		if !bytes.Equal(f.PNG, b[i].PNG) || !bytes.Equal(f.SVG, b[i].SVG) {
			t.Errorf("%s differs between two renderings of the same results", f.Name)
		}
	}
}

// Figures draw any number of designs, and designs that failed or have no
// data, without a panic or an error.
func TestFiguresAnyNumberOfDesigns(t *testing.T) {
	for _, n := range []int{1, 2, 21} { // 21: past the palette's 16 colours, in 5 columns
		res := designs(n)
		res.Runs[0].Histograms, res.Runs[0].Timeline, res.Runs[0].SoldOutAtS = results.Histograms{}, nil, nil
		res.Runs = append(res.Runs, &results.TargetRun{Target: "failed", Error: "setup: refused"})
		figs, err := Figures(res)
		if err != nil || len(figs) != 4 {
			t.Fatalf("%d designs: %d figures, %v", n, len(figs), err)
		}
		tl := figs[1]
		if len(tl.Series) != n {
			t.Errorf("%d designs: the timeline draws %d panels", n, len(tl.Series))
		}
		if strings.Contains(string(tl.SVG), ">failed<") {
			t.Errorf("%d designs: the failed design has a panel", n)
		}
	}
	// Every count zero, one-second runs, one latency value.
	res := designs(3)
	for _, r := range res.Runs {
		r.Orders, r.Checks = results.Orders{}, results.Checks{}
		r.Timeline = []results.Second{{T: 0}}
		h := hdrhistogram.New(1, 1000, 3)
		h.RecordValue(1)
		b, _ := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
		r.Histograms = results.Histograms{Response: base64.StdEncoding.EncodeToString(b), Service: base64.StdEncoding.EncodeToString(b),
			Lag: base64.StdEncoding.EncodeToString(b)}
	}
	if figs, err := Figures(res); err != nil || len(figs) != 4 {
		t.Fatalf("all zero: %d figures, %v", len(figs), err)
	}
}

// A run whose buyers read after buying gets a read-your-own-writes table
// in the summary and the report, and the visibility plot; a design
// without a read side says so.
func TestReadYourWritesReport(t *testing.T) {
	res := fixture()
	if figs, _ := Figures(res); slices.ContainsFunc(figs, func(f Figure) bool { return f.Name == "visibility" }) {
		t.Error("a visibility plot on a run whose buyers did not read")
	}
	res.Scenario.Client.ReadAfterBuy = true
	lag := hdrhistogram.New(1, 100_000_000, 3)
	for i := int64(1); i <= 1000; i++ {
		lag.RecordValue(i * 100)
	}
	enc, _ := results.EncodeHistogram(lag)
	res.Runs[0].ReadYourWrites = &results.ReadYourWrites{Reads: 1000, Violations: 990, ViolationRate: 0.99,
		LagUS: results.Summarize(lag)}
	res.Runs[0].Histograms.VisibilityLag = enc
	var text bytes.Buffer
	if err := Summary(&text, res); err != nil {
		t.Fatal(err)
	}
	if s := text.String(); !strings.Contains(s, "RYW violations") || !strings.Contains(s, "990") || !strings.Contains(s, "no read side") {
		t.Errorf("summary lacks the read-your-own-writes table:\n%s", s)
	}
	figs, err := Figures(res)
	if err != nil || !slices.ContainsFunc(figs, func(f Figure) bool { return f.Name == "visibility" }) {
		t.Fatalf("figures: %v; want a visibility plot", err)
	}
	var page bytes.Buffer
	if err := HTML(&page, res, figs); err != nil {
		t.Fatal(err)
	}
	if s := page.String(); !strings.Contains(s, "Read your own writes") || !strings.Contains(s, ">990<") || !strings.Contains(s, "no read side") {
		t.Error("index.html lacks the read-your-own-writes table")
	}
}

// A design of two phases gets its time to accepted beside its time to the
// final answer: in the summary, the report and the latency plot.
func TestTwoPhasesReport(t *testing.T) {
	res := fixture()
	var plain bytes.Buffer
	Summary(&plain, res)
	if strings.Contains(plain.String(), "accepted p99") {
		t.Error("a two-phase table on a run of one-phase designs")
	}
	acc := hdrhistogram.New(1, 100_000_000, 3)
	for i := int64(1); i <= 1000; i++ {
		acc.RecordValue(i * 10)
	}
	res.Runs[1].AcceptedUS = &results.Latency{Count: 1000, P50: acc.ValueAtQuantile(50), P99: acc.ValueAtQuantile(99)}
	res.Runs[1].Histograms.Accepted, _ = results.EncodeHistogram(acc)
	res.Runs[1].Orders.LateAnswers = 7
	var text bytes.Buffer
	Summary(&text, res)
	if s := text.String(); !strings.Contains(s, "accepted p99") || !strings.Contains(s, FormatUS(acc.ValueAtQuantile(99))) {
		t.Errorf("summary lacks the two-phase table:\n%s", s)
	}
	figs, err := Figures(res)
	if err != nil {
		t.Fatal(err)
	}
	var page bytes.Buffer
	if err := HTML(&page, res, figs); err != nil {
		t.Fatal(err)
	}
	if s := page.String(); !strings.Contains(s, "Accepted, then decided") || !strings.Contains(s, "<td>7</td>") {
		t.Error("index.html lacks the two-phase table")
	}
	if !slices.ContainsFunc(figs, func(f Figure) bool {
		return f.Name == "latency" && slices.Contains(f.Series, res.Runs[1].Target+" accepted")
	}) {
		t.Error("the latency plot lacks the accepted line")
	}
}
