package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/artifact-trust/control-plane/evidence"
	"github.com/artifact-trust/control-plane/model"
)

const (
	signDigest    = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b"
	signDigest512 = "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
	otherDigest   = "sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
)

// runLocal runs artifactctl in-process (commands that need no server).
func runLocal(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr, func(string) string { return "" })
	return code, stdout.String(), stderr.String()
}

// generate makes a key pair with 'keys generate' and returns the paths.
func generate(t *testing.T, alg string) (priv, pub string) {
	t.Helper()
	base := filepath.Join(t.TempDir(), "release")
	if code, out, errOut := runLocal(t, "keys", "generate", "--out", base, "--algorithm", alg); code != 0 {
		t.Fatalf("keys generate: exit %d\n%s%s", code, out, errOut)
	}
	return base + ".key", base + ".pub"
}

// trustedKey makes the server's model of a trusted key from a public PEM file.
func trustedKey(t *testing.T, pubPath string, checks ...model.Check) model.TrustedKey {
	t.Helper()
	b, err := os.ReadFile(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	k, err := model.NewTrustedKey("payments", model.TrustedKeyInput{PublicKeyPEM: string(b), Checks: checks}, model.Actor{Subject: "ada", Type: model.ActorUser}, "c", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// judgeEnvelope runs the server's evidence verifier on an envelope.
func judgeEnvelope(t *testing.T, env, digest string, pp *model.ProvenancePolicy, keys ...model.TrustedKey) []model.Judgement {
	t.Helper()
	p, err := evidence.KeyVerifier{}.Parse(evidence.Submission{DSSE: env})
	if err != nil {
		t.Fatalf("the server's parser refuses the envelope: %v\n%s", err, env)
	}
	return evidence.KeyVerifier{}.Judge(p, digest, keys, pp)
}

func statementOf(t *testing.T, env string) map[string]any {
	t.Helper()
	var e struct{ Payload, PayloadType string }
	if err := json.Unmarshal([]byte(env), &e); err != nil {
		t.Fatal(err)
	}
	b, err := base64.StdEncoding.DecodeString(e.Payload)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestKeysGenerateWritesAnOwnerOnlyPKCS8PrivateKeyAndItsSPKIPublicKey(t *testing.T) {
	for _, tc := range []struct{ alg, want string }{{"ecdsa-p256", "ECDSA_P256"}, {"ed25519", "ED25519"}, {"rsa-3072", "RSA"}} {
		t.Run(tc.alg, func(t *testing.T) {
			base := filepath.Join(t.TempDir(), "k")
			code, out, errOut := runLocal(t, "keys", "generate", "--out", base, "--algorithm", tc.alg)
			if code != 0 {
				t.Fatalf("exit %d: %s%s", code, out, errOut)
			}
			info, err := os.Stat(base + ".key")
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode().Perm() != 0o600 {
				t.Fatalf("private key mode %v, want 0600", info.Mode().Perm())
			}
			privPEM, _ := os.ReadFile(base + ".key")
			if b, _ := pem.Decode(privPEM); b == nil || b.Type != "PRIVATE KEY" {
				t.Fatalf("private key is not a PKCS#8 PEM block: %q", privPEM)
			} else if _, err := x509.ParsePKCS8PrivateKey(b.Bytes); err != nil {
				t.Fatal(err)
			}
			pubPEM, _ := os.ReadFile(base + ".pub")
			pk, err := model.ParsePublicKeyPEM("publicKeyPem", string(pubPEM))
			if err != nil {
				t.Fatalf("the server refuses the public key: %v", err)
			}
			if string(pk.Algorithm) != tc.want {
				t.Fatalf("algorithm %s, want %s", pk.Algorithm, tc.want)
			}
			// The key id printed is the server's: hex SHA-256 of the SPKI DER.
			b, _ := pem.Decode(pubPEM)
			sum := sha256.Sum256(b.Bytes)
			if !strings.Contains(out, "KEY_ID       "+hex.EncodeToString(sum[:])) || pk.ID != hex.EncodeToString(sum[:]) {
				t.Fatalf("key id: output %q, server id %s", out, pk.ID)
			}
			// Never overwrites.
			code, _, errOut = runLocal(t, "keys", "generate", "--out", base)
			after, _ := os.ReadFile(base + ".key")
			if code != exitFailed || !strings.Contains(errOut, "exists already") || !bytes.Equal(after, privPEM) {
				t.Fatalf("second generate: exit %d %q", code, errOut)
			}
		})
	}
	if code, _, errOut := runLocal(t, "keys", "generate", "--out", filepath.Join(t.TempDir(), "x"), "--algorithm", "dsa"); code != exitFailed || !strings.Contains(errOut, "--algorithm must be one of") {
		t.Fatalf("unknown algorithm: exit %d %q", code, errOut)
	}
}

func TestSignMakesDSSEInTotoEnvelopesTheServersVerifierAccepts(t *testing.T) {
	for _, alg := range []string{"ecdsa-p256", "ed25519", "rsa-3072"} {
		priv, pub := generate(t, alg)
		key := trustedKey(t, pub, model.CheckAttestation)
		for _, digest := range []string{signDigest, signDigest512} {
			t.Run(alg+"/"+digest[:6], func(t *testing.T) {
				code, env, errOut := runLocal(t, "sign", "--digest", digest, "--key", priv, "--subject-name", "registry.example.com/payments/api")
				if code != 0 {
					t.Fatalf("sign: exit %d %s", code, errOut)
				}
				js := judgeEnvelope(t, env, digest, nil, key)
				if len(js) != 1 || js[0].Check != model.CheckAttestation || js[0].Result != model.ResultPassed || js[0].KeyIDs[0] != key.ID {
					t.Fatalf("judgement %+v", js)
				}
				// The subject carries the digest under the artifact's algorithm only.
				st := statementOf(t, env)
				alg, hexDigest, _ := strings.Cut(digest, ":")
				subj := st["subject"].([]any)[0].(map[string]any)
				if st["_type"] != "https://in-toto.io/Statement/v1" || st["predicateType"] != DefaultPredicateType ||
					subj["name"] != "registry.example.com/payments/api" || len(subj["digest"].(map[string]any)) != 1 || subj["digest"].(map[string]any)[alg] != hexDigest {
					t.Fatalf("statement %v", st)
				}
				if p, ok := st["predicate"].(map[string]any); !ok || len(p) != 0 {
					t.Fatalf("default predicate %v, want {}", st["predicate"])
				}
				// About another digest it fails, naming why.
				js = judgeEnvelope(t, env, otherDigest, nil, key)
				if js[0].Result != model.ResultFailed || !strings.Contains(js[0].Detail, "subject") {
					t.Fatalf("other digest: %+v", js)
				}
			})
		}
	}
}

func TestSignKeepsAPredicateFileAsWritten(t *testing.T) {
	priv, pub := generate(t, "ed25519")
	dir := t.TempDir()
	pred := filepath.Join(dir, "pred.json")
	// A number beyond float64's integers and a key order that is not sorted.
	if err := os.WriteFile(pred, []byte("{\n  \"zeta\": 9007199254740993,\n  \"alpha\": {\"passed\": true}\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "env.json")
	code, stdout, errOut := runLocal(t, "sign", "--digest", signDigest, "--key", priv, "--predicate-type", "https://in-toto.io/attestation/test-result/v0.1", "--predicate", pred, "--out", out)
	if code != 0 || stdout != "" || !strings.Contains(errOut, "wrote "+out) {
		t.Fatalf("sign: exit %d %q %q", code, stdout, errOut)
	}
	env, _ := os.ReadFile(out)
	var e struct{ Payload string }
	_ = json.Unmarshal(env, &e)
	payload, _ := base64.StdEncoding.DecodeString(e.Payload)
	if !strings.Contains(string(payload), `"predicateType":"https://in-toto.io/attestation/test-result/v0.1","predicate":{"zeta":9007199254740993,"alpha":{"passed":true}}`) {
		t.Fatalf("payload %s", payload)
	}
	js := judgeEnvelope(t, string(env), signDigest, nil, trustedKey(t, pub, model.CheckAttestation))
	if js[0].Result != model.ResultPassed {
		t.Fatalf("%+v", js)
	}
	// A predicate that is not an object, or repeats a key, is refused before signing.
	for _, bad := range []string{`[1]`, `{"a":1,"a":2}`, `{`} {
		if err := os.WriteFile(pred, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		code, stdout, errOut := runLocal(t, "sign", "--digest", signDigest, "--key", priv, "--predicate-type", "x", "--predicate", pred)
		if code != exitFailed || stdout != "" || errOut == "" {
			t.Fatalf("predicate %s: exit %d %q %q", bad, code, stdout, errOut)
		}
	}
}

func TestSignMakesSLSAProvenanceFromFlagsThatDecidesSourcePolicy(t *testing.T) {
	priv, pub := generate(t, "ecdsa-p256")
	key := trustedKey(t, pub, model.CheckAttestation, model.CheckSourcePolicy)
	code, env, errOut := runLocal(t, "sign", "--digest", signDigest, "--key", priv,
		"--slsa-builder-id", "https://github.com/actions/runner/github-hosted", "--slsa-source-repo", "https://github.com/acme/app",
		"--slsa-source-ref", "refs/tags/v1.4.2", "--slsa-source-commit", strings.Repeat("ab", 20))
	if code != 0 {
		t.Fatalf("sign: exit %d %s", code, errOut)
	}
	if st := statementOf(t, env); st["predicateType"] != "https://slsa.dev/provenance/v1" {
		t.Fatalf("predicate type %v", st["predicateType"])
	}
	ok := &model.ProvenancePolicy{BuilderIDs: []string{"https://github.com/actions/runner/github-hosted"}, SourceRepositories: []string{"https://github.com/acme/"}}
	js := judgeEnvelope(t, env, signDigest, ok, key)
	if len(js) != 2 || js[1].Check != model.CheckSourcePolicy || js[1].Result != model.ResultPassed {
		t.Fatalf("matching rules: %+v", js)
	}
	other := &model.ProvenancePolicy{BuilderIDs: []string{"https://github.com/actions/runner/github-hosted"}, SourceRepositories: []string{"https://github.com/other/"}}
	js = judgeEnvelope(t, env, signDigest, other, key)
	if len(js) != 2 || js[1].Result != model.ResultFailed || !strings.Contains(js[1].Detail, "source repository https://github.com/acme/app") {
		t.Fatalf("other rules: %+v", js)
	}
	// Incomplete provenance flags are a usage error.
	if code, _, errOut := runLocal(t, "sign", "--digest", signDigest, "--key", priv, "--slsa-source-repo", "https://github.com/acme/app"); code != exitFailed || !strings.Contains(errOut, "--slsa-builder-id") {
		t.Fatalf("incomplete: exit %d %q", code, errOut)
	}
}

// pemFile writes PEM blocks to a file.
func pemFile(t *testing.T, blocks ...*pem.Block) string {
	t.Helper()
	var b []byte
	for _, bl := range blocks {
		b = append(b, pem.EncodeToMemory(bl)...)
	}
	p := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSignReadsTheKeyFormatsOpenSSLWritesAndRefusesTheOthersClearly(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(ec)
	ecParams := []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07} // OID prime256v1
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKCS8PrivateKey(p384)
	pubDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	for _, tc := range []struct {
		name string
		file string
		want string // "" = signs
	}{
		{"openssl ecparam -genkey (EC PARAMETERS, then SEC 1)", pemFile(t, &pem.Block{Type: "EC PARAMETERS", Bytes: ecParams}, &pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), ""},
		{"PKCS#1 RSA", pemFile(t, &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}), ""},
		{"RSA of 1024 bits", pemFile(t, &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)}), "at least 2048"},
		{"P-384", pemFile(t, &pem.Block{Type: "PRIVATE KEY", Bytes: p384DER}), "only P-256"},
		{"a public key", pemFile(t, &pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), "this is a public key"},
		{"encrypted PKCS#8", pemFile(t, &pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}), "encrypted"},
		{"cosign's encrypted key", pemFile(t, &pem.Block{Type: "ENCRYPTED SIGSTORE PRIVATE KEY", Bytes: []byte{1}}), "cosign's encrypted key format"},
		{"garbage", pemFile(t), "no PEM private key found"},
		{"a damaged key", pemFile(t, &pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}), "not a valid key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runLocal(t, "sign", "--digest", signDigest, "--key", tc.file)
			if tc.want == "" {
				if code != 0 || !strings.Contains(out, `"payloadType":"application/vnd.in-toto+json"`) {
					t.Fatalf("exit %d %q %q", code, out, errOut)
				}
				return
			}
			if code != exitFailed || out != "" || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q, want naming %q", code, errOut, tc.want)
			}
		})
	}
}

func TestSignFormatCosignMakesASimpleSigningPayloadAndSignature(t *testing.T) {
	for _, alg := range []string{"ecdsa-p256", "ed25519", "rsa-3072"} {
		t.Run(alg, func(t *testing.T) {
			priv, pub := generate(t, alg)
			dir := t.TempDir()
			payloadPath, sigPath := filepath.Join(dir, "payload.json"), filepath.Join(dir, "payload.sig")
			code, _, errOut := runLocal(t, "sign", "--format", "cosign", "--digest", signDigest, "--key", priv,
				"--docker-reference", "registry.example.com/payments/api", "--payload-out", payloadPath, "--signature-out", sigPath)
			if code != 0 {
				t.Fatalf("exit %d %s", code, errOut)
			}
			payload, _ := os.ReadFile(payloadPath)
			sig, _ := os.ReadFile(sigPath)
			want := `{"critical":{"identity":{"docker-reference":"registry.example.com/payments/api"},"image":{"docker-manifest-digest":"` + signDigest + `"},"type":"cosign container image signature"},"optional":null}`
			if string(payload) != want {
				t.Fatalf("payload %s\nwant    %s", payload, want)
			}
			p, err := evidence.KeyVerifier{}.Parse(evidence.Submission{Payload: base64.StdEncoding.EncodeToString(payload), Signature: string(sig)})
			if err != nil {
				t.Fatal(err)
			}
			js := evidence.KeyVerifier{}.Judge(p, signDigest, []model.TrustedKey{trustedKey(t, pub, model.CheckSignature)}, nil)
			if len(js) != 1 || js[0].Check != model.CheckSignature || js[0].Result != model.ResultPassed {
				t.Fatalf("%+v", js)
			}
		})
	}
	priv, _ := generate(t, "ecdsa-p256")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--format", "cosign", "--payload-out", "p", "--signature-out", "s"}, "--docker-reference is required"},
		{[]string{"--format", "cosign", "--docker-reference", "r", "--payload-out", "p", "--signature-out", "s", "--predicate-type", "x"}, "--predicate-type is for --format dsse"},
		{[]string{"--docker-reference", "r"}, "--docker-reference is for --format cosign"},
		{[]string{"--format", "x509"}, "--format must be dsse or cosign"},
		{[]string{"--predicate", "p.json"}, "--predicate needs --predicate-type"},
	} {
		args := append([]string{"sign", "--digest", signDigest, "--key", priv}, tc.args...)
		if code, _, errOut := runLocal(t, args...); code != exitFailed || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
}
