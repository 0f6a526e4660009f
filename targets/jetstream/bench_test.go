package jetstream

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/designtest"
)

// BenchmarkPublishVsBuy puts the design's buy path beside the bare nats.go
// publish it is built on, against the same in-process server: the same
// headers (Nats-Msg-Id, Nats-Expected-Last-Subject-Sequence), a product of
// its own per goroutine, no application time. ns/op of buy over ns/op of
// publish is the design's own overhead.
func BenchmarkPublishVsBuy(b *testing.B) {
	ctx := context.Background()
	t := designtest.New(b, "jetstream", "jetstream.app_time=0s").(*Target)
	const products = 256 // 128 for each side, more than there are goroutines
	if err := t.Setup(ctx, targets.Stock{Products: products, Capacity: 1 << 40}); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(8)
	var ids atomic.Uint64

	b.Run("publish", func(b *testing.B) {
		var next atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			p := int(next.Add(1) - 1)
			nc, err := nats.Connect(t.url)
			if err != nil {
				b.Error(err)
				return
			}
			defer nc.Close()
			js, _ := natsjs.New(nc)
			st, err := js.Stream(ctx, t.stream)
			if err != nil {
				b.Error(err)
				return
			}
			last, err := st.GetLastMsgForSubject(ctx, t.subject(p))
			if err != nil {
				b.Error(err)
				return
			}
			seq, left := last.Sequence, int64(1<<40)
			var buf []byte
			for pb.Next() {
				id := targets.OrderID(ids.Add(1))
				left--
				buf = salePayload(buf, id, 1, left)
				ack, err := js.PublishMsg(ctx, &nats.Msg{Subject: t.subject(p), Data: buf},
					natsjs.WithMsgID(id.String()), natsjs.WithExpectLastSequencePerSubject(seq))
				if err != nil {
					b.Error(err)
					return
				}
				seq = ack.Sequence
			}
		})
	})

	b.Run("buy", func(b *testing.B) {
		var next atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			p := products/2 + int(next.Add(1)-1)
			c, err := t.NewClient(ctx, p)
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
			if err := c.(*client).refresh(ctx, p); err != nil { // start from the product's present state
				b.Error(err)
				return
			}
			for pb.Next() {
				r := c.Buy(ctx, targets.Order{ID: targets.OrderID(ids.Add(1)), Product: p, Quantity: 1, Attempt: 1})
				if r.Outcome != targets.Confirmed || r.Conflicts != 0 {
					b.Errorf("outcome %s, %d conflicts, err %v", r.Outcome, r.Conflicts, r.Err)
					return
				}
			}
		})
	})
}
