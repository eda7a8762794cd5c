package evidence

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/secure-systems-lab/go-securesystemslib/signerverifier"

	"github.com/artifact-trust/control-plane/model"
)

const (
	testDigest    = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	testDigest512 = "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
	otherDigest   = "sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
)

var admin = model.Actor{Subject: "ada", Type: model.ActorUser}

// trusted makes a live key of project "payments" from PEM text.
func trusted(t *testing.T, pemText string, checks []model.Check, preds ...string) model.TrustedKey {
	t.Helper()
	k, err := model.NewTrustedKey("payments", model.TrustedKeyInput{PublicKeyPEM: pemText, Checks: checks, PredicateTypes: preds}, admin, "c", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func statementJSON(digests map[string]string, predicateType string, predicate any) []byte {
	st := map[string]any{
		"_type":         StatementTypeV1,
		"subject":       []any{map[string]any{"name": "app", "digest": digests}},
		"predicateType": predicateType,
		"predicate":     predicate,
	}
	b, _ := json.Marshal(st)
	return b
}

func subjectOf(digest string) map[string]string {
	alg, h, _ := strings.Cut(digest, ":")
	return map[string]string{alg: h}
}

// ecSigner is a dsse.Signer over a fresh P-256 key (ASN.1 DER signatures).
type ecSigner struct{ k *ecdsa.PrivateKey }

func (s ecSigner) Sign(_ context.Context, data []byte) ([]byte, error) {
	h := sha256.Sum256(data)
	return ecdsa.SignASN1(rand.Reader, s.k, h[:])
}
func (s ecSigner) KeyID() (string, error) { return "some-other-id", nil }

func newEC(t *testing.T) (ecSigner, string) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	return ecSigner{k}, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// signEnvelope signs payload with the go-securesystemslib DSSE signer.
func signEnvelope(t *testing.T, payload []byte, signers ...dsse.Signer) string {
	t.Helper()
	es, err := dsse.NewEnvelopeSigner(signers...)
	if err != nil {
		t.Fatal(err)
	}
	env, err := es.SignPayload(context.Background(), PayloadTypeInToto, payload)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(env)
	return string(b)
}

func judge(t *testing.T, s Submission, digest string, keys []model.TrustedKey, pp *model.ProvenancePolicy) []model.Judgement {
	t.Helper()
	p, err := KeyVerifier{}.Parse(s)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return KeyVerifier{}.Judge(p, digest, keys, pp)
}

func wantJudgement(t *testing.T, js []model.Judgement, i int, c model.Check, r model.CheckResult, detail string) {
	t.Helper()
	if len(js) <= i {
		t.Fatalf("judgements %+v: no %d", js, i)
	}
	j := js[i]
	if j.Check != c || j.Result != r || !strings.Contains(j.Detail, detail) {
		t.Fatalf("judgement %d = %+v, want %s %s naming %q", i, j, c, r, detail)
	}
}

func TestEnvelopesSignedByTheGoSecureSystemsLibSignersVerify(t *testing.T) {
	dir := filepath.Join("testdata", "sslib")
	for _, tc := range []struct {
		name, priv, pub string
		newSV           func(*signerverifier.SSLibKey) (dsse.Signer, error)
	}{
		{"ecdsa", "ecdsa-test-key-pem", "ecdsa-test-key-pem.pub", func(k *signerverifier.SSLibKey) (dsse.Signer, error) {
			return signerverifier.NewECDSASignerVerifierFromSSLibKey(k)
		}},
		{"ed25519", "ed25519-test-key-pem", "ed25519-test-key-pem.pub", func(k *signerverifier.SSLibKey) (dsse.Signer, error) {
			return signerverifier.NewED25519SignerVerifierFromSSLibKey(k)
		}},
		{"rsa", "rsa-test-key", "rsa-test-key.pub", func(k *signerverifier.SSLibKey) (dsse.Signer, error) {
			return signerverifier.NewRSAPSSSignerVerifierFromSSLibKey(k)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			privPEM, err := os.ReadFile(filepath.Join(dir, tc.priv))
			if err != nil {
				t.Fatal(err)
			}
			pubPEM, _ := os.ReadFile(filepath.Join(dir, tc.pub))
			sk, err := signerverifier.LoadKey(privPEM)
			if err != nil {
				t.Fatal(err)
			}
			signer, err := tc.newSV(sk)
			if err != nil {
				t.Fatal(err)
			}
			env := signEnvelope(t, statementJSON(subjectOf(testDigest), "https://example.com/v1", map[string]any{"ok": true}), signer)
			key := trusted(t, string(pubPEM), []model.Check{model.CheckAttestation})
			js := judge(t, Submission{DSSE: env}, testDigest, []model.TrustedKey{key}, nil)
			wantJudgement(t, js, 0, model.CheckAttestation, model.ResultPassed, "verified with key "+key.ID[:12])
			if len(js) != 1 || len(js[0].KeyIDs) != 1 || js[0].KeyIDs[0] != key.ID {
				t.Fatalf("judgements = %+v", js)
			}
		})
	}
}

func TestAHandBuiltPAEEnvelopeVerifies(t *testing.T) {
	s, pub := newEC(t)
	payload := statementJSON(subjectOf(testDigest), "https://example.com/v1", map[string]any{})
	// DSSE v1 PAE written out by hand, not with dsse.PAE.
	pae := []byte("DSSEv1 28 application/vnd.in-toto+json " + itoa(len(payload)) + " " + string(payload))
	sig, _ := s.Sign(context.Background(), pae)
	env := `{"payloadType":"application/vnd.in-toto+json","payload":"` + base64.StdEncoding.EncodeToString(payload) +
		`","signatures":[{"sig":"` + base64.URLEncoding.EncodeToString(sig) + `"}]}`
	js := judge(t, Submission{DSSE: env}, testDigest, []model.TrustedKey{trusted(t, pub, []model.Check{model.CheckAttestation})}, nil)
	wantJudgement(t, js, 0, model.CheckAttestation, model.ResultPassed, "verified")
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestEnvelopesSignedByNodeCryptoVerify signs with node:crypto (a second,
// independent implementation of DSSE's PAE and of the signatures).
func TestEnvelopesSignedByNodeCryptoVerify(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node is required in CI")
		}
		t.Skip("node not installed")
	}
	for _, kind := range []string{"ec", "ed25519"} {
		t.Run(kind, func(t *testing.T) {
			out, err := exec.Command(node, filepath.Join("testdata", "node-sign.mjs"), kind, testDigest).Output()
			if err != nil {
				t.Fatalf("node: %v", err)
			}
			var res struct{ PublicKeyPem, Envelope string }
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatal(err)
			}
			key := trusted(t, res.PublicKeyPem, []model.Check{model.CheckAttestation})
			js := judge(t, Submission{DSSE: res.Envelope}, testDigest, []model.TrustedKey{key}, nil)
			wantJudgement(t, js, 0, model.CheckAttestation, model.ResultPassed, "verified")
			// The same envelope about another digest: signed, but not about it.
			js = judge(t, Submission{DSSE: res.Envelope}, otherDigest, []model.TrustedKey{key}, nil)
			wantJudgement(t, js, 0, model.CheckAttestation, model.ResultFailed, "no subject carries the artifact's digest")
		})
	}
}

func slsaPredicate(builder, repo string) map[string]any {
	return map[string]any{
		"buildDefinition": map[string]any{
			"buildType":            "https://actions.github.io/buildtypes/workflow/v1",
			"externalParameters":   map[string]any{"workflow": map[string]any{"ref": "refs/heads/main", "repository": repo, "path": ".github/workflows/release.yml"}},
			"resolvedDependencies": []any{map[string]any{"uri": "git+" + repo + "@refs/heads/main", "digest": map[string]string{"gitCommit": strings.Repeat("a1", 20)}}},
		},
		"runDetails": map[string]any{"builder": map[string]any{"id": builder}},
	}
}

func TestDSSEJudgementsNameWhyEvidenceFails(t *testing.T) {
	s, pub := newEC(t)
	attest := trusted(t, pub, []model.Check{model.CheckAttestation, model.CheckSourcePolicy})
	sigOnly := trusted(t, pub, []model.Check{model.CheckSignature})
	slsaOnly := trusted(t, pub, []model.Check{model.CheckAttestation}, PredicateSLSAProvenance1)
	revoked := attest
	now := time.Now()
	revoked.RevokedAt = &now
	_, otherPub := newEC(t)
	other := trusted(t, otherPub, []model.Check{model.CheckAttestation})
	plain := signEnvelope(t, statementJSON(subjectOf(testDigest), "https://example.com/v1", map[string]any{}), s)
	sha256Only := signEnvelope(t, statementJSON(subjectOf(testDigest), "https://example.com/v1", map[string]any{}), s)
	pp := &model.ProvenancePolicy{BuilderIDs: []string{"https://github.com/actions/runner"}, SourceRepositories: []string{"https://github.com/acme/"}}
	slsa := func(builder, repo string) string {
		return signEnvelope(t, statementJSON(subjectOf(testDigest), PredicateSLSAProvenance1, slsaPredicate(builder, repo)), s)
	}

	for _, tc := range []struct {
		name   string
		env    string
		digest string
		keys   []model.TrustedKey
		pp     *model.ProvenancePolicy
		want   []string // "CHECK RESULT detail"
	}{
		{"passes", plain, testDigest, []model.TrustedKey{other, attest}, nil, []string{"ATTESTATION PASSED verified"}},
		{"unknown key", plain, testDigest, []model.TrustedKey{other}, nil, []string{"ATTESTATION FAILED no signature verifies under a trusted key"}},
		{"no keys", plain, testDigest, nil, nil, []string{"ATTESTATION FAILED no signature verifies"}},
		{"revoked key", plain, testDigest, []model.TrustedKey{revoked}, nil, []string{"ATTESTATION FAILED signed only by revoked key"}},
		{"key not for the check", plain, testDigest, []model.TrustedKey{sigOnly}, nil, []string{"ATTESTATION FAILED may not vouch for ATTESTATION"}},
		{"predicate not allowed", plain, testDigest, []model.TrustedKey{slsaOnly}, nil, []string{"ATTESTATION FAILED may not sign predicate type https://example.com/v1"}},
		{"other digest", plain, otherDigest, []model.TrustedKey{attest}, nil, []string{"ATTESTATION FAILED no subject carries the artifact's digest"}},
		{"sha512 artifact, sha256 subject", sha256Only, testDigest512, []model.TrustedKey{attest}, nil, []string{"ATTESTATION FAILED no subject carries a sha512 digest"}},
		{"slsa without provenance rules", slsa("https://github.com/actions/runner", "https://github.com/acme/app"), testDigest, []model.TrustedKey{attest}, nil,
			[]string{"ATTESTATION PASSED verified"}},
		{"slsa matching", slsa("https://github.com/actions/runner", "https://github.com/acme/app"), testDigest, []model.TrustedKey{attest}, pp,
			[]string{"ATTESTATION PASSED verified", "SOURCE_POLICY PASSED verified"}},
		{"slsa other builder", slsa("https://evil.example/builder", "https://github.com/acme/app"), testDigest, []model.TrustedKey{attest}, pp,
			[]string{"ATTESTATION PASSED verified", "SOURCE_POLICY FAILED builder https://evil.example/builder is not one"}},
		{"slsa other repository", slsa("https://github.com/actions/runner", "https://github.com/evil/app"), testDigest, []model.TrustedKey{attest}, pp,
			[]string{"ATTESTATION PASSED verified", "SOURCE_POLICY FAILED source repository https://github.com/evil/app matches no"}},
		{"slsa key not for source policy", slsa("https://github.com/actions/runner", "https://github.com/acme/app"), testDigest, []model.TrustedKey{slsaOnly}, pp,
			[]string{"ATTESTATION PASSED verified", "SOURCE_POLICY FAILED may not vouch for SOURCE_POLICY"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			js := judge(t, Submission{DSSE: tc.env}, tc.digest, tc.keys, tc.pp)
			if len(js) != len(tc.want) {
				t.Fatalf("judgements = %+v, want %v", js, tc.want)
			}
			for i, w := range tc.want {
				parts := strings.SplitN(w, " ", 3)
				wantJudgement(t, js, i, model.Check(parts[0]), model.CheckResult(parts[1]), parts[2])
				if js[i].Result == model.ResultFailed && !strings.HasPrefix(js[i].Detail, "verification was attempted and failed: ") {
					t.Errorf("detail %q", js[i].Detail)
				}
			}
		})
	}
}

func TestCosignSimpleSigningVerifiesTheSignatureOverThePayloadBytes(t *testing.T) {
	s, pub := newEC(t)
	key := trusted(t, pub, []model.Check{model.CheckSignature})
	payload := []byte(`{"critical":{"identity":{"docker-reference":"registry.example.com/app"},"image":{"docker-manifest-digest":"` + testDigest + `"},"type":"cosign container image signature"},"optional":null}`)
	sig, _ := s.Sign(context.Background(), payload)
	sub := Submission{Payload: base64.StdEncoding.EncodeToString(payload), Signature: base64.StdEncoding.EncodeToString(sig)}
	wantJudgement(t, judge(t, sub, testDigest, []model.TrustedKey{key}, nil), 0, model.CheckSignature, model.ResultPassed, "cosign simple signing")
	wantJudgement(t, judge(t, sub, otherDigest, []model.TrustedKey{key}, nil), 0, model.CheckSignature, model.ResultFailed, "the payload signs digest "+testDigest)
	attestOnly := trusted(t, pub, []model.Check{model.CheckAttestation})
	wantJudgement(t, judge(t, sub, testDigest, []model.TrustedKey{attestOnly}, nil), 0, model.CheckSignature, model.ResultFailed, "may not vouch for SIGNATURE")
	// A signature over other bytes.
	sig2, _ := s.Sign(context.Background(), append(payload, ' '))
	sub2 := Submission{Payload: sub.Payload, Signature: base64.StdEncoding.EncodeToString(sig2)}
	wantJudgement(t, judge(t, sub2, testDigest, []model.TrustedKey{key}, nil), 0, model.CheckSignature, model.ResultFailed, "no signature verifies")
}

func TestParseRefusesStructuralGarbageAsBadUserInput(t *testing.T) {
	s, _ := newEC(t)
	good := statementJSON(subjectOf(testDigest), "https://example.com/v1", map[string]any{})
	env := func(payloadType string, payload []byte) string {
		sig, _ := s.Sign(context.Background(), dsse.PAE(payloadType, payload))
		b, _ := json.Marshal(map[string]any{"payloadType": payloadType, "payload": base64.StdEncoding.EncodeToString(payload), "signatures": []any{map[string]string{"sig": base64.StdEncoding.EncodeToString(sig)}}})
		return string(b)
	}
	v01 := strings.Replace(string(good), StatementTypeV1, "https://in-toto.io/Statement/v0.1", 1)
	manySigs := map[string]any{"payloadType": PayloadTypeInToto, "payload": base64.StdEncoding.EncodeToString(good)}
	var sigs []any
	for i := 0; i <= MaxSignatures; i++ {
		sigs = append(sigs, map[string]string{"sig": "AAAA"})
	}
	manySigs["signatures"] = sigs
	manySigsJSON, _ := json.Marshal(manySigs)
	subjects := []any{}
	for i := 0; i <= MaxSubjects; i++ {
		subjects = append(subjects, map[string]any{"digest": map[string]string{"sha256": hex.EncodeToString(make([]byte, 32))}})
	}
	bigStatement, _ := json.Marshal(map[string]any{"_type": StatementTypeV1, "subject": subjects, "predicateType": "x", "predicate": map[string]any{}})
	deep := strings.Repeat("[", MaxJSONDepth+1) + strings.Repeat("]", MaxJSONDepth+1)
	for _, tc := range []struct {
		name string
		sub  Submission
		want string
	}{
		{"nothing", Submission{}, "give a dsseEnvelope or simpleSigning"},
		{"both", Submission{DSSE: "{}", Payload: "e30="}, "not both"},
		{"not json", Submission{DSSE: "hello"}, "is not JSON"},
		{"too big", Submission{DSSE: strings.Repeat(" ", MaxEnvelopeBytes+1)}, "at most 262144"},
		{"wrong payloadType", Submission{DSSE: env("application/json", good)}, "only application/vnd.in-toto+json"},
		{"statement v0.1", Submission{DSSE: env(PayloadTypeInToto, []byte(v01))}, "only in-toto https://in-toto.io/Statement/v1"},
		{"payload not json", Submission{DSSE: env(PayloadTypeInToto, []byte("hello"))}, "is not JSON"},
		{"no subject", Submission{DSSE: env(PayloadTypeInToto, []byte(`{"_type":"https://in-toto.io/Statement/v1","predicateType":"x","predicate":{}}`))}, "subject"},
		{"no signatures", Submission{DSSE: `{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}`}, "at least one signature"},
		{"too many signatures", Submission{DSSE: string(manySigsJSON)}, "at most 16"},
		{"non-canonical base64", Submission{DSSE: `{"payloadType":"application/vnd.in-toto+json","payload":"e31=","signatures":[{"sig":"AAAA"}]}`}, "canonical base64"},
		{"duplicate key", Submission{DSSE: `{"payloadType":"application/vnd.in-toto+json","payloadType":"x","payload":"e30=","signatures":[{"sig":"AAAA"}]}`}, `repeats the key "payloadType"`},
		{"deep json", Submission{DSSE: deep}, "nests deeper"},
		{"unknown envelope field", Submission{DSSE: `{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"sig":"AAAA"}],"x":1}`}, "not a DSSE envelope"},
		{"1025 subjects", Submission{DSSE: env(PayloadTypeInToto, bigStatement)}, "at most 1024"},
		{"invalid slsa", Submission{DSSE: env(PayloadTypeInToto, statementJSON(subjectOf(testDigest), PredicateSLSAProvenance1, map[string]any{"runDetails": map[string]any{}}))}, "not valid SLSA provenance v1"},
		{"simple signing without digest", Submission{Payload: base64.StdEncoding.EncodeToString([]byte(`{"critical":{}}`)), Signature: "AAAA"}, "docker-manifest-digest"},
		{"simple signing bad base64", Submission{Payload: "!!", Signature: "AAAA"}, "canonical base64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := KeyVerifier{}.Parse(tc.sub)
			if err == nil || model.KindOf(err) != model.KindBadInput || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want BAD_USER_INPUT naming %q", err, tc.want)
			}
		})
	}
}

func TestParseGivesTheSameEnvelopeTheSameSHA256(t *testing.T) {
	s, _ := newEC(t)
	env := signEnvelope(t, statementJSON(subjectOf(testDigest), "x", map[string]any{}), s)
	a, err := KeyVerifier{}.Parse(Submission{DSSE: env})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := KeyVerifier{}.Parse(Submission{DSSE: env})
	sum := sha256.Sum256([]byte(env))
	if a.EnvelopeSHA256 != b.EnvelopeSHA256 || a.EnvelopeSHA256 != hex.EncodeToString(sum[:]) || a.PredicateType != "x" {
		t.Fatalf("sha %s %s", a.EnvelopeSHA256, b.EnvelopeSHA256)
	}
}
