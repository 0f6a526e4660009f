package jetstream

import (
	"context"
	"fmt"

	"github.com/stampede-bench/stampede/targets"
	"github.com/stampede-bench/stampede/targets/jsapi"
)

var _ targets.Attacher = (*Target)(nil)

// Attach connects to the stream (or bucket) a Setup elsewhere created and
// stocked (an agent of a spread run), reads each product's stock message
// for the clients' first expectations, and starts the read model's
// projector, as Setup does, without changing the stream.
func (t *Target) Attach(ctx context.Context, s targets.Stock) error {
	if err := t.connect(ctx, s); err != nil {
		return err
	}
	if t.v == kv {
		b, err := t.js.KeyValue(ctx, t.bucket)
		if err != nil {
			return fmt.Errorf("bucket %s: %w (the design was not set up on this server)", t.bucket, err)
		}
		for p := range s.Products {
			if err := jsapi.Retry(ctx, func(ctx context.Context) error {
				e, err := b.Get(ctx, kvKey(p))
				if err == nil {
					t.initial[p] = state{seq: e.Revision(), left: s.Capacity}
				}
				return err
			}); err != nil {
				return fmt.Errorf("stock of product %d: %w", p, err)
			}
		}
		return t.startReadModel(ctx)
	}
	st, err := t.js.Stream(ctx, t.stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w (the design was not set up on this server)", t.stream, err)
	}
	t.dupWindow = st.CachedInfo().Config.Duplicates
	for p := range s.Products {
		if err := jsapi.Retry(ctx, func(ctx context.Context) error {
			m, err := st.GetLastMsgForSubject(ctx, t.subject(p))
			if err == nil {
				t.initial[p] = state{seq: m.Sequence, left: s.Capacity}
			}
			return err
		}); err != nil {
			return fmt.Errorf("stock of product %d: %w", p, err)
		}
	}
	return t.startReadModel(ctx)
}
