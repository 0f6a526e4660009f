// Package redact hides the secrets of connection strings where stampede
// prints them: the password of a PostgreSQL DSN (URL or key=value form) and
// the password or token of a NATS URL. It parses the string and replaces the
// secret's own characters with Mask, leaving every other character as it
// was; it never searches text for the secret, which would mangle any output
// that happens to contain the same characters. Its functions are safe for
// concurrent use.
package redact

import "strings"

// Mask is what a secret is replaced with.
const Mask = "xxxxx"

// DSN returns a PostgreSQL connection string with its password replaced by
// Mask: in the URL form (scheme://user:password@host/db, and a password=
// query parameter) and in the key=value form (password=secret,
// password='s e c r e t'). A string of neither form is returned as it is.
func DSN(dsn string) string {
	if isURL(dsn) {
		return redactURL(dsn, false)
	}
	return redactKeywordValue(dsn)
}

// URLs returns a comma-separated list of URLs (NATS servers) with each
// one's password replaced by Mask, and a user given without a password,
// which NATS reads as a token, replaced as well.
func URLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		parts[i] = redactURL(p, true)
	}
	return strings.Join(parts, ",")
}

// Secrets returns the secrets that DSN (nats false) or URLs (nats true)
// would mask, for tests and checks that look for them in output.
func Secrets(s string, nats bool) []string {
	var out []string
	add := func(p string, spans []span) {
		for _, sp := range spans {
			if sp.to > sp.from {
				out = append(out, p[sp.from:sp.to])
			}
		}
	}
	switch {
	case nats:
		for _, p := range strings.Split(s, ",") {
			add(p, urlSecrets(p, true))
		}
	case isURL(s):
		add(s, urlSecrets(s, false))
	default:
		add(s, keywordValueSecrets(s))
	}
	return out
}

type span struct{ from, to int }

func isURL(s string) bool { return strings.Contains(strings.TrimSpace(s), "://") }

// replace returns s with each span (in order, not overlapping) replaced by
// Mask.
func replace(s string, spans []span) string {
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		if sp.to <= sp.from {
			continue
		}
		b.WriteString(s[last:sp.from])
		b.WriteString(Mask)
		last = sp.to
	}
	b.WriteString(s[last:])
	return b.String()
}

func redactURL(u string, token bool) string { return replace(u, urlSecrets(u, token)) }

// urlSecrets finds the secrets of scheme://[user[:password]@]host[/path][?query]
// by its structure alone, so that a URL that net/url refuses (a bad port)
// is redacted all the same: the password in the user info, the user itself
// when token is set and there is no password, and the value of a password
// query parameter.
func urlSecrets(u string, token bool) []span {
	i := strings.Index(u, "://")
	if i < 0 {
		return nil
	}
	start := i + 3
	end := len(u)
	if j := strings.IndexAny(u[start:], "/?#"); j >= 0 {
		end = start + j
	}
	var spans []span
	if at := strings.LastIndexByte(u[start:end], '@'); at >= 0 {
		info := u[start : start+at]
		if c := strings.IndexByte(info, ':'); c >= 0 {
			spans = append(spans, span{start + c + 1, start + at})
		} else if token {
			spans = append(spans, span{start, start + at})
		}
	}
	if q := strings.IndexByte(u[end:], '?'); q >= 0 {
		qs := end + q + 1
		qe := len(u)
		if h := strings.IndexByte(u[qs:], '#'); h >= 0 {
			qe = qs + h
		}
		for pos := qs; pos < qe; {
			amp := strings.IndexByte(u[pos:qe], '&')
			pe := qe
			if amp >= 0 {
				pe = pos + amp
			}
			if k, _, ok := strings.Cut(u[pos:pe], "="); ok && strings.EqualFold(k, "password") {
				spans = append(spans, span{pos + len(k) + 1, pe})
			}
			pos = pe + 1
		}
	}
	return spans
}

func redactKeywordValue(s string) string { return replace(s, keywordValueSecrets(s)) }

// keywordValueSecrets finds the values of password keywords in libpq's
// key=value form: keys and values separated by '=' with optional spaces,
// values bare or in single quotes with backslash escapes.
func keywordValueSecrets(s string) []span {
	var spans []span
	i := 0
	skip := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
	}
	for {
		skip()
		if i >= len(s) {
			return spans
		}
		ks := i
		for i < len(s) && s[i] != '=' && s[i] != ' ' && s[i] != '\t' {
			i++
		}
		key := s[ks:i]
		skip()
		if i >= len(s) || s[i] != '=' {
			return spans // not key=value: nothing more can be told apart
		}
		i++
		skip()
		vs, ve := i, i
		if i < len(s) && s[i] == '\'' {
			i++
			vs = i
			for i < len(s) && s[i] != '\'' {
				if s[i] == '\\' {
					i++
				}
				i++
			}
			ve = min(i, len(s))
			i++
		} else {
			for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' {
				if s[i] == '\\' {
					i++
				}
				i++
			}
			ve = min(i, len(s))
		}
		if key == "password" {
			spans = append(spans, span{vs, ve})
		}
	}
}

// DSNInError returns err with each copy of the whole of dsn in its message
// shown as DSN(dsn), as a driver that quotes the connection string it was
// given needs; the error chain is kept (errors.Is and errors.As see err).
// An error that does not quote dsn is returned as it is.
func DSNInError(err error, dsn string) error {
	if err == nil || dsn == "" || !strings.Contains(err.Error(), dsn) {
		return err
	}
	return &maskedError{msg: strings.ReplaceAll(err.Error(), dsn, DSN(dsn)), err: err}
}

type maskedError struct {
	msg string
	err error
}

func (e *maskedError) Error() string { return e.msg }
func (e *maskedError) Unwrap() error { return e.err }
