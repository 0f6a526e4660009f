package redact

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestDSN(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		// The password goes, every other character stays, even where
		// the password's characters appear elsewhere.
		{"postgres://postgres:postgres@127.0.0.1:5432/postgres", "postgres://postgres:xxxxx@127.0.0.1:5432/postgres"},
		{"postgres://u:e@db.internal/shop?sslmode=disable", "postgres://u:xxxxx@db.internal/shop?sslmode=disable"},
		{"postgresql://u:1@127.0.0.1:5432/db1", "postgresql://u:xxxxx@127.0.0.1:5432/db1"},
		// A URL net/url refuses (a bad port) is redacted by its structure.
		{"postgres://stampede:pw@127.0.0.1:notaport/x", "postgres://stampede:xxxxx@127.0.0.1:notaport/x"},
		{"mysql://u:p@h/x", "mysql://u:xxxxx@h/x"},
		// A password with an @ of its own (unescaped): the last @ ends it.
		{"postgres://u:p@ss@h/x", "postgres://u:xxxxx@h/x"},
		{"postgres://h/db?user=u&password=s3cret&sslmode=disable", "postgres://h/db?user=u&password=xxxxx&sslmode=disable"},
		{"postgres://u@h/db", "postgres://u@h/db"}, // no password, nothing to hide
		{"postgres://bob:s3cr%40t@db.example:5432/app?sslmode=disable", "postgres://bob:xxxxx@db.example:5432/app?sslmode=disable"},
		{"host=127.0.0.1 user=u password=e dbname=e", "host=127.0.0.1 user=u password=xxxxx dbname=e"},
		{"host=h password = 'a b\\' c' port=5", "host=h password = 'xxxxx' port=5"},
		{"password=", "password="},
		{"host=h", "host=h"},
	} {
		if got := DSN(c.in); got != c.want {
			t.Errorf("DSN(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestURLs(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"nats://alice:pw-one@127.0.0.1:4222, nats://s3cr3t-token@127.0.0.1:4223,nats://127.0.0.1:4224",
			"nats://alice:xxxxx@127.0.0.1:4222, nats://xxxxx@127.0.0.1:4223,nats://127.0.0.1:4224"},
		{"nats://u:nats@nats:4222", "nats://u:xxxxx@nats:4222"},
		{"127.0.0.1:4222", "127.0.0.1:4222"},
	} {
		if got := URLs(c.in); got != c.want {
			t.Errorf("URLs(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSecrets(t *testing.T) {
	got := Secrets("nats://alice:pw-one@127.0.0.1:4222,nats://tok@127.0.0.1:4223", true)
	if !slices.Equal(got, []string{"pw-one", "tok"}) {
		t.Errorf("NATS secrets %q", got)
	}
	got = Secrets("host=h password='a b'", false)
	if !slices.Equal(got, []string{"a b"}) {
		t.Errorf("DSN secrets %q", got)
	}
}

// FuzzDSN: whatever the input, redaction only ever replaces the secrets it
// finds, and none of them is left.
func FuzzDSN(f *testing.F) {
	for _, s := range []string{"postgres://u:p@h:1/d?password=q", "host=h password='x y'", "a=b", "://@", "password='"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := DSN(s)
		secrets := Secrets(s, false)
		if len(secrets) == 0 && out != s {
			t.Fatalf("DSN(%q) = %q: changed a string with no secret", s, out)
		}
		if len(secrets) > 0 && !strings.Contains(out, Mask) {
			t.Fatalf("DSN(%q) = %q: secrets %q found but none masked", s, out, secrets)
		}
	})
}

// FuzzURLs: a NATS URL list with a password or token comes back with it
// masked, and one without comes back unchanged.
func FuzzURLs(f *testing.F) {
	for _, s := range []string{"nats://u:p@h:4222", "nats://token@h", "nats://h:1,nats://a:b@h:2", "tls://u:@h", "::,@", "nats://u:p@[::1]:4222/x?y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := URLs(s)
		secrets := Secrets(s, true)
		if len(secrets) == 0 && out != s {
			t.Fatalf("URLs(%q) = %q: changed a list with no secret", s, out)
		}
		if len(secrets) > 0 && !strings.Contains(out, Mask) {
			t.Fatalf("URLs(%q) = %q: secrets %q found but none masked", s, out, secrets)
		}
	})
}

// A driver's error that quotes the DSN shows it masked, and keeps its
// chain.
func TestDSNInError(t *testing.T) {
	dsn := "postgres://shop:SuperSecret123@127.0.0.1:5/x"
	base := errors.New("dial")
	err := DSNInError(fmt.Errorf("cannot connect to `%s`: %w", dsn, base), dsn)
	if strings.Contains(err.Error(), "SuperSecret123") || !strings.Contains(err.Error(), "shop:"+Mask+"@127.0.0.1:5/x") {
		t.Errorf("message %q", err)
	}
	if !errors.Is(err, base) {
		t.Error("the error chain is lost")
	}
	other := errors.New("no DSN here")
	if DSNInError(other, dsn) != other || DSNInError(nil, dsn) != nil {
		t.Error("an error without the DSN was changed")
	}
}
