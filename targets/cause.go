package targets

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// Causer is an error that names its own cause class (see CauseOf): a
// design wraps a backend's error in one when the class is not in the
// error's chain.
type Causer interface {
	error
	Cause() string
}

// causes are the classifiers of RegisterCause.
var (
	causeMu sync.RWMutex
	causes  []func(error) string
)

// RegisterCause adds a classifier that CauseOf asks, after a Causer in
// the chain and before its own classes: a package that knows a backend's
// errors (targets/jsapi, JetStream's) registers it in its init, so that
// every design on that backend is counted by the backend's codes. f
// returns "" for an error it does not know.
func RegisterCause(f func(error) string) {
	causeMu.Lock()
	defer causeMu.Unlock()
	causes = append(causes, f)
}

// sqlStates names the SQLSTATE codes a ticket-selling design meets most.
var sqlStates = map[string]string{
	"40001": "serialization_failure",
	"40P01": "deadlock_detected",
	"57014": "query_canceled",
	"55P03": "lock_not_available",
	"23505": "unique_violation",
	"23514": "check_violation",
	"53300": "too_many_connections",
	"57P01": "admin_shutdown",
	"57P03": "cannot_connect_now",
	"08006": "connection_failure",
	"25P02": "in_failed_sql_transaction",
}

// SQLStateCause returns the cause class of a SQLSTATE code, such as
// "sqlstate 40001 (serialization_failure)".
func SQLStateCause(code string) string {
	switch code { // the frequent ones without building a string
	case "40001":
		return "sqlstate 40001 (serialization_failure)"
	case "40P01":
		return "sqlstate 40P01 (deadlock_detected)"
	}
	if name, ok := sqlStates[code]; ok {
		return "sqlstate " + code + " (" + name + ")"
	}
	return "sqlstate " + code
}

// CauseOf returns the cause class of a failed attempt's error, for
// counting failures by cause: the class a Causer in its chain names; the
// class a registered classifier names (RegisterCause); a
// SQLSTATE ("sqlstate 40001 (serialization_failure)", from any error with
// a SQLState method, as PostgreSQL drivers' errors have); "timeout";
// "canceled"; "connection reset", "connection refused", "broken pipe",
// "connection closed"; or "other". It returns "" for a nil error.
func CauseOf(err error) string {
	if err == nil {
		return ""
	}
	var c Causer
	if errors.As(err, &c) {
		return c.Cause()
	}
	causeMu.RLock()
	fs := causes
	causeMu.RUnlock()
	for _, f := range fs {
		if class := f(err); class != "" {
			return class
		}
	}
	var sql interface{ SQLState() string }
	if errors.As(err, &sql) {
		return SQLStateCause(sql.SQLState())
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return "connection closed"
	}
	return "other"
}
