package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// matrixRoles are the columns of the authorization matrix: who calls.
var matrixRoles = []struct {
	name  string
	sub   string
	roles []string // "project:role"; nil with sub "" sends no token
}{
	{"no token", "", nil},
	{"viewer", "vera", []string{"payments:viewer"}},
	{"publisher", "pat", []string{"payments:publisher"}},
	{"verifier", "val", []string{"payments:verifier"}},
	{"promoter", "pro", []string{"payments:promoter"}},
	{"project_admin", "ada", []string{"payments:project_admin"}},
	{"other project's admin", "otto", []string{"billing:project_admin"}},
	{"* viewer", "star", []string{"*:viewer"}},
	// Named in the PROD channel's promoterSubjects, no role anywhere: it may
	// promote (and evaluate a promotion of) an artifact it names by id, and read
	// nothing.
	{"promoter subject", "release-bot", []string{}},
}

// Outcomes: "OK" (data, no error), "NULL" (null data, no error: the artifact is
// not revealed) or an extensions.code.
const (
	uOK  = "OK"
	uNIL = "NULL"
	uUNA = "UNAUTHENTICATED"
	uFOR = "FORBIDDEN"
	uNF  = "NOT_FOUND"
	uPD  = "POLICY_DENIED"
	uBAD = "BAD_USER_INPUT"
)

// matrixOp is one row: an operation of schema.graphqls and its expected outcome
// for each role, in the order of matrixRoles.
type matrixOp struct {
	name  string
	query string
	// artifact prepares the artifact the operation acts on: "read" (the shared,
	// DEV-promoted one), "fresh" (a new one), "prod-ready" (a new one that only
	// lacks the PROD promotion), or "" (none).
	artifact string
	vars     func(a artifactJSON) map[string]any
	want     []string
}

// authzPolicy is the payments policy during the matrix: sources allowlisted, PROD
// also open to the subject release-bot.
var authzPolicy = map[string]any{
	"allowedSourceTypes": []string{"OCI_REGISTRY"}, "allowedSources": []string{"registry.example.com/"},
	"allowNonOci": false, "strictProgression": true,
	"channels": []map[string]any{{"channel": "PROD", "requiredTrust": "VERIFIED", "requiredChecks": []string{"ATTESTATION"}, "promoterRoles": []string{"PROJECT_ADMIN"}, "promoterSubjects": []string{"release-bot"}}},
}

func matrixOps() []matrixOp {
	none := func(artifactJSON) map[string]any { return nil }
	byID := func(a artifactJSON) map[string]any { return map[string]any{"id": a.ID} }
	digestOf := func(a artifactJSON) map[string]any { return map[string]any{"d": a.Digest} }
	reads := func(unauth, other, subject string) []string {
		return []string{unauth, uOK, uOK, uOK, uOK, uOK, other, uOK, subject}
	}
	return []matrixOp{
		{"query viewer", `{ viewer { subject } }`, "", none, reads(uUNA, uOK, uOK)},
		{"query artifact", `query($id: ID!) { artifact(id: $id) { id } }`, "read", byID, reads(uUNA, uNIL, uNIL)},
		{"query artifactByDigest", `query($d: String!) { artifactByDigest(project: "payments", digest: $d) { id } }`, "read", digestOf, reads(uUNA, uFOR, uFOR)},
		{"query artifacts", `{ artifacts(project: "payments") { totalCount } }`, "", none, reads(uUNA, uFOR, uFOR)},
		{"query channelStatus", `{ channelStatus(project: "payments") { digest } }`, "", none, reads(uUNA, uFOR, uFOR)},
		{"query deployable", `{ deployable(project: "payments", channel: DEV) { digest } }`, "", none, reads(uUNA, uFOR, uFOR)},
		{"query evaluatePromotion", `query($id: ID!) { evaluatePromotion(input: {artifactId: $id, channel: TEST}) { allowed } }`, "read", byID, reads(uUNA, uNF, uOK)},
		{"query auditEvents", `{ auditEvents(project: "payments") { edges { cursor } } }`, "", none, reads(uUNA, uFOR, uFOR)},
		{"query projectPolicy", `{ projectPolicy(project: "payments") { version } }`, "", none, reads(uUNA, uFOR, uFOR)},
		{"query projectPolicyHistory", `{ projectPolicyHistory(project: "payments") { toVersion } }`, "", none, reads(uUNA, uFOR, uFOR)},
		{"query recentDenials", `{ recentDenials(project: "payments") { operation } }`, "", none, reads(uUNA, uFOR, uFOR)},
		{"mutation registerArtifact", `mutation($in: RegisterArtifactInput!) { registerArtifact(input: $in) { id } }`, "", nil,
			[]string{uUNA, uFOR, uOK, uFOR, uFOR, uOK, uFOR, uFOR, uFOR}},
		{"mutation verifyArtifact", `mutation($id: ID!) { verifyArtifact(input: {artifactId: $id, results: [{check: SIGNATURE, result: PASSED}]}) { id } }`, "fresh", byID,
			[]string{uUNA, uFOR, uFOR, uOK, uFOR, uOK, uNF, uFOR, uNF}},
		{"mutation promoteArtifact DEV", `mutation($id: ID!) { promoteArtifact(input: {artifactId: $id, channel: DEV}) { id } }`, "fresh", byID,
			[]string{uUNA, uPD, uPD, uPD, uOK, uOK, uNF, uPD, uPD}},
		{"mutation promoteArtifact PROD", `mutation($id: ID!) { promoteArtifact(input: {artifactId: $id, channel: PROD, targetEnvironment: "eu-1"}) { id } }`, "prod-ready", byID,
			[]string{uUNA, uPD, uPD, uPD, uPD, uOK, uNF, uPD, uOK}},
		{"mutation deprecateArtifact", `mutation($id: ID!) { deprecateArtifact(id: $id, reason: "old") { id } }`, "fresh", byID,
			[]string{uUNA, uFOR, uOK, uFOR, uFOR, uOK, uNF, uFOR, uNF}},
		{"mutation retireArtifact", `mutation($id: ID!) { retireArtifact(id: $id, reason: "gone") { id } }`, "fresh", byID,
			[]string{uUNA, uFOR, uOK, uFOR, uFOR, uOK, uNF, uFOR, uNF}},
		{"mutation revokeArtifact", `mutation($id: ID!) { revokeArtifact(id: $id, reason: "key leaked") { id } }`, "fresh", byID,
			[]string{uUNA, uFOR, uFOR, uOK, uFOR, uOK, uNF, uFOR, uNF}},
		{"query trustedKeys", `{ trustedKeys(project: "payments", includeRevoked: true) { id } }`, "", none, reads(uUNA, uFOR, uFOR)},
		{"query trustReevaluation", `{ trustReevaluation(project: "payments") { reason artifactsDone } }`, "", none, reads(uUNA, uFOR, uFOR)},
		// Webhooks: project_admin only. Operations on a webhook id look it up first;
		// an unknown id is NOT_FOUND for everyone with a token.
		{"query webhooks", `{ webhooks(project: "payments") { id } }`, "", none, []string{uUNA, uFOR, uFOR, uFOR, uFOR, uOK, uFOR, uFOR, uFOR}},
		{"mutation createWebhook", `mutation { createWebhook(project: "payments", input: {url: "https://93.184.215.14/hook"}) { webhook { id } } }`, "", none,
			[]string{uUNA, uFOR, uFOR, uFOR, uFOR, uOK, uFOR, uFOR, uFOR}},
		{"query webhookDeliveries", `{ webhookDeliveries(webhookId: "wh_unknown") { edges { cursor } } }`, "", none, []string{uUNA, uNF, uNF, uNF, uNF, uNF, uNF, uNF, uNF}},
		{"mutation updateWebhook", `mutation { updateWebhook(id: "wh_unknown", input: {url: "https://93.184.215.14/hook"}) { id } }`, "", none, []string{uUNA, uNF, uNF, uNF, uNF, uNF, uNF, uNF, uNF}},
		{"mutation deleteWebhook", `mutation { deleteWebhook(id: "wh_unknown") }`, "", none, []string{uUNA, uNF, uNF, uNF, uNF, uNF, uNF, uNF, uNF}},
		{"mutation rotateWebhookSecret", `mutation { rotateWebhookSecret(id: "wh_unknown") { secret } }`, "", none, []string{uUNA, uNF, uNF, uNF, uNF, uNF, uNF, uNF, uNF}},
		{"mutation redeliverWebhookEvent", `mutation { redeliverWebhookEvent(deliveryId: "wh_unknown:0") { id } }`, "", none, []string{uUNA, uNF, uNF, uNF, uNF, uNF, uNF, uNF, uNF}},

		{"mutation addTrustedKey", `mutation($in: TrustedKeyInput!) { addTrustedKey(project: "payments", input: $in) { id } }`, "", func(artifactJSON) map[string]any {
			return map[string]any{"in": map[string]any{"publicKeyPem": matrixKeyPEM(), "checks": []string{"ATTESTATION"}}}
		}, []string{uUNA, uFOR, uFOR, uFOR, uFOR, uOK, uFOR, uFOR, uFOR}},
		// A key id the project never had: only a project_admin gets as far as
		// looking it up.
		{"mutation revokeTrustedKey", `mutation { revokeTrustedKey(project: "payments", keyId: "` + strings.Repeat("ab", 32) + `", reason: "leaked") { id } }`, "", none,
			[]string{uUNA, uFOR, uFOR, uFOR, uFOR, uNF, uFOR, uFOR, uFOR}},
		// Structurally valid evidence signed by a key the project does not trust:
		// allowed callers get it recorded FAILED (one evidence event).
		{"mutation submitEvidence", `mutation($in: SubmitEvidenceInput!) { submitEvidence(input: $in) { artifact { id } } }`, "fresh", func(a artifactJSON) map[string]any {
			return map[string]any{"in": map[string]any{"artifactId": a.ID, "dsseEnvelope": matrixEnvelope(a.Digest)}}
		}, []string{uUNA, uFOR, uFOR, uOK, uFOR, uOK, uNF, uFOR, uNF}},
		{"mutation setProjectPolicy", `mutation($in: ProjectPolicyInput!) { setProjectPolicy(project: "payments", input: $in) { version } }`, "", func(artifactJSON) map[string]any { return map[string]any{"in": authzPolicy} },
			[]string{uUNA, uFOR, uFOR, uFOR, uFOR, uOK, uFOR, uFOR, uFOR}},
		{"query environmentDiff", `{ environmentDiff(project: "payments", from: {channel: DEV}, to: {channel: PROD, targetEnvironment: "eu-1"}) { same } }`, "", none, reads(uUNA, uFOR, uFOR)},
		// No channel of the matrix policy requires approvals: an approver (the
		// default approverRoles, PROJECT_ADMIN) is told so, anyone else is refused
		// first.
		{"mutation approvePromotion", `mutation($id: ID!) { approvePromotion(input: {artifactId: $id, channel: PROD}) { decision } }`, "fresh", byID,
			[]string{uUNA, uFOR, uFOR, uFOR, uFOR, uBAD, uNF, uFOR, uFOR}},
		{"mutation rejectPromotion", `mutation($id: ID!) { rejectPromotion(input: {artifactId: $id, channel: PROD}) { decision } }`, "fresh", byID,
			[]string{uUNA, uFOR, uFOR, uFOR, uFOR, uBAD, uNF, uFOR, uFOR}},
		// After the rows above: a freeze of STAGING (which no row promotes into),
		// lifted by the next row.
		{"mutation freezePromotions", `mutation { freezePromotions(project: "payments", channels: [STAGING], reason: "matrix") { version } }`, "", none,
			[]string{uUNA, uFOR, uFOR, uFOR, uFOR, uOK, uFOR, uFOR, uFOR}},
		{"mutation unfreezePromotions", `mutation { unfreezePromotions(project: "payments", reason: "matrix") { version } }`, "", none,
			[]string{uUNA, uFOR, uFOR, uFOR, uFOR, uOK, uFOR, uFOR, uFOR}},
	}
}

// matrixKeyPEM is a fresh ECDSA P-256 public key in PEM.
func matrixKeyPEM() string {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// matrixEnvelope is a DSSE envelope of an in-toto statement about digest, signed
// by a fresh key nobody trusts.
func matrixEnvelope(digest string) string {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	_, h, _ := strings.Cut(digest, ":")
	st := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"` + h + `"}}],"predicateType":"https://example.com/v1","predicate":{}}`
	pae := dsse.PAE("application/vnd.in-toto+json", []byte(st))
	sum := sha256.Sum256(pae)
	sig, _ := ecdsa.SignASN1(rand.Reader, priv, sum[:])
	env, _ := json.Marshal(dsse.Envelope{PayloadType: "application/vnd.in-toto+json", Payload: base64.StdEncoding.EncodeToString([]byte(st)),
		Signatures: []dsse.Signature{{Sig: base64.StdEncoding.EncodeToString(sig)}}})
	return string(env)
}

// outcome classifies a response: the first error's code, else NULL when the root
// field is null, else OK.
func outcome(r gqlResponse) string {
	if len(r.Errors) > 0 {
		return r.Errors[0].Code()
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(r.Data, &data); err != nil || len(data) != 1 {
		return "BAD RESPONSE " + string(r.Data)
	}
	for _, v := range data {
		if string(v) == "null" {
			return uNIL
		}
	}
	return uOK
}

// TestAuthorizationMatrix runs every query and mutation of the schema as every
// role (no token, each project role, another project's admin, a "*" viewer and a
// promoter subject without roles) and checks the exact outcome from one table. A
// refused mutation leaves the artifact unchanged; an allowed one appends exactly
// one audit event by the caller.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	admin := token(t, "root-admin", "payments:project_admin", "payments:verifier", "billing:project_admin")
	ts.MustDo(admin, `mutation($in: ProjectPolicyInput!) { setProjectPolicy(project: "payments", input: $in) { version } }`, map[string]any{"in": authzPolicy}, nil)

	n := 0
	register := func() artifactJSON {
		n++
		return ts.register(admin, "payments", n, nil)
	}
	verify := func(id string, attestation bool) {
		results := []map[string]any{}
		if attestation {
			results = append(results, map[string]any{"check": "ATTESTATION", "result": "PASSED"})
		}
		ts.MustDo(admin, `mutation($id: ID!, $r: [VerificationResultInput!]) { verifyArtifact(input: {artifactId: $id, results: $r}) { trustState } }`, map[string]any{"id": id, "r": results}, nil)
	}
	promote := func(id, channel string) {
		ts.MustDo(admin, `mutation($id: ID!, $c: Channel!) { promoteArtifact(input: {artifactId: $id, channel: $c}) { id } }`, map[string]any{"id": id, "c": channel}, nil)
	}
	read := register()
	verify(read.ID, false)
	promote(read.ID, "DEV")

	tokens := make([]string, len(matrixRoles))
	for i, r := range matrixRoles {
		if r.sub != "" {
			tokens[i] = token(t, r.sub, r.roles...)
		}
	}
	type state struct {
		Version int
		Audit   []struct{ Action, Actor string }
	}
	load := func(id string) state {
		var out struct{ Artifact state }
		ts.MustDo(admin, `query($id: ID!) { artifact(id: $id) { version audit { action actor } } }`, map[string]any{"id": id}, &out)
		return out.Artifact
	}

	prepare := func(kind string) artifactJSON {
		switch kind {
		case "read":
			return read
		case "fresh":
			return register()
		case "prod-ready":
			a := register()
			verify(a.ID, false)
			ts.attest(admin, admin, a) // PROD counts ATTESTATION only from verified evidence
			promote(a.ID, "DEV")
			promote(a.ID, "TEST")
			promote(a.ID, "STAGING")
			return a
		}
		return artifactJSON{}
	}

	counts := map[string]int{}
	for _, op := range matrixOps() {
		if len(op.want) != len(matrixRoles) {
			t.Fatalf("%s: %d outcomes for %d roles", op.name, len(op.want), len(matrixRoles))
		}
		// The roles refused this operation share one prepared artifact: each of
		// them is checked to leave it unchanged (a wrong success fails its cell
		// first), so the next refused role finds it as prepared. A role allowed
		// the operation gets an artifact of its own.
		var refusedOn *artifactJSON
		for i, role := range matrixRoles {
			t.Run(op.name+"/"+role.name, func(t *testing.T) {
				var a artifactJSON
				switch {
				case op.artifact == "fresh" || op.artifact == "prod-ready":
					if op.want[i] == uOK {
						a = prepare(op.artifact)
						break
					}
					if refusedOn == nil {
						shared := prepare(op.artifact)
						refusedOn = &shared
					}
					a = *refusedOn
				default:
					a = prepare(op.artifact)
				}
				id := a.ID
				var vars map[string]any
				if op.vars == nil { // registerArtifact: a digest never registered
					n++
					vars = map[string]any{"in": map[string]any{"project": "payments", "digest": digestN(n), "kind": "OCI_IMAGE", "sourceType": "OCI_REGISTRY", "source": "registry.example.com/payments/app"}}
				} else {
					vars = op.vars(a)
				}
				var before state
				if op.artifact == "fresh" || op.artifact == "prod-ready" {
					before = load(id)
				}
				r := ts.Do(tokens[i], op.query, vars)
				if r.Status >= 500 {
					t.Fatalf("status %d", r.Status)
				}
				got := outcome(r)
				counts[got]++
				if got != op.want[i] {
					msg := ""
					if len(r.Errors) > 0 {
						msg = r.Errors[0].Message
					}
					t.Fatalf("got %s (%s), want %s", got, msg, op.want[i])
				}
				if op.artifact == "fresh" || op.artifact == "prod-ready" {
					after := load(id)
					switch {
					case got == uOK && (after.Version != before.Version+1 || len(after.Audit) != len(before.Audit)+1 || after.Audit[len(after.Audit)-1].Actor != role.sub):
						t.Fatalf("allowed mutation: before %+v, after %+v", before, after)
					case got != uOK && (after.Version != before.Version || len(after.Audit) != len(before.Audit)):
						t.Fatalf("refused mutation changed the artifact: before %+v, after %+v", before, after)
					}
				}
			})
		}
	}
	t.Logf("%d operations x %d roles: %v", len(matrixOps()), len(matrixRoles), fmt.Sprint(counts))
}

// TestAuthorizationMatrixCoversTheSchema fails when a query or mutation of
// schema.graphqls has no row in the matrix.
func TestAuthorizationMatrixCoversTheSchema(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("../schema.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	schema, gerr := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphqls", Input: string(src)})
	if gerr != nil {
		t.Fatal(gerr)
	}
	covered := map[string]bool{}
	for _, op := range matrixOps() {
		kind, field, _ := strings.Cut(op.name, " ")
		field, _, _ = strings.Cut(field, " ")
		covered[kind+" "+field] = true
	}
	for kind, def := range map[string]*ast.Definition{"query": schema.Query, "mutation": schema.Mutation} {
		for _, f := range def.Fields {
			if !strings.HasPrefix(f.Name, "__") && !covered[kind+" "+f.Name] {
				t.Errorf("%s %s has no row in the authorization matrix", kind, f.Name)
			}
		}
	}
}
