package jsapi

import (
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/stampede-bench/stampede/targets"
)

// JetStream's errors are classed by their code wherever they are wrapped,
// through targets.CauseOf, so every design on JetStream counts them alike;
// other errors are left to CauseOf's own classes.
func TestCauseOfJetStreamErrors(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("publish: %w", &natsjs.APIError{Code: 400, ErrorCode: natsjs.JSErrCodeStreamWrongLastSequence, Description: "wrong last sequence: 5"}), CauseWrongLastSeq},
		{&natsjs.APIError{Code: 400, ErrorCode: natsjs.JSErrCodeStreamWrongLastSequenceConstant}, CauseWrongLastSeqC},
		{&natsjs.APIError{Code: 400, ErrorCode: ErrCodeMsgIDInProcess}, CauseInProcess},
		{&natsjs.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}, "jetstream 10008 (JetStream system temporarily unavailable)"},
		{fmt.Errorf("sale: %w", natsjs.ErrNoStreamResponse), CauseNoStream},
		{nats.ErrNoResponders, CauseNoResponders},
		{nats.ErrTimeout, "timeout"},
		{errors.New("something else"), "other"},
	} {
		if got := targets.CauseOf(c.err); got != c.want {
			t.Errorf("CauseOf(%v) = %q, want %q", c.err, got, c.want)
		}
	}
	if Cause(errors.New("not NATS")) != "" {
		t.Error("Cause names an error it does not know")
	}
}
