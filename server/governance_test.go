package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// testClock is a wall clock a test moves by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }

const governancePolicy = `mutation($p: String!, $in: ProjectPolicyInput!) { setProjectPolicy(project: $p, input: $in) {
	version promotionWindows { channels days start end timeZone }
	channels { channel requiredApprovals approverRoles forbidSelfApproval approvalValiditySeconds minSoakSeconds breakGlassRoles breakGlassSubjects } } }`

const evaluateGovernance = `query($in: PromoteArtifactInput!) { evaluatePromotion(input: $in) { allowed reasons reasonClasses eligibleAt } }`

const approveMutation = `mutation($in: ApprovalInput!) { approvePromotion(input: $in) { artifactId channel targetEnvironment decision decidedBy decidedAt expiresAt policyVersion comment correlationId } }`
const rejectMutation = `mutation($in: ApprovalInput!) { rejectPromotion(input: $in) { decision decidedBy } }`

type decisionJSON struct {
	Allowed       bool     `json:"allowed"`
	Reasons       []string `json:"reasons"`
	ReasonClasses []string `json:"reasonClasses"`
	EligibleAt    *string  `json:"eligibleAt"`
}

func (ts *testServer) evaluate(tok string, in map[string]any) decisionJSON {
	ts.t.Helper()
	var out struct {
		EvaluatePromotion decisionJSON `json:"evaluatePromotion"`
	}
	ts.MustDo(tok, evaluateGovernance, map[string]any{"in": in}, &out)
	return out.EvaluatePromotion
}

func hasReason(reasons []string, substr string) bool {
	for _, r := range reasons {
		if strings.Contains(r, substr) {
			return true
		}
	}
	return false
}

// TestGovernanceEndToEndTwoApproversSoakWindowFreezeAndBreakGlass walks one
// artifact to PROD/eu-1 under "two approvers other than the registrant and the
// promoter, 24 h in STAGING, weekdays 09:00-16:00 Berlin time, never during a
// freeze", over HTTP with the server's clock moved by the test.
func TestGovernanceEndToEndTwoApproversSoakWindowFreezeAndBreakGlass(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{now: time.Date(2026, 3, 9, 10, 0, 0, 0, berlin)} // a Monday
	ts := startServer(t, t.TempDir(), func(c *Config) { c.now = clock.Now })
	const project = "shop"
	alice := token(t, "alice", project+":publisher", project+":verifier", project+":project_admin") // registers
	bob := token(t, "bob", project+":promoter")
	carol := token(t, "carol", project+":project_admin") // promotes to PROD
	erin := token(t, "erin", project+":project_admin")
	frank := token(t, "frank", project+":promoter")

	var pol struct {
		SetProjectPolicy struct {
			Version  int `json:"version"`
			Channels []struct {
				Channel           string   `json:"channel"`
				RequiredApprovals int      `json:"requiredApprovals"`
				ApproverRoles     []string `json:"approverRoles"`
				ForbidSelf        bool     `json:"forbidSelfApproval"`
				Validity          int      `json:"approvalValiditySeconds"`
				MinSoak           int      `json:"minSoakSeconds"`
			} `json:"channels"`
		} `json:"setProjectPolicy"`
	}
	ts.MustDo(carol, governancePolicy, map[string]any{"p": project, "in": map[string]any{
		"allowedSourceTypes": []string{"OCI_REGISTRY"}, "allowedSources": []string{"registry.example.com/shop/"},
		"allowNonOci": false, "strictProgression": true,
		"channels": []map[string]any{{
			"channel": "PROD", "requiredTrust": "VERIFIED", "requiredChecks": []string{}, "requireVerifiedEvidence": false,
			"promoterRoles": []string{"PROJECT_ADMIN"}, "requiredApprovals": 2, "approverRoles": []string{"PROJECT_ADMIN", "PROMOTER"},
			"minSoakSeconds": 86400, "breakGlassRoles": []string{"PROJECT_ADMIN"},
		}},
		"promotionWindows": []map[string]any{{"channels": []string{"PROD"}, "days": []string{"MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"}, "start": "09:00", "end": "16:00", "timeZone": "Europe/Berlin"}},
	}}, &pol)
	prod := pol.SetProjectPolicy.Channels[3]
	if prod.RequiredApprovals != 2 || !prod.ForbidSelf || prod.Validity != 604800 || prod.MinSoak != 86400 {
		t.Fatalf("PROD policy %+v", prod)
	}

	a := ts.register(alice, project, 1, nil)
	ts.MustDo(alice, `mutation($id: ID!) { verifyArtifact(input: {artifactId: $id}) { trustState } }`, map[string]any{"id": a.ID}, nil)
	for _, c := range []string{"DEV", "TEST", "STAGING"} {
		ts.promote(bob, a.ID, c, "eu-1")
	}
	target := map[string]any{"artifactId": a.ID, "channel": "PROD", "targetEnvironment": "eu-1"}

	// Monday 10:00: no approvals, no soak.
	d := ts.evaluate(carol, target)
	if d.Allowed || !hasReason(d.Reasons, "requires 2 approvals") || !hasReason(d.Reasons, "soak 24h0m0s in STAGING/eu-1") || d.EligibleAt != nil ||
		strings.Join(d.ReasonClasses, ",") != "approval,soak" {
		t.Fatalf("Monday: %+v", d)
	}

	// Approvals: the registrant is refused, a channel without approvals is bad input,
	// approving twice returns the same approval.
	if e := ts.ErrCode(alice, approveMutation, map[string]any{"in": target}); e.Code() != "FORBIDDEN" || !strings.Contains(e.Message, "forbidSelfApproval") {
		t.Errorf("registrant approving: %+v", e)
	}
	if e := ts.ErrCode(erin, approveMutation, map[string]any{"in": map[string]any{"artifactId": a.ID, "channel": "STAGING"}}); e.Code() != "BAD_USER_INPUT" || !strings.Contains(e.Message, "requires no approvals") {
		t.Errorf("approving STAGING: %+v", e)
	}
	var ap1, ap2 struct {
		ApprovePromotion map[string]any `json:"approvePromotion"`
	}
	ts.MustDo(erin, approveMutation, map[string]any{"in": map[string]any{"artifactId": a.ID, "channel": "PROD", "targetEnvironment": "eu-1", "comment": "load test green"}}, &ap1)
	clock.Set(clock.Now().Add(time.Minute))
	ts.MustDo(erin, approveMutation, map[string]any{"in": target}, &ap2)
	if ap1.ApprovePromotion["decidedAt"] != ap2.ApprovePromotion["decidedAt"] || ap1.ApprovePromotion["decision"] != "APPROVED" || ap1.ApprovePromotion["policyVersion"] != float64(1) {
		t.Errorf("approving twice: %v then %v", ap1.ApprovePromotion, ap2.ApprovePromotion)
	}
	ts.MustDo(frank, rejectMutation, map[string]any{"in": target}, nil)
	if d := ts.evaluate(carol, target); !hasReason(d.Reasons, "frank rejected the promotion into PROD/eu-1") || !hasReason(d.Reasons, "it has 1 (erin)") {
		t.Errorf("after the rejection: %+v", d)
	}
	ts.MustDo(frank, approveMutation, map[string]any{"in": target}, nil)

	// Only the soak is left: eligible Tuesday 10:00 Berlin (in the window).
	d = ts.evaluate(carol, target)
	if len(d.Reasons) != 1 || d.EligibleAt == nil || *d.EligibleAt != "2026-03-10T09:00:00Z" {
		t.Fatalf("soak only: %+v", d)
	}
	e := ts.ErrCode(carol, promoteMutation, map[string]any{"in": target})
	if e.Code() != "POLICY_DENIED" || len(e.Reasons()) != 1 || !strings.Contains(e.Reasons()[0], "eligible at 2026-03-10T09:00:00Z") || fmt.Sprint(e.Extensions["reasonClasses"]) != "[soak]" {
		t.Fatalf("promoting before the soak: %+v", e)
	}
	var den struct {
		RecentDenials []struct {
			ReasonClasses []string `json:"reasonClasses"`
		} `json:"recentDenials"`
	}
	ts.MustDo(carol, `query { recentDenials(project: "shop") { reasonClasses } }`, nil, &den)
	if len(den.RecentDenials) == 0 || strings.Join(den.RecentDenials[0].ReasonClasses, ",") != "soak" {
		t.Errorf("recentDenials: %+v", den)
	}

	// Tuesday 17:00 Berlin: soaked, but the window is closed until Wednesday 09:00.
	clock.Set(time.Date(2026, 3, 10, 17, 0, 0, 0, berlin))
	d = ts.evaluate(carol, target)
	if strings.Join(d.ReasonClasses, ",") != "window" || !hasReason(d.Reasons, "promotion windows (MONDAY,TUESDAY,WEDNESDAY,THURSDAY,FRIDAY 09:00-16:00 Europe/Berlin)") || d.EligibleAt == nil || *d.EligibleAt != "2026-03-11T08:00:00Z" {
		t.Fatalf("window: %+v", d)
	}

	// Wednesday 09:30: open, but a freeze (an until in the past is refused).
	clock.Set(time.Date(2026, 3, 11, 9, 30, 0, 0, berlin))
	freeze := `mutation($until: Time) { freezePromotions(project: "shop", channels: [PROD], reason: "incident INC-7", until: $until) { version freeze { channels reason frozenBy frozenAt until } } }`
	if e := ts.ErrCode(carol, freeze, map[string]any{"until": "2026-03-11T08:00:00Z"}); e.Code() != "BAD_USER_INPUT" || !strings.Contains(e.Message, "not in the future") {
		t.Errorf("freeze until in the past: %+v", e)
	}
	if e := ts.ErrCode(bob, freeze, nil); e.Code() != "FORBIDDEN" {
		t.Errorf("promoter freezing: %+v", e)
	}
	var fr struct {
		FreezePromotions struct {
			Version int `json:"version"`
			Freeze  struct {
				FrozenBy string  `json:"frozenBy"`
				Until    *string `json:"until"`
			} `json:"freeze"`
		} `json:"freezePromotions"`
	}
	ts.MustDo(carol, freeze, nil, &fr)
	if fr.FreezePromotions.Version != 2 || fr.FreezePromotions.Freeze.FrozenBy != "carol" || fr.FreezePromotions.Freeze.Until != nil {
		t.Errorf("freeze: %+v", fr)
	}
	d = ts.evaluate(carol, target)
	if len(d.Reasons) != 1 || !hasReason(d.Reasons, "frozen (PROD)") || !hasReason(d.Reasons, "incident INC-7") || d.EligibleAt != nil || d.ReasonClasses[0] != "freeze" {
		t.Fatalf("frozen: %+v", d)
	}

	// Break-glass: a promoter without the right is refused; carol may.
	bg := map[string]any{"artifactId": a.ID, "channel": "PROD", "targetEnvironment": "eu-1", "reason": "hotfix",
		"breakGlass": map[string]any{"justification": "CVE-2026-1 exploited", "ticket": "INC-7"}}
	if e := ts.ErrCode(frank, promoteMutation, map[string]any{"in": bg}); e.Code() != "POLICY_DENIED" || !hasReason(e.Reasons(), "may not use break-glass into PROD") {
		t.Errorf("break-glass by frank: %+v", e)
	}
	var promoted struct {
		PromoteArtifact struct {
			Promotions []struct {
				Channel       string  `json:"channel"`
				BreakGlass    bool    `json:"breakGlass"`
				Justification *string `json:"justification"`
				Ticket        *string `json:"ticket"`
				PolicyVersion int     `json:"policyVersion"`
			} `json:"promotions"`
		} `json:"promoteArtifact"`
	}
	ts.MustDo(carol, `mutation($in: PromoteArtifactInput!) { promoteArtifact(input: $in) { promotions { channel breakGlass justification ticket policyVersion } } }`, map[string]any{"in": bg}, &promoted)
	last := promoted.PromoteArtifact.Promotions[len(promoted.PromoteArtifact.Promotions)-1]
	if last.Channel != "PROD" || !last.BreakGlass || last.Ticket == nil || *last.Ticket != "INC-7" || last.PolicyVersion != 2 {
		t.Errorf("break-glass promotion: %+v", last)
	}
	var feed struct {
		AuditEvents struct {
			Edges []struct {
				Node struct {
					Action        string `json:"action"`
					BreakGlass    bool   `json:"breakGlass"`
					Ticket        string `json:"ticket"`
					PolicyVersion int    `json:"policyVersion"`
				} `json:"node"`
			} `json:"edges"`
		} `json:"auditEvents"`
	}
	ts.MustDo(carol, `query { auditEvents(project: "shop", filter: {breakGlass: true}) { edges { node { action breakGlass ticket policyVersion } } } }`, nil, &feed)
	if len(feed.AuditEvents.Edges) != 1 || feed.AuditEvents.Edges[0].Node.Action != "app_artifact.promote" || !feed.AuditEvents.Edges[0].Node.BreakGlass {
		t.Errorf("break-glass feed: %+v", feed)
	}
	ts.MustDo(carol, `query { auditEvents(project: "shop", filter: {action: "app_artifact.approve"}) { edges { node { action breakGlass ticket policyVersion } } } }`, nil, &feed)
	if len(feed.AuditEvents.Edges) != 2 || feed.AuditEvents.Edges[0].Node.PolicyVersion != 1 {
		t.Errorf("approve events: %+v", feed)
	}

	// Unfreeze (twice: the second is INVALID_TRANSITION); both in the policy trail.
	ts.MustDo(carol, `mutation { unfreezePromotions(project: "shop", reason: "incident closed") { freeze { reason } } }`, nil, nil)
	if e := ts.ErrCode(carol, `mutation { unfreezePromotions(project: "shop", reason: "again") { version } }`, nil); e.Code() != "INVALID_TRANSITION" {
		t.Errorf("unfreezing twice: %+v", e)
	}
	var hist struct {
		ProjectPolicyHistory []struct {
			Action string  `json:"action"`
			Reason *string `json:"reason"`
		} `json:"projectPolicyHistory"`
	}
	ts.MustDo(carol, `query { projectPolicyHistory(project: "shop") { action reason } }`, nil, &hist)
	if len(hist.ProjectPolicyHistory) != 3 || hist.ProjectPolicyHistory[0].Action != "project.unfreeze" || hist.ProjectPolicyHistory[1].Action != "project.freeze" || *hist.ProjectPolicyHistory[1].Reason != "incident INC-7" {
		t.Errorf("policy trail: %+v", hist)
	}

	// environmentDiff: STAGING/eu-1 and PROD/eu-1 deploy the same digest.
	var diff struct {
		EnvironmentDiff struct {
			From *struct{ Digest, PromotedBy string } `json:"from"`
			To   *struct {
				Digest     string `json:"digest"`
				PromotedBy string `json:"promotedBy"`
				BreakGlass bool   `json:"breakGlass"`
			} `json:"to"`
			Same bool `json:"same"`
		} `json:"environmentDiff"`
	}
	ts.MustDo(bob, `query { environmentDiff(project: "shop", from: {channel: STAGING, targetEnvironment: "eu-1"}, to: {channel: PROD, targetEnvironment: "eu-1"}) { from { digest promotedBy } to { digest promotedBy breakGlass } same } }`, nil, &diff)
	if !diff.EnvironmentDiff.Same || diff.EnvironmentDiff.From == nil || diff.EnvironmentDiff.To == nil || diff.EnvironmentDiff.To.PromotedBy != "carol" || !diff.EnvironmentDiff.To.BreakGlass {
		t.Errorf("environmentDiff: %+v", diff)
	}

	// A revoked artifact cannot be approved.
	ts.MustDo(alice, `mutation($id: ID!) { revokeArtifact(id: $id, reason: "key leak") { trustState } }`, map[string]any{"id": a.ID}, nil)
	if e := ts.ErrCode(erin, approveMutation, map[string]any{"in": target}); e.Code() != "INVALID_TRANSITION" || !strings.Contains(e.Message, "REVOKED") {
		t.Errorf("approving a revoked artifact: %+v", e)
	}
	if m := scrape(t, ts); !strings.Contains(m, `reason_class="soak"`) || !strings.Contains(m, `reason_class="break_glass"`) {
		t.Error("metrics lack the soak and break_glass denial classes")
	}
}

// TestPolicyFloorRefusesWeakerPoliciesRaisesStoredOnesAndStopsOnABadFile checks
// POLICY_FLOOR_FILE: a server with stored policies below a floor starts and
// enforces it, setProjectPolicy below it is POLICY_DENIED naming each violation,
// and a file that does not parse stops the server at start.
func TestPolicyFloorRefusesWeakerPoliciesRaisesStoredOnesAndStopsOnABadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	admin := token(t, "carol", "shop:project_admin")
	weak := map[string]any{"p": "shop", "in": map[string]any{
		"allowedSourceTypes": []string{"OCI_REGISTRY"}, "allowedSources": []string{"registry.example.com/shop/"}, "allowNonOci": false, "strictProgression": true,
		"channels": []map[string]any{{"channel": "PROD", "requiredTrust": "ALLOW_UNVERIFIED", "promoterRoles": []string{"PROMOTER", "PROJECT_ADMIN"}, "requiredApprovals": 1, "forbidSelfApproval": false}},
	}}
	ts := startServer(t, dir)
	ts.MustDo(admin, governancePolicy, weak, nil)
	ts.Stop()

	floorFile := filepath.Join(t.TempDir(), "floor.json")
	if err := os.WriteFile(floorFile, []byte(`{"channels": {"PROD": {"requiredTrust": "VERIFIED", "requiredChecks": ["ATTESTATION"], "allowedPromoterRoles": ["PROJECT_ADMIN"], "minApprovals": 2, "forbidSelfApproval": true}, "STAGING": {"minSoakSeconds": 3600}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	// Started on the stored policy below the floor: it starts and names the project.
	var logged lockedBuffer
	cfg, err := parseConfig([]string{"-listen-addr", "127.0.0.1:0", "-data-dir", dir, "-jwt-hs256-secret", testSecret, "-policy-floor-file", floorFile})
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetFormatter(&logrus.JSONFormatter{})
	log.SetOutput(&logged)
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- run(ctx, cfg, log, ready) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("server with a floor its stored policy is below did not start: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if out := logged.String(); !strings.Contains(out, `"project":"shop"`) || !strings.Contains(out, "below the floor") || !strings.Contains(out, "requiredApprovals 1 is below the floor's 2") {
		t.Errorf("start-up log does not name the project below the floor:\n%s", out)
	}

	ts = startServer(t, dir, func(c *Config) { c.PolicyFloorFile = floorFile })
	var eff struct {
		ProjectPolicy struct {
			Channels []struct {
				Channel           string   `json:"channel"`
				RequiredTrust     string   `json:"requiredTrust"`
				RequiredChecks    []string `json:"requiredChecks"`
				PromoterRoles     []string `json:"promoterRoles"`
				RequiredApprovals int      `json:"requiredApprovals"`
				ForbidSelf        bool     `json:"forbidSelfApproval"`
				MinSoak           int      `json:"minSoakSeconds"`
			} `json:"channels"`
		} `json:"projectPolicy"`
	}
	ts.MustDo(admin, `query { projectPolicy(project: "shop") { channels { channel requiredTrust requiredChecks promoterRoles requiredApprovals forbidSelfApproval minSoakSeconds } } }`, nil, &eff)
	p := eff.ProjectPolicy.Channels[3]
	if p.RequiredTrust != "VERIFIED" || strings.Join(p.RequiredChecks, ",") != "ATTESTATION" || strings.Join(p.PromoterRoles, ",") != "PROJECT_ADMIN" || p.RequiredApprovals != 2 || !p.ForbidSelf {
		t.Errorf("effective PROD under the floor: %+v", p)
	}
	if eff.ProjectPolicy.Channels[2].MinSoak != 3600 {
		t.Errorf("effective STAGING under the floor: %+v", eff.ProjectPolicy.Channels[2])
	}
	e := ts.ErrCode(admin, governancePolicy, weak)
	if e.Code() != "POLICY_DENIED" || len(e.Reasons()) != 5 || !hasReason(e.Reasons(), "channel PROD: requiredTrust ALLOW_UNVERIFIED is below the floor's VERIFIED") ||
		!hasReason(e.Reasons(), "promoterRoles PROMOTER are beyond") || !hasReason(e.Reasons(), "requiredApprovals 1 is below the floor's 2") ||
		!hasReason(e.Reasons(), "requiredChecks must include ATTESTATION") || !hasReason(e.Reasons(), "forbidSelfApproval must be true") {
		t.Errorf("setProjectPolicy below the floor: %+v %q", e, e.Reasons())
	}
	// STAGING left out takes its default raised to the floor: accepted.
	ok := map[string]any{"p": "shop", "in": map[string]any{
		"allowedSourceTypes": []string{"OCI_REGISTRY"}, "allowedSources": []string{"registry.example.com/shop/"}, "allowNonOci": false, "strictProgression": true,
		"channels": []map[string]any{{"channel": "PROD", "requiredTrust": "VERIFIED", "requiredChecks": []string{"ATTESTATION"}, "promoterRoles": []string{"PROJECT_ADMIN"}, "requiredApprovals": 3}},
	}}
	ts.MustDo(admin, governancePolicy, ok, nil)
	ts.Stop()

	if err := os.WriteFile(floorFile, []byte(`{"channels": {"PROD": {"minApproval": 2}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	log.SetOutput(io.Discard)
	err = run(context.Background(), cfg, log, nil)
	if err == nil || !strings.Contains(err.Error(), "POLICY_FLOOR_FILE") || !strings.Contains(err.Error(), `unknown field "minApproval"`) {
		t.Errorf("a floor that does not parse: %v", err)
	}
}

// TestAnApprovalVoidedByATrustChangeDoesNotCountAgainOverHTTP: TEST needs one
// approval; an approval given while SIGNATURE had passed is void once SIGNATURE
// fails, and stays void after it passes again (the stored trust epoch moved on),
// until the approver approves again.
func TestAnApprovalVoidedByATrustChangeDoesNotCountAgainOverHTTP(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	const project = "shop"
	admin := token(t, "ada", project+":project_admin", project+":publisher", project+":verifier", project+":promoter")
	approver := token(t, "appr", project+":project_admin")
	ts.MustDo(admin, governancePolicy, map[string]any{"p": project, "in": map[string]any{
		"allowedSourceTypes": []string{"OCI_REGISTRY"}, "allowedSources": []string{"registry.example.com/shop/"},
		"allowNonOci": false, "strictProgression": true,
		"channels": []map[string]any{{"channel": "TEST", "requiredTrust": "VERIFIED", "requiredChecks": []string{}, "promoterRoles": []string{"PROJECT_ADMIN"},
			"requiredApprovals": 1, "approverRoles": []string{"PROJECT_ADMIN"}}},
	}}, nil)
	a := ts.register(admin, project, 1, nil)
	verify := func(result string) {
		t.Helper()
		ts.MustDo(admin, `mutation($id: ID!, $r: CheckResult!) { verifyArtifact(input: {artifactId: $id, results: [{check: SIGNATURE, result: $r}]}) { trustState } }`,
			map[string]any{"id": a.ID, "r": result}, nil)
	}
	verify("PASSED")
	ts.promote(admin, a.ID, "DEV", "")
	target := map[string]any{"artifactId": a.ID, "channel": "TEST"}
	ts.MustDo(approver, approveMutation, map[string]any{"in": target}, nil)
	if d := ts.evaluate(admin, target); !d.Allowed {
		t.Fatalf("with the approval: %+v", d)
	}
	verify("FAILED")
	verify("PASSED")
	if d := ts.evaluate(admin, target); d.Allowed || !hasReason(d.Reasons, "it has none") {
		t.Fatalf("after the trust changed and came back, the old approval counts: %+v", d)
	}
	ts.MustDo(approver, approveMutation, map[string]any{"in": target}, nil)
	if d := ts.evaluate(admin, target); !d.Allowed {
		t.Fatalf("approved again: %+v", d)
	}
}

// TestFreezeUntilThatIsNoTimeIsBadInput: an until that is not an RFC 3339
// date-time (a word, a number, an impossible date) is BAD_USER_INPUT naming the
// expected form, never INTERNAL, and freezes nothing.
func TestFreezeUntilThatIsNoTimeIsBadInput(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	admin := token(t, "ada", "shop:project_admin")
	for _, until := range []any{"tomorrow", 5, "2026-13-01T00:00:00Z", "+275760-09-13T00:00:00Z", ""} {
		e := ts.ErrCode(admin, `mutation($u: Time) { freezePromotions(project: "shop", reason: "x", until: $u) { version } }`, map[string]any{"u": until})
		if e.Code() != "BAD_USER_INPUT" || !strings.Contains(e.Message, "RFC 3339") {
			t.Errorf("until %#v: %s %q", until, e.Code(), e.Message)
		}
		e = ts.ErrCode(admin, fmt.Sprintf(`mutation { freezePromotions(project: "shop", reason: "x", until: %s) { version } }`, graphQLLiteral(until)), nil)
		if e.Code() != "BAD_USER_INPUT" {
			t.Errorf("until %#v inline: %s %q", until, e.Code(), e.Message)
		}
	}
	var pol struct {
		ProjectPolicy struct{ Freeze *struct{ Reason string } }
	}
	ts.MustDo(admin, `{ projectPolicy(project: "shop") { freeze { reason } } }`, nil, &pol)
	if pol.ProjectPolicy.Freeze != nil {
		t.Fatalf("a refused freeze froze: %+v", pol.ProjectPolicy.Freeze)
	}
}

func graphQLLiteral(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v)
}
