package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/stampede-bench/stampede/bench/results"
	"github.com/stampede-bench/stampede/bench/scenario"
)

// ErrIncomparable is wrapped by Comparable's error when two runs' figures
// mean nothing side by side.
var ErrIncomparable = errors.New("the runs do not compare")

// Comparable says whether two runs can be compared and what a reader must
// know when they are: one line per caveat (an interrupted run, a design in
// only one run, a design that failed). It returns an error wrapping
// ErrIncomparable when the comparison is meaningless: different
// scenarios (other than by seed, which repetitions vary), or no design
// present in both.
func Comparable(old, cur *results.Results) (notes []string, err error) {
	if diff := scenarioDiff(old.Scenario, cur.Scenario); len(diff) > 0 {
		return nil, fmt.Errorf("%w: different scenarios (%s)", ErrIncomparable, strings.Join(diff, "; "))
	}
	if old.Scenario != nil && cur.Scenario != nil && old.Scenario.Seed != cur.Scenario.Seed {
		notes = append(notes, fmt.Sprintf("the runs have different seeds (%d and %d): other buyers, the same crowd", old.Scenario.Seed, cur.Scenario.Seed))
	}
	for _, r := range []struct {
		which string
		res   *results.Results
	}{{"old", old}, {"new", cur}} {
		if r.res.Interrupted {
			notes = append(notes, fmt.Sprintf("the %s run was interrupted: its figures are partial", r.which))
		}
		for _, tr := range r.res.Runs {
			if tr.Error != "" {
				notes = append(notes, fmt.Sprintf("%s failed in the %s run: %s", tr.Target, r.which, firstLine(tr.Error)))
			}
		}
	}
	inOld, inNew := runNames(old), runNames(cur)
	both := 0
	for _, n := range sortedKeys(inOld) {
		if !inNew[n] {
			notes = append(notes, fmt.Sprintf("%s is only in the old run", n))
		}
	}
	for _, n := range sortedKeys(inNew) {
		if !inOld[n] {
			notes = append(notes, fmt.Sprintf("%s is only in the new run", n))
		} else {
			both++
		}
	}
	if both == 0 {
		return notes, fmt.Errorf("%w: no design is in both runs (old: %s; new: %s)", ErrIncomparable,
			strings.Join(targetNames(old), ", "), strings.Join(targetNames(cur), ", "))
	}
	return notes, nil
}

func runNames(res *results.Results) map[string]bool {
	m := map[string]bool{}
	for _, r := range res.Runs {
		m[r.Target] = true
	}
	return m
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// scenarioDiff lists the fields in which two scenarios differ, such as
// "name flash-crowd vs steady" or "arrivals.rate 5000 vs 2500", leaving out
// the description and the seed.
func scenarioDiff(a, b *scenario.Scenario) []string {
	if a == nil || b == nil {
		if a != b {
			return []string{"one run names no scenario"}
		}
		return nil
	}
	flat := func(s *scenario.Scenario) map[string]any {
		c := *s
		c.Description, c.Seed = "", 0
		var m map[string]any
		b, _ := json.Marshal(c)
		_ = json.Unmarshal(b, &m)
		out := map[string]any{}
		var walk func(prefix string, v any)
		walk = func(prefix string, v any) {
			if mm, ok := v.(map[string]any); ok {
				for k, x := range mm {
					walk(strings.TrimPrefix(prefix+"."+k, "."), x)
				}
				return
			}
			out[prefix] = v
		}
		walk("", m)
		return out
	}
	fa, fb := flat(a), flat(b)
	keys := map[string]bool{}
	for k := range fa {
		keys[k] = true
	}
	for k := range fb {
		keys[k] = true
	}
	var diff []string
	for _, k := range sortedKeys(keys) {
		if !reflect.DeepEqual(fa[k], fb[k]) {
			diff = append(diff, fmt.Sprintf("%s %v vs %v", k, show(fa[k]), show(fb[k])))
		}
	}
	return diff
}

func show(v any) string {
	if v == nil {
		return "unset"
	}
	return fmt.Sprint(v)
}
