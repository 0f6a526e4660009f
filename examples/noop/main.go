// Command noop is the least service that speaks stampede/http/v1
// (docs/protocol.md): it holds no stock, and answers every buy sold_out.
// Nothing is ever applied, so its audit (nothing sold, no orders) agrees
// with every answer it gave, and stampede's checker finds nothing wrong.
//
// It is the endpoint for measuring load generators rather than a design:
// scripts/vs-http drives its buy with stampede, vegeta, k6 and wrk in turn.
// A buy costs net/http's parsing and one write of a fixed answer, with
// Content-Length set so that every connection is kept alive.
//
//	go run ./examples/noop                      # on 127.0.0.1:8099
//	go run ./examples/noop -addr 127.0.0.1:9000
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultAddr is where noop listens unless -addr says otherwise.
const DefaultAddr = "127.0.0.1:8099"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "noop:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then shuts down within a second.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("noop", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", DefaultAddr, "host:port to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: NewHandler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stderr, "noop: stampede/http/v1 on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// The fixed parts of the answers, made once: the buy writes them without
// formatting or canonicalizing a header.
var (
	soldOut       = []byte(`{"outcome":"sold_out"}`)
	soldOutLength = []string{strconv.Itoa(len(soldOut))}
	jsonType      = []string{"application/json"}
	info          = []byte(`{"protocol":"stampede/http/v1","design":"noop",` +
		`"consistency":"none needed: holds no stock and answers every buy sold_out, so nothing is ever applied",` +
		`"durability":"nothing to keep: no sale is ever confirmed",` +
		`"durable":false,"backend":"none (Go net/http, in memory)","reset":true,"capabilities":[]}`)
)

// NewHandler returns noop's handler. It is safe for concurrent use.
func NewHandler() http.Handler {
	var products atomic.Int64 // from the last reset; the audit's sold line lists as many
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stampede/v1/info", func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Content-Type"] = jsonType
		w.Write(info)
	})
	mux.HandleFunc("POST /stampede/v1/reset", func(w http.ResponseWriter, r *http.Request) {
		var stock struct {
			Products *int64 `json:"products"`
			Capacity *int64 `json:"capacity"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&stock); err != nil ||
			stock.Products == nil || *stock.Products < 1 || *stock.Products > 1<<20 ||
			stock.Capacity == nil || *stock.Capacity < 0 {
			w.Header()["Content-Type"] = jsonType
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"want {\"products\": 1 to 1048576, \"capacity\": 0 or more}"}`)
			return
		}
		products.Store(*stock.Products)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /stampede/v1/buy", func(w http.ResponseWriter, _ *http.Request) {
		// The body is left unread: net/http discards it before the next
		// request on the connection. Whatever was asked, nothing applies.
		h := w.Header()
		h["Content-Type"] = jsonType
		h["Content-Length"] = soldOutLength
		w.Write(soldOut)
	})
	mux.HandleFunc("GET /stampede/v1/audit", func(w http.ResponseWriter, _ *http.Request) {
		n := products.Load()
		b := make([]byte, 0, 16+2*n+32)
		b = append(b, `{"sold":[`...)
		for i := int64(0); i < n; i++ {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '0')
		}
		b = append(b, "]}\n"...)
		b = append(b, `{"end":true,"orders":0}`+"\n"...)
		w.Header()["Content-Type"] = []string{"application/x-ndjson"}
		w.Write(b)
	})
	return mux
}
