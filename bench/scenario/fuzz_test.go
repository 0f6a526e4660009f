package scenario

import (
	"errors"
	"io/fs"
	"path"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzParse: whatever a scenario file holds, Parse neither panics nor
// hangs; it accepts a valid scenario, which writes back to YAML and reads
// again the same, or refuses with one line that wraps ErrInvalid and names
// the file. The seeds (the built-in files, the template, and broken ones)
// run as an ordinary test; scripts/fuzz runs the fuzzer.
func FuzzParse(f *testing.F) {
	entries, _ := fs.ReadDir(builtinFS, "scenarios")
	for _, e := range entries {
		b, _ := builtinFS.ReadFile(path.Join("scenarios", e.Name()))
		f.Add(b)
	}
	f.Add([]byte(Template()))
	for _, s := range []string{
		"", "stock: [1, 2", "stock: {products: 1, capacity: 1}\narrivals: {mode: constant, rate: 1e308, duration: 1h}",
		"stock: {products: 2, capacity: 10}\narrivals: {mode: constant, rate: 100, duration: 500ms}\n---\nx: 1",
		"stock: {products: 1, capacity: 1}\narrivals: {mode: closed, users: 1, duration: 1s}\ndemand: {buyers: 1}\nclient: {timeout: -1s}",
		"&a [*a]", "stock: &x {products: *x}", "arrivals: {mode: spike, rate: 5, ramp: 1s, hold: 0s, decay: 99999h}",
		"name: \"\\u0000\"\nstock: {products: 1, capacity: 1}\narrivals: {mode: ramp, rate: 10, duration: 1s}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b, "fuzz.yaml")
		if err != nil {
			msg := err.Error()
			if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(msg, "fuzz.yaml: ") || strings.Contains(msg, "\n") {
				t.Fatalf("error %q: want one line naming the file and wrapping ErrInvalid", msg)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("accepted, yet invalid: %v", err)
		}
		out, err := yaml.Marshal(s)
		if err != nil {
			t.Fatalf("accepted, yet does not write back: %v", err)
		}
		again, err := Parse(out, "again.yaml")
		if err != nil {
			t.Fatalf("written back, not read again: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(s, again) {
			t.Fatalf("round trip changed the scenario:\n%+v\n%+v", s, again)
		}
	})
}
