package store

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"reflect"
	"testing"
	"time"

	"github.com/artifact-trust/control-plane/model"
)

func testTrustedKey(t *testing.T, project string, at time.Time) model.TrustedKey {
	t.Helper()
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	text := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	admin := model.Actor{Subject: "alice", Type: model.ActorUser}
	k, err := model.NewTrustedKey(project, model.TrustedKeyInput{PublicKeyPEM: text, Checks: []model.Check{model.CheckAttestation}, PredicateTypes: []string{"https://slsa.dev/provenance/v1"}}, admin, "corr-add", 2, at)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestTrustedKeysRoundTripUnderAVersionPredicateAndJoinThePolicyTrail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	t0 := t0.Truncate(time.Millisecond)
	keys, version, err := s.TrustedKeys(ctx, "payments")
	if err != nil || version != 0 || len(keys) != 0 {
		t.Fatalf("none stored: %v %d %v", keys, version, err)
	}
	k := testTrustedKey(t, "payments", t0)
	if err := s.PutTrustedKeys(ctx, "payments", 0, []model.TrustedKey{k}); err != nil {
		t.Fatal(err)
	}
	wantKind(t, s.PutTrustedKeys(ctx, "payments", 0, []model.TrustedKey{k}), model.KindConflict)
	keys, version, err = s.TrustedKeys(ctx, "payments")
	if err != nil || version != 1 || len(keys) != 1 {
		t.Fatalf("after add: %v %d %v", keys, version, err)
	}
	got := keys[0]
	if got.ID != k.ID || got.PublicKeyPEM != k.PublicKeyPEM || got.Algorithm != model.KeyECDSAP256 || got.Public == nil ||
		got.AddedCorrelationID != "corr-add" || got.AddedPolicyVersion != 2 || !got.AddedAt.Equal(t0) ||
		len(got.PredicateTypes) != 1 || len(got.Checks) != 1 || !got.Live() {
		t.Fatalf("round trip: %+v", got)
	}
	admin := model.Actor{Subject: "bob", Type: model.ActorUser}
	revoked, _, err := model.RevokeKey(keys, "payments", k.ID, "leaked", admin, "corr-rev", 2, t0.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutTrustedKeys(ctx, "payments", 1, revoked); err != nil {
		t.Fatal(err)
	}
	wantKind(t, s.PutTrustedKeys(ctx, "payments", 1, revoked), model.KindConflict) // stale
	keys, _, _ = s.TrustedKeys(ctx, "payments")
	if keys[0].Live() || keys[0].RevokedBy != "bob" || keys[0].RevokeReason != "leaked" || !keys[0].RevokedAt.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("revoked: %+v", keys[0])
	}
	if other, _, _ := s.TrustedKeys(ctx, "billing"); len(other) != 0 {
		t.Fatalf("another project sees %d keys", len(other))
	}

	// A policy change between the two key changes: the trail is newest first.
	p := model.DefaultPolicy("payments")
	p.Version, p.UpdatedAt, p.UpdatedBy = 1, t0.Add(time.Minute), "alice"
	if err := s.PutPolicy(ctx, &p, model.PolicyChange{Action: model.ActionPolicy, Project: "payments", Actor: "alice", FromVersion: 0, ToVersion: 1, CorrelationID: "corr-pol", At: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	trail, err := s.PolicyChanges(ctx, "payments")
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, c := range trail {
		actions = append(actions, c.Action+"/"+c.CorrelationID)
	}
	want := []string{"project.key_revoked/corr-rev", "project.policy/corr-pol", "project.key_added/corr-add"}
	if len(actions) != 3 || actions[0] != want[0] || actions[1] != want[1] || actions[2] != want[2] {
		t.Fatalf("trail = %v, want %v", actions, want)
	}
	if trail[0].KeyID != k.ID || trail[0].Reason != "leaked" || trail[0].Actor != "bob" {
		t.Fatalf("revocation entry: %+v", trail[0])
	}
	if n, err := s.PolicyChangeCount(ctx, "payments"); err != nil || n != 3 {
		t.Fatalf("count = %d, %v", n, err)
	}
}

func TestStoredDeployFactsKeepWhichEvidenceChecksPassedOnVerifiedEvidence(t *testing.T) {
	t.Parallel()
	f := model.DeployFacts{
		Trust:        model.TrustVerified,
		Passed:       append(append([]model.Check(nil), model.BaselineChecks...), model.CheckSignature, model.CheckAttestation, model.CheckSourcePolicy),
		Verified:     []model.Check{model.CheckAttestation, model.CheckSourcePolicy},
		VerifiedKeys: [][]string{{"k2", "k1"}, {"k3"}},
		Source:       "registry.example.com/payments/api",
	}
	got := storedFactsOf(f).model(false)
	if got.Trust != f.Trust || len(got.Passed) != len(f.Passed) || len(got.Verified) != 2 ||
		got.Verified[0] != model.CheckAttestation || got.Verified[1] != model.CheckSourcePolicy || got.Source != f.Source ||
		!reflect.DeepEqual(got.VerifiedKeys, [][]string{{"k1", "k2"}, {"k3"}}) {
		t.Fatalf("round trip: %+v", got)
	}
	// Under the default policy (allowing the source) a claimed-only ATTESTATION is
	// not deployable from PROD, a verified one is.
	p := model.DefaultPolicy("payments")
	p.AllowedSources = []string{"registry.example.com/"}
	claimed := f
	claimed.Verified, claimed.VerifiedKeys = nil, nil
	c := storedFactsOf(claimed).model(false)
	if c.Deployable(&p, model.ChannelProd) || !got.Deployable(&p, model.ChannelProd) {
		t.Fatalf("deployable from PROD: claimed %v, verified %v", c.Deployable(&p, model.ChannelProd), got.Deployable(&p, model.ChannelProd))
	}
	// Failures round trip too.
	failed := f
	failed.Trust, failed.Failed = model.TrustFailedVerification, []model.Check{model.CheckBlobDigest}
	if g := storedFactsOf(failed).model(false); !reflect.DeepEqual(g.Failed, failed.Failed) || g.Deployable(&p, model.ChannelDev) {
		t.Fatalf("failed round trip: %+v", g)
	}
}
