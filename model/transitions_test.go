package model

import (
	"reflect"
	"strings"
	"testing"
)

var (
	allLifecycle = []LifecycleState{LifecyclePublished, LifecyclePromoted, LifecycleDeprecated, LifecycleRetired}
	allTrust     = []TrustState{TrustUnverified, TrustVerified, TrustFailedVerification, TrustRevoked}
)

// transitionOp is one operation of a state machine, run on a fixture artifact.
type transitionOp struct {
	name      string
	lifecycle bool // which dimension it moves (true: lifecycle, false: trust)
	action    string
	actor     Actor
	reason    string
	run       func(a Artifact) (Artifact, error)
	// to maps each from-state to the resulting state; a missing key means INVALID_TRANSITION.
	to map[string]string
	// policyVersion is the version of the policy a decision runs under; nil for
	// operations no policy decides.
	policyVersion *int
}

func transitionOps() []transitionOp {
	const reason = "planned change"
	now := at(30)
	dev := PromotionRequest{Channel: ChannelDev, TargetEnvironment: "eu-1", Reason: reason}
	allow := allowlistPolicy()
	allow.Version = 3
	def := DefaultPolicy(testProject)
	needSig := allowlistPolicy()
	needSig.RequiredChecks = []Check{CheckSignature}
	needSig.Version = 4
	return []transitionOp{
		{name: "Deprecate", lifecycle: true, action: ActionDeprecate, actor: publisher, reason: reason,
			run: func(a Artifact) (Artifact, error) { return Deprecate(a, publisher, testCorr, reason, now) },
			to:  map[string]string{"PUBLISHED": "DEPRECATED", "PROMOTED": "DEPRECATED"}},
		{name: "Retire", lifecycle: true, action: ActionRetire, actor: publisher, reason: reason,
			run: func(a Artifact) (Artifact, error) { return Retire(a, publisher, testCorr, reason, now) },
			to:  map[string]string{"PUBLISHED": "RETIRED", "PROMOTED": "RETIRED", "DEPRECATED": "RETIRED"}},
		{name: "Promote", lifecycle: true, action: ActionPromote, actor: promoter, reason: reason,
			run: func(a Artifact) (Artifact, error) { return Promote(a, &allow, promoter, dev, testCorr, now) },
			to:  map[string]string{"PUBLISHED": "PROMOTED", "PROMOTED": "PROMOTED"}, policyVersion: allow.VersionRef()},
		{name: "VerifyAllowlisted", action: ActionVerify, actor: verifier, reason: reason,
			run: func(a Artifact) (Artifact, error) { return Verify(a, &allow, nil, verifier, testCorr, reason, now) },
			to:  map[string]string{"UNVERIFIED": "VERIFIED", "VERIFIED": "VERIFIED", "FAILED_VERIFICATION": "VERIFIED"}, policyVersion: allow.VersionRef()},
		{name: "VerifyDefaultPolicy", action: ActionVerify, actor: verifier, reason: reason,
			run: func(a Artifact) (Artifact, error) { return Verify(a, &def, nil, verifier, testCorr, reason, now) },
			to: map[string]string{"UNVERIFIED": "FAILED_VERIFICATION", "VERIFIED": "FAILED_VERIFICATION",
				"FAILED_VERIFICATION": "FAILED_VERIFICATION"}, policyVersion: def.VersionRef()},
		{name: "VerifyRequiredCheckMissing", action: ActionVerify, actor: verifier, reason: reason,
			run: func(a Artifact) (Artifact, error) { return Verify(a, &needSig, nil, verifier, testCorr, reason, now) },
			to:  map[string]string{"UNVERIFIED": "UNVERIFIED", "VERIFIED": "UNVERIFIED", "FAILED_VERIFICATION": "UNVERIFIED"}, policyVersion: needSig.VersionRef()},
		{name: "Revoke", action: ActionRevoke, actor: verifier, reason: "key compromised",
			run: func(a Artifact) (Artifact, error) { return Revoke(a, verifier, testCorr, "key compromised", now) },
			to:  map[string]string{"UNVERIFIED": "REVOKED", "VERIFIED": "REVOKED", "FAILED_VERIFICATION": "REVOKED"}},
	}
}

// withSpareCapacity gives the artifact's slices room to grow so that an in-place
// append by the code under test would be visible in the input's backing arrays.
func withSpareCapacity(a Artifact) Artifact {
	a.Tags = append(make([]string, 0, len(a.Tags)+4), a.Tags...)
	a.Verification = append(make([]VerificationRecord, 0, len(a.Verification)+8), a.Verification...)
	a.Promotions = append(make([]Promotion, 0, len(a.Promotions)+4), a.Promotions...)
	a.Audit = append(make([]AuditEvent, 0, len(a.Audit)+4), a.Audit...)
	return a
}

func assertNotMutated(t *testing.T, in, snapshot Artifact) {
	t.Helper()
	if !reflect.DeepEqual(in, snapshot) {
		t.Errorf("input artifact mutated:\n got %+v\nwant %+v", in, snapshot)
	}
	if extra := in.Audit[len(in.Audit):cap(in.Audit)]; len(extra) > 0 && !reflect.DeepEqual(extra[0], AuditEvent{}) {
		t.Errorf("input audit backing array written past its length: %+v", extra[0])
	}
	if extra := in.Promotions[len(in.Promotions):cap(in.Promotions)]; len(extra) > 0 && !reflect.DeepEqual(extra[0], Promotion{}) {
		t.Errorf("input promotions backing array written past its length: %+v", extra[0])
	}
	if extra := in.Verification[len(in.Verification):cap(in.Verification)]; len(extra) > 0 && !reflect.DeepEqual(extra[0], VerificationRecord{}) {
		t.Errorf("input verification backing array written past its length: %+v", extra[0])
	}
}

func TestStateMachinesEveryStateTimesEveryOperation(t *testing.T) {
	for _, op := range transitionOps() {
		for _, l := range allLifecycle {
			for _, tr := range allTrust {
				op, l, tr := op, l, tr
				from := string(tr)
				if op.lifecycle {
					from = string(l)
				}
				want, ok := op.to[from]
				name := op.name + "/" + string(l) + "+" + string(tr)
				// Promotion also depends on trust: DEV refuses REVOKED and FAILED_VERIFICATION
				// (that is POLICY_DENIED, covered by the promotion tests).
				if op.name == "Promote" && (tr == TrustRevoked || tr == TrustFailedVerification) && ok {
					continue
				}
				t.Run(name, func(t *testing.T) {
					in := withSpareCapacity(artIn(t, l, tr))
					snapshot := cloneArtifact(in)
					out, err := op.run(in)
					assertNotMutated(t, in, snapshot)
					if !ok {
						e := asError(t, err, KindInvalidTransition)
						if !strings.Contains(e.Message, from) {
							t.Errorf("message %q does not name the current state %s", e.Message, from)
						}
						if !reflect.DeepEqual(out, snapshot) {
							t.Errorf("refused transition changed the artifact: %+v", out)
						}
						return
					}
					if err != nil {
						t.Fatalf("%s from %s: unexpected error %v", op.name, from, err)
					}
					// The moved dimension has the expected state; the other is untouched.
					if op.lifecycle {
						if string(out.LifecycleState) != want || out.TrustState != tr {
							t.Errorf("got (%s, %s), want (%s, %s)", out.LifecycleState, out.TrustState, want, tr)
						}
					} else if string(out.TrustState) != want || out.LifecycleState != l {
						t.Errorf("got (%s, %s), want (%s, %s)", out.LifecycleState, out.TrustState, l, want)
					}
					if out.Version != in.Version {
						t.Errorf("version bumped by the model: %d -> %d", in.Version, out.Version)
					}
					if !out.UpdatedAt.Equal(at(30)) {
						t.Errorf("UpdatedAt = %v, want %v", out.UpdatedAt, at(30))
					}
					// Exactly one audit event appended, earlier ones kept.
					if len(out.Audit) != len(in.Audit)+1 {
						t.Fatalf("audit has %d events, want %d", len(out.Audit), len(in.Audit)+1)
					}
					if !reflect.DeepEqual(out.Audit[:len(in.Audit)], in.Audit) {
						t.Errorf("earlier audit events changed")
					}
					ev := out.Audit[len(out.Audit)-1]
					wantEv := AuditEvent{
						Action: op.action, Actor: op.actor.Subject, ActorType: op.actor.Type,
						Project: testProject, ArtifactID: in.ID, Digest: testSHA256, Kind: KindOCIImage,
						SourceType: SourceOCIRegistry, CorrelationID: testCorr, Reason: op.reason, At: at(30),
						FromState: from, ToState: want, PolicyVersion: op.policyVersion,
					}
					if op.name == "Promote" {
						wantEv.PromotionChannel, wantEv.PromotionEnvironment = ChannelDev, "eu-1"
						if l != LifecyclePublished { // only the first promotion moves the lifecycle
							wantEv.FromState, wantEv.ToState = "", ""
						}
					}
					if op.action == ActionVerify {
						if len(ev.Verification) != len(BaselineChecks) {
							t.Errorf("verify event carries %d results, want the %d baseline results", len(ev.Verification), len(BaselineChecks))
						}
						for _, r := range ev.Verification {
							if r.PolicyVersion == nil || *r.PolicyVersion != *op.policyVersion {
								t.Errorf("result %s recorded under policy version %v, want %d", r.Check, r.PolicyVersion, *op.policyVersion)
							}
						}
						ev.Verification = nil
					}
					if !reflect.DeepEqual(ev, wantEv) {
						t.Errorf("audit event =\n%+v\nwant\n%+v", ev, wantEv)
					}
				})
			}
		}
	}
}

func TestRevokeRequiresANonEmptyReason(t *testing.T) {
	for _, tr := range []TrustState{TrustUnverified, TrustVerified, TrustFailedVerification} {
		for _, reason := range []string{"", " ", "\t\n  "} {
			t.Run(string(tr)+"/"+strings.ReplaceAll(reason, "\t", `\t`), func(t *testing.T) {
				in := artIn(t, LifecyclePublished, tr)
				snapshot := cloneArtifact(in)
				out, err := Revoke(in, verifier, testCorr, reason, at(1))
				wantBadInput(t, err, "reason", "required")
				if !reflect.DeepEqual(out, snapshot) || len(out.Audit) != 1 {
					t.Errorf("refused revoke changed the artifact")
				}
			})
		}
	}
}

func TestPromoteRecordsLifecycleTransitionOnlyOnFirstPromotion(t *testing.T) {
	p := allowlistPolicy()
	a := newArt(t)
	a, err := Verify(a, &p, nil, verifier, "c-verify", "", at(1))
	if err != nil || a.TrustState != TrustVerified {
		t.Fatalf("verify: %v, %s", err, a.TrustState)
	}
	steps := []struct {
		ch         Channel
		env        string
		from, to   string
		lifecycle  LifecycleState
		promotions int
	}{
		{ChannelDev, "", "PUBLISHED", "PROMOTED", LifecyclePromoted, 1},
		{ChannelDev, "eu-1", "", "", LifecyclePromoted, 2},
		{ChannelTest, "", "", "", LifecyclePromoted, 3},
		{ChannelStaging, "us-2", "", "", LifecyclePromoted, 4},
	}
	for i, s := range steps {
		now := at(10 + i)
		req := PromotionRequest{Channel: s.ch, TargetEnvironment: s.env, Reason: "release"}
		before := cloneArtifact(a)
		b, err := Promote(a, &p, promoter, req, "c-promote", now)
		if err != nil {
			t.Fatalf("step %d promote %s: %v", i, s.ch, err)
		}
		if !reflect.DeepEqual(a, before) {
			t.Fatalf("step %d: input mutated", i)
		}
		a = b
		if a.LifecycleState != s.lifecycle || len(a.Promotions) != s.promotions {
			t.Fatalf("step %d: lifecycle %s promotions %d", i, a.LifecycleState, len(a.Promotions))
		}
		last := a.Promotions[len(a.Promotions)-1]
		wantP := Promotion{Channel: s.ch, TargetEnvironment: s.env, PromotedBy: "bob", PromotedAt: now, Reason: "release", CorrelationID: "c-promote"}
		if !reflect.DeepEqual(last, wantP) {
			t.Errorf("step %d: promotion %+v, want %+v", i, last, wantP)
		}
		ev := a.Audit[len(a.Audit)-1]
		if ev.Action != ActionPromote || ev.FromState != s.from || ev.ToState != s.to || ev.PromotionChannel != s.ch ||
			ev.PromotionEnvironment != s.env || ev.Reason != "release" || !ev.At.Equal(now) {
			t.Errorf("step %d: event %+v", i, ev)
		}
	}
	// Promotions are never overwritten: history is preserved in order.
	if got := len(a.Audit); got != 1+1+len(steps) {
		t.Errorf("audit has %d events, want %d", got, 2+len(steps))
	}
}

func TestPromoteValidatesTheRequest(t *testing.T) {
	p := DefaultPolicy(testProject)
	tests := []struct {
		name  string
		req   PromotionRequest
		field string
	}{
		{"unknown channel", PromotionRequest{Channel: "QA"}, "channel"},
		{"bad environment", PromotionRequest{Channel: ChannelDev, TargetEnvironment: "eu 1"}, "targetEnvironment"},
		{"reason with control char", PromotionRequest{Channel: ChannelDev, Reason: "a\x07b"}, "reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Promote(newArt(t), &p, promoter, tt.req, testCorr, t0)
			wantBadInput(t, err, tt.field)
		})
	}
}

func TestLifecycleTransitionsCarryEmptyReasonWhenNoneGiven(t *testing.T) {
	a := newArt(t)
	b, err := Deprecate(a, admin, "c", "", at(1))
	if err != nil {
		t.Fatal(err)
	}
	ev := b.Audit[1]
	if ev.Reason != "" || ev.Actor != "carol" || ev.FromState != "PUBLISHED" || ev.ToState != "DEPRECATED" {
		t.Errorf("event %+v", ev)
	}
	c, err := Retire(b, admin, "c2", "eol", at(2))
	if err != nil {
		t.Fatal(err)
	}
	if ev := c.Audit[2]; ev.FromState != "DEPRECATED" || ev.ToState != "RETIRED" || ev.CorrelationID != "c2" || ev.Reason != "eol" {
		t.Errorf("event %+v", ev)
	}
	if len(c.Audit) != 3 || len(b.Audit) != 2 || len(a.Audit) != 1 {
		t.Errorf("audit lengths %d %d %d", len(a.Audit), len(b.Audit), len(c.Audit))
	}
}
