package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		schema string // want, when no error
		err    string // part of the usage error, "" for none
	}{
		// the schema follows the mode, so two modes share a server
		{[]string{"-pg", "postgres://x@h/db"}, "ticketservice_correct", ""},
		{[]string{"-pg", "postgres://x@h/db", "-mode", "racy"}, "ticketservice_racy", ""},
		{[]string{"-pg", "postgres://x@h/db", "-schema", "mine"}, "mine", ""},
		// -pg is required; a bad mode names the accepted values
		{[]string{"-mode", "racy"}, "", "-pg DSN is required"},
		{[]string{"-pg", "x", "-mode", "fast"}, "", `-mode "fast": accepted values are correct and racy`},
		{[]string{"-pg", "x", "-schema", "Drop Table"}, "", "-schema"},
		{[]string{"-pg", "x", "-pool", "0"}, "", "-pool"},
		{[]string{"-pg", "x", "-addr", "8080"}, "", "-addr"},
		{[]string{"-pg", "x", "extra"}, "", "unexpected argument"},
		{[]string{"-nope"}, "", "not defined"},
	} {
		c, err := parseFlags(tc.args, io.Discard)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case tc.err == "" && c.schema != tc.schema:
			t.Errorf("%q: schema %q, want %q", tc.args, c.schema, tc.schema)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want one containing %q", tc.args, err, tc.err)
		case tc.err != "" && !errors.As(err, new(usageError)):
			t.Errorf("%q: %v is not a usage error (exit 2)", tc.args, err)
		}
	}
}

// A DSN that does not parse is a usage error, its password masked.
func TestBadDSN(t *testing.T) {
	err := run(context.Background(), []string{"-pg", "postgres://u:secret@[::1"}, io.Discard, io.Discard)
	if !errors.As(err, new(usageError)) {
		t.Fatalf("run: %v, want a usage error", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("the password is shown: %v", err)
	}
}
