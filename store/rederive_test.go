package store

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

// Trust re-derivation on the embedded engine: decisions follow a policy or key
// change at once, and the stored trust states follow in the background with one
// event per changed artifact (service/rederive.go).

const rdProject = "mass"

var rdAdmin = service.Request{
	Actor:         model.Actor{Subject: "carol", Type: model.ActorUser, Roles: map[string][]model.Role{rdProject: {model.RoleProjectAdmin, model.RoleVerifier, model.RolePromoter}}},
	CorrelationID: "corr-setup",
}

// rdPolicy allows sources with the given prefixes; DEV needs a VERIFIED artifact.
func rdPolicy(prefixes ...string) model.PolicyInput {
	return model.PolicyInput{
		AllowedSourceTypes: model.AllSourceTypes, AllowedSources: prefixes, StrictProgression: true,
		Channels: []model.ChannelPolicyInput{{Channel: model.ChannelDev, RequiredTrust: model.TrustRequireVerified, PromoterRoles: []model.Role{model.RolePromoter}}},
	}
}

// rdArtifact is a VERIFIED artifact of rdProject from registry.example.com/mass/name
// (baseline run by the model under a policy allowing it), promoted into DEV/eu,
// with ATTESTATION evidence verified by key when key is set.
func rdArtifact(t testing.TB, name string, created time.Time, key string) *model.Artifact {
	t.Helper()
	p := model.DefaultPolicy(rdProject)
	p.AllowedSources = []string{"registry.example.com/"}
	a, err := model.Verify(*newArtifact(rdProject, name, created), &p, nil, alice, "v-"+name, "", created.Add(time.Second))
	if err == nil && key != "" {
		a, err = model.ApplyEvidence(a, &p, model.FormatDSSEInToto, "sha-"+name, "https://slsa.dev/provenance/v1",
			[]model.Judgement{{Check: model.CheckAttestation, Result: model.ResultPassed, Detail: "verified", KeyIDs: []string{key}}}, alice, "e-"+name, created.Add(2*time.Second))
	}
	if err == nil {
		a, err = model.Promote(a, &p, model.Actor{Subject: "bob", Roles: map[string][]model.Role{rdProject: {model.RolePromoter}}},
			model.PromotionRequest{Channel: model.ChannelDev, TargetEnvironment: "eu"}, "p-"+name, created.Add(3*time.Second))
	}
	if err != nil || a.TrustState != model.TrustVerified {
		t.Fatalf("fixture %s: %v %s", name, err, a.TrustState)
	}
	a.Version = len(a.Audit)
	return &a
}

type rdFixture struct {
	s    *Store
	svc  *service.Service
	dir  string
	stop func()
}

// openRD opens a store on dir (small list buckets: several re-derivation batches)
// and a service over it; run starts its background re-derivations.
func openRD(t *testing.T, dir string, run bool, opts ...service.Option) *rdFixture {
	t.Helper()
	s, err := Open(context.Background(), Config{DataDir: dir, caps: bucketCaps{list: 4, feed: 16, chans: 4}}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	f := &rdFixture{s: s, svc: service.New(s, opts...), dir: dir, stop: func() {}}
	if run {
		ctx, cancel := context.WithCancel(context.Background())
		wait := f.svc.RunReevaluations(ctx)
		f.stop = func() { cancel(); wait() }
	}
	t.Cleanup(func() { f.close() })
	return f
}

func (f *rdFixture) close() {
	f.stop()
	f.stop = func() {}
	_ = f.s.Close(context.Background())
}

// seed inserts artifacts and sets the first policy (allowing registry.example.com/).
func (f *rdFixture) seed(t *testing.T, arts ...*model.Artifact) {
	t.Helper()
	if err := f.s.InsertArtifactsBulk(context.Background(), arts); err != nil {
		t.Fatal(err)
	}
	f.setPolicy(t, "corr-v1", "registry.example.com/")
}

func (f *rdFixture) setPolicy(t *testing.T, corr string, prefixes ...string) *model.Policy {
	t.Helper()
	rq := rdAdmin
	rq.CorrelationID = corr
	p, err := f.svc.SetPolicy(context.Background(), rq, rdProject, rdPolicy(prefixes...))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *rdFixture) deployable(t *testing.T) string {
	t.Helper()
	pl, ok, err := f.svc.Deployable(context.Background(), rdAdmin, rdProject, model.ChannelDev, "eu")
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return ""
	}
	return pl.Artifact.ID
}

// waitFor polls trustReevaluation until the job named reason has finished.
func (f *rdFixture) waitFor(t *testing.T, reason string) model.Reevaluation {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r, err := f.svc.TrustReevaluation(context.Background(), rdAdmin, rdProject)
		if err != nil {
			t.Fatal(err)
		}
		if r != nil && r.Reason == reason && r.FinishedAt != nil {
			return *r
		}
		if time.Now().After(deadline) {
			t.Fatalf("re-derivation %q not finished: %+v", reason, r)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// events returns the app_artifact.verify events of the change with correlation id
// corr, by artifact id, from the project's audit feed.
func (f *rdFixture) events(t *testing.T, corr string) map[string][]model.AuditEvent {
	t.Helper()
	out := map[string][]model.AuditEvent{}
	after := ""
	for {
		n := 100
		page, err := f.svc.AuditEvents(context.Background(), rdAdmin, rdProject, service.AuditFilter{Action: model.ActionVerify, CorrelationID: corr}, &n, after)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Items {
			out[e.Event.ArtifactID] = append(out[e.Event.ArtifactID], e.Event)
		}
		if !page.HasNext || len(page.Items) == 0 {
			return out
		}
		last := page.Items[len(page.Items)-1]
		after = model.Cursor{At: last.Event.At, ID: last.Event.ArtifactID, Seq: last.Seq}.Encode()
	}
}

func (f *rdFixture) trust(t *testing.T, id string) model.TrustState {
	t.Helper()
	a, err := f.s.GetArtifact(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a.TrustState
}

// rdSet is n artifacts that a tightening to keepPrefix changes, 2 it keeps, and a
// REVOKED one, promoted into DEV/eu in that order (the revoked one newest).
type rdSet struct {
	changing, kept []string
	revoked        string
	arts           []*model.Artifact
}

const keepPrefix = "registry.example.com/mass/keep-"

func newRDSet(t *testing.T, n int) rdSet {
	var set rdSet
	at := t0
	add := func(name string) *model.Artifact {
		at = at.Add(time.Minute)
		a := rdArtifact(t, name, at, "")
		set.arts = append(set.arts, a)
		return a
	}
	for i := 0; i < 2; i++ {
		set.kept = append(set.kept, add(fmt.Sprintf("keep-%d", i)).ID)
	}
	for i := 0; i < n; i++ {
		set.changing = append(set.changing, add(fmt.Sprintf("d-%03d", i)).ID)
	}
	r := add("revoked")
	rv, err := model.Revoke(*r, alice, "r", "compromised", at.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	rv.Version = len(rv.Audit)
	*r = rv
	set.revoked = r.ID
	return set
}

func TestPolicyTighteningStopsDeployableAtOnceAndStoredTrustFollowsWithOneEventPerChangedArtifact(t *testing.T) {
	t.Parallel()
	set := newRDSet(t, 9)
	f := openRD(t, t.TempDir(), false)
	f.seed(t, set.arts...)
	newest := set.changing[len(set.changing)-1]
	if got := f.deployable(t); got != newest {
		t.Fatalf("before: deployable %q, want %q", got, newest)
	}

	// Tightened: decisions follow at once, before any background work.
	tight := f.setPolicy(t, "corr-tighten", keepPrefix)
	if got := f.deployable(t); got != set.kept[1] {
		t.Fatalf("after the tightening: deployable %q, want the newest kept artifact %q", got, set.kept[1])
	}
	if f.trust(t, newest) != model.TrustVerified {
		t.Fatal("the stored trust changed before the background work")
	}
	d, err := f.svc.EvaluatePromotion(context.Background(), rdAdmin, newest, model.PromotionRequest{Channel: model.ChannelDev, TargetEnvironment: "us"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed() || !strings.Contains(strings.Join(d.Reasons, "\n"), "matches no allowedSources prefix") {
		t.Fatalf("evaluatePromotion: %q", d.Reasons)
	}
	_, err = f.svc.Promote(context.Background(), rdAdmin, newest, model.PromotionRequest{Channel: model.ChannelDev, TargetEnvironment: "us"})
	if !model.IsKind(err, model.KindPolicyDenied) || !strings.Contains(err.Error(), "FAILED_VERIFICATION") {
		t.Fatalf("promoteArtifact: %v", err)
	}

	// The background work brings the stored states up to date.
	f.close()
	f = openRD(t, f.dir, true)
	job := f.waitFor(t, fmt.Sprintf("policy version %d", tight.Version))
	total := len(set.arts)
	if job.PolicyVersion != tight.Version || job.Total != total || job.Done != total || job.Changed != len(set.changing) || job.StartedAt.IsZero() {
		t.Fatalf("progress %+v, want %d done, %d changed", job, total, len(set.changing))
	}
	evs := f.events(t, "corr-tighten")
	for _, id := range set.changing {
		if f.trust(t, id) != model.TrustFailedVerification {
			t.Errorf("%s stored %s", id, f.trust(t, id))
		}
		if len(evs[id]) != 1 {
			t.Fatalf("%s: %d events of the change, want 1", id, len(evs[id]))
		}
		ev := evs[id][0]
		if ev.Actor != "carol" || ev.ActorType != model.ActorUser || ev.Reason != job.Reason || ev.PolicyVersion == nil || *ev.PolicyVersion != tight.Version ||
			ev.FromState != "VERIFIED" || ev.ToState != "FAILED_VERIFICATION" {
			t.Fatalf("event %+v", ev)
		}
	}
	for _, id := range append(append([]string{}, set.kept...), set.revoked) {
		if len(evs[id]) != 0 {
			t.Errorf("%s is unchanged but got %d events", id, len(evs[id]))
		}
	}
	if f.trust(t, set.revoked) != model.TrustRevoked {
		t.Error("REVOKED changed")
	}
	// The list read model follows.
	page, err := f.svc.Artifacts(context.Background(), rdAdmin, rdProject, service.ArtifactFilter{TrustState: model.TrustFailedVerification}, nil, "")
	if err != nil || page.TotalCount != len(set.changing) {
		t.Fatalf("list of FAILED_VERIFICATION: %d, %v", page.TotalCount, err)
	}

	// Loosened again: restored at once, and in stored state after the job.
	loose := f.setPolicy(t, "corr-loosen", "registry.example.com/")
	if got := f.deployable(t); got != newest {
		t.Fatalf("after loosening: deployable %q, want %q", got, newest)
	}
	job = f.waitFor(t, fmt.Sprintf("policy version %d", loose.Version))
	if job.Changed != len(set.changing) {
		t.Fatalf("loosening changed %d", job.Changed)
	}
	evs = f.events(t, "corr-loosen")
	for _, id := range set.changing {
		if f.trust(t, id) != model.TrustVerified || len(evs[id]) != 1 || evs[id][0].ToState != "VERIFIED" {
			t.Fatalf("%s: stored %s, events %+v", id, f.trust(t, id), evs[id])
		}
	}
}

func rdKey(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func TestKeyRevocationMakesArtifactsRelyingOnItUnverifiedAtOnceAndInStoredStateAfterTheJob(t *testing.T) {
	t.Parallel()
	f := openRD(t, t.TempDir(), true)
	ctx := context.Background()
	var keys []*model.TrustedKey
	for i := 0; i < 2; i++ {
		k, err := f.svc.AddTrustedKey(ctx, rdAdmin, rdProject, model.TrustedKeyInput{PublicKeyPEM: rdKey(t), Checks: []model.Check{model.CheckAttestation}})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	var arts []*model.Artifact
	var onRevoked []string
	for i := 0; i < 6; i++ {
		key := keys[i%2].ID
		a := rdArtifact(t, fmt.Sprintf("k-%d", i), t0.Add(time.Duration(i)*time.Minute), key)
		arts = append(arts, a)
		if i%2 == 0 {
			onRevoked = append(onRevoked, a.ID)
		}
	}
	if err := f.s.InsertArtifactsBulk(ctx, arts); err != nil {
		t.Fatal(err)
	}
	in := rdPolicy("registry.example.com/")
	in.RequiredChecks = []model.Check{model.CheckAttestation}
	p, err := f.svc.SetPolicy(ctx, rdAdmin, rdProject, in)
	if err != nil {
		t.Fatal(err)
	}
	f.waitFor(t, fmt.Sprintf("policy version %d", p.Version))
	if got := f.deployable(t); got != arts[5].ID {
		t.Fatalf("before: %q", got)
	}
	// Revoke the key of the newest artifact's neighbour (k-4, k-2, k-0).
	rq := rdAdmin
	rq.CorrelationID = "corr-revoke"
	f.stop() // no background work: decisions alone
	if _, err := f.svc.RevokeTrustedKey(ctx, rq, rdProject, keys[0].ID, "leaked"); err != nil {
		t.Fatal(err)
	}
	d, err := f.svc.EvaluatePromotion(ctx, rdAdmin, arts[4].ID, model.PromotionRequest{Channel: model.ChannelDev, TargetEnvironment: "us"})
	if err != nil || d.Allowed() || !strings.Contains(strings.Join(d.Reasons, "\n"), "revoked since") {
		t.Fatalf("evaluatePromotion of an artifact resting on the revoked key: %q %v", d.Reasons, err)
	}
	if f.trust(t, arts[4].ID) != model.TrustVerified {
		t.Fatal("stored trust changed without the background work")
	}
	// Revoke the other key's newest artifact: the newest resting on a live key
	// is k-3 after k-5 is revoked.
	if _, err := f.svc.Revoke(ctx, rdAdmin, arts[5].ID, "bad build"); err != nil {
		t.Fatal(err)
	}
	if got := f.deployable(t); got != arts[3].ID {
		t.Fatalf("after the revocation: deployable %q, want %q", got, arts[3].ID)
	}
	f.close()
	f = openRD(t, f.dir, true)
	job := f.waitFor(t, "key "+keys[0].ID+" revoked")
	if job.Changed != len(onRevoked) || job.RevokedKeys != 1 {
		t.Fatalf("job %+v", job)
	}
	evs := f.events(t, "corr-revoke")
	for _, id := range onRevoked {
		if f.trust(t, id) != model.TrustUnverified || len(evs[id]) != 1 || evs[id][0].ToState != "UNVERIFIED" || evs[id][0].Actor != "carol" {
			t.Fatalf("%s: stored %s, events %+v", id, f.trust(t, id), evs[id])
		}
	}
	if len(evs) != len(onRevoked) || f.trust(t, arts[5].ID) != model.TrustRevoked || f.trust(t, arts[3].ID) != model.TrustVerified {
		t.Fatalf("events for %d artifacts; k-5 %s, k-3 %s", len(evs), f.trust(t, arts[5].ID), f.trust(t, arts[3].ID))
	}
}

func TestReevaluationResumesAfterACrashWithOneEventPerChangedArtifact(t *testing.T) {
	t.Parallel()
	set := newRDSet(t, 13)
	dir := t.TempDir()
	var crashed atomic.Bool
	f := openRD(t, dir, false)
	f.seed(t, set.arts...)
	f.close()
	// Runs the first job (policy version 1, nothing to change), then crashes after
	// the first checkpoint of the tightening.
	f = openRD(t, dir, true, service.WithReevaluationCheckpoint(func(j model.Reevaluation) bool {
		if j.Reason == "policy version 2" && !crashed.Load() {
			crashed.Store(true)
			return true
		}
		return false
	}))
	f.waitFor(t, "policy version 1")
	f.setPolicy(t, "corr-tighten", keepPrefix)
	deadline := time.Now().Add(time.Minute)
	for !crashed.Load() {
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint")
		}
		time.Sleep(10 * time.Millisecond)
	}
	r, err := f.svc.TrustReevaluation(context.Background(), rdAdmin, rdProject)
	if err != nil || r.FinishedAt != nil || r.Done == 0 || r.Done >= len(set.arts) || r.Cursor != 1 {
		t.Fatalf("after the crash: %+v %v", r, err)
	}
	f.close()

	f = openRD(t, dir, true)
	job := f.waitFor(t, "policy version 2")
	if job.Done != len(set.arts) || job.Changed != len(set.changing) {
		t.Fatalf("resumed job %+v, want %d done, %d changed", job, len(set.arts), len(set.changing))
	}
	evs := f.events(t, "corr-tighten")
	for _, id := range set.changing {
		if len(evs[id]) != 1 || f.trust(t, id) != model.TrustFailedVerification {
			t.Fatalf("%s: %d events, stored %s", id, len(evs[id]), f.trust(t, id))
		}
	}
	if len(evs) != len(set.changing) {
		t.Fatalf("events for %d artifacts, want %d", len(evs), len(set.changing))
	}
}

func TestNewerPolicyVersionSupersedesARunningReevaluation(t *testing.T) {
	t.Parallel()
	set := newRDSet(t, 13)
	dir := t.TempDir()
	f := openRD(t, dir, false)
	f.seed(t, set.arts...)
	f.close()
	var svc *service.Service
	superseded := false
	f = openRD(t, dir, true, service.WithReevaluationCheckpoint(func(j model.Reevaluation) bool {
		if j.Reason == "policy version 2" && !superseded {
			superseded = true
			rq := rdAdmin
			rq.CorrelationID = "corr-loosen"
			if _, err := svc.SetPolicy(context.Background(), rq, rdProject, rdPolicy("registry.example.com/")); err != nil {
				t.Error(err)
			}
		}
		return false
	}))
	svc = f.svc
	f.waitFor(t, "policy version 1")
	f.setPolicy(t, "corr-tighten", keepPrefix)
	job := f.waitFor(t, "policy version 3")
	if job.Done != len(set.arts) || job.Cursor == 0 {
		t.Fatalf("job %+v", job)
	}
	tightened := f.events(t, "corr-tighten")
	loosened := f.events(t, "corr-loosen")
	if len(tightened) == 0 || len(tightened) >= len(set.changing) {
		t.Fatalf("the superseded job changed %d artifacts; want some, not all", len(tightened))
	}
	if job.Changed != len(tightened) || len(loosened) != len(tightened) {
		t.Fatalf("version 3 changed %d (%d events), version 2 had changed %d", job.Changed, len(loosened), len(tightened))
	}
	for _, id := range set.changing {
		if f.trust(t, id) != model.TrustVerified || len(tightened[id]) != len(loosened[id]) {
			t.Fatalf("%s: stored %s, events %d/%d", id, f.trust(t, id), len(tightened[id]), len(loosened[id]))
		}
	}
}
