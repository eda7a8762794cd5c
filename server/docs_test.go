package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDashboardQueriesInDocsRunAgainstTheServer runs every query in docs/queries
// after a full progression and a refusal, so the published examples never rot.
func TestDashboardQueriesInDocsRunAgainstTheServer(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	c := newCast(t)
	allowRegistry(t, ts, c, nil)
	a := ts.register(c.publisher, "payments", 1, map[string]any{"source": "registry.example.com/payments/api"})
	ts.verify(c.verifier, a.ID)
	ts.attest(c.admin, c.verifier, a) // PROD counts ATTESTATION only from verified evidence
	for _, ch := range []string{"DEV", "TEST", "STAGING"} {
		ts.promote(c.promoter, a.ID, ch, "")
	}
	ts.ErrCode(c.promoter, promoteMutation, map[string]any{"in": map[string]any{"artifactId": a.ID, "channel": "PROD", "targetEnvironment": "eu-1"}})
	ts.promote(c.admin, a.ID, "PROD", "eu-1")

	vars := map[string]map[string]any{
		"progression.graphql":     {"project": "payments"},
		"prod-now.graphql":        {"project": "payments", "env": "eu-1"},
		"recent-denials.graphql":  {"project": "payments"},
		"artifact-trail.graphql":  {"project": "payments", "digest": a.Digest},
		"recent-activity.graphql": {"project": "payments", "first": 50},
		"governance.graphql": {"project": "payments", "digest": a.Digest,
			"from": map[string]any{"channel": "STAGING"}, "to": map[string]any{"channel": "PROD", "targetEnvironment": "eu-1"}},
	}
	// What each view must show for this history.
	expect := map[string][]string{
		"progression.graphql":     {`"channel":"PROD"`, `"targetEnvironment":"eu-1"`, `"promotedBy":"ada"`, `"channel":"STAGING"`},
		"prod-now.graphql":        {`"digest":"` + a.Digest + `"`, `"check":"ATTESTATION"`},
		"recent-denials.graphql":  {`"operation":"promoteArtifact"`, `"actor":"prue"`, `"reasonClasses":["role"]`, `"channel":"PROD"`},
		"artifact-trail.graphql":  {`"action":"app_artifact.register"`, `"action":"app_artifact.verify"`, `"promotionChannel":"PROD"`},
		"recent-activity.graphql": {`"action":"app_artifact.promote"`, `"hasNextPage":false`},
		"governance.graphql":      {`"same":true`, `"forbidSelfApproval":true`, `"freeze":null`, `"approvals":[]`, `"breakGlass":{"edges":[]}`},
	}
	files, err := filepath.Glob("../docs/queries/*.graphql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no docs queries: %v", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			v, ok := vars[name]
			if !ok {
				t.Fatalf("add variables and expectations for %s to this test", name)
			}
			r := ts.Do(c.viewer, string(src), v)
			if len(r.Errors) > 0 {
				t.Fatalf("errors: %+v", r.Errors)
			}
			compact, _ := json.Marshal(json.RawMessage(r.Data))
			for _, want := range expect[name] {
				if !strings.Contains(string(compact), want) {
					t.Errorf("result lacks %s: %s", want, compact)
				}
			}
		})
	}
}
