package embedded

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestPostgresStartStop(t *testing.T) {
	ctx := context.Background()
	pg, err := StartPostgres(ctx, PostgresOptions{})
	if err != nil {
		t.Fatalf("embedded PostgreSQL could not start (run scripts/setup to install it): %v", err)
	}
	dir, pid := pg.Dir(), pg.cmd.Process.Pid
	conn, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		pg.Stop()
		t.Fatal(err)
	}
	var listen string
	if err := conn.QueryRow(ctx, "SHOW listen_addresses").Scan(&listen); err != nil || listen != "127.0.0.1" {
		t.Errorf("listen_addresses = %q (%v), want 127.0.0.1 only", listen, err)
	}
	conn.Close(ctx)
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the server's directory %s remains (%v)", dir, err)
	}
	if alive(pid) {
		t.Errorf("the server process %d remains", pid)
	}
	if err := pg.Stop(); err != nil {
		t.Errorf("a second Stop: %v", err)
	}
}

func TestEnvSharesOneServer(t *testing.T) {
	ctx := context.Background()
	e := &Env{}
	a, err := e.Postgres(ctx)
	if err != nil {
		t.Fatalf("embedded PostgreSQL could not start (run scripts/setup to install it): %v", err)
	}
	b, _ := e.Postgres(ctx)
	dir := e.pg.Dir()
	if a != b {
		t.Errorf("two servers started: %s, %s", a, b)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Close left %s", dir)
	}
	if _, err := e.Postgres(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("a closed Env started a server: %v", err)
	}
	given := &Env{PostgresDSN: "postgres://u@h/db"}
	if d, _ := given.Postgres(ctx); d != "postgres://u@h/db" {
		t.Errorf("the user's DSN was not used: %s", d)
	}
}
