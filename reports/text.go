// Package reports renders a run's results (results.json, or the Results a
// run returns) for people and for CI. It reads only results, never a
// target, so a run can be rendered again later.
package reports

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/stampede-bench/stampede/bench"
)

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

// Summary writes the per-target summary tables: speed, then outcomes and
// correctness.
func Summary(w io.Writer, res *bench.Results) error {
	sc := res.Scenario
	head := fmt.Sprintf("scenario %s", sc.Name)
	if res.Interrupted {
		head += " (INTERRUPTED: partial results)"
	}
	fmt.Fprintf(w, "%s: %d products x %d seats\n\n", head, sc.Stock.Products, sc.Stock.Capacity)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tloop\tthroughput/s\tp50\tp90\tp99\tp99.9\tmax\tservice p99\t")
	for _, r := range res.Runs {
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\t\t\t\t\t\t\t\t\n", r.Target, "failed")
			continue
		}
		l := r.LatencyUS
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Target, r.Loop, r.ThroughputPerS,
			FormatUS(l.P50), FormatUS(l.P90), FormatUS(l.P99), FormatUS(l.P999), FormatUS(l.Max), FormatUS(r.ServiceUS.P99))
	}
	tw.Flush()
	fmt.Fprintln(w)

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\torders\tattempts\tconfirmed\tsold out\trejected\tunknown\terrors\tconflicts\tsold/capacity\toversold\tduplicated\tdup rate\tlost\tphantom\tapologies\t")
	for _, r := range res.Runs {
		if r.Error != "" {
			continue
		}
		o, c := r.Orders, r.Checks
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d/%d\t%d\t%d\t%.4f\t%d\t%d\t%d\t\n", r.Target,
			o.Submitted, o.Attempts, o.Confirmed, o.SoldOut, o.Rejected, o.Unknown, o.Errors, o.Conflicts,
			c.Sold, c.Capacity, c.Oversold, c.DuplicatedOrders, c.DuplicateRate, c.Lost, c.Phantom, c.Apologies)
	}
	tw.Flush()

	var notes []string
	for _, r := range res.Runs {
		switch {
		case r.Error != "":
			notes = append(notes, fmt.Sprintf("%s failed: %s", r.Target, r.Error))
		case r.Loop == "closed":
			notes = append(notes, fmt.Sprintf("%s ran closed loop: response time equals service time (no schedule to fall behind)", r.Target))
		}
		if r.Interrupted {
			notes = append(notes, fmt.Sprintf("%s was interrupted", r.Target))
		}
		if r.Error == "" {
			notes = append(notes, fmt.Sprintf("%s durability: %s", r.Target, r.Info.Durability))
		}
		if c := r.Checks.Contradicted; c > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d orders were told both yes and no (a resubmission answered sold out though its first click bought)", r.Target, c))
		}
		for _, e := range r.Orders.ErrorSamples {
			notes = append(notes, fmt.Sprintf("%s: %s", r.Target, e))
		}
		if g := r.Generator; r.Orders.Attempts > 0 && g.LateSends*100 > r.Orders.Attempts {
			notes = append(notes, fmt.Sprintf("%s: %.1f%% of sends left over 1ms late (worst %s): every worker was busy, so response times include queueing; if service times are small, raise -workers",
				r.Target, 100*float64(g.LateSends)/float64(r.Orders.Attempts), FormatUS(g.MaxLagUS)))
		}
	}
	fmt.Fprintln(w)
	for _, n := range notes {
		fmt.Fprintf(w, "  %s\n", n)
	}
	_, err := fmt.Fprintln(w)
	return err
}
