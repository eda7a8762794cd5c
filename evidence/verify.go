// Package evidence verifies signed evidence about an artifact against a project's
// trusted keys: DSSE envelopes carrying in-toto Statement v1 (and SLSA provenance
// v1), and cosign simple-signing payloads. It is pure: no database or transport.
// The service uses it through the Verifier interface, so another verifier (for
// example keyless, against Fulcio and Rekor) can come beside it.
package evidence

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"

	"github.com/artifact-trust/control-plane/model"
	prov "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"google.golang.org/protobuf/encoding/protojson"
)

// Constants of the formats accepted.
const (
	PayloadTypeInToto        = "application/vnd.in-toto+json"
	StatementTypeV1          = intoto.StatementTypeUri
	PredicateSLSAProvenance1 = "https://slsa.dev/provenance/v1"
)

// Limits on submitted evidence.
const (
	// MaxEnvelopeBytes bounds a DSSE envelope's JSON text, and a simple-signing
	// payload plus signature as submitted (base64).
	MaxEnvelopeBytes = 256 << 10
	// MaxSignatures bounds the signatures of one envelope (each is tried against
	// each live key).
	MaxSignatures = 16
	// MaxSubjects bounds the subjects of one statement.
	MaxSubjects = 1024
	// MaxJSONDepth bounds the nesting of the JSON submitted.
	MaxJSONDepth = 64
)

// Submission is evidence as a client sent it: a DSSE envelope's JSON text, or a
// simple-signing payload and signature (both base64).
type Submission struct {
	DSSE      string
	Payload   string
	Signature string
}

// Parsed is structurally valid evidence, not yet judged.
type Parsed struct {
	Format model.EvidenceFormat
	// EnvelopeSHA256 is the lowercase hex SHA-256 of Raw.
	EnvelopeSHA256 string
	// Raw is what is kept of the submission: the envelope's JSON text as sent, or
	// {"payload":...,"signature":...} with the base64 texts as sent.
	Raw           []byte
	PredicateType string

	// signed is what the signatures sign (the DSSE PAE, or the payload bytes).
	signed     []byte
	signatures [][]byte
	statement  *intoto.Statement
	provenance *prov.Provenance
	// manifestDigest is a simple-signing payload's critical.image.docker-manifest-digest.
	manifestDigest string
}

// Verifier checks evidence. Parse refuses what is structurally invalid
// (BAD_USER_INPUT, nothing is recorded); Judge decides the checks the evidence
// speaks for, each PASSED or FAILED with a detail naming why.
type Verifier interface {
	Parse(s Submission) (*Parsed, error)
	Judge(p *Parsed, digest string, keys []model.TrustedKey, provenance *model.ProvenancePolicy) []model.Judgement
}

// KeyVerifier verifies signatures against trusted public keys with the standard
// library's crypto.
type KeyVerifier struct{}

var _ Verifier = KeyVerifier{}

func bad(field, format string, args ...any) error { return model.BadInput(field, format, args...) }

// decodeB64 accepts standard or URL-safe base64 (DSSE allows both), padded or
// not, and refuses non-canonical encodings: non-zero trailing bits, and line
// breaks (which Go's decoder skips even in strict mode), so that one value has
// one spelling.
func decodeB64(field, s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, bad(field, "is not canonical base64 (line breaks)")
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.Strict().DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, bad(field, "is not canonical base64")
}

// checkJSON refuses text that is not one JSON value, nests deeper than
// MaxJSONDepth, or repeats a key in an object (parsers disagree on which
// duplicate wins, so a signed statement must not have any).
func checkJSON(field string, b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	type frame struct {
		obj  bool
		keys map[string]bool
		key  bool // next token in an object is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return bad(field, "is not JSON: %v", err)
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.obj && top.key {
			k, _ := tok.(string)
			if _, isDelim := tok.(json.Delim); !isDelim {
				if top.keys[k] {
					return bad(field, "repeats the key %q in one object", k)
				}
				top.keys[k] = true
				top.key = false
				continue
			}
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if len(stack) >= MaxJSONDepth {
					return bad(field, "nests deeper than %d levels", MaxJSONDepth)
				}
				stack = append(stack, &frame{obj: d == '{', keys: map[string]bool{}, key: d == '{'})
				continue
			case '}', ']':
				stack = stack[:len(stack)-1]
			}
		}
		if len(stack) > 0 && stack[len(stack)-1].obj {
			stack[len(stack)-1].key = true
		}
	}
	return nil
}

// Parse checks a submission's structure.
func (KeyVerifier) Parse(s Submission) (*Parsed, error) {
	switch {
	case s.DSSE != "" && (s.Payload != "" || s.Signature != ""):
		return nil, bad("input", "give either dsseEnvelope or simpleSigning, not both")
	case s.DSSE != "":
		return parseDSSE(s.DSSE)
	case s.Payload != "" || s.Signature != "":
		return parseSimpleSigning(s.Payload, s.Signature)
	}
	return nil, bad("input", "give a dsseEnvelope or simpleSigning")
}

// decodeEnvelope decodes a DSSE envelope, whatever its payloadType: JSON text of
// at most MaxEnvelopeBytes holding one object with only the envelope's fields (no
// repeated key, nesting bounded), and canonical base64 (standard or URL-safe) for
// the payload and for each of 1 to MaxSignatures non-empty signatures.
func decodeEnvelope(field, text string) (env dsse.Envelope, payload []byte, sigs [][]byte, err error) {
	if len(text) > MaxEnvelopeBytes {
		return env, nil, nil, bad(field, "is %d bytes, at most %d allowed", len(text), MaxEnvelopeBytes)
	}
	if err := checkJSON(field, []byte(text)); err != nil {
		return env, nil, nil, err
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return env, nil, nil, bad(field, "is not a DSSE envelope: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return env, nil, nil, bad(field, "has text after the envelope")
	}
	if payload, err = decodeB64(field+".payload", env.Payload); err != nil {
		return env, nil, nil, err
	}
	if len(env.Signatures) == 0 {
		return env, nil, nil, bad(field+".signatures", "is empty; a DSSE envelope needs at least one signature")
	}
	if len(env.Signatures) > MaxSignatures {
		return env, nil, nil, bad(field+".signatures", "has %d signatures, at most %d allowed", len(env.Signatures), MaxSignatures)
	}
	for i, sig := range env.Signatures {
		b, err := decodeB64(fmt.Sprintf("%s.signatures[%d].sig", field, i), sig.Sig)
		if err != nil {
			return env, nil, nil, err
		}
		if len(b) == 0 {
			return env, nil, nil, bad(fmt.Sprintf("%s.signatures[%d].sig", field, i), "is empty")
		}
		sigs = append(sigs, b)
	}
	return env, payload, sigs, nil
}

func parseDSSE(text string) (*Parsed, error) {
	const field = "dsseEnvelope"
	env, payload, sigs, err := decodeEnvelope(field, text)
	if err != nil {
		return nil, err
	}
	if env.PayloadType != PayloadTypeInToto {
		return nil, bad(field+".payloadType", "is %q; only %s is accepted", truncate(env.PayloadType, 100), PayloadTypeInToto)
	}
	if len(payload) == 0 {
		return nil, bad(field+".payload", "is missing")
	}
	// The signatures sign the DSSE v1 pre-authentication encoding of the
	// envelope's payloadType and payload.
	p := &Parsed{Format: model.FormatDSSEInToto, Raw: []byte(text), signed: dsse.PAE(env.PayloadType, payload), signatures: sigs}
	const sfield = field + ".payload"
	if err := checkJSON(sfield, payload); err != nil {
		return nil, err
	}
	var probe struct {
		Type string `json:"_type"`
	}
	if err := json.Unmarshal(payload, &probe); err != nil {
		return nil, bad(sfield, "is not an in-toto statement: %v", err)
	}
	if probe.Type != StatementTypeV1 {
		return nil, bad(sfield+"._type", "is %q; only in-toto %s is accepted", truncate(probe.Type, 100), StatementTypeV1)
	}
	var st intoto.Statement
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(payload, &st); err != nil {
		return nil, bad(sfield, "is not an in-toto Statement v1: %v", err)
	}
	if len(st.GetSubject()) > MaxSubjects {
		return nil, bad(sfield+".subject", "has %d entries, at most %d allowed", len(st.GetSubject()), MaxSubjects)
	}
	if err := st.Validate(); err != nil {
		return nil, bad(sfield, "is not a valid in-toto Statement v1: %v", err)
	}
	p.statement, p.PredicateType = &st, st.GetPredicateType()
	if len(p.PredicateType) > model.MaxPredicateTypeLength {
		return nil, bad(sfield+".predicateType", "is longer than %d characters", model.MaxPredicateTypeLength)
	}
	if p.PredicateType == PredicateSLSAProvenance1 {
		raw, err := protojson.Marshal(st.GetPredicate())
		if err != nil {
			return nil, bad(sfield+".predicate", "is not JSON: %v", err)
		}
		var pv prov.Provenance
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, &pv); err != nil {
			return nil, bad(sfield+".predicate", "is not SLSA provenance v1: %v", err)
		}
		if err := pv.Validate(); err != nil {
			return nil, bad(sfield+".predicate", "is not valid SLSA provenance v1: %v", err)
		}
		p.provenance = &pv
	}
	p.EnvelopeSHA256 = sha256Hex(p.Raw)
	return p, nil
}

func parseSimpleSigning(payloadB64, sigB64 string) (*Parsed, error) {
	const field = "simpleSigning"
	if len(payloadB64)+len(sigB64) > MaxEnvelopeBytes {
		return nil, bad(field, "is %d bytes, at most %d allowed", len(payloadB64)+len(sigB64), MaxEnvelopeBytes)
	}
	payload, err := decodeB64(field+".payload", payloadB64)
	if err != nil {
		return nil, err
	}
	sig, err := decodeB64(field+".signature", sigB64)
	if err != nil {
		return nil, err
	}
	if len(sig) == 0 {
		return nil, bad(field+".signature", "is empty")
	}
	if err := checkJSON(field+".payload", payload); err != nil {
		return nil, err
	}
	var doc struct {
		Critical *struct {
			Image *struct {
				Digest *string `json:"docker-manifest-digest"`
			} `json:"image"`
		} `json:"critical"`
	}
	if err := json.Unmarshal(payload, &doc); err != nil {
		return nil, bad(field+".payload", "is not a cosign simple-signing payload: %v", err)
	}
	if doc.Critical == nil || doc.Critical.Image == nil || doc.Critical.Image.Digest == nil || *doc.Critical.Image.Digest == "" {
		return nil, bad(field+".payload", "has no critical.image.docker-manifest-digest")
	}
	raw, _ := json.Marshal(map[string]string{"payload": payloadB64, "signature": sigB64})
	return &Parsed{
		Format: model.FormatCosignSimpleSigning, Raw: raw, EnvelopeSHA256: sha256Hex(raw),
		signed: payload, signatures: [][]byte{sig}, manifestDigest: *doc.Critical.Image.Digest,
	}, nil
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// verifySig reports whether sig is a signature of msg under pub: ECDSA (ASN.1 DER
// or IEEE P1363 r||s) with SHA-256, Ed25519, RSA PKCS#1 v1.5 or PSS with SHA-256.
func verifySig(pub any, msg, sig []byte) bool {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		h := sha256.Sum256(msg)
		if ecdsa.VerifyASN1(k, h[:], sig) {
			return true
		}
		if len(sig) == 64 {
			r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
			return ecdsa.Verify(k, h[:], r, s)
		}
	case ed25519.PublicKey:
		return ed25519.Verify(k, msg, sig)
	case *rsa.PublicKey:
		h := sha256.Sum256(msg)
		if rsa.VerifyPKCS1v15(k, crypto.SHA256, h[:], sig) == nil {
			return true
		}
		return rsa.VerifyPSS(k, crypto.SHA256, h[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil
	}
	return false
}

// signers returns the keys (live or revoked) under which some signature of p
// verifies, in the keys' order. Every signature is tried against every key: a
// signature's keyid is not trusted to pick one.
func signers(p *Parsed, keys []model.TrustedKey) []model.TrustedKey {
	var out []model.TrustedKey
	for _, k := range keys {
		if k.Public == nil {
			continue
		}
		for _, sig := range p.signatures {
			if verifySig(k.Public, p.signed, sig) {
				out = append(out, k)
				break
			}
		}
	}
	return out
}

// keyFor picks, among the keys whose signature verified, the live ones allowed for
// check c and predicate type pt. When there are none, the reason names why.
func keyFor(verified []model.TrustedKey, c model.Check, pt string) ([]string, string) {
	var ids, revoked, notForCheck, notForPredicate []string
	for _, k := range verified {
		switch {
		case !k.Live():
			revoked = append(revoked, short(k.ID))
		case !k.Allows(c):
			notForCheck = append(notForCheck, short(k.ID))
		case pt != "" && !k.AllowsPredicate(pt):
			notForPredicate = append(notForPredicate, short(k.ID))
		default:
			ids = append(ids, k.ID)
		}
	}
	if len(ids) > 0 {
		return ids, ""
	}
	switch {
	case len(notForPredicate) > 0:
		return nil, fmt.Sprintf("signed by trusted key %s, which may not sign predicate type %s", strings.Join(notForPredicate, ", "), pt)
	case len(notForCheck) > 0:
		return nil, fmt.Sprintf("signed by trusted key %s, which may not vouch for %s", strings.Join(notForCheck, ", "), c)
	case len(revoked) > 0:
		return nil, fmt.Sprintf("signed only by revoked key %s", strings.Join(revoked, ", "))
	}
	return nil, "no signature verifies under a trusted key of the project"
}

func short(id string) string { return truncate(id, 12) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Judge decides the checks p speaks for about the artifact with that digest
// ("sha256:<hex>" or "sha512:<hex>") under the project's keys (revoked ones
// included: they are named in the detail, never trusted) and provenance rules.
func (KeyVerifier) Judge(p *Parsed, digest string, keys []model.TrustedKey, pp *model.ProvenancePolicy) []model.Judgement {
	verified := signers(p, keys)
	if p.Format == model.FormatCosignSimpleSigning {
		j := model.Judgement{Check: model.CheckSignature, Result: model.ResultFailed}
		ids, why := keyFor(verified, model.CheckSignature, "")
		switch {
		case why != "":
			j.Detail = "verification was attempted and failed: " + why
		case p.manifestDigest != digest:
			j.KeyIDs, j.Detail = ids, fmt.Sprintf("verification was attempted and failed: the payload signs digest %s, not the artifact's %s", truncate(p.manifestDigest, 140), digest)
		default:
			j.KeyIDs, j.Result, j.Detail = ids, model.ResultPassed, fmt.Sprintf("cosign simple signing of %s verified with key %s", digest, short(ids[0]))
		}
		return []model.Judgement{j}
	}

	subjectWhy := subjectMismatch(p.statement, digest)
	judge := func(c model.Check, extra func(j *model.Judgement) string) model.Judgement {
		j := model.Judgement{Check: c, Result: model.ResultFailed}
		ids, why := keyFor(verified, c, p.PredicateType)
		if why == "" {
			why = subjectWhy
		}
		if why == "" && extra != nil {
			why = extra(&j)
		}
		j.KeyIDs = ids
		if why != "" {
			j.Detail = "verification was attempted and failed: " + why
			return j
		}
		j.Result = model.ResultPassed
		j.Detail = fmt.Sprintf("in-toto statement (%s) about %s verified with key %s", truncate(p.PredicateType, 200), digest, short(ids[0]))
		return j
	}
	out := []model.Judgement{judge(model.CheckAttestation, nil)}
	if p.provenance != nil && pp != nil {
		out = append(out, judge(model.CheckSourcePolicy, func(j *model.Judgement) string {
			// Signature and subject verified: what the rules judge is kept, so the
			// verdict can be decided again when the rules change.
			f := ProvenanceFactsOf(p.provenance)
			j.Provenance = &f
			return pp.Mismatch(f)
		}))
	}
	return out
}

// subjectMismatch explains why no subject of st carries digest; "" when one does.
func subjectMismatch(st *intoto.Statement, digest string) string {
	alg, hexDigest, _ := strings.Cut(digest, ":")
	algs := map[string]bool{}
	for _, s := range st.GetSubject() {
		for a, v := range s.GetDigest() {
			algs[a] = true
			if a == alg && strings.EqualFold(v, hexDigest) {
				return ""
			}
		}
	}
	if !algs[alg] {
		return fmt.Sprintf("no subject carries a %s digest, the artifact's algorithm", alg)
	}
	return fmt.Sprintf("no subject carries the artifact's digest %s", digest)
}

// SourceRepository returns the source repository a SLSA provenance v1 names: the
// first of externalParameters.workflow.repository, externalParameters.repository,
// externalParameters.source (a string, or an object's uri), and else the uri of
// the first resolved dependency.
func SourceRepository(pv *prov.Provenance) string {
	ext := pv.GetBuildDefinition().GetExternalParameters().AsMap()
	if wf, ok := ext["workflow"].(map[string]any); ok {
		if s, ok := wf["repository"].(string); ok && s != "" {
			return s
		}
	}
	if s, ok := ext["repository"].(string); ok && s != "" {
		return s
	}
	switch src := ext["source"].(type) {
	case string:
		if src != "" {
			return src
		}
	case map[string]any:
		if s, ok := src["uri"].(string); ok && s != "" {
			return s
		}
	}
	for _, d := range pv.GetBuildDefinition().GetResolvedDependencies() {
		if d.GetUri() != "" {
			return d.GetUri()
		}
	}
	return ""
}

// ProvenanceFactsOf returns what the provenance rules look at in pv: its
// builder's id and its source repository (SourceRepository).
func ProvenanceFactsOf(pv *prov.Provenance) model.ProvenanceFacts {
	return model.ProvenanceFacts{BuilderID: pv.GetRunDetails().GetBuilder().GetId(), SourceRepository: SourceRepository(pv)}
}
