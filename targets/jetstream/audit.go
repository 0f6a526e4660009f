package jetstream

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/jsapi"
)

// Audit stops the read model's projector, then reads the whole stream
// (for jetstream-kv, every revision in the bucket): units sold per
// product, and how many sales each order id has. A read that a cluster's
// passing unavailability breaks starts again. The read model is not
// audited (the stream is the system of record), but a projector that
// stopped during the run fails the audit rather than leave a read side
// that silently stopped.
func (t *Target) Audit(ctx context.Context) (targets.Audit, error) {
	t.rm.halt()
	if err := t.rm.failure(); err != nil {
		return targets.Audit{}, err
	}
	return audit(ctx, t.readAll)
}

// audit runs read in tries (retry): each request of a try is bounded by
// the try's context (5 s), so a request lost to a cluster's passing
// unavailability fails that try, and the next try starts; the whole read,
// as long as a large stream needs, is bounded by ctx.
func audit(ctx context.Context, read func(try, whole context.Context) (targets.Audit, error)) (targets.Audit, error) {
	var a targets.Audit
	err := jsapi.Retry(ctx, func(tctx context.Context) error {
		var err error
		a, err = read(tctx, ctx)
		return err
	})
	return a, err
}

// readAll reads the stream: its requests within try, its batches for as
// long as whole allows.
func (t *Target) readAll(try, whole context.Context) (targets.Audit, error) {
	a := targets.Audit{Sold: make([]int64, t.stock.Products)}
	st, err := t.js.Stream(try, t.stream)
	if err != nil {
		return a, fmt.Errorf("audit: %w", err)
	}
	last := st.CachedInfo().State.LastSeq
	cons, err := t.js.OrderedConsumer(try, t.stream, natsjs.OrderedConsumerConfig{})
	if err != nil {
		return a, fmt.Errorf("audit: %w", err)
	}
	sales := map[targets.OrderID]int32{}
	for seq := uint64(0); seq < last; {
		if err := whole.Err(); err != nil {
			return a, fmt.Errorf("audit: at sequence %d of %d: %w", seq, last, err)
		}
		batch, err := cons.Fetch(int(min(last-seq, 1000)), natsjs.FetchMaxWait(10*time.Second))
		if err != nil {
			return a, fmt.Errorf("audit: %w", err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			meta, err := msg.Metadata()
			if err != nil {
				return a, fmt.Errorf("audit: %w", err)
			}
			seq = meta.Sequence.Stream
			m, err := parse(msg.Data())
			if err != nil {
				return a, fmt.Errorf("audit: message %d: %w", seq, err)
			}
			if !m.sale { // a product's stock, an order's claim or decision
				continue
			}
			p, err := t.productOf(msg.Subject())
			if err != nil {
				return a, fmt.Errorf("audit: message %d: %w", seq, err)
			}
			if p < len(a.Sold) {
				a.Sold[p] += m.qty
				sales[m.order]++
			}
		}
		if err := batch.Error(); err != nil {
			return a, fmt.Errorf("audit: %w", err)
		}
		if n == 0 {
			return a, fmt.Errorf("audit: the stream stopped at sequence %d of %d", seq, last)
		}
	}
	recs := make([]targets.OrderRecord, 0, len(sales))
	for id, n := range sales {
		recs = append(recs, targets.OrderRecord{ID: id, Applied: n})
	}
	a.Orders = targets.Records(recs)
	return a, nil
}

// productOf reads the product index from a subject: prefix + p for a
// stream, $KV.<bucket>.p<p> for a bucket.
func (t *Target) productOf(subject string) (int, error) {
	var rest string
	var ok bool
	if t.v == kv {
		rest, ok = strings.CutPrefix(subject, "$KV."+t.bucket+".p")
	} else {
		rest, ok = strings.CutPrefix(subject, t.prefix)
	}
	p, err := strconv.Atoi(rest)
	if !ok || err != nil || p < 0 {
		return 0, fmt.Errorf("unexpected subject %q", subject)
	}
	return p, nil
}
