//go:build unix

package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The embedded server works for a normal user too. Run as root, the test
// runs the command as nobody; run as a normal user, as that user.
func TestRunAsNormalUser(t *testing.T) {
	tmp := openDir(t)
	out := filepath.Join(tmp, "report")
	small := filepath.Join(tmp, "small.yaml")
	os.WriteFile(small, []byte(smallScenario), 0o644)
	cmd := exec.Command(binary(t), "run", "-targets", "sqlcounter-noidem", "-scenario", small, "-out", out)
	cmd.Env = []string{"TMPDIR=" + tmp, "PATH=" + os.Getenv("PATH")}
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run as uid %d: %v\n%s", 65534, err, b)
	}
	if !strings.Contains(string(b), "sqlcounter-noidem") {
		t.Errorf("no summary:\n%s", b)
	}
	assertNoPostgresLeft(t, tmp)
}
