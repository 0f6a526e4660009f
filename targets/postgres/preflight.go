package postgres

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/redact"
)

// preflightConnectTimeout bounds Preflight's connection when the DSN sets
// no connect_timeout, so that a server that does not answer fails the
// check rather than hangs it.
const preflightConnectTimeout = 10 * time.Second

// Preflight checks, before a run, that the server the Backends name is
// reachable and has room for a design's pool and its AdminConns: the pool
// (option, as "sqlcounter.pool", read from cfg.Options) must fit in
// max_connections less the connections reserved for superusers (and, from
// PostgreSQL 16, for roles with pg_use_reserved_connections) and those
// other clients hold now. An unreachable server fails with the driver's
// cause; a pool too large fails with one line naming the option, the
// server's limit and the pool sizes accepted, wrapping targets.ErrOption.
// Neither holds the DSN. Preflight holds one connection while it checks.
func Preflight(ctx context.Context, cfg targets.Config, option string) error {
	if cfg.Backends == nil {
		return targets.ErrNoBackends
	}
	pool := PoolSize(cfg.Options)
	dsn, err := cfg.Backends.Postgres(ctx)
	if err != nil {
		return err
	}
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("postgres: the DSN does not parse: %w", redact.DSNInError(err, dsn))
	}
	if cc.ConnectTimeout <= 0 {
		cc.ConnectTimeout = preflightConnectTimeout
	}
	cc.RuntimeParams["application_name"] = "stampede preflight"
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return fmt.Errorf("postgres: %w", oneLine{redact.DSNInError(err, dsn)})
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var limit, reserved, inUse int
	if err := conn.QueryRow(ctx, `SELECT current_setting('max_connections')::int,
		current_setting('superuser_reserved_connections')::int + COALESCE(current_setting('reserved_connections', true)::int, 0),
		(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid())::int`).
		Scan(&limit, &reserved, &inUse); err != nil {
		return fmt.Errorf("postgres: reading max_connections: %w", redact.DSNInError(err, dsn))
	}
	room := limit - reserved - inUse - AdminConns
	if pool <= room {
		return nil
	}
	server := fmt.Sprintf("PostgreSQL at %s has max_connections %d (%d reserved for superusers, %d in use, %d for the design's setup and audit)",
		net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port))), limit, reserved, inUse, AdminConns)
	if room < 1 {
		return fmt.Errorf("postgres: no room for a pool of 1: %s", server)
	}
	return fmt.Errorf("-opt %s=%d: %w: %s; accepted: 1 to %d", option, pool, targets.ErrOption, server, room)
}

// oneLine shows an error on one line: pgx lists each address it tried
// (with sslmode=prefer, the same one twice: with TLS, then without) on
// lines of their own; oneLine joins the distinct ones with "; ".
type oneLine struct{ err error }

func (e oneLine) Error() string {
	var out []string
	for _, l := range strings.Split(e.err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	s := strings.Join(out, "; ")
	return strings.Replace(s, ":; ", ": ", 1) // pgx's "failed to connect to ...:" heads the list
}

func (e oneLine) Unwrap() error { return e.err }
