package main

import (
	"strings"
	"testing"
)

// TestProvenanceRulesChangedTakeEffectInDecisionsAtOnce: an artifact whose
// SOURCE_POLICY passed on SLSA provenance from a builder the policy then stops
// allowing is refused by deployable, evaluatePromotion and promoteArtifact at
// once, each naming the builder; allowing the builder again makes it deployable.
func TestProvenanceRulesChangedTakeEffectInDecisionsAtOnce(t *testing.T) {
	ts := startServer(t, t.TempDir())
	c := newCast(t)
	const builderA, builderB = "https://builders.example.com/a", "https://builders.example.com/b"
	policy := func(builders ...string) map[string]any {
		return map[string]any{
			"provenance": map[string]any{"builderIds": builders, "sourceRepositories": []string{"https://github.com/acme/"}},
			"channels":   []map[string]any{{"channel": "DEV", "requiredTrust": "VERIFIED", "promoterRoles": []string{"PROMOTER"}}},
		}
	}
	allowRegistry(t, ts, c, policy(builderA, builderB))
	key := newEvidenceKey(t)
	ts.addKey(c.admin, "payments", key.pem, "ATTESTATION", "SOURCE_POLICY")
	slsa := func(builder string) map[string]any {
		return map[string]any{
			"buildDefinition": map[string]any{"buildType": "https://builders.example.com/buildtypes/v1", "externalParameters": map[string]any{"repository": "https://github.com/acme/app"}},
			"runDetails":      map[string]any{"builder": map[string]any{"id": builder}},
		}
	}
	var digests []string
	var newest string
	for i, builder := range []string{builderB, builderA} {
		a := ts.register(c.publisher, "payments", i+1, nil)
		ts.verify(c.verifier, a.ID)
		res, r := ts.submitEvidence(c.verifier, map[string]any{"artifactId": a.ID, "dsseEnvelope": key.envelope(t, a.Digest, "https://slsa.dev/provenance/v1", slsa(builder))})
		if len(r.Errors) > 0 || len(res.Evidence) != 2 || res.Evidence[1].Result != "PASSED" || res.Artifact.TrustState != "VERIFIED" {
			t.Fatalf("evidence %+v, trust %s, errors %+v", res.Evidence, res.Artifact.TrustState, r.Errors)
		}
		ts.promote(c.promoter, a.ID, "DEV", "")
		digests, newest = append(digests, a.Digest), a.ID
	}
	if got := ts.deployable(c.viewer, "payments", "DEV", nil); got != digests[1] {
		t.Fatalf("before: deployable %s, want %s", got, digests[1])
	}

	allowRegistry(t, ts, c, policy(builderB))
	// Decisions name the builder at once: as the drift from the stored trust, or,
	// once the server's background re-derivation has stored the new verdict (it
	// may already have), in the stored SOURCE_POLICY record's detail.
	why := "builder " + builderA + " is not one of the policy's provenance builderIds"
	if got := ts.deployable(c.viewer, "payments", "DEV", nil); got != digests[0] {
		t.Fatalf("builder A refused: deployable %s, want the artifact built by B %s", got, digests[0])
	}
	in := map[string]any{"artifactId": newest, "channel": "DEV", "targetEnvironment": "us"}
	if d := ts.evaluate(c.promoter, in); d.Allowed || !hasReason(d.Reasons, why) || !hasReason(d.Reasons, "FAILED_VERIFICATION") {
		t.Fatalf("evaluatePromotion: %+v", d)
	}
	if e := ts.ErrCode(c.promoter, promoteMutation, map[string]any{"in": in}); e.Code() != "POLICY_DENIED" || !hasReason(e.Reasons(), why) {
		t.Fatalf("promoteArtifact: %s %q", e.Code(), e.Reasons())
	}

	allowRegistry(t, ts, c, policy(builderA))
	if got := ts.deployable(c.viewer, "payments", "DEV", nil); got != digests[1] {
		t.Fatalf("builder A allowed again: deployable %s, want %s", got, digests[1])
	}
	if d := ts.evaluate(c.promoter, in); !d.Allowed || strings.Join(d.Reasons, "") != "" {
		t.Fatalf("evaluatePromotion after allowing builder A again: %+v", d)
	}
}
