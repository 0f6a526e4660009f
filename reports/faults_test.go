package reports

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stampede-bench/stampede/bench/results"
)

// A run through faults shows each one per design: when it was in, what
// was answered meanwhile, failover and recovery, what it did; a skipped
// one says why; the unknown answers are resolved against the audit; the
// timeline draws them.
func TestFaultsReport(t *testing.T) {
	res := fixture()
	rec, fo := 0.4, 1.9
	res.Runs[0].Faults = []results.FaultWindow{{Fault: "crash postgres at 4s for 1s", Kind: "crash", On: "postgres", StartS: 4, EndS: 5.5,
		Answers: 20, Unknown: 448, Errors: 278, BeforePerS: 1060, RecoveryS: &rec, FailoverS: &fo, Note: "killed every process of PostgreSQL"}}
	res.Runs[0].Checks.Unresolved, res.Runs[0].Checks.UnresolvedApplied = 124, 3
	res.Runs[1].Faults = []results.FaultWindow{{Fault: "crash postgres at 4s for 1s", Kind: "crash", On: "postgres", StartS: 4, EndS: 5.6,
		BeforePerS: 900, Unknown: 10}}
	res.Runs[2].Faults = []results.FaultWindow{{Fault: "crash postgres at 4s for 1s", Kind: "crash", On: "postgres", Skipped: "the design does not run on postgres"}}
	var b bytes.Buffer
	if err := Summary(&b, res); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(strings.Fields(b.String()), " ")
	for _, want := range []string{
		"memory crash postgres at 4s for 1s 4.00s 5.50s 20 448 278 1060 1.9s 0.4s killed every process of PostgreSQL",
		"memory-racy crash postgres at 4s for 1s 4.00s 5.60s 0 10 0 900 - not within the run",
		"ledger-reconcile crash postgres at 4s for 1s - skipped: the design does not run on postgres",
		"memory: 124 orders never had a definite answer: 3 applied, 121 not",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(got, "ledger-reconcile: 0 orders never had") {
		t.Error("a design whose faults were all skipped has its unknowns resolved")
	}
	// -check recovery holds the longest, and a fault never recovered from
	// crosses any limit.
	c, err := ParseCheck("recovery<1s")
	if err != nil {
		t.Fatal(err)
	}
	crossed, err := Evaluate(res, nil, []Check{c})
	if err != nil {
		t.Fatal(err)
	}
	if len(crossed) != 1 || crossed[0].Target != "memory-racy" {
		t.Errorf("crossed %v, want memory-racy's unrecovered fault only", crossed)
	}
	figs, err := Figures(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range figs {
		if f.Name == "timeline" && !bytes.Contains(f.SVG, []byte("a fault, until its backend was back")) {
			t.Error("the timeline's key does not show the faults")
		}
	}
}
