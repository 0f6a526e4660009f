package scenario

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
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
		e := &nodeError{line: n.Line, column: n.Column,
			msg: fmt.Sprintf("%q is not a duration (such as 250ms, 2s or 10m)", n.Value)}
		if durationSyntax.MatchString(n.Value) {
			// Well formed, but beyond what time.Duration holds.
			e.msg = fmt.Sprintf("%q is too long (accepted: 0s to %s)", n.Value, short(maxRunLength))
			if strings.HasPrefix(n.Value, "-") {
				e.msg = fmt.Sprintf("%q is below 0s (accepted: 0s to %s)", n.Value, short(maxRunLength))
			}
		}
		return e
	}
	*d = Duration(v)
	return nil
}

// durationSyntax matches what time.ParseDuration accepts, whatever the size.
var durationSyntax = regexp.MustCompile(`^[-+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$`)

// short formats d as time.Duration does, without trailing zero units:
// "24h" rather than "24h0m0s".
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// nodeError is a decoding error at a place in a scenario file, which
// Parse names by its field.
type nodeError struct {
	line, column int
	msg          string
}

func (e *nodeError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

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
// how they behave, and when the run stops. In a Scenario built in Go the
// zero values of optional fields mean "none" (no timeout, no retries, no
// double-clicks); ParseScenario gives the fields a file leaves out their
// defaults.
type Scenario struct {
	Name        string   `yaml:"name" json:"name"`
	Description string   `yaml:"description" json:"description,omitempty"`
	Seed        uint64   `yaml:"seed" json:"seed"`
	Stock       Stock    `yaml:"stock" json:"stock"`
	Demand      Demand   `yaml:"demand" json:"demand"`
	Arrivals    Arrivals `yaml:"arrivals" json:"arrivals"`
	Client      Client   `yaml:"client" json:"client"`
	Stop        Stop     `yaml:"stop" json:"stop"`
	// WaitingRoom, when its rate is above 0, holds buyers in a virtual
	// queue in front of the design and lets them in, in the order they
	// arrived, at most Rate a second (open loop only).
	WaitingRoom WaitingRoom `yaml:"waiting_room" json:"waiting_room,omitzero"`
	// Options are design options the scenario needs, as -opt pairs
	// (prefix.key=value): the late-retry scenario shortens JetStream's
	// duplicate window so that a run stays short. A pair whose prefix
	// belongs to no design of the run is left aside; the command line's
	// -opt wins over the scenario's.
	Options []string `yaml:"options,omitempty" json:"options,omitempty"`
	// Faults are put into the backends during the load, one at a time
	// (see Fault; the -fault flags replace them).
	Faults []Fault `yaml:"faults,omitempty" json:"faults,omitempty"`
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
	// OrdersPerBuyer groups orders by buyer: orders 1..N are the first
	// buyer's, N+1..2N the second's, and so on (0 or 1: an order each).
	// BuyerLimit is a business rule checked against history (the blog's
	// refund rule): at most this many tickets per buyer across their
	// orders; designs that enforce it refuse an order that would cross it,
	// and the checker counts buyers over it (0: no limit).
	OrdersPerBuyer int   `yaml:"orders_per_buyer" json:"orders_per_buyer,omitempty"`
	BuyerLimit     int64 `yaml:"buyer_limit" json:"buyer_limit,omitempty"`
}

// Mode names an arrival pattern.
type Mode string

// The arrival modes. All but Closed are open loop: arrivals follow a
// schedule fixed by the seed, whatever the design answers, and latency
// counts from the scheduled time.
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
	// Timeout bounds each attempt, counted from its due time (the click,
	// or for a retry the end of the attempt before plus Backoff), so an
	// attempt still waiting for a free sender when it runs out is never
	// sent. 0 means no timeout at all: a buyer waits as long as the run
	// lasts.
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"`
	// Retries is how many times an order is tried again, with the same
	// order id, after an attempt ends without a definite answer.
	Retries int      `yaml:"retries" json:"retries,omitempty"`
	Backoff Duration `yaml:"backoff" json:"backoff,omitempty"`
	// DoubleClick is the probability that a buyer, impatient, submits the
	// same order again DoubleClickAfter (at most) after the first click.
	DoubleClick      float64  `yaml:"double_click" json:"double_click,omitempty"`
	DoubleClickAfter Duration `yaml:"double_click_after" json:"double_click_after,omitempty"`
	// ReadAfterBuy makes a buyer whose order was confirmed read their
	// orders at once, as the next page would (a design's read side,
	// targets.Reader): a read that does not show the order is a
	// read-your-own-writes violation, and the order is then read again,
	// backing off, for up to ReadWait, to measure how long it takes to
	// show (the visibility lag).
	ReadAfterBuy bool     `yaml:"read_after_buy" json:"read_after_buy,omitempty"`
	ReadWait     Duration `yaml:"read_wait" json:"read_wait,omitempty"`
	// LateRetry makes a share of buyers resubmit the same order id After
	// their click, long after their answer (open loop only).
	LateRetry LateRetry `yaml:"late_retry" json:"late_retry,omitzero"`
}

// WaitingRoom is the admission layer sites put in front of a sale when
// the crowd comes (the talk's opening pictures). A buyer's time in it is
// recorded apart from the design's; the client timeout runs from the
// buyer's admission, as the room's page holds the buyer until then.
type WaitingRoom struct {
	Rate float64 `yaml:"rate" json:"rate,omitempty"` // admissions a second; 0: no waiting room
}

// LateRetry is a client behaviour: a share of buyers resubmit their order
// long after it was answered, as the blog's partner who "can call us
// multiple times with sometimes a 1-day delay".
type LateRetry struct {
	Share float64  `yaml:"share" json:"share,omitempty"`
	After Duration `yaml:"after" json:"after,omitempty"`
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

// fieldError is a problem with one field of a scenario (or one flag that
// changes it).
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return ErrInvalid.Error() + ": " + e.field + ": " + e.msg }
func (e *fieldError) Unwrap() error { return ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &fieldError{field, fmt.Sprintf(format, args...)}
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

// Limits that keep a run bounded and its memory in reach: a run holds a
// byte or two per order (the schedule is generated as it is sent), so
// maxSubmissions allows an hour at 100,000 orders/s.
const (
	maxSubmissions = 400_000_000
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
	if d.OrdersPerBuyer < 0 {
		return invalid("demand.orders_per_buyer", "must be 0 or more (got %d)", d.OrdersPerBuyer)
	}
	if d.BuyerLimit < 0 {
		return invalid("demand.buyer_limit", "must be 0 (no limit) or more (got %d)", d.BuyerLimit)
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
		{"client.backoff", s.Client.Backoff}, {"client.double_click_after", s.Client.DoubleClickAfter}, {"client.read_wait", s.Client.ReadWait},
		{"client.late_retry.after", s.Client.LateRetry.After},
		{"stop.duration", s.Stop.Duration}, {"stop.grace", s.Stop.Grace}} {
		if f.v < 0 {
			return invalid(f.name, "%s is below 0s (accepted: 0s to %s)", short(f.v.D()), short(maxRunLength))
		}
		if f.v.D() > maxRunLength {
			return invalid(f.name, "%s is too long (accepted: 0s to %s)", short(f.v.D()), short(maxRunLength))
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
	switch lr := c.LateRetry; {
	case lr.Share < 0 || lr.Share > 1:
		return invalid("client.late_retry.share", "must be a share from 0 to 1 (got %g)", lr.Share)
	case lr.Share > 0 && lr.After <= 0:
		return invalid("client.late_retry.after", "must be above 0s when share is above 0 (accepted: such as 30s)")
	case lr.Share > 0 && s.Closed():
		return invalid("client.late_retry", "applies to open-loop modes only (constant, ramp, spike), not closed")
	}
	if w := s.WaitingRoom.Rate; w < 0 || w > 10_000_000 {
		return invalid("waiting_room.rate", "must be from 0 (none) to 10000000 admissions/s (got %g)", w)
	} else if w > 0 && s.Closed() {
		return invalid("waiting_room", "applies to open-loop modes only (constant, ramp, spike), not closed")
	}
	for _, o := range s.Options {
		if k, _, ok := strings.Cut(o, "="); !ok || !strings.Contains(k, ".") || strings.HasPrefix(k, ".") || strings.HasSuffix(k, ".") {
			return invalid("options", "%q is not prefix.key=value (accepted: such as jetstream.duplicate_window=2s)", o)
		}
	}
	if s.Stop.Orders < 0 {
		return invalid("stop.orders", "must be 0 or more (got %d)", s.Stop.Orders)
	}
	return s.ValidateFaults()
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
		s, err := Parse(b, e.Name())
		if err != nil {
			panic(fmt.Sprintf("built-in scenario %s: %v", e.Name(), err))
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Builtin returns a fresh copy of the built-in scenario called name, or
// nil if there is none.
func Builtin(name string) *Scenario {
	for _, s := range Builtins() {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Load returns the built-in scenario called nameOrFile, or else
// reads the file of that name.
func Load(nameOrFile string) (*Scenario, error) {
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
	return Parse(b, nameOrFile)
}

// Defaults of the fields a scenario file leaves out, taken from the
// built-in scenarios. ScenarioTemplate shows them all.
const (
	defaultSeed     = 1
	defaultZipfS    = 1.0 // the classic Zipf law: product k has weight 1/(k+1)
	defaultHotShare = 0.9 // nine orders in ten for the hot product
	defaultWorkers  = 32
	defaultTimeout  = 2 * time.Second
	defaultReadWait = 5 * time.Second
)

// Parse reads a scenario from YAML, gives the fields the text leaves
// out (or leaves empty) their defaults, and validates it. source names the
// input in errors, and an empty name defaults to source's file name without
// its extension. Unknown fields, an empty text and a second YAML document
// are errors; every error is one line naming source and the field, and
// wraps ErrInvalid.
//
// The defaults: seed 1; demand.quantity min 1 and max equal to min;
// popularity uniform, with zipf_s 1 for zipf and hot_share 0.9 for hot;
// for open-loop modes, process poisson and 32 workers; client.timeout 2s.
// Every other optional field is 0 (none). stock.products, stock.capacity,
// arrivals.mode, and what the mode needs (rate, duration, users, and
// demand.buyers in closed mode) have no default. An explicit value is
// always kept, even where it is invalid.
func Parse(b []byte, source string) (*Scenario, error) {
	fail := func(line int, field, msg string) error {
		where := ""
		if line > 0 {
			where = fmt.Sprintf("line %d: ", line)
		}
		if field != "" {
			where += field + ": "
		}
		return fmt.Errorf("%s: %w: %s%s", source, ErrInvalid, where, msg)
	}
	const empty = "empty: a scenario needs at least stock and arrivals"
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fail(0, "", empty)
		}
		return nil, fail(0, "", yamlMessage(err, nil))
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, fail(0, "", yamlMessage(err, nil))
	case len(next.Content) > 0 && !isNull(next.Content[0]):
		return nil, fail(next.Line, "", "a second YAML document: a scenario file holds one scenario (split it into one file each)")
	}
	if len(root.Content) == 0 || isNull(root.Content[0]) {
		return nil, fail(0, "", empty)
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil, fail(doc.Line, "", "a scenario is a mapping of fields (name: ..., stock: ..., demand: ..., arrivals: ...), not "+describe(doc))
	}
	fields := fieldNodes(doc)
	var s Scenario
	sdec := yaml.NewDecoder(bytes.NewReader(b))
	sdec.KnownFields(true)
	if err := sdec.Decode(&s); err != nil {
		var ne *nodeError
		if errors.As(err, &ne) {
			for name, f := range fields {
				if f.val.Line == ne.line && f.val.Column == ne.column {
					return nil, fail(ne.line, name, ne.msg)
				}
			}
		}
		return nil, fail(0, "", yamlMessage(err, fields))
	}
	set := func(field string) bool {
		f, ok := fields[field]
		return ok && !isNull(f.val)
	}
	s.defaults(source, set)
	err := s.required(set)
	if err == nil {
		err = s.Validate()
	}
	var fe *fieldError
	if errors.As(err, &fe) {
		line := 0 // the file left the field out
		if f, ok := fields[fe.field]; ok {
			line = f.key.Line
		}
		return nil, fail(line, fe.field, fe.msg)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return &s, nil
}

// Template returns a scenario file that shows every field: the
// optional ones with their defaults, and empty the ones whose default
// depends on the mode and the required ones. Once stock and arrivals are
// filled in, it parses as a scenario.
func Template() string {
	return fmt.Sprintf(`# A stampede scenario: every field, with its default. A field left out, or
# left empty like "products:" below, takes its default; the fields marked
# "required" have none. Durations are text such as 250ms, 2s or 10m, from 0s
# to %[1]s.
name:                     # default: the file's name without its extension
description: ""
seed: %[2]d                   # the same seed gives the same orders at the same times
stock:
  products:               # required: products on sale, 1 to 1000000
  capacity:               # required: tickets per product, 0 or more
demand:
  buyers:                 # distinct orders; default 0: as many as the arrivals give
                          #   (closed mode: required, it bounds the run)
  quantity:               # tickets per order, drawn uniformly from min to max
    min: 1
    max:                  # default: min
  popularity: uniform     # uniform | zipf | hot
  zipf_s:                 # zipf: product k has weight 1/(k+1)^zipf_s; default %[3]g
  hot_share:              # hot: the share of orders for product 0; default %[4]g
  orders_per_buyer: 0     # orders per buyer (0, 1: one each)
  buyer_limit: 0          # tickets per buyer across their orders (0: no limit)
arrivals:
  mode:                   # required: constant | ramp | spike | closed
  rate:                   # constant, ramp, spike: required, orders/s (rate, ramp target, peak)
  process:                # constant, ramp, spike: even | poisson; default poisson
  workers:                # constant, ramp, spike: senders, each with its own client; default %[5]d
  from: 0                 # ramp: the rate at the start
  ramp: 0s                # ramp, spike: time to reach rate
  hold: 0s                # spike: time at rate
  decay: 0s               # spike: time from rate back down to 0
  duration:               # constant, ramp, closed: required, how long the arrivals last
  users:                  # closed: required, users each buying, thinking, buying again
  think: 0s               # closed: a user's pause between orders
client:
  timeout: %[6]s             # per attempt, from its due time (the click); 0s: no timeout at all
  retries: 0              # tries again with the same order id after an attempt without
                          #   a definite answer; needs a timeout above 0s
  backoff: 0s             # pause before a retry
  double_click: 0         # probability of an impatient second click...
  double_click_after: 0s  # ...at most this long after the first
  read_after_buy: false   # a buyer confirmed reads their orders at once (read-your-own-writes)
  read_wait:              # read_after_buy: how long an order not shown is read again (%[7]s)
  late_retry:             # open loop: a share of buyers resubmit their order long after
    share: 0              #   its answer (0: none)...
    after: 0s             #   ...this long after their click
stop:                     # a run also ends when its arrivals are spent
  duration: 0s            # cap; 0s: the arrivals plus time for the last replies
  orders: 0               # cap on submissions; 0: none
  sold_out: false         # end the run grace after the whole stock is sold out
  grace: 0s
waiting_room: {rate: 0}   # open loop: buyers queue, let in in arrival order at most
                          #   rate a second (0: no waiting room)
options: []               # design options the scenario needs, as -opt pairs (-opt wins)
`, short(maxRunLength), defaultSeed, defaultZipfS, defaultHotShare, defaultWorkers, short(defaultTimeout), short(defaultReadWait))
}

// defaults gives the fields that set says the file left out their
// defaults. Mode-dependent defaults apply only where the mode uses them.
func (s *Scenario) defaults(source string, set func(field string) bool) {
	if len(s.Options) == 0 {
		s.Options = nil // options: [] is none
	}
	if s.Name == "" {
		base := filepath.Base(source)
		s.Name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	if !set("seed") {
		s.Seed = defaultSeed
	}
	d := &s.Demand
	if !set("demand.quantity.min") {
		d.Quantity.Min = 1
	}
	if !set("demand.quantity.max") {
		d.Quantity.Max = d.Quantity.Min
	}
	if !set("demand.popularity") {
		d.Popularity = Uniform
	}
	if d.Popularity == Zipf && !set("demand.zipf_s") {
		d.ZipfS = defaultZipfS
	}
	if d.Popularity == Hot && !set("demand.hot_share") {
		d.HotShare = defaultHotShare
	}
	if a := &s.Arrivals; a.Mode == Constant || a.Mode == Ramp || a.Mode == Spike {
		if !set("arrivals.process") {
			a.Process = Poisson
		}
		if !set("arrivals.workers") {
			a.Workers = defaultWorkers
		}
	}
	if !set("client.timeout") {
		s.Client.Timeout = Duration(defaultTimeout)
	}
	if s.Client.ReadAfterBuy && !set("client.read_wait") {
		s.Client.ReadWait = Duration(defaultReadWait)
	}
}

// required checks that the fields with no default are in the file.
func (s *Scenario) required(set func(field string) bool) error {
	for _, r := range []struct {
		field, what string
		need        bool
	}{
		{"stock.products", "how many products are on sale, 1 to 1000000", true},
		{"stock.capacity", "tickets per product, 0 or more", true},
		{"arrivals.mode", "constant, ramp, spike or closed", true},
		{"arrivals.rate", "orders/s (the constant rate, ramp target or spike peak), above 0", !s.Closed()},
		{"arrivals.duration", "how long the arrivals last, above 0s", s.Arrivals.Mode != Spike},
		{"arrivals.users", "how many users buy at once, 1 to " + fmt.Sprint(maxWorkers), s.Closed()},
		{"demand.buyers", "the most orders the users place, 1 or more (it bounds the run)", s.Closed()},
	} {
		byMode := r.field != "arrivals.mode" && !strings.HasPrefix(r.field, "stock.")
		if byMode && oneOf("", s.Arrivals.Mode, Constant, Ramp, Spike, Closed) != nil {
			continue // Validate names the mode's problem
		}
		if r.need && !set(r.field) {
			in := ""
			if byMode {
				in = fmt.Sprintf(" in %s mode", s.Arrivals.Mode)
			}
			return invalid(r.field, "required%s (no default): %s", in, r.what)
		}
	}
	return nil
}

// field is one field of a scenario file: its key and its value.
type field struct{ key, val *yaml.Node }

// fieldNodes returns the fields of the mapping m by their dotted names
// ("stock.products"), following aliases and merge keys as yaml.v3 does. A
// mapping that holds itself through an alias (stock: &x {products: *x})
// is walked once.
func fieldNodes(m *yaml.Node) map[string]field {
	out := map[string]field{}
	onPath := map[*yaml.Node]bool{}
	var walk func(prefix string, m *yaml.Node)
	walk = func(prefix string, m *yaml.Node) {
		if onPath[m] {
			return
		}
		onPath[m] = true
		defer delete(onPath, m)
		var merges []*yaml.Node
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], resolve(m.Content[i+1])
			if k.ShortTag() == "!!merge" {
				merges = append(merges, v)
				continue
			}
			name := prefix + k.Value
			if _, dup := out[name]; dup {
				continue
			}
			out[name] = field{k, v}
			if v.Kind == yaml.MappingNode {
				walk(name+".", v)
			}
		}
		// Fields merged in (<<: *anchor) come after the mapping's own.
		for _, v := range merges {
			if v.Kind == yaml.SequenceNode {
				for _, e := range v.Content {
					if e := resolve(e); e.Kind == yaml.MappingNode {
						walk(prefix, e)
					}
				}
			} else if v.Kind == yaml.MappingNode {
				walk(prefix, v)
			}
		}
	}
	walk("", m)
	return out
}

func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node holds, for errors.
func describe(n *yaml.Node) string {
	switch n = resolve(n); n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

var (
	unknownFieldRE = regexp.MustCompile(`^line (\d+): field (\S+) not found in type ` + regexp.QuoteMeta(typePrefix) + `(\w+)$`)
	wrongTypeRE    = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+)(?: `(.*)`)? into (\\S+)$")
	yamlSections   = map[string]reflect.Type{
		"Scenario": reflect.TypeFor[Scenario](), "Stock": reflect.TypeFor[Stock](),
		"Demand": reflect.TypeFor[Demand](), "Quantity": reflect.TypeFor[Quantity](),
		"Arrivals": reflect.TypeFor[Arrivals](), "Client": reflect.TypeFor[Client](),
		"Stop": reflect.TypeFor[Stop](),
	}
	// typePrefix is how yaml.v3 qualifies this package's types in its
	// messages ("scenario.").
	typePrefix = strings.TrimSuffix(reflect.TypeFor[Scenario]().String(), "Scenario")
	yamlKinds  = map[string]string{
		"int": "a whole number", "int64": "a whole number", "uint64": "a whole number 0 or more",
		"float64": "a number", "bool": "true or false", "string": "text",
		typePrefix + "Mode": "text", typePrefix + "Popularity": "text", typePrefix + "Process": "text",
	}
)

// sectionFields lists the fields of a section of a scenario file.
func sectionFields(t reflect.Type) string {
	var names []string
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag != "" {
			names = append(names, tag)
		}
	}
	return strings.Join(names, ", ")
}

// yamlMessage turns yaml.v3's errors into one line that names the field
// (found in fields by its line) and what is accepted there.
func yamlMessage(err error, fields map[string]field) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return strings.TrimPrefix(err.Error(), "yaml: ")
	}
	// find returns the name of the field whose node (as at says) is on
	// line and matches.
	// yaml.v3 reports problems in the order of the text, without their
	// columns: two on one line ({min: x, max: x}) name a field each, from
	// the left.
	used := map[string]bool{}
	find := func(line string, at func(f field) *yaml.Node, match func(n *yaml.Node) bool) string {
		best, col := "", 0
		for name, f := range fields {
			n := at(f)
			if strconv.Itoa(n.Line) != line || !match(n) || used[name] {
				continue
			}
			if best == "" || n.Column < col {
				best, col = name, n.Column
			}
		}
		used[best] = true
		return best
	}
	key := func(f field) *yaml.Node { return f.key }
	val := func(f field) *yaml.Node { return f.val }
	msgs := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		if m := unknownFieldRE.FindStringSubmatch(e); m != nil {
			if t, ok := yamlSections[m[3]]; ok {
				section, _ := strings.CutSuffix(find(m[1], key, func(n *yaml.Node) bool { return n.Value == m[2] }), "."+m[2])
				if section == m[2] {
					section = "" // top level
				} else if section != "" {
					section += ": "
				}
				e = fmt.Sprintf("line %s: %sunknown field %q (accepted: %s)", m[1], section, m[2], sectionFields(t))
			}
		} else if m := wrongTypeRE.FindStringSubmatch(e); m != nil {
			kind, value, into := m[2], m[3], m[4]
			name := find(m[1], val, func(n *yaml.Node) bool {
				switch kind {
				case "map":
					return n.Kind == yaml.MappingNode
				case "seq":
					return n.Kind == yaml.SequenceNode
				}
				prefix, cut := strings.CutSuffix(value, "...") // yaml.v3 shortens long values
				return n.Kind == yaml.ScalarNode && (n.Value == value || cut && strings.HasPrefix(n.Value, prefix))
			})
			got := map[string]string{"map": "a mapping", "seq": "a list"}[kind]
			if got == "" {
				got = strconv.Quote(value)
			}
			accepted := yamlKinds[into]
			if t, ok := yamlSections[strings.TrimPrefix(into, typePrefix)]; ok {
				accepted = "a mapping of " + sectionFields(t)
			}
			if accepted == "" {
				accepted = into
			}
			if name != "" {
				name += ": "
			}
			e = fmt.Sprintf("line %s: %s%s is not accepted (accepted: %s)", m[1], name, got, accepted)
		}
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
	// WaitingRoom is the waiting room's admissions a second (0: none).
	WaitingRoom float64
	// Faults replace the scenario's faults (-fault, parsed by ParseFault).
	Faults []Fault
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
	if set["waiting-room"] {
		if s.Closed() {
			return invalid("-waiting-room", "applies to open-loop scenarios; %s is closed loop", s.Name)
		}
		if o.WaitingRoom < 0 {
			return invalid("-waiting-room", "must be 0 (none) or more admissions/s (got %g)", o.WaitingRoom)
		}
		s.WaitingRoom.Rate = o.WaitingRoom
	}
	if set["fault"] {
		s.Faults = o.Faults
	}
	return s.Validate()
}
