package model

import (
	"reflect"
	"strings"
	"testing"
)

func recordsByCheck(rs []VerificationRecord) map[Check]VerificationRecord {
	m := map[Check]VerificationRecord{}
	for _, r := range rs {
		m[r.Check] = r
	}
	return m
}

func TestVerifyWithDefaultPolicyFailsSourceAllowlistedAndOtherBaselinesPass(t *testing.T) {
	p := DefaultPolicy(testProject)
	out, err := Verify(newArt(t), &p, nil, verifier, testCorr, "", at(5))
	if err != nil {
		t.Fatal(err)
	}
	if out.TrustState != TrustFailedVerification {
		t.Fatalf("trust = %s, want FAILED_VERIFICATION (default policy allowlists no source)", out.TrustState)
	}
	got := recordsByCheck(out.Verification)
	if len(out.Verification) != len(BaselineChecks) {
		t.Fatalf("got %d records, want %d", len(out.Verification), len(BaselineChecks))
	}
	for _, c := range BaselineChecks {
		r, ok := got[c]
		if !ok {
			t.Errorf("no record for baseline check %s", c)
			continue
		}
		want := ResultPassed
		if c == CheckSourceAllowlisted {
			want = ResultFailed
		}
		if r.Result != want {
			t.Errorf("%s = %s, want %s", c, r.Result, want)
		}
		if r.RecordedBy != verifier.Subject || !r.RecordedAt.Equal(at(5)) {
			t.Errorf("%s recorded by %q at %v, want %q at %v", c, r.RecordedBy, r.RecordedAt, verifier.Subject, at(5))
		}
		if r.Detail == "" {
			t.Errorf("%s has no detail", c)
		}
	}
	if d := got[CheckSourceAllowlisted].Detail; !strings.Contains(d, testSource) || !strings.Contains(d, "allowedSources") || !strings.Contains(d, testProject) {
		t.Errorf("SOURCE_ALLOWLISTED detail %q does not say which source and project", d)
	}
}

func TestVerifySourceAllowlistedByPrefix(t *testing.T) {
	tests := []struct {
		name     string
		prefixes []string
		want     TrustState
	}{
		{"no prefixes", nil, TrustFailedVerification},
		{"matching prefix", []string{"registry.example.com/payments/"}, TrustVerified},
		{"exact source as prefix", []string{testSource}, TrustVerified},
		{"host-only prefix", []string{"registry.example.com"}, TrustVerified},
		{"one of several matches", []string{"ghcr.io/", "registry.example.com/payments/"}, TrustVerified},
		{"other project path", []string{"registry.example.com/billing/"}, TrustFailedVerification},
		{"prefix longer than source", []string{testSource + "/extra"}, TrustFailedVerification},
		{"case differs", []string{"REGISTRY.example.com/"}, TrustFailedVerification},
		{"empty prefix never matches", []string{""}, TrustFailedVerification},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := DefaultPolicy(testProject)
			p.AllowedSources = tt.prefixes
			out, err := Verify(newArt(t), &p, nil, verifier, testCorr, "", at(1))
			if err != nil {
				t.Fatal(err)
			}
			if out.TrustState != tt.want {
				t.Errorf("trust = %s, want %s", out.TrustState, tt.want)
			}
			wantPass := tt.want == TrustVerified
			if out.Passed(CheckSourceAllowlisted) != wantPass {
				t.Errorf("SOURCE_ALLOWLISTED passed = %v, want %v", !wantPass, wantPass)
			}
		})
	}
}

func TestVerifyMergesSubmittedResultsAsLatestPerCheck(t *testing.T) {
	p := allowlistPolicy()
	a := newArt(t)
	steps := []struct {
		name      string
		by        Actor
		submitted []VerificationRecord
		want      TrustState
		results   map[Check]CheckResult // expected latest result of reserved checks
	}{
		{"signature failed", verifier, []VerificationRecord{{Check: CheckSignature, Result: ResultFailed, Detail: "bad sig"}},
			TrustFailedVerification, map[Check]CheckResult{CheckSignature: ResultFailed}},
		{"attestation passed, signature still failed", verifier, []VerificationRecord{{Check: CheckAttestation, Result: ResultPassed}},
			TrustFailedVerification, map[Check]CheckResult{CheckSignature: ResultFailed, CheckAttestation: ResultPassed}},
		{"later signature passed replaces failed", admin, []VerificationRecord{{Check: CheckSignature, Result: ResultPassed, Detail: "cosign ok"}},
			TrustVerified, map[Check]CheckResult{CheckSignature: ResultPassed, CheckAttestation: ResultPassed}},
		{"blob digest failed moves back to failed", verifier, []VerificationRecord{{Check: CheckBlobDigest, Result: ResultFailed}},
			TrustFailedVerification, map[Check]CheckResult{CheckSignature: ResultPassed, CheckAttestation: ResultPassed, CheckBlobDigest: ResultFailed}},
		{"blob digest passed and source policy passed", verifier, []VerificationRecord{
			{Check: CheckBlobDigest, Result: ResultPassed}, {Check: CheckSourcePolicy, Result: ResultPassed}},
			TrustVerified, map[Check]CheckResult{CheckSignature: ResultPassed, CheckAttestation: ResultPassed, CheckBlobDigest: ResultPassed, CheckSourcePolicy: ResultPassed}},
	}
	for i, s := range steps {
		now := at(10 * (i + 1))
		prev := cloneArtifact(a)
		out, err := Verify(a, &p, s.submitted, s.by, "c", "", now)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if !reflect.DeepEqual(a, prev) {
			t.Fatalf("%s: input mutated", s.name)
		}
		if out.TrustState != s.want {
			t.Errorf("%s: trust = %s, want %s", s.name, out.TrustState, s.want)
		}
		// One record per check: baseline five plus every reserved check seen so far.
		if len(out.Verification) != len(BaselineChecks)+len(s.results) {
			t.Errorf("%s: %d records, want %d: %+v", s.name, len(out.Verification), len(BaselineChecks)+len(s.results), out.Verification)
		}
		seen := map[Check]int{}
		for _, r := range out.Verification {
			seen[r.Check]++
		}
		for c, n := range seen {
			if n != 1 {
				t.Errorf("%s: check %s recorded %d times", s.name, c, n)
			}
		}
		for c, want := range s.results {
			r, ok := out.Record(c)
			if !ok || r.Result != want {
				t.Errorf("%s: %s = %+v, want %s", s.name, c, r, want)
			}
		}
		// Submitted records carry who and when of this verification.
		for _, sub := range s.submitted {
			r, _ := out.Record(sub.Check)
			if r.RecordedBy != s.by.Subject || !r.RecordedAt.Equal(now) || r.Detail != sub.Detail {
				t.Errorf("%s: %s recorded %+v, want by %s at %v detail %q", s.name, sub.Check, r, s.by.Subject, now, sub.Detail)
			}
		}
		ev := out.Audit[len(out.Audit)-1]
		if ev.FromState != string(a.TrustState) || ev.ToState != string(s.want) {
			t.Errorf("%s: event %s -> %s, want %s -> %s", s.name, ev.FromState, ev.ToState, a.TrustState, s.want)
		}
		if len(ev.Verification) != len(BaselineChecks)+len(s.submitted) {
			t.Errorf("%s: event carries %d results, want %d", s.name, len(ev.Verification), len(BaselineChecks)+len(s.submitted))
		}
		a = out
	}
	if len(a.Audit) != 1+len(steps) {
		t.Errorf("audit has %d events, want %d", len(a.Audit), 1+len(steps))
	}
}

func TestVerifyOverwritesSubmittedRecordedByAndRecordedAt(t *testing.T) {
	p := allowlistPolicy()
	forged := []VerificationRecord{{Check: CheckSignature, Result: ResultPassed, RecordedBy: "someone-else", RecordedAt: at(-1000)}}
	out, err := Verify(newArt(t), &p, forged, verifier, "c", "", at(7))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := out.Record(CheckSignature)
	if r.RecordedBy != verifier.Subject || !r.RecordedAt.Equal(at(7)) {
		t.Errorf("record = %+v, want recordedBy %s at %v", r, verifier.Subject, at(7))
	}
	if forged[0].RecordedBy != "someone-else" {
		t.Error("submitted slice mutated")
	}
}

func TestVerifyStaysUnverifiedUntilPolicyRequiredChecksPass(t *testing.T) {
	p := allowlistPolicy()
	p.RequiredChecks = []Check{CheckSignature, CheckAttestation}
	tests := []struct {
		name      string
		submitted []VerificationRecord
		want      TrustState
	}{
		{"none submitted", nil, TrustUnverified},
		{"one of two", []VerificationRecord{{Check: CheckSignature, Result: ResultPassed}}, TrustUnverified},
		{"both passed", []VerificationRecord{{Check: CheckSignature, Result: ResultPassed}, {Check: CheckAttestation, Result: ResultPassed}}, TrustVerified},
		{"required one failed", []VerificationRecord{{Check: CheckSignature, Result: ResultFailed}}, TrustFailedVerification},
		{"non-required failed", []VerificationRecord{{Check: CheckBlobDigest, Result: ResultFailed}}, TrustFailedVerification},
		{"non-required passed only", []VerificationRecord{{Check: CheckBlobDigest, Result: ResultPassed}}, TrustUnverified},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Verify(newArt(t), &p, tt.submitted, verifier, "c", "", at(1))
			if err != nil {
				t.Fatal(err)
			}
			if out.TrustState != tt.want {
				t.Errorf("trust = %s, want %s", out.TrustState, tt.want)
			}
		})
	}
	// From UNVERIFIED (missing checks) to VERIFIED once they arrive.
	a, _ := Verify(newArt(t), &p, nil, verifier, "c", "", at(1))
	a, _ = Verify(a, &p, []VerificationRecord{{Check: CheckSignature, Result: ResultPassed}}, verifier, "c", "", at(2))
	if a.TrustState != TrustUnverified {
		t.Fatalf("after signature: %s", a.TrustState)
	}
	a, _ = Verify(a, &p, []VerificationRecord{{Check: CheckAttestation, Result: ResultPassed}}, verifier, "c", "", at(3))
	if a.TrustState != TrustVerified {
		t.Fatalf("after attestation: %s, want VERIFIED (signature kept from the earlier run)", a.TrustState)
	}
}

func TestVerifyRerunsBaselineUnderTheCurrentPolicy(t *testing.T) {
	allow := allowlistPolicy()
	def := DefaultPolicy(testProject)
	a, _ := Verify(newArt(t), &allow, nil, verifier, "c", "", at(1))
	if a.TrustState != TrustVerified {
		t.Fatalf("trust %s", a.TrustState)
	}
	a, _ = Verify(a, &def, nil, verifier, "c", "", at(2))
	if a.TrustState != TrustFailedVerification {
		t.Fatalf("after the allowlist was removed: %s, want FAILED_VERIFICATION", a.TrustState)
	}
	a, _ = Verify(a, &allow, nil, verifier, "c", "", at(3))
	if a.TrustState != TrustVerified {
		t.Fatalf("after the allowlist came back: %s, want VERIFIED", a.TrustState)
	}
	if ev := a.Audit[len(a.Audit)-1]; ev.FromState != "FAILED_VERIFICATION" || ev.ToState != "VERIFIED" {
		t.Errorf("event %s -> %s", ev.FromState, ev.ToState)
	}
	// A verification that changes nothing still records an event with equal states.
	b, _ := Verify(a, &allow, nil, verifier, "c", "again", at(4))
	if ev := b.Audit[len(b.Audit)-1]; ev.FromState != "VERIFIED" || ev.ToState != "VERIFIED" || ev.Reason != "again" {
		t.Errorf("no-change event %+v", ev)
	}
	if len(b.Audit) != len(a.Audit)+1 {
		t.Errorf("no-change verify appended %d events", len(b.Audit)-len(a.Audit))
	}
}

func TestVerifyRefusesBadSubmissions(t *testing.T) {
	p := allowlistPolicy()
	type sub = []VerificationRecord
	tests := []struct {
		name  string
		in    sub
		field string
		msg   string
	}{
		{"unknown check", sub{{Check: "SBOM", Result: ResultPassed}}, "results[0].check", `unknown check "SBOM"`},
		{"unknown result", sub{{Check: CheckSignature, Result: "MAYBE"}}, "results[0].result", `unknown result "MAYBE"`},
		{"duplicate check", sub{{Check: CheckSignature, Result: ResultPassed}, {Check: CheckAttestation, Result: ResultPassed}, {Check: CheckSignature, Result: ResultFailed}},
			"results[2].check", "SIGNATURE is submitted more than once"},
		{"duplicate with same result", sub{{Check: CheckAttestation, Result: ResultPassed}, {Check: CheckAttestation, Result: ResultPassed}},
			"results[1].check", "more than once"},
		{"detail with control char", sub{{Check: CheckSignature, Result: ResultPassed, Detail: "a\x00b"}}, "results[0].detail", "control"},
		{"detail too long", sub{{Check: CheckSignature, Result: ResultPassed, Detail: strings.Repeat("d", MaxDetailLength+1)}}, "results[0].detail", "at most 2048"},
	}
	for _, c := range BaselineChecks {
		tests = append(tests, struct {
			name  string
			in    sub
			field string
			msg   string
		}{"baseline " + string(c), sub{{Check: CheckSignature, Result: ResultPassed}, {Check: c, Result: ResultPassed}},
			"results[1].check", string(c) + " is a baseline check the service runs itself"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := newArt(t)
			snapshot := cloneArtifact(in)
			out, err := Verify(in, &p, tt.in, verifier, "c", "", at(1))
			wantBadInput(t, err, tt.field, tt.msg)
			if !reflect.DeepEqual(out, snapshot) {
				t.Error("refused verification changed the artifact")
			}
		})
	}
}

func TestVerifyRevokedIsInvalidTransition(t *testing.T) {
	p := allowlistPolicy()
	for _, l := range allLifecycle {
		in := artIn(t, l, TrustRevoked)
		out, err := Verify(in, &p, []VerificationRecord{{Check: CheckSignature, Result: ResultPassed}}, verifier, "c", "", at(1))
		e := asError(t, err, KindInvalidTransition)
		if !strings.Contains(e.Message, "REVOKED") {
			t.Errorf("message %q", e.Message)
		}
		if out.TrustState != TrustRevoked || len(out.Audit) != 1 || len(out.Verification) != 0 {
			t.Errorf("%s: refused verification changed the artifact", l)
		}
	}
	// Invalid submissions on a revoked artifact still report the transition.
	_, err := Verify(artIn(t, LifecyclePublished, TrustRevoked), &p, []VerificationRecord{{Check: CheckDigestPresent}}, verifier, "c", "", at(1))
	asError(t, err, KindInvalidTransition)
}

func TestBaselineResultsDetectBrokenArtifacts(t *testing.T) {
	p := allowlistPolicy()
	tests := []struct {
		name   string
		mod    func(*Artifact)
		failed []Check
	}{
		{"healthy", func(*Artifact) {}, nil},
		{"empty digest", func(a *Artifact) { a.Digest = "" }, []Check{CheckDigestPresent, CheckDigestCanonical}},
		{"uppercase digest", func(a *Artifact) { a.Digest = strings.ToUpper(testSHA256) }, []Check{CheckDigestCanonical}},
		{"unknown kind", func(a *Artifact) { a.Kind = "" }, []Check{CheckKindExplicit, CheckSourceTypeExplicit}},
		{"missing source type", func(a *Artifact) { a.SourceType = "" }, []Check{CheckSourceTypeExplicit}},
		{"source type does not fit kind", func(a *Artifact) { a.SourceType = SourceHTTPS }, []Check{CheckSourceTypeExplicit}},
		{"source outside allowlist", func(a *Artifact) { a.Source = "evil.example.com/x" }, []Check{CheckSourceAllowlisted}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newArt(t)
			tt.mod(&a)
			rs := BaselineResults(&a, &p, "me", at(3))
			if len(rs) != 5 {
				t.Fatalf("%d records, want 5", len(rs))
			}
			for i, c := range BaselineChecks {
				if rs[i].Check != c {
					t.Errorf("record %d is %s, want %s", i, rs[i].Check, c)
				}
				want := ResultPassed
				for _, f := range tt.failed {
					if f == c {
						want = ResultFailed
					}
				}
				if rs[i].Result != want {
					t.Errorf("%s = %s, want %s (%s)", c, rs[i].Result, want, rs[i].Detail)
				}
				if rs[i].RecordedBy != "me" || !rs[i].RecordedAt.Equal(at(3)) {
					t.Errorf("%s stamped %q %v", c, rs[i].RecordedBy, rs[i].RecordedAt)
				}
			}
			wantTrust := TrustVerified
			if len(tt.failed) > 0 {
				wantTrust = TrustFailedVerification
			}
			if got := TrustFromRecords(rs, &p); got != wantTrust {
				t.Errorf("TrustFromRecords = %s, want %s", got, wantTrust)
			}
		})
	}
}

func TestTrustFromRecords(t *testing.T) {
	p := allowlistPolicy()
	p.RequiredChecks = []Check{CheckAttestation}
	tests := []struct {
		name string
		rs   []VerificationRecord
		want TrustState
	}{
		{"nothing recorded", nil, TrustUnverified},
		{"baseline only", allBaselinePassed(), TrustUnverified},
		{"baseline and required", append(allBaselinePassed(), passed(CheckAttestation)), TrustVerified},
		{"required passed but a baseline missing", append(allBaselinePassed()[1:], passed(CheckAttestation)), TrustUnverified},
		{"any failure wins", append(allBaselinePassed(), passed(CheckAttestation), failed(CheckSourcePolicy)), TrustFailedVerification},
		{"failure without baseline", []VerificationRecord{failed(CheckSignature)}, TrustFailedVerification},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TrustFromRecords(tt.rs, &p); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestMergeVerificationReplacesByCheckWithoutMutatingCurrent(t *testing.T) {
	cur := []VerificationRecord{failed(CheckSignature), passed(CheckAttestation)}
	snapshot := cloneSlice(cur)
	upd := []VerificationRecord{passed(CheckSignature), passed(CheckBlobDigest)}
	got := MergeVerification(cur, upd)
	want := []VerificationRecord{passed(CheckSignature), passed(CheckAttestation), passed(CheckBlobDigest)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if !reflect.DeepEqual(cur, snapshot) {
		t.Error("current mutated")
	}
}

func TestArtifactRecordPassedAndPromotedInto(t *testing.T) {
	a := verifiedArt(t, failed(CheckSignature))
	a = withPromotions(a, ChannelDev)
	if !a.Passed(CheckDigestPresent) || a.Passed(CheckSignature) || a.Passed(CheckAttestation) {
		t.Error("Passed wrong")
	}
	if r, ok := a.Record(CheckSignature); !ok || r.Result != ResultFailed {
		t.Error("Record wrong")
	}
	if _, ok := a.Record(CheckAttestation); ok {
		t.Error("Record found a missing check")
	}
	if !a.PromotedInto(ChannelDev) || a.PromotedInto(ChannelTest) {
		t.Error("PromotedInto wrong")
	}
}
