package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/rs/zerolog"

	"github.com/stampede-bench/stampede/targets"
)

// Proxy is a TCP proxy on 127.0.0.1 in front of a server, through which
// network faults are put between the clients and the server. It is
// Toxiproxy's proxy, run in this process as a library (no toxiproxy-server,
// no HTTP API), its logging silenced. Proxy is safe for concurrent use.
type Proxy struct {
	name string
	addr string
	tp   *toxiproxy.Proxy

	mu     sync.Mutex
	seq    int // numbers the toxics of each Inject, so that their names are unique
	closed bool
}

// StartProxy starts a proxy named name on a free port of 127.0.0.1 that
// forwards to upstream (host:port). Every connection accepted is forwarded
// to a new connection to upstream. Close it when done.
func StartProxy(name, upstream string) (*Proxy, error) {
	if _, _, err := net.SplitHostPort(upstream); err != nil {
		return nil, fmt.Errorf("proxy %s: upstream %q: %w", name, upstream, err)
	}
	// A server of Toxiproxy's, never listened on: the proxy takes its
	// logger and metrics from it. Nop logs nothing; the metrics container
	// has no collector enabled and its own registry, not the global one.
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	// Toxiproxy listens on the address as given and then records the
	// address it got: port 0 becomes the port the kernel chose.
	tp := toxiproxy.NewProxy(server, name, "127.0.0.1:0", upstream)
	if err := tp.Start(); err != nil {
		return nil, fmt.Errorf("proxy %s: listen on 127.0.0.1: %w", name, err)
	}
	// Listen is written by Start's listening goroutine before Start
	// returns and not again until a restart, which Proxy never does.
	addr := tp.Listen
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "0" {
		tp.Stop()
		return nil, fmt.Errorf("proxy %s: listening address %q has no port", name, addr)
	}
	return &Proxy{name: name, addr: addr, tp: tp}, nil
}

// Addr returns the proxy's host:port (127.0.0.1 and the port it got).
func (p *Proxy) Addr() string { return p.addr }

// The network faults a Proxy takes, for messages.
var proxyFaults = []string{targets.FaultLatency, targets.FaultBlackhole, targets.FaultReset}

// Toxiproxy's stream names: downstream carries the server's replies to
// the client, upstream the client's requests to the server.
const (
	downstream = "downstream"
	upstream   = "upstream"
)

// Inject adds the network fault f to the proxy now and returns the
// function that removes it: every toxic this call added, and only those.
// The faults, as Toxiproxy toxics (toxicity 1: every connection):
//
//   - latency: a "latency" toxic on the downstream only (the replies), of
//     f.Latency with f.Jitter (Toxiproxy's meaning: each chunk of data is
//     delayed by Latency plus or minus up to Jitter), both rounded to the
//     millisecond. One direction only, so that a request and its reply, a
//     round trip, take about f.Latency more, not twice as much.
//   - blackhole: a "timeout" toxic of timeout 0 on both directions: the
//     data is dropped and the connection is never closed, so clients hang
//     until their own deadlines. New connections hang too (their start-up
//     message is dropped).
//   - reset: a "reset_peer" toxic of timeout 0 on both directions: a
//     connection is cut as soon as data passes in either direction. A
//     connection opened while the toxic is on is cut with a TCP reset (its
//     sockets get SO_LINGER 0) as soon as the client sends its start-up
//     message; one that was open already is closed by the proxy (a FIN,
//     Toxiproxy sets the linger of a connection when it opens only).
//
// Any other kind is an error wrapping targets.ErrFault. The undo may be
// called more than once (the toxics are removed once; every call returns
// that removal's result) and waits for the removal within ctx. After it,
// new connections pass untouched; removing a blackhole closes the
// connections it swallowed (Toxiproxy closes a timeout toxic's connections
// when it goes), and a connection a reset cut stays cut.
func (p *Proxy) Inject(f targets.Fault) (func(context.Context) error, error) {
	var kind string
	var streams []string
	var attrs toxics.Toxic
	switch f.Kind {
	case targets.FaultLatency:
		if f.Latency < 0 || f.Jitter < 0 {
			return nil, fmt.Errorf("%w: latency %v, jitter %v: neither may be negative", targets.ErrFault, f.Latency, f.Jitter)
		}
		kind, streams = "latency", []string{downstream}
		attrs = &toxics.LatencyToxic{Latency: f.Latency.Round(time.Millisecond).Milliseconds(), Jitter: f.Jitter.Round(time.Millisecond).Milliseconds()}
	case targets.FaultBlackhole:
		kind, streams = "timeout", []string{downstream, upstream}
		attrs = &toxics.TimeoutToxic{Timeout: 0}
	case targets.FaultReset:
		kind, streams = "reset_peer", []string{downstream, upstream}
		attrs = &toxics.ResetToxic{Timeout: 0}
	default:
		return nil, fmt.Errorf("%w: %q through the proxy %s (accepted: %s)", targets.ErrFault, f.Kind, p.name, strings.Join(proxyFaults, ", "))
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("proxy %s: %s: the proxy is closed", p.name, f.Kind)
	}
	p.seq++
	var added []string
	for _, stream := range streams {
		name := fmt.Sprintf("%s-%d-%s", f.Kind, p.seq, stream)
		body, err := json.Marshal(toxics.ToxicWrapper{Toxic: attrs, Name: name, Type: kind, Stream: stream, Toxicity: 1})
		if err != nil {
			p.remove(context.Background(), added)
			return nil, fmt.Errorf("proxy %s: %s: the %s toxic: %w", p.name, f.Kind, kind, err)
		}
		if _, err := p.tp.Toxics.AddToxicJson(bytes.NewReader(body)); err != nil {
			p.remove(context.Background(), added)
			return nil, fmt.Errorf("proxy %s: %s: adding the %s toxic %s: %w", p.name, f.Kind, kind, name, err)
		}
		added = append(added, name)
	}

	var once sync.Once
	done := make(chan struct{})
	var undoErr error
	return func(ctx context.Context) error {
		once.Do(func() {
			// Removal runs on even if ctx ends first: a toxic left
			// behind would fault the rest of the run.
			go func() {
				defer close(done)
				undoErr = p.remove(context.Background(), added)
			}()
		})
		select {
		case <-done:
			return undoErr
		case <-ctx.Done():
			return fmt.Errorf("proxy %s: removing the %s fault: %w", p.name, f.Kind, context.Cause(ctx))
		}
	}, nil
}

// remove takes the toxics named out of the proxy. ctx only carries the
// (absent, hence disabled) logger Toxiproxy logs removals to; a removal
// cannot be cancelled.
func (p *Proxy) remove(ctx context.Context, names []string) error {
	var errs []error
	for _, name := range names {
		if err := p.tp.Toxics.RemoveToxic(ctx, name); err != nil {
			errs = append(errs, fmt.Errorf("proxy %s: removing the toxic %s: %w", p.name, name, err))
		}
	}
	return errors.Join(errs...)
}

// Close stops the proxy: its port no longer listens and the connections
// it carries are closed. It is safe to call more than once.
func (p *Proxy) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	p.tp.Stop()
	return nil
}
