package bench

import (
	"errors"
	"strings"
	"testing"
	"time"
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
	if _, err := ParseScenario([]byte(goodScenario), "good.yaml"); err != nil {
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
		{"retries need a timeout", goodScenario + "client: {retries: 1}\n", []string{"client.retries", "client.timeout"}},
		{"negative duration", strings.Replace(goodScenario, "duration: 1s", "duration: -1s", 1), []string{"arrivals.duration"}},
	} {
		_, err := ParseScenario([]byte(c.yaml), "bad.yaml")
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
	if s, err := LoadScenario("steady"); err != nil || s.Name != "steady" {
		t.Fatalf("LoadScenario(steady) = %v, %v", s, err)
	}
	_, err := LoadScenario("no-such-thing")
	if err == nil || !strings.Contains(err.Error(), "flash-crowd, hot-product, steady") {
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
