package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// graphqlWSScenario is one JSON line of conformance/graphql-ws.mjs.
type graphqlWSScenario struct {
	Scenario   string            `json:"scenario"`
	Connecting int               `json:"connecting"`
	Opened     int               `json:"opened"`
	Closes     int               `json:"closes"`
	CloseCodes []int             `json:"closeCodes"`
	Events     []json.RawMessage `json:"events"`
	Ended      *struct {
		CloseCode int      `json:"closeCode"`
		Reason    string   `json:"reason"`
		Errors    []string `json:"errors"`
		Complete  bool     `json:"complete"`
		Error     string   `json:"error"`
	} `json:"ended"`
	RegisterStatus int `json:"registerStatus"`
}

// TestGraphQLWSClientIsRefusedWithoutReconnectingAndFollowsTokenExpiry runs the npm
// graphql-ws client (conformance/, default retry settings) against the real
// server: a refused token closes with 4401 and the client connects once only; a
// token that expires closes the connection with 4401 and the client does not come
// back; a forbidden project ends the subscription with FORBIDDEN and 4403; a valid
// token gets its events. CI installs the package (npm ci in conformance/);
// elsewhere the test is skipped when Node or the package is missing.
func TestGraphQLWSClientIsRefusedWithoutReconnectingAndFollowsTokenExpiry(t *testing.T) {
	t.Parallel()
	dir, _ := filepath.Abs("../conformance")
	node, err := exec.LookPath("node")
	_, statErr := os.Stat(filepath.Join(dir, "node_modules", "graphql-ws"))
	requireInstalled(t, "the graphql-ws client", "(cd conformance && npm ci)", err, statErr)
	ts := startServer(t, t.TempDir(), func(c *Config) { c.JWTLeeway = 0 })
	c := newCast(t)
	cmd := exec.Command(node, "graphql-ws.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"WS_URL=ws"+strings.TrimPrefix(ts.URL, "http")+GraphQLPath,
		"VIEWER_TOKEN="+c.viewer,
		"PUBLISHER_TOKEN="+c.publisher,
		"EXPIRING_TOKEN="+wsToken(t, "vic", time.Now().Add(4*time.Second), "payments:viewer"),
		"DIGEST="+digestN(42),
	)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("graphql-ws.mjs: %v\n%s", err, stderr.String())
	}
	got := map[string]graphqlWSScenario{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var s graphqlWSScenario
		if json.Unmarshal(sc.Bytes(), &s) == nil && s.Scenario != "" {
			got[s.Scenario] = s
			t.Logf("%s", sc.Bytes())
		}
	}

	works := got["works"]
	if len(works.Events) != 1 || !strings.Contains(string(works.Events[0]), digestN(42)) || works.Connecting != 1 {
		t.Errorf("works: connected %d times, events %s, ended %+v; want the registered artifact's event on one connection", works.Connecting, works.Events, works.Ended)
	}
	bad := got["badToken"]
	if bad.Ended == nil || bad.Ended.CloseCode != 4401 || bad.Connecting != 1 {
		t.Errorf("badToken: connected %d times, closes %v, ended %+v; want one connection closed with 4401", bad.Connecting, bad.CloseCodes, bad.Ended)
	}
	exp := got["expiring"]
	if exp.Ended == nil || exp.Ended.CloseCode != 4401 || exp.Connecting != 1 {
		t.Errorf("expiring: connected %d times, closes %v, ended %+v; want one connection closed with 4401 at the expiry", exp.Connecting, exp.CloseCodes, exp.Ended)
	}
	fb := got["forbidden"]
	if fb.Ended == nil || len(fb.Ended.Errors) != 1 || fb.Ended.Errors[0] != "FORBIDDEN" || len(fb.CloseCodes) == 0 || fb.CloseCodes[0] != 4403 || fb.Connecting != 1 {
		t.Errorf("forbidden: connected %d times, closes %v, events %s, ended %+v; want FORBIDDEN then close 4403 on one connection", fb.Connecting, fb.CloseCodes, fb.Events, fb.Ended)
	}
	// The server saw one refused connection per refused client, not a stream of them.
	m := scrape(t, ts)
	for _, want := range []string{`artifact_trust_websocket_auth_closes_total{code="4401"} 2`, `artifact_trust_websocket_auth_closes_total{code="4403"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("server-side closes, want %s:\n%s", want, grepLines(m, "artifact_trust_websocket_auth_closes_total"))
		}
	}
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
