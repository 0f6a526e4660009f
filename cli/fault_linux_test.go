package cli

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// procStat is what /proc/PID/stat says of a process.
type procStat struct {
	pid, ppid, pgrp int
	state           byte
	comm            string
}

func readStat(pid int) (procStat, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, false
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return procStat{}, false
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 3 {
		return procStat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	pgrp, _ := strconv.Atoi(f[2])
	return procStat{pid: pid, ppid: ppid, pgrp: pgrp, state: f[0][0], comm: s[open+1 : end]}, true
}

// stoppedServer returns the processes of the PostgreSQL that parent
// started (its postmaster's process group) that are stopped (state T).
func stoppedServer(parent int) []int {
	entries, _ := os.ReadDir("/proc")
	var all []procStat
	postmaster := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStat(pid); ok {
			all = append(all, st)
			if st.ppid == parent && st.comm == "postgres" {
				postmaster = pid
			}
		}
	}
	var out []int
	for _, st := range all {
		if postmaster != 0 && st.pgrp == postmaster && st.state == 'T' {
			out = append(out, st.pid)
		}
	}
	return out
}

// Ctrl-C while PostgreSQL is paused by a fault: the run stops, the server
// is resumed and then stopped (no process of it is left stopped, or left
// at all), and the results are written, marked interrupted, with the
// fault's window.
func TestSIGINTDuringPause(t *testing.T) {
	out := filepath.Join(t.TempDir(), "report")
	cmd := exec.Command(binary(t), "run", "-progress", "off", "-targets", "sqlcounter", "-scenario", "steady",
		"-fault", "pause postgres at 1s for 60s", "-out", out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var stopped []int
	for deadline := time.Now().Add(60 * time.Second); len(stopped) == 0; {
		select {
		case err := <-done:
			t.Fatalf("the run ended before the pause: %v\n%s%s", err, stdout.String(), stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no stopped PostgreSQL process 60s in; stderr:\n%s", stderr.String())
		}
		stopped = stoppedServer(cmd.Process.Pid)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("exit: %v, want code 1 (interrupted); stderr:\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("no exit 30s after SIGINT during the pause; stderr:\n%s", stderr.String())
	}
	for _, pid := range stopped {
		if st, ok := readStat(pid); ok {
			t.Errorf("process %d (%s) of the paused server outlived the run, state %c", pid, st.comm, st.state)
		}
	}
	m := readJSON(t, filepath.Join(out, "results.json"))
	if i, _ := lookup(m, "interrupted"); i != true {
		t.Errorf("interrupted = %v, want true", i)
	}
	if f, _ := lookup(m, "runs.0.faults.0.fault"); f != "pause postgres at 1s for 1m" {
		t.Errorf("runs.0.faults.0.fault = %v, want the pause", f)
	}
}
