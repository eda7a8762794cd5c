package service

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/artifact-trust/control-plane/model"
)

// waitsFor reports whether acquiring with a context that ends soon fails (the lock
// is held) rather than succeeds.
func waitsFor(t *testing.T, acquire func(context.Context) (func(), error)) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	unlock, err := acquire(ctx)
	if err == nil {
		unlock()
		return false
	}
	if !model.IsKind(err, model.KindConflict) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a wait ended with %v, want CONFLICT at the deadline", err)
	}
	return true
}

func TestPolicyChangeWaitsForDecisionsAndLaterDecisionsWaitForIt(t *testing.T) {
	l := newPolicyLocks()
	ctx := context.Background()
	share := func(p string) func(context.Context) (func(), error) {
		return func(ctx context.Context) (func(), error) { return l.RLock(ctx, p) }
	}
	exclusive := func(p string) func(context.Context) (func(), error) {
		return func(ctx context.Context) (func(), error) { return l.Lock(ctx, p) }
	}

	// Decisions of one project share its policy.
	d1, err := l.RLock(ctx, "payments")
	if err != nil {
		t.Fatal(err)
	}
	d2, err := l.RLock(ctx, "payments")
	if err != nil {
		t.Fatal(err)
	}
	// A policy change waits for them, and other projects are not concerned.
	if !waitsFor(t, exclusive("payments")) {
		t.Fatal("a policy change did not wait for the decisions in flight")
	}
	if waitsFor(t, exclusive("billing")) {
		t.Fatal("a policy change of another project waited")
	}
	// Once a change waits, decisions that arrive later wait behind it (they will
	// decide under the new version), while the ones in flight finish.
	changed := make(chan func())
	go func() {
		unlock, err := l.Lock(ctx, "payments")
		if err != nil {
			t.Error(err)
		}
		changed <- unlock
	}()
	overtaken := 0
	for !waitsFor(t, share("payments")) { // until the change is queued
		if overtaken++; overtaken == 1000 {
			t.Fatal("decisions keep overtaking a waiting policy change")
		}
		time.Sleep(time.Millisecond)
	}
	d1()
	d2()
	unlockChange := <-changed
	if !waitsFor(t, share("payments")) {
		t.Fatal("a decision ran while the policy changed")
	}
	unlockChange()
	unlockChange() // a second call changes nothing
	if waitsFor(t, share("payments")) {
		t.Fatal("the policy stayed locked after the change")
	}
	if n := l.Len(); n != 0 {
		t.Fatalf("%d policy locks left after release", n)
	}
}

// PutPolicy and the policy history let two services over one memStore play two
// replicas of one database.
func (m *memStore) PutPolicy(_ context.Context, p *model.Policy, _ model.PolicyChange) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.policies[p.Project].Version != p.Version-1 {
		return model.Errorf(model.KindConflict, "stale policy")
	}
	m.policies[p.Project] = *p
	return nil
}

func TestDecisionWrittenWhileAnotherReplicaForbadeItIsReported(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	var races []PolicyRace
	replicaA := New(st, WithClock(func() time.Time { return t0 }), WithPolicyRecheck(func(r PolicyRace) { races = append(races, r) }))
	replicaB := New(st, WithClock(func() time.Time { return t0 }))
	admin := Request{Actor: model.Actor{Subject: "ada", Roles: map[string][]model.Role{"payments": {model.RoleProjectAdmin}}}, CorrelationID: "c-policy"}
	devBy := func(roles ...model.Role) model.PolicyInput {
		return model.PolicyInput{AllowedSourceTypes: model.AllSourceTypes, Channels: []model.ChannelPolicyInput{
			{Channel: model.ChannelDev, RequiredTrust: model.TrustAllowUnverified, PromoterRoles: roles}}}
	}
	if _, err := replicaB.SetPolicy(ctx, admin, "payments", devBy(model.RolePromoter)); err != nil {
		t.Fatal(err)
	}
	a, err := replicaA.Register(ctx, Request{Actor: publisher, CorrelationID: "c1"}, model.RegisterInput{
		Project: "payments", Digest: digest1, Kind: model.KindOCIImage, SourceType: model.SourceOCIRegistry, Source: "registry.example.com/payments/api",
	})
	if err != nil {
		t.Fatal(err)
	}
	if v := a.Audit[0].PolicyVersion; v == nil || *v != 1 {
		t.Fatalf("register event policy version %v, want 1", v)
	}

	// Replica B takes the promoter's right away between replica A's decision and
	// its write: nothing in replica A can see it coming.
	st.beforeUpdate = func(string) {
		st.beforeUpdate = nil
		if _, err := replicaB.SetPolicy(ctx, admin, "payments", devBy(model.RoleProjectAdmin)); err != nil {
			t.Error(err)
		}
	}
	got, err := replicaA.Promote(ctx, Request{Actor: publisher, CorrelationID: "c-promote"}, a.ID, model.PromotionRequest{Channel: model.ChannelDev})
	if err != nil {
		t.Fatal(err)
	}
	if pv := got.Promotions[0].PolicyVersion; pv != 1 {
		t.Fatalf("promotion records policy version %d, want 1", pv)
	}
	if len(races) != 1 {
		t.Fatalf("reported %+v, want the one promotion", races)
	}
	r := races[0]
	if r.Operation != "promoteArtifact" || r.Project != "payments" || r.ArtifactID != a.ID || r.Actor != publisher.Subject ||
		r.CorrelationID != "c-promote" || r.DecidedVersion != 1 || r.CurrentVersion != 2 || r.Detail == "" {
		t.Fatalf("reported %+v", r)
	}

	// A decision that the newer version decides the same way is not reported.
	races = nil
	if _, err := replicaB.SetPolicy(ctx, admin, "payments", devBy(model.RoleProjectAdmin, model.RolePromoter)); err != nil {
		t.Fatal(err)
	}
	st.beforeUpdate = func(string) {
		st.beforeUpdate = nil
		if _, err := replicaB.SetPolicy(ctx, admin, "payments", devBy(model.RolePromoter)); err != nil {
			t.Error(err)
		}
	}
	if _, err := replicaA.Deprecate(ctx, Request{Actor: admin.Actor, CorrelationID: "c-dep"}, a.ID, "superseded"); err != nil {
		t.Fatal(err)
	}
	if len(races) != 0 {
		t.Fatalf("reported %+v", races)
	}
}
