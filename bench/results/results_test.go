package results

import (
	"encoding/base64"
	"encoding/binary"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/HdrHistogram/hdrhistogram-go"
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

// results.json's histograms are the standard encoding: one base64 layer
// over HdrHistogram's V2 compressed bytes, whose cookie is 0x1c849304 with the
// word size in bits 4-7 (an
// earlier version wrapped them in base64 twice, which no other HdrHistogram
// library reads). Such earlier files still decode.
func TestHistogramEncoding(t *testing.T) {
	h := hdrhistogram.New(1, 60_000_000, 3)
	for v := int64(1); v <= 1000; v++ {
		h.RecordValue(v * 100)
	}
	s, err := EncodeHistogram(h)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) < 4 || binary.BigEndian.Uint32(raw)&^0xf0 != 0x1c849304 {
		t.Fatalf("one base64 decode gives % x..., want the V2 compressed cookie 1c 84 93 x4", raw[:min(4, len(raw))])
	}
	for name, enc := range map[string]string{"standard": s, "twice base64": base64.StdEncoding.EncodeToString([]byte(s))} {
		got, err := DecodeHistogram(enc)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.TotalCount() != 1000 || got.ValueAtQuantile(99) != h.ValueAtQuantile(99) {
			t.Errorf("%s: count %d p99 %d, want 1000 and %d", name, got.TotalCount(), got.ValueAtQuantile(99), h.ValueAtQuantile(99))
		}
	}
	if _, err := DecodeHistogram("not a histogram"); err == nil {
		t.Error("garbage decodes")
	}
}
