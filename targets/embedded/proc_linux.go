package embedded

import "syscall"

// setDeathSignal has the kernel send the server SIGQUIT (immediate
// shutdown) when stampede dies without stopping it.
func setDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGQUIT }
