package bench

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written as text ("2s", "250ms") in scenario
// files and results.json.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d as time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML reads a duration such as "1.5s".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (such as 250ms or 2s)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes d as text.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalText writes d as text, for results.json.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads d from text, for results.json.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// Scenario is one workload: what is on sale, who wants it, how they arrive,
// how they behave, and when the run stops. The zero values of optional
// fields mean "none" (no timeout, no retries, no double-clicks).
type Scenario struct {
	Name        string   `yaml:"name" json:"name"`
	Description string   `yaml:"description" json:"description,omitempty"`
	Seed        uint64   `yaml:"seed" json:"seed"`
	Stock       Stock    `yaml:"stock" json:"stock"`
	Demand      Demand   `yaml:"demand" json:"demand"`
	Arrivals    Arrivals `yaml:"arrivals" json:"arrivals"`
	Client      Client   `yaml:"client" json:"client"`
	Stop        Stop     `yaml:"stop" json:"stop"`
}

// Stock is what is on sale: Products products of Capacity units each.
type Stock struct {
	Products int   `yaml:"products" json:"products"`
	Capacity int64 `yaml:"capacity" json:"capacity"`
}

// Quantity is the range of tickets one order asks for, uniform in [Min, Max].
type Quantity struct {
	Min int64 `yaml:"min" json:"min"`
	Max int64 `yaml:"max" json:"max"`
}

// Popularity names how orders spread over products.
type Popularity string

// The popularity laws.
const (
	Uniform Popularity = "uniform" // every product equally likely
	Zipf    Popularity = "zipf"    // product k has weight 1/(k+1)^zipf_s
	Hot     Popularity = "hot"     // hot_share of orders go to product 0, the rest uniformly
)

// Demand is who wants what.
type Demand struct {
	// Buyers is the number of distinct orders. In open loop 0 means as
	// many as the arrival profile gives; in closed loop it bounds the run.
	Buyers     int        `yaml:"buyers" json:"buyers"`
	Quantity   Quantity   `yaml:"quantity" json:"quantity"`
	Popularity Popularity `yaml:"popularity" json:"popularity"`
	ZipfS      float64    `yaml:"zipf_s" json:"zipf_s,omitempty"`
	HotShare   float64    `yaml:"hot_share" json:"hot_share,omitempty"`
}

// Mode names an arrival pattern.
type Mode string

// The arrival modes. All but Closed are open loop: arrivals are scheduled
// in advance and latency counts from the scheduled time.
const (
	Constant Mode = "constant" // rate orders/s for duration
	Ramp     Mode = "ramp"     // from `from` to rate over ramp, then rate until duration
	Spike    Mode = "spike"    // 0 to rate over ramp, rate for hold, down to 0 over decay
	Closed   Mode = "closed"   // users users, each buying, thinking, buying again, for duration
)

// Process names how open-loop arrivals are spaced.
type Process string

// The arrival processes.
const (
	Even    Process = "even"    // evenly spaced at the instantaneous rate
	Poisson Process = "poisson" // a Poisson process with the same rate profile
)

// Arrivals is how buyers arrive.
type Arrivals struct {
	Mode     Mode     `yaml:"mode" json:"mode"`
	Process  Process  `yaml:"process" json:"process,omitempty"`
	Rate     float64  `yaml:"rate" json:"rate,omitempty"`
	From     float64  `yaml:"from" json:"from,omitempty"`
	Ramp     Duration `yaml:"ramp" json:"ramp,omitempty"`
	Hold     Duration `yaml:"hold" json:"hold,omitempty"`
	Decay    Duration `yaml:"decay" json:"decay,omitempty"`
	Duration Duration `yaml:"duration" json:"duration,omitempty"`
	Users    int      `yaml:"users" json:"users,omitempty"`
	Think    Duration `yaml:"think" json:"think,omitempty"`
	// Workers is the number of goroutines sending open-loop arrivals, each
	// with its own client: the most attempts in flight at once.
	Workers int `yaml:"workers" json:"workers,omitempty"`
}

// Client is how a buyer behaves.
type Client struct {
	// Timeout bounds each attempt; 0 means no timeout.
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"`
	// Retries is how many times an order is tried again, with the same
	// order id, after an attempt ends without a definite answer.
	Retries int      `yaml:"retries" json:"retries,omitempty"`
	Backoff Duration `yaml:"backoff" json:"backoff,omitempty"`
	// DoubleClick is the probability that a buyer, impatient, submits the
	// same order again DoubleClickAfter (at most) after the first click.
	DoubleClick      float64  `yaml:"double_click" json:"double_click,omitempty"`
	DoubleClickAfter Duration `yaml:"double_click_after" json:"double_click_after,omitempty"`
}

// Stop is when a run ends, whichever comes first. Every run also ends when
// its arrivals are spent.
type Stop struct {
	// Duration caps the run; 0 means the arrivals' length plus time for
	// the last attempts to end.
	Duration Duration `yaml:"duration" json:"duration,omitempty"`
	// Orders caps the number of submissions; 0 means no cap.
	Orders int `yaml:"orders" json:"orders,omitempty"`
	// SoldOut ends the run Grace after the whole stock is sold out.
	SoldOut bool     `yaml:"sold_out" json:"sold_out,omitempty"`
	Grace   Duration `yaml:"grace" json:"grace,omitempty"`
}

// Closed reports whether the scenario runs closed loop.
func (s *Scenario) Closed() bool { return s.Arrivals.Mode == Closed }

// ErrInvalid is wrapped by every scenario validation error.
var ErrInvalid = errors.New("invalid scenario")

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
}

func oneOf[T ~string](field string, v T, accepted ...T) error {
	for _, a := range accepted {
		if v == a {
			return nil
		}
	}
	names := make([]string, len(accepted))
	for i, a := range accepted {
		names[i] = string(a)
	}
	return invalid(field, "%q is not accepted (accepted: %s)", string(v), strings.Join(names, ", "))
}

// Limits that keep a run bounded and its memory in reach.
const (
	maxSubmissions = 50_000_000
	maxRunLength   = 24 * time.Hour
	maxWorkers     = 10_000
)

// Validate checks every field and returns the first problem, naming the
// field and what it accepts.
func (s *Scenario) Validate() error {
	if s.Name == "" {
		return invalid("name", "must not be empty")
	}
	if s.Stock.Products < 1 || s.Stock.Products > 1_000_000 {
		return invalid("stock.products", "must be from 1 to 1000000 (got %d)", s.Stock.Products)
	}
	if s.Stock.Capacity < 0 {
		return invalid("stock.capacity", "must be 0 or more (got %d)", s.Stock.Capacity)
	}
	d := s.Demand
	if d.Buyers < 0 || d.Buyers > maxSubmissions {
		return invalid("demand.buyers", "must be from 0 to %d (got %d)", maxSubmissions, d.Buyers)
	}
	if d.Quantity.Min < 1 {
		return invalid("demand.quantity.min", "must be 1 or more (got %d)", d.Quantity.Min)
	}
	if d.Quantity.Max < d.Quantity.Min {
		return invalid("demand.quantity.max", "must be at least quantity.min %d (got %d)", d.Quantity.Min, d.Quantity.Max)
	}
	if err := oneOf("demand.popularity", d.Popularity, Uniform, Zipf, Hot); err != nil {
		return err
	}
	if d.Popularity == Zipf && (d.ZipfS <= 0 || d.ZipfS > 10) {
		return invalid("demand.zipf_s", "must be above 0 and at most 10 for zipf popularity (got %g)", d.ZipfS)
	}
	if d.Popularity == Hot && (d.HotShare <= 0 || d.HotShare > 1) {
		return invalid("demand.hot_share", "must be above 0 and at most 1 for hot popularity (got %g)", d.HotShare)
	}
	a := s.Arrivals
	if err := oneOf("arrivals.mode", a.Mode, Constant, Ramp, Spike, Closed); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		v    Duration
	}{{"arrivals.ramp", a.Ramp}, {"arrivals.hold", a.Hold}, {"arrivals.decay", a.Decay},
		{"arrivals.duration", a.Duration}, {"arrivals.think", a.Think}, {"client.timeout", s.Client.Timeout},
		{"client.backoff", s.Client.Backoff}, {"client.double_click_after", s.Client.DoubleClickAfter},
		{"stop.duration", s.Stop.Duration}, {"stop.grace", s.Stop.Grace}} {
		if f.v < 0 || f.v.D() > maxRunLength {
			return invalid(f.name, "must be from 0s to %s (got %s)", maxRunLength, f.v)
		}
	}
	if s.Closed() {
		if a.Users < 1 || a.Users > maxWorkers {
			return invalid("arrivals.users", "must be from 1 to %d in closed mode (got %d)", maxWorkers, a.Users)
		}
		if a.Duration <= 0 {
			return invalid("arrivals.duration", "must be above 0s in closed mode")
		}
		if d.Buyers < 1 {
			return invalid("demand.buyers", "must be 1 or more in closed mode: it bounds the run (got %d)", d.Buyers)
		}
		if a.Rate != 0 {
			return invalid("arrivals.rate", "applies to open-loop modes only (constant, ramp, spike), not closed")
		}
	} else {
		if a.Process == "" {
			return invalid("arrivals.process", "must be set for open-loop modes (accepted: even, poisson)")
		}
		if err := oneOf("arrivals.process", a.Process, Even, Poisson); err != nil {
			return err
		}
		if !(a.Rate > 0) || a.Rate > 10_000_000 {
			return invalid("arrivals.rate", "must be above 0 and at most 10000000 orders/s (got %g)", a.Rate)
		}
		if a.Workers < 1 || a.Workers > maxWorkers {
			return invalid("arrivals.workers", "must be from 1 to %d (got %d)", maxWorkers, a.Workers)
		}
		if a.Users != 0 {
			return invalid("arrivals.users", "applies to closed mode only")
		}
		switch a.Mode {
		case Constant:
			if a.Duration <= 0 {
				return invalid("arrivals.duration", "must be above 0s in constant mode")
			}
		case Ramp:
			if a.From < 0 || a.From > a.Rate {
				return invalid("arrivals.from", "must be from 0 to rate %g (got %g)", a.Rate, a.From)
			}
			if a.Duration <= 0 || a.Ramp > a.Duration {
				return invalid("arrivals.duration", "must be above 0s and at least ramp %s in ramp mode (got %s)", a.Ramp, a.Duration)
			}
		case Spike:
			if a.Ramp+a.Hold+a.Decay <= 0 {
				return invalid("arrivals.hold", "ramp + hold + decay must be above 0s in spike mode")
			}
		}
		n := s.profile().total()
		if d.Buyers > 0 {
			n = min(n, float64(d.Buyers))
		}
		if n < 1 {
			return invalid("arrivals.rate", "the arrival profile yields no order (rate %g over %s)", a.Rate, s.profile().length())
		}
		if n > maxSubmissions {
			return invalid("arrivals.rate", "the arrival profile yields %.0f orders, more than %d: lower rate or duration", n, maxSubmissions)
		}
	}
	c := s.Client
	if c.Retries < 0 || c.Retries > 10 {
		return invalid("client.retries", "must be from 0 to 10 (got %d)", c.Retries)
	}
	if c.Retries > 0 && c.Timeout == 0 {
		return invalid("client.retries", "need client.timeout above 0s: an attempt is retried after it times out")
	}
	if c.DoubleClick < 0 || c.DoubleClick > 1 {
		return invalid("client.double_click", "must be a probability from 0 to 1 (got %g)", c.DoubleClick)
	}
	if s.Stop.Orders < 0 {
		return invalid("stop.orders", "must be 0 or more (got %d)", s.Stop.Orders)
	}
	return nil
}

//go:embed scenarios/*.yaml
var builtinFS embed.FS

// Builtins returns the built-in scenarios, sorted by name.
func Builtins() []*Scenario {
	entries, err := fs.ReadDir(builtinFS, "scenarios")
	if err != nil {
		panic(err)
	}
	var out []*Scenario
	for _, e := range entries {
		b, err := builtinFS.ReadFile(path.Join("scenarios", e.Name()))
		if err != nil {
			panic(err)
		}
		s, err := ParseScenario(b, e.Name())
		if err != nil {
			panic(fmt.Sprintf("built-in scenario %s: %v", e.Name(), err))
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LoadScenario returns the built-in scenario called nameOrFile, or else
// reads the file of that name.
func LoadScenario(nameOrFile string) (*Scenario, error) {
	var names []string
	for _, s := range Builtins() {
		if s.Name == nameOrFile {
			return s, nil
		}
		names = append(names, s.Name)
	}
	b, err := os.ReadFile(nameOrFile)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: -scenario %q: no built-in scenario or file of that name (built-in: %s)",
				ErrInvalid, nameOrFile, strings.Join(names, ", "))
		}
		return nil, fmt.Errorf("%w: -scenario %q: %v", ErrInvalid, nameOrFile, err)
	}
	return ParseScenario(b, nameOrFile)
}

// ParseScenario reads a scenario from YAML and validates it. Unknown fields
// are errors. source names the input in errors.
func ParseScenario(b []byte, source string) (*Scenario, error) {
	var s Scenario
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %s: %s", ErrInvalid, source, yamlMessage(err))
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return &s, nil
}

var (
	unknownFieldRE = regexp.MustCompile(`line (\d+): field (\S+) not found in type bench\.(\w+)`)
	yamlSections   = map[string]reflect.Type{
		"Scenario": reflect.TypeFor[Scenario](), "Stock": reflect.TypeFor[Stock](),
		"Demand": reflect.TypeFor[Demand](), "Quantity": reflect.TypeFor[Quantity](),
		"Arrivals": reflect.TypeFor[Arrivals](), "Client": reflect.TypeFor[Client](),
		"Stop": reflect.TypeFor[Stop](),
	}
)

// yamlMessage turns yaml.v3's errors into one line that names the field and
// what is accepted there.
func yamlMessage(err error) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return strings.TrimPrefix(err.Error(), "yaml: ")
	}
	msgs := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		if m := unknownFieldRE.FindStringSubmatch(e); m != nil {
			if t, ok := yamlSections[m[3]]; ok {
				var fields []string
				for i := range t.NumField() {
					if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag != "" {
						fields = append(fields, tag)
					}
				}
				e = fmt.Sprintf("line %s: unknown field %q (accepted: %s)", m[1], m[2], strings.Join(fields, ", "))
			}
		}
		e = strings.Replace(e, "!!str", "text", 1)
		msgs = append(msgs, e)
	}
	return strings.Join(msgs, "; ")
}

// Overrides are the common knobs that flags change on any scenario.
type Overrides struct {
	Duration time.Duration // arrivals' length (spike: the hold)
	Rate     float64       // open loop: constant rate, ramp target or spike peak
	Users    int           // closed loop: users
	Workers  int           // open loop: sending goroutines
	Seed     uint64
}

// Apply changes s by o and validates the result. A knob that does not fit
// the scenario's mode is an error that says so.
func (s *Scenario) Apply(o Overrides, set map[string]bool) error {
	if set["duration"] {
		if o.Duration <= 0 {
			return invalid("-duration", "must be above 0s (got %s)", o.Duration)
		}
		if s.Arrivals.Mode == Spike {
			hold := o.Duration - s.Arrivals.Ramp.D() - s.Arrivals.Decay.D()
			if hold < 0 {
				return invalid("-duration", "must be at least ramp + decay (%s) for spike scenario %s", s.Arrivals.Ramp+s.Arrivals.Decay, s.Name)
			}
			s.Arrivals.Hold = Duration(hold)
			if s.Demand.Buyers > 0 {
				s.Demand.Buyers = 0 // the profile decides
			}
		} else {
			s.Arrivals.Duration = Duration(o.Duration)
		}
	}
	if set["rate"] {
		if s.Closed() {
			return invalid("-rate", "applies to open-loop scenarios; %s is closed loop (use -users)", s.Name)
		}
		if !(o.Rate > 0) {
			return invalid("-rate", "must be above 0 orders/s (got %g)", o.Rate)
		}
		s.Arrivals.Rate = o.Rate
		if s.Arrivals.Mode == Spike && s.Demand.Buyers > 0 {
			s.Demand.Buyers = 0 // the profile decides
		}
	}
	if set["users"] {
		if !s.Closed() {
			return invalid("-users", "applies to closed-loop scenarios; %s is open loop (use -rate, -workers)", s.Name)
		}
		if o.Users < 1 {
			return invalid("-users", "must be 1 or more (got %d)", o.Users)
		}
		s.Arrivals.Users = o.Users
	}
	if set["workers"] {
		if s.Closed() {
			return invalid("-workers", "applies to open-loop scenarios; %s is closed loop (use -users)", s.Name)
		}
		if o.Workers < 1 {
			return invalid("-workers", "must be 1 or more (got %d)", o.Workers)
		}
		s.Arrivals.Workers = o.Workers
	}
	if set["seed"] {
		s.Seed = o.Seed
	}
	return s.Validate()
}
