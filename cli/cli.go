// Package cli is the stampede command as a library: what cmd/stampede runs,
// and what a Go module of your own runs to build its own stampede with its
// own designs registered beside the built-in ones, the way database/sql
// drivers and xk6 extensions work:
//
//	package main
//
//	import (
//		"os"
//
//		"github.com/stampede-bench/stampede/cli"
//		_ "example.com/shop/mydesign" // registers "mydesign" in its init
//	)
//
//	func main() { os.Exit(cli.Run(os.Args[1:])) }
//
// Then `mystampede run -targets mydesign,sqlcounter -scenario flash-crowd`
// measures it beside stampede's own designs. See examples/extension.
//
// Exit codes: 0 ok, 1 the run failed or was interrupted, 2 bad usage or
// input, 3 a -check threshold was crossed, 130 stopped at once by a second
// interrupt.
package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/stampede-bench/stampede/reports"

	_ "github.com/stampede-bench/stampede/targets/all"
	"github.com/stampede-bench/stampede/targets/embedded"
)

// Run is the whole command, for a main function: it runs Main with the
// process's standard output and error, and handles its signals. Ctrl-C or
// SIGTERM stops the run cleanly: servers stopped, partial results written
// and marked interrupted. A second one stops at once: the embedded servers
// are killed and their directories removed, and the process exits with
// 130. It returns the exit code for os.Exit.
func Run(args []string) int {
	embedded.RunChild() // started again as an embedded nats-server: be one
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "\nstampede: stopping: the run ends and its partial results are written (interrupt again to stop at once)")
		cancel()
		<-sigs
		exiting.Lock() // the run's own exit waits for good
		fmt.Fprintln(os.Stderr, "stampede: stopping at once (a second interrupt): embedded servers killed")
		embedded.Abandon()
		os.Exit(exitAbandoned)
	}()
	code := Main(ctx, args, os.Stdout, os.Stderr)
	cancel()
	exiting.Lock()
	return code
}

// exiting is held by whichever way out of the process comes first: the
// run's end, or a second interrupt's.
var exiting sync.Mutex

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
	exitCheck  = 3
	// exitAbandoned is a second interrupt's, as a shell reports a
	// process stopped by SIGINT.
	exitAbandoned = 130
)

// crossedError marks thresholds crossed: exit code 3.
type crossedError struct{ n int }

func (e crossedError) Error() string { return fmt.Sprintf("%d threshold(s) crossed", e.n) }

// usageError marks bad usage or input: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

const topUsage = `stampede load-tests ticket-selling designs under a flash crowd and reports,
side by side, how fast each design is and how often it is wrong.

Usage:
  stampede run -targets a,b -scenario NAME|FILE [-out DIR] [flags]
  stampede run -http NAME=URL ... -scenario ...   your own services (docs/protocol.md)
  stampede run -agents K -nats URL ...   send the buyers from K agents (docs/agents.md)
  stampede agent -nats URL [-name N]     an agent: waits for a coordinator's work
  stampede probe URL    check a service against the stampede/http/v1 protocol
  stampede report DIR/results.json [-out DIR2]   render a run's reports again
  stampede compare OLD.json NEW.json [-check ...]  compare two runs
  stampede targets      list the designs
  stampede scenarios    list the built-in scenarios
  stampede postgres     start the embedded PostgreSQL and print its DSN
  stampede version

Run 'stampede COMMAND -h' for a command's flags.
Exit codes: 0 ok, 1 run failed or interrupted, 2 bad usage or input,
3 a -check threshold crossed, 130 stopped at once by a second Ctrl-C.
`

// Main runs the command with args (without the program's name), writing
// to stdout and stderr, and returns its exit code. It stops when ctx ends
// as on Ctrl-C. It does not touch the process's signals or exit; Run does.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, topUsage)
		return exitUsage
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "run":
		err = runCmd(ctx, rest, stdout, stderr)
	case "targets":
		err = targetsCmd(rest, stdout)
	case "scenarios":
		err = scenariosCmd(rest, stdout)
	case "version":
		err = versionCmd(rest, stdout)
	case "postgres":
		err = postgresCmd(ctx, rest, stdout)
	case "agent":
		err = agentCmd(ctx, rest, stdout, stderr)
	case "probe":
		err = probeCmd(ctx, rest, stdout)
	case "report":
		err = reportCmd(rest, stdout)
	case "compare":
		err = compareCmd(rest, stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, topUsage)
		return exitOK
	default:
		err = usagef("unknown command %q (accepted: run, agent, report, compare, probe, targets, scenarios, postgres, version)", cmd)
	}
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, new(usageError)):
		fmt.Fprintf(stderr, "stampede: %s\n", reports.OneLine(err.Error()))
		return exitUsage
	case errors.As(err, new(crossedError)):
		fmt.Fprintf(stderr, "stampede: %s\n", reports.OneLine(err.Error()))
		return exitCheck
	default:
		fmt.Fprintf(stderr, "stampede: %s\n", reports.OneLine(err.Error()))
		return exitFailed
	}
}

// newFlagSet returns a flag set that prints its usage, on out, only for
// -h: a parse error is one line on stderr, left to run. The flag package
// calls Usage on every error, so the usage goes to a buffer that only -h
// copies out.
func newFlagSet(name, synopsis string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	help := &helpBuffer{out: out}
	fs.SetOutput(help)
	fs.Usage = func() {
		help.Reset()
		fmt.Fprintf(help, "Usage: stampede %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// helpBuffer holds a flag set's usage until -h asks for it.
type helpBuffer struct {
	bytes.Buffer
	out io.Writer
}

// parseFlags parses args with fs: -h prints the usage and returns
// flag.ErrHelp; a bad flag is a usage error naming it.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		if h, ok := fs.Output().(*helpBuffer); ok {
			h.out.Write(h.Bytes())
		}
		return err
	default:
		return flagError(fs, err)
	}
}

// parse parses args, turning flag errors into usage errors that name the
// flag and what it accepts.
func parse(fs *flag.FlagSet, args []string) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q (see 'stampede %s -h')", fs.Name(), fs.Arg(0), fs.Name())
	}
	return nil
}

// parseArgs parses flags placed before or after n positional arguments.
func parseArgs(fs *flag.FlagSet, args []string, n int) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != n {
		return nil, usagef("%s: want %d argument(s), got %d (see 'stampede %s -h')", fs.Name(), n, len(pos), fs.Name())
	}
	return pos, nil
}
