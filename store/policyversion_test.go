package store

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/artifact-trust/control-plane/model"
)

// TestPolicyVersionsRoundTripAndOlderDocumentsReadAsUnrecorded stores decisions with
// their policy versions (through the insert and the update paths) and reads back a
// document written before versions were recorded: its promotions read as
// model.PolicyVersionUnknown, its records and events as nil.
func TestPolicyVersionsRoundTripAndOlderDocumentsReadAsUnrecorded(t *testing.T) {
	t.Parallel()
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	p := model.DefaultPolicy("payments")
	p.AllowedSources = []string{"registry.example.com/"}
	p.Version = 4
	dev := model.Actor{Subject: "pat", Roles: map[string][]model.Role{"payments": {model.RolePromoter}}}

	a := newArtifact("payments", "versions", t0)
	v, err := model.Verify(*a, &p, nil, alice, "c-v", "", t0)
	if err != nil {
		t.Fatal(err)
	}
	mustInsert(t, s, &v)
	p.Version = 0 // the default policy: a real version, not "unrecorded"
	after, err := model.Promote(v, &p, dev, model.PromotionRequest{Channel: model.ChannelDev}, "c-p", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateArtifact(ctx, &v, &after); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetArtifact(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range got.Verification {
		if r.PolicyVersion == nil || *r.PolicyVersion != 4 {
			t.Fatalf("record %s: policy version %v, want 4", r.Check, r.PolicyVersion)
		}
	}
	verify, promote := got.Audit[1], got.Audit[2]
	if verify.PolicyVersion == nil || *verify.PolicyVersion != 4 || len(verify.Verification) == 0 || *verify.Verification[0].PolicyVersion != 4 {
		t.Fatalf("verify event %+v", verify)
	}
	if promote.PolicyVersion == nil || *promote.PolicyVersion != 0 || got.Promotions[0].PolicyVersion != 0 {
		t.Fatalf("promotion %+v, event version %v: want the default policy's version 0", got.Promotions[0], promote.PolicyVersion)
	}
	if got.Audit[0].PolicyVersion != nil {
		t.Fatalf("a register event the model left without a version reads as %d", *got.Audit[0].PolicyVersion)
	}

	// A document as stored before versions were recorded: no policyVersion anywhere.
	old := newArtifact("payments", "legacy", t0)
	old.Promotions = []model.Promotion{{Channel: model.ChannelDev, PromotedBy: "pat", PromotedAt: t0, CorrelationID: "c-old", PolicyVersion: model.PolicyVersionUnknown}}
	old.Verification = []model.VerificationRecord{{Check: model.CheckSignature, Result: model.ResultPassed, RecordedBy: "bot", RecordedAt: t0}}
	doc := toArtifactDoc(old)
	doc.Version = 1
	raw, err := bson.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"promotions", "verification", "audit"} {
		if _, err := bson.Raw(raw).LookupErr(field, "0", "policyVersion"); err == nil {
			t.Fatalf("the older shape of %s carries a policyVersion", field)
		}
	}
	if _, err := s.artifacts.InsertOne(ctx, bson.Raw(raw)); err != nil {
		t.Fatal(err)
	}
	legacy, err := s.GetArtifact(ctx, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	if legacy.Promotions[0].PolicyVersion != model.PolicyVersionUnknown || legacy.Verification[0].PolicyVersion != nil || legacy.Audit[0].PolicyVersion != nil {
		t.Fatalf("older document read as promotion %+v, record %+v, event %+v", legacy.Promotions[0], legacy.Verification[0], legacy.Audit[0])
	}
}
