package reports

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseCheck: a -check expression parses to a known metric, or is
// refused with one line that wraps ErrBadCheck and quotes it; it never
// panics. The seeds run as an ordinary test; scripts/fuzz runs the fuzzer.
func FuzzParseCheck(f *testing.F) {
	for _, s := range []string{
		"p99<50ms", "memory:oversold==0", "throughput>-5%", "p99<+10%", "p999 <= 1.5s", "duplicate_rate<0.01",
		"p99<50", "oversold<1ms", "x:y:z<1", "p99<<3", "lost>=1e309", "p50<.5us", "refused_applied==0", "", "µs",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCheck(s)
		if err != nil {
			if !errors.Is(err, ErrBadCheck) || strings.Count(err.Error(), "\n") > strings.Count(s, "\n") {
				t.Fatalf("error %q: want one line wrapping ErrBadCheck", err)
			}
			return
		}
		if _, ok := metrics[c.Metric]; !ok || c.Text != s {
			t.Fatalf("%q parsed to %+v: unknown metric or text changed", s, c)
		}
		switch c.Op {
		case "<", "<=", ">", ">=", "==", "!=":
		default:
			t.Fatalf("%q parsed to op %q", s, c.Op)
		}
	})
}
