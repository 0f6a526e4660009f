//go:build unix

package embedded

import (
	"errors"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// credential is the user a server runs as.
type credential = syscall.Credential

// serverUser returns the credential to run the server with: none for a
// normal user, and the "postgres" user (else "nobody") for root, which
// PostgreSQL refuses to run as.
func serverUser() (*credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as")
}

func chown(dir string, cred *credential) error { return os.Chown(dir, int(cred.Uid), int(cred.Gid)) }

// procAttr runs a server's process as cred, in a process group of its own
// (a terminal's Ctrl-C is stampede's, which stops the server itself), and,
// for a long-lived server where the system can, with a death signal.
func procAttr(cred *credential, server bool) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	if server {
		setDeathSignal(a)
	}
	return a
}

// fastShutdown asks PostgreSQL for a fast shutdown.
func fastShutdown(p *os.Process) error { return p.Signal(syscall.SIGINT) }

// killGroup kills the server's process group.
func killGroup(p *os.Process) { _ = syscall.Kill(-p.Pid, syscall.SIGKILL) }

// stopGroup stops (SIGSTOP) the process group p leads; contGroup resumes
// it (SIGCONT).
func stopGroup(p *os.Process) error { return syscall.Kill(-p.Pid, syscall.SIGSTOP) }
func contGroup(p *os.Process) error { return syscall.Kill(-p.Pid, syscall.SIGCONT) }
