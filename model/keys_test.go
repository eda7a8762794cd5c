package model

import (
	"crypto/ecdsa"
	"crypto/ed25519"
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

func pemOf(t *testing.T, typ string, der []byte) string {
	t.Helper()
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func spkiPEM(t *testing.T, pub any) (string, string) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return pemOf(t, "PUBLIC KEY", der), hex.EncodeToString(sum[:])
}

func TestParsePublicKeyPEMAcceptsP256Ed25519AndRSA2048WithIDTheSHA256OfTheSPKI(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, tc := range []struct {
		name string
		pub  any
		alg  KeyAlgorithm
	}{
		{"ecdsa p-256", &p256.PublicKey, KeyECDSAP256},
		{"ed25519", edPub, KeyEd25519},
		{"rsa 2048", &rsa2048.PublicKey, KeyRSA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text, id := spkiPEM(t, tc.pub)
			k, err := ParsePublicKeyPEM("publicKeyPem", "\n  "+text+"\n")
			if err != nil {
				t.Fatal(err)
			}
			if k.ID != id || k.Algorithm != tc.alg || k.PEM != text {
				t.Fatalf("got id %s alg %s, want %s %s", k.ID, k.Algorithm, id, tc.alg)
			}
		})
	}
}

func TestParsePublicKeyPEMRefusesPrivateKeysOtherCurvesSmallRSAGarbageAndSeveralBlocks(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384PEM, _ := spkiPEM(t, &p384.PublicKey)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	rsaSmallPEM, _ := spkiPEM(t, &rsa1024.PublicKey)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p256PEM, _ := spkiPEM(t, &p256.PublicKey)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(p256)
	ecPriv, _ := x509.MarshalECPrivateKey(p256)
	pkcs1Pub := x509.MarshalPKCS1PublicKey(&rsa1024.PublicKey)
	for _, tc := range []struct {
		name, text, want string
	}{
		{"garbage", "not a key", "is not PEM"},
		{"empty", "", "is not PEM"},
		{"pkcs8 private key", pemOf(t, "PRIVATE KEY", pkcs8), "private key"},
		{"ec private key", pemOf(t, "EC PRIVATE KEY", ecPriv), "private key"},
		{"certificate block", pemOf(t, "CERTIFICATE", []byte{1, 2, 3}), `"CERTIFICATE"`},
		{"rsa pkcs1 public key", pemOf(t, "RSA PUBLIC KEY", pkcs1Pub), "expected a PUBLIC KEY (SPKI)"},
		{"p-384", p384PEM, "only P-256"},
		{"rsa 1024", rsaSmallPEM, "1024 bits; at least 2048"},
		{"two blocks", p256PEM + p256PEM, "several PEM blocks"},
		{"trailing text", p256PEM + "hello", "text after the PEM block"},
		{"garbage DER", pemOf(t, "PUBLIC KEY", []byte("garbage")), "not a readable SPKI"},
		{"too long", strings.Repeat("A", MaxKeyPEMBytes+1), "at most 4096"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePublicKeyPEM("publicKeyPem", tc.text)
			wantBadInput(t, err, "publicKeyPem", tc.want)
		})
	}
}

func testKeyInput(t *testing.T) TrustedKeyInput {
	t.Helper()
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	text, _ := spkiPEM(t, &p256.PublicKey)
	return TrustedKeyInput{PublicKeyPEM: text, Name: "ci", Checks: []Check{CheckAttestation, CheckAttestation}}
}

func TestNewTrustedKeyLimitsChecksToEvidenceChecks(t *testing.T) {
	admin := user("alice", inProject(RoleProjectAdmin))
	in := testKeyInput(t)
	k, err := NewTrustedKey(testProject, in, admin, testCorr, 3, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(k.Checks) != 1 || k.Checks[0] != CheckAttestation || k.AddedPolicyVersion != 3 || k.AddedBy != "alice" {
		t.Fatalf("key = %+v", k)
	}
	in.Checks = []Check{CheckSourceAllowlisted}
	_, err = NewTrustedKey(testProject, in, admin, testCorr, 3, t0)
	wantBadInput(t, err, "checks", "SIGNATURE, ATTESTATION, SOURCE_POLICY")
	in.Checks = nil
	_, err = NewTrustedKey(testProject, in, admin, testCorr, 3, t0)
	wantBadInput(t, err, "checks", "at least one")
	in.Checks = []Check{CheckSignature}
	in.PredicateTypes = []string{""}
	_, err = NewTrustedKey(testProject, in, admin, testCorr, 3, t0)
	wantBadInput(t, err, "predicateTypes[0]", "empty")
}

func TestAddKeyIsIdempotentConflictsOnOtherSettingsAndRevocationIsFinal(t *testing.T) {
	admin := user("alice", inProject(RoleProjectAdmin))
	in := testKeyInput(t)
	k, _ := NewTrustedKey(testProject, in, admin, testCorr, 0, t0)
	keys, stored, added, err := AddKey(nil, k)
	if err != nil || !added || len(keys) != 1 || stored.ID != k.ID {
		t.Fatalf("add: %v %v %d", err, added, len(keys))
	}
	again, _, added, err := AddKey(keys, k)
	if err != nil || added || len(again) != 1 {
		t.Fatalf("same key again: err %v added %v", err, added)
	}
	other := k
	other.Checks = []Check{CheckSignature}
	_, _, _, err = AddKey(keys, other)
	asError(t, err, KindConflict)

	_, _, err = RevokeKey(keys, testProject, k.ID, " ", admin, testCorr, 0, at(1))
	wantBadInput(t, err, "reason", "required")
	revoked, rk, err := RevokeKey(keys, testProject, k.ID, "leaked", admin, "corr-2", 0, at(1))
	if err != nil || rk.Live() || rk.RevokeReason != "leaked" || revoked[0].Live() == true {
		t.Fatalf("revoke: %v %+v", err, rk)
	}
	if !keys[0].Live() {
		t.Fatal("RevokeKey changed its input")
	}
	_, _, err = RevokeKey(revoked, testProject, k.ID, "again", admin, testCorr, 0, at(2))
	asError(t, err, KindInvalidTransition)
	_, _, _, err = AddKey(revoked, k)
	asError(t, err, KindInvalidTransition)
	_, _, err = RevokeKey(revoked, testProject, strings.Repeat("0", 64), "x", admin, testCorr, 0, at(2))
	asError(t, err, KindNotFound)
	_, _, err = RevokeKey(revoked, testProject, "ABC", "x", admin, testCorr, 0, at(2))
	wantBadInput(t, err, "keyId", "64 lowercase hex")

	changes := KeyChanges(revoked)
	if len(changes) != 2 || changes[0].Action != ActionKeyAdded || changes[1].Action != ActionKeyRevoked ||
		changes[1].Reason != "leaked" || changes[1].CorrelationID != "corr-2" || changes[1].KeyID != k.ID {
		t.Fatalf("changes = %+v", changes)
	}
}

func TestAddKeyBoundsLiveKeysPerProject(t *testing.T) {
	admin := user("alice", inProject(RoleProjectAdmin))
	var keys []TrustedKey
	for i := 0; i < MaxLiveKeys; i++ {
		keys = append(keys, TrustedKey{ID: hex.EncodeToString([]byte{byte(i), byte(i >> 8)}), Project: testProject})
	}
	k, _ := NewTrustedKey(testProject, testKeyInput(t), admin, testCorr, 0, t0)
	_, _, _, err := AddKey(keys, k)
	wantBadInput(t, err, "publicKeyPem", "100 live trusted keys")
	now := t0
	keys[0].RevokedAt = &now
	if _, _, added, err := AddKey(keys, k); err != nil || !added {
		t.Fatalf("after a revocation: %v", err)
	}
}

// FuzzParsePublicKeyPEM: any text is either a supported public key with a 64-digit
// id or BAD_USER_INPUT, never a panic.
func FuzzParsePublicKeyPEM(f *testing.F) {
	f.Add("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEu+HEqqpXLa48lXH9rkRygsfsCKq1\nXM36oXymJ9wxpM68nCqkrZCVnZ9lkEeCwD8qWYTNxD5yfWXwJjFh+K7qLQ==\n-----END PUBLIC KEY-----\n")
	f.Add("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAP1hs5nMpQZ+wCBvZlZFOhmpyBdpGPVk7O0kOqysn/T8=\n-----END PUBLIC KEY-----\n")
	f.Add("garbage")
	f.Fuzz(func(t *testing.T, text string) {
		k, err := ParsePublicKeyPEM("publicKeyPem", text)
		if err != nil {
			if KindOf(err) != KindBadInput {
				t.Fatalf("not BAD_USER_INPUT: %v", err)
			}
			return
		}
		if ValidateKeyID("id", k.ID) != nil || k.Public == nil {
			t.Fatalf("key %+v", k)
		}
	})
}
