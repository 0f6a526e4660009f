//go:build unix

package results

import (
	"io/fs"
	"sync"
	"syscall"
)

// umask returns the process's file mode creation mask. Reading it means
// setting it, so it is read once, before any file is written.
var umask = sync.OnceValue(func() fs.FileMode {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return fs.FileMode(m)
})
