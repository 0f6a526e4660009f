package http

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stampede-bench/stampede/targets"
)

// maxBody bounds a buy's answer; a longer one is malformed.
const maxBody = 64 << 10

// dialTimeout bounds a connection attempt when the buy has no deadline.
const dialTimeout = 5 * time.Second

// client is one worker's way to the service: one keep-alive HTTP/1.1
// connection, dialed on the first buy and again after a failure, and
// buffers reused from buy to buy.
type client struct {
	b  base
	mu sync.Mutex // guards conn against the interrupt's AfterFunc
	// conn is the connection; reused says it served an answer before, so
	// the server may have closed it while idle.
	conn   net.Conn
	br     *bufio.Reader
	reused bool
	// interrupted is set, before the connection's deadline is moved to
	// the past, when the run's context ends.
	interrupted atomic.Bool
	stop        func() bool
	out         []byte // the request being written
	order       []byte // its body
	body        []byte // the answer's body
	// twoPhase: the service offers the two-phase capability; a buy may be
	// accepted, and its final outcome is then asked for.
	twoPhase bool
}

func newClient(ctx context.Context, b base) *client {
	c := &client{b: b, out: make([]byte, 0, 512), order: make([]byte, 0, 128), body: make([]byte, 0, 512)}
	c.stop = context.AfterFunc(ctx, c.interrupt)
	return c
}

// interrupt ends the buy waiting for its answer, if any, and every later
// one.
func (c *client) interrupt() {
	c.interrupted.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.SetDeadline(time.Unix(1, 0))
	}
}

// Errors of buys that are data, not failures of the run.
var (
	errInterrupted = errors.New("http: the run was interrupted")
	errNoAnswer    = errors.New("http: connection closed before an answer")
)

// Buy sends one attempt and reads its answer (see docs/protocol.md for
// how an answer is read). An attempt that could not be sent (no
// connection) is a definite error; one that was sent and got no readable
// answer is unknown.
func (c *client) Buy(ctx context.Context, o targets.Order) targets.Reply {
	c.request(o)
	sent := time.Now()
	status, err := c.roundTrip(ctx)
	switch {
	case errors.Is(err, errNotSent):
		return targets.Reply{Outcome: targets.Error, Err: err}
	case err != nil:
		return targets.Reply{Outcome: targets.Unknown, Err: err}
	}
	if c.twoPhase && status == 202 {
		if f, ok := scanObject(c.body); ok && string(f.outcome) == "accepted" {
			return c.awaitFinal(ctx, o.ID, time.Since(sent))
		}
	}
	return classify(status, c.body)
}

// Bounds of the wait between two asks for a final outcome.
const (
	firstAsk = time.Millisecond
	maxAsk   = 10 * time.Millisecond
)

// awaitFinal asks for the final outcome of order id, accepted after
// accepted, until it is decided or ctx's deadline passes (then unknown,
// accepted all the same).
func (c *client) awaitFinal(ctx context.Context, id targets.OrderID, accepted time.Duration) targets.Reply {
	r := append(c.out[:0], "GET "...)
	r = append(r, c.b.prefix...)
	r = append(r, PathTwoPhaseOrders...)
	r = strconv.AppendUint(r, uint64(id), 10)
	r = append(r, " HTTP/1.1\r\nHost: "...)
	r = append(r, c.b.header...)
	r = append(r, "\r\nStampede-Capabilities: two-phase\r\n\r\n"...)
	c.out = r
	for gap := firstAsk; ; gap = min(2*gap, maxAsk) {
		if d, ok := ctx.Deadline(); ok && time.Until(d) < gap {
			time.Sleep(max(time.Until(d), 0))
			return targets.Reply{Outcome: targets.Unknown, Err: errUndecided, Accepted: accepted}
		}
		time.Sleep(gap)
		status, err := c.roundTrip(ctx)
		if err != nil {
			return targets.Reply{Outcome: targets.Unknown, Err: err, Accepted: accepted}
		}
		if f, ok := scanObject(c.body); status == 200 && ok && string(f.outcome) == "pending" {
			continue
		}
		rep := classify(status, c.body)
		rep.Accepted = accepted
		return rep
	}
}

// errUndecided is the Err of an order accepted and not decided before its
// buyer gave up.
var errUndecided = errors.New("http: accepted, not decided before the deadline")

// errNotSent marks a request that never left: no connection.
var errNotSent = errors.New("http: not sent")

// roundTrip sends c.out and reads the answer into c.body. An error
// wrapping errNotSent means nothing was sent; any other, that the answer
// did not come.
func (c *client) roundTrip(ctx context.Context) (int, error) {
	deadline, hasDeadline := ctx.Deadline()
	if !hasDeadline {
		// No timeout: only ctx's end can stop the wait, so watch it (this
		// allocates; a scenario with a timeout never comes here).
		stop := context.AfterFunc(ctx, c.interrupt)
		defer stop()
	}
	for try := 0; ; try++ {
		fresh := c.conn == nil
		if fresh {
			if err := c.dial(deadline); err != nil {
				return 0, err
			}
		}
		if err := c.conn.SetDeadline(deadline); err != nil {
			c.drop()
			return 0, fmt.Errorf("%w: %w", errNotSent, err)
		}
		if c.interrupted.Load() {
			return 0, errInterrupted
		}
		n, err := c.conn.Write(c.out)
		if err != nil {
			c.drop()
			if n == 0 && !fresh && try == 0 {
				continue // the idle connection was gone: nothing was sent
			}
			if n == 0 {
				return 0, fmt.Errorf("%w: %w", errNotSent, err)
			}
			return 0, c.unknown(ctx, err)
		}
		status, keep, err := c.readAnswer()
		if err != nil {
			c.drop()
			// A reused connection closed before a byte of answer: the
			// server had closed it while idle, as net/http also assumes
			// for a request with an Idempotency-Key, and retries.
			if errors.Is(err, errNoAnswer) && !fresh && try == 0 {
				continue
			}
			return 0, c.unknown(ctx, err)
		}
		c.reused = true
		if !keep {
			c.drop()
		}
		return status, nil
	}
}

// readClient is a client of a service that offers the read capability:
// a buyer's "my orders" (targets.Reader).
type readClient struct{ *client }

var _ targets.Reader = readClient{}

// Shows asks the service's read side whether it shows order id: GET
// /stampede/v1/read/orders/{id}, answered {"shows": true|false}.
func (c readClient) Shows(ctx context.Context, id targets.OrderID) (bool, error) {
	r := append(c.out[:0], "GET "...)
	r = append(r, c.b.prefix...)
	r = append(r, PathReadOrders...)
	r = strconv.AppendUint(r, uint64(id), 10)
	r = append(r, " HTTP/1.1\r\nHost: "...)
	r = append(r, c.b.header...)
	r = append(r, "\r\nStampede-Capabilities: read\r\n\r\n"...)
	c.out = r
	status, err := c.roundTrip(ctx)
	if err != nil {
		return false, err
	}
	f, ok := scanObject(c.body)
	if status != 200 || !ok || (f.shows != "true" && f.shows != "false") {
		return false, fmt.Errorf("http: read: status %d, not {\"shows\": true|false}: %s", status, excerpt(c.body))
	}
	return f.shows == "true", nil
}

// unknown is the error of a request sent whose answer did not come.
func (c *client) unknown(ctx context.Context, err error) error {
	if c.interrupted.Load() {
		err = errInterrupted
	} else if ctx.Err() != nil {
		err = ctx.Err()
	}
	return err
}

// request formats o's request into c.out.
func (c *client) request(o targets.Order) {
	b := append(c.order[:0], `{"order":`...)
	b = strconv.AppendUint(b, uint64(o.ID), 10)
	b = append(b, `,"product":`...)
	b = strconv.AppendInt(b, int64(o.Product), 10)
	b = append(b, `,"quantity":`...)
	b = strconv.AppendInt(b, o.Quantity, 10)
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(o.Attempt), 10)
	b = append(b, '}')
	c.order = b

	r := append(c.out[:0], "POST "...)
	r = append(r, c.b.prefix...)
	r = append(r, PathBuy...)
	r = append(r, " HTTP/1.1\r\nHost: "...)
	r = append(r, c.b.header...)
	if c.twoPhase {
		r = append(r, "\r\nStampede-Capabilities: two-phase"...)
	}
	r = append(r, "\r\nContent-Type: application/json\r\nIdempotency-Key: o-"...)
	r = strconv.AppendUint(r, uint64(o.ID), 10)
	r = append(r, "\r\nContent-Length: "...)
	r = strconv.AppendInt(r, int64(len(b)), 10)
	r = append(r, "\r\n\r\n"...)
	c.out = append(r, b...)
}

// dial connects, within the buy's deadline.
func (c *client) dial(deadline time.Time) error {
	d := net.Dialer{Timeout: dialTimeout, Deadline: deadline}
	conn, err := d.Dial("tcp", c.b.host)
	if err != nil {
		return fmt.Errorf("%w: %w", errNotSent, err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	c.mu.Lock()
	c.conn, c.reused = conn, false
	c.mu.Unlock()
	if c.interrupted.Load() {
		conn.SetDeadline(time.Unix(1, 0))
	}
	if c.br == nil {
		c.br = bufio.NewReaderSize(conn, 4096)
	} else {
		c.br.Reset(conn)
	}
	return nil
}

// drop closes the connection; the next buy dials again.
func (c *client) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// Close closes the connection.
func (c *client) Close() error {
	c.stop()
	c.drop()
	return nil
}

// readAnswer reads one HTTP/1.x response into c.body: its status, and
// whether the connection may serve another request.
func (c *client) readAnswer() (status int, keep bool, err error) {
	for {
		line, err := c.line()
		if err != nil {
			if errors.Is(err, io.EOF) && len(line) == 0 {
				return 0, false, errNoAnswer
			}
			return 0, false, err
		}
		// HTTP/1.1 200 OK
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
			return 0, false, fmt.Errorf("http: not an HTTP/1.x answer: %q", trimLine(line))
		}
		keep = line[7] == '1'
		status, ok := digits(line[9:12])
		if !ok || status < 100 {
			return 0, false, fmt.Errorf("http: malformed status line %q", trimLine(line))
		}
		length, chunked := int64(-1), false
		for {
			h, err := c.line()
			if err != nil {
				return 0, false, err
			}
			if len(h) <= 2 { // the blank line ends the headers
				break
			}
			name, value, ok := bytes.Cut(trimLine(h), []byte(":"))
			if !ok {
				return 0, false, fmt.Errorf("http: malformed header %q", trimLine(h))
			}
			value = bytes.TrimSpace(value)
			switch {
			case asciiEqualFold(name, "content-length"):
				n, ok := digits(value)
				if !ok {
					return 0, false, fmt.Errorf("http: malformed Content-Length %q", value)
				}
				length = int64(n)
			case asciiEqualFold(name, "transfer-encoding"):
				chunked = asciiEqualFold(value, "chunked")
			case asciiEqualFold(name, "connection"):
				if asciiEqualFold(value, "close") {
					keep = false
				} else if asciiEqualFold(value, "keep-alive") {
					keep = true
				}
			}
		}
		if status >= 100 && status < 200 {
			continue // 100 Continue and the like: the answer follows
		}
		c.body = c.body[:0]
		switch {
		case chunked:
			err = c.readChunked()
		case length >= 0:
			err = c.readN(length)
		default: // the body runs to the connection's end
			keep = false
			err = c.readToEOF()
		}
		return status, keep, err
	}
}

// line reads one line, its CRLF included; it is valid until the next read.
func (c *client) line() ([]byte, error) {
	b, err := c.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, errors.New("http: a header line longer than 4 KB")
	}
	return b, err
}

func (c *client) readN(n int64) error {
	if n > maxBody {
		return fmt.Errorf("http: an answer of %d bytes, more than the %d a buy's answer may have", n, maxBody)
	}
	start := len(c.body)
	c.body = append(c.body, make([]byte, n)...)[:start+int(n)] // grows only until the buffer is large enough
	_, err := io.ReadFull(c.br, c.body[start:])
	return err
}

func (c *client) readChunked() error {
	for {
		h, err := c.line()
		if err != nil {
			return err
		}
		size := trimLine(h)
		if i := bytes.IndexByte(size, ';'); i >= 0 {
			size = size[:i]
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("http: malformed chunk size %q", trimLine(h))
		}
		if n == 0 {
			for { // trailers, up to the blank line
				t, err := c.line()
				if err != nil {
					return err
				}
				if len(t) <= 2 {
					return nil
				}
			}
		}
		if int64(len(c.body))+n > maxBody {
			return fmt.Errorf("http: an answer longer than the %d bytes a buy's answer may have", maxBody)
		}
		if err := c.readN(n); err != nil {
			return err
		}
		if crlf, err := c.line(); err != nil || len(trimLine(crlf)) != 0 {
			return errors.New("http: malformed chunk end")
		}
	}
}

func (c *client) readToEOF() error {
	for len(c.body) <= maxBody {
		if len(c.body) == cap(c.body) {
			c.body = append(c.body, 0)[:len(c.body)]
		}
		n, err := c.br.Read(c.body[len(c.body):cap(c.body)])
		c.body = c.body[:len(c.body)+n]
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return fmt.Errorf("http: an answer longer than the %d bytes a buy's answer may have", maxBody)
}

// digits reads a decimal number of at most 9 digits.
func digits(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func trimLine(b []byte) []byte { return bytes.TrimRight(b, "\r\n") }

// asciiEqualFold reports whether b equals s (lower case) regardless of
// ASCII case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// Errors of definite and unknown answers without a reason of their own.
var (
	errRejected   = errors.New("rejected by the service")
	errNotApplied = errors.New("not applied, says the service")
)

// classify reads a buy's answer as docs/protocol.md says: 200 with an
// outcome of confirmed, sold_out or rejected; any status with "applied":
// false is a definite failure; anything else leaves the outcome unknown.
func classify(status int, body []byte) targets.Reply {
	f, ok := scanObject(body)
	if !ok {
		return targets.Reply{Outcome: targets.Unknown, Err: fmt.Errorf("http: status %d, an answer that is not a JSON object: %s", status, excerpt(body))}
	}
	if f.applied == "false" {
		return targets.Reply{Outcome: targets.Error, Err: withReason(errNotApplied, f.reason)}
	}
	if status == 200 {
		switch string(f.outcome) { // no allocation: compared in place
		case "confirmed":
			return targets.Reply{Outcome: targets.Confirmed}
		case "sold_out":
			return targets.Reply{Outcome: targets.SoldOut}
		case "rejected":
			return targets.Reply{Outcome: targets.Rejected, Err: withReason(errRejected, f.reason)}
		}
		if f.outcome == nil {
			return targets.Reply{Outcome: targets.Unknown, Err: fmt.Errorf("http: status 200 without an outcome: %s", excerpt(body))}
		}
		return targets.Reply{Outcome: targets.Unknown, Err: fmt.Errorf("http: status 200, outcome %q is not confirmed, sold_out or rejected", f.outcome)}
	}
	return targets.Reply{Outcome: targets.Unknown, Err: fmt.Errorf("http: status %d: %s", status, excerpt(body))}
}

func withReason(err error, reason []byte) error {
	if len(reason) == 0 {
		return err
	}
	return fmt.Errorf("%w: %s", err, reason)
}

// fields are the members of an answer stampede reads: raw string contents
// (escapes left as they are), and applied's literal.
type fields struct {
	outcome, reason []byte
	applied, shows  string
}

// scanObject reads the top-level members of a JSON object without
// allocating; it reports false when b is not one JSON object.
func scanObject(b []byte) (f fields, ok bool) {
	s := scanner{b: b}
	s.space()
	if !s.eat('{') {
		return f, false
	}
	s.space()
	if s.eat('}') {
		return f, s.end()
	}
	for {
		s.space()
		key, ok := s.str()
		if !ok {
			return f, false
		}
		s.space()
		if !s.eat(':') {
			return f, false
		}
		s.space()
		start := s.i
		if !s.value() {
			return f, false
		}
		v := s.b[start:s.i]
		switch string(key) {
		case "outcome":
			if len(v) >= 2 && v[0] == '"' {
				f.outcome = v[1 : len(v)-1]
			}
		case "reason":
			if len(v) >= 2 && v[0] == '"' {
				f.reason = v[1 : len(v)-1]
			}
		case "applied":
			switch string(v) {
			case "false":
				f.applied = "false"
			case "true":
				f.applied = "true"
			}
		case "shows":
			switch string(v) {
			case "false":
				f.shows = "false"
			case "true":
				f.shows = "true"
			}
		}
		s.space()
		if s.eat('}') {
			return f, s.end()
		}
		if !s.eat(',') {
			return f, false
		}
	}
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

func (s *scanner) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) end() bool {
	s.space()
	return s.i == len(s.b)
}

// str reads a string and returns its raw contents.
func (s *scanner) str() ([]byte, bool) {
	if !s.eat('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
		case '"':
			s.i++
			return s.b[start : s.i-1], true
		default:
			s.i++
		}
	}
	return nil, false
}

// value skips one JSON value.
func (s *scanner) value() bool {
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, ok := s.str()
		return ok
	case c == '{' || c == '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, ok := s.str(); !ok {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return true
				}
			}
			s.i++
		}
		return false
	default: // a number, true, false or null
		start := s.i
		for s.i < len(s.b) && s.b[s.i] != ',' && s.b[s.i] != '}' && s.b[s.i] != ']' &&
			s.b[s.i] != ' ' && s.b[s.i] != '\t' && s.b[s.i] != '\n' && s.b[s.i] != '\r' {
			s.i++
		}
		return s.i > start
	}
}
