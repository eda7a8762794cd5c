package model

import (
	"strings"
	"testing"
)

func claimed(c Check) VerificationRecord {
	return VerificationRecord{Check: c, Result: ResultPassed, RecordedBy: "v", RecordedAt: t0, Basis: BasisClaimed}
}

func TestRequireVerifiedEvidenceCountsEvidenceChecksOnlyFromVerifiedRecords(t *testing.T) {
	admin := user("alice", inProject(RoleProjectAdmin))
	prod := PromotionRequest{Channel: ChannelProd}
	p := allowlistPolicy()
	p.StrictProgression = false

	a := verifiedArt(t, claimed(CheckAttestation))
	d := EvaluatePromotion(&a, &p, admin, prod)
	wantReasons(t, d.Reasons, 1, "requires check ATTESTATION to have PASSED, but it PASSED only as a CLAIMED result")
	if Deployable(&a, &p, ChannelProd) {
		t.Error("claimed attestation is deployable from PROD")
	}

	// The same claim where the channel does not require verified evidence.
	lax := p
	lax.Channels = append([]ChannelPolicy(nil), p.Channels...)
	lax.Channels[3].RequireVerifiedEvidence = false
	if d := EvaluatePromotion(&a, &lax, admin, prod); !d.Allowed() {
		t.Errorf("without requireVerifiedEvidence: %v", d.Reasons)
	}
	if !Deployable(&a, &lax, ChannelProd) {
		t.Error("claimed attestation not deployable without requireVerifiedEvidence")
	}

	v := verifiedArt(t, passed(CheckAttestation)) // basis VERIFIED
	if d := EvaluatePromotion(&v, &p, admin, prod); !d.Allowed() {
		t.Errorf("verified attestation: %v", d.Reasons)
	}
	if !Deployable(&v, &p, ChannelProd) {
		t.Error("verified attestation not deployable")
	}
}

func TestRequireVerifiedEvidenceAppliesToTrustDerivedFromProjectRequiredChecks(t *testing.T) {
	admin := user("alice", inProject(RoleProjectAdmin))
	p := allowlistPolicy()
	p.StrictProgression = false
	p.RequiredChecks = []Check{CheckSignature}
	p.Channels[3].RequiredChecks = []Check{}
	a := verifiedArt(t, claimed(CheckSignature))
	a.TrustState = TrustFromRecords(a.Verification, &p)
	if a.TrustState != TrustVerified {
		t.Fatalf("precondition: %s", a.TrustState)
	}
	d := EvaluatePromotion(&a, &p, admin, PromotionRequest{Channel: ChannelProd})
	wantReasons(t, d.Reasons, 1, "VERIFIED only by claimed results for SIGNATURE")
	if d := EvaluatePromotion(&a, &p, admin, PromotionRequest{Channel: ChannelStaging}); !d.Allowed() {
		t.Errorf("STAGING (no requireVerifiedEvidence): %v", d.Reasons)
	}
	f := a.DeployFacts()
	if f.ChannelTrust(&p, ChannelProd) != TrustUnverified || f.ChannelTrust(&p, ChannelStaging) != TrustVerified {
		t.Errorf("channel trust: PROD %s STAGING %s", f.ChannelTrust(&p, ChannelProd), f.ChannelTrust(&p, ChannelStaging))
	}
}

func TestDeployFactsRecordWhichEvidenceChecksPassedVerified(t *testing.T) {
	a := verifiedArt(t, claimed(CheckSignature), passed(CheckAttestation))
	f := a.DeployFacts()
	if !contains(f.Passed, CheckSignature) || !contains(f.Passed, CheckAttestation) {
		t.Fatalf("passed = %v", f.Passed)
	}
	if len(f.Verified) != 1 || f.Verified[0] != CheckAttestation {
		t.Fatalf("verified = %v", f.Verified)
	}
}

func TestNewPolicyDefaultsRequireVerifiedEvidenceToProdOnlyAndTakesAnExplicitValue(t *testing.T) {
	f, tr := false, true
	p, err := NewPolicy(testProject, PolicyInput{AllowedSourceTypes: []SourceType{SourceOCIRegistry}, Channels: []ChannelPolicyInput{
		{Channel: ChannelTest, RequiredTrust: TrustRequireVerified, PromoterRoles: []Role{RolePromoter}, RequireVerifiedEvidence: &tr},
		{Channel: ChannelProd, RequiredTrust: TrustRequireVerified, PromoterRoles: []Role{RoleProjectAdmin}},
		{Channel: ChannelStaging, RequiredTrust: TrustRequireVerified, PromoterRoles: []Role{RolePromoter}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, cp := range p.Channels {
		if cp.RequireVerifiedEvidence {
			got = append(got, string(cp.Channel))
		}
	}
	if strings.Join(got, ",") != "TEST,PROD" {
		t.Fatalf("requireVerifiedEvidence on %v", got)
	}
	p, _ = NewPolicy(testProject, PolicyInput{AllowedSourceTypes: []SourceType{SourceOCIRegistry}, Channels: []ChannelPolicyInput{
		{Channel: ChannelProd, RequiredTrust: TrustRequireVerified, PromoterRoles: []Role{RoleProjectAdmin}, RequireVerifiedEvidence: &f},
	}})
	if p.Channel(ChannelProd).RequireVerifiedEvidence {
		t.Fatal("explicit false ignored")
	}
}
