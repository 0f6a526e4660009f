package reports

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/stampede-bench/stampede/bench/results"
)

// ErrNotReport is wrapped by CheckDir's error for a directory that holds
// something other than a stampede report.
var ErrNotReport = errors.New("not a stampede report")

// reportFile reports whether name is a file that a report (a run's
// results.json and WriteAll) writes, or a temporary file of one.
func reportFile(name string) bool {
	switch name {
	case "results.json", "index.html", "summary.md", "bench.txt":
		return true
	}
	if strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-") {
		return true // left by a write that was killed
	}
	switch filepath.Ext(name) {
	case ".png", ".svg", ".hgrm", ".hlog":
		return true
	}
	return false
}

// CheckDir checks that dir may receive a report before anything is
// written: it does not exist yet, or it is an empty directory, or it holds
// an earlier stampede report (a results.json of stampede's schema and only
// the files a report writes), which the new one replaces whole. Anything
// else, a file or a directory holding other files, is refused, so that a
// mistyped -out never overwrites a user's files.
func CheckDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot create %s: %v", dir, errors.Unwrap(err))
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is a file, not a directory", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	for _, e := range entries {
		if e.IsDir() || !reportFile(e.Name()) {
			return fmt.Errorf("%w: %s holds %s, which a report does not write: name a new or empty directory, or an earlier report's", ErrNotReport, dir, e.Name())
		}
	}
	if _, err := results.Read(filepath.Join(dir, "results.json")); err != nil {
		return fmt.Errorf("%w: %s holds report files but no readable results.json of stampede's: name a new or empty directory, or an earlier report's", ErrNotReport, dir)
	}
	return nil
}

// removeStale removes the report files of dir that this rendering did not
// write (an earlier run's .hgrm and .hlog of designs not in this one, a
// screenshot of the earlier page), keeping results.json, which the run
// writes itself.
func removeStale(dir string, written map[string][]byte) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == "results.json" || !reportFile(name) {
			continue
		}
		if _, ok := written[name]; !ok {
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
