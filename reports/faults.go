package reports

import (
	"fmt"

	"github.com/stampede-bench/stampede/bench/results"
)

// faulted reports whether a design of the run went through a fault.
func faulted(res *results.Results) bool {
	for _, r := range okRuns(res) {
		if len(r.Faults) > 0 {
			return true
		}
	}
	return false
}

// faultRow is one fault as it happened to one design, formatted.
type faultRow struct {
	Target, Fault, In, Back, Answers, Unknown, Errors, Before, Failover, Recovery, Note string
	Bad                                                                                 bool
}

// faultRows lists every fault of every design that ran.
func faultRows(res *results.Results) []faultRow {
	var rows []faultRow
	for _, r := range okRuns(res) {
		for _, f := range r.Faults {
			row := faultRow{Target: r.Target, Fault: f.Fault, Note: f.Note}
			switch {
			case f.Skipped != "":
				row.In, row.Note = "-", "skipped: "+f.Skipped
				rows = append(rows, row)
				continue
			case f.Error != "" && f.EndS == f.StartS:
				row.In, row.Note, row.Bad = fmt.Sprintf("%.2fs", f.StartS), "not put in: "+OneLine(f.Error), true
				rows = append(rows, row)
				continue
			}
			row.In, row.Back = fmt.Sprintf("%.2fs", f.StartS), fmt.Sprintf("%.2fs", f.EndS)
			row.Answers, row.Unknown, row.Errors = fmt.Sprint(f.Answers), fmt.Sprint(f.Unknown), fmt.Sprint(f.Errors)
			row.Before, row.Recovery, row.Failover = "-", "-", "-"
			if f.FailoverS != nil {
				row.Failover = fmt.Sprintf("%.1fs", *f.FailoverS)
			}
			if f.BeforePerS > 0 {
				row.Before = fmt.Sprintf("%.0f", f.BeforePerS)
				row.Recovery, row.Bad = "not within the run", true
			}
			if f.Unmeasured {
				row.Recovery, row.Bad = "not measured: the run ended within 1s", false
			}
			if f.RecoveryS != nil {
				row.Recovery, row.Bad = fmt.Sprintf("%.1fs", *f.RecoveryS), false
			}
			if f.Error != "" {
				row.Note, row.Bad = OneLine(f.Error), true
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// unknownsResolved says, per design that went through a fault, how its
// unknown answers came out against the audit.
func unknownsResolved(res *results.Results) []string {
	var out []string
	for _, r := range okRuns(res) {
		put := false
		for _, f := range r.Faults {
			put = put || f.Skipped == ""
		}
		if !put {
			continue
		}
		c := r.Checks
		out = append(out, fmt.Sprintf("%s: %d orders never had a definite answer: %d applied, %d not; %d were told no by one attempt and left unknown by another: %d applied",
			r.Target, c.Unresolved, c.UnresolvedApplied, c.Unresolved-c.UnresolvedApplied, c.RefusedUnknown, c.RefusedApplied))
	}
	return out
}

// faultLegend explains the fault table's columns.
const faultLegend = "Times run from the start of the load: 'in' is when the fault was put in, 'back' when it was undone and the backend " +
	"accepted work again (a crashed server restarted). Answers, unknown and errors are the attempts answered in between. " +
	"Recovery runs from 'back' until a second of definite answers reached 90% of the rate before the fault (the 2s before it); " +
	"failover, the same from 'in': a replicated backend that fails over is back to its rate before its server is. Both at a resolution of 100ms."
