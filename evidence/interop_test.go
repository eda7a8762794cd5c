package evidence

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/secure-systems-lab/go-securesystemslib/signerverifier"

	"github.com/artifact-trust/control-plane/model"
)

func spkiPEM(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// TestDSSEProjectTestVectors runs the DSSE project's published vectors
// (testdata/dsse/vectors.json) through the service's envelope decoder, PAE and
// signature verification: the PAE equals the published one wherever the envelope
// is what was signed, and each vector is accepted or rejected as published under
// its trusted keys, threshold and supported payload types.
func TestDSSEProjectTestVectors(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "dsse", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Keys map[string]struct{ Algorithm, Seed, Public string }
		// Vectors keep their envelope as raw JSON text, decoded by the service.
		Vectors []struct {
			ID                    string
			Envelope              json.RawMessage
			TrustedKeys           []string
			Threshold             int
			SupportedPayloadTypes []string
			PAE                   string
			Expect                string
		}
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Vectors) < 9 {
		t.Fatalf("%d vectors", len(file.Vectors))
	}
	keys := map[string]model.TrustedKey{}
	for name, k := range file.Keys {
		seed, _ := hex.DecodeString(k.Seed)
		pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
		if k.Algorithm != "ed25519" || hex.EncodeToString(pub) != k.Public {
			t.Fatalf("key %s: the published public key is not the seed's (RFC 8032)", name)
		}
		keys[name] = trusted(t, spkiPEM(t, pub), []model.Check{model.CheckAttestation})
	}
	for _, v := range file.Vectors {
		t.Run(v.ID, func(t *testing.T) {
			env, payload, sigs, err := decodeEnvelope("dsseEnvelope", string(v.Envelope))
			if err != nil {
				t.Fatalf("the service cannot decode the envelope: %v", err)
			}
			pae := dsse.PAE(env.PayloadType, payload)
			if v.Expect == "accept" && hex.EncodeToString(pae) != v.PAE {
				t.Fatalf("PAE %x, published %s", pae, v.PAE)
			}
			var trustedKeys []model.TrustedKey
			for _, name := range v.TrustedKeys {
				trustedKeys = append(trustedKeys, keys[name])
			}
			verified := signers(&Parsed{signed: pae, signatures: sigs}, trustedKeys)
			got := "reject"
			if len(verified) >= v.Threshold && slices.Contains(v.SupportedPayloadTypes, env.PayloadType) {
				got = "accept"
			}
			if got != v.Expect {
				t.Fatalf("%s, published %s (%d keys verified, threshold %d)", got, v.Expect, len(verified), v.Threshold)
			}
			// The service itself accepts only in-toto statements: these payloads
			// are not complete statements (or not in-toto), so submitEvidence
			// refuses every vector as BAD_USER_INPUT, naming why.
			_, err = KeyVerifier{}.Parse(Submission{DSSE: string(v.Envelope)})
			want := "payloadType"
			switch {
			case env.PayloadType == PayloadTypeInToto && len(payload) == 0:
				want = "payload: is missing"
			case env.PayloadType == PayloadTypeInToto && json.Valid(payload):
				want = "not a valid in-toto Statement v1"
			case env.PayloadType == PayloadTypeInToto:
				want = "is not JSON"
			}
			if model.KindOf(err) != model.KindBadInput || !strings.Contains(err.Error(), want) {
				t.Fatalf("Parse: %v, want BAD_USER_INPUT naming %q", err, want)
			}
		})
	}
}

// TestDSSEProtocolExampleVerifies checks the example of the DSSE protocol
// document (testdata/dsse/protocol-example.json): ECDSA P-256 with a raw r||s
// signature, which the service's verification accepts beside ASN.1 DER.
func TestDSSEProtocolExampleVerifies(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "dsse", "protocol-example.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ex struct {
		PayloadType, SerializedBody, PAE string
		Key                              struct{ X, Y, D string }
		Envelope                         json.RawMessage
	}
	if err := json.Unmarshal(raw, &ex); err != nil {
		t.Fatal(err)
	}
	num := func(s string) *big.Int {
		n, ok := new(big.Int).SetString(s, 10)
		if !ok {
			t.Fatalf("not a number: %s", s)
		}
		return n
	}
	published := append(append([]byte{4}, num(ex.Key.X).FillBytes(make([]byte, 32))...), num(ex.Key.Y).FillBytes(make([]byte, 32))...) // 0x04 || X || Y
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), published)
	if err != nil {
		t.Fatalf("the published point: %v", err)
	}
	// The published private scalar d belongs to the published point.
	priv, err := ecdh.P256().NewPrivateKey(num(ex.Key.D).FillBytes(make([]byte, 32)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(priv.PublicKey().Bytes(), published) {
		t.Fatal("the published d is not the published point's")
	}
	env, payload, sigs, err := decodeEnvelope("dsseEnvelope", string(ex.Envelope))
	if err != nil {
		t.Fatal(err)
	}
	if string(payload) != ex.SerializedBody || env.PayloadType != ex.PayloadType {
		t.Fatalf("decoded %q %q", payload, env.PayloadType)
	}
	pae := dsse.PAE(env.PayloadType, payload)
	if string(pae) != ex.PAE {
		t.Fatalf("PAE %q, published %q", pae, ex.PAE)
	}
	if len(sigs) != 1 || len(sigs[0]) != 64 {
		t.Fatalf("signature is not a raw r||s: %d bytes", len(sigs[0]))
	}
	key := trusted(t, spkiPEM(t, pub), []model.Check{model.CheckAttestation})
	if got := signers(&Parsed{signed: pae, signatures: sigs}, []model.TrustedKey{key}); len(got) != 1 {
		t.Fatal("the published signature does not verify under the published key")
	}
	// One byte of the body changed: it does not.
	if got := signers(&Parsed{signed: dsse.PAE(env.PayloadType, []byte("hello worle")), signatures: sigs}, []model.TrustedKey{key}); len(got) != 0 {
		t.Fatal("a signature verified over another body")
	}
}

// TestInTotoSpecificationExamplesVerify signs the in-toto attestation
// specification's example statements as published (testdata/intoto) and runs
// them through Parse and Judge: each is an in-toto Statement v1 to the service,
// PASSED for the digest of any of its sha256 subjects, FAILED naming why for
// another digest or when it has no sha256 subject.
func TestInTotoSpecificationExamplesVerify(t *testing.T) {
	privPEM, err := os.ReadFile(filepath.Join("testdata", "sslib", "ecdsa-test-key-pem"))
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, _ := os.ReadFile(filepath.Join("testdata", "sslib", "ecdsa-test-key-pem.pub"))
	sk, err := signerverifier.LoadKey(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := signerverifier.NewECDSASignerVerifierFromSSLibKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	key := trusted(t, string(pubPEM), []model.Check{model.CheckAttestation})
	files, _ := filepath.Glob(filepath.Join("testdata", "intoto", "*.json"))
	if len(files) != 3 {
		t.Fatalf("examples: %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			statement, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var st struct {
				PredicateType string
				Subject       []struct{ Digest map[string]string }
			}
			if err := json.Unmarshal(statement, &st); err != nil {
				t.Fatal(err)
			}
			env := signEnvelope(t, statement, signer)
			p, err := KeyVerifier{}.Parse(Submission{DSSE: env})
			if err != nil {
				t.Fatalf("the service refuses the specification's example: %v", err)
			}
			if p.PredicateType != st.PredicateType || len(p.statement.GetSubject()) != len(st.Subject) {
				t.Fatalf("parsed predicate type %q, %d subjects", p.PredicateType, len(p.statement.GetSubject()))
			}
			sha256Subjects := 0
			for _, s := range st.Subject {
				if h, ok := s.Digest["sha256"]; ok {
					sha256Subjects++
					wantJudgement(t, KeyVerifier{}.Judge(p, "sha256:"+h, []model.TrustedKey{key}, nil), 0, model.CheckAttestation, model.ResultPassed, "verified with key")
				}
			}
			if sha256Subjects == 0 {
				wantJudgement(t, KeyVerifier{}.Judge(p, testDigest, []model.TrustedKey{key}, nil), 0, model.CheckAttestation, model.ResultFailed, "no subject carries a sha256 digest")
				return
			}
			wantJudgement(t, KeyVerifier{}.Judge(p, otherDigest, []model.TrustedKey{key}, nil), 0, model.CheckAttestation, model.ResultFailed, "no subject carries the artifact's digest")
		})
	}
}
