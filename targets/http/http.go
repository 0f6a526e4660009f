// Package http puts any service that speaks the stampede/http/v1 protocol
// (docs/protocol.md) under the crowd: a ticket service of the user's, in
// any language, measured and audited like stampede's own designs.
//
// The design "http" is the service at the option http.url; the CLI's
// -http NAME=URL makes a design called NAME for each service named, so
// that several services (two versions of one) face the same crowd in one
// run. Control requests (info, reset, audit) go through net/http; buys go
// through a small HTTP/1.1 client of this package's own, one keep-alive
// connection per worker, that allocates nothing per order.
package http

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	nethttp "net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/redact"
)

// Protocol is the protocol and version this package speaks.
const Protocol = "stampede/http/v1"

// Paths of the protocol's requests, under the service's base URL.
const (
	PathInfo  = "/stampede/v1/info"
	PathReset = "/stampede/v1/reset"
	PathBuy   = "/stampede/v1/buy"
	PathAudit = "/stampede/v1/audit"
	// PathReadOrders, followed by an order id, is the read capability's
	// "my orders": GET, answered {"shows": true|false}.
	PathReadOrders = "/stampede/v1/read/orders/"
	// PathTwoPhaseOrders, followed by an order id, is the two-phase
	// capability's status of an accepted order: GET, answered
	// {"outcome": "pending"} until decided, then as a buy is.
	PathTwoPhaseOrders = "/stampede/v1/two-phase/orders/"
)

// The optional capabilities this package uses when a service offers them.
const (
	CapabilityRead     = "read"
	CapabilityTwoPhase = "two-phase"
)

// Bounds of the control requests. The audit is bounded by the run's audit
// timeout instead (its context).
const (
	InfoTimeout  = 5 * time.Second
	ResetTimeout = 30 * time.Second
)

func init() {
	targets.Register(targets.Registration{
		Name:         "http",
		Description:  "any service speaking stampede/http/v1 at http.url (see docs/protocol.md); -http NAME=URL names several",
		OptionPrefix: "http",
		External:     true,
		Options: []targets.OptionSpec{{
			Key: "url", Kind: targets.KindString,
			Help: "the service's base URL, such as http://127.0.0.1:8080 (required)",
		}},
		New: func(cfg targets.Config) (targets.Target, error) {
			u := cfg.Options.String("url")
			if u == "" {
				return nil, fmt.Errorf("%w: -opt http.url=URL is required (such as http://127.0.0.1:8080)", targets.ErrOption)
			}
			return New(u)
		},
	})
}

// Service returns the registration of a design called name for the
// service at base: what the CLI's -http name=base makes. It is not added
// to the registry.
func Service(name, base string) targets.Registration {
	return targets.Registration{
		Name:         name,
		Description:  "the service at " + redact.URLs(base) + " (stampede/http/v1)",
		OptionPrefix: "http." + name,
		External:     true,
		New:          func(targets.Config) (targets.Target, error) { return New(base) },
	}
}

// CheckURL checks that base is a URL this package can speak to: http://,
// a host, no query or fragment. Its error says what is wrong, with any
// password in the URL masked.
func CheckURL(base string) error {
	_, err := parseBase(base)
	return err
}

// base is a parsed base URL.
type base struct {
	raw    string // as given, for net/http
	shown  string // with any password masked, for messages
	host   string // host:port to dial
	header string // the Host header's value
	prefix string // the path before /stampede/v1, without a trailing slash
}

func parseBase(raw string) (base, error) {
	shown := redact.URLs(raw)
	u, err := url.Parse(raw)
	if err != nil {
		return base{}, fmt.Errorf("%s: not a URL (accepted: http://host:port, with an optional path)", shown)
	}
	switch {
	case u.Scheme != "http":
		return base{}, fmt.Errorf("%s: scheme %q is not http (accepted: http://host:port, with an optional path)", shown, u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return base{}, fmt.Errorf("%s: no host (accepted: http://host:port, with an optional path)", shown)
	case u.RawQuery != "" || u.Fragment != "":
		return base{}, fmt.Errorf("%s: a base URL has no query or fragment", shown)
	}
	host := u.Host
	if u.Port() == "" {
		host += ":80"
	}
	return base{raw: strings.TrimSuffix(raw, "/"), shown: shown, host: host, header: u.Host, prefix: strings.TrimSuffix(u.EscapedPath(), "/")}, nil
}

// ServiceInfo is the service's answer to GET info.
type ServiceInfo struct {
	Protocol     string            `json:"protocol"`
	Design       string            `json:"design"`
	Consistency  string            `json:"consistency"`
	Durability   string            `json:"durability"`
	Durable      bool              `json:"durable"`
	Backend      string            `json:"backend"`
	Settings     map[string]string `json:"settings"`
	Reset        *bool             `json:"reset"`
	Stock        *targets.Stock    `json:"stock"`
	Capabilities []string          `json:"capabilities"`
}

// CanReset reports whether the service says POST reset works.
func (i *ServiceInfo) CanReset() bool { return i.Reset == nil || *i.Reset }

// Target is a service under the crowd.
type Target struct {
	b       base
	control *nethttp.Client
	info    *ServiceInfo
	stock   targets.Stock
	audits  []io.Closer // audit bodies still open
}

// New returns the design for the service at base URL raw. Nothing is sent
// until Preflight or Setup.
func New(raw string) (*Target, error) {
	b, err := parseBase(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", targets.ErrOption, err)
	}
	return &Target{b: b, control: &nethttp.Client{Transport: &nethttp.Transport{Proxy: nil, MaxIdleConnsPerHost: 2}}}, nil
}

// Preflight reads the service's info: it must answer, within InfoTimeout,
// as a stampede/http/v1 service.
func (t *Target) Preflight(ctx context.Context) error {
	_, err := t.Info1(ctx)
	return err
}

// Info1 reads the service's info, once, and keeps it.
func (t *Target) Info1(ctx context.Context) (*ServiceInfo, error) {
	if t.info != nil {
		return t.info, nil
	}
	ctx, cancel := context.WithTimeout(ctx, InfoTimeout)
	defer cancel()
	var info ServiceInfo
	if err := t.getJSON(ctx, PathInfo, &info); err != nil {
		return nil, err
	}
	switch {
	case info.Protocol != Protocol:
		return nil, t.errorf(PathInfo, "speaks %q, not %s (see docs/protocol.md)", info.Protocol, Protocol)
	case info.Design == "" || info.Consistency == "" || info.Durability == "":
		return nil, t.errorf(PathInfo, "lacks design, consistency or durability, which %s requires", Protocol)
	case !info.CanReset() && (info.Stock == nil || info.Stock.Products < 1):
		return nil, t.errorf(PathInfo, "says it cannot reset, and gives no stock {products, capacity}")
	}
	t.info = &info
	return t.info, nil
}

// errorf is an error about a request to the service, one line.
func (t *Target) errorf(path, format string, args ...any) error {
	return fmt.Errorf("http: %s%s: %s", t.b.shown, path, fmt.Sprintf(format, args...))
}

// getJSON reads a JSON object from path.
func (t *Target) getJSON(ctx context.Context, path string, v any) error {
	req, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodGet, t.b.raw+path, nil)
	if err != nil {
		return t.errorf(path, "%v", err)
	}
	resp, err := t.control.Do(req)
	if err != nil {
		return t.transportError(ctx, path, err, InfoTimeout.String())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return t.transportError(ctx, path, err, InfoTimeout.String())
	}
	if resp.StatusCode != nethttp.StatusOK {
		return t.errorf(path, "answered %s: %s; is this a %s service?", resp.Status, excerpt(body), Protocol)
	}
	if err := wantJSON(resp.Header.Get("Content-Type"), body); err != nil {
		return t.errorf(path, "%v; is this a %s service?", err, Protocol)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return t.errorf(path, "answered JSON that does not read as %s: %v", Protocol, err)
	}
	return nil
}

// transportError says why a control request got no answer: its bound
// passed (a service that hangs), or the connection failed.
func (t *Target) transportError(ctx context.Context, path string, err error, bound string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return t.errorf(path, "no answer within %s", bound)
	}
	if ctx.Err() != nil {
		return t.errorf(path, "%v", ctx.Err())
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL is already in the message
	}
	return t.errorf(path, "%v", err)
}

// wantJSON checks that an answer is a JSON object.
func wantJSON(contentType string, body []byte) error {
	if contentType != "" {
		if mt, _, err := mime.ParseMediaType(contentType); err == nil && mt != "application/json" && !strings.HasSuffix(mt, "+json") {
			return fmt.Errorf("answered %s, not application/json: %s", mt, excerpt(body))
		}
	}
	if b := bytes.TrimSpace(body); len(b) == 0 || b[0] != '{' {
		return fmt.Errorf("answered something that is not a JSON object: %s", excerpt(body))
	}
	return nil
}

// excerpt is the start of a body, on one line, for messages.
func excerpt(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if s == "" {
		return "(empty)"
	}
	if r := []rune(s); len(r) > 80 {
		s = string(r[:80]) + "..."
	}
	return fmt.Sprintf("%q", s)
}

// Info describes the service as it describes itself, after Preflight or
// Setup; before them, as its URL.
func (t *Target) Info() targets.Info {
	i := targets.Info{Design: "a stampede/http/v1 service", Consistency: "unknown", Durability: "unknown",
		Settings: map[string]string{"url": t.b.shown, "protocol": Protocol}}
	if t.info == nil {
		return i
	}
	i.Design, i.Consistency, i.Durability = t.info.Design, t.info.Consistency, t.info.Durability
	i.Durable, i.Backend = t.info.Durable, t.info.Backend
	for k, v := range t.info.Settings {
		if k != "url" && k != "protocol" {
			i.Settings[k] = v
		}
	}
	if len(t.info.Capabilities) > 0 {
		i.Settings["capabilities"] = strings.Join(t.info.Capabilities, ",")
	}
	return i
}

// Setup asks the service for fresh stock, or, for a service that cannot
// reset, checks that its stock is the one asked for.
func (t *Target) Setup(ctx context.Context, s targets.Stock) error {
	info, err := t.Info1(ctx)
	if err != nil {
		return err
	}
	t.stock = s
	if info.CanReset() {
		rctx, cancel := context.WithTimeout(ctx, ResetTimeout)
		defer cancel()
		body := fmt.Sprintf(`{"products":%d,"capacity":%d}`, s.Products, s.Capacity)
		req, err := nethttp.NewRequestWithContext(rctx, nethttp.MethodPost, t.b.raw+PathReset, strings.NewReader(body))
		if err != nil {
			return t.errorf(PathReset, "%v", err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := t.control.Do(req)
		if err != nil {
			return t.transportError(rctx, PathReset, err, ResetTimeout.String())
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		switch {
		case resp.StatusCode/100 == 2:
			return nil
		case resp.StatusCode != nethttp.StatusNotImplemented:
			return t.errorf(PathReset, "answered %s: %s", resp.Status, excerpt(answer))
		}
		// 501: it cannot reset after all; its info must give the stock.
		if info.Stock == nil {
			return t.errorf(PathReset, "answered 501 (cannot reset), and info gives no stock")
		}
	}
	if info.Stock.Products != s.Products || info.Stock.Capacity != s.Capacity {
		return t.errorf(PathInfo, "cannot reset, and holds %d products x %d seats; the scenario wants %d x %d",
			info.Stock.Products, info.Stock.Capacity, s.Products, s.Capacity)
	}
	return nil
}

// Attach reads the service's info (its capabilities) and leaves its
// stock as a Setup elsewhere made it: for an agent of a spread run.
func (t *Target) Attach(ctx context.Context, s targets.Stock) error {
	if _, err := t.Info1(ctx); err != nil {
		return err
	}
	t.stock = s
	return nil
}

var _ targets.Attacher = (*Target)(nil)

// NewClient returns a worker's client: one keep-alive connection, dialed
// on its first buy. When ctx ends (the run is interrupted), a buy waiting
// for its answer ends at once, unknown.
func (t *Target) NewClient(ctx context.Context, _ int) (targets.Client, error) {
	c := newClient(ctx, t.b)
	c.twoPhase = t.info != nil && slices.Contains(t.info.Capabilities, CapabilityTwoPhase)
	if t.info != nil && slices.Contains(t.info.Capabilities, CapabilityRead) {
		return readClient{c}, nil
	}
	return c, nil
}

// Close closes the control connections and any audit still being read.
func (t *Target) Close() error {
	for _, c := range t.audits {
		c.Close()
	}
	t.audits = nil
	t.control.CloseIdleConnections()
	return nil
}

// maxAuditLine bounds one line of the audit: the sold line of a million
// products fits.
const maxAuditLine = 16 << 20

// Audit reads the service's system of record: the sold line at once, the
// order lines as the checker ranges over them, until the end line. A
// stream cut before its end line, or whose count differs, yields an
// error: a cut audit is never taken for a whole one.
func (t *Target) Audit(ctx context.Context) (targets.Audit, error) {
	a := targets.Audit{Sold: make([]int64, t.stock.Products)}
	req, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodGet, t.b.raw+PathAudit, nil)
	if err != nil {
		return a, t.errorf(PathAudit, "%v", err)
	}
	resp, err := t.control.Do(req)
	if err != nil {
		return a, t.transportError(ctx, PathAudit, err, "the audit timeout")
	}
	if resp.StatusCode != nethttp.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return a, t.errorf(PathAudit, "answered %s: %s", resp.Status, excerpt(b))
	}
	t.audits = append(t.audits, resp.Body)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), maxAuditLine)
	line := 0
	next := func() ([]byte, error) {
		for sc.Scan() {
			line++
			if b := bytes.TrimSpace(sc.Bytes()); len(b) > 0 {
				return b, nil
			}
		}
		if err := sc.Err(); err != nil {
			if ctx.Err() != nil {
				return nil, t.errorf(PathAudit, "line %d: %v (the audit did not end within the audit timeout)", line+1, ctx.Err())
			}
			return nil, t.errorf(PathAudit, "line %d: %v", line+1, err)
		}
		return nil, io.EOF
	}
	first, err := next()
	if err != nil {
		resp.Body.Close()
		if err == io.EOF {
			return a, t.errorf(PathAudit, "empty: want a first line {\"sold\": [...]}")
		}
		return a, err
	}
	var sold struct {
		Sold *[]int64 `json:"sold"`
	}
	if err := json.Unmarshal(first, &sold); err != nil || sold.Sold == nil {
		resp.Body.Close()
		return a, t.errorf(PathAudit, "line 1 is not {\"sold\": [...]}: %s", excerpt(first))
	}
	if len(*sold.Sold) > t.stock.Products {
		resp.Body.Close()
		return a, t.errorf(PathAudit, "sold lists %d products; the stock has %d", len(*sold.Sold), t.stock.Products)
	}
	copy(a.Sold, *sold.Sold)
	a.Orders = func(yield func(targets.OrderRecord, error) bool) {
		defer resp.Body.Close()
		var n int64
		for {
			b, err := next()
			if err == io.EOF {
				yield(targets.OrderRecord{}, t.errorf(PathAudit, "stopped after %d order lines without its end line {\"end\": true, ...}", n))
				return
			}
			if err != nil {
				yield(targets.OrderRecord{}, err)
				return
			}
			var rec struct {
				Order     *uint64 `json:"order"`
				Applied   int32   `json:"applied"`
				Cancelled int32   `json:"cancelled"`
				End       bool    `json:"end"`
				Orders    *int64  `json:"orders"`
			}
			if err := json.Unmarshal(b, &rec); err != nil {
				yield(targets.OrderRecord{}, t.errorf(PathAudit, "line %d: %v: %s", line, err, excerpt(b)))
				return
			}
			switch {
			case rec.End:
				if rec.Orders == nil || *rec.Orders != n {
					got := "no count"
					if rec.Orders != nil {
						got = fmt.Sprint(*rec.Orders)
					}
					yield(targets.OrderRecord{}, t.errorf(PathAudit, "the end line says %s orders; %d order lines came", got, n))
				}
				return
			case rec.Order == nil || *rec.Order == 0 || rec.Applied < 1 || rec.Cancelled < 0:
				yield(targets.OrderRecord{}, t.errorf(PathAudit, "line %d is not an order line {\"order\": id, \"applied\": n}: %s", line, excerpt(b)))
				return
			}
			n++
			if !yield(targets.OrderRecord{ID: targets.OrderID(*rec.Order), Applied: rec.Applied, Cancelled: rec.Cancelled}, nil) {
				return
			}
		}
	}
	return a, nil
}
