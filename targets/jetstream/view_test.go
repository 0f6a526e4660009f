package jetstream

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/stampede-bench/stampede/targets"
)

// How each jetstream.seq knows a product's last sequence: after client a
// sells product 0, client b's next sale of it conflicts once with own
// (b's view is its own last write: none) and not with fetch (a direct get
// first) or watch (a's write, offered to the shared view). For a write
// that none of the target's clients made, watch waits for the consumer.
func TestSeqFreshness(t *testing.T) {
	for _, row := range []struct {
		seq       string
		conflicts int32 // b's conflicts after a's sale
	}{
		{"own", 1},   // stale: a conflict, a refresh, a second publish
		{"fetch", 0}, // read before writing
		{"watch", 0}, // a's write is in the shared view
	} {
		t.Run(row.seq, func(t *testing.T) {
			tgt, a := setUp(t, "jetstream", targets.Stock{Products: 1, Capacity: 100}, "jetstream.seq="+row.seq)
			if got := tgt.Info().Settings["seq"]; len(got) < len(row.seq) || got[:len(row.seq)] != row.seq {
				t.Errorf("info: seq %q, want it to start with %q", got, row.seq)
			}
			other, err := tgt.NewClient(t.Context(), 1)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			b := other.(*client)
			buy(t, a, 1, 0)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if r := b.Buy(ctx, order(2, 0, 1)); r.Outcome != targets.Confirmed || r.Conflicts != row.conflicts {
				t.Errorf("b: %v (%v) after %d conflicts, want confirmed after %d", r.Outcome, r.Err, r.Conflicts, row.conflicts)
			}
			if row.seq != "watch" {
				return
			}
			// A sale none of the target's clients made: the consumer
			// brings it into the view.
			last, err := b.stream.GetLastMsgForSubject(ctx, tgt.subject(0))
			if err != nil {
				t.Fatal(err)
			}
			ack, err := b.js.PublishMsg(ctx, &nats.Msg{Subject: tgt.subject(0), Data: salePayload(nil, 3, 1, 97)},
				natsjs.WithMsgID(targets.OrderID(3).String()), natsjs.WithExpectLastSequencePerSubject(last.Sequence))
			if err != nil {
				t.Fatal(err)
			}
			for start := time.Now(); tgt.view.load(0).seq < ack.Sequence; time.Sleep(time.Millisecond) { // the poll's pace
				if time.Since(start) > 5*time.Second {
					t.Fatalf("the view has sequence %d, not the consumer's %d, after 5s", tgt.view.load(0).seq, ack.Sequence)
				}
			}
			if r := a.Buy(ctx, order(4, 0, 1)); r.Outcome != targets.Confirmed || r.Conflicts != 0 {
				t.Errorf("a after an outside sale: %v (%v) after %d conflicts, want confirmed at once", r.Outcome, r.Err, r.Conflicts)
			}
			if left := tgt.view.load(0).left; left != 96 {
				t.Errorf("the view says %d left, want 96", left)
			}
		})
	}
}
