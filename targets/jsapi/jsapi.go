// Package jsapi holds what the designs on NATS JetStream share about its
// API's errors: their cause classes, registered with targets.CauseOf so
// that failures and conflicts are counted by JetStream error code in every
// such design, which errors a retry may clear, and the retry of setup and
// audit calls.
package jsapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/stampede-bench/stampede/targets"
)

func init() { targets.RegisterCause(Cause) }

// The cause classes of the errors the designs meet most, as constants so
// that naming a conflict's cause (targets.Reply.Cause) does not allocate.
const (
	CauseWrongLastSeq  = "jetstream 10071 (wrong last sequence)"
	CauseWrongLastSeqC = "jetstream 10164 (wrong last sequence)" // as a clustered stream says it
	CauseInProcess     = "jetstream 10158 (message id in process)"
	CauseNoStream      = "jetstream: no response from the stream (no leader)"
	CauseNoResponders  = "nats: no responders"
)

// ErrCodeMsgIDInProcess is nats-server's 10158: a message with the same id
// is being stored; ErrCodeNoPeers its 10005, "no suitable peers for
// placement", of a cluster that has just started.
const (
	ErrCodeMsgIDInProcess = 10158
	ErrCodeNoPeers        = 10005
)

// Cause returns the cause class of a NATS or JetStream error: its API
// error code and description, no responders, no response from the stream,
// a timeout; "" for any other error (targets.CauseOf classes those).
func Cause(err error) string {
	var apiErr *natsjs.APIError
	switch {
	case errors.As(err, &apiErr):
		return APICause(apiErr)
	case errors.Is(err, natsjs.ErrKeyExists):
		return "jetstream kv (key exists)"
	case errors.Is(err, natsjs.ErrNoStreamResponse):
		return CauseNoStream
	case errors.Is(err, nats.ErrNoResponders):
		return CauseNoResponders
	case errors.Is(err, nats.ErrTimeout):
		return "timeout"
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrDisconnected):
		return "connection closed"
	}
	return ""
}

// APICause returns the cause class of a JetStream API error: its error
// code and description.
func APICause(e *natsjs.APIError) string {
	switch e.ErrorCode {
	case natsjs.JSErrCodeStreamWrongLastSequence:
		return CauseWrongLastSeq
	case natsjs.JSErrCodeStreamWrongLastSequenceConstant:
		return CauseWrongLastSeqC
	case ErrCodeMsgIDInProcess:
		return CauseInProcess
	}
	return fmt.Sprintf("jetstream %d (%s)", e.ErrorCode, e.Description)
}

// Transient reports an error of JetStream's API that a retry may clear: no
// server answered yet (a cluster electing a leader), a timeout, a 503, a
// cluster that does not know its peers yet.
func Transient(err error) bool {
	var apiErr *natsjs.APIError
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, natsjs.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &apiErr) && (apiErr.Code == 503 || apiErr.ErrorCode == ErrCodeNoPeers))
}

// Retry runs f until it succeeds, fails for good, or 30s have passed, each
// try bounded to 5s: for setup and the audit, not for orders.
func Retry(ctx context.Context, f func(ctx context.Context) error) error {
	giveUp := time.Now().Add(30 * time.Second)
	for {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := f(tctx)
		cancel()
		if err == nil || !Transient(err) || ctx.Err() != nil || time.Now().After(giveUp) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}
