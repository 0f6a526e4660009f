// Command stampede load-tests ticket-selling designs under a flash crowd and
// reports, side by side, how fast each design is and how often it is wrong.
//
//	stampede run -targets memory,memory-racy -scenario flash-crowd -out report
//	stampede run -http mine=http://127.0.0.1:8080 -scenario flash-crowd
//	stampede probe http://127.0.0.1:8080
//	stampede targets
//	stampede scenarios
//
// Exit codes: 0 ok, 1 the run failed or was interrupted, 2 bad usage or
// input, 3 a -check threshold was crossed, 130 stopped at once by a second
// Ctrl-C. The command is package cli; a Go module can build its own with
// its own designs (see examples/extension).
package main

import (
	"os"

	"github.com/stampede-bench/stampede/cli"
)

func main() { os.Exit(cli.Run(os.Args[1:])) }
