package reports

import (
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"

	"github.com/stampede-bench/stampede/bench/results"
)

// Verdict writes, in one paragraph, what the figures say: which designs
// oversold, duplicated or lost orders, which fell behind the crowd, and the
// fastest design at p99 that was correct (nothing oversold, duplicated,
// lost, phantom or apologised for) and durable, with the in-process
// references kept apart.
func Verdict(res *results.Results) string {
	runs := okRuns(res)
	var s strings.Builder
	if len(runs) == 0 {
		s.WriteString("No design completed its run.")
		if nr := NotRun(res); len(nr) > 0 {
			fmt.Fprintf(&s, " Not run (interrupted first): %s.", join(nr))
		}
		return s.String()
	}
	list := func(check, unit string) []string {
		var out []string
		for _, r := range runs {
			if checkShown(r, check) {
				out = append(out, fmt.Sprintf("%s (%s)", r.Target, incidenceText(r, check, unit)))
			}
		}
		return out
	}
	oversold := list("oversold", "seats")
	dup := list("duplicated", "orders")
	lost := list("lost", "orders")
	apol := list("apologies", "apologies")
	under := list("undersold", "seats")
	var behind []string
	for _, r := range runs {
		if b := Behind(r); b != "" {
			behind = append(behind, fmt.Sprintf("%s (%s)", r.Target, strings.TrimPrefix(b, "fell behind the crowd: ")))
		}
	}
	say := func(names []string, some, none string) {
		if len(names) == 0 {
			s.WriteString(none + " ")
		} else {
			fmt.Fprintf(&s, "%s %s. ", some, join(names))
		}
	}
	fmt.Fprintf(&s, "On %s, ", res.Scenario.Name)
	if repeated(res) {
		fmt.Fprintf(&s, "over %d runs of each design, ", res.Repeat)
	}
	say(oversold, "these designs oversold:", "no design oversold.")
	say(dup, "These applied resubmitted orders twice:", "No design applied an order twice.")
	say(lost, "These lost confirmed orders:", "No design lost a confirmed order.")
	if len(apol) > 0 {
		fmt.Fprintf(&s, "These confirmed and later cancelled orders (apologies): %s. ", join(apol))
	}
	if len(under) > 0 {
		fmt.Fprintf(&s, "These turned buyers away while seats were left (undersold): %s. ", join(under))
	}
	if len(behind) > 0 {
		fmt.Fprintf(&s, "These fell behind the crowd, and their response times count the wait: %s. ", join(behind))
	}
	p99 := func(r *results.TargetRun) float64 { return statOf(r, getP99).Median }
	byP99 := append([]*results.TargetRun(nil), runs...)
	sort.SliceStable(byP99, func(i, j int) bool { return p99(byP99[i]) < p99(byP99[j]) })
	correct := func(r *results.TargetRun) bool {
		for _, c := range []string{"oversold", "duplicated", "lost", "phantom", "apologies"} {
			if checkShown(r, c) {
				return false
			}
		}
		return true
	}
	var best []*results.TargetRun
	var fasterNotDurable *results.TargetRun
	var refs []string
	for _, r := range byP99 {
		switch {
		case r.Info.Reference:
			refs = append(refs, fmt.Sprintf("%s (p99 %s)", r.Target, FormatUS(int64(p99(r)))))
		case !correct(r):
		case r.Info.Durable:
			best = append(best, r)
		case len(best) == 0 && fasterNotDurable == nil:
			fasterNotDurable = r
		}
	}
	everyRun := ""
	if repeated(res) {
		everyRun = " in every run"
	}
	switch {
	case len(best) == 0:
		fmt.Fprintf(&s, "No design was both correct%s (nothing oversold, duplicated, lost, phantom or apologised for) and durable. ", everyRun)
	case !repeated(res):
		fmt.Fprintf(&s, "Fastest at p99 of the designs that were correct (nothing oversold, duplicated, lost, phantom or apologised for) and durable: %s (%s)",
			best[0].Target, FormatUS(best[0].LatencyUS.P99))
		if len(best) > 1 {
			fmt.Fprintf(&s, ", then %s (%s)", best[1].Target, FormatUS(best[1].LatencyUS.P99))
		}
		s.WriteString(". ")
	default:
		s.WriteString(recommend(best))
	}
	if r := fasterNotDurable; r != nil {
		fmt.Fprintf(&s, "%s was correct%s at p99 %s, but not durable (%s). ", r.Target, everyRun, FormatUS(int64(p99(r))), r.Info.Durability)
	}
	if len(refs) > 0 {
		fmt.Fprintf(&s, "In-process references, no backend, not a choice for production: %s. ", join(refs))
	}
	if nr := NotRun(res); len(nr) > 0 {
		fmt.Fprintf(&s, "Not run (the run was interrupted before they started): %s. ", join(nr))
	}
	return strings.TrimSpace(s.String())
}

// recommend names, of the designs correct in every run and durable
// (fastest first), the fastest at median p99 and the one that sold the
// most per second, each against the next with their ranges; where the
// ranges overlap it says that no design was faster.
func recommend(best []*results.TargetRun) string {
	var s strings.Builder
	const correct = "correct in every run (nothing oversold, duplicated, lost, phantom or apologised for) and durable"
	a := best[0]
	pa := statOf(a, getP99)
	if len(best) == 1 {
		fmt.Fprintf(&s, "The one design %s: %s (median p99 %s; %s). ", correct, a.Target, rangeText(pa, formatUSf), rangeText(statOf(a, getGoodput), salesRate))
		return s.String()
	}
	b := best[1]
	pb := statOf(b, getP99)
	if pa.Overlaps(pb) {
		fmt.Fprintf(&s, "Of the designs %s, no design was faster at p99: %s (median %s) and %s (median %s) overlap over the runs. ",
			correct, a.Target, rangeText(pa, formatUSf), b.Target, rangeText(pb, formatUSf))
	} else {
		fmt.Fprintf(&s, "Fastest at median p99 of the designs %s: %s (%s), %.1fx faster than %s (%s), beyond the spread of either. ",
			correct, a.Target, rangeText(pa, formatUSf), pb.Median/max(pa.Median, 1), b.Target, rangeText(pb, formatUSf))
	}
	byGood := append([]*results.TargetRun(nil), best...)
	sort.SliceStable(byGood, func(i, j int) bool {
		return statOf(byGood[i], getGoodput).Median > statOf(byGood[j], getGoodput).Median
	})
	ga, gb := statOf(byGood[0], getGoodput), statOf(byGood[1], getGoodput)
	if ga.Overlaps(gb) {
		fmt.Fprintf(&s, "Their sales per second do not tell them apart: %s (%s) and %s (%s) overlap. ",
			byGood[0].Target, rangeText(ga, salesRate), byGood[1].Target, rangeText(gb, salesRate))
	} else {
		fmt.Fprintf(&s, "Most sales per second: %s (%s), %.2fx %s (%s). ",
			byGood[0].Target, rangeText(ga, salesRate), ga.Median/max(gb.Median, 1e-9), byGood[1].Target, rangeText(gb, salesRate))
	}
	return s.String()
}

// rangeText formats a median with its range: "12.0ms, range 9.3ms–15.1ms".
func rangeText(st results.Stat, format func(float64) string) string {
	if st.Min == st.Max {
		return format(st.Median)
	}
	return fmt.Sprintf("%s, range %s–%s", format(st.Median), format(st.Min), format(st.Max))
}

func salesRate(v float64) string { return fmt.Sprintf("%.0f sales/s", v) }

func join(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// Markdown writes the summary table, the notes and the verdict, for a CI
// job summary or a pull-request comment.
func Markdown(w io.Writer, res *results.Results) error {
	fmt.Fprintf(w, "## stampede: %s\n\n", mdEscape(res.Scenario.Name))
	if res.Interrupted {
		fmt.Fprint(w, "**Interrupted: partial results.**\n\n")
	}
	fmt.Fprintf(w, "%d products x %d seats; stampede %s, %s/%s, %d CPUs.\n\n", res.Scenario.Stock.Products, res.Scenario.Stock.Capacity,
		mdEscape(res.Environment.Stampede), res.Environment.OS, res.Environment.Arch, res.Environment.CPUs)
	if line := repeatLine(res); line != "" {
		fmt.Fprintf(w, "%s\n\n", mdEscape(line))
	}
	fmt.Fprintln(w, "| design | loop | answers/s | sales/s | p50 | p99 | p99.9 | send lag p99 | buyers | not sent | oversold | undersold | dup rate | lost | apologies | consistency | durability |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|")
	for _, r := range res.Runs {
		if r.Error != "" {
			fmt.Fprintf(w, "| %s | failed: %s ||||||||||||||||\n", mdEscape(r.Target), mdEscape(OneLine(r.Error)))
			continue
		}
		c := r.Checks
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %d | %d | %s | %s | %.4f | %s | %s | %s | %s |\n", mdEscape(r.Target), r.Loop,
			cell(r, getThroughput, formatRate), salesCell(r, getGoodput), cell(r, getP50, formatUSf), cell(r, getP99, formatUSf), cell(r, getP999, formatUSf),
			lagP99(r), buyers(r.Orders), r.Orders.NotSent, checkCell(r, "oversold"), checkCell(r, "undersold"), c.DuplicateRate,
			checkCell(r, "lost"), checkCell(r, "apologies"), mdEscape(r.Info.Consistency), mdEscape(r.Info.Durability))
	}
	for _, t := range NotRun(res) {
		fmt.Fprintf(w, "| %s | not run ||||||||||||||||\n", mdEscape(t))
	}
	fmt.Fprintln(w)
	for _, n := range Notes(res) {
		if !strings.Contains(n, " durability: ") { // the table says it
			fmt.Fprintf(w, "- %s\n", mdEscape(n))
		}
	}
	if faulted(res) {
		fmt.Fprint(w, "\n| design | fault | in | back | answers | unknown | errors | before/s | failover | recovery | note |\n|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
		for _, f := range faultRows(res) {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", mdEscape(f.Target), mdEscape(f.Fault), f.In, f.Back,
				f.Answers, f.Unknown, f.Errors, f.Before, f.Failover, mdEscape(f.Recovery), mdEscape(f.Note))
		}
		fmt.Fprintln(w)
		for _, l := range unknownsResolved(res) {
			fmt.Fprintf(w, "- %s\n", mdEscape(l))
		}
	}
	if lines := causeLines(res); len(lines) > 0 {
		fmt.Fprint(w, "\nFailures and conflicts by cause:\n\n")
		for _, l := range lines {
			fmt.Fprintf(w, "- %s\n", mdEscape(l))
		}
	}
	_, err := fmt.Fprintf(w, "\n%s\n", mdEscape(Verdict(res)))
	return err
}

// mdEscape keeps text from breaking a Markdown table or adding markup.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;", "*", `\*`, "_", `\_`, "`", "\\`").Replace(s)
}

var page = template.Must(template.New("index").Funcs(template.FuncMap{"us": FormatUS}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>stampede: {{.Res.Scenario.Name}}</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1340px;color:#222;padding:0 1em}
table{border-collapse:collapse;font-size:12px;margin:1em 0}
td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}
td:first-child,th:first-child,td.t,th.t{text-align:left}
th{background:#f4f4f4}
.bad{color:#b00;font-weight:600}.ok{color:#070}.dim{color:#888}
.verdict{background:#f5f5f0;border-left:4px solid #888;padding:.6em 1em}
ul.notes{font-size:13px;color:#333}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}
.note{color:#666;font-size:13px}
</style></head><body>
<h1>stampede: {{.Res.Scenario.Name}}</h1>
{{if .Res.Interrupted}}<p class="bad">Interrupted: partial results.</p>{{end}}
<p>{{.Res.Scenario.Description}}</p>
<p class="note">{{.Res.Scenario.Stock.Products}} products x {{.Res.Scenario.Stock.Capacity}} seats; arrivals {{.Res.Scenario.Arrivals.Mode}};
started {{.Res.StartedAt.Format "2006-01-02 15:04:05 MST"}}; stampede {{.Res.Environment.Stampede}}, {{.Res.Environment.Go}},
{{.Res.Environment.OS}}/{{.Res.Environment.Arch}}, {{.Res.Environment.CPUs}} CPUs.</p>
{{if .Repeat}}<p class="note">{{.Repeat}}</p>{{end}}
<p class="verdict">{{.Verdict}}</p>
<h2>Speed</h2>
<table>
<tr><th>design</th><th>loop</th><th>answers/s</th><th>sales/s</th><th>seats/s</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>service p99</th><th>send lag p99</th><th>late sends</th></tr>
{{range .Rows}}{{if .Error}}<tr><td>{{.Target}}</td><td class="t bad" colspan="12">failed: {{.Error}}</td></tr>
{{else}}<tr><td>{{.Target}}</td><td>{{.Loop}}</td><td>{{.Throughput}}</td><td>{{.Goodput}}</td><td>{{.Seats}}</td><td>{{.P50}}</td><td>{{.P90}}</td><td>{{.P99}}</td>
<td>{{.P999}}</td><td>{{.Max}}</td><td>{{.SvcP99}}</td><td>{{.LagP99}}</td><td class="{{.LateClass}}">{{.Generator.LateSends}}</td></tr>
{{end}}{{end}}{{range .NotRun}}<tr><td>{{.}}</td><td class="t dim" colspan="12">not run: the run was interrupted before it started</td></tr>
{{end}}</table>
<p class="note">Response times count from each buyer's scheduled click, not from the send, so a stalled design cannot hide its queue;
service time counts from the send. The send lag runs from the scheduled click to the send: the generator's own lateness, and for a
design that keeps every sender busy its queue as well{{if .Floor}}. At its least in this run, {{.Floor}} at p99, it is the floor under
every response time: below it a figure measures the generator, not the design{{end}}.</p>
<h2>Buyers and answers</h2>
<table>
<tr><th>design</th><th>buyers</th><th>sent</th><th>not sent</th><th>attempts</th><th>confirmed</th><th>sold out</th><th>rejected</th><th>unknown</th><th>errors</th><th>expired in queue</th><th>queued at end</th><th>conflicts</th></tr>
{{range .Rows}}{{if not .Error}}<tr><td>{{.Target}}</td><td>{{.Buyers}}</td><td>{{.Orders.Submitted}}</td><td class="{{.NotSentClass}}">{{.Orders.NotSent}}</td>
<td>{{.Orders.Attempts}}</td><td>{{.Orders.Confirmed}}</td><td>{{.Orders.SoldOut}}</td><td>{{.Orders.Rejected}}</td><td>{{.Orders.Unknown}}</td>
<td>{{.Orders.Errors}}</td><td>{{.Orders.Expired}}</td><td>{{.Orders.QueuedAtEnd}}</td><td>{{.Orders.Conflicts}}</td></tr>
{{end}}{{end}}</table>
<h2>Correctness</h2>
<table>
<tr><th>design</th><th>sold / capacity</th><th>oversold</th><th>undersold</th><th>duplicated</th><th>dup rate</th><th>lost</th><th>phantom</th><th>contradicted</th><th>apologies</th><th>unresolved</th></tr>
{{range .Rows}}{{if not .Error}}<tr><td>{{.Target}}</td><td>{{.Checks.Sold}} / {{.Checks.Capacity}}</td>{{range .CheckCells}}<td class="{{.Class}}">{{.Text}}</td>{{end}}<td>{{.Checks.Unresolved}}</td></tr>
{{end}}{{end}}</table>
<p class="note">Undersold counts lost sales: seats left unsold although buyers for them were turned away (told sold out, rejected or
failed with an error while their product still had the seats they asked for at the end of the run).</p>
{{if .Faults}}<h2>Faults</h2>
<p class="note">{{.FaultLegend}}</p>
<table>
<tr><th>design</th><th class="t">fault</th><th>in</th><th>back</th><th>answers</th><th>unknown</th><th>errors</th><th>before /s</th><th>failover</th><th>recovery</th><th class="t">note</th></tr>
{{range .Faults}}<tr><td>{{.Target}}</td><td class="t">{{.Fault}}</td><td>{{.In}}</td><td>{{.Back}}</td><td>{{.Answers}}</td><td>{{.Unknown}}</td><td>{{.Errors}}</td><td>{{.Before}}</td><td>{{.Failover}}</td><td class="{{if .Bad}}bad{{end}}">{{.Recovery}}</td><td class="t">{{.Note}}</td></tr>
{{end}}</table>
<ul class="notes">{{range .Resolved}}<li>{{.}}</li>
{{end}}</ul>{{end}}
{{if .Causes}}<h2>Failures and conflicts by cause</h2>
<ul class="notes">{{range .Causes}}<li>{{.}}</li>
{{end}}</ul>{{end}}
{{with .Room}}<h2>The waiting room</h2>
<p class="note">Buyers waited in a virtual queue and were let in, in the order they clicked, at {{.Rate}} a second (at most {{.MaxQueue}} waiting at once). The design's times run from the admission; the buyer's, from the click.</p>{{end}}
{{if .Room}}<table>
<tr><th>design</th><th>wait p50</th><th>wait p99</th><th>wait max</th><th>design p50</th><th>design p99</th><th>buyer p99</th></tr>
{{range .Rows}}{{if not .Error}}{{if .WaitingRoom}}<tr><td>{{.Target}}</td><td>{{us .WaitingRoom.WaitUS.P50}}</td><td>{{us .WaitingRoom.WaitUS.P99}}</td><td>{{us .WaitingRoom.WaitUS.Max}}</td>
<td>{{us .ServiceUS.P50}}</td><td>{{us .ServiceUS.P99}}</td><td>{{.P99}}</td></tr>
{{end}}{{end}}{{end}}</table>{{end}}
{{if .TwoPhases}}<h2>Accepted, then decided</h2>
<p class="note">Designs that answer in two phases accept an order at once and decide it later. Both times run from the buyer's click; a final answer that came after the buyer gave up is a late answer, counted, never lost.</p>
<table>
<tr><th>design</th><th>accepted p50</th><th>accepted p99</th><th>final p50</th><th>final p99</th><th>late answers</th></tr>
{{range .Rows}}{{if not .Error}}{{if .AcceptedUS}}<tr><td>{{.Target}}</td><td>{{us .AcceptedUS.P50}}</td><td>{{us .AcceptedUS.P99}}</td><td>{{.P50}}</td><td>{{.P99}}</td><td>{{.Orders.LateAnswers}}</td></tr>
{{end}}{{end}}{{end}}</table>{{end}}
{{if .Reads}}<h2>Read your own writes</h2>
<p class="note">Each buyer confirmed read their orders at once, as the next page does. A violation is a read that did not show the order; the visibility lag runs from the confirmation until a read showed it (0 when the first read did).</p>
<table>
<tr><th>design</th><th>reads</th><th>violations</th><th>rate</th><th>lag p50</th><th>lag p99</th><th>lag max</th><th>never shown</th><th>read errors</th></tr>
{{range .Rows}}{{if not .Error}}{{$t := .Target}}{{with .ReadYourWrites}}<tr><td>{{$t}}</td><td>{{.Reads}}</td><td class="{{if .Violations}}bad{{else}}ok{{end}}">{{.Violations}}</td><td>{{printf "%.4f" .ViolationRate}}</td>
<td>{{us .LagUS.P50}}</td><td>{{us .LagUS.P99}}</td><td>{{us .LagUS.Max}}</td><td class="{{if .NeverVisible}}bad{{else}}ok{{end}}">{{.NeverVisible}}</td><td>{{.ReadErrors}}</td></tr>
{{else}}<tr><td>{{.Target}}</td><td colspan="8" class="dim">no read side</td></tr>
{{end}}{{end}}{{end}}</table>{{end}}
{{if .Notes}}<h2>Notes</h2>
<ul class="notes">{{range .Notes}}<li>{{.}}</li>
{{end}}</ul>{{end}}
<h2>What each design is, and what its figures were bought with</h2>
<table>
<tr><th>design</th><th class="t">how it sells</th><th class="t">consistency</th><th class="t">durability</th><th class="t">backend</th></tr>
{{range .Rows}}{{if not .Error}}<tr><td>{{.Target}}{{if .Info.Reference}} <span class="dim">(reference)</span>{{end}}</td><td class="t">{{.Info.Design}}</td><td class="t">{{.Info.Consistency}}</td>
<td class="t">{{.Info.Durability}}</td><td class="t">{{.Info.Backend}}</td></tr>
{{end}}{{end}}</table>
{{range .Figs}}<h2>{{.Title}}</h2>
<img alt="{{.Title}}: {{.Alt}}" src="{{.Src}}">
<p class="note">Also as <a href="{{.Name}}.svg">{{.Name}}.svg</a>.</p>
{{end}}
<p class="note">Files: results.json, summary.md, bench.txt, and per design a .hgrm and a .hlog for HdrHistogram's tools.</p>
</body></html>
`))

type htmlRow struct {
	*results.TargetRun
	Buyers                                   int64
	Throughput, Goodput, Seats               string
	P50, P90, P99, P999, Max, SvcP99, LagP99 string
	NotSentClass, LateClass                  string
	// CheckCells are oversold, undersold, duplicated, dup rate, lost,
	// phantom, contradicted and apologies.
	CheckCells []htmlCell
}

type htmlCell struct{ Text, Class string }

type htmlFig struct {
	Name, Title, Alt string
	Src              template.URL
}

// HTML writes a self-contained index.html: the plots inline, no network
// fetches, every string from the input escaped.
func HTML(w io.Writer, res *results.Results, figs []Figure) error {
	class := func(n int64) string {
		if n > 0 {
			return "bad"
		}
		return "ok"
	}
	var rows []htmlRow
	floor, floorOf := int64(-1), ""
	for _, r := range res.Runs {
		row := htmlRow{TargetRun: r, Buyers: buyers(r.Orders), Throughput: cell(r, getThroughput, formatRate),
			Goodput: salesCell(r, getGoodput), Seats: salesCell(r, getSeats),
			P50: cell(r, getP50, formatUSf), P90: cell(r, getP90, formatUSf), P99: cell(r, getP99, formatUSf),
			P999: cell(r, getP999, formatUSf), Max: cell(r, getMax, formatUSf), SvcP99: FormatUS(r.ServiceUS.P99), LagP99: lagP99(r),
			NotSentClass: class(r.Orders.NotSent)}
		for _, c := range []string{"oversold", "undersold", "duplicated", "dup rate", "lost", "phantom", "contradicted", "apologies"} {
			switch c {
			case "dup rate":
				row.CheckCells = append(row.CheckCells, htmlCell{Text: fmt.Sprintf("%.4f", r.Checks.DuplicateRate)})
			case "apologies":
				row.CheckCells = append(row.CheckCells, htmlCell{Text: checkCell(r, c)})
			default:
				cl := "ok"
				if checkShown(r, c) {
					cl = "bad"
				}
				row.CheckCells = append(row.CheckCells, htmlCell{Text: checkCell(r, c), Class: cl})
			}
		}
		if r.Orders.Attempts > 0 && r.Generator.LateSends*100 > r.Orders.Attempts {
			row.LateClass = "bad"
		}
		if r.Error == "" && r.Generator.LagUS.Count > 0 && (floor < 0 || r.Generator.LagUS.P99 < floor) {
			floor, floorOf = r.Generator.LagUS.P99, r.Target
		}
		rows = append(rows, row)
	}
	var notes []string
	for _, n := range Notes(res) {
		if !strings.Contains(n, " durability: ") { // the design table says it
			notes = append(notes, n)
		}
	}
	var hf []htmlFig
	for _, f := range figs {
		hf = append(hf, htmlFig{Name: f.Name, Title: f.Title, Alt: strings.Join(f.Series, ", "),
			Src: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(f.PNG))})
	}
	floorText := ""
	if floor >= 0 {
		floorText = FormatUS(floor) + " (" + floorOf + ")"
	}
	return page.Execute(w, struct {
		Res         *results.Results
		Verdict     string
		Rows        []htmlRow
		NotRun      []string
		Notes       []string
		Floor       string
		Figs        []htmlFig
		Reads       bool
		TwoPhases   bool
		Room        *results.WaitingRoom
		Causes      []string
		Repeat      string
		Faults      []faultRow
		FaultLegend string
		Resolved    []string
	}{res, Verdict(res), rows, NotRun(res), notes, floorText, hf, readsAfterBuy(res), twoPhases(res), waitingRoom(res),
		causeLines(res), repeatLine(res), faultRows(res), faultLegend, unknownsResolved(res)})
}
