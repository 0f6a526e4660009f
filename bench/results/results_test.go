package results

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Reports are written readable by all (0644 less the umask), not 0600 as
// a temporary file is created.
func TestWriteFileAtomicMode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "results.json")
	if err := WriteFileAtomic(p, []byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := 0o644 &^ umask(); fi.Mode().Perm() != want {
		t.Errorf("mode %v, want %v", fi.Mode().Perm(), want)
	}
	if want := fs.FileMode(0o044); fi.Mode().Perm()&want != want&^umask() {
		t.Errorf("mode %v: group and others cannot read the report", fi.Mode().Perm())
	}
}
