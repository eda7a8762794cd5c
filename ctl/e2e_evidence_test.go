package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2EKeysSignAttestReachProdUnderTheDefaultPolicy: with the default policy
// (PROD counts ATTESTATION only from verified evidence) and nothing but
// artifactctl, a digest reaches PROD: keys generate, keys add, sign, attest,
// promote. Evidence the server records FAILED exits 3 naming why; garbage exits 1
// and records nothing; a revoked key's signature is FAILED naming the revocation.
func TestE2EKeysSignAttestReachProdUnderTheDefaultPolicy(t *testing.T) {
	needServer(t)
	t.Parallel()
	const project = "e2e-evidence"
	admin := mint(t, "alice", project+":project_admin")
	ci := mint(t, "ci-pipeline", project+":publisher", project+":verifier", project+":promoter")
	must(t, admin, "policy", "allow-source", "--project", project, "--source", "registry.example.com/"+project+"/")
	priv, pub := generate(t, "ecdsa-p256")

	// keys add (the CI account may not), keys list.
	r := ctl(t, ci, "keys", "add", "--project", project, "--key", pub)
	expectExit(t, r, exitAuth)
	r = must(t, admin, "keys", "add", "--project", project, "--key", pub, "--name", "release", "--checks", "ATTESTATION")
	rows := tableRows(r.stdout)
	if len(rows) != 2 || rows[0][0] != "KEY_ID" || rows[1][1] != "release" || rows[1][2] != "ECDSA_P256" || rows[1][3] != "ATTESTATION" {
		t.Fatalf("keys add: %s", r)
	}
	keyID := rows[1][0]
	r = must(t, ci, "keys", "list", "--project", project, "-o", "json")
	keys := decode[[]struct {
		ID       string   `json:"id"`
		Checks   []string `json:"checks"`
		AddedBy  string   `json:"addedBy"`
		PEM      string   `json:"publicKeyPem"`
		Revoked  *string  `json:"revokedAt"`
		Reason   *string  `json:"revokeReason"`
		RevokeBy *string  `json:"revokedBy"`
	}](t, r)
	pubPEM, _ := os.ReadFile(pub)
	if len(keys) != 1 || keys[0].ID != keyID || keys[0].AddedBy != "alice" || strings.TrimSpace(keys[0].PEM) != strings.TrimSpace(string(pubPEM)) || keys[0].Revoked != nil {
		t.Fatalf("keys list: %+v", keys)
	}
	// A private key is refused by the server.
	r = ctl(t, admin, "keys", "add", "--project", project, "--key", priv)
	expectExit(t, r, exitFailed)
	if !strings.Contains(r.stderr, "BAD_USER_INPUT") {
		t.Fatalf("private key added: %s", r)
	}

	digest := digestN(0xe1)
	must(t, ci, registerArgs(project, digest)...)
	must(t, ci, "verify", "--project", project, "--digest", digest, "--require-verified")
	for _, ch := range []string{"DEV", "TEST", "STAGING"} {
		must(t, ci, "promote", "--project", project, "--digest", digest, "--channel", ch)
	}
	// Before any evidence, PROD refuses: its ATTESTATION must be verified.
	r = ctl(t, admin, "evaluate", "--project", project, "--digest", digest, "--channel", "PROD", "--env", "eu-1")
	expectExit(t, r, exitDenied)
	if !strings.Contains(r.stderr, "ATTESTATION") {
		t.Fatalf("evaluate before evidence: %s", r)
	}

	dir := t.TempDir()
	envPath := filepath.Join(dir, "attestation.json")
	must(t, "", "sign", "--digest", digest, "--key", priv, "--out", envPath)
	r = must(t, ci, "attest", "--project", project, "--digest", digest, "--envelope", envPath)
	rows = tableRows(r.stdout)
	if rows[0][0] != "CHECK" || rows[1][0] != "ATTESTATION" || rows[1][1] != "PASSED" || rows[1][2] != "DSSE_IN_TOTO" || rows[1][3] != keyID[:12] ||
		!strings.Contains(r.stdout, digest+" is VERIFIED") {
		t.Fatalf("attest: %s", r)
	}
	r = must(t, ci, "get", "--project", project, "--digest", digest)
	if !strings.Contains(r.stdout, "BASIS") || !regexpLine(r.stdout, "ATTESTATION", "PASSED", "VERIFIED") {
		t.Fatalf("get: %s", r)
	}
	// The same envelope again: the stored evidence, nothing changes.
	before := decode[artifactOut](t, must(t, ci, "get", "--project", project, "--digest", digest, "-o", "json"))
	must(t, ci, "attest", "--project", project, "--digest", digest, "--envelope", envPath)
	if again := decode[artifactOut](t, must(t, ci, "get", "--project", project, "--digest", digest, "-o", "json")); len(again.Verification) != len(before.Verification) {
		t.Fatalf("resubmission changed the artifact: %+v", again)
	}

	must(t, admin, "promote", "--project", project, "--digest", digest, "--channel", "PROD", "--env", "eu-1")
	if r = must(t, ci, "deployable", "--project", project, "--channel", "PROD", "--env", "eu-1"); strings.TrimSpace(r.stdout) != digest {
		t.Fatalf("deployable: %s", r)
	}

	// Structural garbage: BAD_USER_INPUT, exit 1, nothing recorded.
	garbage := filepath.Join(dir, "garbage.json")
	_ = os.WriteFile(garbage, []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}`), 0o644)
	r = ctl(t, ci, "attest", "--project", project, "--digest", digest, "--envelope", garbage)
	expectExit(t, r, exitFailed)
	if !strings.Contains(r.stderr, "BAD_USER_INPUT") || !strings.Contains(r.stderr, "at least one signature") {
		t.Fatalf("garbage: %s", r)
	}

	// Evidence about another artifact, and evidence signed by an unknown key:
	// recorded FAILED, exit 3, the detail on stderr.
	other := digestN(0xe2)
	must(t, ci, registerArgs(project, other)...)
	r = ctl(t, ci, "attest", "--project", project, "--digest", other, "--envelope", envPath)
	expectExit(t, r, exitDenied)
	if !strings.Contains(r.stderr, "was recorded FAILED:\n- ATTESTATION: verification was attempted and failed: no subject carries the artifact's digest") {
		t.Fatalf("other digest: %s", r)
	}
	strangerPriv, _ := generate(t, "ed25519")
	must(t, "", "sign", "--digest", other, "--key", strangerPriv, "--out", envPath)
	r = ctl(t, ci, "attest", "--project", project, "--digest", other, "--envelope", envPath, "-o", "json")
	expectExit(t, r, exitDenied)
	if !strings.Contains(r.stdout, `"result": "FAILED"`) || !strings.Contains(r.stderr, "no signature verifies under a trusted key of the project") {
		t.Fatalf("unknown key: %s", r)
	}

	// keys revoke (by the public key file): what it signs now is FAILED, naming
	// the revocation.
	r = must(t, admin, "keys", "revoke", "--project", project, "--key", pub, "--reason", "rotated")
	if rows = tableRows(r.stdout); rows[1][0] != keyID || !strings.Contains(r.stdout, "rotated") {
		t.Fatalf("keys revoke: %s", r)
	}
	must(t, "", "sign", "--digest", other, "--key", priv, "--out", envPath)
	r = ctl(t, ci, "attest", "--project", project, "--digest", other, "--envelope", envPath)
	expectExit(t, r, exitDenied)
	if !strings.Contains(r.stderr, "signed only by revoked key "+keyID[:12]) {
		t.Fatalf("revoked key: %s", r)
	}
	if r = must(t, ci, "keys", "list", "--project", project); len(tableRows(r.stdout)) != 1 {
		t.Fatalf("keys list after revocation lists a key: %s", r)
	}
}

// regexpLine reports whether some line of out has all the fields, in order.
func regexpLine(out string, fields ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= len(fields) {
			match := true
			for i, want := range fields {
				if f[i] != want {
					match = false
				}
			}
			if match {
				return true
			}
		}
	}
	return false
}

// TestE2ECosignStyleKeyPairSignsSimpleSigningEndToEnd: an ECDSA P-256 key pair in
// PEM as cosign's import-key-pair takes it and as cosign writes the public half
// (-----BEGIN PUBLIC KEY-----): the project trusts the public key for SIGNATURE,
// 'sign --format cosign' signs the payload with the private key, and 'attest
// --payload --signature' records SIGNATURE PASSED on a VERIFIED basis.
func TestE2ECosignStyleKeyPairSignsSimpleSigningEndToEnd(t *testing.T) {
	needServer(t)
	t.Parallel()
	const project = "e2e-cosign"
	admin := mint(t, "alice", project+":project_admin", project+":publisher", project+":verifier")
	must(t, admin, "policy", "allow-source", "--project", project, "--source", "registry.example.com/"+project+"/")

	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sec1, _ := x509.MarshalECPrivateKey(k)
	spki, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	privPath, pubPath := filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	_ = os.WriteFile(privPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), 0o600)
	_ = os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}), 0o644)
	if pubText, _ := os.ReadFile(pubPath); !strings.HasPrefix(string(pubText), "-----BEGIN PUBLIC KEY-----\n") {
		t.Fatalf("public key %q", pubText)
	}
	r := must(t, admin, "keys", "add", "--project", project, "--key", pubPath, "--checks", "SIGNATURE")
	keyID := tableRows(r.stdout)[1][0]

	digest := digestN(0xc0)
	must(t, admin, registerArgs(project, digest)...)
	payload, sig := filepath.Join(dir, "payload.json"), filepath.Join(dir, "payload.sig")
	must(t, "", "sign", "--format", "cosign", "--digest", digest, "--key", privPath, "--docker-reference", "registry.example.com/"+project+"/api",
		"--payload-out", payload, "--signature-out", sig)
	r = must(t, admin, "attest", "--project", project, "--digest", digest, "--payload", payload, "--signature", sig)
	if !regexpLine(r.stdout, "SIGNATURE", "PASSED", "COSIGN_SIMPLE_SIGNING", keyID[:12]) {
		t.Fatalf("attest: %s", r)
	}
	r = must(t, admin, "get", "--project", project, "--digest", digest)
	if !regexpLine(r.stdout, "SIGNATURE", "PASSED", "VERIFIED") {
		t.Fatalf("get: %s", r)
	}
	// The key vouches for SIGNATURE only: an in-toto statement it signs is FAILED.
	env := filepath.Join(dir, "env.json")
	must(t, "", "sign", "--digest", digest, "--key", privPath, "--out", env)
	r = ctl(t, admin, "attest", "--project", project, "--digest", digest, "--envelope", env)
	expectExit(t, r, exitDenied)
	if !strings.Contains(r.stderr, "may not vouch for ATTESTATION") {
		t.Fatalf("attestation by a SIGNATURE key: %s", r)
	}
}
