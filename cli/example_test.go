package cli_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/stampede-bench/stampede/bench/results"
	"github.com/stampede-bench/stampede/cli"
	"github.com/stampede-bench/stampede/targets"
)

// boxOffice is the least design there is: a box office that has closed.
// Every order is answered sold out, and nothing is ever sold.
type boxOffice struct{ products int }

func (b *boxOffice) Info() targets.Info {
	return targets.Info{Design: "closed box office", Consistency: "nothing sold, nothing to get wrong", Durability: "none"}
}
func (b *boxOffice) Setup(_ context.Context, s targets.Stock) error {
	b.products = s.Products
	return nil
}
func (b *boxOffice) NewClient(context.Context, int) (targets.Client, error) { return b, nil }
func (b *boxOffice) Buy(context.Context, targets.Order) targets.Reply {
	return targets.Reply{Outcome: targets.SoldOut}
}
func (b *boxOffice) Audit(context.Context) (targets.Audit, error) {
	return targets.Audit{Sold: make([]int64, b.products), Orders: targets.Records(nil)}, nil
}
func (b *boxOffice) Close() error { return nil }

// A program of your own registers its designs, as database/sql drivers
// are registered, and runs the command through Main (or, in a main
// function, os.Exit(cli.Run(os.Args[1:]))): its designs run beside the
// built-in ones, with the same engine, checks and reports.
func ExampleMain() {
	targets.Register(targets.Registration{
		Name:        "box-office",
		Description: "a closed box office: every order sold out",
		New:         func(targets.Config) (targets.Target, error) { return &boxOffice{}, nil },
	})
	dir, err := os.MkdirTemp("", "stampede-example-*")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "report")
	code := cli.Main(context.Background(), []string{"run", "-targets", "box-office,memory", "-scenario", "steady", "-duration", "200ms", "-out", out},
		io.Discard, os.Stderr)
	res, err := results.Read(filepath.Join(out, "results.json"))
	if err != nil {
		panic(err)
	}
	fmt.Println("exit code", code)
	for _, r := range res.Runs {
		fmt.Printf("%s: %d buyers, %d confirmed, %d oversold\n", r.Target, r.Orders.Buyers, r.Orders.Confirmed, r.Checks.Oversold)
	}
	// Output:
	// exit code 0
	// box-office: 400 buyers, 0 confirmed, 0 oversold
	// memory: 400 buyers, 400 confirmed, 0 oversold
}
