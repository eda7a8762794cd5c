package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func parseTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("time %q: %v", s, err)
	}
	return v
}

const (
	verifyMutation  = `mutation($in: VerifyArtifactInput!) { verifyArtifact(input: $in) { ` + artifactFields + ` } }`
	promoteMutation = `mutation($in: PromoteArtifactInput!) { promoteArtifact(input: $in) { ` + artifactFields + ` } }`
	evaluateQuery   = `query($in: PromoteArtifactInput!) { evaluatePromotion(input: $in) { allowed reasons } }`
	deployableQuery = `query($p: String!, $c: Channel!, $e: String) { deployable(project: $p, channel: $c, targetEnvironment: $e) { channel targetEnvironment digest artifact { id trustState } } }`
	policyMutation  = `mutation($p: String!, $in: ProjectPolicyInput!) { setProjectPolicy(project: $p, input: $in) { project version updatedBy updatedAt allowedSources channels { channel requiredTrust requiredChecks promoterRoles promoterSubjects } } }`
)

// actors of the payments project used across these tests.
type cast struct {
	admin, publisher, verifier, promoter, viewer, outsider, releaseBot string
}

func newCast(t *testing.T) cast {
	return cast{
		admin:      token(t, "ada", "payments:project_admin"),
		publisher:  token(t, "pat", "payments:publisher"),
		verifier:   token(t, "vera", "payments:verifier"),
		promoter:   token(t, "prue", "payments:promoter"),
		viewer:     token(t, "vic", "payments:viewer"),
		outsider:   token(t, "otto", "billing:project_admin"),
		releaseBot: tokenAs(t, "release-bot", "service_account"),
	}
}

// allowRegistry stores a policy that allowlists the payments registry and names
// release-bot as an approved PROD promoter.
func allowRegistry(t *testing.T, ts *testServer, c cast, extra map[string]any) {
	t.Helper()
	in := map[string]any{
		"allowedSourceTypes": []string{"OCI_REGISTRY", "OBJECT_STORE", "HTTPS"},
		"allowedSources":     []string{"registry.example.com/payments/"},
		"allowNonOci":        false,
		"strictProgression":  true,
		"channels": []map[string]any{{
			"channel": "PROD", "requiredTrust": "VERIFIED", "requiredChecks": []string{"ATTESTATION"},
			"promoterRoles": []string{"PROJECT_ADMIN"}, "promoterSubjects": []string{"release-bot"},
		}},
	}
	for k, v := range extra {
		in[k] = v
	}
	ts.MustDo(c.admin, policyMutation, map[string]any{"p": "payments", "in": in}, nil)
}

func (ts *testServer) verify(tok, id string, results ...string) artifactJSON {
	ts.t.Helper()
	var rs []map[string]any
	for _, r := range results {
		check, result, _ := strings.Cut(r, "=")
		rs = append(rs, map[string]any{"check": check, "result": result, "detail": "checked by test"})
	}
	var out struct {
		VerifyArtifact artifactJSON `json:"verifyArtifact"`
	}
	ts.MustDo(tok, verifyMutation, map[string]any{"in": map[string]any{"artifactId": id, "results": rs}}, &out)
	return out.VerifyArtifact
}

func (ts *testServer) promote(tok, id, channel, env string) artifactJSON {
	ts.t.Helper()
	in := map[string]any{"artifactId": id, "channel": channel, "reason": "release " + channel}
	if env != "" {
		in["targetEnvironment"] = env
	}
	var out struct {
		PromoteArtifact artifactJSON `json:"promoteArtifact"`
	}
	ts.MustDo(tok, promoteMutation, map[string]any{"in": in}, &out)
	return out.PromoteArtifact
}

type deploymentJSON struct {
	Deployable *struct {
		Channel           string  `json:"channel"`
		TargetEnvironment *string `json:"targetEnvironment"`
		Digest            string  `json:"digest"`
		Artifact          struct {
			ID string `json:"id"`
		} `json:"artifact"`
	} `json:"deployable"`
}

func (ts *testServer) deployable(tok, project, channel string, env any) string {
	ts.t.Helper()
	var out deploymentJSON
	ts.MustDo(tok, deployableQuery, map[string]any{"p": project, "c": channel, "e": env}, &out)
	if out.Deployable == nil {
		return ""
	}
	return out.Deployable.Digest
}

func TestSeedProgressionPublishToProdWithTargetEnvironment(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	c := newCast(t)
	allowRegistry(t, ts, c, nil)
	a := ts.register(c.publisher, "payments", 1, map[string]any{"source": "registry.example.com/payments/api", "tags": []string{"v1.0.0"}})
	if len(a.Promotions) != 0 || a.LifecycleState != "PUBLISHED" {
		t.Fatalf("publishing implied a promotion: %+v", a)
	}
	v := ts.verify(c.verifier, a.ID, "SIGNATURE=PASSED", "ATTESTATION=PASSED")
	if v.TrustState != "VERIFIED" || len(v.Verification) != 7 {
		t.Fatalf("after verify: trust %s, %d records", v.TrustState, len(v.Verification))
	}
	for _, r := range v.Verification {
		if r.Result != "PASSED" || r.RecordedBy != "vera" || r.RecordedAt == "" {
			t.Fatalf("record %+v", r)
		}
	}
	ts.attest(c.admin, c.verifier, a) // PROD counts ATTESTATION only from verified evidence
	p := ts.promote(c.promoter, a.ID, "DEV", "")
	if p.LifecycleState != "PROMOTED" {
		t.Fatalf("first promotion left lifecycle %s", p.LifecycleState)
	}
	ts.promote(c.promoter, a.ID, "TEST", "")
	ts.promote(c.promoter, a.ID, "STAGING", "eu-1")
	// A promoter may not promote into PROD; an admin or the approved bot may.
	e := ts.ErrCode(c.promoter, promoteMutation, map[string]any{"in": map[string]any{"artifactId": a.ID, "channel": "PROD", "targetEnvironment": "eu-1"}})
	if e.Code() != "POLICY_DENIED" || len(e.Reasons()) != 1 || !strings.Contains(e.Reasons()[0], "PROJECT_ADMIN") {
		t.Fatalf("promoter into PROD: %s %v", e.Code(), e.Reasons())
	}
	final := ts.promote(c.releaseBot, a.ID, "PROD", "eu-1")
	if len(final.Promotions) != 4 || final.Version != 7 {
		t.Fatalf("promotions %d version %d", len(final.Promotions), final.Version)
	}
	last := final.Promotions[3]
	if last.Channel != "PROD" || *last.TargetEnvironment != "eu-1" || last.PromotedBy != "release-bot" || *last.Reason != "release PROD" || last.CorrelationID == "" {
		t.Fatalf("prod promotion %+v", last)
	}
	if got := ts.deployable(c.viewer, "payments", "PROD", "eu-1"); got != a.Digest {
		t.Fatalf("deployable PROD/eu-1 = %q", got)
	}
	if got := ts.deployable(c.viewer, "payments", "PROD", nil); got != "" {
		t.Fatalf("deployable PROD without environment = %q, want none (exact environment match)", got)
	}
	var status struct {
		ChannelStatus []struct {
			Channel, Digest, PromotedBy string
			TargetEnvironment           *string
		} `json:"channelStatus"`
	}
	ts.MustDo(c.viewer, `{ channelStatus(project: "payments") { channel targetEnvironment digest promotedBy promotedAt artifact { id } } }`, nil, &status)
	var rows []string
	for _, r := range status.ChannelStatus {
		env := ""
		if r.TargetEnvironment != nil {
			env = *r.TargetEnvironment
		}
		rows = append(rows, r.Channel+"/"+env+"/"+r.PromotedBy)
	}
	if strings.Join(rows, " ") != "DEV//prue TEST//prue STAGING/eu-1/prue PROD/eu-1/release-bot" {
		t.Fatalf("channelStatus = %v", rows)
	}
}

func TestPromotionDenialListsEveryReasonAndEvaluateChangesNothing(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	c := newCast(t)
	a := ts.register(c.publisher, "payments", 1, nil)
	in := map[string]any{"artifactId": a.ID, "channel": "STAGING"}
	var dec struct {
		EvaluatePromotion struct {
			Allowed bool     `json:"allowed"`
			Reasons []string `json:"reasons"`
		} `json:"evaluatePromotion"`
	}
	ts.MustDo(c.viewer, evaluateQuery, map[string]any{"in": in}, &dec)
	if dec.EvaluatePromotion.Allowed || len(dec.EvaluatePromotion.Reasons) != 3 {
		t.Fatalf("evaluate: %+v", dec.EvaluatePromotion)
	}
	joined := strings.Join(dec.EvaluatePromotion.Reasons, "|")
	for _, want := range []string{"requires a VERIFIED artifact", "PROMOTER, PROJECT_ADMIN", "into TEST before STAGING"} {
		if !strings.Contains(joined, want) {
			t.Errorf("reasons %q lack %q", joined, want)
		}
	}
	e := ts.ErrCode(c.viewer, promoteMutation, map[string]any{"in": in})
	if e.Code() != "POLICY_DENIED" || strings.Join(e.Reasons(), "|") != joined {
		t.Fatalf("promote denial %s %v, want the evaluate reasons", e.Code(), e.Reasons())
	}
	var after struct {
		Artifact artifactJSON `json:"artifact"`
	}
	ts.MustDo(c.viewer, `query($id: ID!) { artifact(id: $id) { `+artifactFields+` } }`, map[string]any{"id": a.ID}, &after)
	if after.Artifact.Version != 1 || len(after.Artifact.Audit) != 1 || len(after.Artifact.Promotions) != 0 {
		t.Fatalf("a refused promotion changed the artifact: %+v", after.Artifact)
	}
	// The allowed case: DEV accepts unverified artifacts.
	ts.MustDo(c.promoter, evaluateQuery, map[string]any{"in": map[string]any{"artifactId": a.ID, "channel": "DEV"}}, &dec)
	if !dec.EvaluatePromotion.Allowed || len(dec.EvaluatePromotion.Reasons) != 0 {
		t.Fatalf("DEV evaluate: %+v", dec.EvaluatePromotion)
	}
}

func TestFailedVerificationBlocksPromotionUntilReverified(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	c := newCast(t)
	// Default policy: no allowed sources, so the baseline SOURCE_ALLOWLISTED fails.
	a := ts.register(c.publisher, "payments", 1, nil)
	v := ts.verify(c.verifier, a.ID)
	if v.TrustState != "FAILED_VERIFICATION" {
		t.Fatalf("trust %s", v.TrustState)
	}
	if e := ts.ErrCode(c.promoter, promoteMutation, map[string]any{"in": map[string]any{"artifactId": a.ID, "channel": "DEV"}}); e.Code() != "POLICY_DENIED" {
		t.Fatalf("failed artifact promoted: %s", e.Code())
	}
	allowRegistry(t, ts, c, map[string]any{"allowedSources": []string{"registry.example.com/"}, "requiredChecks": []string{"SIGNATURE"}})
	if v = ts.verify(c.verifier, a.ID); v.TrustState != "UNVERIFIED" {
		t.Fatalf("missing required SIGNATURE: trust %s, want UNVERIFIED", v.TrustState)
	}
	if v = ts.verify(c.verifier, a.ID, "SIGNATURE=FAILED"); v.TrustState != "FAILED_VERIFICATION" {
		t.Fatalf("failed signature: trust %s", v.TrustState)
	}
	if v = ts.verify(c.verifier, a.ID, "SIGNATURE=PASSED"); v.TrustState != "VERIFIED" {
		t.Fatalf("passed signature: trust %s", v.TrustState)
	}
	if e := ts.ErrCode(c.verifier, verifyMutation, map[string]any{"in": map[string]any{"artifactId": a.ID, "results": []map[string]any{{"check": "DIGEST_PRESENT", "result": "PASSED"}}}}); e.Code() != "BAD_USER_INPUT" {
		t.Fatalf("submitting a baseline check: %s", e.Code())
	}
	if e := ts.ErrCode(c.publisher, verifyMutation, map[string]any{"in": map[string]any{"artifactId": a.ID}}); e.Code() != "FORBIDDEN" {
		t.Fatalf("publisher verifying: %s", e.Code())
	}
}

func TestRevocationAndStricterPolicyTakeEffectInDeployableAtOnce(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	c := newCast(t)
	old := ts.register(c.publisher, "payments", 1, nil)
	ts.promote(c.promoter, old.ID, "DEV", "")
	newer := ts.register(c.publisher, "payments", 2, nil)
	ts.promote(c.promoter, newer.ID, "DEV", "")
	if got := ts.deployable(c.viewer, "payments", "DEV", nil); got != newer.Digest {
		t.Fatalf("deployable = %s, want the newest promotion", got)
	}
	var rev struct {
		RevokeArtifact artifactJSON `json:"revokeArtifact"`
	}
	ts.MustDo(c.verifier, `mutation($id: ID!) { revokeArtifact(id: $id, reason: "CVE-2026-0001") { `+artifactFields+` } }`, map[string]any{"id": newer.ID}, &rev)
	last := rev.RevokeArtifact.Audit[len(rev.RevokeArtifact.Audit)-1]
	if rev.RevokeArtifact.TrustState != "REVOKED" || last.Action != "app_artifact.revoke" || *last.FromState != "UNVERIFIED" || *last.ToState != "REVOKED" || *last.Reason != "CVE-2026-0001" {
		t.Fatalf("revoke: %+v", rev.RevokeArtifact)
	}
	if got := ts.deployable(c.viewer, "payments", "DEV", nil); got != old.Digest {
		t.Fatalf("after revoke deployable = %s, want the older eligible %s", got, old.Digest)
	}
	if e := ts.ErrCode(c.verifier, `mutation($id: ID!) { revokeArtifact(id: $id, reason: "again") { id } }`, map[string]any{"id": newer.ID}); e.Code() != "INVALID_TRANSITION" {
		t.Fatalf("second revoke: %s", e.Code())
	}
	if e := ts.ErrCode(c.promoter, promoteMutation, map[string]any{"in": map[string]any{"artifactId": newer.ID, "channel": "DEV"}}); e.Code() != "POLICY_DENIED" {
		t.Fatalf("promoting revoked: %s", e.Code())
	}
	// A stricter DEV policy removes the unverified artifact at once.
	allowRegistry(t, ts, c, map[string]any{"channels": []map[string]any{{"channel": "DEV", "requiredTrust": "VERIFIED", "promoterRoles": []string{"PROMOTER"}}}})
	if got := ts.deployable(c.viewer, "payments", "DEV", nil); got != "" {
		t.Fatalf("stricter policy: deployable = %s, want none", got)
	}
}

func TestLifecycleTransitionsAndInvalidOnes(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	c := newCast(t)
	a := ts.register(c.publisher, "payments", 1, nil)
	life := func(op, tok, id string) (string, gqlError) {
		r := ts.Do(tok, fmt.Sprintf(`mutation($id: ID!) { %s(id: $id, reason: "r") { lifecycleState } }`, op), map[string]any{"id": id})
		if len(r.Errors) > 0 {
			return "", r.Errors[0]
		}
		var m map[string]map[string]string
		_ = jsonUnmarshal(r.Data, &m)
		return m[op]["lifecycleState"], gqlError{}
	}
	if s, e := life("deprecateArtifact", c.publisher, a.ID); s != "DEPRECATED" {
		t.Fatalf("deprecate: %s %+v", s, e)
	}
	if e := ts.ErrCode(c.promoter, promoteMutation, map[string]any{"in": map[string]any{"artifactId": a.ID, "channel": "DEV"}}); e.Code() != "INVALID_TRANSITION" {
		t.Fatalf("promote deprecated: %s", e.Code())
	}
	if _, e := life("deprecateArtifact", c.publisher, a.ID); e.Code() != "INVALID_TRANSITION" {
		t.Fatalf("deprecate twice: %s", e.Code())
	}
	if s, _ := life("retireArtifact", c.admin, a.ID); s != "RETIRED" {
		t.Fatalf("retire: %s", s)
	}
	for _, op := range []string{"retireArtifact", "deprecateArtifact"} {
		if _, e := life(op, c.admin, a.ID); e.Code() != "INVALID_TRANSITION" {
			t.Fatalf("%s on retired: %s", op, e.Code())
		}
	}
	if _, e := life("retireArtifact", c.verifier, a.ID); e.Code() != "FORBIDDEN" {
		t.Fatalf("verifier retiring: %s", e.Code())
	}
	if _, e := life("retireArtifact", c.admin, "art_doesnotexist"); e.Code() != "NOT_FOUND" {
		t.Fatalf("unknown id: %s", e.Code())
	}
}

type auditPage struct {
	AuditEvents struct {
		Edges []struct {
			Cursor string    `json:"cursor"`
			Node   auditJSON `json:"node"`
		} `json:"edges"`
		PageInfo struct {
			HasNextPage bool    `json:"hasNextPage"`
			EndCursor   *string `json:"endCursor"`
		} `json:"pageInfo"`
	} `json:"auditEvents"`
}

const auditQuery = `query($p: String!, $f: AuditFilter, $first: Int, $after: String) { auditEvents(project: $p, filter: $f, first: $first, after: $after) {
	edges { cursor node { action actor actorType project artifactId digest kind sourceType fromState toState promotionChannel promotionEnvironment correlationId reason at } }
	pageInfo { hasNextPage endCursor } } }`

func TestAuditTrailRecordsAllSixActionsWithEveryField(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	c := newCast(t)
	allowRegistry(t, ts, c, nil)
	a := ts.register(c.publisher, "payments", 1, map[string]any{"source": "registry.example.com/payments/api"})
	ts.verify(c.verifier, a.ID, "ATTESTATION=PASSED")
	ts.promote(c.promoter, a.ID, "DEV", "sandbox")
	b := ts.register(c.publisher, "payments", 2, map[string]any{"source": "registry.example.com/payments/api"})
	for _, op := range []string{"deprecateArtifact", "retireArtifact", "revokeArtifact"} {
		ts.MustDo(c.admin, fmt.Sprintf(`mutation($id: ID!) { %s(id: $id, reason: "cleanup") { id } }`, op), map[string]any{"id": b.ID}, nil)
	}
	var page auditPage
	ts.MustDo(c.viewer, auditQuery, map[string]any{"p": "payments", "first": 50}, &page)
	edges := page.AuditEvents.Edges
	if len(edges) != 7 {
		t.Fatalf("%d events, want 7", len(edges))
	}
	actions := map[string]auditJSON{}
	for i, e := range edges {
		n := e.Node
		if i > 0 && parseTime(t, n.At).After(parseTime(t, edges[i-1].Node.At)) {
			t.Fatalf("not newest first at %d", i)
		}
		if n.Actor == "" || n.ActorType == "" || n.Project != "payments" || n.ArtifactID == "" || !strings.HasPrefix(n.Digest, "sha256:") ||
			n.Kind != "OCI_IMAGE" || n.SourceType != "OCI_REGISTRY" || n.CorrelationID == "" || n.At == "" {
			t.Fatalf("event lacks a required field: %+v", n)
		}
		actions[n.Action] = n
	}
	for _, act := range []string{"register", "verify", "promote", "deprecate", "retire", "revoke"} {
		if _, ok := actions["app_artifact."+act]; !ok {
			t.Errorf("no app_artifact.%s event", act)
		}
	}
	pr := actions["app_artifact.promote"]
	if *pr.PromotionChannel != "DEV" || *pr.PromotionEnvironment != "sandbox" || *pr.FromState != "PUBLISHED" || *pr.ToState != "PROMOTED" {
		t.Errorf("promote event %+v", pr)
	}
	vr := actions["app_artifact.verify"]
	if *vr.FromState != "UNVERIFIED" || *vr.ToState != "VERIFIED" || vr.ActorType != "USER" {
		t.Errorf("verify event %+v", vr)
	}
	if r := actions["app_artifact.retire"]; *r.FromState != "DEPRECATED" || *r.ToState != "RETIRED" || *r.Reason != "cleanup" {
		t.Errorf("retire event %+v", r)
	}
	// Filters and pagination.
	var filtered auditPage
	ts.MustDo(c.viewer, auditQuery, map[string]any{"p": "payments", "f": map[string]any{"artifactId": b.ID, "actor": "ada"}}, &filtered)
	if len(filtered.AuditEvents.Edges) != 3 {
		t.Fatalf("filter by artifact and actor: %d events", len(filtered.AuditEvents.Edges))
	}
	ts.MustDo(c.viewer, auditQuery, map[string]any{"p": "payments", "f": map[string]any{"action": "app_artifact.register"}}, &filtered)
	if len(filtered.AuditEvents.Edges) != 2 {
		t.Fatalf("filter by action: %d events", len(filtered.AuditEvents.Edges))
	}
	ts.MustDo(c.viewer, auditQuery, map[string]any{"p": "payments", "f": map[string]any{"correlationId": pr.CorrelationID}}, &filtered)
	if len(filtered.AuditEvents.Edges) != 1 || filtered.AuditEvents.Edges[0].Node.Action != "app_artifact.promote" {
		t.Fatalf("filter by correlation id: %+v", filtered.AuditEvents.Edges)
	}
	var seen []string
	var after any
	for {
		var p auditPage
		ts.MustDo(c.viewer, auditQuery, map[string]any{"p": "payments", "first": 3, "after": after}, &p)
		for _, e := range p.AuditEvents.Edges {
			seen = append(seen, e.Node.Action+e.Node.ArtifactID+e.Node.At)
		}
		if !p.AuditEvents.PageInfo.HasNextPage {
			break
		}
		after = *p.AuditEvents.PageInfo.EndCursor
	}
	if len(seen) != 7 {
		t.Fatalf("paged %d events, want 7", len(seen))
	}
	for i := range seen {
		want := edges[i].Node
		if seen[i] != want.Action+want.ArtifactID+want.At {
			t.Fatalf("page order differs at %d", i)
		}
	}
	if e := ts.ErrCode(c.outsider, auditQuery, map[string]any{"p": "payments"}); e.Code() != "FORBIDDEN" {
		t.Fatalf("outsider reading audit: %s", e.Code())
	}
}

func TestPolicyIsValidatedVersionedAndAudited(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	c := newCast(t)
	base := map[string]any{"allowedSourceTypes": []string{"OCI_REGISTRY"}, "allowedSources": []string{"registry.example.com/"}, "allowNonOci": false, "strictProgression": true}
	bad := []struct {
		name  string
		extra map[string]any
	}{
		{"duplicate channel", map[string]any{"channels": []map[string]any{{"channel": "DEV", "requiredTrust": "VERIFIED", "promoterRoles": []string{"PROMOTER"}}, {"channel": "DEV", "requiredTrust": "VERIFIED", "promoterRoles": []string{"PROMOTER"}}}}},
		{"empty prefix", map[string]any{"allowedSources": []string{""}}},
		{"no source types", map[string]any{"allowedSourceTypes": []string{}}},
		{"channel without promoters", map[string]any{"channels": []map[string]any{{"channel": "PROD", "requiredTrust": "VERIFIED"}}}},
	}
	for _, b := range bad {
		in := map[string]any{}
		for k, v := range base {
			in[k] = v
		}
		for k, v := range b.extra {
			in[k] = v
		}
		if e := ts.ErrCode(c.admin, policyMutation, map[string]any{"p": "payments", "in": in}); e.Code() != "BAD_USER_INPUT" {
			t.Errorf("%s: %s %s", b.name, e.Code(), e.Message)
		}
	}
	if e := ts.ErrCode(c.promoter, policyMutation, map[string]any{"p": "payments", "in": base}); e.Code() != "FORBIDDEN" {
		t.Fatalf("promoter setting policy: %s", e.Code())
	}
	var out struct {
		SetProjectPolicy struct {
			Version   int     `json:"version"`
			UpdatedBy *string `json:"updatedBy"`
			UpdatedAt *string `json:"updatedAt"`
			Channels  []struct {
				Channel       string   `json:"channel"`
				PromoterRoles []string `json:"promoterRoles"`
			} `json:"channels"`
		} `json:"setProjectPolicy"`
	}
	ts.MustDo(c.admin, policyMutation, map[string]any{"p": "payments", "in": base}, &out)
	ts.MustDo(c.admin, policyMutation, map[string]any{"p": "payments", "in": base}, &out)
	if out.SetProjectPolicy.Version != 2 || *out.SetProjectPolicy.UpdatedBy != "ada" || out.SetProjectPolicy.UpdatedAt == nil || len(out.SetProjectPolicy.Channels) != 4 {
		t.Fatalf("policy %+v", out.SetProjectPolicy)
	}
	stale := map[string]any{"expectedVersion": 1}
	for k, v := range base {
		stale[k] = v
	}
	if e := ts.ErrCode(c.admin, policyMutation, map[string]any{"p": "payments", "in": stale}); e.Code() != "CONFLICT" {
		t.Fatalf("stale expectedVersion: %s %s", e.Code(), e.Message)
	}
	if got := strings.Join(out.SetProjectPolicy.Channels[3].PromoterRoles, ","); got != "PROJECT_ADMIN" {
		t.Fatalf("PROD left out should keep its default promoters, got %s", got)
	}
	var hist struct {
		ProjectPolicyHistory []struct {
			Actor         string `json:"actor"`
			FromVersion   int    `json:"fromVersion"`
			ToVersion     int    `json:"toVersion"`
			CorrelationID string `json:"correlationId"`
		} `json:"projectPolicyHistory"`
	}
	ts.MustDo(c.viewer, `{ projectPolicyHistory(project: "payments") { actor actorType fromVersion toVersion correlationId at } }`, nil, &hist)
	h := hist.ProjectPolicyHistory
	if len(h) != 2 || h[0].FromVersion != 1 || h[0].ToVersion != 2 || h[1].FromVersion != 0 || h[1].ToVersion != 1 || h[0].Actor != "ada" || h[0].CorrelationID == "" {
		t.Fatalf("history %+v", h)
	}
}

// TestConcurrentWritersNeverLoseOrDoubleEvents races many writers on one artifact
// through the real server.
func TestConcurrentWritersNeverLoseOrDoubleEvents(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	c := newCast(t)
	a := ts.register(c.publisher, "payments", 1, nil)
	const writers, perWriter = 8, 5
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]int{}
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				in := map[string]any{"artifactId": a.ID, "channel": "DEV", "targetEnvironment": fmt.Sprintf("w%d-%d", w, i)}
				r := ts.Do(c.promoter, `mutation($in: PromoteArtifactInput!) { promoteArtifact(input: $in) { version } }`, map[string]any{"in": in})
				code := "OK"
				if len(r.Errors) > 0 {
					code = r.Errors[0].Code()
				}
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	var got struct {
		Artifact artifactJSON `json:"artifact"`
	}
	ts.MustDo(c.viewer, `query($id: ID!) { artifact(id: $id) { `+artifactFields+` } }`, map[string]any{"id": a.ID}, &got)
	ok := codes["OK"]
	t.Logf("writers=%d operations=%d outcomes=%v promotions=%d audit=%d version=%d", writers, writers*perWriter, codes, len(got.Artifact.Promotions), len(got.Artifact.Audit), got.Artifact.Version)
	if len(got.Artifact.Promotions) != ok || len(got.Artifact.Audit) != 1+ok || got.Artifact.Version != 1+ok {
		t.Fatalf("acknowledged %d promotions but stored %d promotions, %d audit events, version %d", ok, len(got.Artifact.Promotions), len(got.Artifact.Audit), got.Artifact.Version)
	}
	if ok+codes["CONFLICT"] != writers*perWriter {
		t.Fatalf("unexpected outcomes %v", codes)
	}
	envs := map[string]bool{}
	for _, p := range got.Artifact.Promotions {
		if envs[*p.TargetEnvironment] {
			t.Fatalf("promotion %s doubled", *p.TargetEnvironment)
		}
		envs[*p.TargetEnvironment] = true
	}

	// Racing revokes: exactly one wins.
	const revokers = 10
	results := make(chan string, revokers)
	for i := 0; i < revokers; i++ {
		go func(i int) {
			r := ts.Do(c.verifier, `mutation($id: ID!, $r: String!) { revokeArtifact(id: $id, reason: $r) { trustState } }`, map[string]any{"id": a.ID, "r": fmt.Sprintf("revoker %d", i)})
			if len(r.Errors) > 0 {
				results <- r.Errors[0].Code()
				return
			}
			results <- "OK"
		}(i)
	}
	won := 0
	for i := 0; i < revokers; i++ {
		switch code := <-results; code {
		case "OK":
			won++
		case "INVALID_TRANSITION", "CONFLICT":
		default:
			t.Errorf("revoke outcome %s", code)
		}
	}
	ts.MustDo(c.viewer, `query($id: ID!) { artifact(id: $id) { `+artifactFields+` } }`, map[string]any{"id": a.ID}, &got)
	revokes := 0
	for _, e := range got.Artifact.Audit {
		if e.Action == "app_artifact.revoke" {
			revokes++
		}
	}
	if won != 1 || revokes != 1 {
		t.Fatalf("%d revokes acknowledged, %d revoke events stored; want exactly 1 each", won, revokes)
	}
}
