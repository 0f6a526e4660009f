package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/stampede-bench/stampede/bench/results"
	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
	"gopkg.in/yaml.v3"
)

func targetsCmd(args []string, stdout io.Writer) error {
	fs := newFlagSet("targets", "targets [-v]\n\nLists the designs stampede can run, with -v their options.", stdout)
	verbose := fs.Bool("v", false, "also list each design's options")
	if err := parse(fs, args); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	for _, r := range targets.Registrations() {
		fmt.Fprintf(tw, "%s\t%s\n", r.Name, r.Description)
		if *verbose {
			for _, o := range r.Options {
				kind := string(o.Kind)
				if o.Kind == targets.KindChoice {
					kind = strings.Join(o.Choices, "|")
				}
				fmt.Fprintf(tw, "\t  -opt %s.%s=%s (%s, default %q): %s\n", r.OptionPrefix, o.Key, strings.ToUpper(kind), kind, o.Default, o.Help)
			}
		}
	}
	return tw.Flush()
}

func scenariosCmd(args []string, stdout io.Writer) error {
	fs := newFlagSet("scenarios", "scenarios [-show NAME|defaults]\n\nLists the built-in scenarios; -show prints one as YAML, every field\nincluded; -show defaults prints every field with its default, a template\nfor scenario files.", stdout)
	show := fs.String("show", "", "print the named built-in scenario as YAML, or with 'defaults' every field with its default")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *show == "defaults" {
		_, err := io.WriteString(stdout, scenario.Template())
		return err
	}
	if *show != "" {
		names := []string{"defaults"}
		for _, s := range scenario.Builtins() {
			if s.Name == *show {
				enc := yaml.NewEncoder(stdout)
				enc.SetIndent(2) // as the scenario files are written
				if err := enc.Encode(s); err != nil {
					return err
				}
				return enc.Close()
			}
			names = append(names, s.Name)
		}
		return usagef("scenarios: -show %q: no such built-in scenario (accepted: %s)", *show, strings.Join(names, ", "))
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	for _, s := range scenario.Builtins() {
		fmt.Fprintf(tw, "%s\t%s\n", s.Name, s.Description)
	}
	return tw.Flush()
}

func versionCmd(args []string, stdout io.Writer) error {
	fs := newFlagSet("version", "version", stdout)
	if err := parse(fs, args); err != nil {
		return err
	}
	_, err := fmt.Fprintf(stdout, "stampede %s\n", results.Version)
	return err
}
