package main

import "testing"

// TestDecisionsNameThePolicyVersionTheyWereDecidedUnder: promotions, verification
// records and decision events served over GraphQL carry the policy version they were
// decided under; events no policy decides carry none.
func TestDecisionsNameThePolicyVersionTheyWereDecidedUnder(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	c := newCast(t)
	publisher := token(t, "pat", "payments:publisher", "payments:verifier", "payments:promoter")
	const fields = `id
		promotions { channel policyVersion }
		verification { check policyVersion }
		audit { action policyVersion verification { check policyVersion } }`
	type artifact struct {
		ID         string `json:"id"`
		Promotions []struct {
			Channel       string `json:"channel"`
			PolicyVersion int    `json:"policyVersion"`
		} `json:"promotions"`
		Verification []struct {
			Check         string `json:"check"`
			PolicyVersion *int   `json:"policyVersion"`
		} `json:"verification"`
		Audit []struct {
			Action        string `json:"action"`
			PolicyVersion *int   `json:"policyVersion"`
			Verification  []struct {
				PolicyVersion *int `json:"policyVersion"`
			} `json:"verification"`
		} `json:"audit"`
	}

	// Under the default policy (version 0): registered and promoted into DEV.
	var reg struct {
		R artifact `json:"registerArtifact"`
	}
	ts.MustDo(publisher, `mutation($in: RegisterArtifactInput!) { registerArtifact(input: $in) { `+fields+` } }`, map[string]any{"in": map[string]any{
		"project": "payments", "digest": digestN(1), "kind": "OCI_IMAGE", "sourceType": "OCI_REGISTRY", "source": "registry.example.com/payments/app"}}, &reg)
	ts.MustDo(publisher, `mutation($in: PromoteArtifactInput!) { promoteArtifact(input: $in) { id } }`, map[string]any{"in": map[string]any{
		"artifactId": reg.R.ID, "channel": "DEV"}}, nil)
	// Version 1 allowlists the registry; verified and promoted into TEST under it.
	allowRegistry(t, ts, c, nil)
	ts.MustDo(publisher, `mutation($in: VerifyArtifactInput!) { verifyArtifact(input: $in) { id } }`, map[string]any{"in": map[string]any{
		"artifactId": reg.R.ID, "results": []map[string]any{{"check": "SIGNATURE", "result": "PASSED"}}}}, nil)
	ts.MustDo(publisher, `mutation($in: PromoteArtifactInput!) { promoteArtifact(input: $in) { id } }`, map[string]any{"in": map[string]any{
		"artifactId": reg.R.ID, "channel": "TEST"}}, nil)
	ts.MustDo(c.admin, `mutation($id: ID!) { deprecateArtifact(id: $id, reason: "superseded") { id } }`, map[string]any{"id": reg.R.ID}, nil)

	var got struct {
		A artifact `json:"artifact"`
	}
	ts.MustDo(c.viewer, `query($id: ID!) { artifact(id: $id) { `+fields+` } }`, map[string]any{"id": reg.R.ID}, &got)
	a := got.A
	if len(a.Promotions) != 2 || a.Promotions[0].PolicyVersion != 0 || a.Promotions[1].PolicyVersion != 1 {
		t.Fatalf("promotions %+v, want DEV under version 0 and TEST under version 1", a.Promotions)
	}
	for _, r := range a.Verification {
		if r.PolicyVersion == nil || *r.PolicyVersion != 1 {
			t.Fatalf("record %s: policy version %v, want 1", r.Check, r.PolicyVersion)
		}
	}
	want := map[string]*int{"app_artifact.register": policyVersionPtr(0), "app_artifact.verify": policyVersionPtr(1), "app_artifact.deprecate": nil}
	promotes := 0
	for _, e := range a.Audit {
		w, ok := want[e.Action]
		if e.Action == "app_artifact.promote" {
			w, ok = policyVersionPtr(a.Promotions[promotes].PolicyVersion), true
			promotes++
		}
		if !ok {
			t.Fatalf("unexpected event %s", e.Action)
		}
		if (w == nil) != (e.PolicyVersion == nil) || (w != nil && *w != *e.PolicyVersion) {
			t.Fatalf("%s: policy version %v, want %v", e.Action, e.PolicyVersion, w)
		}
		for _, r := range e.Verification {
			if r.PolicyVersion == nil || *r.PolicyVersion != 1 {
				t.Fatalf("%s result: policy version %v, want 1", e.Action, r.PolicyVersion)
			}
		}
	}
}

func policyVersionPtr(v int) *int { return &v }
