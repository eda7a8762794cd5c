package main

import (
	"strings"
	"testing"
)

// TestE2EGovernanceApproveRejectFreezeDiffAndBreakGlass drives the governance
// commands against a real server: approvals (with a rejection), a freeze and its
// lifting, the soak bypassed by break-glass, and diff.
func TestE2EGovernanceApproveRejectFreezeDiffAndBreakGlass(t *testing.T) {
	needServer(t)
	t.Parallel()
	const project = "e2e-governance"
	admin := mint(t, "alice", project+":project_admin", project+":publisher", project+":verifier")
	ci := mint(t, "ci-pipeline", project+":promoter")
	erin := mint(t, "erin", project+":project_admin")
	frank := mint(t, "frank", project+":promoter")
	carol := mint(t, "carol", project+":project_admin")
	digest := digestN(7)

	gov := map[string]any{"channels": []map[string]any{{"channel": "PROD", "requiredTrust": "VERIFIED", "requiredChecks": []string{},
		"promoterRoles": []string{"PROJECT_ADMIN"}, "requireVerifiedEvidence": false, "requiredApprovals": 2,
		"approverRoles": []string{"PROJECT_ADMIN", "PROMOTER"}, "minSoakSeconds": 86400, "breakGlassRoles": []string{"PROJECT_ADMIN"}}}}
	r := must(t, admin, "policy", "set", "--project", project, "--file", writePolicy(t, project, gov))
	if !strings.Contains(r.stdout, "APPROVALS") || !strings.Contains(r.stdout, "86400") {
		t.Fatalf("policy set output misses the governance columns:\n%s", r)
	}
	must(t, admin, registerArgs(project, digest)...)
	must(t, admin, "verify", "--project", project, "--digest", digest, "--result", "SIGNATURE=PASSED")
	for _, ch := range []string{"DEV", "TEST", "STAGING"} {
		must(t, ci, "promote", "--project", project, "--digest", digest, "--channel", ch, "--env", "eu-1")
	}
	target := []string{"--project", project, "--digest", digest, "--channel", "PROD", "--env", "eu-1"}

	// The registrant may not approve; two others do, one after rejecting.
	expectExit(t, ctl(t, admin, append([]string{"approve"}, target...)...), exitAuth)
	r = must(t, erin, append([]string{"approve", "--comment", "load test green"}, target...)...)
	if !strings.Contains(r.stdout, "APPROVED") || !strings.Contains(r.stdout, "EXPIRES_AT") {
		t.Errorf("approve output:\n%s", r)
	}
	must(t, frank, append([]string{"reject"}, target...)...)
	r = ctl(t, carol, append([]string{"evaluate"}, target...)...)
	expectExit(t, r, exitDenied)
	if !strings.Contains(r.stderr, "frank rejected the promotion into PROD/eu-1") || !strings.Contains(r.stderr, "soak") {
		t.Errorf("evaluate after the rejection:\n%s", r)
	}
	must(t, frank, append([]string{"approve"}, target...)...)
	r = ctl(t, carol, append([]string{"evaluate"}, target...)...)
	expectExit(t, r, exitDenied)
	if strings.Contains(r.stderr, "approvals") || !strings.Contains(r.stderr, "eligible at") {
		t.Errorf("evaluate with the approvals, before the soak:\n%s", r)
	}

	// Freeze PROD; a break-glass promotion still goes through; unfreeze.
	r = must(t, carol, "freeze", "--project", project, "--channel", "PROD", "--reason", "incident INC-9", "--for", "2h")
	if !strings.Contains(r.stdout, "frozen until") || !strings.Contains(r.stdout, "incident INC-9") {
		t.Errorf("freeze output:\n%s", r)
	}
	expectExit(t, ctl(t, carol, append([]string{"promote"}, target...)...), exitDenied)
	if r := ctl(t, carol, append([]string{"promote", "--break-glass-justification", "CVE fix"}, target...)...); r.code != exitFailed || !strings.Contains(r.stderr, "needs both") {
		t.Errorf("break-glass without a ticket:\n%s", r)
	}
	r = must(t, carol, append([]string{"promote", "--break-glass-justification", "CVE fix", "--ticket", "INC-9", "-o", "json"}, target...)...)
	if !strings.Contains(r.stdout, `"breakGlass": true`) || !strings.Contains(r.stdout, `"ticket": "INC-9"`) {
		t.Errorf("break-glass promotion:\n%s", r)
	}
	r = must(t, carol, "audit", "--project", project, "--break-glass")
	if !strings.Contains(r.stdout, "app_artifact.promote") || strings.Contains(r.stdout, "app_artifact.approve") {
		t.Errorf("audit --break-glass:\n%s", r)
	}
	r = must(t, carol, "unfreeze", "--project", project, "--reason", "incident closed")
	if !strings.Contains(r.stdout, "not frozen") {
		t.Errorf("unfreeze output:\n%s", r)
	}

	// diff STAGING/eu-1 against PROD/eu-1: the same digest.
	r = must(t, ci, "diff", "--project", project, "--from", "STAGING/eu-1", "--to", "prod/eu-1")
	if !strings.Contains(r.stdout, "same digest on both sides") || strings.Count(r.stdout, digest) != 2 {
		t.Errorf("diff output:\n%s", r)
	}
}
