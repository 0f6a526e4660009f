package embedded

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/stampede-bench/stampede/targets"
)

// Env hands designs their servers: the ones the user named, or embedded
// ones started on first use. One Env serves a whole program run, so every
// design of a run shares one embedded server; Close stops it. Env is safe
// for concurrent use.
type Env struct {
	// PostgresDSN names a PostgreSQL server to use; empty means embedded.
	PostgresDSN string
	// PostgresOptions tunes the embedded server.
	PostgresOptions PostgresOptions

	// NATSURL names a NATS server (or cluster) to use; empty means
	// embedded.
	NATSURL string

	mu     sync.Mutex
	pg     *Postgres
	nats   map[targets.NATSOptions]*NATS
	closed bool
}

// NATS returns the user's URL, or starts the embedded servers that opt
// asks for on first use (one set per distinct opt) and returns their URLs.
func (e *Env) NATS(ctx context.Context, opt targets.NATSOptions) (string, error) {
	if e.NATSURL != "" {
		return e.NATSURL, nil
	}
	opt.Servers = max(opt.Servers, 1)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return "", ErrClosed
	}
	if ns, ok := e.nats[opt]; ok {
		return ns.URL, nil
	}
	ns, err := StartNATS(ctx, opt)
	if err != nil {
		return "", err
	}
	if e.nats == nil {
		e.nats = map[targets.NATSOptions]*NATS{}
	}
	e.nats[opt] = ns
	return ns.URL, nil
}

var _ targets.Backends = (*Env)(nil)

// ErrClosed is returned for servers asked of a closed Env.
var ErrClosed = errors.New("embedded: environment closed")

// Postgres returns the DSN of the user's server, or starts the embedded
// server on first use and returns its DSN.
func (e *Env) Postgres(ctx context.Context) (string, error) {
	if e.PostgresDSN != "" {
		return e.PostgresDSN, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return "", ErrClosed
	}
	if e.pg == nil {
		pg, err := StartPostgres(ctx, e.PostgresOptions)
		if err != nil {
			return "", err
		}
		e.pg = pg
	}
	return e.pg.DSN, nil
}

// Close stops every embedded server and removes its files. It is safe to
// call more than once.
func (e *Env) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	var errs []error
	if e.pg != nil {
		errs = append(errs, e.pg.Stop())
		e.pg = nil
	}
	for k, ns := range e.nats {
		errs = append(errs, ns.Stop())
		delete(e.nats, k)
	}
	return errors.Join(errs...)
}

// Redacted is what a password is replaced with.
const Redacted = "xxxxx"

var kvPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// RedactDSN returns dsn with its password replaced, in both the URL form
// (postgres://u:secret@h/db) and the key=value form (password=secret).
func RedactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" && u.Host != "" {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), Redacted)
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", Redacted)
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	return kvPassword.ReplaceAllString(dsn, "${1}"+Redacted)
}

// Secrets returns the passwords a connection string holds, for scrubbing
// any text that might echo them (a server's or driver's error, say).
func Secrets(dsn string) []string {
	var out []string
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" && u.Host != "" {
		if p, has := u.User.Password(); has && p != "" {
			out = append(out, p, url.QueryEscape(p), url.PathEscape(p))
		}
		if p := u.Query().Get("password"); p != "" {
			out = append(out, p)
		}
		return dedupe(out)
	}
	for _, m := range kvPassword.FindAllStringSubmatch(dsn, -1) {
		p := strings.Trim(m[2], "'")
		if p != "" {
			out = append(out, p, m[2])
		}
	}
	return dedupe(out)
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	out := s[:0]
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
