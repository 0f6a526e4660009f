package targets

import "context"

// Reader is a Client that can also read the design's read side, the way a
// shop renders a buyer's next page from a read model: Shows reports
// whether the buyer's "my orders" shows order id as bought. A design whose
// read side is its system of record (the SQL designs reading their own
// tables) shows a confirmed order at once; one with an asynchronous
// projection may not yet. The engine asks with a type assertion, only on
// a scenario whose buyers read after buying (client.read_after_buy), and
// only after a confirmed answer.
//
// An error is the read's failure, not a "no": the engine counts it apart
// and never takes it for a stale read.
type Reader interface {
	Client
	Shows(ctx context.Context, id OrderID) (bool, error)
}
