package model

import (
	"strings"
	"testing"
)

const floorJSON = `{"channels": {
  "STAGING": {"minSoakSeconds": 3600},
  "PROD": {"requiredTrust": "VERIFIED", "requiredChecks": ["ATTESTATION", "SIGNATURE"], "requireVerifiedEvidence": true,
           "allowedPromoterRoles": ["PROJECT_ADMIN"], "minApprovals": 2, "minSoakSeconds": 86400, "forbidSelfApproval": true}
}}`

func TestParseFloorRefusesAnythingThatIsNotAFloor(t *testing.T) {
	cases := []struct{ name, in, substr string }{
		{"not JSON", `{"channels":`, "not a floor"},
		{"unknown top-level field", `{"chanels": {}}`, "unknown field"},
		{"unknown channel field", `{"channels": {"PROD": {"minApproval": 2}}}`, "unknown field"},
		{"unknown channel", `{"channels": {"QA": {}}}`, "unknown channel"},
		{"unknown check", `{"channels": {"PROD": {"requiredChecks": ["SIGNED"]}}}`, "unknown check"},
		{"unknown role", `{"channels": {"PROD": {"allowedPromoterRoles": ["ROOT"]}}}`, "unknown role"},
		{"negative approvals", `{"channels": {"PROD": {"minApprovals": -1}}}`, "minApprovals"},
		{"absurd soak", `{"channels": {"PROD": {"minSoakSeconds": 99999999}}}`, "minSoakSeconds"},
		{"trailing data", `{"channels": {}} {}`, "after the JSON object"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseFloor([]byte(c.in))
			if err == nil || !strings.Contains(err.Error(), c.substr) {
				t.Errorf("ParseFloor(%s) = %v, want an error with %q", c.in, err, c.substr)
			}
		})
	}
}

func TestFloorNamesEveryViolationAndApplyRaisesThePolicyToIt(t *testing.T) {
	f, err := ParseFloor([]byte(floorJSON))
	if err != nil {
		t.Fatal(err)
	}
	weak := DefaultPolicy(testProject)
	for i := range weak.Channels {
		if weak.Channels[i].Channel == ChannelProd {
			weak.Channels[i].RequiredTrust = TrustAllowUnverified
			weak.Channels[i].RequireVerifiedEvidence = false
			weak.Channels[i].PromoterRoles = []Role{RolePromoter, RoleProjectAdmin}
			weak.Channels[i].ForbidSelfApproval = false
			weak.Channels[i].RequiredApprovals = 1
		}
	}
	v := f.Violations(&weak)
	wantReasons(t, v, 8,
		"channel STAGING: minSoakSeconds 0 is below the floor's 3600",
		"channel PROD: requiredTrust ALLOW_UNVERIFIED is below the floor's VERIFIED",
		"channel PROD: requiredChecks must include SIGNATURE",
		"channel PROD: requireVerifiedEvidence must be true",
		"channel PROD: promoterRoles PROMOTER are beyond the floor's allowed promoter roles (PROJECT_ADMIN)",
		"channel PROD: requiredApprovals 1 is below the floor's 2",
		"channel PROD: minSoakSeconds 0 is below the floor's 86400",
		"channel PROD: forbidSelfApproval must be true")
	raised := f.Apply(weak)
	if left := f.Violations(&raised); len(left) != 0 {
		t.Errorf("Apply left violations: %q", left)
	}
	if prod := weak.Channel(ChannelProd); prod.RequiredApprovals != 1 || len(prod.PromoterRoles) != 2 {
		t.Errorf("Apply changed its argument: %+v", prod)
	}
	strong := f.Apply(weak)
	if again := f.Apply(strong); !equalChannels(again, strong) {
		t.Error("Apply of a policy at the floor changed it")
	}
	if (Floor{}).Violations(&weak) != nil {
		t.Error("the empty floor has violations")
	}
}

func equalChannels(a, b Policy) bool {
	for i := range a.Channels {
		x, y := a.Channels[i], b.Channels[i]
		if x.RequiredTrust != y.RequiredTrust || joinList(x.RequiredChecks) != joinList(y.RequiredChecks) || joinList(x.PromoterRoles) != joinList(y.PromoterRoles) ||
			x.RequiredApprovals != y.RequiredApprovals || x.MinSoakSeconds != y.MinSoakSeconds || x.ForbidSelfApproval != y.ForbidSelfApproval || x.RequireVerifiedEvidence != y.RequireVerifiedEvidence {
			return false
		}
	}
	return true
}
