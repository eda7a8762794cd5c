package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"strings"
	"testing"
)

// p256PublicPEM returns a fresh ECDSA P-256 public key as cosign writes it
// (-----BEGIN PUBLIC KEY-----, SPKI) and its expected key id.
func p256PublicPEM(t *testing.T) (string, string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	sum := sha256.Sum256(der)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), hex.EncodeToString(sum[:])
}

const addKeyMutation = `mutation($p: String!, $in: TrustedKeyInput!) { addTrustedKey(project: $p, input: $in) {
	id project name publicKeyPem algorithm checks predicateTypes addedBy addedAt revokedAt revokedBy revokeReason } }`

type trustedKeyJSON struct {
	ID             string   `json:"id"`
	Project        string   `json:"project"`
	Name           *string  `json:"name"`
	PublicKeyPem   string   `json:"publicKeyPem"`
	Algorithm      string   `json:"algorithm"`
	Checks         []string `json:"checks"`
	PredicateTypes []string `json:"predicateTypes"`
	AddedBy        string   `json:"addedBy"`
	AddedAt        string   `json:"addedAt"`
	RevokedAt      *string  `json:"revokedAt"`
	RevokedBy      *string  `json:"revokedBy"`
	RevokeReason   *string  `json:"revokeReason"`
}

func TestTrustedKeysAreAddedListedRevokedForGoodAndAuditedInTheProjectTrail(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	admin := token(t, "ada", "payments:project_admin")
	viewer := token(t, "vera", "payments:viewer")
	text, id := p256PublicPEM(t)

	in := map[string]any{"publicKeyPem": text, "name": "release signing", "checks": []string{"ATTESTATION", "SIGNATURE"}, "predicateTypes": []string{"https://slsa.dev/provenance/v1"}}
	r := ts.Do(admin, addKeyMutation, map[string]any{"p": "payments", "in": in}, "X-Correlation-ID", "corr-key-add")
	if len(r.Errors) > 0 {
		t.Fatalf("add: %+v", r.Errors)
	}
	var added struct{ AddTrustedKey trustedKeyJSON }
	_ = jsonUnmarshal(r.Data, &added)
	k := added.AddTrustedKey
	if k.ID != id || k.Algorithm != "ECDSA_P256" || k.Project != "payments" || k.AddedBy != "ada" || k.RevokedAt != nil ||
		k.Name == nil || *k.Name != "release signing" || len(k.Checks) != 2 || len(k.PredicateTypes) != 1 || k.PublicKeyPem != text {
		t.Fatalf("added key = %+v", k)
	}
	// The same key with the same settings again: unchanged, no second trail entry.
	var again struct{ AddTrustedKey trustedKeyJSON }
	ts.MustDo(admin, addKeyMutation, map[string]any{"p": "payments", "in": in}, &again)
	if again.AddTrustedKey.AddedAt != k.AddedAt {
		t.Fatalf("retry changed the key: %+v", again.AddTrustedKey)
	}
	// With other settings: CONFLICT.
	in2 := map[string]any{"publicKeyPem": text, "checks": []string{"SIGNATURE"}}
	if e := ts.ErrCode(admin, addKeyMutation, map[string]any{"p": "payments", "in": in2}); e.Code() != "CONFLICT" {
		t.Fatalf("other settings: %s %s", e.Code(), e.Message)
	}

	list := func(tok, project string, includeRevoked bool) []trustedKeyJSON {
		var out struct{ TrustedKeys []trustedKeyJSON }
		ts.MustDo(tok, `query($p: String!, $r: Boolean) { trustedKeys(project: $p, includeRevoked: $r) { id revokedAt revokedBy revokeReason } }`,
			map[string]any{"p": project, "r": includeRevoked}, &out)
		return out.TrustedKeys
	}
	if got := list(viewer, "payments", false); len(got) != 1 || got[0].ID != id {
		t.Fatalf("viewer lists %+v", got)
	}
	billing := token(t, "bill", "billing:project_admin")
	if got := list(billing, "billing", true); len(got) != 0 {
		t.Fatalf("another project lists %+v", got)
	}

	revoke := `mutation($p: String!, $k: String!, $r: String!) { revokeTrustedKey(project: $p, keyId: $k, reason: $r) { id revokedAt revokedBy revokeReason } }`
	if e := ts.ErrCode(admin, revoke, map[string]any{"p": "payments", "k": id, "r": "  "}); e.Code() != "BAD_USER_INPUT" || !strings.Contains(e.Message, "reason") {
		t.Fatalf("revoke without a reason: %s %s", e.Code(), e.Message)
	}
	if e := ts.ErrCode(viewer, revoke, map[string]any{"p": "payments", "k": id, "r": "leaked"}); e.Code() != "FORBIDDEN" {
		t.Fatalf("viewer revokes: %s", e.Code())
	}
	if e := ts.ErrCode(billing, revoke, map[string]any{"p": "billing", "k": id, "r": "leaked"}); e.Code() != "NOT_FOUND" {
		t.Fatalf("revoke through another project: %s", e.Code())
	}
	r = ts.Do(admin, revoke, map[string]any{"p": "payments", "k": id, "r": "private key leaked"}, "X-Correlation-ID", "corr-key-revoke")
	if len(r.Errors) > 0 {
		t.Fatalf("revoke: %+v", r.Errors)
	}
	var rev struct{ RevokeTrustedKey trustedKeyJSON }
	_ = jsonUnmarshal(r.Data, &rev)
	if rk := rev.RevokeTrustedKey; rk.RevokedAt == nil || rk.RevokedBy == nil || *rk.RevokedBy != "ada" || rk.RevokeReason == nil || *rk.RevokeReason != "private key leaked" {
		t.Fatalf("revoked key = %+v", rk)
	}
	if e := ts.ErrCode(admin, revoke, map[string]any{"p": "payments", "k": id, "r": "again"}); e.Code() != "INVALID_TRANSITION" {
		t.Fatalf("revoke twice: %s %s", e.Code(), e.Message)
	}
	if e := ts.ErrCode(admin, addKeyMutation, map[string]any{"p": "payments", "in": in}); e.Code() != "INVALID_TRANSITION" {
		t.Fatalf("re-adding a revoked key: %s %s", e.Code(), e.Message)
	}
	if got := list(viewer, "payments", false); len(got) != 0 {
		t.Fatalf("live keys after revocation: %+v", got)
	}
	if got := list(viewer, "payments", true); len(got) != 1 || got[0].RevokedAt == nil {
		t.Fatalf("with revoked: %+v", got)
	}

	var hist struct {
		ProjectPolicyHistory []struct {
			Action, Actor, CorrelationID string
			KeyID, Reason                *string
			FromVersion, ToVersion       int
		} `json:"projectPolicyHistory"`
	}
	ts.MustDo(viewer, `{ projectPolicyHistory(project: "payments") { action actor correlationId keyId reason fromVersion toVersion } }`, nil, &hist)
	h := hist.ProjectPolicyHistory
	if len(h) != 2 || h[0].Action != "project.key_revoked" || h[0].CorrelationID != "corr-key-revoke" || h[0].Reason == nil || *h[0].Reason != "private key leaked" ||
		h[0].KeyID == nil || *h[0].KeyID != id || h[1].Action != "project.key_added" || h[1].CorrelationID != "corr-key-add" || h[1].Actor != "ada" || h[1].ToVersion != 0 {
		t.Fatalf("project trail = %+v", h)
	}
}

func TestAddTrustedKeyRefusesWhatIsNotASupportedPublicKeyNamingWhy(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	admin := token(t, "ada", "payments:project_admin")
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallDER, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	privDER, _ := x509.MarshalPKCS8PrivateKey(priv)
	good, _ := p256PublicPEM(t)
	pemOf := func(typ string, der []byte) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
	}
	for _, tc := range []struct {
		name, pem string
		checks    []string
		want      string
	}{
		{"private key", pemOf("PRIVATE KEY", privDER), []string{"SIGNATURE"}, "private key"},
		{"p-384", pemOf("PUBLIC KEY", p384DER), []string{"SIGNATURE"}, "only P-256"},
		{"rsa 1024", pemOf("PUBLIC KEY", smallDER), []string{"SIGNATURE"}, "at least 2048"},
		{"garbage", "hello", []string{"SIGNATURE"}, "not PEM"},
		{"two blocks", good + good, []string{"SIGNATURE"}, "several PEM blocks"},
		{"baseline check", good, []string{"SOURCE_ALLOWLISTED"}, "SIGNATURE, ATTESTATION, SOURCE_POLICY"},
		{"no check", good, []string{}, "at least one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := ts.ErrCode(admin, addKeyMutation, map[string]any{"p": "payments", "in": map[string]any{"publicKeyPem": tc.pem, "checks": tc.checks}})
			if e.Code() != "BAD_USER_INPUT" || !strings.Contains(e.Message, tc.want) {
				t.Fatalf("got %s %q, want BAD_USER_INPUT naming %q", e.Code(), e.Message, tc.want)
			}
		})
	}
	var out struct{ TrustedKeys []trustedKeyJSON }
	ts.MustDo(admin, `{ trustedKeys(project: "payments", includeRevoked: true) { id } }`, nil, &out)
	if len(out.TrustedKeys) != 0 {
		t.Fatalf("refused keys were stored: %+v", out.TrustedKeys)
	}
}
