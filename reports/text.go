// Package reports renders a run's results (results.json, or the Results a
// run returns) for people and for CI. It reads only results, never a
// target, so a run can be rendered again later.
package reports

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stampede-bench/stampede/bench/results"
)

// readsAfterBuy reports whether the run's buyers read after buying: its
// figures have a read-your-own-writes table.
func readsAfterBuy(res *results.Results) bool {
	return res.Scenario != nil && res.Scenario.Client.ReadAfterBuy
}

// waitingRoom returns the waiting room of the run's first design that
// went through one (the room is the scenario's: the same for all), or nil.
func waitingRoom(res *results.Results) *results.WaitingRoom {
	for _, r := range okRuns(res) {
		if r.WaitingRoom != nil {
			return r.WaitingRoom
		}
	}
	return nil
}

// twoPhases reports whether a design of the run answered in two phases
// (accepted, then final).
func twoPhases(res *results.Results) bool {
	for _, r := range okRuns(res) {
		if r.AcceptedUS != nil {
			return true
		}
	}
	return false
}

// FormatUS formats microseconds for people: 850µs, 12.3ms, 1.20s.
func FormatUS(us int64) string {
	d := time.Duration(us) * time.Microsecond
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", us)
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(us)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(us)/1e3)
	default:
		return fmt.Sprintf("%.2fs", float64(us)/1e6)
	}
}

// lagP99 formats the generator's send-lag p99 of a run: "-" in closed
// loop, where there is no schedule to lag behind.
func lagP99(r *results.TargetRun) string {
	if r.Loop == "closed" || r.Generator.LagUS.Count == 0 {
		return "-"
	}
	return FormatUS(r.Generator.LagUS.P99)
}

// buyers returns the run's buyers, for results.json files written before
// the field existed too.
func buyers(o results.Orders) int64 { return max(o.Buyers, o.Submitted+o.NotSent) }

// Behind says, in a few words, how a design fell behind the crowd: buyers
// whose timeout ran out while they waited for a free sender, or who still
// waited when the run ended. It returns "" for a design that kept up.
func Behind(r *results.TargetRun) string {
	o := r.Orders
	if o.Expired == 0 && o.QueuedAtEnd == 0 {
		return ""
	}
	var why []string
	if o.Expired > 0 {
		why = append(why, fmt.Sprintf("%d attempts timed out waiting for a free sender", o.Expired))
	}
	if o.QueuedAtEnd > 0 {
		why = append(why, fmt.Sprintf("%d clicks were still queued when the run ended", o.QueuedAtEnd))
	}
	if o.NotSent > 0 {
		why = append(why, fmt.Sprintf("%d of %d buyers never reached it", o.NotSent, buyers(o)))
	}
	return "fell behind the crowd: " + strings.Join(why, ", ")
}

// Notes lists, one line each, what a reader of a run's figures must know
// beyond the tables: designs that failed, fell behind, or never started;
// answers that contradicted each other; error samples; a generator that
// sent late; each design's durability.
func Notes(res *results.Results) []string {
	var notes []string
	for _, r := range res.Runs {
		switch {
		case r.Error != "":
			notes = append(notes, fmt.Sprintf("%s failed: %s", r.Target, OneLine(r.Error)))
			continue
		case r.Loop == "closed":
			notes = append(notes, fmt.Sprintf("%s ran closed loop: response time equals service time (no schedule to fall behind)", r.Target))
		}
		if r.Interrupted {
			notes = append(notes, fmt.Sprintf("%s was interrupted", r.Target))
		}
		if b := Behind(r); b != "" {
			notes = append(notes, fmt.Sprintf("%s %s; their wait is in its response times", r.Target, b))
		}
		if n := r.Orders.NotDue; n > 0 {
			notes = append(notes, fmt.Sprintf("%s: the run stopped with %d clicks not yet due", r.Target, n))
		}
		if len(r.Agents) > 0 {
			notes = append(notes, agentsNote(r))
		}
		notes = append(notes, fmt.Sprintf("%s durability: %s", r.Target, r.Info.Durability))
		if c := r.Checks.Contradicted; c > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d orders were told both yes and no (a resubmission answered sold out though its first click bought)", r.Target, c))
		}
		if c := r.Checks.LimitExceeded; c > 0 && res.Scenario != nil {
			notes = append(notes, fmt.Sprintf("%s: %d buyers hold more than the %d tickets a buyer may have (demand.buyer_limit)", r.Target, c, res.Scenario.Demand.BuyerLimit))
		}
		if c := r.Checks.RefusedApplied; c > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d orders were told no by one attempt, left unknown by another, and applied: the buyer's one definite answer was false", r.Target, c))
		}
		if len(r.Orders.Causes) == 0 { // results written before causes were counted
			for _, e := range r.Orders.ErrorSamples {
				notes = append(notes, fmt.Sprintf("%s: %s", r.Target, OneLine(e)))
			}
		}
		if g := r.Generator; r.Orders.Attempts > 0 && g.LateSends*100 > r.Orders.Attempts {
			notes = append(notes, fmt.Sprintf("%s: %.1f%% of sends left over 1ms late (worst %s): every sender was busy, so response times include queueing; if service times are small, raise -workers",
				r.Target, 100*float64(g.LateSends)/float64(r.Orders.Attempts), FormatUS(g.MaxLagUS)))
		}
	}
	if missing := NotRun(res); len(missing) > 0 {
		notes = append(notes, fmt.Sprintf("not run (the run was interrupted before they started): %s", strings.Join(missing, ", ")))
	}
	return notes
}

// NotRun lists the designs the run was asked for that never started.
func NotRun(res *results.Results) []string {
	ran := map[string]bool{}
	for _, r := range res.Runs {
		ran[r.Target] = true
	}
	var out []string
	for _, t := range res.Targets {
		if !ran[t] {
			out = append(out, t)
		}
	}
	return out
}

// OneLine keeps a message on one line, for a table cell, a note or a line
// of stderr: a driver's error may join several causes with newlines.
func OneLine(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", " | ") }

// Summary writes the per-target summary tables (speed; answers; correctness),
// the notes and the verdict.
func Summary(w io.Writer, res *results.Results) error {
	sc := res.Scenario
	head := fmt.Sprintf("scenario %s", sc.Name)
	if res.Interrupted {
		head += " (INTERRUPTED: partial results)"
	}
	fmt.Fprintf(w, "%s: %d products x %d seats\n\n", head, sc.Stock.Products, sc.Stock.Capacity)
	if line := repeatLine(res); line != "" {
		fmt.Fprintf(w, "%s\n\n", line)
	}

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tloop\tthroughput/s\tsales/s\tseats/s\tp50\tp90\tp99\tp99.9\tmax\tservice p99\tsend lag p99\t")
	for _, r := range res.Runs {
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\t\t\t\t\t\t\t\t\t\t\t\n", r.Target, "failed")
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Target, r.Loop,
			cell(r, getThroughput, formatRate), salesCell(r, getGoodput), salesCell(r, getSeats),
			cell(r, getP50, formatUSf), cell(r, getP90, formatUSf), cell(r, getP99, formatUSf), cell(r, getP999, formatUSf),
			cell(r, getMax, formatUSf), FormatUS(r.ServiceUS.P99), lagP99(r))
	}
	for _, t := range NotRun(res) {
		fmt.Fprintf(tw, "%s\t%s\t\t\t\t\t\t\t\t\t\t\t\n", t, "not run")
	}
	tw.Flush()
	fmt.Fprintln(w)

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tbuyers\tsent\tnot sent\tattempts\tconfirmed\tsold out\trejected\tunknown\terrors\texpired\tconflicts\t")
	for _, r := range okRuns(res) {
		o := r.Orders
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", r.Target, buyers(o), o.Submitted, o.NotSent,
			o.Attempts, o.Confirmed, o.SoldOut, o.Rejected, o.Unknown, o.Errors, o.Expired, o.Conflicts)
	}
	tw.Flush()
	fmt.Fprintln(w)

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tsold/capacity\toversold\tundersold\tduplicated\tdup rate\tlost\tphantom\tcontradicted\tapologies\t")
	for _, r := range okRuns(res) {
		c := r.Checks
		fmt.Fprintf(tw, "%s\t%d/%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Target,
			c.Sold, c.Capacity, checkCell(r, "oversold"), checkCell(r, "undersold"), checkCell(r, "duplicated"),
			cell(r, func(r *results.TargetRun) float64 { return r.Checks.DuplicateRate }, func(v float64) string { return fmt.Sprintf("%.4f", v) }),
			checkCell(r, "lost"), checkCell(r, "phantom"), checkCell(r, "contradicted"), checkCell(r, "apologies"))
	}
	tw.Flush()

	if room := waitingRoom(res); room != nil {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "waiting room: %g admissions/s, at most %d buyers waiting\n", room.Rate, room.MaxQueue)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "target\twait p50\twait p99\twait max\tdesign p50\tdesign p99\tbuyer p99\t")
		for _, r := range okRuns(res) {
			if wr := r.WaitingRoom; wr != nil {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Target, FormatUS(wr.WaitUS.P50), FormatUS(wr.WaitUS.P99), FormatUS(wr.WaitUS.Max),
					FormatUS(r.ServiceUS.P50), FormatUS(r.ServiceUS.P99), FormatUS(r.LatencyUS.P99))
			}
		}
		tw.Flush()
	}

	if twoPhases(res) {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "target\taccepted p50\taccepted p99\tfinal p50\tfinal p99\tlate answers\t")
		for _, r := range okRuns(res) {
			if a := r.AcceptedUS; a != nil {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t\n", r.Target, FormatUS(a.P50), FormatUS(a.P99),
					FormatUS(r.LatencyUS.P50), FormatUS(r.LatencyUS.P99), r.Orders.LateAnswers)
			}
		}
		tw.Flush()
	}

	if readsAfterBuy(res) {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "target	reads	RYW violations	rate	lag p50	lag p99	lag max	never shown	read errors	")
		for _, r := range okRuns(res) {
			rw := r.ReadYourWrites
			if rw == nil {
				fmt.Fprintf(tw, "%s	no read side								\n", r.Target)
				continue
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.4f\t%s\t%s\t%s\t%d\t%d\t\n", r.Target, rw.Reads, rw.Violations, rw.ViolationRate,
				FormatUS(rw.LagUS.P50), FormatUS(rw.LagUS.P99), FormatUS(rw.LagUS.Max), rw.NeverVisible, rw.ReadErrors)
		}
		tw.Flush()
	}

	if faulted(res) {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "target\tfault\tin\tback\tanswers\tunknown\terrors\tbefore/s\tfailover\trecovery\t")
		for _, f := range faultRows(res) {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Target, f.Fault, f.In, f.Back, f.Answers, f.Unknown, f.Errors, f.Before, f.Failover, f.Recovery, noteCell(f.Note))
		}
		tw.Flush()
		for _, l := range unknownsResolved(res) {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}

	fmt.Fprintln(w)
	for _, n := range Notes(res) {
		fmt.Fprintf(w, "  %s\n", n)
	}
	if lines := causeLines(res); len(lines) > 0 {
		fmt.Fprintln(w, "\nfailures and conflicts by cause:")
		for _, l := range lines {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	_, err := fmt.Fprintf(w, "\n%s\n\n", Verdict(res))
	return err
}

// noteCell sets a note apart from the right-aligned column before it.
func noteCell(s string) string {
	if s == "" {
		return ""
	}
	return "  " + s
}

// agentsNote says which agents sent a spread run's buyers, and which
// were lost.
func agentsNote(r *results.TargetRun) string {
	var parts []string
	for _, a := range r.Agents {
		p := fmt.Sprintf("%s (share %d/%d", a.Name, a.Share, a.Of)
		if a.Complete {
			p += fmt.Sprintf(", %d attempts", a.Attempts)
			if a.LatencyUS != nil {
				p += ", p99 " + FormatUS(a.LatencyUS.P99)
			}
			p += ")"
		} else {
			p += "): incomplete, " + OneLine(a.Error)
		}
		parts = append(parts, p)
	}
	s := fmt.Sprintf("%s was sent by %d agents, merged exactly: %s", r.Target, len(r.Agents), strings.Join(parts, "; "))
	if r.Incomplete {
		s += ". INCOMPLETE: the buyers of a lost agent's share are counted as unknown answers"
	}
	return s
}
