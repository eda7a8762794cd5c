package main

import (
	"net/http"
	"testing"
)

func TestCORSAllowsOnlyConfiguredOrigins(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir(), func(c *Config) { c.CORSAllowedOrigins = []string{"https://portal.example.com"} })
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, ts.URL+GraphQLPath, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	ok := preflight("https://portal.example.com")
	if ok.Header.Get("Access-Control-Allow-Origin") != "https://portal.example.com" || ok.StatusCode >= 300 {
		t.Fatalf("allowed origin: %d %v", ok.StatusCode, ok.Header)
	}
	if bad := preflight("https://evil.example.net"); bad.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("other origin allowed: %v", bad.Header)
	}
	r := ts.Do(token(t, "v", "payments:viewer"), `{ viewer { subject } }`, nil, "Origin", "https://portal.example.com")
	if r.Header.Get("Access-Control-Allow-Origin") != "https://portal.example.com" || r.Header.Get("Access-Control-Expose-Headers") == "" {
		t.Fatalf("actual request headers %v", r.Header)
	}
}

func TestNoCORSHeadersWithoutConfiguredOrigins(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	r := ts.Do(token(t, "v", "payments:viewer"), `{ viewer { subject } }`, nil, "Origin", "https://portal.example.com")
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Fatalf("Access-Control-Allow-Origin = %q without configuration", got)
	}
}

func TestCORSWildcardIsRefused(t *testing.T) {
	t.Parallel()
	if _, err := parseConfig([]string{"-cors-allowed-origins", "*"}); err == nil {
		t.Fatal("a wildcard origin was accepted")
	}
}
