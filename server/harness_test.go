package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/artifact-trust/control-plane/auth"
)

// testSecret signs every test token.
const testSecret = "test-secret-of-at-least-32-bytes-long!!"

// testServer is a real server on a loopback port, started in-process by run().
type testServer struct {
	t       *testing.T
	URL     string
	dataDir string
	cancel  context.CancelFunc
	done    chan error
}

// startServer runs the server on the embedded engine in dataDir.
func startServer(t *testing.T, dataDir string, mutate ...func(*Config)) *testServer {
	t.Helper()
	cfg, err := parseConfig([]string{"-listen-addr", "127.0.0.1:0", "-data-dir", dataDir, "-jwt-hs256-secret", testSecret, "-log-level", "error"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mutate {
		m(&cfg)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	if testing.Verbose() {
		log.SetOutput(&testLogWriter{t})
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	ts := &testServer{t: t, dataDir: dataDir, cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- run(ctx, cfg, log, ready) }()
	select {
	case addr := <-ready:
		ts.URL = "http://" + addr
	case err := <-ts.done:
		cancel()
		t.Fatalf("server did not start: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("server did not start within 60s")
	}
	t.Cleanup(ts.Stop)
	return ts
}

// Stop shuts the server down and waits for it; safe to call twice.
func (ts *testServer) Stop() {
	if ts.cancel == nil {
		return
	}
	ts.cancel()
	ts.cancel = nil
	select {
	case err := <-ts.done:
		if err != nil {
			ts.t.Errorf("server stopped with error: %v", err)
		}
	case <-time.After(30 * time.Second):
		ts.t.Error("server did not stop within 30s")
	}
}

type testLogWriter struct{ t *testing.T }

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// token mints a test token; roles are "project:role" strings.
func token(t *testing.T, sub string, roles ...string) string {
	t.Helper()
	return tokenAs(t, sub, "user", roles...)
}

func tokenAs(t *testing.T, sub, actorType string, roles ...string) string {
	t.Helper()
	c := auth.Claims{Subject: sub, ActorType: actorType, Roles: map[string][]string{}}
	for _, r := range roles {
		p, role, err := auth.ParseRoleFlag(r)
		if err != nil {
			t.Fatal(err)
		}
		c.Roles[p] = append(c.Roles[p], role)
	}
	tok, err := auth.MintHS256([]byte(testSecret), c, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// gqlError is one entry of a GraphQL response's errors.
type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Code returns extensions.code.
func (e gqlError) Code() string { s, _ := e.Extensions["code"].(string); return s }

// Reasons returns extensions.reasons.
func (e gqlError) Reasons() []string {
	raw, _ := e.Extensions["reasons"].([]any)
	out := make([]string, 0, len(raw))
	for _, r := range raw {
		s, _ := r.(string)
		out = append(out, s)
	}
	return out
}

type gqlResponse struct {
	Status int
	Header http.Header
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
}

// Do posts a GraphQL operation with an optional bearer token.
func (ts *testServer) Do(tok, query string, vars map[string]any, headers ...string) gqlResponse {
	ts.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, ts.URL+GraphQLPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := gqlResponse{Status: resp.StatusCode, Header: resp.Header}
	if err := json.Unmarshal(raw, &out); err != nil {
		ts.t.Fatalf("response is not JSON (status %d): %s", resp.StatusCode, raw)
	}
	return out
}

// DoPath posts a query to path and returns the raw response body.
func (ts *testServer) DoPath(path, tok, query string) string {
	ts.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query})
	req, _ := http.NewRequest(http.MethodPost, ts.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return string(raw)
}

// MustDo runs an operation that must succeed and decodes data into out.
func (ts *testServer) MustDo(tok, query string, vars map[string]any, out any) {
	ts.t.Helper()
	r := ts.Do(tok, query, vars)
	if len(r.Errors) > 0 {
		ts.t.Fatalf("unexpected errors: %+v", r.Errors)
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			ts.t.Fatalf("decode data: %v: %s", err, r.Data)
		}
	}
}

// ErrCode runs an operation that must fail and returns its first error.
func (ts *testServer) ErrCode(tok, query string, vars map[string]any) gqlError {
	ts.t.Helper()
	r := ts.Do(tok, query, vars)
	if len(r.Errors) == 0 {
		ts.t.Fatalf("expected an error, got data %s", r.Data)
	}
	return r.Errors[0]
}

// digestN is a distinct canonical sha256 digest for n.
func digestN(n int) string {
	return fmt.Sprintf("sha256:%064x", n+1)
}

const artifactFields = `id project digest kind oci sourceType source runtimeClass tags lifecycleState trustState version createdAt updatedAt
	verification { check result detail recordedBy recordedAt }
	promotions { channel targetEnvironment promotedBy promotedAt reason correlationId }
	audit { action actor actorType project artifactId digest kind sourceType fromState toState promotionChannel promotionEnvironment correlationId reason at }`

type artifactJSON struct {
	ID             string   `json:"id"`
	Project        string   `json:"project"`
	Digest         string   `json:"digest"`
	Kind           string   `json:"kind"`
	OCI            bool     `json:"oci"`
	SourceType     string   `json:"sourceType"`
	Source         string   `json:"source"`
	RuntimeClass   *string  `json:"runtimeClass"`
	Tags           []string `json:"tags"`
	LifecycleState string   `json:"lifecycleState"`
	TrustState     string   `json:"trustState"`
	Version        int      `json:"version"`
	CreatedAt      string   `json:"createdAt"`
	UpdatedAt      string   `json:"updatedAt"`
	Verification   []struct {
		Check      string  `json:"check"`
		Result     string  `json:"result"`
		Detail     *string `json:"detail"`
		RecordedBy string  `json:"recordedBy"`
		RecordedAt string  `json:"recordedAt"`
	} `json:"verification"`
	Promotions []struct {
		Channel           string  `json:"channel"`
		TargetEnvironment *string `json:"targetEnvironment"`
		PromotedBy        string  `json:"promotedBy"`
		PromotedAt        string  `json:"promotedAt"`
		Reason            *string `json:"reason"`
		CorrelationID     string  `json:"correlationId"`
	} `json:"promotions"`
	Audit []auditJSON `json:"audit"`
}

type auditJSON struct {
	Action               string  `json:"action"`
	Actor                string  `json:"actor"`
	ActorType            string  `json:"actorType"`
	Project              string  `json:"project"`
	ArtifactID           string  `json:"artifactId"`
	Digest               string  `json:"digest"`
	Kind                 string  `json:"kind"`
	SourceType           string  `json:"sourceType"`
	FromState            *string `json:"fromState"`
	ToState              *string `json:"toState"`
	PromotionChannel     *string `json:"promotionChannel"`
	PromotionEnvironment *string `json:"promotionEnvironment"`
	CorrelationID        string  `json:"correlationId"`
	Reason               *string `json:"reason"`
	At                   string  `json:"at"`
}

const registerMutation = `mutation($in: RegisterArtifactInput!) { registerArtifact(input: $in) { ` + artifactFields + ` } }`

// register registers an OCI image in project and returns it.
func (ts *testServer) register(tok, project string, n int, extra map[string]any) artifactJSON {
	ts.t.Helper()
	in := map[string]any{"project": project, "digest": digestN(n), "kind": "OCI_IMAGE", "sourceType": "OCI_REGISTRY", "source": "registry.example.com/" + project + "/app"}
	for k, v := range extra {
		in[k] = v
	}
	var out struct {
		RegisterArtifact artifactJSON `json:"registerArtifact"`
	}
	ts.MustDo(tok, registerMutation, map[string]any{"in": in}, &out)
	return out.RegisterArtifact
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
