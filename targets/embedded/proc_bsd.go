//go:build unix && !linux

package embedded

import "syscall"

// setDeathSignal does nothing where there is no parent-death signal
// (macOS, the BSDs): a stampede killed outright (kill -9) leaves its
// embedded server running, to be stopped by hand.
func setDeathSignal(*syscall.SysProcAttr) {}

// waitStopped cannot tell here when SIGSTOP took effect: it returns at once.
func waitStopped(int) error { return nil }
