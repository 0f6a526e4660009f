//go:build unix

package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"golang.org/x/sys/unix"

	"github.com/stampede-bench/stampede/targets"
)

// Wire is a worker's connection driven by an event loop (evloop): pgx
// connects, authenticates and prepares the design's statements, then hands
// the socket over; each attempt then speaks the extended query protocol
// through pgx's pgproto3 (Bind, Execute, Sync; parameters in text, as
// pgbench -M prepared sends them) and waits for the server through the
// loop. It belongs to one task at a time (see LoopConn).
type Wire struct {
	db   *DB
	loop targets.Loop
	fd   int
	reg  targets.LoopFD
	fe   *pgproto3.Frontend
	rw   wireRW
	// pending counts Syncs whose ReadyForQuery is still to come: an
	// attempt that timed out leaves its answer to be read (and dropped)
	// before the next one is sent.
	pending int
	broken  bool
	bind    pgproto3.Bind
	exec    pgproto3.Execute
	sync    pgproto3.Sync
	params  [][]byte
	args    []byte // the parameters' text, end to end
	ends    []int  // where each parameter ends in args
}

// Wire opens a connection for one task of loop.
func (db *DB) Wire(ctx context.Context, loop targets.Loop) (*Wire, error) {
	w := &Wire{db: db, loop: loop, fd: -1}
	w.rw.w = w
	if err := w.dial(ctx); err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	return w, nil
}

func (w *Wire) dial(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, w.db.buyers.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	for name, sql := range w.db.Statements {
		if _, err := conn.Prepare(ctx, name, sql); err != nil {
			conn.Close(ctx)
			return fmt.Errorf("prepare %s: %w", name, err)
		}
	}
	hj, err := conn.PgConn().Hijack()
	if err != nil {
		conn.Close(ctx)
		return err
	}
	// The loop owns a duplicate of the socket, out of Go's netpoller.
	fd := -1
	sc, ok := hj.Conn.(syscall.Conn)
	if !ok {
		hj.Conn.Close()
		return fmt.Errorf("a %T has no descriptor", hj.Conn)
	}
	rc, err := sc.SyscallConn()
	if err == nil {
		cerr := rc.Control(func(s uintptr) { fd, err = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) })
		err = errors.Join(err, cerr)
	}
	hj.Conn.Close()
	if err != nil {
		return fmt.Errorf("dup: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return err
	}
	reg, err := w.loop.Register(fd)
	if err != nil {
		unix.Close(fd)
		return err
	}
	w.fd, w.reg, w.pending, w.broken = fd, reg, 0, false
	w.fe = pgproto3.NewFrontend(&w.rw, &w.rw)
	return nil
}

// Close closes the connection; the server sees the socket close.
func (w *Wire) Close() error {
	if w.fd < 0 {
		return nil
	}
	w.reg.Unregister()
	err := unix.Close(w.fd)
	w.fd = -1
	return err
}

// Exec runs the prepared statement stmt with args in one round trip and
// returns the rows it affected. An error wrapping ErrNotSent means the
// statement never left; a *pgconn.PgError is the server's answer; any
// other error leaves the outcome unknown.
func (w *Wire) Exec(ctx context.Context, stmt string, args ...int64) (int64, error) {
	w.rw.deadline = targets.Deadline(ctx)
	if w.broken {
		w.Close()
		if err := w.redial(); err != nil {
			return 0, fmt.Errorf("%w: reconnect: %w", ErrNotSent, err)
		}
	}
	if _, _, err := w.finish(); err != nil {
		return 0, fmt.Errorf("%w: still reading an earlier answer: %w", ErrNotSent, err)
	}
	// Format every parameter first, then slice: args may move as it grows.
	w.args, w.ends, w.params = w.args[:0], w.ends[:0], w.params[:0]
	for _, a := range args {
		w.args = strconv.AppendInt(w.args, a, 10)
		w.ends = append(w.ends, len(w.args))
	}
	start := 0
	for _, end := range w.ends {
		w.params = append(w.params, w.args[start:end])
		start = end
	}
	w.bind.PreparedStatement = stmt
	w.bind.Parameters = w.params
	w.fe.SendBind(&w.bind)
	w.fe.SendExecute(&w.exec)
	w.fe.SendSync(&w.sync)
	w.pending++
	if err := w.fe.Flush(); err != nil {
		w.broken = true
		return 0, err
	}
	rows, perr, err := w.finish()
	if err != nil {
		return 0, err
	}
	return rows, perr
}

// finish reads until every Sync sent is answered, and returns the rows
// the last statement affected and the server's error, if any.
func (w *Wire) finish() (rows int64, perr, err error) {
	for w.pending > 0 {
		msg, err := w.fe.Receive()
		if err != nil {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				w.broken = true
			}
			return 0, nil, err
		}
		switch m := msg.(type) {
		case *pgproto3.CommandComplete:
			rows = rowsAffected(m.CommandTag)
		case *pgproto3.ErrorResponse:
			perr = pgconn.ErrorResponseToPgError(m)
		case *pgproto3.ReadyForQuery:
			w.pending--
		}
	}
	return rows, perr, nil
}

// redial reconnects after a broken connection, within the attempt's
// deadline or 5s.
func (w *Wire) redial() error {
	deadline := w.rw.deadline
	if deadline.IsZero() {
		deadline = time.Now().Add(5 * time.Second)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	return w.dial(ctx)
}

// rowsAffected reads the count at the end of a command tag (INSERT 0 1).
func rowsAffected(tag []byte) int64 {
	i := len(tag)
	for i > 0 && tag[i-1] >= '0' && tag[i-1] <= '9' {
		i--
	}
	var n int64
	for _, c := range tag[i:] {
		n = n*10 + int64(c-'0')
	}
	return n
}

// wireRW reads and writes the socket, waiting through the loop.
type wireRW struct {
	w        *Wire
	deadline time.Time
}

func (rw *wireRW) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(rw.w.fd, p)
		switch {
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			if err := rw.w.reg.Wait(rw.deadline); err != nil {
				return 0, err
			}
		case err != nil:
			return 0, err
		case n == 0:
			return 0, io.EOF
		default:
			return n, nil
		}
	}
}

func (rw *wireRW) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := unix.Write(rw.w.fd, p[done:])
		switch {
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			if err := rw.w.reg.Wait(rw.deadline); err != nil {
				return done, err
			}
		case err != nil:
			return done, err
		default:
			done += n
		}
	}
	return done, nil
}
