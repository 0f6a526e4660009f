package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func do(t *testing.T, srv *httptest.Server, method, path, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestProtocol(t *testing.T) {
	srv := httptest.NewServer(NewHandler())
	defer srv.Close()

	resp, body := do(t, srv, "GET", "/stampede/v1/info", "")
	var info map[string]any
	if err := json.Unmarshal([]byte(body), &info); err != nil || resp.StatusCode != 200 {
		t.Fatalf("info: %d %q (%v)", resp.StatusCode, body, err)
	}
	for _, k := range []string{"design", "consistency", "durability"} {
		if s, _ := info[k].(string); s == "" {
			t.Errorf("info lacks %s: %s", k, body)
		}
	}
	if info["protocol"] != "stampede/http/v1" || info["durable"] != false {
		t.Errorf("info: %s", body)
	}

	if resp, body := do(t, srv, "POST", "/stampede/v1/reset", `{"products":3,"capacity":0}`); resp.StatusCode/100 != 2 {
		t.Fatalf("reset: %d %q", resp.StatusCode, body)
	}
	// A reset without its fields is refused, and the stock of the last good
	// one stands.
	if resp, _ := do(t, srv, "POST", "/stampede/v1/reset", `{"products":0}`); resp.StatusCode != 400 {
		t.Errorf("reset of 0 products: %d, want 400", resp.StatusCode)
	}

	for i := 0; i < 3; i++ {
		resp, body := do(t, srv, "POST", "/stampede/v1/buy", `{"order":1,"product":0,"quantity":1,"attempt":1}`)
		if resp.StatusCode != 200 || body != `{"outcome":"sold_out"}` || resp.ContentLength != int64(len(body)) || resp.Close {
			t.Fatalf("buy: %d %q length %d close %v", resp.StatusCode, body, resp.ContentLength, resp.Close)
		}
	}

	resp, body = do(t, srv, "GET", "/stampede/v1/audit", "")
	if want := "{\"sold\":[0,0,0]}\n{\"end\":true,\"orders\":0}\n"; resp.StatusCode != 200 || body != want {
		t.Errorf("audit: %d %q, want %q", resp.StatusCode, body, want)
	}

	if resp, _ := do(t, srv, "GET", "/stampede/v1/buy", ""); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET buy: %d, want 405", resp.StatusCode)
	}
}
