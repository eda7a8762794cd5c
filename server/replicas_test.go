package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestTwoReplicasShareEventsAndAReconnectingDashboardMissesNothing runs two server
// processes on one database (the second's MONGODB_URI is the first's embedded
// engine). A webhook created through the second receives the events written
// through the first; a graphql-ws client subscribed to the first with a cursor
// drops its connection mid-stream while registrations race, resubscribes to the
// second with the cursor of the last event it received, and gets every event
// exactly once over the two connections.
func TestTwoReplicasShareEventsAndAReconnectingDashboardMissesNothing(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the server and runs two processes")
	}
	dir, _ := filepath.Abs("../conformance")
	node, nodeErr := exec.LookPath("node")
	_, modErr := os.Stat(filepath.Join(dir, "node_modules", "graphql-ws"))
	requireInstalled(t, "the graphql-ws client", "(cd conformance && npm ci)", nodeErr, modErr)
	tmp := t.TempDir()
	bin := serverBinary(t)
	env := []string{"WEBHOOK_ALLOWED_HOSTS=127.0.0.1"}
	a := startProcess(t, bin, filepath.Join(tmp, "a"), append(env, "EMBEDDED_ENGINE_SHARED=true")...)
	if a.EngineURI == "" {
		t.Fatalf("the first server does not show its engine's address\n%s", a.logs)
	}
	b := startProcess(t, bin, filepath.Join(tmp, "b"), append(env, "MONGODB_URI="+a.EngineURI)...)

	var mu sync.Mutex
	hooked := map[string]int{}
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hooked[r.Header.Get("webhook-id")]++
		mu.Unlock()
	}))
	defer rc.Close()

	tok := token(t, "dash", "replicas:project_admin", "replicas:publisher")
	ca := &crashClient{url: a.URL, http: &http.Client{Timeout: 20 * time.Second}}
	cb := &crashClient{url: b.URL, http: &http.Client{Timeout: 20 * time.Second}}
	if _, errs, err := ca.do(tok, "policy", `mutation { setProjectPolicy(project: "replicas", input: {
		allowedSourceTypes: [OCI_REGISTRY], allowedSources: ["registry.example.com/"], allowNonOci: false, strictProgression: true}) { version } }`, nil); err != nil || len(errs) > 0 {
		t.Fatalf("policy: %v %+v", err, errs)
	}
	if _, errs, err := cb.do(tok, "webhook", `mutation($u: String!) { createWebhook(project: "replicas", input: {url: $u}) { webhook { id } } }`, map[string]any{"u": rc.URL + "/hook"}); err != nil || len(errs) > 0 {
		t.Fatalf("webhook on the second replica: %v %+v", err, errs)
	}
	first, errs, err := ca.do(tok, "first", `mutation { registerArtifact(input: {project: "replicas", digest: "sha256:00000000000000000000000000000000000000000000000000000000000000ff", kind: OCI_IMAGE, sourceType: OCI_REGISTRY, source: "registry.example.com/replicas/app"}) { id } }`, nil)
	if err != nil || len(errs) > 0 {
		t.Fatalf("first: %v %+v", err, errs)
	}
	data, errs, err := cb.do(tok, "cursor", `{ auditEvents(project: "replicas", first: 1) { edges { cursor } } }`, nil)
	if err != nil || len(errs) > 0 {
		t.Fatalf("cursor: %v %+v", err, errs)
	}
	var page struct {
		AuditEvents struct {
			Edges []struct{ Cursor string } `json:"edges"`
		} `json:"auditEvents"`
	}
	if err := json.Unmarshal(data, &page); err != nil || len(page.AuditEvents.Edges) != 1 {
		t.Fatalf("cursor: %s %v (first: %s)", data, err, first)
	}

	const writes = 60
	cmd := exec.Command(node, "resume.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"WS_URL_A=ws"+strings.TrimPrefix(a.URL, "http")+GraphQLPath,
		"WS_URL_B=ws"+strings.TrimPrefix(b.URL, "http")+GraphQLPath,
		"HTTP_URL_A="+a.URL+GraphQLPath, "TOKEN="+tok, "PROJECT=replicas",
		"START_CURSOR="+page.AuditEvents.Edges[0].Cursor, "WRITES=60")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("resume.mjs: %v\n%s\n%s", err, stderr.String(), out)
	}
	var res struct {
		Written, Phase1, Phase2, Errors []string
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	t.Logf("written %d; received %d before the reconnect (replica A), %d after it (replica B); errors %v", len(res.Written), len(res.Phase1), len(res.Phase2), res.Errors)
	seen := map[string]int{}
	for _, id := range append(append([]string{}, res.Phase1...), res.Phase2...) {
		seen[id]++
	}
	for _, id := range res.Written {
		if seen[id] != 1 {
			t.Errorf("artifact %s received %d times over the two connections, want exactly once", id, seen[id])
		}
	}
	if len(seen) != len(res.Written) || len(res.Written) != writes || len(res.Phase2) == 0 || len(res.Errors) > 0 {
		t.Errorf("received %d distinct events for %d written (%d expected); phase 2 %d; errors %v", len(seen), len(res.Written), writes, len(res.Phase2), res.Errors)
	}

	// The webhook created through replica B gets every event written through A.
	want := append([]string{strings.TrimSuffix(strings.TrimPrefix(string(first), `{"registerArtifact":{"id":"`), `"}}`) + ".0"}, res.Written...)
	deadline := time.Now().Add(30 * time.Second)
	missing := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for i, id := range want {
			if i > 0 {
				id += ".0"
			}
			if hooked[id] == 0 {
				n++
			}
		}
		return n
	}
	for missing() > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := missing(); n > 0 {
		t.Fatalf("%d of %d events written through replica A never reached the webhook created through replica B", n, len(want))
	}
}
