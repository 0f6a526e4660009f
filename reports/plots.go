package reports

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stampede-bench/stampede/bench/results"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Figure is one plot of a report, rendered as PNG and SVG.
type Figure struct {
	Name string // file name without extension: "latency"
	// Title names the figure: index.html prints it as the figure's
	// heading, so the picture itself carries no title of its own.
	Title string
	PNG   []byte
	SVG   []byte
	// Series names every line or bar series drawn, for tests and alt text.
	Series []string
}

// Every figure is figW wide, at dpi in PNG: about the width of
// index.html's column, so that a PNG is shown at its own size. Heights
// grow with the number of designs.
const (
	figW = 11 * vg.Inch
	dpi  = 110
)

// Figures renders the report's plots from results alone. A panic of the
// plotting library becomes an error: a report must not crash the run whose
// results it draws.
func Figures(res *results.Results) (figs []Figure, err error) {
	defer func() {
		if r := recover(); r != nil {
			figs, err = nil, fmt.Errorf("plot: %v", r)
		}
	}()
	runs := okRuns(res)
	if len(runs) == 0 {
		return nil, nil // no design completed: nothing to draw
	}
	builders := []func([]*results.TargetRun) (layout, error){latencyPlot, timelinePlot, correctnessPlot, outcomePlot}
	if readsAfterBuy(res) {
		builders = append(builders, visibilityPlot)
	}
	if waitingRoom(res) != nil {
		builders = append(builders, waitingRoomPlot)
	}
	for _, build := range builders {
		l, err := build(runs)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", l.name, err)
		}
		fig := Figure{Name: l.name, Title: l.title, Series: l.series}
		if fig.PNG, err = render(l, "png"); err != nil {
			return nil, fmt.Errorf("%s.png: %w", l.name, err)
		}
		if fig.SVG, err = render(l, "svg"); err != nil {
			return nil, fmt.Errorf("%s.svg: %w", l.name, err)
		}
		figs = append(figs, fig)
	}
	return figs, nil
}

// layout is a figure before rendering: a grid of plots (rows of columns),
// a key of line styles in a strip above it, and a legend of designs in a
// column right of it.
type layout struct {
	name, title string
	height      vg.Length
	grid        [][]*plot.Plot
	series      []string
	key         []keyEntry
	legend      *plot.Legend
	legendW     vg.Length
}

// okRuns returns the runs that have figures (not failed).
func okRuns(res *results.Results) []*results.TargetRun {
	var out []*results.TargetRun
	for _, r := range res.Runs {
		if r.Error == "" {
			out = append(out, r)
		}
	}
	return out
}

// keyH is the height of the strip above a figure that holds its key.
const keyH = 0.32 * vg.Inch

// render draws a layout on one canvas.
func render(l layout, format string) ([]byte, error) {
	var c vg.CanvasSizer
	switch format {
	case "png":
		c = vgimg.NewWith(vgimg.UseWH(figW, l.height), vgimg.UseDPI(dpi))
	default:
		c = vgsvg.New(figW, l.height)
	}
	dc := draw.New(c)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	if len(l.key) > 0 {
		drawKey(draw.Crop(dc, 0, 0, l.height-keyH, 0), l.key)
		dc = draw.Crop(dc, 0, 0, 0, -keyH)
	}
	if l.legend != nil {
		l.legend.Draw(draw.Crop(dc, figW-l.legendW, 0, 0, 0))
		dc = draw.Crop(dc, 0, -l.legendW, 0, 0)
	}
	rows, cols := len(l.grid), len(l.grid[0])
	pad := vg.Points(6)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(14), PadY: vg.Points(5),
		PadTop: pad, PadBottom: pad, PadLeft: pad, PadRight: pad}
	canvases := plot.Align(l.grid, tiles, dc)
	for i, row := range l.grid {
		for j, p := range row {
			if p != nil {
				drawPanel(p, canvases[i][j])
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

// drawPanel draws a plot with its title centred over its data area, not
// over the whole panel with its axis labels, so that the titles of a row
// of panels line up whatever their tick labels.
func drawPanel(p *plot.Plot, c draw.Canvas) {
	title := p.Title.Text
	if title == "" {
		p.Draw(c)
		return
	}
	p.Title.Text = " " // keeps the title's room, draws nothing
	p.Draw(c)
	p.Title.Text = title
	data := p.DataCanvas(c)
	sty := p.Title.TextStyle
	sty.XAlign, sty.YAlign = draw.XCenter, draw.YBottom
	c.FillText(sty, vg.Point{X: data.Center().X, Y: data.Max.Y + p.Title.Padding}, title)
}

// Text and lines: a small sans-serif face, dark grey ink, light grid.
var (
	sansFont = font.Font{Typeface: "Liberation", Variant: "Sans"}
	ink      = color.Gray{Y: 0x30}
	grid     = color.Gray{Y: 0xe4}
	// floorColor draws the generator's send lag, the measurement floor.
	floorColor = color.Gray{Y: 0x80}
)

func textStyle(size vg.Length) text.Style {
	return text.Style{Color: ink, Font: font.From(sansFont, size), Handler: plot.DefaultTextHandler}
}

// newPlot returns a plot in the report's style: small sans-serif text,
// thin axes, short ticks.
func newPlot() *plot.Plot {
	p := plot.New()
	p.Title.TextStyle.Font = font.From(sansFont, 9)
	p.Title.TextStyle.Color = ink
	p.Title.Padding = vg.Points(4)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sansFont, 8)
		a.Label.TextStyle.Color = ink
		a.Label.Padding = vg.Points(2)
		a.Tick.Label.Font = font.From(sansFont, 7.5)
		a.Tick.Label.Color = ink
		a.Tick.Length = vg.Points(3)
		a.Tick.Color, a.Color = ink, ink
		a.Padding = vg.Points(2)
	}
	p.Legend.TextStyle = textStyle(8)
	return p
}

// newLegend returns a legend in the report's style, for a column beside
// the plots.
func newLegend() *plot.Legend {
	l := plot.NewLegend()
	l.TextStyle = textStyle(8)
	l.Top, l.Left = true, true
	l.ThumbnailWidth = vg.Points(24)
	l.Padding = vg.Points(1.5)
	l.YOffs = -vg.Points(24)
	l.XOffs = vg.Points(4)
	return &l
}

// legendWidth is the width of a legend column holding names.
func legendWidth(l *plot.Legend, names []string) vg.Length {
	var w vg.Length
	for _, n := range names {
		w = max(w, l.TextStyle.Width(n))
	}
	return l.ThumbnailWidth + l.TextStyle.Width(" ") + w + vg.Points(12)
}

// newLine is a line through xys, drawn in sty.
func newLine(xys plotter.XYer, sty draw.LineStyle) (*plotter.Line, error) {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return nil, err
	}
	l.LineStyle = sty
	return l, nil
}

// grid lines for a plot, under the data.
func gridLines() *plotter.Grid {
	g := plotter.NewGrid()
	g.Vertical.Color, g.Horizontal.Color = grid, grid
	g.Vertical.Width, g.Horizontal.Width = vg.Points(0.5), vg.Points(0.5)
	return g
}

// palette gives each design a colour of its own: sixteen hues and
// lightnesses that stay apart on white and from the grey of the
// measurement floor, with one red only. Past sixteen designs the colours
// repeat with a dash pattern.
var palette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, // blue
	{0xff, 0x7f, 0x0e, 0xff}, // orange
	{0x2c, 0xa0, 0x2c, 0xff}, // green
	{0xd6, 0x27, 0x28, 0xff}, // red
	{0x94, 0x67, 0xbd, 0xff}, // lavender
	{0x8c, 0x56, 0x4b, 0xff}, // brown
	{0xe3, 0x77, 0xc2, 0xff}, // pink
	{0x17, 0xbe, 0xcf, 0xff}, // cyan
	{0x00, 0x00, 0x00, 0xff}, // black
	{0x78, 0x69, 0x00, 0xff}, // olive
	{0x1e, 0x00, 0xb4, 0xff}, // ultramarine
	{0x00, 0x5a, 0x4b, 0xff}, // dark teal
	{0xc3, 0xa5, 0x00, 0xff}, // mustard
	{0x96, 0xa5, 0xff, 0xff}, // periwinkle
	{0x7a, 0x01, 0x77, 0xff}, // plum
	{0x69, 0xb4, 0x96, 0xff}, // sage
}

// glyphs mark each design's line, so that lines stay apart in print and
// for readers who do not tell the colours apart: filled and hollow shapes.
var glyphs = []draw.GlyphDrawer{
	draw.CircleGlyph{}, draw.SquareGlyph{}, draw.PyramidGlyph{}, draw.CrossGlyph{},
	draw.BoxGlyph{}, draw.RingGlyph{}, draw.TriangleGlyph{}, draw.PlusGlyph{},
}

// dashes, by how many times the palette has gone round.
var dashes = [][]vg.Length{nil, {vg.Points(5), vg.Points(2)}, {vg.Points(1.5), vg.Points(1.5)}, {vg.Points(6), vg.Points(2), vg.Points(1.5), vg.Points(2)}}

// style is how one design is drawn in every figure.
type style struct {
	color  color.RGBA
	glyph  draw.GlyphDrawer
	dashes []vg.Length
}

func styleOf(i int) style {
	return style{color: palette[i%len(palette)], glyph: glyphs[i%len(glyphs)], dashes: dashes[(i/len(palette))%len(dashes)]}
}

func (s style) line(width vg.Length) draw.LineStyle {
	return draw.LineStyle{Color: s.color, Width: width, Dashes: s.dashes}
}

func (s style) marker() draw.GlyphStyle {
	return draw.GlyphStyle{Color: s.color, Radius: vg.Points(2.6), Shape: s.glyph}
}

// ninesTicks labels the percentile axis: x = -log10(1-q), 0 -> 0%,
// 1 -> 90%, 2 -> 99%, 3 -> 99.9% ...
type ninesTicks struct{}

func (ninesTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for n := 0; float64(n) <= math.Ceil(hi) && n < 12; n++ {
		label := "0%"
		if n > 0 {
			label = strconv.FormatFloat(100*(1-math.Pow(10, -float64(n))), 'f', max(n-2, 0), 64) + "%"
		}
		ticks = append(ticks, plot.Tick{Value: float64(n), Label: label})
	}
	return ticks
}

// durationTicks labels a log axis of microseconds at every power of ten,
// with its unit ("100µs", "1ms", "10s"), and marks 2 to 9 times each
// between them. Compact ticks, for small panels, leave out the marks
// between powers of ten and, past four of them, label every other one;
// the highest is always labelled.
type durationTicks struct{ compact bool }

func (d durationTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	lo = math.Max(lo, 1)
	first, last := math.Ceil(math.Log10(lo)-1e-9), math.Floor(math.Log10(math.Max(hi, 1))+1e-9)
	stride := 1.0
	if d.compact && last-first >= 4 {
		stride = 2
	}
	for e := math.Floor(math.Log10(lo)); e <= math.Min(last, 15); e++ {
		base := math.Pow(10, e)
		if e >= first {
			t := plot.Tick{Value: base}
			if math.Mod(last-e, stride) == 0 {
				t.Label = formatDuration(base)
			}
			ticks = append(ticks, t)
		}
		for m := 2.0; m <= 9 && !d.compact; m++ {
			if v := m * base; v >= lo && v <= hi {
				ticks = append(ticks, plot.Tick{Value: v})
			}
		}
	}
	return ticks
}

// unit is one unit of a tick label: values from `from` up are written in
// it, as multiples of size.
type unit struct {
	from, size float64
	name       string
}

// Units of tick labels, largest first: microseconds as 10µs, 2.5ms, 1s;
// counts as 5000, 12k, 2.5M.
var (
	durationUnits = []unit{{1e6, 1e6, "s"}, {1e3, 1e3, "ms"}, {0, 1, "µs"}}
	countUnits    = []unit{{1e6, 1e6, "M"}, {1e4, 1e3, "k"}, {0, 1, ""}}
)

// withUnit writes v in the largest unit it reaches, without needless
// decimals.
func withUnit(v float64, units []unit) string {
	u := units[len(units)-1]
	for _, w := range units {
		if math.Abs(v) >= w.from {
			u = w
			break
		}
	}
	return strconv.FormatFloat(v/u.size, 'f', -1, 64) + u.name
}

// formatDuration writes microseconds in the unit that reads best.
func formatDuration(us float64) string { return withUnit(us, durationUnits) }

// decades rounds a positive range out to powers of ten, so that a log
// axis is labelled at both ends. Without data it is 1µs to 1ms.
func decades(lo, hi float64) (float64, float64) {
	if !(lo <= hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return 1, 1000
	}
	lo, hi = math.Max(lo, 1), math.Max(hi, 1)
	lo = math.Pow(10, math.Floor(math.Log10(lo)+1e-9))
	hi = math.Pow(10, math.Ceil(math.Log10(hi)-1e-9))
	if hi <= lo {
		hi = lo * 10
	}
	return lo, hi
}

// countTicks labels a linear axis of counts: whole numbers only, written
// without decimals ("5000", "12k").
type countTicks struct{}

func (countTicks) Ticks(lo, hi float64) []plot.Tick {
	step := niceStep((hi - lo) / 5)
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9 && len(ticks) < 50; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: formatCount(v)})
	}
	return ticks
}

// niceStep is the smallest whole 1, 2 or 5 times a power of ten at least
// raw (and at least 1).
func niceStep(raw float64) float64 {
	if !(raw > 1) {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

// formatCount writes a count for a tick: "0", "5000", "12k", "2.5M".
func formatCount(v float64) string { return withUnit(v, countUnits) }

// thousands writes a count in full with thousands separators: 30,649.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var b []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	if neg {
		return "-" + string(b)
	}
	return string(b)
}

// symlogScale is a log scale that holds zero: x is placed at
// log10(1+x), so 0, 9 and 1,463 all get a visible, ordered place.
type symlogScale struct{}

func symlog(x float64) float64 { return math.Log10(1 + math.Max(x, 0)) }

func (symlogScale) Normalize(lo, hi, x float64) float64 {
	if symlog(hi) == symlog(lo) {
		return 0
	}
	return (symlog(x) - symlog(lo)) / (symlog(hi) - symlog(lo))
}

// symlogTicks labels a symlog axis of counts: 0, 1, 10, 100, 1000, 10k
// ... Past three powers of ten it labels every other one (the highest
// always), and 1 only on short axes, where it does not crowd 0.
type symlogTicks struct{}

func (symlogTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	if lo <= 0 {
		ticks = append(ticks, plot.Tick{Value: 0, Label: "0"})
	}
	last := math.Floor(math.Log10(math.Max(hi, 1)) + 1e-9)
	stride := 1.0
	if last > 3 {
		stride = 2
	}
	for e := 0.0; e <= math.Min(last, 15); e++ {
		base := math.Pow(10, e)
		if base >= lo {
			t := plot.Tick{Value: base}
			if math.Mod(last-e, stride) == 0 && (e > 0 || last <= 2) {
				t.Label = formatCount(base)
			}
			ticks = append(ticks, t)
		}
		for m := 2.0; m <= 9; m++ {
			if v := m * base; v >= lo && v <= hi {
				ticks = append(ticks, plot.Tick{Value: v})
			}
		}
	}
	return ticks
}

// unlabelled keeps a ticker's marks and drops their labels: small
// multiples label the shared axes once.
type unlabelled struct{ plot.Ticker }

func (u unlabelled) Ticks(lo, hi float64) []plot.Tick {
	ticks := u.Ticker.Ticks(lo, hi)
	for i := range ticks {
		ticks[i].Label = ""
	}
	return ticks
}

// floorUS is the lowest latency drawn: the histograms count whole
// microseconds, and a log axis has no place for 0.
const floorUS = 1

// xStep is the distance in nines between points of a percentile line.
const xStep = 0.02

// percentileLine turns a histogram into (nines, microseconds) points.
func percentileLine(h *hdrhistogram.Histogram) plotter.XYs {
	var xys plotter.XYs
	n := h.TotalCount()
	if n == 0 {
		return xys
	}
	top := math.Log10(float64(n)) // beyond 1 - 1/n the data says nothing
	for i := 0; float64(i)*xStep <= top+1e-9; i++ {
		x := float64(i) * xStep
		q := 100 * (1 - math.Pow(10, -x))
		xys = append(xys, plotter.XY{X: x, Y: math.Max(float64(h.ValueAtQuantile(q)), floorUS)})
	}
	return xys
}

func decode(s string) (*hdrhistogram.Histogram, error) {
	if s == "" {
		return hdrhistogram.New(1, 2, 1), nil
	}
	return results.DecodeHistogram(s)
}

// markers places a design's glyphs on its percentile line: one between
// each pair of nines ticks, shifted a little per design so that the marks
// of lines that run together stay apart, and one at the line's end.
func markers(xys plotter.XYs, design int) plotter.XYs {
	var out plotter.XYs
	shift := 0.25 + 0.5*float64(design%8)/7
	for k := 0.0; ; k++ {
		i := int(math.Round((k + shift) / xStep))
		if i >= len(xys)-15 { // not on the mark at the end
			break
		}
		out = append(out, xys[i])
	}
	return append(out, xys[len(xys)-1])
}

// floorLabel names the generator's send lag where a figure shows it.
const floorLabel = "generator send lag (floor)"

func latencyPlot(runs []*results.TargetRun) (layout, error) {
	const title = "Latency by percentile, over the generator's send lag"
	l := layout{name: "latency", title: title}
	resp, svc := newPlot(), newPlot()
	resp.Title.Text = "response time, from the buyer's scheduled click"
	svc.Title.Text = "service time, from the send"
	legend := newLegend()
	var names []string
	lo, hi, right := math.Inf(1), math.Inf(-1), 0.0
	// The floor: the least send lag of any design, at each percentile. A
	// design too slow for the crowd keeps every sender busy, and its lag
	// holds its own queue; the least is the generator's own lateness.
	var floor plotter.XYs
	for i, r := range runs {
		st := styleOf(i)
		inLegend := false
		for _, k := range []struct {
			p          *plot.Plot
			name, data string
		}{{resp, "response", r.Histograms.Response}, {svc, "service", r.Histograms.Service}} {
			h, err := decode(k.data)
			if err != nil {
				return l, fmt.Errorf("%s %s histogram: %w", r.Target, k.name, err)
			}
			xys := percentileLine(h)
			if len(xys) == 0 {
				continue
			}
			line, err := newLine(xys, st.line(vg.Points(1.3)))
			if err != nil {
				return l, err
			}
			marks, err := plotter.NewScatter(markers(xys, i))
			if err != nil {
				return l, err
			}
			marks.GlyphStyle = st.marker()
			k.p.Add(line, marks)
			if !inLegend {
				legend.Add(r.Target, line, marks)
				names = append(names, r.Target)
				inLegend = true
			}
			for _, xy := range xys {
				lo, hi, right = math.Min(lo, xy.Y), math.Max(hi, xy.Y), math.Max(right, xy.X)
			}
			l.series = append(l.series, r.Target+" "+k.name)
		}
		if r.Histograms.Accepted != "" { // a design of two phases: its time to accepted, dashed
			h, err := decode(r.Histograms.Accepted)
			if err != nil {
				return l, fmt.Errorf("%s accepted histogram: %w", r.Target, err)
			}
			if xys := percentileLine(h); len(xys) > 0 {
				sty := st.line(vg.Points(1.1))
				sty.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
				line, err := newLine(xys, sty)
				if err != nil {
					return l, err
				}
				resp.Add(line)
				legend.Add(r.Target+" accepted", line)
				names = append(names, r.Target+" accepted")
				l.series = append(l.series, r.Target+" accepted")
				for _, xy := range xys {
					lo, hi, right = math.Min(lo, xy.Y), math.Max(hi, xy.Y), math.Max(right, xy.X)
				}
			}
		}
		h, err := decode(r.Histograms.Lag) // empty in closed loop and in older results
		if err != nil {
			return l, fmt.Errorf("%s lag histogram: %w", r.Target, err)
		}
		for j, xy := range percentileLine(h) {
			if j < len(floor) {
				floor[j].Y = math.Min(floor[j].Y, xy.Y)
			} else {
				floor = append(floor, xy)
			}
		}
	}
	if len(floor) > 0 {
		line, err := newLine(floor, draw.LineStyle{Color: floorColor, Width: vg.Points(1.3), Dashes: []vg.Length{vg.Points(1), vg.Points(2)}})
		if err != nil {
			return l, err
		}
		resp.Add(line)
		legend.Add(floorLabel, line)
		names = append(names, floorLabel)
		for _, xy := range floor {
			lo, hi, right = math.Min(lo, xy.Y), math.Max(hi, xy.Y), math.Max(right, xy.X)
		}
		l.series = append(l.series, floorLabel)
	}
	lo, hi = decades(lo, hi)
	for _, p := range []*plot.Plot{resp, svc} {
		percentileAxes(p, lo, hi, right)
	}
	l.grid = [][]*plot.Plot{{resp, svc}}
	l.legend, l.legendW = legend, legendWidth(legend, names)
	l.height = max(5.2*vg.Inch, vg.Length(len(names))*vg.Points(11)+vg.Points(60)) // room for the legend
	return l, nil
}

// visibilityPlot draws each design's visibility lag by percentile, side by
// side: how long after a confirmation the buyer's next page showed the
// order. An order shown at once has a lag of 0, drawn on the axis floor.
func visibilityPlot(runs []*results.TargetRun) (layout, error) {
	l := layout{name: "visibility", title: "Read your own writes: visibility lag by percentile"}
	p := newPlot()
	p.Title.Text = "from the confirmation until the buyer's read shows the order (0 on the floor)"
	legend := newLegend()
	var names []string
	lo, hi, right := math.Inf(1), math.Inf(-1), 0.0
	for i, r := range runs {
		if r.ReadYourWrites == nil {
			continue
		}
		h, err := decode(r.Histograms.VisibilityLag)
		if err != nil {
			return l, fmt.Errorf("%s visibility histogram: %w", r.Target, err)
		}
		xys := percentileLine(h)
		if len(xys) == 0 {
			continue
		}
		st := styleOf(i)
		line, err := newLine(xys, st.line(vg.Points(1.3)))
		if err != nil {
			return l, err
		}
		marks, err := plotter.NewScatter(markers(xys, i))
		if err != nil {
			return l, err
		}
		marks.GlyphStyle = st.marker()
		p.Add(line, marks)
		legend.Add(r.Target, line, marks)
		names = append(names, r.Target)
		l.series = append(l.series, r.Target+" visibility lag")
		for _, xy := range xys {
			lo, hi, right = math.Min(lo, xy.Y), math.Max(hi, xy.Y), math.Max(right, xy.X)
		}
	}
	if len(names) == 0 {
		lo, hi = floorUS, 10*floorUS
	}
	lo, hi = decades(lo, hi)
	percentileAxes(p, lo, hi, right)
	l.grid = [][]*plot.Plot{{p}}
	l.legend, l.legendW = legend, legendWidth(legend, names)
	l.height = max(4.5*vg.Inch, vg.Length(len(names))*vg.Points(11)+vg.Points(60))
	return l, nil
}

// waitingRoomPlot draws the waiting room: how many buyers waited, second
// by second (the room is the scenario's, the same for every design), and
// each design's buyers' wait by percentile.
func waitingRoomPlot(runs []*results.TargetRun) (layout, error) {
	l := layout{name: "waitingroom", title: "The waiting room: buyers waiting, and how long"}
	queue, wait := newPlot(), newPlot()
	queue.Title.Text = "buyers in the waiting room, at the end of each second"
	wait.Title.Text = "time in the waiting room, from the click to the admission"
	legend := newLegend()
	var names []string
	lo, hi, right := math.Inf(1), math.Inf(-1), 0.0
	drawnQueue := false
	for i, r := range runs {
		if r.WaitingRoom == nil {
			continue
		}
		st := styleOf(i)
		if !drawnQueue {
			var xys plotter.XYs
			for _, s := range r.Timeline {
				xys = append(xys, plotter.XY{X: float64(s.T + 1), Y: float64(s.Queue)})
			}
			if len(xys) > 0 {
				line, err := newLine(xys, draw.LineStyle{Color: floorColor, Width: vg.Points(1.3)})
				if err != nil {
					return l, err
				}
				queue.Add(line)
				drawnQueue = true
			}
		}
		h, err := decode(r.Histograms.RoomWait)
		if err != nil {
			return l, fmt.Errorf("%s room wait histogram: %w", r.Target, err)
		}
		xys := percentileLine(h)
		if len(xys) == 0 {
			continue
		}
		line, err := newLine(xys, st.line(vg.Points(1.3)))
		if err != nil {
			return l, err
		}
		wait.Add(line)
		legend.Add(r.Target, line)
		names = append(names, r.Target)
		l.series = append(l.series, r.Target+" wait")
		for _, xy := range xys {
			lo, hi, right = math.Min(lo, xy.Y), math.Max(hi, xy.Y), math.Max(right, xy.X)
		}
	}
	if len(names) == 0 {
		lo, hi = floorUS, 10*floorUS
	}
	queue.Add(gridLines())
	queue.X.Label.Text = "seconds into the run"
	queue.Y.Tick.Marker = countTicks{}
	queue.Y.Min = 0
	lo, hi = decades(lo, hi)
	percentileAxes(wait, lo, hi, right)
	l.grid = [][]*plot.Plot{{queue, wait}}
	l.legend, l.legendW = legend, legendWidth(legend, names)
	l.height = max(4.5*vg.Inch, vg.Length(len(names))*vg.Points(11)+vg.Points(60))
	return l, nil
}

// percentileAxes makes p a percentile plot: a grid, nines on x up to
// right, and durations on a log y from lo to hi.
func percentileAxes(p *plot.Plot, lo, hi, right float64) {
	p.Add(gridLines())
	p.X.Label.Text = "percentile"
	p.X.Tick.Marker = ninesTicks{}
	p.X.Min, p.X.Max = 0, math.Max(right, 1)
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = durationTicks{}
	p.Y.Min, p.Y.Max = lo, hi
}

// gridShape arranges n small multiples in columns and rows.
func gridShape(n int) (cols, rows int) {
	switch {
	case n <= 1:
		cols = 1
	case n <= 4:
		cols = 2
	case n <= 9:
		cols = 3
	case n <= 20:
		cols = 4
	default:
		cols = 5
	}
	return cols, (n + cols - 1) / cols
}

// keyEntry is one line style of a figure's key, and what it means.
type keyEntry struct {
	label    string
	line     draw.LineStyle
	glyph    *draw.GlyphStyle // marks on the line, if any
	vertical bool
}

// drawKey writes a key across the top of a figure.
func drawKey(c draw.Canvas, entries []keyEntry) {
	sty := textStyle(8)
	sty.YAlign = draw.YCenter
	x, y := c.Min.X+vg.Points(10), c.Center().Y
	for _, e := range entries {
		w := vg.Points(22)
		if e.vertical {
			w = vg.Points(8)
			c.StrokeLine2(e.line, x+w/2, y-vg.Points(6), x+w/2, y+vg.Points(6))
		} else {
			c.StrokeLine2(e.line, x, y, x+w, y)
		}
		if e.glyph != nil {
			c.DrawGlyph(*e.glyph, vg.Point{X: x + w/2, Y: y})
		}
		x += w + vg.Points(4)
		c.FillText(sty, vg.Point{X: x, Y: y}, e.label)
		x += sty.Width(e.label) + vg.Points(18)
	}
}

// answered counts a second's definite answers.
func answered(s results.Second) float64 { return float64(s.Confirmed + s.SoldOut + s.Rejected) }

func timelinePlot(runs []*results.TargetRun) (layout, error) {
	const title = "Second by second: answers per second and p99, per design"
	l := layout{name: "timeline", title: title}
	cols, rows := gridShape(len(runs))
	l.grid = make([][]*plot.Plot, 2*rows)
	for i := range l.grid {
		l.grid[i] = make([]*plot.Plot, cols)
	}
	right, top := 1.0, 1.0
	lo, hi := math.Inf(1), math.Inf(-1)
	failures := false
	for _, r := range runs {
		for _, s := range r.Timeline {
			right = math.Max(right, float64(s.T+1))
			top = math.Max(top, math.Max(answered(s), float64(s.Unknown+s.Errors)))
			if s.P99US > 0 {
				lo, hi = math.Min(lo, float64(s.P99US)), math.Max(hi, float64(s.P99US))
			}
			failures = failures || s.Unknown+s.Errors > 0
		}
	}
	lo, hi = decades(lo, hi)
	step := niceStep(top / 5)
	top = math.Ceil(top*1.02/step) * step // the axis ends on a labelled tick
	soldOut := draw.LineStyle{Color: ink, Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(1), vg.Points(2)}}
	failed := draw.LineStyle{Color: ink, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(2)}}
	faulty := false
	for i, r := range runs {
		st := styleOf(i)
		row, col := i/cols, i%cols
		thr, lat := newPlot(), newPlot()
		thr.Title.Text = r.Target
		// The faults first, under the lines: from when each was put in
		// until its backend was back.
		for _, fw := range r.Faults {
			if fw.Skipped != "" || fw.EndS <= fw.StartS {
				continue
			}
			faulty = true
			for _, m := range []struct {
				p      *plot.Plot
				lo, hi float64
			}{{thr, 0, top}, {lat, lo, hi}} {
				poly, err := plotter.NewPolygon(plotter.XYs{{X: fw.StartS, Y: m.lo}, {X: fw.EndS, Y: m.lo}, {X: fw.EndS, Y: m.hi}, {X: fw.StartS, Y: m.hi}})
				if err != nil {
					return l, err
				}
				poly.Color, poly.LineStyle.Width = faultShade, 0
				m.p.Add(poly)
			}
		}
		var a, f plotter.XYs
		var unanswered int64
		var b []plotter.XYs // p99, broken where a second had no answer
		for _, s := range r.Timeline {
			x := float64(s.T) + 0.5
			a = append(a, plotter.XY{X: x, Y: answered(s)})
			f = append(f, plotter.XY{X: x, Y: float64(s.Unknown + s.Errors)})
			unanswered += s.Unknown + s.Errors
			if s.P99US <= 0 {
				b = append(b, nil)
				continue
			}
			if len(b) == 0 || b[len(b)-1] == nil {
				b = append(b, plotter.XYs{})
			}
			b[len(b)-1] = append(b[len(b)-1], plotter.XY{X: x, Y: math.Max(float64(s.P99US), floorUS)})
		}
		if len(a) > 0 {
			line, err := newLine(a, st.line(vg.Points(1.5)))
			if err != nil {
				return l, err
			}
			thr.Add(line)
			if unanswered > 0 {
				// A few failures a second vanish beside thousands of
				// answers: the panel's title counts them too.
				thr.Title.Text += " (" + thousands(unanswered) + " unknown or errors)"
				line, err := newLine(f, failed)
				if err != nil {
					return l, err
				}
				thr.Add(line)
			}
		}
		for _, seg := range b {
			if len(seg) == 0 {
				continue
			}
			line, points, err := plotter.NewLinePoints(seg)
			if err != nil {
				return l, err
			}
			line.LineStyle = st.line(vg.Points(1.3))
			points.GlyphStyle = st.marker()
			points.GlyphStyle.Radius = vg.Points(1.6)
			lat.Add(line, points)
		}
		if r.SoldOutAtS != nil && *r.SoldOutAtS >= 0 && *r.SoldOutAtS <= right {
			for _, m := range []struct {
				p      *plot.Plot
				lo, hi float64
			}{{thr, 0, top}, {lat, lo, hi}} {
				line, err := newLine(plotter.XYs{{X: *r.SoldOutAtS, Y: m.lo}, {X: *r.SoldOutAtS, Y: m.hi}}, soldOut)
				if err != nil {
					return l, err
				}
				m.p.Add(line)
			}
		}
		thr.Y.Min, thr.Y.Max = 0, top
		thr.Y.Tick.Marker = countTicks{}
		thr.X.Tick.Marker = unlabelled{countTicks{}}
		lat.Y.Scale = plot.LogScale{}
		lat.Y.Tick.Marker = durationTicks{compact: true}
		lat.Y.Min, lat.Y.Max = lo, hi
		lat.X.Tick.Marker = countTicks{}
		if col == 0 {
			thr.Y.Label.Text, lat.Y.Label.Text = "answers/s", "p99"
		} else {
			thr.Y.Tick.Marker = unlabelled{countTicks{}}
			lat.Y.Tick.Marker = unlabelled{durationTicks{compact: true}}
		}
		if row == rows-1 || (row == rows-2 && col >= len(runs)%cols && len(runs)%cols != 0) {
			lat.X.Label.Text = "seconds into the run"
		}
		for _, p := range []*plot.Plot{thr, lat} {
			p.Add(gridLines())
			p.X.Min, p.X.Max = 0, right
		}
		l.grid[2*row][col], l.grid[2*row+1][col] = thr, lat
		l.series = append(l.series, r.Target)
	}
	dot := draw.GlyphStyle{Color: ink, Radius: vg.Points(1.6), Shape: draw.CircleGlyph{}}
	l.key = []keyEntry{
		{label: "upper panel: answers per second (confirmed, sold out, rejected)", line: draw.LineStyle{Color: ink, Width: vg.Points(1.5)}},
		{label: "lower panel: p99 of the response times answered in that second", line: draw.LineStyle{Color: ink, Width: vg.Points(1.3)}, glyph: &dot},
	}
	if failures {
		l.key = append(l.key, keyEntry{label: "unknown + errors per second", line: failed})
	}
	l.key = append(l.key, keyEntry{label: "the stock sold out", line: soldOut, vertical: true})
	if faulty {
		// One more entry: the first two say it in fewer words to fit.
		l.key[0].label, l.key[1].label = "answers/s (upper panels)", "p99 of that second (lower)"
		l.key = append(l.key, keyEntry{label: "a fault, until its backend was back", line: draw.LineStyle{Color: faultShade, Width: vg.Points(7)}})
	}
	l.height = keyH + vg.Length(rows)*2*vg.Inch + 0.3*vg.Inch
	if rows == 1 {
		l.height += 1 * vg.Inch // one row of panels: not too flat
	}
	return l, nil
}

// faultShade fills the time a fault lasted on the timeline.
var faultShade = color.NRGBA{R: 0xe6, G: 0x9f, B: 0x00, A: 0x55}

// metric is one count per design, drawn as a panel of bars.
type metric struct {
	title string
	value func(*results.TargetRun) int64
	color color.Color
	bad   bool // a count above 0 is a defect: its label is red
}

// Colours of bar panels: a defect, a good count, and a zero.
var (
	defectColor = color.RGBA{R: 0xb0, G: 0x1c, B: 0x1c, A: 0xff}
	zeroColor   = color.RGBA{R: 0x1a, G: 0x7f, B: 0x1a, A: 0xff}
)

// barFigure draws one small panel per metric, side by side: a horizontal
// bar per design on a log scale that holds zero (symlog), each bar labelled
// with its count, so that 9 reads next to 1,463 and a zero reads as 0.
// Designs are named once, on the left, first at the top.
func barFigure(name, title string, runs []*results.TargetRun, metrics []metric) (layout, error) {
	l := layout{name: name, title: title}
	n := len(runs)
	names := make([]string, n)
	for i, r := range runs {
		names[n-1-i] = r.Target
	}
	var top float64 // one scale for every panel
	for _, m := range metrics {
		for _, r := range runs {
			top = math.Max(top, float64(m.value(r)))
		}
	}
	_, top = decades(1, math.Max(top, 10))
	row := make([]*plot.Plot, len(metrics))
	for j, m := range metrics {
		p := newPlot()
		p.Title.Text = m.title
		vals := make(plotter.Values, n)
		var xys plotter.XYs
		var labels []string
		for i, r := range runs {
			vals[n-1-i] = float64(m.value(r))
		}
		for i, v := range vals {
			xys = append(xys, plotter.XY{X: v, Y: float64(i)})
			labels = append(labels, thousands(int64(v)))
		}
		bars, err := plotter.NewBarChart(vals, vg.Points(8.5))
		if err != nil {
			return l, err
		}
		bars.Horizontal = true
		bars.Color = m.color
		bars.LineStyle.Width = 0
		lab, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
		if err != nil {
			return l, err
		}
		lab.Offset = vg.Point{X: vg.Points(3)}
		for i, v := range vals {
			sty := textStyle(7.5)
			sty.YAlign = draw.YCenter
			switch {
			case v == 0:
				sty.Color = zeroColor
			case m.bad:
				sty.Color = defectColor
			}
			lab.TextStyle[i] = sty
		}
		g := gridLines()
		g.Horizontal.Color = nil
		p.Add(stripes{n}, g, bars, lab)
		p.NominalY(names...)
		if j > 0 {
			p.Y.Tick.Marker = unlabelled{p.Y.Tick.Marker}
		}
		p.Y.Min, p.Y.Max = -0.6, float64(n)-0.4
		p.X.Scale = symlogScale{}
		p.X.Tick.Marker = symlogTicks{}
		p.X.Min, p.X.Max = 0, top
		row[j] = p
		l.series = append(l.series, m.title)
	}
	l.grid = [][]*plot.Plot{row}
	l.height = max(1.6*vg.Inch, vg.Length(n)*0.2*vg.Inch+1*vg.Inch)
	return l, nil
}

// stripes shades every other row of a bar panel, so that the eye follows
// a design across panels.
type stripes struct{ rows int }

func (s stripes) Plot(c draw.Canvas, p *plot.Plot) {
	_, y := p.Transforms(&c)
	for i := s.rows - 2; i >= 0; i -= 2 {
		r := vg.Rectangle{Min: vg.Point{X: c.Min.X, Y: y(float64(i) - 0.5)}, Max: vg.Point{X: c.Max.X, Y: y(float64(i) + 0.5)}}
		c.SetColor(stripeColor)
		c.Fill(r.Path())
	}
}

var stripeColor = color.Gray{Y: 0xf3}

func correctnessPlot(runs []*results.TargetRun) (layout, error) {
	const title = "Correctness per design (log scale, 0 where none)"
	ms := []metric{
		{"oversold tickets", func(r *results.TargetRun) int64 { return r.Checks.Oversold }, defectColor, true},
		{"undersold seats", func(r *results.TargetRun) int64 { return r.Checks.Undersold }, defectColor, true},
		{"duplicated orders", func(r *results.TargetRun) int64 { return r.Checks.DuplicatedOrders }, defectColor, true},
		{"lost orders", func(r *results.TargetRun) int64 { return r.Checks.Lost }, defectColor, true},
		{"phantom orders", func(r *results.TargetRun) int64 { return r.Checks.Phantom }, defectColor, true},
		{"contradicted answers", func(r *results.TargetRun) int64 { return r.Checks.Contradicted }, defectColor, true},
		{"apologies", func(r *results.TargetRun) int64 { return r.Checks.Apologies }, color.RGBA{R: 0xcc, G: 0x79, B: 0x00, A: 0xff}, false},
	}
	return barFigure("correctness", title, runs, ms)
}

func outcomePlot(runs []*results.TargetRun) (layout, error) {
	const title = "Outcome of every attempt per design, and attempts never sent (log scale)"
	ms := []metric{
		{"confirmed", func(r *results.TargetRun) int64 { return r.Orders.Confirmed }, color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, false},
		{"sold out", func(r *results.TargetRun) int64 { return r.Orders.SoldOut }, color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, false},
		{"rejected", func(r *results.TargetRun) int64 { return r.Orders.Rejected }, color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}, false},
		{"unknown", func(r *results.TargetRun) int64 { return r.Orders.Unknown }, color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}, true},
		{"errors", func(r *results.TargetRun) int64 { return r.Orders.Errors }, defectColor, true},
		{"expired in queue", func(r *results.TargetRun) int64 { return r.Orders.Expired }, color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff}, true},
		{"queued at end", func(r *results.TargetRun) int64 { return r.Orders.QueuedAtEnd }, color.RGBA{R: 0x40, G: 0x40, B: 0x40, A: 0xff}, true},
	}
	return barFigure("outcomes", title, runs, ms)
}
