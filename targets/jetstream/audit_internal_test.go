package jetstream

import (
	"context"
	"testing"
	"time"

	"github.com/stampede-bench/stampede/targets"
)

// Each try of the audit is bounded on its own: a request that hangs (a
// cluster electing a leader drops it) ends its try within 5 s, and the
// next try reads the stream. Before, every try was handed the audit's
// whole context, so one lost request took the audit's whole time.
func TestAuditTriesBounded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tries := 0
	a, err := audit(ctx, func(try, whole context.Context) (targets.Audit, error) {
		tries++
		if d, ok := try.Deadline(); !ok || time.Until(d) > 5*time.Second {
			t.Errorf("try %d: deadline %v (set %v), want within 5s", tries, d, ok)
		}
		if wd, _ := whole.Deadline(); wd != func() time.Time { d, _ := ctx.Deadline(); return d }() {
			t.Errorf("try %d: the whole read's deadline %v is not the audit's", tries, wd)
		}
		if tries == 1 {
			<-try.Done() // the lost request: only the try's bound ends it
			return targets.Audit{}, try.Err()
		}
		return targets.Audit{Sold: []int64{7}}, nil
	})
	if err != nil || tries != 2 || len(a.Sold) != 1 || a.Sold[0] != 7 {
		t.Errorf("audit: %v after %d tries, sold %v; want the second try's figures", err, tries, a.Sold)
	}
}
