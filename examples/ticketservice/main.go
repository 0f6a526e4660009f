// Command ticketservice is a ticket service on PostgreSQL that speaks
// stampede/http/v1 (docs/protocol.md), so that stampede can put it under a
// flash crowd:
//
//	ticketservice -pg "$(stampede postgres)" -mode correct -addr 127.0.0.1:8080
//	stampede run -http correct=http://127.0.0.1:8080 -scenario flash-crowd
//
// It has two modes:
//
//   - correct: in one transaction, claim the order id (the primary key of
//     the orders table), sell with a conditional
//     UPDATE stock SET remaining = remaining - q WHERE remaining >= q, and
//     record the outcome. A resubmission of an order finds the claim and
//     answers its original outcome. It never oversells and never applies an
//     order twice.
//   - racy: check-then-act without a row lock. It reads the seats remaining,
//     decides in Go, and writes back the remaining count it computed, so
//     buyers who read the same count at once all get seats (and each
//     other's updates are lost): under a crowd it oversells. Order ids are
//     still a primary key, so it does not apply an order twice.
//
// Both audits tell the truth: seats sold are the sum of the orders recorded
// as confirmed, whatever the stock row says.
//
// Exit codes: 0 after a clean shutdown (SIGINT or SIGTERM), 1 on failure,
// 2 on bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stampede-bench/stampede/targets/redact"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.As(err, new(usageError)):
		fmt.Fprintln(os.Stderr, "ticketservice:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "ticketservice:", err)
		os.Exit(1)
	}
}

// usageError marks bad usage: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// Mode is how the service sells.
type Mode string

// The modes.
const (
	ModeCorrect Mode = "correct"
	ModeRacy    Mode = "racy"
)

// config is what the flags say.
type config struct {
	addr   string
	dsn    string
	mode   Mode
	schema string
	pool   int
}

// identifier is what -schema accepts: a plain lower-case SQL identifier.
var identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// parseFlags reads the command line. Its errors are usage errors but for
// -h, which is flag.ErrHelp.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("ticketservice", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	var mode string
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "`address` to listen on (loopback unless you mean otherwise)")
	fs.StringVar(&c.dsn, "pg", "", "PostgreSQL connection string (required; `stampede postgres` prints one of a throwaway server)")
	fs.StringVar(&mode, "mode", string(ModeCorrect), "how to sell: correct or racy")
	fs.StringVar(&c.schema, "schema", "", "PostgreSQL `schema` for the tables (default ticketservice_<mode>)")
	fs.IntVar(&c.pool, "pool", 32, "PostgreSQL connections at most")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: ticketservice -pg DSN [-mode correct|racy] [-addr HOST:PORT] [-schema NAME] [-pool N]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, usageError{err}
	}
	if fs.NArg() > 0 {
		return c, usagef("unexpected argument %q (every setting is a flag; see -h)", fs.Arg(0))
	}
	switch c.mode = Mode(mode); c.mode {
	case ModeCorrect, ModeRacy:
	default:
		return c, usagef("-mode %q: accepted values are correct and racy", mode)
	}
	if c.dsn == "" {
		return c, usagef("-pg DSN is required: a PostgreSQL connection string such as postgres://user@127.0.0.1:5432/db (stampede postgres prints one)")
	}
	if c.schema == "" {
		c.schema = "ticketservice_" + string(c.mode)
	}
	if !identifier.MatchString(c.schema) {
		return c, usagef("-schema %q: a lower-case SQL identifier is accepted (letters, digits, _)", c.schema)
	}
	if c.pool < 1 {
		return c, usagef("-pool %d: at least 1 connection", c.pool)
	}
	if _, _, err := net.SplitHostPort(c.addr); err != nil {
		return c, usagef("-addr %q: HOST:PORT is accepted (%v)", c.addr, err)
	}
	return c, nil
}

// run serves until ctx is done, then shuts down gracefully.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	pc, err := pgxpool.ParseConfig(c.dsn)
	if err != nil {
		return usagef("-pg: %v", redact.DSNInError(err, c.dsn))
	}
	pc.MaxConns = int32(c.pool)
	s, err := openStore(ctx, pc, c.mode, c.schema)
	if err != nil {
		// pgx puts each address tried on a line of its own.
		msg := strings.NewReplacer(":\n\t", ": ", "\n\t", "; ").Replace(redact.DSNInError(err, c.dsn).Error())
		return fmt.Errorf("PostgreSQL at %s: %s", redact.DSN(c.dsn), msg)
	}
	defer s.close()

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           newHandler(s, stderr),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "%s listening on http://%s (schema %s)\n", s.info.Design, ln.Addr(), c.schema)

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	// Answer the buys in flight, then close the pool (deferred).
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	fmt.Fprintln(stdout, "stopped")
	return nil
}
