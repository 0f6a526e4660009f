//go:build !unix

package postgres

import (
	"context"

	"github.com/stampede-bench/stampede/targets"
)

// Wire is the event-loop client of Unix systems; elsewhere there is none,
// and designs run every user on a goroutine of its own.
type Wire struct{}

// Wire answers targets.ErrNoLoop: the engine then uses goroutines.
func (db *DB) Wire(context.Context, targets.Loop) (*Wire, error) { return nil, targets.ErrNoLoop }

// Close does nothing.
func (w *Wire) Close() error { return nil }

// Exec is never reached: no Wire is ever made.
func (w *Wire) Exec(context.Context, string, ...int64) (int64, error) { return 0, targets.ErrNoLoop }
