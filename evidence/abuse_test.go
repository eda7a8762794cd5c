package evidence

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/artifact-trust/control-plane/model"
)

// padEnvelope pads a signed envelope with insignificant whitespace to exactly size
// bytes: the same envelope, only its length differs.
func padEnvelope(t *testing.T, env string, size int) string {
	t.Helper()
	if len(env) > size {
		t.Fatalf("envelope of %d bytes is over %d before padding", len(env), size)
	}
	out := env[:len(env)-1] + strings.Repeat(" ", size-len(env)) + "}"
	if len(out) != size {
		t.Fatalf("padded to %d", len(out))
	}
	return out
}

// bigEnvelope signs a statement about digest whose predicate is padded so that
// the envelope is just under MaxEnvelopeBytes.
func bigEnvelope(t *testing.T, s dsse.Signer, digest string) string {
	t.Helper()
	// base64 grows 3 -> 4; leave room for the signature and the envelope's fields.
	pad := (MaxEnvelopeBytes-600)*3/4 - 300
	return signEnvelope(t, statementJSON(subjectOf(digest), "https://example.com/v1", map[string]any{"pad": strings.Repeat("a", pad)}), s)
}

// envelopeWithSigs builds an envelope of payload with the given signatures.
func envelopeWithSigs(payload []byte, sigs ...[]byte) string {
	var list []any
	for _, s := range sigs {
		list = append(list, map[string]string{"sig": base64.StdEncoding.EncodeToString(s)})
	}
	b, _ := json.Marshal(map[string]any{"payloadType": PayloadTypeInToto, "payload": base64.StdEncoding.EncodeToString(payload), "signatures": list})
	return string(b)
}

func wantBadInput(t *testing.T, s Submission, naming string) {
	t.Helper()
	_, err := KeyVerifier{}.Parse(s)
	if err == nil || model.KindOf(err) != model.KindBadInput || !strings.Contains(err.Error(), naming) {
		t.Fatalf("err = %v, want BAD_USER_INPUT naming %q", err, naming)
	}
}

func wantPassed(t *testing.T, s Submission, digest string, key model.TrustedKey) {
	t.Helper()
	js := judge(t, s, digest, []model.TrustedKey{key}, nil)
	wantJudgement(t, js, 0, model.CheckAttestation, model.ResultPassed, "verified with key")
}

func TestAnEnvelopeOfExactlyTheSizeLimitVerifiesAndOneByteMoreIsRefused(t *testing.T) {
	s, pub := newEC(t)
	key := trusted(t, pub, []model.Check{model.CheckAttestation})
	env := bigEnvelope(t, s, testDigest)
	wantPassed(t, Submission{DSSE: padEnvelope(t, env, MaxEnvelopeBytes)}, testDigest, key)
	wantBadInput(t, Submission{DSSE: padEnvelope(t, env, MaxEnvelopeBytes+1)}, fmt.Sprintf("is %d bytes, at most %d allowed", MaxEnvelopeBytes+1, MaxEnvelopeBytes))
	// Simple signing: payload and signature together, as submitted (base64).
	payload := []byte(`{"critical":{"image":{"docker-manifest-digest":"` + testDigest + `"},"type":"cosign container image signature"},"optional":{"pad":"` + strings.Repeat("b", 190000) + `"}}`)
	sig, _ := s.Sign(context.Background(), payload)
	sigB64 := base64.StdEncoding.EncodeToString(sig)
	payloadB64 := base64.StdEncoding.EncodeToString(payload)
	if len(payloadB64)+len(sigB64) > MaxEnvelopeBytes {
		t.Fatalf("simple signing test payload too big: %d", len(payloadB64)+len(sigB64))
	}
	sigKey := trusted(t, pub, []model.Check{model.CheckSignature})
	wantJudgement(t, judge(t, Submission{Payload: payloadB64, Signature: sigB64}, testDigest, []model.TrustedKey{sigKey}, nil), 0, model.CheckSignature, model.ResultPassed, "cosign")
	over := []byte(`{"critical":{"image":{"docker-manifest-digest":"` + testDigest + `"},"type":"cosign container image signature"},"optional":{"pad":"` + strings.Repeat("b", 200000) + `"}}`)
	wantBadInput(t, Submission{Payload: base64.StdEncoding.EncodeToString(over), Signature: sigB64}, fmt.Sprintf("at most %d allowed", MaxEnvelopeBytes))
}

func TestSignaturesAreCappedAtSixteenPerEnvelope(t *testing.T) {
	s, pub := newEC(t)
	key := trusted(t, pub, []model.Check{model.CheckAttestation})
	payload := statementJSON(subjectOf(testDigest), "https://example.com/v1", map[string]any{})
	good, _ := s.Sign(context.Background(), dsse.PAE(PayloadTypeInToto, payload))
	junk := make([]byte, 64)
	sigs := make([][]byte, 0, MaxSignatures+1)
	for i := 0; i < MaxSignatures-1; i++ {
		sigs = append(sigs, junk)
	}
	// 16: the valid one is the last; every signature is tried.
	wantPassed(t, Submission{DSSE: envelopeWithSigs(payload, append(sigs, good)...)}, testDigest, key)
	// 17: refused before any signature is checked.
	wantBadInput(t, Submission{DSSE: envelopeWithSigs(payload, append(append(sigs, junk), good)...)}, "has 17 signatures, at most 16 allowed")
}

func TestDeeplyNestedJSONInTheSignedStatementIsRefused(t *testing.T) {
	s, pub := newEC(t)
	key := trusted(t, pub, []model.Check{model.CheckAttestation})
	// The statement is depth 1, its predicate depth 2: a predicate nesting
	// MaxJSONDepth-2 more objects is exactly at the limit.
	nested := func(levels int) any {
		var v any = map[string]any{}
		for i := 0; i < levels; i++ {
			v = map[string]any{"a": v}
		}
		return v
	}
	atLimit := statementJSON(subjectOf(testDigest), "https://example.com/v1", nested(MaxJSONDepth-2))
	wantPassed(t, Submission{DSSE: signEnvelope(t, atLimit, s)}, testDigest, key)
	over := statementJSON(subjectOf(testDigest), "https://example.com/v1", nested(MaxJSONDepth-1))
	wantBadInput(t, Submission{DSSE: signEnvelope(t, over, s)}, fmt.Sprintf("dsseEnvelope.payload: nests deeper than %d levels", MaxJSONDepth))
	// Arrays count as much as objects; a million brackets cost one pass.
	wantBadInput(t, Submission{DSSE: signEnvelope(t, []byte(strings.Repeat("[", 100000)), s)}, "nests deeper")
}

func TestNonCanonicalBase64IsRefusedWhereverItIs(t *testing.T) {
	s, _ := newEC(t)
	payload := statementJSON(subjectOf(testDigest), "https://example.com/v1", map[string]any{})
	sig, _ := s.Sign(context.Background(), dsse.PAE(PayloadTypeInToto, payload))
	p64, s64 := base64.StdEncoding.EncodeToString(payload), base64.StdEncoding.EncodeToString(sig)
	// Flip the unused low bits of the last base64 character before the padding:
	// lenient decoders read the same bytes, so the same envelope would have many
	// spellings (and SHA-256s).
	nonCanonical := func(b64 string) string {
		i := strings.IndexByte(b64, '=') - 1
		if i < 0 {
			t.Fatalf("%s has no padding", b64)
		}
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
		c := strings.IndexByte(alphabet, b64[i])
		return b64[:i] + string(alphabet[c|1]) + b64[i+1:]
	}
	for len(p64)%4 == 0 && !strings.Contains(p64, "=") {
		payload = append(payload, ' ')
		sig, _ = s.Sign(context.Background(), dsse.PAE(PayloadTypeInToto, payload))
		p64, s64 = base64.StdEncoding.EncodeToString(payload), base64.StdEncoding.EncodeToString(sig)
	}
	env := func(p, sg string) string {
		return `{"payloadType":"application/vnd.in-toto+json","payload":"` + p + `","signatures":[{"sig":"` + sg + `"}]}`
	}
	if _, err := (KeyVerifier{}).Parse(Submission{DSSE: env(p64, s64)}); err != nil {
		t.Fatalf("canonical: %v", err)
	}
	wantBadInput(t, Submission{DSSE: env(nonCanonical(p64), s64)}, "dsseEnvelope.payload: is not canonical base64")
	wantBadInput(t, Submission{DSSE: env(p64, nonCanonical("AAE="))}, "dsseEnvelope.signatures[0].sig: is not canonical base64")
	// Go's decoder skips line breaks even in strict mode; the service does not.
	wantBadInput(t, Submission{DSSE: env(p64[:8]+`\n`+p64[8:], s64)}, "dsseEnvelope.payload: is not canonical base64")
	wantBadInput(t, Submission{DSSE: env(p64, s64[:8]+`\r\n`+s64[8:])}, "dsseEnvelope.signatures[0].sig: is not canonical base64")
	wantBadInput(t, Submission{Payload: base64.StdEncoding.EncodeToString([]byte(`{"critical":{"image":{"docker-manifest-digest":"x"}}}`)), Signature: nonCanonical("AAE=")}, "simpleSigning.signature: is not canonical base64")
}

func TestDuplicateKeysAnywhereInSignedJSONAreRefused(t *testing.T) {
	s, _ := newEC(t)
	_, otherHex, _ := strings.Cut(otherDigest, ":")
	_, hexDigest, _ := strings.Cut(testDigest, ":")
	for _, tc := range []struct{ name, statement, key string }{
		// Go's encoding/json keeps the last subject, other parsers the first:
		// which artifact would this be about?
		{"two subject lists", `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"` + hexDigest + `"}}],"subject":[{"digest":{"sha256":"` + otherHex + `"}}],"predicateType":"x","predicate":{}}`, "subject"},
		{"two digests under one algorithm", `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"` + hexDigest + `","sha256":"` + otherHex + `"}}],"predicateType":"x","predicate":{}}`, "sha256"},
		{"two predicate types", `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"` + hexDigest + `"}}],"predicateType":"x","predicateType":"https://slsa.dev/provenance/v1","predicate":{}}`, "predicateType"},
		{"deep in the predicate", `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"` + hexDigest + `"}}],"predicateType":"x","predicate":{"a":[{"b":1,"b":2}]}}`, "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantBadInput(t, Submission{DSSE: signEnvelope(t, []byte(tc.statement), s)}, fmt.Sprintf("dsseEnvelope.payload: repeats the key %q in one object", tc.key))
		})
	}
	wantBadInput(t, Submission{Payload: base64.StdEncoding.EncodeToString([]byte(`{"critical":{"image":{"docker-manifest-digest":"` + testDigest + `","docker-manifest-digest":"` + otherDigest + `"}}}`)), Signature: "AAAA"},
		`simpleSigning.payload: repeats the key "docker-manifest-digest"`)
}

func TestAStatementWithAThousandSubjectsIsJudgedAndOverTheCapIsRefused(t *testing.T) {
	s, pub := newEC(t)
	key := trusted(t, pub, []model.Check{model.CheckAttestation})
	statement := func(n int, last string) []byte {
		subjects := make([]any, 0, n)
		for i := 0; i < n-1; i++ {
			subjects = append(subjects, map[string]any{"name": fmt.Sprintf("part-%d", i), "digest": map[string]string{"sha256": fmt.Sprintf("%064x", i)}})
		}
		alg, h, _ := strings.Cut(last, ":")
		subjects = append(subjects, map[string]any{"name": "app", "digest": map[string]string{alg: h}})
		b, _ := json.Marshal(map[string]any{"_type": StatementTypeV1, "subject": subjects, "predicateType": "https://example.com/v1", "predicate": map[string]any{}})
		return b
	}
	// 1,000 subjects, the artifact's the last: PASSED; about none of them: FAILED.
	thousand := Submission{DSSE: signEnvelope(t, statement(1000, testDigest), s)}
	wantPassed(t, thousand, testDigest, key)
	wantJudgement(t, judge(t, thousand, otherDigest, []model.TrustedKey{key}, nil), 0, model.CheckAttestation, model.ResultFailed, "no subject carries the artifact's digest")
	// The cap is MaxSubjects (1,024) exactly.
	wantPassed(t, Submission{DSSE: signEnvelope(t, statement(MaxSubjects, testDigest), s)}, testDigest, key)
	wantBadInput(t, Submission{DSSE: signEnvelope(t, statement(MaxSubjects+1, testDigest), s)}, "has 1025 entries, at most 1024 allowed")
}

func TestAPayloadVerifyingOnlyUnderARevokedKeyIsFailedNamingIt(t *testing.T) {
	s, pub := newEC(t)
	_, otherPub := newEC(t)
	revoked := trusted(t, pub, []model.Check{model.CheckAttestation})
	at := time.Now()
	revoked.RevokedAt = &at
	live := trusted(t, otherPub, []model.Check{model.CheckAttestation})
	env := Submission{DSSE: signEnvelope(t, statementJSON(subjectOf(testDigest), "https://example.com/v1", map[string]any{}), s)}
	js := judge(t, env, testDigest, []model.TrustedKey{live, revoked}, nil)
	wantJudgement(t, js, 0, model.CheckAttestation, model.ResultFailed, "verification was attempted and failed: signed only by revoked key "+revoked.ID[:12])
	if len(js) != 1 || len(js[0].KeyIDs) != 0 {
		t.Fatalf("a revoked key is named as a verifier: %+v", js)
	}
}
