//go:build linux

package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stampede-bench/stampede/bench/evloop"
)

// The event-loop client sends any number of parameters (it once had room
// for 8 and overwrote a ninth) and returns the rows a statement affected,
// read from the command tag.
func TestWireParametersAndRowsAffected(t *testing.T) {
	ctx := context.Background()
	db := open(t, "wire")
	const n = 12
	var cols, params []string
	for i := 1; i <= n; i++ {
		cols = append(cols, fmt.Sprintf("c%d bigint", i))
		params = append(params, fmt.Sprintf("$%d", i))
	}
	if err := db.Exec(ctx, "CREATE TABLE wide ("+strings.Join(cols, ", ")+")"); err != nil {
		t.Fatal(err)
	}
	db.Statements = map[string]string{
		"insert": "INSERT INTO wide VALUES (" + strings.Join(params, ", ") + ")",
		"bump":   "UPDATE wide SET c1 = c1 + 1",
		"many":   "INSERT INTO wide (c1) SELECT g FROM generate_series(1, $1::bigint) g",
	}
	loop, err := evloop.New()
	if err != nil {
		t.Fatal(err)
	}
	defer loop.Close()
	w, err := db.Wire(ctx, loop)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var got []string
	loop.Go(func() {
		args := make([]int64, n)
		for row := range int64(2) {
			for i := range args {
				args[i] = row*1000 + int64(i+1)*(int64(i)+1)*1_000_003 // long values, each different
			}
			r, err := w.Exec(ctx, "insert", args...)
			got = append(got, fmt.Sprintf("insert %d %v", r, err))
		}
		r, err := w.Exec(ctx, "bump")
		got = append(got, fmt.Sprintf("bump %d %v", r, err))
		r, err = w.Exec(ctx, "many", 1234)
		got = append(got, fmt.Sprintf("many %d %v", r, err))
	})
	if err := loop.Run(); err != nil {
		t.Fatal(err)
	}
	if want := "[insert 1 <nil> insert 1 <nil> bump 2 <nil> many 1234 <nil>]"; fmt.Sprint(got) != want {
		t.Errorf("rows affected: %v, want %v", got, want)
	}
	for i := 2; i <= n; i++ { // c1 was bumped
		var lo, hi int64
		q := fmt.Sprintf("SELECT min(c%d), max(c%d) FROM wide WHERE c2 IS NOT NULL", i, i)
		if err := db.Pool.QueryRow(ctx, q).Scan(&lo, &hi); err != nil {
			t.Fatal(err)
		}
		want := int64(i) * int64(i) * 1_000_003
		if lo != want || hi != want+1000 {
			t.Errorf("column c%d holds %d and %d, want %d and %d", i, lo, hi, want, want+1000)
		}
	}
}
