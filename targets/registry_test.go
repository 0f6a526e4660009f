package targets

import (
	"context"
	"errors"
	"strings"
	"testing"
)

type nopTarget struct{}

func (nopTarget) Info() Info                                     { return Info{} }
func (nopTarget) Setup(context.Context, Stock) error             { return nil }
func (nopTarget) NewClient(context.Context, int) (Client, error) { return nil, nil }
func (nopTarget) Audit(context.Context) (Audit, error)           { return Audit{}, nil }
func (nopTarget) Close() error                                   { return nil }

func newNop(Config) (Target, error) { return nopTarget{}, nil }

func init() {
	Register(Registration{Name: "test-a", Description: "a", OptionPrefix: "fam", New: newNop, Options: []OptionSpec{
		{Key: "rtt", Kind: KindDuration, Default: "0s"},
		{Key: "mode", Kind: KindChoice, Default: "x", Choices: []string{"x", "y"}},
	}})
	Register(Registration{Name: "test-b", Description: "b", OptionPrefix: "fam", New: newNop, Options: []OptionSpec{
		{Key: "rtt", Kind: KindDuration, Default: "1ms"},
		{Key: "n", Kind: KindInt, Default: "3"},
	}})
	Register(Registration{Name: "test-c", Description: "c", New: newNop})
}

func TestRegisterTwicePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("registering test-a twice did not panic")
		}
	}()
	Register(Registration{Name: "test-a", New: newNop})
}

func TestRegisterBadDefaultPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("an option whose default does not parse did not panic")
		}
	}()
	Register(Registration{Name: "test-bad", New: newNop, Options: []OptionSpec{{Key: "d", Kind: KindDuration, Default: "soon"}}})
}

func TestLookupUnknownListsKnown(t *testing.T) {
	_, err := Lookup("nope")
	if !errors.Is(err, ErrUnknownTarget) {
		t.Fatalf("error %v does not wrap ErrUnknownTarget", err)
	}
	if !strings.Contains(err.Error(), "test-a, test-b, test-c") {
		t.Errorf("error %q does not list the known targets", err)
	}
}

func TestResolveOptions(t *testing.T) {
	regs, cfgs, err := Resolve([]string{"test-a", "test-b", "test-c"}, []string{"fam.rtt=200us", "fam.mode=y"})
	if err != nil {
		t.Fatal(err)
	}
	if len(regs) != 3 || regs[1].Name != "test-b" {
		t.Fatalf("registrations %v", regs)
	}
	if got := cfgs[0].Options.Duration("rtt").String(); got != "200µs" {
		t.Errorf("test-a rtt = %s, want 200µs", got)
	}
	if cfgs[0].Options.String("mode") != "y" || cfgs[1].Options.Int("n") != 3 || cfgs[1].Options.Duration("rtt").String() != "200µs" {
		t.Errorf("options not applied with defaults: %v %v", cfgs[0].Options, cfgs[1].Options)
	}
	if len(cfgs[2].Options) != 0 {
		t.Errorf("test-c got options %v of another prefix", cfgs[2].Options)
	}
}

func TestResolveErrors(t *testing.T) {
	for _, c := range []struct {
		names, opts []string
		want        []string
	}{
		{[]string{"test-a", "nope"}, nil, []string{`unknown target "nope"`, "known: "}},
		{[]string{"test-a", "test-a"}, nil, []string{"named twice"}},
		{[]string{"test-a"}, []string{"fam.speed=1"}, []string{"-opt fam.speed", "accepted: fam.mode, fam.rtt"}},
		{[]string{"test-c"}, []string{"fam.rtt=1ms"}, []string{"-opt fam.rtt", "none for these targets"}},
		{[]string{"test-a"}, []string{"fam.rtt=fast"}, []string{"fam.rtt=fast", "duration"}},
		{[]string{"test-a"}, []string{"fam.rtt=-1ms"}, []string{"fam.rtt=-1ms", "0 or more"}},
		{[]string{"test-a"}, []string{"fam.mode=z"}, []string{"want one of x, y"}},
		{[]string{"test-b"}, []string{"fam.n=-2"}, []string{"whole number"}},
		{[]string{"test-a"}, []string{"rtt"}, []string{"prefix.key=value"}},
	} {
		_, _, err := Resolve(c.names, c.opts)
		if err == nil {
			t.Errorf("%v %v: no error", c.names, c.opts)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v %v: error %q lacks %q", c.names, c.opts, err, w)
			}
		}
	}
}
