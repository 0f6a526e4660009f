package cli_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stampede-bench/stampede/bench/results"
)

// A module outside stampede's registers a design of its own and runs it
// through the exported entry point: examples/extension builds as its own
// module (its go.mod points at this checkout), lists its design beside
// the built-in ones, and runs it on a crowd with the same checks.
func TestExtensionModule(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "mystampede")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = filepath.Join("..", "examples", "extension")
	build.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building examples/extension: %v\n%s", err, out)
	}
	list, err := exec.Command(bin, "targets").Output()
	if err != nil || !strings.Contains(string(list), "atomic ") || !strings.Contains(string(list), "sqlcounter ") {
		t.Fatalf("targets: %v; want atomic beside the built-in designs:\n%s", err, list)
	}
	scenario := filepath.Join(dir, "crowd.yaml")
	os.WriteFile(scenario, []byte(`name: crowd
stock: {products: 3, capacity: 50}
demand: {buyers: 1500, quantity: {min: 1, max: 2}, popularity: zipf}
arrivals: {mode: constant, rate: 3000, duration: 500ms, workers: 16}
client: {timeout: 1s, retries: 1, double_click: 0.2, double_click_after: 1ms}
`), 0o644)
	out := filepath.Join(dir, "report")
	run := exec.Command(bin, "run", "-targets", "atomic,memory-racy", "-scenario", scenario, "-out", out)
	if b, err := run.CombinedOutput(); err != nil {
		t.Fatalf("run: %v\n%s", err, b)
	}
	res, err := results.Read(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != 2 {
		t.Fatalf("%d runs, want atomic and memory-racy", len(res.Runs))
	}
	a, racy := res.Runs[0], res.Runs[1]
	if k := a.Checks; a.Target != "atomic" || k.Sold != 150 || k.Oversold != 0 || k.DuplicatedOrders != 0 || k.Lost != 0 || k.Contradicted != 0 {
		b, _ := json.Marshal(k)
		t.Errorf("%s: checks %s; want every seat sold once, nothing wrong", a.Target, b)
	}
	if racy.Checks.Oversold == 0 && racy.Checks.DuplicatedOrders == 0 {
		t.Errorf("memory-racy beside it: nothing oversold or duplicated; the built-in designs should run as ever")
	}
}
