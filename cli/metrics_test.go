package cli

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// -metrics serves the run's Prometheus metrics while it runs, and the
// endpoint is gone after it; -progress json writes a line of JSON a second.
func TestMetricsEndpoint(t *testing.T) {
	out := filepath.Join(t.TempDir(), "report")
	cmd := exec.Command(binary(t), "run", "-targets", "memory", "-scenario", "steady", "-duration", "3s",
		"-metrics", "127.0.0.1:0", "-progress", "json", "-out", out)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var url string
	var jsonLines int
	confirmed := regexp.MustCompile(`stampede_answers_total\{design="memory",outcome="confirmed",scenario="steady"\} ([1-9][0-9]*)`)
	deadline := time.After(60 * time.Second)
	seen := false
	for !seen {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the run ended before its metrics showed answers (url %q)", url)
			}
			if u, found := strings.CutPrefix(l, "metrics: "); found {
				url = u
				continue
			}
			var p struct {
				Design   string `json:"design"`
				Attempts int64  `json:"attempts"`
			}
			if err := json.Unmarshal([]byte(l), &p); err != nil || p.Design != "memory" {
				t.Errorf("a progress line is not JSON of the design: %q (%v)", l, err)
			}
			jsonLines++
			if url == "" {
				continue
			}
			resp, err := http.Get(url)
			if err != nil {
				t.Fatalf("GET %s during the run: %v", url, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, want := range []string{"stampede_attempts_total", "stampede_sold_seats_total", "stampede_response_seconds_bucket", "stampede_response_p99_seconds",
				"stampede_late_sends_total", "stampede_send_lag_max_seconds", "stampede_not_sent_expired_total"} {
				if !strings.Contains(string(body), want) {
					t.Fatalf("metrics lack %s:\n%s", want, body)
				}
			}
			seen = confirmed.Match(body)
		case <-deadline:
			cmd.Process.Kill()
			t.Fatal("no confirmed answers in the metrics 60s in")
		}
	}
	for range lines { // to the end of the run
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if jsonLines < 2 {
		t.Errorf("%d JSON progress lines, want one a second", jsonLines)
	}
	if resp, err := http.Get(url); err == nil {
		resp.Body.Close()
		t.Errorf("the metrics endpoint still answers after the run")
	}
}
