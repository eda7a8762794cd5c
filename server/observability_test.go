package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func scrape(t *testing.T, ts *testServer) string {
	t.Helper()
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	return string(b)
}

func TestMetricsCountOperationsPromotionsDenialsAndRuntime(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	c := newCast(t)
	a := ts.register(c.publisher, "payments", 1, nil)
	ts.promote(c.promoter, a.ID, "DEV", "")
	ts.ErrCode(c.viewer, promoteMutation, map[string]any{"in": map[string]any{"artifactId": a.ID, "channel": "STAGING"}})
	ts.ErrCode(c.publisher, registerMutation, map[string]any{"in": map[string]any{"project": "payments", "digest": "sha256:x", "kind": "OCI_IMAGE", "sourceType": "OCI_REGISTRY", "source": "r"}})
	body := scrape(t, ts)
	for _, want := range []string{
		`artifact_trust_graphql_operations_total{code="OK",operation="mutation:registerArtifact"} 1`,
		`artifact_trust_graphql_operations_total{code="OK",operation="mutation:promoteArtifact"} 1`,
		`artifact_trust_graphql_operations_total{code="POLICY_DENIED",operation="mutation:promoteArtifact"} 1`,
		`artifact_trust_graphql_operations_total{code="BAD_USER_INPUT",operation="mutation:registerArtifact"} 1`,
		`artifact_trust_promotions_total{channel="DEV"} 1`,
		`artifact_trust_audit_events_total{action="app_artifact.promote"} 1`,
		`artifact_trust_audit_events_total{action="app_artifact.register"} 1`,
		`artifact_trust_policy_denials_total{operation="promoteArtifact",reason_class="trust"} 1`,
		`artifact_trust_policy_denials_total{operation="promoteArtifact",reason_class="role"} 1`,
		`artifact_trust_policy_denials_total{operation="promoteArtifact",reason_class="progression"} 1`,
		`artifact_trust_graphql_operation_duration_seconds_count{operation="mutation:promoteArtifact"} 2`,
		`artifact_trust_database_errors_total 0`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestRefusedHTTPRequestsAreCountedUnderTheirCode sends requests the endpoint
// refuses before any GraphQL runs and checks each is counted under its own code,
// never as OK.
func TestRefusedHTTPRequestsAreCountedUnderTheirCode(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir(), func(c *Config) { c.MaxBodyBytes = 4096 })
	tok := "Bearer " + token(t, "alice", "payments:viewer")
	ts.raw("POST", GraphQLPath, []byte(`[{"query":"{viewer{subject}}"}]`), "Content-Type", "application/json", "Authorization", tok)                        // 400 batch
	ts.raw("PUT", GraphQLPath, gqlBody(`{ viewer { subject } }`, nil), "Content-Type", "application/json", "Authorization", tok)                            // 405 method
	ts.raw("POST", GraphQLPath, gqlBody(`{ viewer { subject } }`, nil), "Content-Type", "text/plain", "Authorization", tok)                                 // 415
	ts.raw("POST", GraphQLPath, gqlBody(`{ viewer { subject } }`+strings.Repeat(" ", 8192), nil), "Content-Type", "application/json", "Authorization", tok) // 413
	ts.raw("POST", GraphQLPath, gqlBody(`{ viewer { subject } }`, nil), "Content-Type", "application/json")                                                 // 401
	ts.raw("POST", GraphQLPath, gqlBody(`{ viewer { nope } }`, nil), "Content-Type", "application/json", "Authorization", tok)                              // 200, a request error
	body := scrape(t, ts)
	for _, want := range []string{
		`artifact_trust_graphql_operations_total{code="HTTP_400",operation="unparsed"} 1`,
		`artifact_trust_graphql_operations_total{code="HTTP_405",operation="unparsed"} 1`,
		`artifact_trust_graphql_operations_total{code="HTTP_413",operation="unparsed"} 1`,
		`artifact_trust_graphql_operations_total{code="HTTP_415",operation="unparsed"} 1`,
		`artifact_trust_graphql_operations_total{code="UNAUTHENTICATED",operation="unparsed"} 1`,
		`artifact_trust_graphql_operations_total{code="GRAPHQL_VALIDATION_FAILED",operation="unparsed"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(body, `code="OK"`) {
		t.Errorf("a refused request was counted as OK:\n%s", grepLines(body, "graphql_operations_total"))
	}
}
