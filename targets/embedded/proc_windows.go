package embedded

import (
	"errors"
	"os"
	"syscall"
)

// credential is the user a server runs as: on Windows, always the caller.
type credential struct{ Uid, Gid uint32 }

func serverUser() (*credential, error)                { return nil, nil }
func chown(string, *credential) error                 { return nil }
func procAttr(*credential, bool) *syscall.SysProcAttr { return nil }

// fastShutdown: Windows has no SIGINT to send another process; the server
// is stopped outright.
func fastShutdown(p *os.Process) error { return p.Kill() }

func killGroup(p *os.Process) { _ = p.Kill() }

// Processes cannot be paused on Windows: a pause fault is refused.
func stopGroup(*os.Process) error { return errPauseUnsupported }
func contGroup(*os.Process) error { return nil }

var errPauseUnsupported = errors.New("processes cannot be paused on Windows")

// waitStopped: processes are never paused on Windows.
func waitStopped(int) error { return nil }
