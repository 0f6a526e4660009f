package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// The protocol's paths.
const (
	pathInfo  = "/stampede/v1/info"
	pathReset = "/stampede/v1/reset"
	pathBuy   = "/stampede/v1/buy"
	pathAudit = "/stampede/v1/audit"
)

// buyTimeout bounds one buy on the server's side; the buyer usually gives
// up sooner (2s on the flash crowd), and then its connection's closing
// cancels the buy.
const buyTimeout = 10 * time.Second

// maxBody bounds a request's body.
const maxBody = 1 << 16

// handler serves stampede/http/v1. It is safe for concurrent use.
type handler struct {
	s      *store
	logw   io.Writer
	logged atomic.Int64 // failed buys, for logging only some
}

func newHandler(s *store, logw io.Writer) http.Handler {
	h := &handler{s: s, logw: logw}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+pathInfo, h.info)
	mux.HandleFunc("POST "+pathReset, h.reset)
	mux.HandleFunc("POST "+pathBuy, h.buy)
	mux.HandleFunc("GET "+pathAudit, h.audit)
	return mux
}

// Answers of a decided buy, made once.
var (
	answerConfirmed = []byte(`{"outcome":"confirmed"}` + "\n")
	answerSoldOut   = []byte(`{"outcome":"sold_out"}` + "\n")
)

// write answers status with a JSON body and its Content-Length, so that
// the connection stays open for the buyer's next request.
func write(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// writeValue answers status with v as JSON.
func writeValue(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf) // ends with a newline
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":"encoding the answer"}` + "\n")
	}
	write(w, status, buf.Bytes())
}

// refuse answers a definite failure: the order did not apply.
func refuse(w http.ResponseWriter, status int, reason string) {
	writeValue(w, status, struct {
		Applied bool   `json:"applied"`
		Reason  string `json:"reason"`
	}{false, reason})
}

func (h *handler) info(w http.ResponseWriter, _ *http.Request) {
	writeValue(w, http.StatusOK, h.s.info)
}

func (h *handler) reset(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Products *int   `json:"products"`
		Capacity *int64 `json:"capacity"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&req); err != nil {
		refuse(w, http.StatusBadRequest, "reset: "+err.Error())
		return
	}
	switch {
	case req.Products == nil || req.Capacity == nil:
		refuse(w, http.StatusBadRequest, "reset: products and capacity are required")
		return
	case *req.Products < 1 || *req.Products > 1_000_000:
		refuse(w, http.StatusBadRequest, "reset: products from 1 to 1000000")
		return
	case *req.Capacity < 0:
		refuse(w, http.StatusBadRequest, "reset: capacity of 0 or more")
		return
	}
	if err := h.s.reset(r.Context(), *req.Products, *req.Capacity); err != nil {
		fmt.Fprintln(h.logw, "ticketservice:", err)
		writeValue(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	writeValue(w, http.StatusOK, map[string]int64{"products": int64(*req.Products), "capacity": *req.Capacity})
}

// buyRequest is the body of POST buy.
type buyRequest struct {
	Order    int64 `json:"order"`
	Product  *int  `json:"product"`
	Quantity int64 `json:"quantity"`
	Attempt  int   `json:"attempt"`
}

func (h *handler) buy(w http.ResponseWriter, r *http.Request) {
	var req buyRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&req); err != nil {
		refuse(w, http.StatusBadRequest, "buy: "+err.Error())
		return
	}
	products := h.s.products.Load()
	switch {
	case req.Order < 1:
		refuse(w, http.StatusBadRequest, "buy: order is a whole number from 1")
		return
	case req.Product == nil || *req.Product < 0 || int64(*req.Product) >= products:
		refuse(w, http.StatusBadRequest, fmt.Sprintf("buy: product from 0 to %d", products-1))
		return
	case req.Quantity < 1:
		refuse(w, http.StatusBadRequest, "buy: quantity of 1 or more")
		return
	}
	if key := r.Header.Get("Idempotency-Key"); key != "" && key != "o-"+strconv.FormatInt(req.Order, 10) {
		refuse(w, http.StatusBadRequest, fmt.Sprintf("buy: Idempotency-Key %q is not order %d's", key, req.Order))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), buyTimeout)
	defer cancel()
	outcome, err := h.s.buy(ctx, req.Order, *req.Product, req.Quantity)
	if err != nil {
		h.failed(w, req.Order, err)
		return
	}
	if outcome == Confirmed {
		write(w, http.StatusOK, answerConfirmed)
	} else {
		write(w, http.StatusOK, answerSoldOut)
	}
}

// failed answers a buy that failed: 503 and "applied": false when the
// order is known not to have applied, 500 without it when it may have.
func (h *handler) failed(w http.ResponseWriter, order int64, err error) {
	if n := h.logged.Add(1); n <= 10 || n%1000 == 0 {
		fmt.Fprintf(h.logw, "ticketservice: buy o-%d (failed buy %d): %v\n", order, n, err)
	}
	var be *buyError
	if errors.As(err, &be) && be.NotApplied {
		refuse(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeValue(w, http.StatusInternalServerError, map[string]string{"error": "outcome unknown: " + err.Error()})
}

// audit streams the system of record as NDJSON: sold, one line per
// confirmed order, and the end line with their count. A failure midway cuts
// the stream before the end line, which tells the reader the record is not
// complete.
func (h *handler) audit(w http.ResponseWriter, r *http.Request) {
	bw := bufio.NewWriterSize(w, 32<<10)
	started := false
	var orders int64
	var line []byte
	err := h.s.auditRead(r.Context(),
		func(sold []int64) error {
			started = true
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(http.StatusOK)
			body, err := json.Marshal(map[string][]int64{"sold": sold})
			if err != nil {
				return err
			}
			bw.Write(body)
			return bw.WriteByte('\n')
		},
		func(id int64) error {
			orders++
			line = append(line[:0], `{"order":`...)
			line = strconv.AppendInt(line, id, 10)
			line = append(line, `,"applied":1}`+"\n"...)
			_, err := bw.Write(line)
			return err
		})
	if err != nil {
		fmt.Fprintln(h.logw, "ticketservice: audit:", err)
		if !started {
			writeValue(w, http.StatusInternalServerError, map[string]string{"error": "audit: " + err.Error()})
		} else {
			bw.Flush() // what was read, without the end line
		}
		return
	}
	fmt.Fprintf(bw, "{\"end\":true,\"orders\":%d}\n", orders)
	bw.Flush()
}
