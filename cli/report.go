package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/stampede-bench/stampede/bench/results"
	"github.com/stampede-bench/stampede/reports"
)

// readResults reads a results.json named on the command line; a missing or
// unreadable file is bad input.
func readResults(flagName, path string) (*results.Results, error) {
	res, err := results.Read(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, usagef("%s %s: no such file", flagName, path)
		}
		return nil, usagef("%s %s: %v", flagName, path, err)
	}
	return res, nil
}

// parseChecks parses -check expressions; a malformed one is bad usage.
func parseChecks(exprs []string) ([]reports.Check, error) {
	var out []reports.Check
	for _, e := range exprs {
		c, err := reports.ParseCheck(e)
		if err != nil {
			return nil, usageError{err}
		}
		out = append(out, c)
	}
	return out, nil
}

// gate evaluates checks and lists the thresholds crossed on w.
func gate(w io.Writer, res, baseline *results.Results, checks []reports.Check) error {
	if len(checks) == 0 {
		return nil
	}
	crossed, err := reports.Evaluate(res, baseline, checks)
	if err != nil {
		return usageError{err}
	}
	if len(crossed) == 0 {
		fmt.Fprintf(w, "checks: all %d held\n", len(checks))
		return nil
	}
	fmt.Fprintln(w, "checks crossed:")
	for _, c := range crossed {
		fmt.Fprintf(w, "  %s\n", c)
	}
	return crossedError{len(crossed)}
}

const reportSynopsis = `report DIR/results.json [-out DIR2]

Renders the reports of a run again from its results.json alone: index.html,
summary.md, the plots (PNG and SVG), a .hgrm and a .hlog per design, and
bench.txt. By default they go next to results.json.`

func reportCmd(args []string, stdout io.Writer) error {
	fs := newFlagSet("report", reportSynopsis, stdout)
	out := fs.String("out", "", "directory for the reports (default: that of results.json)")
	pos, err := parseArgs(fs, args, 1)
	if err != nil {
		return err
	}
	res, err := readResults("report", pos[0])
	if err != nil {
		return err
	}
	dir := *out
	if dir == "" {
		dir = filepath.Dir(pos[0])
	} else if err := reports.CheckDir(dir); err != nil {
		return usagef("report: -out: %v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return usagef("report: -out: cannot create %s: %v", dir, errors.Unwrap(err))
	}
	if err := reports.WriteAll(dir, res); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "report: %s\n", filepath.Join(dir, "index.html"))
	return err
}

const compareSynopsis = `compare OLD.json NEW.json [-check EXPR ...]

Prints, per design present in both runs, the old and new throughput,
p50/p99/p99.9, oversold, duplicate rate and lost, and the change. -check
thresholds apply to NEW; relative ones (p99<+10%) compare with OLD.
What a reader must know (an interrupted run, a design in only one run or
failed in one) is said on stderr, a line each. Runs of different
scenarios, or without a design in common, do not compare: exit 2.
Exit 3 when a threshold is crossed.`

func compareCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("compare", compareSynopsis, stdout)
	var checks multiFlag
	fs.Var(&checks, "check", "a threshold: "+reports.Grammar+" (repeatable)")
	pos, err := parseArgs(fs, args, 2)
	if err != nil {
		return err
	}
	parsed, err := parseChecks(checks)
	if err != nil {
		return err
	}
	old, err := readResults("compare", pos[0])
	if err != nil {
		return err
	}
	cur, err := readResults("compare", pos[1])
	if err != nil {
		return err
	}
	notes, err := reports.Comparable(old, cur)
	for _, n := range notes {
		fmt.Fprintf(stderr, "stampede: compare: note: %s\n", n)
	}
	if err != nil {
		return usageError{fmt.Errorf("compare: %s and %s: %w", pos[0], pos[1], err)}
	}
	if err := reports.Compare(stdout, old, cur); err != nil {
		return usageError{fmt.Errorf("compare: %w", err)}
	}
	return gate(stdout, cur, old, parsed)
}
