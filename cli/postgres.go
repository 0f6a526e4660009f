package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/stampede-bench/stampede/targets/embedded"
)

const postgresSynopsis = `postgres [-for DURATION]

Starts the embedded PostgreSQL that runs use by default (a throwaway server
on 127.0.0.1 and a free port), prints its DSN, and keeps it up until Ctrl-C
or -for has passed; then stops it and removes its files. Point several runs
at one server with 'stampede run -pg DSN', or look at a design's tables
with psql (schema stampede_<design>).`

func postgresCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("postgres", postgresSynopsis, stdout)
	lifetime := fs.Duration("for", time.Hour, "stop the server after this long")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *lifetime <= 0 {
		return usagef("postgres: -for must be above 0s (got %s)", *lifetime)
	}
	pg, err := embedded.StartPostgres(ctx, embedded.PostgresOptions{})
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer pg.Stop()
	fmt.Fprintln(stdout, pg.DSN)
	select {
	case <-ctx.Done():
	case <-time.After(*lifetime):
	}
	return nil
}
