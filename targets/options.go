package targets

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// OptionKind says how an option's value is parsed.
type OptionKind string

// The kinds of option values.
const (
	KindDuration OptionKind = "duration" // time.ParseDuration, not negative
	KindInt      OptionKind = "int"      // a whole number, not negative (at least Min)
	KindBool     OptionKind = "bool"     // true or false
	KindString   OptionKind = "string"   // any text
	KindChoice   OptionKind = "choice"   // one of Choices
)

// OptionSpec declares one option a design accepts.
type OptionSpec struct {
	Key     string // without the prefix: "rtt"
	Kind    OptionKind
	Default string
	Choices []string // for KindChoice
	Min     int64    // for KindInt: the least value accepted (0 when unset)
	Help    string   // one line
}

func (s OptionSpec) check() error {
	if s.Key == "" || strings.Contains(s.Key, "=") {
		return fmt.Errorf("option key %q is not valid", s.Key)
	}
	if err := s.validate(s.Default); err != nil {
		return fmt.Errorf("option %s: default %q: %v", s.Key, s.Default, err)
	}
	return nil
}

// Validate checks v against the option's kind and says what is accepted.
func (s OptionSpec) Validate(v string) error { return s.validate(v) }

// validate checks v against the option's kind and says what is accepted.
func (s OptionSpec) validate(v string) error {
	switch s.Kind {
	case KindDuration:
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("want a duration of 0 or more, such as 200us or 5ms")
		}
	case KindInt:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < max(s.Min, 0) {
			return fmt.Errorf("want a whole number of %d or more", max(s.Min, 0))
		}
	case KindBool:
		if _, err := strconv.ParseBool(v); err != nil {
			return fmt.Errorf("want true or false")
		}
	case KindChoice:
		for _, c := range s.Choices {
			if v == c {
				return nil
			}
		}
		return fmt.Errorf("want one of %s", strings.Join(s.Choices, ", "))
	case KindString:
	default:
		return fmt.Errorf("unknown option kind %q", s.Kind)
	}
	return nil
}

// Options holds a design's option values by key (without prefix), already
// validated by Resolve. The typed getters return the zero value for a key
// that is absent or malformed, which Resolve rules out.
type Options map[string]string

// Duration returns the option as a duration.
func (o Options) Duration(key string) time.Duration {
	d, _ := time.ParseDuration(o[key])
	return d
}

// Int returns the option as an int.
func (o Options) Int(key string) int {
	n, _ := strconv.Atoi(o[key])
	return n
}

// Bool returns the option as a bool.
func (o Options) Bool(key string) bool {
	b, _ := strconv.ParseBool(o[key])
	return b
}

// String returns the option's text.
func (o Options) String(key string) string { return o[key] }

type pair struct{ key, value string }

// parsePairs splits "prefix.key=value" pairs, rejecting malformed ones.
func parsePairs(opts []string) ([]pair, error) {
	out := make([]pair, 0, len(opts))
	for _, s := range opts {
		k, v, ok := strings.Cut(s, "=")
		k = strings.TrimSpace(k)
		if !ok || !strings.Contains(k, ".") || strings.HasPrefix(k, ".") || strings.HasSuffix(k, ".") {
			return nil, fmt.Errorf("-opt %q: want prefix.key=value, such as memory.rtt=200us", s)
		}
		out = append(out, pair{key: k, value: strings.TrimSpace(v)})
	}
	return out, nil
}
