// Command mystampede is stampede with a design of its own: the Go
// extension point at work. A module imports stampede's cli package and the
// packages of its designs, whose init functions register them, and its
// main runs the command; `mystampede run -targets atomic,sqlcounter
// -scenario flash-crowd` then measures the new design beside the built-in
// ones, with the same engine, checks and reports.
package main

import (
	"os"

	"github.com/stampede-bench/stampede/cli"

	_ "example.com/mystampede/atomic" // registers "atomic"
)

func main() { os.Exit(cli.Run(os.Args[1:])) }
