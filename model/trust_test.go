package model

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// verifiedUnder verifies a fresh artifact under p (baseline run by the model) with
// the submitted results, and promotes it into DEV, TEST and STAGING.
func verifiedUnder(t *testing.T, p *Policy, results ...VerificationRecord) Artifact {
	t.Helper()
	a, err := Verify(newArt(t), p, results, verifier, "c-verify", "", at(1))
	if err != nil {
		t.Fatal(err)
	}
	return withPromotions(a, ChannelDev, ChannelTest, ChannelStaging)
}

// withEvidence records ATTESTATION evidence verified by keys on a (as submitEvidence
// does), under p.
func withEvidence(t *testing.T, a Artifact, p *Policy, sha string, result CheckResult, keys ...string) Artifact {
	t.Helper()
	out, err := ApplyEvidence(a, p, FormatDSSEInToto, sha, "https://example.com/p", []Judgement{{Check: CheckAttestation, Result: result, Detail: "x", KeyIDs: keys}}, verifier, "c-ev", at(2))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPolicyTighteningMakesVerifiedArtifactFailedAtOnceAndLooseningRestores(t *testing.T) {
	v1 := allowlistPolicy()
	v1.Version = 1
	a := verifiedUnder(t, &v1)
	if a.TrustState != TrustVerified || !Deployable(&a, &v1, ChannelStaging) {
		t.Fatalf("precondition: %s", a.TrustState)
	}
	tight := allowlistPolicy()
	tight.AllowedSources, tight.Version = []string{"registry.example.com/other/"}, 2
	if got := DeriveTrust(&a, &tight); got != TrustFailedVerification {
		t.Fatalf("derived under the tightened policy: %s, want FAILED_VERIFICATION", got)
	}
	if Deployable(&a, &tight, ChannelStaging) || Deployable(&a, &tight, ChannelDev) {
		t.Fatal("deployable under a policy that no longer allowlists its source")
	}
	d := EvaluatePromotion(&a, &tight, admin, PromotionRequest{Channel: ChannelProd})
	wantReasons(t, d.Reasons, -1, "FAILED_VERIFICATION", "stored as VERIFIED", "version 2", "matches no allowedSources prefix")
	if d.Classes[0] != DenyTrust {
		t.Errorf("classes %v", d.Classes)
	}
	if _, err := Promote(a, &tight, admin, PromotionRequest{Channel: ChannelStaging, TargetEnvironment: "eu"}, "c", at(3)); !IsKind(err, KindPolicyDenied) {
		t.Fatalf("promotion under the tightened policy: %v", err)
	}
	loose := allowlistPolicy()
	loose.Version = 3
	if got := DeriveTrust(&a, &loose); got != TrustVerified || !Deployable(&a, &loose, ChannelStaging) {
		t.Fatalf("loosened again: %s", got)
	}
	// An artifact stored FAILED because its source was not allowlisted is VERIFIED
	// once the policy allowlists it.
	b, _ := Verify(newArt(t), &tight, nil, verifier, "c", "", at(1))
	if b.TrustState != TrustFailedVerification || DeriveTrust(&b, &loose) != TrustVerified {
		t.Fatalf("stored %s, derived under the loose policy %s", b.TrustState, DeriveTrust(&b, &loose))
	}
}

func TestNewlyRequiredCheckMakesVerifiedArtifactUnverifiedForDecisions(t *testing.T) {
	p := allowlistPolicy()
	a := verifiedUnder(t, &p)
	strict := allowlistPolicy()
	strict.RequiredChecks, strict.Version = []Check{CheckSignature}, 5
	if got := DeriveTrust(&a, &strict); got != TrustUnverified {
		t.Fatalf("derived %s, want UNVERIFIED", got)
	}
	d := EvaluatePromotion(&a, &strict, promoter, PromotionRequest{Channel: ChannelTest, TargetEnvironment: "eu"})
	wantReasons(t, d.Reasons, 1, "requires a VERIFIED artifact, but it is UNVERIFIED", "requires SIGNATURE, which has no valid PASSED result")
}

func TestKeyRevocationDiscountsEvidenceRestingOnlyOnRevokedKeys(t *testing.T) {
	p := allowlistPolicy()
	p.RequiredChecks = []Check{CheckAttestation}
	one := withEvidence(t, verifiedUnder(t, &p), &p, "e1", ResultPassed, "k1")
	two := withEvidence(t, verifiedUnder(t, &p), &p, "e2", ResultPassed, "k1", "k2")
	if one.TrustState != TrustVerified || two.TrustState != TrustVerified || !Deployable(&one, &p, ChannelProd) {
		t.Fatalf("precondition: %s %s", one.TrustState, two.TrustState)
	}
	revoked := p
	revoked.RevokedKeys = []string{"k1"}
	// Resting on k1 alone: no valid result, so UNVERIFIED (not FAILED).
	if got := DeriveTrust(&one, &revoked); got != TrustUnverified {
		t.Fatalf("derived %s, want UNVERIFIED", got)
	}
	if Deployable(&one, &revoked, ChannelProd) || Deployable(&one, &revoked, ChannelStaging) {
		t.Fatal("deployable on evidence of a revoked key")
	}
	d := EvaluatePromotion(&one, &revoked, admin, PromotionRequest{Channel: ChannelProd})
	wantReasons(t, d.Reasons, 2, "is UNVERIFIED", "its ATTESTATION evidence was verified only by trusted keys revoked since",
		"requires check ATTESTATION to have PASSED, but it PASSED only on evidence verified by trusted keys revoked since")
	// k2 still vouches for the other.
	if got := DeriveTrust(&two, &revoked); got != TrustVerified || !Deployable(&two, &revoked, ChannelProd) {
		t.Fatalf("evidence verified by a live key too: %s", got)
	}
	// A failure stays a failure whatever its keys.
	failed := withEvidence(t, verifiedUnder(t, &p), &p, "e3", ResultFailed, "k1")
	if failed.TrustState != TrustFailedVerification || DeriveTrust(&failed, &revoked) != TrustFailedVerification {
		t.Fatalf("failed evidence: stored %s, derived %s", failed.TrustState, DeriveTrust(&failed, &revoked))
	}
	// Verifying again under the revocation stores what decisions derive.
	again, err := Verify(one, &revoked, nil, verifier, "c", "", at(9))
	if err != nil || again.TrustState != TrustUnverified {
		t.Fatalf("verified again: %s, %v", again.TrustState, err)
	}
	if _, ok := again.Record(CheckAttestation); ok {
		t.Error("the record resting on the revoked key is still stored")
	}
}

func TestRevokedArtifactTrustNeverChanges(t *testing.T) {
	p := allowlistPolicy()
	a := verifiedUnder(t, &p)
	a, _ = Revoke(a, admin, "c", "compromised", at(5))
	tight := p
	tight.AllowedSources = nil
	loose := p
	loose.RevokedKeys = []string{"k"}
	for _, q := range []*Policy{&p, &tight, &loose} {
		if got := DeriveTrust(&a, q); got != TrustRevoked {
			t.Fatalf("derived %s", got)
		}
		if out, ok := Rederive(a, q, admin, "c", "policy version 9", at(6)); ok || !reflect.DeepEqual(out, a) {
			t.Fatal("Rederive changed a REVOKED artifact")
		}
	}
}

func TestRederiveWritesOneEventNamingTheChangeOnlyWhenTrustDiffers(t *testing.T) {
	p := allowlistPolicy()
	a := verifiedUnder(t, &p)
	if out, ok := Rederive(a, &p, admin, "c", "policy version 1", at(5)); ok || !reflect.DeepEqual(out, a) {
		t.Fatal("Rederive changed an artifact that is up to date")
	}
	tight := p
	tight.AllowedSources, tight.Version = []string{"registry.example.com/other/"}, 7
	out, ok := Rederive(a, &tight, admin, "corr-change", "policy version 7", at(5))
	if !ok || out.TrustState != TrustFailedVerification || len(out.Audit) != len(a.Audit)+1 {
		t.Fatalf("Rederive: %v %s %d events", ok, out.TrustState, len(out.Audit))
	}
	ev := out.Audit[len(out.Audit)-1]
	if ev.Action != ActionVerify || ev.Actor != admin.Subject || ev.ActorType != admin.Type || ev.CorrelationID != "corr-change" ||
		ev.Reason != "policy version 7" || ev.FromState != "VERIFIED" || ev.ToState != "FAILED_VERIFICATION" || ev.PolicyVersion == nil || *ev.PolicyVersion != 7 {
		t.Fatalf("event %+v", ev)
	}
	if len(ev.Verification) != 1 || ev.Verification[0].Check != CheckSourceAllowlisted || ev.Verification[0].Result != ResultFailed {
		t.Fatalf("event records %+v", ev.Verification)
	}
	// The stored state is self-consistent: the records derive the trust.
	if TrustFromRecords(out.Verification, &tight) != out.TrustState || DeriveTrust(&out, &tight) != out.TrustState {
		t.Fatal("stored records do not derive the stored trust")
	}
	if again, ok := Rederive(out, &tight, admin, "corr-change", "policy version 7", at(6)); ok || !reflect.DeepEqual(again, out) {
		t.Fatal("a second pass changed it again")
	}
}

// TestDerivedFactsAgreeWithDerivedRecords: decisions derive trust from facts
// (DeployFacts.Derive), the background job from records (DeriveRecords); both
// agree for every artifact, policy and revocation.
func TestDerivedFactsAgreeWithDerivedRecords(t *testing.T) {
	allow := allowlistPolicy()
	deny := allowlistPolicy()
	deny.AllowedSources = []string{"registry.example.com/other/"}
	needSig := allowlistPolicy()
	needSig.RequiredChecks = []Check{CheckSignature, CheckAttestation}
	var arts []Artifact
	for _, p := range []*Policy{&allow, &deny} {
		base := verifiedUnder(t, p)
		arts = append(arts, newArt(t), base,
			withEvidence(t, base, p, "e1", ResultPassed, "k1"),
			withEvidence(t, base, p, "e2", ResultPassed, "k1", "k2"),
			withEvidence(t, base, p, "e3", ResultFailed, "k1"),
			verifiedUnder(t, p, VerificationRecord{Check: CheckSignature, Result: ResultPassed}),
			verifiedUnder(t, p, VerificationRecord{Check: CheckSignature, Result: ResultFailed}))
	}
	for i, a := range arts {
		for _, p := range []Policy{allow, deny, needSig} {
			for _, revoked := range [][]string{nil, {"k1"}, {"k1", "k2"}} {
				p.RevokedKeys = revoked
				records, _, _ := DeriveRecords(&a, &p, "x", at(9))
				want := TrustFromRecords(records, &p)
				if got := DeriveTrust(&a, &p); got != want {
					t.Errorf("artifact %d, sources %v, revoked %v: facts derive %s, records %s", i, p.AllowedSources, revoked, got, want)
				}
			}
		}
	}
}

func TestSourceMayBeAllowlistedCoversEverySourceWithThePrefix(t *testing.T) {
	p := allowlistPolicy() // registry.example.com/payments/
	for _, tc := range []struct {
		prefix string
		want   bool
	}{
		{"registry.example.com/payments/api", true},
		{"registry.example.com/", true},
		{"", true},
		{"registry.example.com/other/", false},
		{"quay.io/", false},
	} {
		if got := p.SourceMayBeAllowlisted(tc.prefix); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.prefix, got, tc.want)
		}
	}
	// Sound: whenever a source is allowlisted, so may be each of its prefixes.
	for _, src := range []string{"registry.example.com/payments/api", "registry.example.com/paymentsx", "quay.io/x"} {
		for n := 0; n <= len(src); n++ {
			if p.SourceAllowlisted(src) && !p.SourceMayBeAllowlisted(src[:n]) {
				t.Fatalf("%q allowlisted but its prefix %q may not be", src, src[:n])
			}
		}
	}
}

func TestTrustDriftNamesNothingWhenTrustAgrees(t *testing.T) {
	p := allowlistPolicy()
	a := verifiedUnder(t, &p)
	for _, r := range EvaluatePromotion(&a, &p, user("x", nil), PromotionRequest{Channel: ChannelTest}).Reasons {
		if strings.Contains(r, "current policy") {
			t.Errorf("reason %q speaks of a drift", r)
		}
	}
	if s := fmt.Sprint(KeyRevokedReason("ab"), PolicyReason(7)); s != "key ab revokedpolicy version 7" {
		t.Error(s)
	}
}

func TestTrustInputsFingerprintOnlyWhatTrustDependsOn(t *testing.T) {
	base := allowlistPolicy()
	base.AllowedSources = []string{"registry.example.com/a/", "registry.example.com/b/"}
	base.RequiredChecks = []Check{CheckSignature}
	fp := base.TrustInputs()

	same := base
	same.AllowedSources = []string{"registry.example.com/b/", "", "registry.example.com/a/", "registry.example.com/a/"}
	same.Version = 9
	same.Channels = nil
	same.Freeze = &Freeze{Reason: "release week"}
	if same.TrustInputs() != fp {
		t.Error("order, duplicates, the version, channels or a freeze changed the fingerprint")
	}
	for name, change := range map[string]func(p *Policy){
		"a source":         func(p *Policy) { p.AllowedSources = []string{"registry.example.com/a/"} },
		"a required check": func(p *Policy) { p.RequiredChecks = []Check{CheckSignature, CheckAttestation} },
		"a revoked key":    func(p *Policy) { p.RevokedKeys = []string{"k1"} },
		"a moved boundary": func(p *Policy) { p.AllowedSources = []string{"registry.example.com/a/registry.example.com/b/"} },
	} {
		p := base
		change(&p)
		if p.TrustInputs() == fp {
			t.Errorf("%s left the fingerprint as it was", name)
		}
	}
}

func TestReevaluationIsSupersededOnlyByALaterChangeOfItsInputs(t *testing.T) {
	old := &Reevaluation{PolicyVersion: 3, RevokedKeys: 1, Inputs: "a"}
	for _, tc := range []struct {
		r    Reevaluation
		want bool
	}{
		{Reevaluation{PolicyVersion: 4, RevokedKeys: 1, Inputs: "b"}, true},
		{Reevaluation{PolicyVersion: 3, RevokedKeys: 2, Inputs: "b"}, true},
		{Reevaluation{PolicyVersion: 4, RevokedKeys: 1, Inputs: "a"}, false}, // a freeze
		{Reevaluation{PolicyVersion: 3, RevokedKeys: 1, Inputs: "b"}, false},
	} {
		if got := tc.r.Supersedes(old); got != tc.want {
			t.Errorf("%+v supersedes: %v, want %v", tc.r, got, tc.want)
		}
	}
	// A job recorded before fingerprints: any later change supersedes it, and it
	// is for the inputs of its own version.
	legacy := &Reevaluation{PolicyVersion: 3, RevokedKeys: 1}
	if !(&Reevaluation{PolicyVersion: 4, RevokedKeys: 1, Inputs: "a"}).Supersedes(legacy) || (&Reevaluation{PolicyVersion: 3, RevokedKeys: 1, Inputs: "a"}).Supersedes(legacy) {
		t.Error("legacy job")
	}
	p := allowlistPolicy()
	p.Version, p.RevokedKeys = 3, []string{"k"}
	if !legacy.For(&p) || (&Reevaluation{Inputs: "x"}).For(&p) || !(&Reevaluation{Inputs: p.TrustInputs()}).For(&p) {
		t.Error("For")
	}
}
