package model

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Shared fixtures and assertions for the model tests.

const (
	// sha256 of the empty string.
	testSHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	// sha512 of the empty string.
	testSHA512 = "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
	// another sha256 (of "a").
	testSHA256b = "sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"

	testProject = "payments"
	testSource  = "registry.example.com/payments/api"
	testCorr    = "corr-123"
)

var t0 = time.Date(2026, 3, 9, 12, 0, 0, 0, time.UTC)

func at(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }

func user(subject string, roles map[string][]Role) Actor {
	return Actor{Subject: subject, Type: ActorUser, Roles: roles}
}

func inProject(roles ...Role) map[string][]Role { return map[string][]Role{testProject: roles} }

var (
	publisher = user("alice", inProject(RolePublisher))
	verifier  = Actor{Subject: "ci-verify", Type: ActorServiceAccount, Roles: inProject(RoleVerifier)}
	promoter  = user("bob", inProject(RolePromoter))
	admin     = user("carol", inProject(RoleProjectAdmin))
	viewer    = user("dave", inProject(RoleViewer))
)

func ociInput() RegisterInput {
	return RegisterInput{
		Project:    testProject,
		Digest:     testSHA256,
		Kind:       KindOCIImage,
		SourceType: SourceOCIRegistry,
		Source:     testSource,
		Tags:       []string{"v1.2.3", "latest"},
	}
}

// newArt registers a fresh OCI artifact (PUBLISHED, UNVERIFIED) at t0.
func newArt(t *testing.T) Artifact {
	t.Helper()
	in, err := ociInput().Validate()
	if err != nil {
		t.Fatalf("fixture input invalid: %v", err)
	}
	return NewArtifact(in, publisher, "corr-register", t0)
}

// artIn returns a fresh artifact in the given states, with records that derive its
// trust state under a policy allowing testSource (see setTrust): VERIFIED has every
// baseline check passed.
func artIn(t *testing.T, l LifecycleState, tr TrustState) Artifact {
	t.Helper()
	a := newArt(t)
	a.LifecycleState = l
	if tr == TrustVerified || tr == TrustFailedVerification {
		a.Verification = allBaselinePassed()
	}
	setTrust(&a, tr)
	return a
}

func passed(c Check) VerificationRecord {
	return VerificationRecord{Check: c, Result: ResultPassed, RecordedBy: "v", RecordedAt: t0, Basis: BasisVerified}
}

func failed(c Check) VerificationRecord {
	return VerificationRecord{Check: c, Result: ResultFailed, RecordedBy: "v", RecordedAt: t0}
}

// allBaselinePassed returns passed records for every baseline check.
func allBaselinePassed() []VerificationRecord {
	out := []VerificationRecord{}
	for _, c := range BaselineChecks {
		out = append(out, passed(c))
	}
	return out
}

// verifiedArt is a VERIFIED PUBLISHED artifact with all baseline checks passed plus extra.
func verifiedArt(t *testing.T, extra ...VerificationRecord) Artifact {
	t.Helper()
	a := artIn(t, LifecyclePublished, TrustVerified)
	a.Verification = append(allBaselinePassed(), extra...)
	return a
}

// setTrust gives a the trust state tr with records that derive it under a policy
// allowing testSource and requiring no check of the project: UNVERIFIED has no
// baseline records, FAILED_VERIFICATION a failed DIGEST_CANONICAL (a baseline check
// whose result no policy changes, and which verifying again fixes).
func setTrust(a *Artifact, tr TrustState) {
	a.TrustState = tr
	switch tr {
	case TrustUnverified:
		var kept []VerificationRecord
		for _, r := range a.Verification {
			if !r.Check.IsBaseline() {
				kept = append(kept, r)
			}
		}
		a.Verification = kept
	case TrustFailedVerification:
		a.Verification = MergeVerification(a.Verification, []VerificationRecord{failed(CheckDigestCanonical)})
	}
}

func withPromotions(a Artifact, chans ...Channel) Artifact {
	for i, c := range chans {
		a.Promotions = append(a.Promotions, Promotion{Channel: c, PromotedBy: "x", PromotedAt: at(-100 + i), CorrelationID: "c"})
	}
	if len(chans) > 0 && a.LifecycleState == LifecyclePublished {
		a.LifecycleState = LifecyclePromoted
	}
	return a
}

func allowlistPolicy() Policy {
	p := DefaultPolicy(testProject)
	p.AllowedSources = []string{"registry.example.com/payments/"}
	return p
}

// asError asserts err is a *Error of kind k and returns it.
func asError(t *testing.T, err error, k ErrorKind) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("expected %s error, got nil", k)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("expected *model.Error, got %T: %v", err, err)
	}
	if e.Kind != k {
		t.Fatalf("expected kind %s, got %s: %v", k, e.Kind, err)
	}
	return e
}

// wantBadInput asserts err is BAD_USER_INPUT on field with a message containing every substring.
func wantBadInput(t *testing.T, err error, field string, substrs ...string) {
	t.Helper()
	e := asError(t, err, KindBadInput)
	if e.Field != field {
		t.Errorf("field = %q, want %q (message %q)", e.Field, field, e.Message)
	}
	for _, s := range substrs {
		if !strings.Contains(e.Message, s) {
			t.Errorf("message %q does not contain %q", e.Message, s)
		}
	}
}

// wantReasons asserts reasons has exactly n entries and each substring is in some reason.
func wantReasons(t *testing.T, reasons []string, n int, substrs ...string) {
	t.Helper()
	if n >= 0 && len(reasons) != n {
		t.Errorf("got %d reasons, want %d: %q", len(reasons), n, reasons)
	}
	for _, s := range substrs {
		found := false
		for _, r := range reasons {
			if strings.Contains(r, s) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no reason contains %q: %q", s, reasons)
		}
	}
}

func cloneSlice[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append(make([]T, 0, len(s)), s...)
}

// cloneArtifact deep-copies a (nil slices stay nil, empty stay empty).
func cloneArtifact(a Artifact) Artifact {
	b := a
	b.Tags = cloneSlice(a.Tags)
	b.Verification = cloneSlice(a.Verification)
	b.Promotions = cloneSlice(a.Promotions)
	b.PromotionTargets = cloneSlice(a.PromotionTargets)
	b.Audit = cloneSlice(a.Audit)
	b.Approvals = cloneSlice(a.Approvals)
	for i := range b.Audit {
		b.Audit[i].Verification = cloneSlice(a.Audit[i].Verification)
	}
	return b
}
