package embedded

import (
	"context"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
)

// The embedded server has room for the designs' pools: max_connections is
// DefaultMaxConnections unless asked otherwise.
func TestPostgresMaxConnections(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct{ asked, want int }{{0, DefaultMaxConnections}, {20, 20}} {
		pg, err := StartPostgres(ctx, PostgresOptions{MaxConnections: c.asked})
		if err != nil {
			t.Fatal(err)
		}
		conn, err := pgx.Connect(ctx, pg.DSN)
		if err != nil {
			pg.Stop()
			t.Fatal(err)
		}
		var got string
		err = conn.QueryRow(ctx, "SHOW max_connections").Scan(&got)
		conn.Close(ctx)
		if err := pg.Stop(); err != nil {
			t.Error(err)
		}
		if err != nil || got != strconv.Itoa(c.want) {
			t.Errorf("MaxConnections %d: max_connections %q (%v), want %d", c.asked, got, err, c.want)
		}
	}
}
