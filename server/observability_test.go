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
