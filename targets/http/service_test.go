package http

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// service is a stampede/http/v1 service held in memory, served by
// net/http on a loopback port: the protocol's other side, for the tests.
// Its faults are switches.
type service struct {
	mu      sync.Mutex
	stock   []int64 // seats left
	sold    []int64
	applied map[uint64]int32
	outcome map[uint64]string

	racy      bool          // check, unlock, act: oversells
	resell    bool          // a resubmission applies again
	delay     time.Duration // before every buy's answer
	info      string        // info's body, if set
	buyAnswer func(w nethttp.ResponseWriter) bool
	audit     func(w nethttp.ResponseWriter) bool // writes the audit instead, if it returns true
	noReset   bool
	buys      int
	// read offers the read capability: an order shows readLag after its
	// sale.
	read    bool
	readLag time.Duration
	soldAt  map[uint64]time.Time
	// twoPhase offers the two-phase capability: a buy is accepted, and
	// decided decideAfter later, when first asked after that.
	twoPhase    bool
	decideAfter time.Duration
	pending     map[uint64]pendingOrder
}

type pendingOrder struct {
	product int
	qty     int64
	at      time.Time
}

func newService(t testing.TB, s *service) string {
	t.Helper()
	mux := nethttp.NewServeMux()
	mux.HandleFunc("GET /stampede/v1/info", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		w.Header().Set("Content-Type", "application/json")
		if s.info != "" {
			fmt.Fprint(w, s.info)
			return
		}
		reset := "true"
		if s.noReset {
			reset = `false, "stock": {"products": 2, "capacity": 10}`
		}
		switch {
		case s.read:
			reset += `, "capabilities": ["read"]`
		case s.twoPhase:
			reset += `, "capabilities": ["two-phase"]`
		}
		fmt.Fprintf(w, `{"protocol": "stampede/http/v1", "design": "test-service", "consistency": "a mutex", "durability": "memory only", "backend": "Go maps", "settings": {"racy": "%v"}, "reset": %s}`, s.racy, reset)
	})
	mux.HandleFunc("POST /stampede/v1/reset", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if s.noReset {
			w.WriteHeader(nethttp.StatusNotImplemented)
			return
		}
		var st struct{ Products, Capacity int64 }
		if err := json.NewDecoder(r.Body).Decode(&st); err != nil {
			nethttp.Error(w, err.Error(), 400)
			return
		}
		s.mu.Lock()
		s.stock, s.sold = make([]int64, st.Products), make([]int64, st.Products)
		for i := range s.stock {
			s.stock[i] = st.Capacity
		}
		s.applied, s.outcome, s.soldAt = map[uint64]int32{}, map[uint64]string{}, map[uint64]time.Time{}
		s.pending = map[uint64]pendingOrder{}
		s.mu.Unlock()
		w.WriteHeader(nethttp.StatusNoContent)
	})
	mux.HandleFunc("POST /stampede/v1/buy", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		var o struct {
			Order    uint64
			Product  int
			Quantity int64
		}
		if err := json.NewDecoder(r.Body).Decode(&o); err != nil || r.Header.Get("Idempotency-Key") != fmt.Sprintf("o-%d", o.Order) {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"applied": false, "reason": "malformed order"}`)
			return
		}
		s.mu.Lock()
		delay, answer := s.delay, s.buyAnswer
		s.mu.Unlock()
		if delay > 0 {
			select { // a slow service, gone when its client is
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if answer != nil && answer(w) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if s.twoPhase && r.Header.Get("Stampede-Capabilities") == "two-phase" {
			s.mu.Lock()
			if _, ok := s.pending[o.Order]; !ok {
				s.pending[o.Order] = pendingOrder{o.Product, o.Quantity, time.Now()}
			}
			s.mu.Unlock()
			w.WriteHeader(nethttp.StatusAccepted)
			fmt.Fprint(w, `{"outcome": "accepted"}`)
			return
		}
		out := s.buy(o.Order, o.Product, o.Quantity)
		fmt.Fprintf(w, `{"outcome": %q}`, out)
	})
	mux.HandleFunc("GET /stampede/v1/two-phase/orders/{id}", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		var id uint64
		fmt.Sscan(r.PathValue("id"), &id)
		s.mu.Lock()
		p, ok := s.pending[id]
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if !ok || time.Since(p.at) < s.decideAfter {
			fmt.Fprint(w, `{"outcome": "pending"}`)
			return
		}
		fmt.Fprintf(w, `{"outcome": %q}`, s.buy(id, p.product, p.qty)) // decided once; asked again, the same
	})
	mux.HandleFunc("GET /stampede/v1/read/orders/{id}", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		var id uint64
		fmt.Sscan(r.PathValue("id"), &id)
		s.mu.Lock()
		at, ok := s.soldAt[id]
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"shows": %v}`, ok && time.Since(at) >= s.readLag)
	})
	mux.HandleFunc("GET /stampede/v1/audit", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		s.mu.Lock()
		audit := s.audit
		s.mu.Unlock()
		if audit != nil && audit(w) {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		b, _ := json.Marshal(map[string]any{"sold": s.sold})
		fmt.Fprintf(w, "%s\n", b)
		for id, n := range s.applied {
			fmt.Fprintf(w, "{\"order\": %d, \"applied\": %d}\n", id, n)
		}
		fmt.Fprintf(w, "{\"end\": true, \"orders\": %d}\n", len(s.applied))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// set changes the service's switches while it serves.
func (s *service) set(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

func (s *service) buy(id uint64, p int, q int64) string {
	s.mu.Lock()
	s.buys++
	if out, ok := s.outcome[id]; ok && !s.resell {
		s.mu.Unlock()
		return out
	}
	if p < 0 || p >= len(s.stock) {
		s.mu.Unlock()
		return "rejected"
	}
	if s.racy {
		left := s.stock[p]
		s.mu.Unlock()
		time.Sleep(time.Millisecond) // the round trip between check and act
		s.mu.Lock()
		if left < q {
			s.outcome[id] = "sold_out"
			s.mu.Unlock()
			return "sold_out"
		}
		s.stock[p] = left - q // a lost update: other sales in between are overwritten
	} else {
		if s.stock[p] < q {
			s.outcome[id] = "sold_out"
			s.mu.Unlock()
			return "sold_out"
		}
		s.stock[p] -= q
	}
	s.sold[p] += q
	s.applied[id]++
	s.soldAt[id] = time.Now()
	s.outcome[id] = "confirmed"
	s.mu.Unlock()
	return "confirmed"
}

// constServer answers every request on a loopback port with the same
// confirmed answer, reading each request in full, in buffers of its own:
// a server that allocates nothing per request, so that what a test counts
// is the client's.
func constServer(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	answer := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 23\r\n\r\n{\"outcome\":\"confirmed\"}")
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				br := bufio.NewReaderSize(conn, 4096)
				body := make([]byte, 4096)
				for {
					length := 0
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
						if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
							for _, c := range bytes.TrimSpace(v) {
								length = length*10 + int(c-'0')
							}
						}
					}
					if _, err := io.ReadFull(br, body[:length]); err != nil {
						return
					}
					if _, err := conn.Write(answer); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "http://" + l.Addr().String()
}
