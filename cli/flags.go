package cli

import (
	"errors"
	"flag"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// value is a flag value that says, when its text does not parse, what it
// accepts: the flag package's own numbers say only "parse error".
type value[T any] struct {
	p      *T
	parse  func(string) (T, error)
	accept string
}

func (v value[T]) String() string {
	if v.p == nil {
		return ""
	}
	return fmt.Sprint(*v.p)
}

func (v value[T]) Set(s string) error {
	x, err := v.parse(s)
	if err != nil {
		return errors.New(v.accept)
	}
	*v.p = x
	return nil
}

// typedFlag defines a flag of type T, whose bad values are answered with
// accept.
func typedFlag[T any](fs *flag.FlagSet, name string, parse func(string) (T, error), usage, accept string) *T {
	p := new(T)
	fs.Var(value[T]{p, parse, accept}, name, usage)
	return p
}

func durationFlag(fs *flag.FlagSet, name, usage, accept string) *time.Duration {
	return typedFlag(fs, name, time.ParseDuration, usage, accept)
}

func floatFlag(fs *flag.FlagSet, name, usage, accept string) *float64 {
	return typedFlag(fs, name, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) }, usage, accept)
}

func intFlag(fs *flag.FlagSet, name, usage, accept string) *int {
	return typedFlag(fs, name, strconv.Atoi, usage, accept)
}

func uintFlag(fs *flag.FlagSet, name, usage, accept string) *uint64 {
	return typedFlag(fs, name, func(s string) (uint64, error) { return strconv.ParseUint(s, 10, 64) }, usage, accept)
}

// The flag package's errors, as it words them.
var (
	badValueRE     = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for flag -(\S+): (.*)$`)
	undefinedRE    = regexp.MustCompile(`^flag provided but not defined: -(\S+)$`)
	needsArgRE     = regexp.MustCompile(`^flag needs an argument: -(\S+)$`)
	badFlagSyntaxR = regexp.MustCompile(`^bad flag syntax: (.*)$`)
)

// flagError turns an error of fs.Parse into one line that names the flag
// and what it accepts, as every usage error of stampede does.
func flagError(fs *flag.FlagSet, err error) error {
	cmd := fs.Name()
	msg := err.Error()
	switch {
	case badValueRE.MatchString(msg):
		m := badValueRE.FindStringSubmatch(msg)
		return usagef("%s: -%s %q: %s", cmd, m[2], m[1], m[3])
	case undefinedRE.MatchString(msg):
		m := undefinedRE.FindStringSubmatch(msg)
		return usagef("%s: -%s: unknown flag (accepted: %s; see 'stampede %s -h')", cmd, m[1], flagNames(fs), cmd)
	case needsArgRE.MatchString(msg):
		m := needsArgRE.FindStringSubmatch(msg)
		f := fs.Lookup(m[1])
		return usagef("%s: -%s: needs a value: %s", cmd, m[1], firstSentence(f.Usage))
	case badFlagSyntaxR.MatchString(msg):
		m := badFlagSyntaxR.FindStringSubmatch(msg)
		return usagef("%s: %q: not a flag (flags are -name value or -name=value; see 'stampede %s -h')", cmd, m[1], cmd)
	}
	return usagef("%s: %v (see 'stampede %s -h')", cmd, err, cmd)
}

func flagNames(fs *flag.FlagSet) string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, "-"+f.Name) })
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func firstSentence(s string) string {
	if i := strings.Index(s, " ("); i > 0 {
		return s[:i]
	}
	return s
}
