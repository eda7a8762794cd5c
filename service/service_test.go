package service

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/artifact-trust/control-plane/model"
)

// memStore is an in-memory Store with hooks to inject races and faults. It
// implements only what these tests exercise; calling anything else panics.
type memStore struct {
	Store         // nil: unimplemented methods panic if called
	mu            sync.Mutex
	artifacts     map[string]model.Artifact
	policies      map[string]model.Policy
	denials       []model.Denial
	reevaluations map[string]ReevaluationState
	// beforeUpdate runs before each conditional write (inject a concurrent writer).
	beforeUpdate func(id string)
	updates      int
}

func newMemStore() *memStore {
	return &memStore{artifacts: map[string]model.Artifact{}, policies: map[string]model.Policy{}}
}

func (m *memStore) InsertArtifact(_ context.Context, a *model.Artifact) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.artifacts[a.ID]; ok {
		return model.Errorf(model.KindConflict, "exists")
	}
	m.artifacts[a.ID] = *a
	return nil
}

func (m *memStore) GetArtifact(_ context.Context, id string) (*model.Artifact, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.artifacts[id]
	if !ok {
		return nil, model.Errorf(model.KindNotFound, "no %s", id)
	}
	return &a, nil
}

func (m *memStore) UpdateArtifact(_ context.Context, before, after *model.Artifact) error {
	if m.beforeUpdate != nil {
		m.beforeUpdate(before.ID)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.updates++
	cur := m.artifacts[before.ID]
	if cur.Version != before.Version {
		return model.Errorf(model.KindConflict, "stale version %d, stored %d", before.Version, cur.Version)
	}
	next := *after
	next.Version = before.Version + 1
	m.artifacts[before.ID] = next
	return nil
}

// bump simulates another process writing the artifact: a new version with one more
// audit event.
func (m *memStore) bump(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.artifacts[id]
	a.Version++
	a.Audit = append(append([]model.AuditEvent(nil), a.Audit...), a.Event(model.ActionVerify, model.Actor{Subject: "elsewhere"}, "other", "", a.CreatedAt))
	m.artifacts[id] = a
}

func (m *memStore) GetPolicy(_ context.Context, project string) (*model.Policy, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.policies[project]
	if !ok {
		return nil, nil
	}
	return &p, nil
}

// TrustedKeys: the projects of these tests trust no key.
func (m *memStore) TrustedKeys(context.Context, string) ([]model.TrustedKey, int, error) {
	return []model.TrustedKey{}, 0, nil
}

// Reevaluation and PutReevaluation keep the re-derivation jobs (none run here).
func (m *memStore) Reevaluation(_ context.Context, project string) (*ReevaluationState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.reevaluations[project]
	if !ok {
		return nil, nil
	}
	return &st, nil
}

func (m *memStore) PutReevaluation(_ context.Context, st *ReevaluationState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reevaluations == nil {
		m.reevaluations = map[string]ReevaluationState{}
	}
	if m.reevaluations[st.Job.Project].Version != st.Version {
		return model.Errorf(model.KindConflict, "stale job")
	}
	st.Version++
	m.reevaluations[st.Job.Project] = *st
	return nil
}

func (m *memStore) Exclusive() bool { return true }

func (m *memStore) AppendDenial(_ context.Context, d model.Denial) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.denials = append(m.denials, d)
	return nil
}

var (
	t0        = time.Date(2026, 3, 9, 12, 0, 0, 0, time.UTC)
	publisher = model.Actor{Subject: "pat", Type: model.ActorUser, Roles: map[string][]model.Role{"payments": {model.RolePublisher, model.RolePromoter}}}
	digest1   = "sha256:" + fmt.Sprintf("%064x", 1)
)

func newTestService(t *testing.T) (*Service, *memStore, *model.Artifact) {
	t.Helper()
	st := newMemStore()
	svc := New(st, WithClock(func() time.Time { return t0 }))
	a, err := svc.Register(context.Background(), Request{Actor: publisher, CorrelationID: "c1"}, model.RegisterInput{
		Project: "payments", Digest: digest1, Kind: model.KindOCIImage, SourceType: model.SourceOCIRegistry, Source: "registry.example.com/payments/api",
	})
	if err != nil {
		t.Fatal(err)
	}
	return svc, st, a
}

func TestMutationThatLosesAVersionRaceRetriesOnFreshState(t *testing.T) {
	svc, st, a := newTestService(t)
	raced := false
	st.beforeUpdate = func(id string) {
		if !raced {
			raced = true
			st.bump(id) // another writer lands between our read and our write
		}
	}
	got, err := svc.Promote(context.Background(), Request{Actor: publisher, CorrelationID: "c2"}, a.ID, model.PromotionRequest{Channel: model.ChannelDev})
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := st.GetArtifact(context.Background(), a.ID)
	if st.updates != 2 || stored.Version != 3 || len(stored.Audit) != 3 || stored.Audit[1].Actor != "elsewhere" || stored.Audit[2].Action != model.ActionPromote {
		t.Fatalf("updates %d, stored version %d, audit %+v", st.updates, stored.Version, stored.Audit)
	}
	if got.Version != stored.Version || len(got.Promotions) != 1 {
		t.Fatalf("returned %+v, stored version %d", got, stored.Version)
	}
}

func TestMutationGivesUpWithConflictAfterBoundedRetries(t *testing.T) {
	svc, st, a := newTestService(t)
	st.beforeUpdate = st.bump // every attempt loses the race
	_, err := svc.Promote(context.Background(), Request{Actor: publisher, CorrelationID: "c2"}, a.ID, model.PromotionRequest{Channel: model.ChannelDev})
	if !model.IsKind(err, model.KindConflict) {
		t.Fatalf("err = %v, want CONFLICT", err)
	}
	if st.updates != svc.maxAttempts {
		t.Fatalf("%d attempts, want %d", st.updates, svc.maxAttempts)
	}
	stored, _ := st.GetArtifact(context.Background(), a.ID)
	if len(stored.Promotions) != 0 {
		t.Fatal("a lost race wrote a promotion")
	}
}

func TestRefusedPromotionIsRecordedAsADenialAndObserved(t *testing.T) {
	svc, st, a := newTestService(t)
	obs := &recordingObserver{}
	svc.observers = append(svc.observers, obs)
	viewer := model.Actor{Subject: "vic", Roles: map[string][]model.Role{"payments": {model.RoleViewer}}}
	_, err := svc.Promote(context.Background(), Request{Actor: viewer, CorrelationID: "c9"}, a.ID, model.PromotionRequest{Channel: model.ChannelTest, TargetEnvironment: "qa"})
	if !model.IsKind(err, model.KindPolicyDenied) {
		t.Fatalf("err = %v", err)
	}
	if len(st.denials) != 1 {
		t.Fatalf("denials %+v", st.denials)
	}
	d := st.denials[0]
	if d.Operation != "promoteArtifact" || d.Actor != "vic" || d.ArtifactID != a.ID || d.Channel != model.ChannelTest || d.TargetEnvironment != "qa" ||
		d.CorrelationID != "c9" || len(d.Reasons) != 3 || len(d.Classes) != 3 {
		t.Fatalf("denial %+v", d)
	}
	if len(obs.denied) != 3 || len(obs.events) != 0 {
		t.Fatalf("observer saw denials %v events %v", obs.denied, obs.events)
	}
	// A successful promotion is observed as its audit event, once.
	if _, err := svc.Promote(context.Background(), Request{Actor: publisher, CorrelationID: "c10"}, a.ID, model.PromotionRequest{Channel: model.ChannelDev}); err != nil {
		t.Fatal(err)
	}
	if len(obs.events) != 1 || obs.events[0] != model.ActionPromote {
		t.Fatalf("observed events %v", obs.events)
	}
}

type recordingObserver struct {
	events []string
	denied []string
}

func (r *recordingObserver) Committed(evs []model.AuditEvent) {
	for _, e := range evs {
		r.events = append(r.events, e.Action)
	}
}

func (r *recordingObserver) Denied(_ string, classes []string) {
	r.denied = append(r.denied, classes...)
}

func TestBrokerDropsASubscriberThatFallsBehindInsteadOfBlockingWriters(t *testing.T) {
	b := NewBroker()
	sub, err := b.add(context.Background(), "payments")
	if err != nil {
		t.Fatal(err)
	}
	ev := model.AuditEvent{Project: "payments", Action: model.ActionVerify}
	done := make(chan struct{})
	go func() {
		for i := 0; i < subscriberBuffer+10; i++ {
			b.Committed([]model.AuditEvent{ev})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a slow subscriber blocked the writer")
	}
	n := 0
	for range sub.ch {
		n++
	}
	if n != subscriberBuffer || b.Total() != 0 {
		t.Fatalf("received %d before the drop (want %d), %d subscribers left", n, subscriberBuffer, b.Total())
	}
}

func TestWaitingForABusyArtifactEndsAtTheRequestDeadline(t *testing.T) {
	svc, _, a := newTestService(t)
	unlock, err := svc.locks.Lock(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = svc.Promote(ctx, Request{Actor: publisher, CorrelationID: "c3"}, a.ID, model.PromotionRequest{Channel: model.ChannelDev})
	if !model.IsKind(err, model.KindConflict) || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("err = %v after %v, want the deadline", err, time.Since(start))
	}
}

func TestSubscriptionEndsWhenTheTokenExpires(t *testing.T) {
	b := NewBroker()
	svc := New(newMemStore(), WithBroker(b))
	viewer := model.Actor{Subject: "vic", Roles: map[string][]model.Role{"payments": {model.RoleViewer}}, ExpiresAt: time.Now().Add(100 * time.Millisecond)}
	ch, err := svc.SubscribeEvents(context.Background(), Request{Actor: viewer}, "payments", "")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case _, open := <-ch:
		if open {
			t.Fatal("unexpected event")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream outlived the token")
	}
	if b.Total() != 0 {
		t.Fatalf("%d subscribers left", b.Total())
	}
	if _, err := svc.SubscribeEvents(context.Background(), Request{Actor: model.Actor{Subject: "otto", Roles: map[string][]model.Role{"billing": {model.RoleViewer}}}}, "payments", ""); !model.IsKind(err, model.KindForbidden) {
		t.Fatalf("another project's viewer: %v", err)
	}
}

func TestSubscriptionInsideTheTokenLeewayDeliversEventsUntilTheLeewayEnds(t *testing.T) {
	b := NewBroker()
	svc := New(newMemStore(), WithBroker(b), WithTokenLeeway(1500*time.Millisecond))
	// The token expired a second ago: the verifier still accepts it (leeway 1.5 s).
	viewer := model.Actor{Subject: "vic", Roles: map[string][]model.Role{"payments": {model.RoleViewer}}, ExpiresAt: time.Now().Add(-time.Second)}
	ch, err := svc.SubscribeEvents(context.Background(), Request{Actor: viewer}, "payments", "")
	if err != nil {
		t.Fatal(err)
	}
	b.Committed([]model.AuditEvent{{Project: "payments", Action: model.ActionRegister, Digest: "sha256:" + fmt.Sprintf("%064x", 1)}})
	select {
	case ev, open := <-ch:
		if !open || ev.Action != model.ActionRegister {
			t.Fatalf("a stream opened inside the leeway ended at once (open %v, event %+v)", open, ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("event not delivered")
	}
	select {
	case _, open := <-ch:
		if open {
			t.Fatal("unexpected event")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream outlived the leeway")
	}
	if b.Total() != 0 {
		t.Fatalf("%d subscribers left", b.Total())
	}
}

func TestSubscribeWithACredentialPastItsLeewayIsUnauthenticated(t *testing.T) {
	b := NewBroker()
	svc := New(newMemStore(), WithBroker(b), WithTokenLeeway(5*time.Second))
	viewer := model.Actor{Subject: "vic", Roles: map[string][]model.Role{"payments": {model.RoleViewer}}, ExpiresAt: time.Now().Add(-6 * time.Second)}
	if _, err := svc.SubscribeEvents(context.Background(), Request{Actor: viewer}, "payments", ""); !model.IsKind(err, model.KindUnauthenticated) {
		t.Fatalf("expired credential: %v, want UNAUTHENTICATED", err)
	}
	if b.Total() != 0 {
		t.Fatalf("%d subscribers registered for an expired credential", b.Total())
	}
}
