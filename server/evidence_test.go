package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// evidenceKey is an ECDSA P-256 key pair that signs test evidence.
type evidenceKey struct {
	priv *ecdsa.PrivateKey
	pem  string
}

func newEvidenceKey(t *testing.T) evidenceKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	return evidenceKey{priv, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}
}

func (k evidenceKey) Sign(_ context.Context, data []byte) ([]byte, error) {
	h := sha256.Sum256(data)
	return ecdsa.SignASN1(rand.Reader, k.priv, h[:])
}

func (k evidenceKey) KeyID() (string, error) { return "", nil }

// envelope signs an in-toto Statement v1 about digest with the go-securesystemslib
// DSSE signer.
func (k evidenceKey) envelope(t *testing.T, digest, predicateType string, predicate map[string]any) string {
	t.Helper()
	alg, hexDigest, _ := strings.Cut(digest, ":")
	st, _ := json.Marshal(map[string]any{
		"_type": "https://in-toto.io/Statement/v1", "predicateType": predicateType, "predicate": predicate,
		"subject": []any{map[string]any{"name": "app", "digest": map[string]string{alg: hexDigest}}},
	})
	es, _ := dsse.NewEnvelopeSigner(k)
	env, err := es.SignPayload(context.Background(), "application/vnd.in-toto+json", st)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(env)
	return string(b)
}

const submitEvidenceMutation = `mutation($in: SubmitEvidenceInput!) { submitEvidence(input: $in) {
	artifact { version trustState verification { check result basis evidenceId policyVersion } evidence { id check result } audit { action actor fromState toState policyVersion correlationId } }
	evidence { id format check result detail predicateType keyIds envelopeSha256 submittedBy submittedAt policyVersion } } }`

type evidenceJSON struct {
	ID             string   `json:"id"`
	Format         string   `json:"format"`
	Check          string   `json:"check"`
	Result         string   `json:"result"`
	Detail         *string  `json:"detail"`
	PredicateType  *string  `json:"predicateType"`
	KeyIDs         []string `json:"keyIds"`
	EnvelopeSHA256 string   `json:"envelopeSha256"`
	SubmittedBy    string   `json:"submittedBy"`
	PolicyVersion  int      `json:"policyVersion"`
}

type evidenceResultJSON struct {
	Artifact struct {
		Version      int    `json:"version"`
		TrustState   string `json:"trustState"`
		Verification []struct {
			Check, Result, Basis string
			EvidenceID           *string `json:"evidenceId"`
			PolicyVersion        *int    `json:"policyVersion"`
		} `json:"verification"`
		Evidence []struct{ ID, Check, Result string } `json:"evidence"`
		Audit    []struct {
			Action, Actor string
			FromState     *string `json:"fromState"`
			ToState       *string `json:"toState"`
			PolicyVersion *int    `json:"policyVersion"`
			CorrelationID string  `json:"correlationId"`
		} `json:"audit"`
	} `json:"artifact"`
	Evidence []evidenceJSON `json:"evidence"`
}

func (ts *testServer) submitEvidence(tok string, in map[string]any, headers ...string) (evidenceResultJSON, gqlResponse) {
	ts.t.Helper()
	r := ts.Do(tok, submitEvidenceMutation, map[string]any{"in": in}, headers...)
	var out struct{ SubmitEvidence evidenceResultJSON }
	if len(r.Errors) == 0 {
		if err := json.Unmarshal(r.Data, &out); err != nil {
			ts.t.Fatal(err)
		}
	}
	return out.SubmitEvidence, r
}

func (ts *testServer) addKey(tok, project, pemText string, checks ...string) string {
	ts.t.Helper()
	var out struct{ AddTrustedKey struct{ ID string } }
	ts.MustDo(tok, addKeyMutation, map[string]any{"p": project, "in": map[string]any{"publicKeyPem": pemText, "checks": checks}}, &out)
	return out.AddTrustedKey.ID
}

func basisOf(res evidenceResultJSON, check string) (string, string) {
	for _, v := range res.Artifact.Verification {
		if v.Check == check {
			id := ""
			if v.EvidenceID != nil {
				id = *v.EvidenceID
			}
			return v.Basis, id
		}
	}
	return "", ""
}

func TestSubmitEvidenceVerifiesSignaturesRecordsVerifiedRecordsAndIsIdempotent(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	admin := token(t, "ada", "payments:project_admin", "payments:verifier", "billing:project_admin")
	verifier := token(t, "val", "payments:verifier", "billing:verifier")
	ts.MustDo(admin, `mutation($in: ProjectPolicyInput!) { setProjectPolicy(project: "payments", input: $in) { version } }`, map[string]any{"in": map[string]any{
		"allowedSourceTypes": []string{"OCI_REGISTRY"}, "allowedSources": []string{"registry.example.com/"}, "allowNonOci": false, "strictProgression": true,
		"requiredChecks": []string{"ATTESTATION"},
	}}, nil)
	a := ts.register(admin, "payments", 1, nil)
	// A claim: basis CLAIMED; the baseline checks the service computes: VERIFIED.
	var claimed struct {
		VerifyArtifact struct {
			TrustState   string
			Verification []struct{ Check, Basis string }
		}
	}
	ts.MustDo(verifier, `mutation($id: ID!) { verifyArtifact(input: {artifactId: $id, results: [{check: SIGNATURE, result: PASSED}]}) { trustState verification { check basis } } }`, map[string]any{"id": a.ID}, &claimed)
	for _, v := range claimed.VerifyArtifact.Verification {
		want := "VERIFIED"
		if v.Check == "SIGNATURE" {
			want = "CLAIMED"
		}
		if v.Basis != want {
			t.Errorf("%s: basis %s, want %s", v.Check, v.Basis, want)
		}
	}
	if claimed.VerifyArtifact.TrustState != "UNVERIFIED" {
		t.Fatalf("before evidence: %s", claimed.VerifyArtifact.TrustState)
	}

	key := newEvidenceKey(t)
	keyID := ts.addKey(admin, "payments", key.pem, "ATTESTATION", "SIGNATURE")
	env := key.envelope(t, a.Digest, "https://example.com/test-result/v1", map[string]any{"passed": true})
	res, r := ts.submitEvidence(verifier, map[string]any{"artifactId": a.ID, "dsseEnvelope": env}, "X-Correlation-ID", "corr-evidence")
	if len(r.Errors) > 0 {
		t.Fatalf("submit: %+v", r.Errors)
	}
	if len(res.Evidence) != 1 {
		t.Fatalf("evidence = %+v", res.Evidence)
	}
	e := res.Evidence[0]
	envSum := sha256.Sum256([]byte(env))
	if e.Check != "ATTESTATION" || e.Result != "PASSED" || e.Format != "DSSE_IN_TOTO" || len(e.KeyIDs) != 1 || e.KeyIDs[0] != keyID ||
		e.SubmittedBy != "val" || e.PolicyVersion != 1 || e.PredicateType == nil || e.EnvelopeSHA256 != hexOf(envSum[:]) {
		t.Fatalf("evidence = %+v", e)
	}
	if res.Artifact.TrustState != "VERIFIED" {
		t.Fatalf("trust after evidence: %s", res.Artifact.TrustState)
	}
	if basis, id := basisOf(res, "ATTESTATION"); basis != "VERIFIED" || id != e.ID {
		t.Fatalf("ATTESTATION record: basis %s evidence %s", basis, id)
	}
	last := res.Artifact.Audit[len(res.Artifact.Audit)-1]
	if last.Action != "app_artifact.evidence" || last.Actor != "val" || last.FromState == nil || *last.FromState != "UNVERIFIED" ||
		*last.ToState != "VERIFIED" || last.PolicyVersion == nil || *last.PolicyVersion != 1 || last.CorrelationID != "corr-evidence" {
		t.Fatalf("event = %+v", last)
	}
	// The audit feed lists it under its own action.
	var feed struct {
		AuditEvents struct {
			Edges []struct {
				Node struct{ Action, ArtifactID, CorrelationID string }
			}
		}
	}
	ts.MustDo(verifier, `{ auditEvents(project: "payments", filter: {action: "app_artifact.evidence"}) { edges { node { action artifactId correlationId } } } }`, nil, &feed)
	if n := feed.AuditEvents.Edges; len(n) != 1 || n[0].Node.ArtifactID != a.ID || n[0].Node.CorrelationID != "corr-evidence" {
		t.Fatalf("auditEvents filtered by app_artifact.evidence: %+v", n)
	}
	version := res.Artifact.Version

	// The same envelope again: nothing changes, the stored evidence comes back.
	again, r := ts.submitEvidence(verifier, map[string]any{"artifactId": a.ID, "dsseEnvelope": env})
	if len(r.Errors) > 0 || again.Artifact.Version != version || len(again.Evidence) != 1 || again.Evidence[0].ID != e.ID || len(again.Artifact.Evidence) != 1 {
		t.Fatalf("resubmission: %+v %+v", again, r.Errors)
	}

	// Structural garbage: BAD_USER_INPUT, nothing recorded.
	for _, in := range []map[string]any{
		{"artifactId": a.ID, "dsseEnvelope": "not json"},
		{"artifactId": a.ID, "dsseEnvelope": strings.Replace(env, "application/vnd.in-toto+json", "application/json", 1)},
		{"artifactId": a.ID},
		{"artifactId": a.ID, "simpleSigning": map[string]any{"payload": "e30=", "signature": "AAAA"}},
	} {
		if _, r := ts.submitEvidence(verifier, in); len(r.Errors) == 0 || r.Errors[0].Code() != "BAD_USER_INPUT" {
			t.Fatalf("garbage %v: %+v", in, r.Errors)
		}
	}
	// A viewer may not submit.
	if _, r := ts.submitEvidence(token(t, "vera", "payments:viewer"), map[string]any{"artifactId": a.ID, "dsseEnvelope": env}); len(r.Errors) == 0 || r.Errors[0].Code() != "FORBIDDEN" {
		t.Fatalf("viewer: %+v", r.Errors)
	}

	// Cosign simple signing decides SIGNATURE, replacing the claim.
	payload := []byte(`{"critical":{"identity":{"docker-reference":"registry.example.com/payments/app"},"image":{"docker-manifest-digest":"` + a.Digest + `"},"type":"cosign container image signature"},"optional":null}`)
	sig, _ := key.Sign(context.Background(), payload)
	res, r = ts.submitEvidence(verifier, map[string]any{"artifactId": a.ID, "simpleSigning": map[string]any{
		"payload": base64.StdEncoding.EncodeToString(payload), "signature": base64.StdEncoding.EncodeToString(sig)}})
	if len(r.Errors) > 0 || len(res.Evidence) != 1 || res.Evidence[0].Check != "SIGNATURE" || res.Evidence[0].Result != "PASSED" || res.Evidence[0].Format != "COSIGN_SIMPLE_SIGNING" {
		t.Fatalf("simple signing: %+v %+v", res.Evidence, r.Errors)
	}
	if basis, _ := basisOf(res, "SIGNATURE"); basis != "VERIFIED" {
		t.Fatalf("SIGNATURE basis after evidence: %s", basis)
	}

	// A key of project payments vouches for nothing in project billing.
	b := ts.register(admin, "billing", 1, nil)
	res, r = ts.submitEvidence(verifier, map[string]any{"artifactId": b.ID, "dsseEnvelope": key.envelope(t, b.Digest, "https://example.com/test-result/v1", map[string]any{})})
	if len(r.Errors) > 0 || res.Evidence[0].Result != "FAILED" || !strings.Contains(*res.Evidence[0].Detail, "no signature verifies under a trusted key") || res.Artifact.TrustState != "FAILED_VERIFICATION" {
		t.Fatalf("other project's key: %+v %+v", res, r.Errors)
	}

	// Once the key is revoked, what it signs no longer verifies: recorded FAILED
	// naming the revocation.
	ts.MustDo(admin, `mutation($k: String!) { revokeTrustedKey(project: "payments", keyId: $k, reason: "rotated") { id } }`, map[string]any{"k": keyID}, nil)
	res, r = ts.submitEvidence(verifier, map[string]any{"artifactId": a.ID, "dsseEnvelope": key.envelope(t, a.Digest, "https://example.com/test-result/v2", map[string]any{})})
	if len(r.Errors) > 0 || res.Evidence[0].Result != "FAILED" || !strings.Contains(*res.Evidence[0].Detail, "revoked key") || res.Artifact.TrustState != "FAILED_VERIFICATION" {
		t.Fatalf("revoked key: %+v %+v", res, r.Errors)
	}
	var listed struct {
		Artifact struct {
			Evidence []struct{ Check, Result string }
		}
	}
	ts.MustDo(verifier, `query($id: ID!) { artifact(id: $id) { evidence { check result } } }`, map[string]any{"id": a.ID}, &listed)
	got := []string{}
	for _, e := range listed.Artifact.Evidence {
		got = append(got, e.Check+" "+e.Result)
	}
	if strings.Join(got, ", ") != "ATTESTATION PASSED, SIGNATURE PASSED, ATTESTATION FAILED" {
		t.Fatalf("Artifact.evidence, oldest first = %v", got)
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestSubmitEvidenceJudgesSLSAProvenanceAgainstThePolicysProvenanceRules(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	admin := token(t, "ada", "payments:project_admin", "payments:verifier")
	var pol struct {
		SetProjectPolicy struct {
			Provenance *struct{ BuilderIds, SourceRepositories []string }
		}
	}
	ts.MustDo(admin, `mutation($in: ProjectPolicyInput!) { setProjectPolicy(project: "payments", input: $in) { provenance { builderIds sourceRepositories } } }`, map[string]any{"in": map[string]any{
		"allowedSourceTypes": []string{"OCI_REGISTRY"}, "allowedSources": []string{"registry.example.com/"}, "allowNonOci": false, "strictProgression": true,
		"provenance": map[string]any{"builderIds": []string{"https://github.com/actions/runner/github-hosted"}, "sourceRepositories": []string{"https://github.com/acme/"}},
	}}, &pol)
	if pol.SetProjectPolicy.Provenance == nil || pol.SetProjectPolicy.Provenance.SourceRepositories[0] != "https://github.com/acme/" {
		t.Fatalf("policy provenance = %+v", pol.SetProjectPolicy.Provenance)
	}
	key := newEvidenceKey(t)
	ts.addKey(admin, "payments", key.pem, "ATTESTATION", "SOURCE_POLICY")
	slsa := func(builder, repo string) map[string]any {
		return map[string]any{
			"buildDefinition": map[string]any{
				"buildType":          "https://actions.github.io/buildtypes/workflow/v1",
				"externalParameters": map[string]any{"workflow": map[string]any{"ref": "refs/tags/v1", "repository": repo, "path": ".github/workflows/release.yml"}},
			},
			"runDetails": map[string]any{"builder": map[string]any{"id": builder}},
		}
	}
	for i, tc := range []struct {
		name, builder, repo, want, detail string
	}{
		{"matching", "https://github.com/actions/runner/github-hosted", "https://github.com/acme/app", "PASSED", "verified"},
		{"other repository", "https://github.com/actions/runner/github-hosted", "https://github.com/evil/app", "FAILED", "source repository https://github.com/evil/app"},
		{"other builder", "https://evil.example/builder", "https://github.com/acme/app", "FAILED", "builder https://evil.example/builder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := ts.register(admin, "payments", i+1, nil)
			res, r := ts.submitEvidence(admin, map[string]any{"artifactId": a.ID, "dsseEnvelope": key.envelope(t, a.Digest, "https://slsa.dev/provenance/v1", slsa(tc.builder, tc.repo))})
			if len(r.Errors) > 0 || len(res.Evidence) != 2 {
				t.Fatalf("%+v %+v", res.Evidence, r.Errors)
			}
			if res.Evidence[0].Check != "ATTESTATION" || res.Evidence[0].Result != "PASSED" {
				t.Fatalf("attestation: %+v", res.Evidence[0])
			}
			sp := res.Evidence[1]
			if sp.Check != "SOURCE_POLICY" || sp.Result != tc.want || sp.Detail == nil || !strings.Contains(*sp.Detail, tc.detail) {
				t.Fatalf("source policy: %+v (detail %v)", sp, *sp.Detail)
			}
		})
	}
}

// TestSubmitEvidenceAcceptsAnEnvelopeSignedByNodeCrypto runs the DSSE signer
// written with node:crypto (evidence/testdata/node-sign.mjs) against the server.
func TestSubmitEvidenceAcceptsAnEnvelopeSignedByNodeCrypto(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	ts := startServer(t, t.TempDir())
	admin := token(t, "ada", "payments:project_admin", "payments:verifier")
	a := ts.register(admin, "payments", 1, nil)
	out, err := exec.Command(node, filepath.Join("..", "evidence", "testdata", "node-sign.mjs"), "ec", a.Digest).Output()
	if err != nil {
		t.Fatal(err)
	}
	var signed struct{ PublicKeyPem, Envelope string }
	if err := json.Unmarshal(out, &signed); err != nil {
		t.Fatal(err)
	}
	ts.addKey(admin, "payments", signed.PublicKeyPem, "ATTESTATION")
	res, r := ts.submitEvidence(admin, map[string]any{"artifactId": a.ID, "dsseEnvelope": signed.Envelope})
	if len(r.Errors) > 0 || res.Evidence[0].Result != "PASSED" {
		t.Fatalf("%+v %+v", res.Evidence, r.Errors)
	}
}

var (
	sharedEvidenceKeyOnce sync.Once
	sharedEvidenceKey     evidenceKey
)

// attest makes a's ATTESTATION PASSED on verified evidence, as PROD requires by
// default: adminTok trusts the shared test key in a's project (again: unchanged),
// verifierTok submits a DSSE envelope about a's digest signed with it.
func (ts *testServer) attest(adminTok, verifierTok string, a artifactJSON) {
	ts.t.Helper()
	sharedEvidenceKeyOnce.Do(func() { sharedEvidenceKey = newEvidenceKey(ts.t) })
	ts.addKey(adminTok, a.Project, sharedEvidenceKey.pem, "ATTESTATION", "SIGNATURE")
	res, r := ts.submitEvidence(verifierTok, map[string]any{"artifactId": a.ID, "dsseEnvelope": sharedEvidenceKey.envelope(ts.t, a.Digest, "https://example.com/test-result/v1", map[string]any{"passed": true})})
	if len(r.Errors) > 0 || len(res.Evidence) != 1 || res.Evidence[0].Result != "PASSED" {
		ts.t.Fatalf("attest: %+v %+v", res.Evidence, r.Errors)
	}
}

func TestRequireVerifiedEvidenceDecidesPromotionAndDeployableFromVerifiedRecordsOnly(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	admin := token(t, "ada", "payments:project_admin", "payments:verifier")
	setPolicy := func(requireVerified bool) {
		ts.MustDo(admin, `mutation($in: ProjectPolicyInput!) { setProjectPolicy(project: "payments", input: $in) { version } }`, map[string]any{"in": map[string]any{
			"allowedSourceTypes": []string{"OCI_REGISTRY"}, "allowedSources": []string{"registry.example.com/"}, "allowNonOci": false, "strictProgression": false,
			"channels": []map[string]any{{"channel": "PROD", "requiredTrust": "VERIFIED", "requiredChecks": []string{"ATTESTATION"}, "promoterRoles": []string{"PROJECT_ADMIN"}, "requireVerifiedEvidence": requireVerified}},
		}}, nil)
	}
	var pol struct {
		ProjectPolicy struct {
			Channels []struct {
				Channel                 string
				RequireVerifiedEvidence bool
			}
		}
	}
	ts.MustDo(admin, `{ projectPolicy(project: "payments") { channels { channel requireVerifiedEvidence } } }`, nil, &pol)
	for _, c := range pol.ProjectPolicy.Channels {
		if c.RequireVerifiedEvidence != (c.Channel == "PROD") {
			t.Fatalf("default policy: %s requireVerifiedEvidence %v", c.Channel, c.RequireVerifiedEvidence)
		}
	}
	setPolicy(false)

	verified := ts.register(admin, "payments", 1, nil)
	ts.verify(admin, verified.ID)
	ts.attest(admin, admin, verified)
	ts.promote(admin, verified.ID, "PROD", "eu-1")
	claimed := ts.register(admin, "payments", 2, nil)
	ts.verify(admin, claimed.ID, "ATTESTATION=PASSED")
	ts.promote(admin, claimed.ID, "PROD", "eu-1") // newer, allowed while PROD counts claims
	if got := ts.deployable(admin, "payments", "PROD", "eu-1"); got != claimed.Digest {
		t.Fatalf("PROD counting claims deploys %s, want the claimed %s", got, claimed.Digest)
	}

	setPolicy(true)
	if got := ts.deployable(admin, "payments", "PROD", "eu-1"); got != verified.Digest {
		t.Fatalf("PROD requiring verified evidence deploys %s, want the verified %s", got, verified.Digest)
	}
	var eval struct {
		EvaluatePromotion struct {
			Allowed bool
			Reasons []string
		}
	}
	ts.MustDo(admin, `query($id: ID!) { evaluatePromotion(input: {artifactId: $id, channel: PROD, targetEnvironment: "eu-2"}) { allowed reasons } }`, map[string]any{"id": claimed.ID}, &eval)
	if eval.EvaluatePromotion.Allowed || len(eval.EvaluatePromotion.Reasons) != 1 || !strings.Contains(eval.EvaluatePromotion.Reasons[0], "PASSED only as a CLAIMED result") {
		t.Fatalf("evaluatePromotion of the claimed artifact: %+v", eval.EvaluatePromotion)
	}
	e := ts.ErrCode(admin, promoteMutation, map[string]any{"in": map[string]any{"artifactId": claimed.ID, "channel": "PROD", "targetEnvironment": "eu-2"}})
	if e.Code() != "POLICY_DENIED" {
		t.Fatalf("promoting the claimed artifact: %s %s", e.Code(), e.Message)
	}
	// Verified evidence for the claimed artifact makes it deployable again.
	ts.attest(admin, admin, claimed)
	if got := ts.deployable(admin, "payments", "PROD", "eu-1"); got != claimed.Digest {
		t.Fatalf("after evidence deploys %s, want %s", got, claimed.Digest)
	}
}

// rawEnvelope is a DSSE envelope of payload (any bytes, in-toto payloadType) with
// the given signatures.
func rawEnvelope(payload []byte, sigs ...[]byte) string {
	var list []any
	for _, s := range sigs {
		list = append(list, map[string]string{"sig": base64.StdEncoding.EncodeToString(s)})
	}
	b, _ := json.Marshal(map[string]any{"payloadType": "application/vnd.in-toto+json", "payload": base64.StdEncoding.EncodeToString(payload), "signatures": list})
	return string(b)
}

func (k evidenceKey) signPAE(t *testing.T, payload []byte) []byte {
	t.Helper()
	sig, err := k.Sign(context.Background(), dsse.PAE("application/vnd.in-toto+json", payload))
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// statementAbout is an in-toto Statement v1 with the given subjects' sha256 hex
// digests (the last one named app) and predicate.
func statementAbout(predicate any, hexDigests ...string) []byte {
	subjects := make([]any, 0, len(hexDigests))
	for i, h := range hexDigests {
		subjects = append(subjects, map[string]any{"name": fmt.Sprintf("part-%d", i), "digest": map[string]string{"sha256": h}})
	}
	b, _ := json.Marshal(map[string]any{"_type": "https://in-toto.io/Statement/v1", "subject": subjects, "predicateType": "https://example.com/test-result/v1", "predicate": predicate})
	return b
}

// TestSubmitEvidenceAbuseBatteryGetsItsAnswerAndChangesNothingElse submits each
// abusive input of issue 10 item 7 and checks the answer and that nothing else
// changed: structurally invalid input is BAD_USER_INPUT and changes nothing at
// all; evidence that fails is recorded FAILED on its artifact only, naming why;
// the boundary cases that are allowed are recorded PASSED on their artifact only.
// No case touches the other project's artifact or either project's keys.
func TestSubmitEvidenceAbuseBatteryGetsItsAnswerAndChangesNothingElse(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	admin := token(t, "ada", "payments:project_admin", "payments:verifier", "billing:project_admin", "billing:verifier")
	key, revokedKey, billingKey := newEvidenceKey(t), newEvidenceKey(t), newEvidenceKey(t)
	ts.addKey(admin, "payments", key.pem, "ATTESTATION")
	revokedID := ts.addKey(admin, "payments", revokedKey.pem, "ATTESTATION")
	ts.MustDo(admin, `mutation($k: String!) { revokeTrustedKey(project: "payments", keyId: $k, reason: "leaked") { id } }`, map[string]any{"k": revokedID}, nil)
	ts.addKey(admin, "billing", billingKey.pem, "ATTESTATION")
	a := ts.register(admin, "payments", 1, nil)
	b := ts.register(admin, "billing", 2, nil)
	aHex, bHex := strings.TrimPrefix(a.Digest, "sha256:"), strings.TrimPrefix(b.Digest, "sha256:")

	type artifactState struct {
		Version    int
		TrustState string
		Evidence   []struct{ Result, Detail string }
		Audit      []struct{ Action string }
	}
	type state struct {
		A, B   artifactState
		PK, BK []struct {
			ID        string
			RevokedAt *string
		}
	}
	snapshot := func() state {
		var s state
		ts.MustDo(admin, `query($a: ID!, $b: ID!) {
			a: artifact(id: $a) { version trustState evidence { result detail } audit { action } }
			b: artifact(id: $b) { version trustState evidence { result detail } audit { action } }
			pk: trustedKeys(project: "payments", includeRevoked: true) { id revokedAt }
			bk: trustedKeys(project: "billing", includeRevoked: true) { id revokedAt } }`, map[string]any{"a": a.ID, "b": b.ID}, &s)
		return s
	}
	same := func(x, y any) bool {
		jx, _ := json.Marshal(x)
		jy, _ := json.Marshal(y)
		return string(jx) == string(jy)
	}

	// Just under the limit before padding, then padded with whitespace.
	big := key.envelope(t, a.Digest, "https://example.com/test-result/v1", map[string]any{"pad": strings.Repeat("a", (262144-800)*3/4-300)})
	pad := func(env string, size int) string { return env[:len(env)-1] + strings.Repeat(" ", size-len(env)) + "}" }
	plain := statementAbout(map[string]any{}, aHex)
	junk := make([]byte, 64)
	sigs := func(n int, last []byte) [][]byte {
		out := make([][]byte, 0, n)
		for len(out) < n-1 {
			out = append(out, junk)
		}
		return append(out, last)
	}
	nested := func(levels int) any {
		var v any = map[string]any{}
		for i := 0; i < levels; i++ {
			v = map[string]any{"a": v}
		}
		return v
	}
	subjects := func(n int) []string {
		out := make([]string, 0, n)
		for len(out) < n-1 {
			out = append(out, fmt.Sprintf("%064x", len(out)+1000))
		}
		return append(out, aHex)
	}
	dupSubject := []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"` + aHex + `"}}],"subject":[{"digest":{"sha256":"` + bHex + `"}}],"predicateType":"x","predicate":{}}`)
	overCap := statementAbout(map[string]any{}, subjects(1025)...)
	nonCanonical := func(env string) string {
		var e map[string]any
		_ = json.Unmarshal([]byte(env), &e)
		p := e["payload"].(string)
		p = strings.TrimRight(p, "=")
		// The last character before the padding, with its unused low bits set.
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
		i := strings.IndexByte(alphabet, p[len(p)-1])
		e["payload"] = p[:len(p)-1] + string(alphabet[i|3]) + strings.Repeat("=", (4-len(p)%4)%4)
		out, _ := json.Marshal(e)
		return string(out)
	}
	withPad := func(payload []byte) []byte { // a payload whose base64 ends in padding with unused bits
		for len(payload)%3 != 1 {
			payload = append(payload, ' ')
		}
		return payload
	}
	canonicalPayload := withPad(plain)

	for _, tc := range []struct {
		name     string
		artifact artifactJSON
		envelope string
		code     string // BAD_USER_INPUT, or "" when recorded
		result   string // the recorded result
		naming   string
	}{
		{"an envelope one byte over 256 KiB", a, pad(big, 262145), "BAD_USER_INPUT", "", "is 262145 bytes, at most 262144 allowed"},
		{"17 signatures", a, rawEnvelope(plain, sigs(17, key.signPAE(t, plain))...), "BAD_USER_INPUT", "", "has 17 signatures, at most 16 allowed"},
		{"a statement nesting deeper than 64", a, key.envelope(t, a.Digest, "x", map[string]any{"deep": nested(64)}), "BAD_USER_INPUT", "", "nests deeper than 64 levels"},
		{"non-canonical base64", a, nonCanonical(rawEnvelope(canonicalPayload, key.signPAE(t, canonicalPayload))), "BAD_USER_INPUT", "", "is not canonical base64"},
		{"a repeated key in the statement", a, rawEnvelope(dupSubject, key.signPAE(t, dupSubject)), "BAD_USER_INPUT", "", `repeats the key "subject"`},
		{"1,025 subjects", a, rawEnvelope(overCap, key.signPAE(t, overCap)), "BAD_USER_INPUT", "", "has 1025 entries, at most 1024 allowed"},
		{"signed only by a revoked key", a, revokedKey.envelope(t, a.Digest, "https://example.com/test-result/v1", map[string]any{}), "", "FAILED", "signed only by revoked key " + revokedID[:12]},
		{"a billing key used for payments", a, billingKey.envelope(t, a.Digest, "https://example.com/test-result/v1", map[string]any{}), "", "FAILED", "no signature verifies under a trusted key of the project"},
		{"a payments key used for billing", b, key.envelope(t, b.Digest, "https://example.com/test-result/v1", map[string]any{}), "", "FAILED", "no signature verifies under a trusted key of the project"},
		{"an envelope of exactly 256 KiB", a, pad(big, 262144), "", "PASSED", "verified with key"},
		{"16 signatures, the valid one last", a, rawEnvelope(plain, sigs(16, key.signPAE(t, plain))...), "", "PASSED", "verified with key"},
		{"1,000 subjects", a, func() string {
			st := statementAbout(map[string]any{}, subjects(1000)...)
			return rawEnvelope(st, key.signPAE(t, st))
		}(), "", "PASSED", "verified with key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshot()
			res, r := ts.submitEvidence(admin, map[string]any{"artifactId": tc.artifact.ID, "dsseEnvelope": tc.envelope})
			after := snapshot()
			if tc.code != "" {
				if len(r.Errors) != 1 || r.Errors[0].Code() != tc.code || !strings.Contains(r.Errors[0].Message, tc.naming) {
					t.Fatalf("errors %+v, want %s naming %q", r.Errors, tc.code, tc.naming)
				}
				if !same(before, after) {
					t.Fatalf("a refused submission changed something:\nbefore %+v\nafter  %+v", before, after)
				}
				return
			}
			if len(r.Errors) > 0 || len(res.Evidence) != 1 || res.Evidence[0].Result != tc.result || res.Evidence[0].Detail == nil || !strings.Contains(*res.Evidence[0].Detail, tc.naming) {
				t.Fatalf("evidence %+v errors %+v, want %s naming %q", res.Evidence, r.Errors, tc.result, tc.naming)
			}
			changed, other, was := after.A, after.B, before.A
			otherWas := before.B
			if tc.artifact.ID == b.ID {
				changed, other, was, otherWas = after.B, after.A, before.B, before.A
			}
			if changed.Version != was.Version+1 || len(changed.Evidence) != len(was.Evidence)+1 || len(changed.Audit) != len(was.Audit)+1 ||
				changed.Evidence[len(changed.Evidence)-1].Result != tc.result || changed.Audit[len(changed.Audit)-1].Action != "app_artifact.evidence" {
				t.Fatalf("the artifact: before %+v after %+v", was, changed)
			}
			if !same(other, otherWas) || !same(after.PK, before.PK) || !same(after.BK, before.BK) {
				t.Fatalf("something else changed:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
}

// storedEnvelopes counts the raw evidence envelopes the embedded engine on
// dataDir keeps (the "envelopes" collection), through a connection of its own.
func storedEnvelopes(t *testing.T, dataDir string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(filepath.Join(dataDir, "artifact_trust.sqlite"))+"?_pragma=busy_timeout(10000)&mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var table string
	if err := db.QueryRow(`SELECT table_name FROM "_ferretdb_collections" WHERE name = 'envelopes'`).Scan(&table); err != nil {
		t.Fatalf("envelopes table: %v", err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM "` + table + `"`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRefusedEvidenceKeepsNoEnvelope: evidence refused because the artifact is
// REVOKED keeps nothing, not even its raw envelope, however many distinct
// envelopes are sent; accepted evidence keeps its one.
func TestRefusedEvidenceKeepsNoEnvelope(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ts := startServer(t, dir)
	admin := token(t, "ada", "payments:project_admin", "payments:verifier", "payments:publisher")
	key := newEvidenceKey(t)
	ts.addKey(admin, "payments", key.pem, "ATTESTATION")
	kept := ts.register(admin, "payments", 1, nil)
	if _, r := ts.submitEvidence(admin, map[string]any{"artifactId": kept.ID, "dsseEnvelope": key.envelope(t, kept.Digest, "https://example.com/p/v1", map[string]any{})}); len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	revoked := ts.register(admin, "payments", 2, nil)
	ts.MustDo(admin, `mutation($id: ID!) { revokeArtifact(id: $id, reason: "compromised") { id } }`, map[string]any{"id": revoked.ID}, nil)
	for i := range 5 {
		env := key.envelope(t, revoked.Digest, "https://example.com/p/v1", map[string]any{"n": i})
		if _, r := ts.submitEvidence(admin, map[string]any{"artifactId": revoked.ID, "dsseEnvelope": env}); len(r.Errors) == 0 || r.Errors[0].Code() != "INVALID_TRANSITION" {
			t.Fatalf("evidence for a REVOKED artifact: %+v", r.Errors)
		}
	}
	if n := storedEnvelopes(t, dir); n != 1 {
		t.Fatalf("%d envelopes kept, want the accepted one only", n)
	}
}
