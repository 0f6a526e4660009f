package embedded

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// setDeathSignal has the kernel send the server SIGQUIT (immediate
// shutdown) when stampede dies without stopping it.
func setDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGQUIT }

// waitStopped waits, up to 2s, until process pid is stopped (state T in
// /proc): SIGSTOP is delivered asynchronously, and a pause fault must not
// return while the server still answers.
func waitStopped(pid int) error {
	path := "/proc/" + strconv.Itoa(pid) + "/stat"
	deadline := time.Now().Add(2 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && (b[i+2] == 'T' || b[i+2] == 't') {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d not stopped 2s after SIGSTOP", pid)
		}
		time.Sleep(time.Millisecond)
	}
}
