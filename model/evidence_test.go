package model

import (
	"testing"
)

func TestApplyEvidenceRecordsVerifiedRecordsEvidenceAndOneEventWithTrustStates(t *testing.T) {
	a := verifiedArt(t)
	p := allowlistPolicy()
	p.RequiredChecks = []Check{CheckAttestation}
	p.Version = 4
	a.TrustState = TrustFromRecords(a.Verification, &p)
	if a.TrustState != TrustUnverified {
		t.Fatalf("precondition: %s", a.TrustState)
	}
	verifier := user("val", inProject(RoleVerifier))
	js := []Judgement{
		{Check: CheckAttestation, Result: ResultPassed, Detail: "ok", KeyIDs: []string{"k1"}},
		{Check: CheckSourcePolicy, Result: ResultPassed, Detail: "ok", KeyIDs: []string{"k1"}},
	}
	n := len(a.Audit)
	got, err := ApplyEvidence(a, &p, FormatDSSEInToto, "abc", "https://slsa.dev/provenance/v1", js, verifier, testCorr, at(5))
	if err != nil {
		t.Fatal(err)
	}
	if got.TrustState != TrustVerified || len(got.Evidence) != 2 || len(got.Audit) != n+1 {
		t.Fatalf("trust %s, %d evidence, %d events", got.TrustState, len(got.Evidence), len(got.Audit))
	}
	ev := got.Audit[n]
	if ev.Action != ActionEvidence || ev.FromState != string(TrustUnverified) || ev.ToState != string(TrustVerified) || ev.PolicyVersion == nil || *ev.PolicyVersion != 4 || len(ev.Verification) != 2 {
		t.Fatalf("event = %+v", ev)
	}
	r, _ := got.Record(CheckAttestation)
	if r.Basis != BasisVerified || r.EvidenceID != got.Evidence[0].ID || r.EvidenceID != EvidenceID(a.ID, "abc", CheckAttestation) {
		t.Fatalf("record = %+v", r)
	}
	if e := got.Evidence[1]; e.Check != CheckSourcePolicy || e.PolicyVersion != 4 || e.SubmittedBy != "val" || e.EnvelopeSHA256 != "abc" {
		t.Fatalf("evidence = %+v", e)
	}
	if len(got.EvidenceFor("abc")) != 2 || len(got.EvidenceFor("other")) != 0 {
		t.Fatal("EvidenceFor")
	}

	// A FAILED verdict fails trust like any record.
	failedJ := []Judgement{{Check: CheckAttestation, Result: ResultFailed, Detail: "verification was attempted and failed: x"}}
	got2, err := ApplyEvidence(got, &p, FormatDSSEInToto, "def", "x", failedJ, verifier, testCorr, at(6))
	if err != nil || got2.TrustState != TrustFailedVerification {
		t.Fatalf("after failed evidence: %s %v", got2.TrustState, err)
	}
	revoked, _ := Revoke(got2, verifier, testCorr, "bad", at(7))
	_, err = ApplyEvidence(revoked, &p, FormatDSSEInToto, "ghi", "x", js, verifier, testCorr, at(8))
	asError(t, err, KindInvalidTransition)
}

func TestVerifyMarksSubmittedResultsClaimedAndBaselineVerified(t *testing.T) {
	a := newArt(t)
	p := allowlistPolicy()
	got, err := Verify(a, &p, []VerificationRecord{{Check: CheckSignature, Result: ResultPassed, Basis: BasisVerified, EvidenceID: "forged"}}, user("val", inProject(RoleVerifier)), testCorr, "", at(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range got.Verification {
		want := BasisVerified
		if r.Check == CheckSignature {
			want = BasisClaimed
		}
		if r.Basis != want || (r.Check == CheckSignature && r.EvidenceID != "") {
			t.Errorf("%s: basis %s evidence %q, want %s", r.Check, r.Basis, r.EvidenceID, want)
		}
	}
}

func TestApplyEvidenceBoundsTheEnvelopesOfOneArtifact(t *testing.T) {
	a := verifiedArt(t)
	p := allowlistPolicy()
	for i := 0; i < MaxEvidencePerArtifact; i++ {
		a.Evidence = append(a.Evidence, Evidence{EnvelopeSHA256: string(rune('a'+i%26)) + string(rune('a'+i/26))})
	}
	_, err := ApplyEvidence(a, &p, FormatDSSEInToto, "new", "x", []Judgement{{Check: CheckAttestation, Result: ResultPassed}}, user("val", inProject(RoleVerifier)), testCorr, at(1))
	wantBadInput(t, err, "artifactId", "64 evidence envelopes")
}

func TestNewPolicyKeepsProvenanceRulesAndRefusesEmptyOnes(t *testing.T) {
	in := PolicyInput{AllowedSourceTypes: []SourceType{SourceOCIRegistry}, Provenance: &ProvenancePolicy{BuilderIDs: []string{"b"}, SourceRepositories: []string{"https://github.com/acme/"}}}
	p, err := NewPolicy(testProject, in)
	if err != nil || p.Provenance == nil || p.Provenance.BuilderIDs[0] != "b" {
		t.Fatalf("%+v %v", p.Provenance, err)
	}
	in.Provenance = &ProvenancePolicy{BuilderIDs: []string{"b"}}
	_, err = NewPolicy(testProject, in)
	wantBadInput(t, err, "provenance", "at least one builder id and one source repository")
}
