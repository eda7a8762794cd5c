package main

import (
	"html"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestBoardAndPlaygroundAreServedByTheBinary: /board is always there, the
// playground at / only when PLAYGROUND is on, and every file they load is served
// from /assets/; no page names another host. On the development server the
// playground's Headers tab holds the token command for its DATA_DIR.
func TestBoardAndPlaygroundAreServedByTheBinary(t *testing.T) {
	get := func(t *testing.T, url string) (int, http.Header, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	clearKeyEnv(t)
	dev := startServer(t, t.TempDir(), func(c *Config) { c.JWTHS256Secret = "" })
	status, h, body := get(t, dev.URL+"/")
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.Contains(h.Get("Content-Security-Policy"), "connect-src 'self'") {
		t.Fatalf("playground: %d %v", status, h)
	}
	if !strings.Contains(html.UnescapeString(body), "Bearer <paste the token printed by: "+tokenCommandLine(dev.dataDir)+">") {
		t.Errorf("playground headers hint misses the token command for %s:\n%s", dev.dataDir, body)
	}
	for _, page := range []string{"/", "/board"} {
		_, _, body := get(t, dev.URL+page)
		if strings.Contains(body, "https://") || strings.Contains(body, "http://") {
			t.Errorf("%s names another host", page)
		}
		for _, ref := range strings.Split(body, `src="`)[1:] {
			url := ref[:strings.Index(ref, `"`)]
			if status, _, _ := get(t, dev.URL+url); status != 200 || !strings.HasPrefix(url, "/assets/") {
				t.Errorf("%s loads %s: %d", page, url, status)
			}
		}
	}

	prod := startServer(t, t.TempDir(), func(c *Config) { c.Playground = false })
	if status, _, _ := get(t, prod.URL+"/"); status != 404 {
		t.Errorf("playground off: / answers %d", status)
	}
	status, h, body = get(t, prod.URL+"/board")
	if status != 200 || !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self';") || !strings.Contains(body, `data-graphql-path="/query"`) {
		t.Fatalf("board: %d %v", status, h)
	}
	if strings.Contains(body, "go run ./server token") {
		t.Errorf("board hints at a development token on a server with a configured key")
	}
}
