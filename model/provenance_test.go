package model

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
)

const (
	builderA = "https://builders.example.com/a"
	builderB = "https://builders.example.com/b"
	acmeApp  = "https://github.com/acme/app"
)

// provPolicy allows testSource, requires SOURCE_POLICY and has provenance rules
// allowing builders from https://github.com/acme/.
func provPolicy(version int, builders ...string) Policy {
	p := allowlistPolicy()
	p.Version = version
	p.RequiredChecks = []Check{CheckSourcePolicy}
	p.Provenance = &ProvenancePolicy{BuilderIDs: builders, SourceRepositories: []string{"https://github.com/acme/"}}
	return p
}

// withProvenance records SLSA provenance evidence about a built by builder from
// repo, verified by keys and judged under p as submitEvidence judges it.
func withProvenance(t *testing.T, a Artifact, p *Policy, sha, builder, repo string, keys ...string) Artifact {
	t.Helper()
	f := ProvenanceFacts{BuilderID: builder, SourceRepository: repo}
	result, detail := JudgeProvenance(p, f)
	out, err := ApplyEvidence(a, p, FormatDSSEInToto, sha, "https://slsa.dev/provenance/v1", []Judgement{
		{Check: CheckAttestation, Result: ResultPassed, Detail: "verified", KeyIDs: keys},
		{Check: CheckSourcePolicy, Result: result, Detail: detail, KeyIDs: keys, Provenance: &f},
	}, verifier, "c-ev", at(2))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestProvenanceMismatchNamesWhatTheRulesRefuse(t *testing.T) {
	pp := &ProvenancePolicy{BuilderIDs: []string{builderA}, SourceRepositories: []string{"", "https://github.com/acme/"}}
	for _, tc := range []struct {
		name string
		f    ProvenanceFacts
		want string // "" satisfied; else a part of the reason
	}{
		{"allowed", ProvenanceFacts{builderA, acmeApp}, ""},
		{"builder not allowed", ProvenanceFacts{builderB, acmeApp}, "builder " + builderB + " is not one of the policy's provenance builderIds"},
		{"builder only a prefix of an allowed one", ProvenanceFacts{"https://builders.example.com/", acmeApp}, "is not one of"},
		{"repository not allowed", ProvenanceFacts{builderA, "https://github.com/evil/app"}, "source repository https://github.com/evil/app matches no sourceRepositories prefix"},
		{"no repository (the empty prefix allows nothing)", ProvenanceFacts{builderA, ""}, "names no source repository"},
	} {
		got := pp.Mismatch(tc.f)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestProvenanceVerdictIsDecidedAgainUnderTheCurrentProvenanceRules(t *testing.T) {
	allowA := provPolicy(1, builderA)
	allowB := provPolicy(1, builderB)
	otherRepo := provPolicy(2, builderA)
	otherRepo.Provenance.SourceRepositories = []string{"https://github.com/other/"}
	noRules := provPolicy(2)
	noRules.Provenance = nil
	revoked := func(p Policy) *Policy { p.RevokedKeys = []string{"k1"}; return &p }
	v2 := func(p Policy) *Policy { p.Version = 2; return &p }

	passedOnA := withProvenance(t, verifiedUnder(t, &allowA), &allowA, "e1", builderA, acmeApp, "k1")
	failedOnA := withProvenance(t, verifiedUnder(t, &allowB), &allowB, "e1", builderA, acmeApp, "k1")
	claimedSince, err := Verify(passedOnA, &allowA, []VerificationRecord{{Check: CheckSourcePolicy, Result: ResultPassed}}, verifier, "c", "", at(3))
	if err != nil {
		t.Fatal(err)
	}
	// Evidence recorded before its provenance facts were kept.
	legacy, err := ApplyEvidence(verifiedUnder(t, &allowA), &allowA, FormatDSSEInToto, "e1", "https://slsa.dev/provenance/v1",
		[]Judgement{{Check: CheckSourcePolicy, Result: ResultPassed, Detail: "verified", KeyIDs: []string{"k1"}}}, verifier, "c-ev", at(2))
	if err != nil {
		t.Fatal(err)
	}
	if passedOnA.TrustState != TrustVerified || failedOnA.TrustState != TrustFailedVerification || claimedSince.TrustState != TrustVerified || legacy.TrustState != TrustVerified {
		t.Fatalf("fixtures: %s %s %s %s", passedOnA.TrustState, failedOnA.TrustState, claimedSince.TrustState, legacy.TrustState)
	}

	for _, tc := range []struct {
		name   string
		a      Artifact
		p      *Policy
		trust  TrustState
		record CheckResult // SOURCE_POLICY's derived record; "" none
		drift  string      // in the promotion's refusal; "" none looked for
	}{
		{"still allowed", passedOnA, v2(provPolicy(0, builderB, builderA)), TrustVerified, ResultPassed, ""},
		{"builder no longer allowed", passedOnA, v2(allowB), TrustFailedVerification, ResultFailed,
			"stored as VERIFIED, it is FAILED_VERIFICATION under the current policy (version 2): its SLSA provenance fails the current provenance rules (builder " + builderA + " is not one of the policy's provenance builderIds)"},
		{"repository no longer allowed", passedOnA, &otherRepo, TrustFailedVerification, ResultFailed, "source repository " + acmeApp + " matches no sourceRepositories prefix"},
		{"builder allowed now", failedOnA, v2(allowA), TrustVerified, ResultPassed, ""},
		{"still refused", failedOnA, v2(allowB), TrustFailedVerification, ResultFailed, ""},
		{"rules removed: a pass stands", passedOnA, &noRules, TrustVerified, ResultPassed, ""},
		{"rules removed: a failure stands", failedOnA, &noRules, TrustFailedVerification, ResultFailed, ""},
		{"allowed now but its only key revoked: no result", failedOnA, revoked(*v2(allowA)), TrustUnverified, "", ""},
		{"refused now and its only key revoked: a failure counts", passedOnA, revoked(*v2(allowB)), TrustFailedVerification, ResultFailed, "builder " + builderA},
		{"a claim since is not provenance", claimedSince, v2(allowB), TrustVerified, ResultPassed, ""},
		{"evidence without provenance facts stands", legacy, v2(allowB), TrustVerified, ResultPassed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.a
			if got := DeriveTrust(&a, tc.p); got != tc.trust {
				t.Fatalf("derived from facts %s, want %s", got, tc.trust)
			}
			records, updates, _ := DeriveRecords(&a, tc.p, "x", at(9))
			if got := TrustFromRecords(records, tc.p); got != tc.trust {
				t.Fatalf("derived from records %s, want %s", got, tc.trust)
			}
			r, ok := (&Artifact{Verification: records}).Record(CheckSourcePolicy)
			if (tc.record == "") == ok || (ok && r.Result != tc.record) {
				t.Fatalf("SOURCE_POLICY record %+v (%v), want %q", r, ok, tc.record)
			}
			if ok && r.Result != func() CheckResult { s, _ := a.Record(CheckSourcePolicy); return s.Result }() {
				// Decided again: the record names the rules it was decided under and
				// keeps its evidence, so it is decided again at the next change.
				if r.Basis != BasisVerified || r.EvidenceID == "" || r.RecordedBy != "x" || !strings.Contains(r.Detail, fmt.Sprintf("policy version %d", tc.p.Version)) ||
					!slices.ContainsFunc(updates, func(u VerificationRecord) bool { return u.Check == CheckSourcePolicy }) {
					t.Fatalf("re-decided record %+v, updates %+v", r, updates)
				}
			}
			if got := Deployable(&a, tc.p, ChannelStaging); got != (tc.trust == TrustVerified) {
				t.Fatalf("deployable %v under %s", got, tc.trust)
			}
			d := EvaluatePromotion(&a, tc.p, promoter, PromotionRequest{Channel: ChannelStaging})
			if tc.drift != "" && !strings.Contains(strings.Join(d.Reasons, "\n"), tc.drift) {
				t.Fatalf("reasons %q, want %q", d.Reasons, tc.drift)
			}
			// The background job stores the derived trust with one event, once.
			after, changed := Rederive(a, tc.p, admin, "corr-change", "policy version 2", at(10))
			if changed != (a.TrustState != tc.trust) || after.TrustState != tc.trust {
				t.Fatalf("rederive: changed %v, stored %s", changed, after.TrustState)
			}
			if changed && (len(after.Audit) != len(a.Audit)+1 || after.Audit[len(after.Audit)-1].Action != ActionVerify) {
				t.Fatalf("rederive events %+v", after.Audit[len(a.Audit):])
			}
			if again, ok := Rederive(after, tc.p, admin, "corr-change", "policy version 2", at(11)); ok || again.TrustState != tc.trust {
				t.Fatal("a second pass changed it again")
			}
		})
	}
}

func TestProvenanceVerdictFollowsTheRulesBackAndForth(t *testing.T) {
	allowA, allowB := provPolicy(1, builderA), provPolicy(2, builderB)
	a := withProvenance(t, verifiedUnder(t, &allowA), &allowA, "e1", builderA, acmeApp, "k1")
	for i, p := range []Policy{allowB, provPolicy(3, builderA), provPolicy(4, builderB), provPolicy(5, builderA, builderB)} {
		want := TrustFailedVerification
		if slices.Contains(p.Provenance.BuilderIDs, builderA) {
			want = TrustVerified
		}
		var ok bool
		if a, ok = Rederive(a, &p, admin, "c", PolicyReason(p.Version), at(10+i)); !ok && i < 3 || a.TrustState != want {
			t.Fatalf("step %d: changed %v, stored %s, want %s", i, ok, a.TrustState, want)
		}
	}
}

func TestApplyEvidenceKeepsProvenanceFactsOnlyForSourcePolicyAndBounded(t *testing.T) {
	p := provPolicy(1, builderA)
	long := ProvenanceFacts{BuilderID: builderA + strings.Repeat("é", 600), SourceRepository: "https://github.com/acme/" + strings.Repeat("x", 2000)}
	out, err := ApplyEvidence(verifiedUnder(t, &p), &p, FormatDSSEInToto, "e1", "https://slsa.dev/provenance/v1", []Judgement{
		{Check: CheckAttestation, Result: ResultPassed, Detail: "verified", KeyIDs: []string{"k1"}, Provenance: &long},
		{Check: CheckSourcePolicy, Result: ResultFailed, Detail: "x", KeyIDs: []string{"k1"}, Provenance: &long},
	}, verifier, "c-ev", at(2))
	if err != nil {
		t.Fatal(err)
	}
	if out.Evidence[0].Provenance != nil || out.Evidence[1].Provenance == nil {
		t.Fatalf("provenance kept: %+v / %+v", out.Evidence[0].Provenance, out.Evidence[1].Provenance)
	}
	kept := *out.Evidence[1].Provenance
	if len(kept.BuilderID) > maxProvenanceFactLength+3 || len(kept.SourceRepository) > maxProvenanceFactLength+3 || !strings.HasSuffix(kept.BuilderID, "…") {
		t.Fatalf("kept %d and %d bytes", len(kept.BuilderID), len(kept.SourceRepository))
	}
	// Cut values are judged as the whole ones under any rules a policy can hold.
	for _, pp := range []ProvenancePolicy{
		{BuilderIDs: []string{builderA, kept.BuilderID[:MaxPrefixLength]}, SourceRepositories: []string{"https://github.com/acme/"}},
		{BuilderIDs: []string{builderA}, SourceRepositories: []string{kept.SourceRepository[:MaxPrefixLength]}},
		{BuilderIDs: []string{builderA}, SourceRepositories: []string{"https://github.com/acme/" + strings.Repeat("x", MaxPrefixLength-25) + "y"}},
	} {
		if (pp.Mismatch(kept) == "") != (pp.Mismatch(long) == "") {
			t.Errorf("rules %v judge the cut facts otherwise", pp)
		}
	}
}

func TestTrustInputsCountTheProvenanceRules(t *testing.T) {
	base := provPolicy(1, builderA, builderB)
	fp := base.TrustInputs()
	same := provPolicy(7, builderB, builderA, builderA)
	same.Provenance.SourceRepositories = []string{"https://github.com/acme/", ""}
	if same.TrustInputs() != fp {
		t.Error("order, duplicates or an empty prefix of the provenance rules changed the fingerprint")
	}
	for name, change := range map[string]func(p *Policy){
		"a builder":             func(p *Policy) { p.Provenance.BuilderIDs = []string{builderB} },
		"a repository":          func(p *Policy) { p.Provenance.SourceRepositories = []string{"https://github.com/other/"} },
		"the rules removed":     func(p *Policy) { p.Provenance = nil },
		"rules that allow none": func(p *Policy) { p.Provenance = &ProvenancePolicy{} },
		"a builder as a repository": func(p *Policy) {
			p.Provenance = &ProvenancePolicy{BuilderIDs: []string{builderA, builderB, "https://github.com/acme/"}}
		},
	} {
		p := provPolicy(1, builderA, builderB)
		change(&p)
		if p.TrustInputs() == fp {
			t.Errorf("%s left the fingerprint as it was", name)
		}
	}
	// A policy without provenance rules keeps the fingerprint it had before they
	// counted, so no job recorded then is taken for another change's.
	plain := allowlistPolicy()
	plain.RequiredChecks, plain.RevokedKeys = []Check{CheckSignature}, []string{"k1"}
	h := sha256.New()
	for _, part := range [][]string{plain.AllowedSources, {string(CheckSignature)}, {"k1"}} {
		for _, x := range part {
			fmt.Fprintf(h, "%d:%s,", len(x), x)
		}
		h.Write([]byte{';'})
	}
	if plain.TrustInputs() != hex.EncodeToString(h.Sum(nil)[:16]) {
		t.Error("a policy without provenance rules has another fingerprint than before")
	}
}
