package reports

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stampede-bench/stampede/bench"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Figure is one plot of a report, rendered as PNG and SVG.
type Figure struct {
	Name  string // file name without extension: "latency"
	Title string
	PNG   []byte
	SVG   []byte
	// Series names every line or bar series drawn, for tests and alt text.
	Series []string
}

// Size of every figure.
const (
	figW = 9 * vg.Inch
	figH = 5 * vg.Inch
)

// Figures renders the report's plots from results alone. A panic of the
// plotting library becomes an error: a report must not crash the run whose
// results it draws.
func Figures(res *bench.Results) (figs []Figure, err error) {
	defer func() {
		if r := recover(); r != nil {
			figs, err = nil, fmt.Errorf("plot: %v", r)
		}
	}()
	runs := okRuns(res)
	if len(runs) == 0 {
		return nil, nil // no design completed: nothing to draw
	}
	for _, build := range []func([]*bench.TargetRun) (layout, error){
		latencyPlot, timelinePlot, correctnessPlot, outcomePlot,
	} {
		l, err := build(runs)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", l.name, err)
		}
		fig := Figure{Name: l.name, Title: l.title, Series: l.series}
		if fig.PNG, err = render(l, "png"); err != nil {
			return nil, err
		}
		if fig.SVG, err = render(l, "svg"); err != nil {
			return nil, err
		}
		figs = append(figs, fig)
	}
	return figs, nil
}

// layout is a figure before rendering: a grid of plots (rows of columns)
// and, if set, the plot whose legend goes in a column of its own beside the
// grid rather than over the data.
type layout struct {
	name, title string
	grid        [][]*plot.Plot
	series      []string
	legendOf    *plot.Plot
}

// legendWidth is the column right of a figure that holds its legend.
const legendWidth = 1.9 * vg.Inch

// okRuns returns the runs that have figures (not failed).
func okRuns(res *bench.Results) []*bench.TargetRun {
	var out []*bench.TargetRun
	for _, r := range res.Runs {
		if r.Error == "" {
			out = append(out, r)
		}
	}
	return out
}

// render draws a layout on one canvas.
func render(l layout, format string) ([]byte, error) {
	grid := l.grid
	var c vg.CanvasSizer
	switch format {
	case "png":
		c = vgimg.NewWith(vgimg.UseWH(figW, figH), vgimg.UseDPI(110))
	default:
		c = vgsvg.New(figW, figH)
	}
	dc := draw.New(c)
	if l.legendOf != nil {
		side := l.legendOf.Legend
		l.legendOf.Legend = plot.NewLegend() // drawn beside, not over
		defer func() { l.legendOf.Legend = side }()
		side.Top, side.Left = true, true
		side.YOffs = -vg.Millimeter * 8
		side.Draw(draw.Crop(dc, figW-legendWidth, 0, 0, 0))
		dc = draw.Crop(dc, 0, -legendWidth, 0, 0)
	}
	for _, row := range grid {
		for _, p := range row {
			if p != nil {
				safeLogRange(p)
			}
		}
	}
	rows, cols := len(grid), len(grid[0])
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(grid, tiles, dc)
	for i := range grid {
		for j, p := range grid[i] {
			if p != nil {
				p.Draw(canvases[i][j])
			}
		}
	}
	var buf bytes.Buffer
	var err error
	switch cv := c.(type) {
	case *vgimg.Canvas:
		_, err = (vgimg.PngCanvas{Canvas: cv}).WriteTo(&buf)
	case *vgsvg.Canvas:
		_, err = cv.WriteTo(&buf)
	}
	return buf.Bytes(), err
}

// palette gives each design a colour of its own (tableau 10 and 4 more).
var palette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0xd6, 0x27, 0x28, 0xff},
	{0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0x7f, 0x7f, 0x7f, 0xff},
	{0xbc, 0xbd, 0x22, 0xff}, {0x17, 0xbe, 0xcf, 0xff}, {0x39, 0x3b, 0x79, 0xff}, {0xad, 0x49, 0x4a, 0xff},
	{0x63, 0x79, 0x39, 0xff}, {0xe7, 0xba, 0x52, 0xff},
}

func colorOf(i int) color.Color { return palette[i%len(palette)] }

// ninesTicks labels the percentile axis: x = -log10(1-q), 0 -> 0%,
// 1 -> 90%, 2 -> 99%, 3 -> 99.9% ...
type ninesTicks struct{}

func (ninesTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for n := 0; float64(n) <= math.Ceil(hi); n++ {
		label := "0%"
		if n > 0 {
			label = strconv.FormatFloat(100*(1-math.Pow(10, -float64(n))), 'f', max(n-2, 0), 64) + "%"
		}
		ticks = append(ticks, plot.Tick{Value: float64(n), Label: label})
	}
	return ticks
}

// percentileLine turns a histogram into (nines, milliseconds) points.
func percentileLine(h *hdrhistogram.Histogram) plotter.XYs {
	var xys plotter.XYs
	n := h.TotalCount()
	if n == 0 {
		return xys
	}
	top := math.Log10(float64(n)) // beyond 1 - 1/n the data says nothing
	for x := 0.0; x <= top+1e-9; x += 0.02 {
		q := 100 * (1 - math.Pow(10, -x))
		v := h.ValueAtQuantile(q)
		xys = append(xys, plotter.XY{X: x, Y: math.Max(float64(v)/1000, 0.001)})
	}
	return xys
}

func decode(s string) (*hdrhistogram.Histogram, error) {
	if s == "" {
		return hdrhistogram.New(1, 2, 1), nil
	}
	return bench.DecodeHistogram(s)
}

func latencyPlot(runs []*bench.TargetRun) (layout, error) {
	const title = "Latency by percentile (response: solid, from intended start; service: dashed)"
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "ms (log)"
	p.X.Tick.Marker = ninesTicks{}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	var series []string
	for i, r := range runs {
		for _, kind := range []struct {
			name, data string
			dashed     bool
		}{{"response", r.Histograms.Response, false}, {"service", r.Histograms.Service, true}} {
			h, err := decode(kind.data)
			if err != nil {
				return layout{name: "latency"}, fmt.Errorf("%s %s histogram: %w", r.Target, kind.name, err)
			}
			xys := percentileLine(h)
			if len(xys) == 0 {
				continue
			}
			l, err := plotter.NewLine(xys)
			if err != nil {
				return layout{name: "latency"}, err
			}
			l.Color, l.Width = colorOf(i), vg.Points(1.5)
			if kind.dashed {
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
				l.Width = vg.Points(1)
			} else {
				p.Legend.Add(r.Target, l)
			}
			p.Add(l)
			series = append(series, r.Target+" "+kind.name)
		}
	}
	if len(series) == 0 {
		linearEmpty(p)
	}
	p.Add(plotter.NewGrid())
	return layout{name: "latency", title: title, grid: [][]*plot.Plot{{p}}, series: series, legendOf: p}, nil
}

func timelinePlot(runs []*bench.TargetRun) (layout, error) {
	const title = "Answers per second and p99 per second (dotted: the stock sold out)"
	thr, p99 := plot.New(), plot.New()
	thr.Title.Text = title
	thr.Y.Label.Text = "answers/s"
	p99.Y.Label.Text = "p99 ms (log)"
	p99.Y.Scale = plot.LogScale{}
	p99.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p99.X.Label.Text = "seconds into the run"
	var series []string
	var maxThr, maxP99 float64
	for _, r := range runs {
		for _, s := range r.Timeline {
			maxThr = math.Max(maxThr, float64(s.Confirmed+s.SoldOut+s.Rejected))
			maxP99 = math.Max(maxP99, float64(s.P99US)/1000)
		}
	}
	for i, r := range runs {
		var a, b plotter.XYs
		for _, s := range r.Timeline {
			x := float64(s.T) + 0.5
			a = append(a, plotter.XY{X: x, Y: float64(s.Confirmed + s.SoldOut + s.Rejected)})
			b = append(b, plotter.XY{X: x, Y: math.Max(float64(s.P99US)/1000, 0.01)})
		}
		if len(a) == 0 {
			continue
		}
		for _, pl := range []struct {
			p   *plot.Plot
			xys plotter.XYs
			top float64
		}{{thr, a, maxThr}, {p99, b, maxP99}} {
			l, err := plotter.NewLine(pl.xys)
			if err != nil {
				return layout{name: "timeline"}, err
			}
			l.Color, l.Width = colorOf(i), vg.Points(1.5)
			pl.p.Add(l)
			if pl.p == thr {
				thr.Legend.Add(r.Target, l)
			}
			if r.SoldOutAtS != nil { // the moment the stock sold out
				m, _ := plotter.NewLine(plotter.XYs{{X: *r.SoldOutAtS, Y: lowest(pl.p)}, {X: *r.SoldOutAtS, Y: math.Max(pl.top, 1)}})
				m.Color, m.Width, m.Dashes = colorOf(i), vg.Points(1), []vg.Length{vg.Points(1), vg.Points(2)}
				pl.p.Add(m)
			}
		}
		series = append(series, r.Target)
	}
	thr.Y.Min = 0
	if len(series) == 0 {
		linearEmpty(p99)
	}
	thr.Add(plotter.NewGrid())
	p99.Add(plotter.NewGrid())
	return layout{name: "timeline", title: title, grid: [][]*plot.Plot{{thr}, {p99}}, series: series, legendOf: thr}, nil
}

// barPanel is one small bar chart of a value per target, each bar labelled
// with its value so that a zero reads as 0.
func barPanel(title string, runs []*bench.TargetRun, value func(*bench.TargetRun) float64, format string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	names := make([]string, len(runs))
	vals := make(plotter.Values, len(runs))
	var top float64
	for i, r := range runs {
		names[i], vals[i] = r.Target, value(r)
		top = math.Max(top, vals[i])
	}
	bars, err := plotter.NewBarChart(vals, vg.Points(14))
	if err != nil {
		return nil, err
	}
	bars.Color = colorOf(0)
	bars.LineStyle.Width = vg.Length(0)
	p.Add(bars)
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = math.Pi / 5
	p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YCenter
	p.Y.Min, p.Y.Max = 0, math.Max(top*1.3, 1)
	var xys plotter.XYs
	var labels []string
	for i, v := range vals {
		xys = append(xys, plotter.XY{X: float64(i), Y: v})
		labels = append(labels, fmt.Sprintf(format, v))
	}
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return nil, err
	}
	for i := range l.TextStyle {
		l.TextStyle[i].XAlign = draw.XCenter
		if vals[i] == 0 {
			l.TextStyle[i].Color = color.RGBA{R: 0, G: 120, B: 0, A: 255}
		} else {
			l.TextStyle[i].Color = color.RGBA{R: 190, G: 0, B: 0, A: 255}
		}
	}
	p.Add(l)
	return p, nil
}

func correctnessPlot(runs []*bench.TargetRun) (layout, error) {
	const title = "Correctness per design: oversold, duplicated, lost, apologies"
	metrics := []struct {
		title  string
		value  func(*bench.TargetRun) float64
		format string
	}{
		{"Oversold tickets", func(r *bench.TargetRun) float64 { return float64(r.Checks.Oversold) }, "%.0f"},
		{"Duplicated orders", func(r *bench.TargetRun) float64 { return float64(r.Checks.DuplicatedOrders) }, "%.0f"},
		{"Lost orders", func(r *bench.TargetRun) float64 { return float64(r.Checks.Lost) }, "%.0f"},
		{"Apologies", func(r *bench.TargetRun) float64 { return float64(r.Checks.Apologies) }, "%.0f"},
	}
	grid := [][]*plot.Plot{{nil, nil}, {nil, nil}}
	var series []string
	for i, m := range metrics {
		p, err := barPanel(m.title, runs, m.value, m.format)
		if err != nil {
			return layout{name: "correctness"}, err
		}
		grid[i/2][i%2] = p
		series = append(series, m.title)
	}
	return layout{name: "correctness", title: title, grid: grid, series: series}, nil
}

func outcomePlot(runs []*bench.TargetRun) (layout, error) {
	const title = "Outcome mix per design (attempts)"
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = "attempts"
	names := make([]string, len(runs))
	for i, r := range runs {
		names[i] = r.Target
	}
	kinds := []struct {
		name string
		get  func(bench.Orders) int64
	}{
		{"confirmed", func(o bench.Orders) int64 { return o.Confirmed }},
		{"sold out", func(o bench.Orders) int64 { return o.SoldOut }},
		{"rejected", func(o bench.Orders) int64 { return o.Rejected }},
		{"unknown", func(o bench.Orders) int64 { return o.Unknown }},
		{"error", func(o bench.Orders) int64 { return o.Errors }},
	}
	var below *plotter.BarChart
	var series []string
	for k, kind := range kinds {
		vals := make(plotter.Values, len(runs))
		for i, r := range runs {
			vals[i] = float64(kind.get(r.Orders))
		}
		bars, err := plotter.NewBarChart(vals, vg.Points(22))
		if err != nil {
			return layout{name: "outcomes"}, err
		}
		bars.Color = colorOf(k)
		bars.LineStyle.Width = vg.Length(0)
		if below != nil {
			bars.StackOn(below)
		}
		below = bars
		p.Add(bars)
		p.Legend.Add(kind.name, bars)
		series = append(series, kind.name)
	}
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = math.Pi / 6
	p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YCenter
	p.Y.Min = 0
	return layout{name: "outcomes", title: title, grid: [][]*plot.Plot{{p}}, series: series, legendOf: p}, nil
}

// lowest is where a marker line starts: 0, or the floor of a log axis.
func lowest(p *plot.Plot) float64 {
	if _, ok := p.Y.Scale.(plot.LogScale); ok {
		return 0.01
	}
	return 0
}

// linearEmpty gives a plot without data a linear axis: a log axis has no
// range to draw.
func linearEmpty(p *plot.Plot) {
	p.Y.Scale = plot.LinearScale{}
	p.Y.Tick.Marker = plot.DefaultTicks{}
	p.Y.Min, p.Y.Max = 0, 1
}

// safeLogRange keeps a log axis drawable: a positive range that is not a
// single value (which the axis would pad below zero).
func safeLogRange(p *plot.Plot) {
	if _, ok := p.Y.Scale.(plot.LogScale); !ok {
		return
	}
	p.Y.Min = math.Max(p.Y.Min, 0.001)
	if p.Y.Max < p.Y.Min*1.5 {
		p.Y.Min, p.Y.Max = p.Y.Min/10, math.Max(p.Y.Max, p.Y.Min)*10
	}
}
