package scenario

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Fault is one fault a scenario puts into a backend during the load: the
// YAML list faults: [{at, for, kind, on, latency, jitter}], or a -fault
// flag such as 'pause postgres at 4s for 1s' (see ParseFault).
type Fault struct {
	// At is when the fault starts, from the start of the load; For, how
	// long it lasts (a crash: how long the server stays down before it is
	// restarted).
	At  Duration `yaml:"at" json:"at"`
	For Duration `yaml:"for" json:"for"`
	// Kind is pause, crash, latency, blackhole or reset.
	Kind string `yaml:"kind" json:"kind"`
	// On is the backend: postgres or nats.
	On string `yaml:"on" json:"on"`
	// Latency and Jitter are a latency fault's added delay.
	Latency Duration `yaml:"latency" json:"latency,omitempty"`
	Jitter  Duration `yaml:"jitter" json:"jitter,omitempty"`
}

// FaultKinds and FaultBackends are what a fault's kind and backend may be.
var (
	FaultKinds    = []string{"pause", "crash", "latency", "blackhole", "reset"}
	FaultBackends = []string{"postgres", "nats"}
)

// FaultGrammar is the accepted form of a -fault flag, for messages.
const FaultGrammar = "KIND [DELAY[±JITTER]] BACKEND at T for D, where KIND is pause, crash, latency, blackhole or reset, " +
	"BACKEND is postgres or nats, and DELAY is given for latency only: such as 'pause postgres at 4s for 1s', " +
	"'crash nats at 3s for 2s' or 'latency 50ms±10ms postgres at 2s for 3s'"

// String writes f as a -fault flag reads it.
func (f Fault) String() string {
	kind := f.Kind
	if f.Kind == "latency" {
		kind += " " + short(f.Latency.D())
		if f.Jitter > 0 {
			kind += "±" + short(f.Jitter.D())
		}
	}
	return fmt.Sprintf("%s %s at %s for %s", kind, f.On, short(f.At.D()), short(f.For.D()))
}

// ParseFault reads a -fault flag: KIND [DELAY[±JITTER]] BACKEND at T for
// D. The fault is checked as a scenario's is, by ValidateFaults.
func ParseFault(s string) (Fault, error) {
	words := strings.Fields(s)
	bad := func(why string) (Fault, error) {
		return Fault{}, fmt.Errorf("%q: %s (accepted: %s)", s, why, FaultGrammar)
	}
	if len(words) < 6 {
		return bad("too few words")
	}
	f := Fault{Kind: words[0]}
	rest := words[1:]
	if f.Kind == "latency" {
		delay, jitter, _ := strings.Cut(strings.ReplaceAll(rest[0], "+-", "±"), "±")
		d, err := time.ParseDuration(delay)
		if err != nil {
			return bad(fmt.Sprintf("the delay %q is not a duration", rest[0]))
		}
		f.Latency = Duration(d)
		if jitter != "" {
			j, err := time.ParseDuration(jitter)
			if err != nil {
				return bad(fmt.Sprintf("the jitter %q is not a duration", jitter))
			}
			f.Jitter = Duration(j)
		}
		rest = rest[1:]
	}
	if len(rest) != 5 || rest[1] != "at" || rest[3] != "for" {
		return bad("want BACKEND at T for D")
	}
	f.On = rest[0]
	at, err := time.ParseDuration(rest[2])
	if err != nil {
		return bad(fmt.Sprintf("at %q is not a duration", rest[2]))
	}
	length, err := time.ParseDuration(rest[4])
	if err != nil {
		return bad(fmt.Sprintf("for %q is not a duration", rest[4]))
	}
	f.At, f.For = Duration(at), Duration(length)
	return f, nil
}

// ValidateFaults checks the scenario's faults: known kinds and backends,
// a start within the run and a length above 0, a delay for latency only,
// network faults (latency, blackhole, reset) on postgres only, and no two
// faults at once. It sorts them by start.
func (s *Scenario) ValidateFaults() error {
	sort.SliceStable(s.Faults, func(i, j int) bool { return s.Faults[i].At < s.Faults[j].At })
	length := s.profile().length()
	if s.Closed() {
		length = s.Arrivals.Duration.D()
	}
	if s.Stop.Duration > 0 {
		length = min(length, s.Stop.Duration.D())
	}
	for i, f := range s.Faults {
		field := fmt.Sprintf("faults[%d]", i)
		if err := oneOf(field+".kind", f.Kind, FaultKinds...); err != nil {
			return err
		}
		if err := oneOf(field+".on", f.On, FaultBackends...); err != nil {
			return err
		}
		switch {
		case f.At < 0 || f.At.D() >= length:
			return invalid(field+".at", "%s is outside the load (accepted: 0s up to the load's %s)", short(f.At.D()), short(length))
		case f.For <= 0 || f.For.D() > time.Hour:
			return invalid(field+".for", "must be above 0s and at most 1h (got %s)", short(f.For.D()))
		case f.Kind == "latency" && (f.Latency <= 0 || f.Latency.D() > time.Minute):
			return invalid(field+".latency", "must be above 0s and at most 1m for a latency fault (got %s)", short(f.Latency.D()))
		case f.Kind == "latency" && (f.Jitter < 0 || f.Jitter > f.Latency):
			return invalid(field+".jitter", "must be from 0s to the latency %s (got %s)", short(f.Latency.D()), short(f.Jitter.D()))
		case f.Kind != "latency" && (f.Latency != 0 || f.Jitter != 0):
			return invalid(field+".latency", "applies to latency faults only, not %s", f.Kind)
		case f.On == "nats" && (f.Kind == "latency" || f.Kind == "blackhole" || f.Kind == "reset"):
			return invalid(field+".kind", "%s goes through the proxy in front of PostgreSQL: on postgres only (accepted on nats: pause, crash)", f.Kind)
		}
		if i > 0 {
			prev := s.Faults[i-1]
			if f.At < prev.At+prev.For {
				return invalid(field+".at", "%s starts at %s, before %s ends at %s (accepted: one fault at a time)",
					f, short(f.At.D()), prev, short((prev.At + prev.For).D()))
			}
		}
	}
	return nil
}
