package embedded

import "os"

// alive reports whether process pid exists (FindProcess opens it on
// Windows, and fails once it has exited).
func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	p.Release()
	return true
}
