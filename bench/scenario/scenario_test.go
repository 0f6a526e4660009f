package scenario

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestBuiltins(t *testing.T) {
	want := map[string]bool{"flash-crowd": false, "steady": false, "hot-product": false}
	for _, s := range Builtins() {
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
		if s.Description == "" {
			t.Errorf("%s has no description", s.Name)
		}
		want[s.Name] = true
	}
	for n, found := range want {
		if !found {
			t.Errorf("built-in scenario %s is missing", n)
		}
	}
	fc := mustBuiltin(t, "flash-crowd")
	if fc.Stock.Products != 19 || fc.Stock.Capacity != 100 || fc.Demand.Buyers != 30000 ||
		fc.Demand.Popularity != Zipf || fc.Client.DoubleClick != 0.05 || fc.Client.Timeout.D() != 2*time.Second ||
		fc.Client.Retries != 1 || fc.Arrivals.Mode != Spike || fc.Arrivals.Rate != 5000 || fc.Arrivals.Ramp.D() != 2*time.Second {
		t.Errorf("flash-crowd does not match its definition: %+v", fc)
	}
	hp := mustBuiltin(t, "hot-product")
	if hp.Arrivals.Mode != Closed || hp.Arrivals.Users != 64 || hp.Stock.Products != 1 {
		t.Errorf("hot-product does not match its definition: %+v", hp)
	}
}

const goodScenario = `
name: custom
stock: {products: 2, capacity: 10}
demand:
  buyers: 50
  quantity: {min: 1, max: 2}
  popularity: uniform
arrivals: {mode: constant, process: even, rate: 100, duration: 1s, workers: 4}
`

func TestParseScenarioErrors(t *testing.T) {
	if _, err := Parse([]byte(goodScenario), "good.yaml"); err != nil {
		t.Fatalf("good scenario: %v", err)
	}
	for _, c := range []struct {
		name, yaml string
		want       []string // every one must appear in the message
	}{
		{"malformed", "name: [unclosed", []string{"bad.yaml"}},
		{"unknown field lists accepted ones", strings.Replace(goodScenario, "rate: 100", "rat: 100", 1),
			[]string{`unknown field "rat"`, "accepted: mode, process, rate"}},
		{"unknown top-level field", goodScenario + "\nfoo: 1\n", []string{`unknown field "foo"`, "accepted: name, description, seed, stock"}},
		{"negative rate", strings.Replace(goodScenario, "rate: 100", "rate: -5", 1), []string{"arrivals.rate", "above 0", "-5"}},
		{"bad mode", strings.Replace(goodScenario, "mode: constant", "mode: burst", 1),
			[]string{"arrivals.mode", `"burst"`, "accepted: constant, ramp, spike, closed"}},
		{"bad duration", strings.Replace(goodScenario, "duration: 1s", "duration: soon", 1), []string{`"soon" is not a duration`}},
		{"wrong type", strings.Replace(goodScenario, "products: 2", "products: two", 1), []string{"two"}},
		{"zero products", strings.Replace(goodScenario, "products: 2", "products: 0", 1), []string{"stock.products", "from 1"}},
		{"quantity range", strings.Replace(goodScenario, "max: 2", "max: 0", 1), []string{"demand.quantity.max"}},
		{"bad popularity", strings.Replace(goodScenario, "popularity: uniform", "popularity: viral", 1),
			[]string{"demand.popularity", "accepted: uniform, zipf, hot"}},
		{"probability", goodScenario + "client: {double_click: 1.5}\n", []string{"client.double_click", "from 0 to 1"}},
		{"retries need a timeout", goodScenario + "client: {retries: 1, timeout: 0s}\n", []string{"client.retries", "client.timeout"}},
		{"negative duration", strings.Replace(goodScenario, "duration: 1s", "duration: -1s", 1), []string{"arrivals.duration"}},
	} {
		_, err := Parse([]byte(c.yaml), "bad.yaml")
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error %v does not wrap ErrInvalid", c.name, err)
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") {
			t.Errorf("%s: message is not one line: %q", c.name, msg)
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: message %q lacks %q", c.name, msg, w)
			}
		}
	}
}

func TestLoadScenario(t *testing.T) {
	if s, err := Load("steady"); err != nil || s.Name != "steady" {
		t.Fatalf("Load(steady) = %v, %v", s, err)
	}
	_, err := Load("no-such-thing")
	var names []string
	for _, b := range Builtins() {
		names = append(names, b.Name)
	}
	if err == nil || !strings.Contains(err.Error(), strings.Join(names, ", ")) {
		t.Errorf("unknown scenario: error %v does not list the built-in ones", err)
	}
}

func TestApplyOverrides(t *testing.T) {
	fc := mustBuiltin(t, "flash-crowd")
	if err := fc.Apply(Overrides{Duration: 10 * time.Second}, map[string]bool{"duration": true}); err != nil {
		t.Fatal(err)
	}
	if fc.Arrivals.Hold.D() != 6*time.Second {
		t.Errorf("spike -duration 10s: hold %s, want 6s (10s less ramp and decay)", fc.Arrivals.Hold)
	}
	if n := NewPlan(fc).Orders; n != 40000 {
		t.Errorf("spike of 10s at 5000/s peak: %d orders, want 40000", n)
	}
	for _, c := range []struct {
		scenario string
		o        Overrides
		set      string
		want     string
	}{
		{"hot-product", Overrides{Rate: 10}, "rate", "-rate"},
		{"steady", Overrides{Users: 10}, "users", "-users"},
		{"steady", Overrides{Rate: -1}, "rate", "-rate: must be above 0"},
		{"hot-product", Overrides{Workers: 3}, "workers", "-workers"},
		{"flash-crowd", Overrides{Duration: time.Second}, "duration", "at least ramp + decay"},
	} {
		err := mustBuiltin(t, c.scenario).Apply(c.o, map[string]bool{c.set: true})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s with -%s: error %v, want one naming %q", c.scenario, c.set, err, c.want)
		}
	}
}

// minimalScenario is the least an open-loop scenario file needs.
const minimalScenario = `
stock: {products: 2, capacity: 10}
arrivals: {mode: constant, rate: 100, duration: 500ms}
`

// parseOK parses text as file name, failing t on an error.
func parseOK(t *testing.T, text, name string) *Scenario {
	t.Helper()
	s, err := Parse([]byte(text), name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return s
}

// parseErr parses text as file name and returns its error, failing t
// unless there is one, on one line, naming the file and wrapping ErrInvalid.
func parseErr(t *testing.T, text, name string) string {
	t.Helper()
	_, err := Parse([]byte(text), name)
	if err == nil {
		t.Fatalf("%s: no error", name)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("%s: error %v does not wrap ErrInvalid", name, err)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, name+": ") {
		t.Errorf("%s: message is not one line starting with the file's name: %q", name, msg)
	}
	return msg
}

func wantAll(t *testing.T, msg string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("message %q lacks %q", msg, w)
		}
	}
}

// A file with only stock and arrivals runs, with the documented defaults.
func TestScenarioDefaults(t *testing.T) {
	s := parseOK(t, minimalScenario, "dir/minimal.yaml")
	want := Scenario{
		Name: "minimal", Seed: 1,
		Stock:    Stock{Products: 2, Capacity: 10},
		Demand:   Demand{Quantity: Quantity{Min: 1, Max: 1}, Popularity: Uniform},
		Arrivals: Arrivals{Mode: Constant, Process: Poisson, Rate: 100, Duration: Duration(500 * time.Millisecond), Workers: 32},
		Client:   Client{Timeout: Duration(2 * time.Second)},
	}
	if !reflect.DeepEqual(*s, want) {
		t.Errorf("minimal file:\n got %+v\nwant %+v", *s, want)
	}

	// Defaults that depend on the popularity.
	zipf := parseOK(t, minimalScenario+"demand: {popularity: zipf}\n", "zipf.yaml")
	hot := parseOK(t, minimalScenario+"demand: {popularity: hot}\n", "hot.yaml")
	if zipf.Demand.ZipfS != 1 || zipf.Demand.HotShare != 0 || hot.Demand.HotShare != 0.9 || hot.Demand.ZipfS != 0 {
		t.Errorf("zipf: zipf_s %g, hot_share %g; hot: zipf_s %g, hot_share %g; want 1, 0, 0, 0.9",
			zipf.Demand.ZipfS, zipf.Demand.HotShare, hot.Demand.ZipfS, hot.Demand.HotShare)
	}
	// An empty field is a field left out.
	if s := parseOK(t, minimalScenario+"name:\nclient: {timeout: ~}\ndemand: {quantity: {min: ~}}\n", "empty-fields.yaml"); !reflect.DeepEqual(*s, func() Scenario {
		w := want
		w.Name = "empty-fields"
		return w
	}()) {
		t.Errorf("empty fields: %+v, want the defaults", *s)
	}
}

// A closed-loop file needs users, a duration and demand.buyers; it gets
// none of the open-loop defaults.
func TestScenarioDefaultsClosedLoop(t *testing.T) {
	const closed = `
stock: {products: 1, capacity: 100}
demand: {buyers: 500}
arrivals: {mode: closed, users: 4, duration: 200ms}
`
	s := parseOK(t, closed, "closed.yaml")
	want := Scenario{
		Name: "closed", Seed: 1,
		Stock:    Stock{Products: 1, Capacity: 100},
		Demand:   Demand{Buyers: 500, Quantity: Quantity{Min: 1, Max: 1}, Popularity: Uniform},
		Arrivals: Arrivals{Mode: Closed, Duration: Duration(200 * time.Millisecond), Users: 4},
		Client:   Client{Timeout: Duration(2 * time.Second)},
	}
	if !reflect.DeepEqual(*s, want) {
		t.Errorf("closed-loop file:\n got %+v\nwant %+v", *s, want)
	}
	for _, c := range []struct{ field, text string }{
		{"arrivals.users", strings.Replace(closed, "users: 4, ", "", 1)},
		{"arrivals.duration", strings.Replace(closed, ", duration: 200ms", "", 1)},
		{"demand.buyers", strings.Replace(closed, "demand: {buyers: 500}", "", 1)},
	} {
		wantAll(t, parseErr(t, c.text, "closed.yaml"), "closed.yaml: invalid scenario: "+c.field+": required in closed mode")
	}
}

// A value the file gives is kept, even where it equals the zero value or
// is invalid; only what the file leaves out takes a default.
func TestScenarioExplicitValuesKept(t *testing.T) {
	s := parseOK(t, `
name: mine
seed: 0
stock: {products: 3, capacity: 7}
demand:
  quantity: {min: 3}
  popularity: zipf
  zipf_s: 2.5
arrivals: {mode: constant, process: even, rate: 10, duration: 1s, workers: 4}
client: {timeout: 250ms}
`, "file.yaml")
	if s.Name != "mine" || s.Seed != 0 || s.Demand.Quantity != (Quantity{3, 3}) || s.Demand.ZipfS != 2.5 ||
		s.Arrivals.Process != Even || s.Arrivals.Workers != 4 || s.Client.Timeout.D() != 250*time.Millisecond {
		t.Errorf("explicit values were not kept: %+v", *s)
	}
	// Explicit zeros are refused, not replaced by the default.
	for _, c := range []struct{ old, new, field string }{
		{"rate: 100", "rate: 100, workers: 0", "arrivals.workers"},
		{"rate: 100", `rate: 100, process: ""`, "arrivals.process"},
		{"capacity: 10}", "capacity: 10}\ndemand: {quantity: {min: 0}}", "demand.quantity.min"},
		{"capacity: 10}", "capacity: 10}\ndemand: {quantity: {max: 0}}", "demand.quantity.max"},
		{"capacity: 10}", "capacity: 10}\ndemand: {popularity: hot, hot_share: 0}", "demand.hot_share"},
	} {
		wantAll(t, parseErr(t, strings.Replace(minimalScenario, c.old, c.new, 1), "zero.yaml"), "line 3: "+c.field+": ")
	}
}

// client.timeout: 0s is kept and means no timeout at all; retries need one.
func TestScenarioTimeoutZero(t *testing.T) {
	s := parseOK(t, minimalScenario+"client: {timeout: 0s}\n", "patient.yaml")
	if s.Client.Timeout != 0 {
		t.Errorf("timeout: 0s became %s", s.Client.Timeout)
	}
	wantAll(t, parseErr(t, minimalScenario+"client: {timeout: 0s, retries: 2}\n", "retry.yaml"),
		"line 4: client.retries: need client.timeout above 0s")
}

func TestScenarioEmptyFile(t *testing.T) {
	for _, text := range []string{"", "\n\n", "# only a comment\n", "---\n", "~\n"} {
		wantAll(t, parseErr(t, text, "empty.yaml"), "empty.yaml: invalid scenario: empty: a scenario needs at least stock and arrivals")
	}
	wantAll(t, parseErr(t, "[1, 2]\n", "list.yaml"), "line 1: a scenario is a mapping of fields", "not a list")
}

func TestScenarioSecondDocument(t *testing.T) {
	wantAll(t, parseErr(t, "name: first"+minimalScenario+"\n---\nname: second\n", "two.yaml"),
		"two.yaml: invalid scenario: line 5: a second YAML document: a scenario file holds one scenario")
	// An empty document after the scenario holds nothing to ignore.
	parseOK(t, minimalScenario+"---\n", "trailing.yaml")
}

func TestScenarioDurationTooLong(t *testing.T) {
	for _, c := range []struct{ old, new, want string }{
		// Too long for time.Duration: found while reading the file.
		{"duration: 500ms", "duration: 99999999h", `line 3: arrivals.duration: "99999999h" is too long (accepted: 0s to 24h)`},
		{"duration: 500ms", "duration: -99999999h", `line 3: arrivals.duration: "-99999999h" is below 0s (accepted: 0s to 24h)`},
		// Beyond the limit: found by Validate.
		{"duration: 500ms", "duration: 25h", "line 3: arrivals.duration: 25h is too long (accepted: 0s to 24h)"},
		{"capacity: 10}", "capacity: 10}\nclient: {timeout: 24h1s}", "line 3: client.timeout: 24h0m1s is too long (accepted: 0s to 24h)"},
		{"duration: 500ms", "duration: 2", `line 3: arrivals.duration: "2" is not a duration (such as 250ms, 2s or 10m)`},
	} {
		wantAll(t, parseErr(t, strings.Replace(minimalScenario, c.old, c.new, 1), "long.yaml"), c.want)
	}
}

// Errors name the field, found by the line yaml.v3 gives.
func TestParseScenarioNamesFields(t *testing.T) {
	for _, c := range []struct{ old, new, want string }{
		{"products: 2", "products: two", `line 2: stock.products: "two" is not accepted (accepted: a whole number)`},
		{"{products: 2, capacity: 10}", "[2, 10]", "line 2: stock: a list is not accepted (accepted: a mapping of products, capacity)"},
		{"rate: 100", "rat: 100", `line 3: arrivals: unknown field "rat" (accepted: mode, process, rate`},
		{"stock:", "stok:", `line 2: unknown field "stok" (accepted: name, description, seed, stock`},
		{"capacity: 10}", "capacity: 10}\ndemand: {quantity: {min: x, max: x}}",
			`line 3: demand.quantity.min: "x" is not accepted (accepted: a whole number); line 3: demand.quantity.max: "x"`},
		{"capacity: 10}", "}", "stock.capacity: required (no default): tickets per product, 0 or more"},
		{"mode: constant, ", "", "arrivals.mode: required (no default): constant, ramp, spike or closed"},
		{"rate: 100, ", "", "arrivals.rate: required in constant mode (no default)"},
	} {
		wantAll(t, parseErr(t, strings.Replace(minimalScenario, c.old, c.new, 1), "f.yaml"), "f.yaml: invalid scenario: "+c.want)
	}
}

// The built-in scenarios are what they were before defaults existed: each
// file, read without defaults, is the scenario they parse to, and makes the
// same plan. 'stampede scenarios -show NAME' reads back as the same.
func TestBuiltinsUnchangedByDefaults(t *testing.T) {
	for _, s := range Builtins() {
		b, err := builtinFS.ReadFile("scenarios/" + s.Name + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		var raw Scenario
		if err := yaml.Unmarshal(b, &raw); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(raw, *s) {
			t.Errorf("%s: defaults changed the built-in scenario:\n file %+v\n  now %+v", s.Name, raw, *s)
		}
		before, now := NewPlan(&raw), NewPlan(s)
		if before.Scenario, now.Scenario = nil, nil; !reflect.DeepEqual(before, now) {
			t.Errorf("%s: the plan changed", s.Name)
		}
		shown, err := yaml.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if back := parseOK(t, string(shown), "shown.yaml"); !reflect.DeepEqual(back, s) {
			t.Errorf("%s: -show's YAML reads back as %+v", s.Name, *back)
		}
	}
}

// The template of every field parses once stock and arrivals are filled
// in, to the same scenario as a file that leaves out every optional field.
func TestScenarioTemplate(t *testing.T) {
	tmpl := Template()
	wantAll(t, parseErr(t, tmpl, "template.yaml"), "stock.products: required")
	fill := strings.NewReplacer(
		"  products: ", "  products: 2",
		"  capacity: ", "  capacity: 10",
		"  mode: ", "  mode: constant",
		"  rate: ", "  rate: 100",
		"  duration: ", "  duration: 500ms", // both durations: stop's 0s stays 0s
	).Replace(tmpl)
	fill = strings.Replace(fill, "duration: 500ms0s", "duration: 0s", 1)
	got, want := parseOK(t, fill, "minimal.yaml"), parseOK(t, minimalScenario, "minimal.yaml")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("filled template:\n got %+v\nwant %+v", *got, *want)
	}
}
