package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// -out names where a report goes: a new or empty directory, or an earlier
// report, which the new one replaces whole. Anything else is refused before
// the run, and nothing is written.
func TestOutDirectory(t *testing.T) {
	small := writeFile(t, "small.yaml", smallScenario)
	dir := t.TempDir()
	run := func(out string, extra ...string) (int, string) {
		t.Helper()
		code, _, stderr := stampede(t, append([]string{"run", "-targets", "memory", "-scenario", small, "-out", out}, extra...)...)
		return code, stderr
	}
	oneLine2 := func(name string, code int, stderr string, want ...string) {
		t.Helper()
		if code != 2 || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %q; want 2 and one line", name, code, stderr)
		}
		for _, w := range want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: stderr %q lacks %q", name, stderr, w)
			}
		}
	}

	file := filepath.Join(dir, "a-file")
	os.WriteFile(file, []byte("mine"), 0o644)
	code, stderr := run(file)
	oneLine2("a file", code, stderr, "-out", "is a file")
	if b, _ := os.ReadFile(file); string(b) != "mine" {
		t.Error("the file was changed")
	}

	mine := filepath.Join(dir, "mine")
	os.Mkdir(mine, 0o755)
	os.WriteFile(filepath.Join(mine, "notes.txt"), []byte("keep"), 0o644)
	code, stderr = run(mine)
	oneLine2("a folder of other files", code, stderr, "notes.txt", "not a stampede report")
	if entries, _ := os.ReadDir(mine); len(entries) != 1 {
		t.Errorf("%d entries in the user's folder, want only notes.txt", len(entries))
	}

	underFile := filepath.Join(file, "report")
	code, stderr = run(underFile)
	oneLine2("a path that cannot be created", code, stderr, "-out", "cannot create")

	profile := filepath.Join(dir, "cpu.out")
	code, stderr = run(filepath.Join(file, "report"), "-cpuprofile", profile)
	oneLine2("-cpuprofile with an -out that cannot be created", code, stderr, "-out")
	if _, err := os.Stat(profile); err == nil {
		t.Error("the CPU profile was left behind by a run that did not start")
	}

	// An earlier report is replaced whole: the files of a design the new
	// run does not have go.
	report := filepath.Join(dir, "report")
	if code, _, stderr := stampede(t, "run", "-targets", "memory,memory-racy", "-scenario", small, "-out", report); code != 0 {
		t.Fatalf("first run: exit %d %s", code, stderr)
	}
	os.WriteFile(filepath.Join(report, "screenshot.png"), []byte("old picture"), 0o644)
	if code, stderr := run(report); code != 0 {
		t.Fatalf("second run into the first's report: exit %d %s", code, stderr)
	}
	for _, stale := range []string{"memory-racy.hgrm", "memory-racy.hlog", "screenshot.png"} {
		if _, err := os.Stat(filepath.Join(report, stale)); err == nil {
			t.Errorf("%s of the earlier run was left beside the new report", stale)
		}
	}
	m := readJSON(t, filepath.Join(report, "results.json"))
	if runs, _ := lookup(m, "runs"); len(runs.([]any)) != 1 {
		t.Errorf("results.json holds %d runs, want the new run's one", len(runs.([]any)))
	}
	for _, f := range []string{"memory.hgrm", "index.html", "latency.png"} {
		if _, err := os.Stat(filepath.Join(report, f)); err != nil {
			t.Errorf("the new report lacks %s", f)
		}
	}
}

// compare says what a reader must know, a line each, and refuses runs
// whose figures mean nothing side by side.
func TestCompareNotes(t *testing.T) {
	small := writeFile(t, "small.yaml", smallScenario)
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
	for _, r := range []struct {
		out  string
		args []string
	}{
		{a, []string{"-targets", "memory,memory-racy", "-scenario", small}},
		{b, []string{"-targets", "memory", "-scenario", small, "-seed", "7"}},
		{c, []string{"-targets", "memory", "-scenario", small, "-rate", "500"}},
	} {
		if code, _, stderr := stampede(t, append([]string{"run", "-out", r.out}, r.args...)...); code != 0 {
			t.Fatalf("run %s: exit %d %s", r.out, code, stderr)
		}
	}
	code, stdout, stderr := stampede(t, "compare", filepath.Join(a, "results.json"), filepath.Join(b, "results.json"))
	if code != 0 || !strings.Contains(stdout, "memory") {
		t.Errorf("compare: exit %d\n%s", code, stdout)
	}
	for _, want := range []string{"memory-racy is only in the old run", "different seeds (1 and 7)"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("compare notes lack %q:\n%s", want, stderr)
		}
	}
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if !strings.HasPrefix(l, "stampede: compare: note: ") {
			t.Errorf("note %q does not follow the pattern", l)
		}
	}
	// An interrupted old run and a failed design are said as well.
	m := readJSON(t, filepath.Join(a, "results.json"))
	m["interrupted"] = true
	runs := m["runs"].([]any)
	runs[1] = map[string]any{"target": "memory-racy", "error": "setup: no server", "timeline": []any{}}
	old := filepath.Join(dir, "old.json")
	writeJSON(t, old, m)
	_, _, stderr = stampede(t, "compare", old, filepath.Join(b, "results.json"))
	for _, want := range []string{"the old run was interrupted", "memory-racy failed in the old run: setup: no server"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("compare notes lack %q:\n%s", want, stderr)
		}
	}
	// Different scenarios: meaningless, exit 2, one line.
	code, stdout, stderr = stampede(t, "compare", filepath.Join(b, "results.json"), filepath.Join(c, "results.json"))
	if code != 2 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "arrivals.rate 1000 vs 500") {
		t.Errorf("different scenarios: exit %d, stdout %q, stderr %q; want 2 and one line naming the difference", code, stdout, stderr)
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
