package model

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// readyFor builds an artifact and actor that satisfy every default-policy rule for
// a promotion into c.
func readyFor(t *testing.T, c Channel) (Artifact, Actor) {
	t.Helper()
	switch c {
	case ChannelDev:
		return artIn(t, LifecyclePublished, TrustUnverified), promoter
	case ChannelTest:
		return withPromotions(verifiedArt(t), ChannelDev), promoter
	case ChannelStaging:
		return withPromotions(verifiedArt(t), ChannelDev, ChannelTest), promoter
	default:
		return withPromotions(verifiedArt(t, passed(CheckAttestation)), ChannelDev, ChannelTest, ChannelStaging), admin
	}
}

func TestEvaluatePromotionAllowsWhenEveryRuleHoldsOnDefaultPolicy(t *testing.T) {
	p := allowlistPolicy()
	starAdmin := user("root", map[string][]Role{AllProjects: {RoleProjectAdmin}})
	starPromoter := user("robot", map[string][]Role{AllProjects: {RolePromoter}, "other": {RoleViewer}})
	for _, c := range Channels {
		a, actor := readyFor(t, c)
		tests := []struct {
			name  string
			actor Actor
		}{{"fixture actor", actor}, {"star project admin", starAdmin}}
		if c != ChannelProd {
			tests = append(tests, struct {
				name  string
				actor Actor
			}{"admin", admin}, struct {
				name  string
				actor Actor
			}{"star promoter", starPromoter})
		}
		for _, tt := range tests {
			t.Run(string(c)+"/"+tt.name, func(t *testing.T) {
				snapshot := cloneArtifact(a)
				d := EvaluatePromotion(&a, &p, tt.actor, PromotionRequest{Channel: c})
				if !d.Allowed() || d.LifecycleBlocked || len(d.Reasons) != 0 {
					t.Errorf("decision %+v, want allowed", d)
				}
				if !reflect.DeepEqual(a, snapshot) {
					t.Error("EvaluatePromotion changed the artifact")
				}
			})
		}
	}
	// DEV allows an unverified artifact that is PROMOTED already, too.
	a := withPromotions(artIn(t, LifecyclePublished, TrustUnverified), ChannelDev)
	if d := EvaluatePromotion(&a, &p, promoter, PromotionRequest{Channel: ChannelDev, TargetEnvironment: "eu-1"}); !d.Allowed() {
		t.Errorf("re-promotion into DEV refused: %q", d.Reasons)
	}
}

func TestEvaluatePromotionEachRuleAloneOnDefaultPolicy(t *testing.T) {
	p := allowlistPolicy()
	otherProjectAdmin := user("erin", map[string][]Role{"billing": {RoleProjectAdmin}})
	tests := []struct {
		name    string
		channel Channel
		mod     func(a *Artifact)
		actor   *Actor // nil: the fixture's actor
		blocked bool
		want    []string
	}{
		// Rule 1: lifecycle.
		{"rule1 deprecated", ChannelTest, func(a *Artifact) { a.LifecycleState = LifecycleDeprecated }, nil, true,
			[]string{"artifact is DEPRECATED; only PUBLISHED or PROMOTED artifacts can be promoted"}},
		{"rule1 retired", ChannelDev, func(a *Artifact) { a.LifecycleState = LifecycleRetired }, nil, true,
			[]string{"artifact is RETIRED"}},
		// Rule 2: trust.
		{"rule2 revoked on DEV", ChannelDev, func(a *Artifact) { setTrust(a, TrustRevoked) }, nil, false,
			[]string{"REVOKED and can never be promoted"}},
		{"rule2 failed on DEV", ChannelDev, func(a *Artifact) { setTrust(a, TrustFailedVerification) }, nil, false,
			[]string{"FAILED_VERIFICATION", "verify it again"}},
		{"rule2 unverified on TEST", ChannelTest, func(a *Artifact) { setTrust(a, TrustUnverified) }, nil, false,
			[]string{"channel TEST requires a VERIFIED artifact, but it is UNVERIFIED"}},
		{"rule2 unverified on STAGING", ChannelStaging, func(a *Artifact) { setTrust(a, TrustUnverified) }, nil, false,
			[]string{"channel STAGING requires a VERIFIED artifact"}},
		{"rule2 unverified on PROD", ChannelProd, func(a *Artifact) { setTrust(a, TrustUnverified) }, nil, false,
			[]string{"channel PROD requires a VERIFIED artifact"}},
		{"rule2 revoked on PROD", ChannelProd, func(a *Artifact) { setTrust(a, TrustRevoked) }, nil, false,
			[]string{"REVOKED"}},
		// Rule 3: channel checks.
		{"rule3 PROD attestation missing", ChannelProd, func(a *Artifact) { a.Verification = allBaselinePassed() }, nil, false,
			[]string{"channel PROD requires check ATTESTATION to have PASSED, but it has no result"}},
		// Rule 4: who may promote.
		{"rule4 viewer on TEST", ChannelTest, nil, &viewer, false,
			[]string{"dave may not promote into TEST in project payments", "one of the roles PROMOTER, PROJECT_ADMIN", "promoterSubjects"}},
		{"rule4 publisher on DEV (higher role not implied)", ChannelDev, nil, &publisher, false,
			[]string{"alice may not promote into DEV"}},
		{"rule4 verifier on STAGING", ChannelStaging, nil, &verifier, false,
			[]string{"ci-verify may not promote into STAGING"}},
		{"rule4 promoter on PROD", ChannelProd, nil, &promoter, false,
			[]string{"bob may not promote into PROD in project payments: it needs one of the roles PROJECT_ADMIN"}},
		{"rule4 admin of another project", ChannelProd, nil, &otherProjectAdmin, false,
			[]string{"erin may not promote into PROD"}},
		// Rule 5: strict progression.
		{"rule5 TEST before DEV", ChannelTest, func(a *Artifact) { a.Promotions = nil }, nil, false,
			[]string{"project payments uses strict progression: promote the artifact into DEV before TEST"}},
		{"rule5 STAGING without TEST", ChannelStaging, func(a *Artifact) { a.Promotions = a.Promotions[:1] }, nil, false,
			[]string{"promote the artifact into TEST before STAGING"}},
		{"rule5 PROD without STAGING", ChannelProd, func(a *Artifact) { a.Promotions = a.Promotions[:2] }, nil, false,
			[]string{"promote the artifact into STAGING before PROD"}},
		{"rule5 PROD with only STAGING is enough", ChannelProd, func(a *Artifact) { a.Promotions = a.Promotions[2:] }, nil, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, actor := readyFor(t, tt.channel)
			if tt.mod != nil {
				tt.mod(&a)
			}
			if tt.actor != nil {
				actor = *tt.actor
			}
			d := EvaluatePromotion(&a, &p, actor, PromotionRequest{Channel: tt.channel})
			n := 0
			if len(tt.want) > 0 {
				n = 1 // exactly one rule is broken: exactly one reason
			}
			wantReasons(t, d.Reasons, n, tt.want...)
			if d.Allowed() != (len(tt.want) == 0) {
				t.Errorf("Allowed = %v with reasons %q", d.Allowed(), d.Reasons)
			}
			if d.LifecycleBlocked != tt.blocked {
				t.Errorf("LifecycleBlocked = %v, want %v", d.LifecycleBlocked, tt.blocked)
			}
		})
	}
}

func TestEvaluatePromotionListsEveryReasonAtOnce(t *testing.T) {
	p := allowlistPolicy()
	tests := []struct {
		name    string
		channel Channel
		l       LifecycleState
		tr      TrustState
		recs    []VerificationRecord
		proms   []Channel
		actor   Actor
		want    []string
	}{
		{"all five rules broken on PROD", ChannelProd, LifecycleDeprecated, TrustUnverified, nil, nil, viewer, []string{
			"artifact is DEPRECATED", "channel PROD requires a VERIFIED artifact", "requires check ATTESTATION to have PASSED",
			"dave may not promote into PROD", "into STAGING before PROD"}},
		{"retired revoked viewer on TEST", ChannelTest, LifecycleRetired, TrustRevoked, nil, nil, viewer, []string{
			"artifact is RETIRED", "REVOKED", "dave may not promote into TEST", "into DEV before TEST"}},
		{"unverified promoter skipping to PROD", ChannelProd, LifecyclePublished, TrustUnverified, nil, []Channel{ChannelDev}, promoter, []string{
			"channel PROD requires a VERIFIED artifact, but it is UNVERIFIED", "ATTESTATION", "bob may not promote into PROD", "into STAGING before PROD"}},
		{"failed attestation on PROD: the trust and the channel's check", ChannelProd, LifecyclePromoted, TrustFailedVerification,
			append(allBaselinePassed(), failed(CheckAttestation)), []Channel{ChannelDev, ChannelTest, ChannelStaging}, admin, []string{
				"FAILED_VERIFICATION", "requires check ATTESTATION to have PASSED, but it is FAILED"}},
		{"failed verification and progression on STAGING", ChannelStaging, LifecyclePromoted, TrustFailedVerification, nil, []Channel{ChannelDev}, promoter, []string{
			"FAILED_VERIFICATION", "into TEST before STAGING"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := artIn(t, tt.l, tt.tr)
			a.Verification = tt.recs
			a = withPromotions(a, tt.proms...)
			a.LifecycleState = tt.l
			d := EvaluatePromotion(&a, &p, tt.actor, PromotionRequest{Channel: tt.channel})
			wantReasons(t, d.Reasons, len(tt.want), tt.want...)
			for i, r := range d.Reasons {
				if len(r) < 20 || strings.Count(r, " ") < 3 {
					t.Errorf("reason %d %q is not a sentence", i, r)
				}
			}
			// Promote refuses with the same reasons (INVALID_TRANSITION when the lifecycle blocks).
			_, err := Promote(a, &p, tt.actor, PromotionRequest{Channel: tt.channel}, "c", at(1))
			kind := KindPolicyDenied
			if tt.l == LifecycleDeprecated || tt.l == LifecycleRetired {
				kind = KindInvalidTransition
			}
			e := asError(t, err, kind)
			if !reflect.DeepEqual(e.Reasons, d.Reasons) {
				t.Errorf("Promote reasons %q, want %q", e.Reasons, d.Reasons)
			}
		})
	}
}

func TestEvaluatePromotionWithCustomPolicies(t *testing.T) {
	sa := Actor{Subject: "ci-release", Type: ActorServiceAccount, Roles: map[string][]Role{}}
	tests := []struct {
		name    string
		policy  func() Policy
		channel Channel
		art     func(t *testing.T) Artifact
		actor   Actor
		want    []string // nil: allowed
	}{
		{"service account in PROD promoterSubjects without any role", func() Policy {
			p := allowlistPolicy()
			p.Channels[3].PromoterSubjects = []string{"ci-release"}
			return p
		}, ChannelProd, func(t *testing.T) Artifact { a, _ := readyFor(t, ChannelProd); return a }, sa, nil},
		{"subject listed for another channel only", func() Policy {
			p := allowlistPolicy()
			p.Channels[0].PromoterSubjects = []string{"ci-release"}
			return p
		}, ChannelProd, func(t *testing.T) Artifact { a, _ := readyFor(t, ChannelProd); return a }, sa,
			[]string{"ci-release may not promote into PROD"}},
		{"channel with subjects only names an approved subject", func() Policy {
			p := allowlistPolicy()
			p.Channels[3].PromoterRoles = nil
			p.Channels[3].PromoterSubjects = []string{"ci-release"}
			return p
		}, ChannelProd, func(t *testing.T) Artifact { a, _ := readyFor(t, ChannelProd); return a }, admin,
			[]string{"carol may not promote into PROD in project payments: it needs an approved subject"}},
		{"strictProgression false lets TEST come first", func() Policy {
			p := allowlistPolicy()
			p.StrictProgression = false
			return p
		}, ChannelTest, func(t *testing.T) Artifact { return verifiedArt(t) }, promoter, nil},
		{"strictProgression false lets PROD come first", func() Policy {
			p := allowlistPolicy()
			p.StrictProgression = false
			return p
		}, ChannelProd, func(t *testing.T) Artifact { return verifiedArt(t, passed(CheckAttestation)) }, admin, nil},
		{"strictProgression true refuses TEST first", func() Policy { return allowlistPolicy() },
			ChannelTest, func(t *testing.T) Artifact { return verifiedArt(t) }, promoter, []string{"into DEV before TEST"}},
		{"TEST requires SIGNATURE, missing", func() Policy {
			p := allowlistPolicy()
			p.Channels[1].RequiredChecks = []Check{CheckSignature, CheckBlobDigest}
			return p
		}, ChannelTest, func(t *testing.T) Artifact { a, _ := readyFor(t, ChannelTest); return a }, promoter,
			[]string{"channel TEST requires check SIGNATURE to have PASSED, but it has no result", "channel TEST requires check BLOB_DIGEST"}},
		{"TEST requires SIGNATURE, passed", func() Policy {
			p := allowlistPolicy()
			p.Channels[1].RequiredChecks = []Check{CheckSignature}
			return p
		}, ChannelTest, func(t *testing.T) Artifact {
			a, _ := readyFor(t, ChannelTest)
			a.Verification = append(a.Verification, passed(CheckSignature))
			return a
		}, promoter, nil},
		{"DEV requires VERIFIED", func() Policy {
			p := allowlistPolicy()
			p.Channels[0].RequiredTrust = TrustRequireVerified
			return p
		}, ChannelDev, func(t *testing.T) Artifact { return newArt(t) }, promoter, []string{"channel DEV requires a VERIFIED artifact"}},
		{"PROD allowing unverified without checks", func() Policy {
			p := allowlistPolicy()
			p.Channels[3] = ChannelPolicy{Channel: ChannelProd, RequiredTrust: TrustAllowUnverified, PromoterRoles: []Role{RolePromoter}}
			return p
		}, ChannelProd, func(t *testing.T) Artifact {
			return withPromotions(newArt(t), ChannelDev, ChannelTest, ChannelStaging)
		}, promoter, nil},
		{"policy without a channel entry falls back to the default", func() Policy {
			p := allowlistPolicy()
			p.Channels = p.Channels[:3]
			return p
		}, ChannelProd, func(t *testing.T) Artifact { a, _ := readyFor(t, ChannelProd); return a }, promoter,
			[]string{"bob may not promote into PROD"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.policy()
			a := tt.art(t)
			d := EvaluatePromotion(&a, &p, tt.actor, PromotionRequest{Channel: tt.channel})
			wantReasons(t, d.Reasons, len(tt.want), tt.want...)
		})
	}
}

func TestPromoteRefusals(t *testing.T) {
	p := allowlistPolicy()
	tests := []struct {
		name    string
		l       LifecycleState
		tr      TrustState
		actor   Actor
		channel Channel
		kind    ErrorKind
	}{
		{"deprecated", LifecycleDeprecated, TrustVerified, promoter, ChannelDev, KindInvalidTransition},
		{"retired", LifecycleRetired, TrustVerified, promoter, ChannelDev, KindInvalidTransition},
		{"deprecated and otherwise denied", LifecycleDeprecated, TrustRevoked, viewer, ChannelProd, KindInvalidTransition},
		{"revoked", LifecyclePublished, TrustRevoked, promoter, ChannelDev, KindPolicyDenied},
		{"failed verification", LifecyclePromoted, TrustFailedVerification, promoter, ChannelDev, KindPolicyDenied},
		{"unverified to TEST", LifecyclePublished, TrustUnverified, promoter, ChannelTest, KindPolicyDenied},
		{"viewer to DEV", LifecyclePublished, TrustUnverified, viewer, ChannelDev, KindPolicyDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := artIn(t, tt.l, tt.tr)
			snapshot := cloneArtifact(in)
			out, err := Promote(in, &p, tt.actor, PromotionRequest{Channel: tt.channel}, "c", at(1))
			e := asError(t, err, tt.kind)
			if len(e.Reasons) == 0 {
				t.Error("refusal carries no reasons")
			}
			if tt.kind == KindPolicyDenied && !strings.Contains(e.Message, e.Reasons[0]) {
				t.Errorf("message %q does not list the reasons", e.Message)
			}
			if !reflect.DeepEqual(out, snapshot) || !reflect.DeepEqual(in, snapshot) {
				t.Error("refused promotion changed the artifact")
			}
		})
	}
}

func TestDenialsCarryOneClassPerReason(t *testing.T) {
	a := newArt(t)
	a.TrustState = TrustRevoked
	p := DefaultPolicy(a.Project)
	d := EvaluatePromotion(&a, &p, Actor{Subject: "nobody"}, PromotionRequest{Channel: ChannelTest})
	want := []string{DenyTrust, DenyRole, DenyProgression}
	if len(d.Reasons) != len(d.Classes) || strings.Join(d.Classes, ",") != strings.Join(want, ",") {
		t.Fatalf("classes %v for reasons %v, want %v", d.Classes, d.Reasons, want)
	}
	in := RegisterInput{Project: "payments", Kind: KindArchive, SourceType: SourceHTTPS, Source: "https://x"}
	p.AllowedSourceTypes = []SourceType{SourceOCIRegistry}
	err := CheckRegistration(&p, in)
	var me *Error
	if !errors.As(err, &me) || strings.Join(me.Classes, ",") != DenySourceType+","+DenyNonOCI || len(me.Reasons) != 2 {
		t.Fatalf("registration denial %+v", err)
	}
	p.AllowedSourceTypes, p.AllowNonOCI = AllSourceTypes, true
	if err := CheckRegistration(&p, in); err != nil {
		t.Fatalf("allowed non-OCI registration refused: %v", err)
	}
}

// A FAILED_VERIFICATION artifact is refused with the checks stored as FAILED and
// their details, so the refusal says what to fix whether the failure was found at
// this decision or stored by an earlier one.
func TestEvaluatePromotionOfAFailedArtifactNamesTheFailedChecksAndTheirDetails(t *testing.T) {
	p := allowlistPolicy()
	a := artIn(t, LifecyclePublished, TrustFailedVerification)
	rec := failed(CheckDigestCanonical)
	rec.Detail = "digest is not in canonical form"
	a.Verification = MergeVerification(a.Verification, []VerificationRecord{rec})
	d := EvaluatePromotion(&a, &p, promoter, PromotionRequest{Channel: ChannelDev})
	want := "artifact FAILED_VERIFICATION (DIGEST_CANONICAL: digest is not in canonical form); fix the failing checks"
	if d.Allowed() || len(d.Reasons) == 0 || !strings.HasPrefix(d.Reasons[0], want) {
		t.Fatalf("reasons %q, want one starting %q", d.Reasons, want)
	}
}
