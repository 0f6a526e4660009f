package main

import (
	"bytes"
	"io"
	"strings"

	"github.com/stampede-bench/stampede/targets/embedded"
)

// scrubber replaces secrets (a -pg password) in everything the command
// writes, whoever built the text: stampede, a driver or a server.
type scrubber struct{ r *strings.Replacer }

func newScrubber(secrets []string) scrubber {
	var pairs []string
	for _, s := range secrets {
		if s != "" {
			pairs = append(pairs, s, embedded.Redacted)
		}
	}
	if len(pairs) == 0 {
		return scrubber{}
	}
	return scrubber{strings.NewReplacer(pairs...)}
}

func (s scrubber) String(t string) string {
	if s.r == nil {
		return t
	}
	return s.r.Replace(t)
}

func (s scrubber) bytes(b []byte) []byte {
	if s.r == nil {
		return b
	}
	return []byte(s.r.Replace(string(b)))
}

// writer returns w with secrets scrubbed from each write. Each write is
// scrubbed whole, and stampede writes whole lines.
func (s scrubber) writer(w io.Writer) io.Writer {
	if s.r == nil {
		return w
	}
	return scrubWriter{s, w}
}

type scrubWriter struct {
	s scrubber
	w io.Writer
}

func (sw scrubWriter) Write(p []byte) (int, error) {
	if _, err := sw.w.Write(sw.s.bytes(bytes.Clone(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
