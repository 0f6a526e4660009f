package cli

import (
	"context"
	"fmt"
	"io"

	httpt "github.com/stampede-bench/stampede/targets/http"
)

const probeSynopsis = `probe URL

Checks the service at URL against the stampede/http/v1 protocol
(docs/protocol.md) in a few requests, as a run will use it: its info, a
reset to 2 products x 3 seats, a buy, the same order resubmitted (it must
get its first answer and apply once), a sold-out answer, the last seat,
the other product, and an audit that agrees with every answer. It prints
a line per part, ok or FAIL with why, and exits 0 when every part holds,
1 when one does not. The service's stock is reset: do not probe a service
in use.`

func probeCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("probe", probeSynopsis, stdout)
	pos, err := parseArgs(fs, args, 1)
	if err != nil {
		return err
	}
	url := pos[0]
	if err := httpt.CheckURL(url); err != nil {
		return usagef("probe: %v", err)
	}
	checks, err := httpt.Probe(ctx, url)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	failed := 0
	for _, c := range checks {
		fmt.Fprintln(stdout, c)
		if !c.OK {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("probe: %d of %d parts of %s do not hold (see above)", failed, len(checks), httpt.Protocol)
	}
	fmt.Fprintf(stdout, "every part of %s holds (%d checks)\n", httpt.Protocol, len(checks))
	return nil
}
