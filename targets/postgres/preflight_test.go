package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/designtest"
	"github.com/stampede-bench/stampede/targets/embedded"
	_ "github.com/stampede-bench/stampede/targets/ledger"
	"github.com/stampede-bench/stampede/targets/postgres"
	_ "github.com/stampede-bench/stampede/targets/sqlcounter"
)

func TestMain(m *testing.M) { designtest.Main(m) }

// dsnBackends names one PostgreSQL server.
type dsnBackends string

func (d dsnBackends) Postgres(context.Context) (string, error) { return string(d), nil }
func (d dsnBackends) NATS(context.Context, targets.NATSOptions) (targets.NATSServer, error) {
	return targets.NATSServer{}, errors.New("no NATS here")
}

// preflight makes design with opts on backends and runs its Preflight.
func preflight(t *testing.T, b targets.Backends, design string, opts ...string) error {
	t.Helper()
	p, ok := designtest.NewOn(t, b, design, opts...).(targets.Preflighter)
	if !ok {
		t.Fatalf("%s has no Preflight", design)
	}
	return p.Preflight(context.Background())
}

// A pool larger than the server has room for is refused before the run,
// in one line naming the option, the server's limit and the sizes
// accepted; a pool that fits passes.
func TestPreflightPoolTooLarge(t *testing.T) {
	ctx := context.Background()
	pg, err := embedded.StartPostgres(ctx, embedded.PostgresOptions{MaxConnections: 20})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	// One connection of the test's own stays open: with no other client,
	// 20 less 3 reserved, 1 in use and the design's 2 leave 14.
	own, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close(ctx)
	b := dsnBackends(pg.DSN)
	for _, c := range []struct {
		design string
		opts   []string
		option string // the option refused, or "" for none
	}{
		{"sqlcounter", nil, "sqlcounter.pool=64"},                          // the default does not fit
		{"ledger-reconcile", []string{"ledger.pool=15"}, "ledger.pool=15"}, // one too many
		{"ledger-reconcile", []string{"ledger.pool=14"}, ""},               // just fits
		{"sqlcounter-noidem", []string{"sqlcounter.pool=1"}, ""},
	} {
		settle(t, own) // the connections of earlier checks have gone
		err := preflight(t, b, c.design, c.opts...)
		if c.option == "" {
			if err != nil {
				t.Errorf("%s %v: %v, want it accepted", c.design, c.opts, err)
			}
			continue
		}
		msg := fmt.Sprint(err)
		t.Logf("%s %v: %s", c.design, c.opts, msg)
		if !errors.Is(err, targets.ErrOption) {
			t.Errorf("%s %v: %v, want an error wrapping targets.ErrOption", c.design, c.opts, err)
		}
		for _, want := range []string{"-opt " + c.option + ":", "max_connections 20", "3 reserved for superusers", "1 in use", "accepted: 1 to 14"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s %v: %q does not say %q", c.design, c.opts, msg, want)
			}
		}
		if strings.Contains(msg, "\n") || strings.Contains(msg, "postgres://") {
			t.Errorf("%s %v: %q is not one line without the DSN", c.design, c.opts, msg)
		}
	}
}

// settle waits until own is the server's only client (a closed
// connection's backend leaves a moment after the client).
func settle(t *testing.T, own *pgx.Conn) {
	t.Helper()
	for range 1000 {
		var others int
		if err := own.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`).Scan(&others); err != nil {
			t.Fatal(err)
		}
		if others == 0 {
			return
		}
		if _, err := own.Exec(context.Background(), "SELECT pg_sleep(0.01)"); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("other clients stay connected")
}

// An unreachable server fails the check with the driver's cause, without
// the DSN or its password.
func TestPreflightUnreachable(t *testing.T) {
	const secret = "SuperSecret123"
	// Without sslmode, pgx tries TLS first, then without: two attempts,
	// one cause.
	for _, dsn := range []string{"postgres://stampede:" + secret + "@127.0.0.1:1/postgres?sslmode=disable", "postgres://stampede:" + secret + "@127.0.0.1:1/postgres"} {
		err := preflight(t, dsnBackends(dsn), "ledger")
		msg := fmt.Sprint(err)
		t.Log(msg)
		if err == nil || errors.Is(err, targets.ErrOption) {
			t.Fatalf("Preflight: %v, want a connection error", err)
		}
		if !strings.Contains(msg, "127.0.0.1:1") || strings.Count(msg, "connection refused") != 1 {
			t.Errorf("%q does not give the cause (connection refused at 127.0.0.1:1) once", msg)
		}
		if strings.Contains(msg, secret) || strings.Contains(msg, "postgres://") || strings.Contains(msg, "\n") {
			t.Errorf("%q is not one line without the DSN and its password", msg)
		}
	}
}

// The default pool fits the embedded server with room to spare, and a
// pool of 0 is refused.
func TestPreflightEmbeddedDefault(t *testing.T) {
	for _, design := range []string{"sqlcounter", "ledger"} {
		if err := preflight(t, designtest.Env, design); err != nil {
			t.Errorf("%s with the default pool on the embedded server: %v", design, err)
		}
		if err := preflight(t, designtest.Env, design, design+".pool=500"); err != nil {
			t.Errorf("%s with a pool of 500 on the embedded server: %v", design, err)
		}
		if _, _, err := targets.Resolve([]string{design}, []string{design + ".pool=0"}); err == nil ||
			!strings.Contains(err.Error(), "-opt "+design+".pool=0:") || !strings.Contains(err.Error(), "1 or more") {
			t.Errorf("%s with a pool of 0: %v, want it refused with the option, naming what is accepted", design, err)
		}
	}
	if postgres.DefaultPool+postgres.AdminConns > embedded.DefaultMaxConnections/2 {
		t.Errorf("the embedded server's %d connections leave little room for pools of %d", embedded.DefaultMaxConnections, postgres.DefaultPool)
	}
}
