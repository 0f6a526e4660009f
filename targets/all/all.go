// Package all registers every design stampede ships. Import it for its
// side effects:
//
//	import _ "github.com/stampede-bench/stampede/targets/all"
package all

import (
	_ "github.com/stampede-bench/stampede/targets/http"       // http: any stampede/http/v1 service
	_ "github.com/stampede-bench/stampede/targets/jetstream"  // jetstream, jetstream-once, jetstream-noexpect, jetstream-nodedupe, jetstream-kv
	_ "github.com/stampede-bench/stampede/targets/ledger"     // ledger, ledger-serializable, ledger-reconcile, ledger-projection, ledger-snapshot
	_ "github.com/stampede-bench/stampede/targets/memory"     // memory, memory-racy
	_ "github.com/stampede-bench/stampede/targets/queue"      // queue, queue-memory, queue-atmostonce
	_ "github.com/stampede-bench/stampede/targets/sqlcounter" // sqlcounter, sqlcounter-forupdate, sqlcounter-noidem
)
