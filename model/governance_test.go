package model

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func berlin(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func weekdays() []Weekday { return Weekdays[:5] }

func TestPromotionWindowOpenByWallClockInItsZoneAcrossMidnightAndDST(t *testing.T) {
	loc := berlin(t)
	office := PromotionWindow{Channels: []Channel{ChannelProd}, Days: weekdays(), Start: "09:00", End: "16:00", TimeZone: "Europe/Berlin"}
	night := PromotionWindow{Channels: []Channel{ChannelProd}, Days: []Weekday{"FRIDAY"}, Start: "22:00", End: "02:00", TimeZone: "Europe/Berlin"}
	allDay := PromotionWindow{Channels: []Channel{ChannelProd}, Days: []Weekday{"SUNDAY"}, Start: "00:00", End: "24:00", TimeZone: "UTC"}
	dstGap := PromotionWindow{Channels: []Channel{ChannelProd}, Days: []Weekday{"SUNDAY"}, Start: "02:30", End: "03:30", TimeZone: "Europe/Berlin"}
	cases := []struct {
		name string
		w    PromotionWindow
		at   time.Time
		open bool
	}{
		{"weekday inside", office, time.Date(2026, 3, 9, 10, 0, 0, 0, loc), true},
		{"at start", office, time.Date(2026, 3, 9, 9, 0, 0, 0, loc), true},
		{"at end is closed", office, time.Date(2026, 3, 9, 16, 0, 0, 0, loc), false},
		{"weekday before", office, time.Date(2026, 3, 9, 8, 59, 0, 0, loc), false},
		{"saturday", office, time.Date(2026, 3, 14, 10, 0, 0, 0, loc), false},
		{"UTC instant read in Berlin (winter, +1)", office, time.Date(2026, 3, 9, 8, 30, 0, 0, time.UTC), true},
		{"UTC instant read in Berlin (summer, +2)", office, time.Date(2026, 7, 6, 7, 30, 0, 0, time.UTC), true},
		{"UTC 15:30 in summer is 17:30 Berlin", office, time.Date(2026, 7, 6, 15, 30, 0, 0, time.UTC), false},
		{"over midnight: friday late", night, time.Date(2026, 3, 13, 23, 0, 0, 0, loc), true},
		{"over midnight: saturday early", night, time.Date(2026, 3, 14, 1, 59, 0, 0, loc), true},
		{"over midnight: saturday at end", night, time.Date(2026, 3, 14, 2, 0, 0, 0, loc), false},
		{"over midnight: friday early is not the window", night, time.Date(2026, 3, 13, 1, 0, 0, 0, loc), false},
		{"24:00 end: last minute", allDay, time.Date(2026, 3, 15, 23, 59, 0, 0, time.UTC), true},
		{"DST spring forward: 03:00 CEST is in 02:30-03:30", dstGap, time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), true},
		{"DST spring forward: 01:59 CET is before", dstGap, time.Date(2026, 3, 29, 0, 59, 0, 0, time.UTC), false},
		{"DST fall back: first 02:45 (CEST)", dstGap, time.Date(2026, 10, 25, 0, 45, 0, 0, time.UTC), true},
		{"DST fall back: second 02:45 (CET)", dstGap, time.Date(2026, 10, 25, 1, 45, 0, 0, time.UTC), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.w.Open(c.at); got != c.open {
				t.Errorf("Open(%s) = %v, want %v", c.at.In(loc), got, c.open)
			}
		})
	}
}

func TestNextWindowOpenFindsTheFirstOpeningIncludingOneSkippedByDST(t *testing.T) {
	loc := berlin(t)
	office := []PromotionWindow{{Channels: []Channel{ChannelProd}, Days: weekdays(), Start: "09:00", End: "16:00", TimeZone: "Europe/Berlin"}}
	dstGap := []PromotionWindow{{Channels: []Channel{ChannelProd}, Days: []Weekday{"SUNDAY"}, Start: "02:30", End: "03:30", TimeZone: "Europe/Berlin"}}
	cases := []struct {
		name   string
		ws     []PromotionWindow
		c      Channel
		from   time.Time
		want   time.Time
		wantOK bool
	}{
		{"open now is now", office, ChannelProd, time.Date(2026, 3, 9, 10, 0, 0, 0, loc), time.Date(2026, 3, 9, 10, 0, 0, 0, loc), true},
		{"evening: next morning", office, ChannelProd, time.Date(2026, 3, 9, 17, 0, 0, 0, loc), time.Date(2026, 3, 10, 9, 0, 0, 0, loc), true},
		{"friday evening: monday", office, ChannelProd, time.Date(2026, 3, 13, 17, 0, 0, 0, loc), time.Date(2026, 3, 16, 9, 0, 0, 0, loc), true},
		{"across the spring change the opening moves by the offset", office, ChannelProd, time.Date(2026, 3, 27, 17, 0, 0, 0, loc), time.Date(2026, 3, 30, 7, 0, 0, 0, time.UTC), true},
		{"channel without windows is open", office, ChannelStaging, time.Date(2026, 3, 14, 3, 0, 0, 0, loc), time.Date(2026, 3, 14, 3, 0, 0, 0, loc), true},
		{"start skipped by DST opens at the change", dstGap, ChannelProd, time.Date(2026, 3, 28, 12, 0, 0, 0, loc), time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := NextWindowOpen(c.ws, c.c, c.from)
			if ok != c.wantOK || !got.Equal(c.want) {
				t.Errorf("NextWindowOpen = %s %v, want %s %v", got.UTC(), ok, c.want.UTC(), c.wantOK)
			}
		})
	}
}

func TestValidateWindowsRefusesBadWindowsClearly(t *testing.T) {
	good := func() PromotionWindow {
		return PromotionWindow{Channels: []Channel{ChannelProd}, Days: []Weekday{"MONDAY"}, Start: "09:00", End: "16:00", TimeZone: "Europe/Berlin"}
	}
	cases := []struct {
		name   string
		mutate func(*PromotionWindow)
		field  string
		substr string
	}{
		{"unknown zone", func(w *PromotionWindow) { w.TimeZone = "Mars/Olympus" }, "promotionWindows[0].timeZone", "unknown time zone"},
		{"Local refused", func(w *PromotionWindow) { w.TimeZone = "Local" }, "promotionWindows[0].timeZone", "IANA"},
		{"empty zone", func(w *PromotionWindow) { w.TimeZone = "" }, "promotionWindows[0].timeZone", "IANA"},
		{"bad start", func(w *PromotionWindow) { w.Start = "9:00" }, "promotionWindows[0].start", "HH:MM"},
		{"hour 25", func(w *PromotionWindow) { w.End = "25:00" }, "promotionWindows[0].end", "hours 00-23"},
		{"24:00 start", func(w *PromotionWindow) { w.Start = "24:00" }, "promotionWindows[0].start", "hours 00-23"},
		{"empty window", func(w *PromotionWindow) { w.End = "09:00" }, "promotionWindows[0].end", "equals start"},
		{"no days", func(w *PromotionWindow) { w.Days = nil }, "promotionWindows[0].days", "at least one day"},
		{"bad day", func(w *PromotionWindow) { w.Days = []Weekday{"FUNDAY"} }, "promotionWindows[0].days", "unknown value"},
		{"no channels", func(w *PromotionWindow) { w.Channels = nil }, "promotionWindows[0].channels", "at least one channel"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := good()
			c.mutate(&w)
			_, err := ValidateWindows("promotionWindows", []PromotionWindow{w})
			wantBadInput(t, err, c.field, c.substr)
		})
	}
	over := good()
	over.Start, over.End = "22:00", "02:00"
	if _, err := ValidateWindows("promotionWindows", []PromotionWindow{over}); err != nil {
		t.Errorf("a window over midnight is refused: %v", err)
	}
	many := make([]PromotionWindow, MaxPromotionWindows+1)
	for i := range many {
		many[i] = good()
	}
	_, err := ValidateWindows("promotionWindows", many)
	wantBadInput(t, err, "promotionWindows", "at most")
}

func TestNewPolicyRefusesNegativeAndAbsurdGovernanceSettings(t *testing.T) {
	n := func(v int) *int { return &v }
	cases := []struct {
		name  string
		ci    ChannelPolicyInput
		field string
	}{
		{"negative approvals", ChannelPolicyInput{RequiredApprovals: n(-1)}, "channels[0].requiredApprovals"},
		{"absurd approvals", ChannelPolicyInput{RequiredApprovals: n(1000)}, "channels[0].requiredApprovals"},
		{"negative soak", ChannelPolicyInput{MinSoakSeconds: n(-5)}, "channels[0].minSoakSeconds"},
		{"absurd soak", ChannelPolicyInput{MinSoakSeconds: n(MaxSoakSeconds + 1)}, "channels[0].minSoakSeconds"},
		{"zero validity", ChannelPolicyInput{ApprovalValiditySeconds: n(0)}, "channels[0].approvalValiditySeconds"},
		{"absurd validity", ChannelPolicyInput{ApprovalValiditySeconds: n(MaxApprovalValiditySeconds + 1)}, "channels[0].approvalValiditySeconds"},
		{"no approver roles", ChannelPolicyInput{ApproverRoles: []Role{}}, "channels[0].approverRoles"},
		{"bad break-glass subject", ChannelPolicyInput{BreakGlassSubjects: []string{""}}, "channels[0].breakGlassSubjects[0]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := goodPolicyInput()
			c.ci.Channel, c.ci.RequiredTrust, c.ci.PromoterRoles = ChannelProd, TrustRequireVerified, []Role{RoleProjectAdmin}
			in.Channels = []ChannelPolicyInput{c.ci}
			_, err := NewPolicy(testProject, in)
			wantBadInput(t, err, c.field)
		})
	}
	in := goodPolicyInput()
	in.Channels = []ChannelPolicyInput{{Channel: ChannelDev, RequiredTrust: TrustAllowUnverified, PromoterRoles: []Role{RolePromoter}, MinSoakSeconds: n(60)}}
	_, err := NewPolicy(testProject, in)
	wantBadInput(t, err, "channels[0].minSoakSeconds", "DEV has no channel before it")
}

// govPolicy is allowlistPolicy with PROD needing two approvals and 24 h in STAGING.
func govPolicy() Policy {
	p := allowlistPolicy()
	for i := range p.Channels {
		if p.Channels[i].Channel == ChannelProd {
			p.Channels[i].RequiredChecks = nil
			p.Channels[i].RequireVerifiedEvidence = false
			p.Channels[i].RequiredApprovals = 2
			p.Channels[i].ApproverRoles = []Role{RoleProjectAdmin, RolePromoter}
			p.Channels[i].MinSoakSeconds = 24 * 3600
			p.Channels[i].BreakGlassRoles = []Role{RoleProjectAdmin}
		}
	}
	return p
}

// stagedArt is a VERIFIED artifact promoted DEV, TEST, STAGING/eu-1 (STAGING at t0).
func stagedArt(t *testing.T) Artifact {
	t.Helper()
	a := withPromotions(verifiedArt(t), ChannelDev, ChannelTest)
	a.Promotions = append(a.Promotions, Promotion{Channel: ChannelStaging, TargetEnvironment: "eu-1", PromotedBy: "x", PromotedAt: t0, CorrelationID: "c"})
	return a
}

var (
	approverA = user("erin", inProject(RoleProjectAdmin))
	approverB = user("frank", inProject(RolePromoter))
	prodAdmin = user("carol", inProject(RoleProjectAdmin))
)

func approve(t *testing.T, a Artifact, p *Policy, who Actor, env string, when time.Time) Artifact {
	t.Helper()
	out, _, err := Decide(a, p, who, ApprovalRequest{Channel: ChannelProd, TargetEnvironment: env, Decision: DecisionApproved}, "c", when)
	if err != nil && err != ErrUnchanged {
		t.Fatal(err)
	}
	return out
}

func TestApprovalRuleCountsDistinctLiveApprovalsOfOthers(t *testing.T) {
	p := govPolicy()
	soaked := t0.Add(25 * time.Hour)
	base := stagedArt(t)
	two := approve(t, approve(t, base, &p, approverA, "eu-1", soaked), &p, approverB, "eu-1", soaked)
	rejected, _, err := Decide(two, &p, approverB, ApprovalRequest{Channel: ChannelProd, TargetEnvironment: "eu-1", Decision: DecisionRejected}, "c", soaked)
	if err != nil {
		t.Fatal(err)
	}
	reapproved := approve(t, rejected, &p, approverB, "eu-1", soaked.Add(time.Minute))
	trustMoved := two
	trustMoved.Verification = append(append([]VerificationRecord(nil), two.Verification...), passed(CheckSignature))
	cases := []struct {
		name     string
		a        Artifact
		promoter Actor
		env      string
		at       time.Time
		want     []string
	}{
		{"none", base, prodAdmin, "eu-1", soaked, []string{"requires 2 approvals for PROD/eu-1", "it has none"}},
		{"one", approve(t, base, &p, approverA, "eu-1", soaked), prodAdmin, "eu-1", soaked, []string{"it has 1 (erin)"}},
		{"two distinct", two, prodAdmin, "eu-1", soaked, nil},
		{"same approver twice counts once", approve(t, approve(t, base, &p, approverA, "eu-1", soaked), &p, approverA, "eu-1", soaked.Add(time.Hour)), prodAdmin, "eu-1", soaked, []string{"it has 1 (erin)"}},
		{"promoter's own approval does not count", two, approverA, "eu-1", soaked, []string{"other than the registrant and the promoter", "it has 1 (frank)"}},
		{"other environment does not count", two, prodAdmin, "us-1", soaked, []string{"for PROD/us-1", "it has none"}},
		{"expired", two, prodAdmin, "eu-1", soaked.Add(8 * 24 * time.Hour), []string{"it has none"}},
		{"rejection blocks", rejected, prodAdmin, "eu-1", soaked, []string{"frank rejected the promotion into PROD/eu-1", "it has 1 (erin)"}},
		{"latest decision counts", reapproved, prodAdmin, "eu-1", soaked.Add(2 * time.Minute), nil},
		{"void when a check result changes", trustMoved, prodAdmin, "eu-1", soaked, []string{"it has none"}},
		{"void when the trust state changes", withTrust(two, TrustUnverified), prodAdmin, "eu-1", soaked, []string{"it has none"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := PromotionRequest{Channel: ChannelProd, TargetEnvironment: c.env, At: c.at}
			cp := p.Channel(ChannelProd)
			got := checkApprovals(&c.a, cp, c.promoter, req)
			if len(c.want) == 0 {
				if len(got) != 0 {
					t.Errorf("reasons %q, want none", got)
				}
				return
			}
			wantReasons(t, got, -1, c.want...)
		})
	}
}

func TestApprovalOfTheRegistrantNeverCountsWithForbidSelfApproval(t *testing.T) {
	p := govPolicy()
	a := stagedArt(t)
	a.RegisteredBy = "erin"
	// The registrant is refused outright...
	_, _, err := Decide(a, &p, approverA, ApprovalRequest{Channel: ChannelProd, Decision: DecisionApproved}, "c", t0)
	asError(t, err, KindForbidden)
	// ...and an approval stored before the registrant was known does not count.
	a.RegisteredBy, a.Audit[0].Actor = "", "someone"
	a = approve(t, a, &p, approverA, "", t0)
	a.RegisteredBy = "erin"
	counted, _ := ApprovalsFor(&a, p.Channel(ChannelProd), "carol", ChannelProd, "", t0)
	if len(counted) != 0 {
		t.Errorf("counted %v, want none", counted)
	}
	// With forbidSelfApproval off, both count.
	for i := range p.Channels {
		p.Channels[i].ForbidSelfApproval = false
	}
	counted, _ = ApprovalsFor(&a, p.Channel(ChannelProd), "erin", ChannelProd, "", t0)
	if len(counted) != 1 {
		t.Errorf("counted %v, want erin", counted)
	}
}

func TestDecideAnswersBadApprovalsClearly(t *testing.T) {
	p := govPolicy()
	a := stagedArt(t)
	req := ApprovalRequest{Channel: ChannelProd, TargetEnvironment: "eu-1", Decision: DecisionApproved}
	t.Run("revoked artifact is INVALID_TRANSITION", func(t *testing.T) {
		r := a
		r.TrustState = TrustRevoked
		_, _, err := Decide(r, &p, approverA, req, "c", t0)
		e := asError(t, err, KindInvalidTransition)
		if !strings.Contains(e.Message, "REVOKED") {
			t.Error(e.Message)
		}
	})
	t.Run("retired artifact is INVALID_TRANSITION", func(t *testing.T) {
		r := a
		r.LifecycleState = LifecycleRetired
		_, _, err := Decide(r, &p, approverA, req, "c", t0)
		asError(t, err, KindInvalidTransition)
	})
	t.Run("channel without approval requirement is BAD_USER_INPUT", func(t *testing.T) {
		_, _, err := Decide(a, &p, approverA, ApprovalRequest{Channel: ChannelStaging, Decision: DecisionApproved}, "c", t0)
		wantBadInput(t, err, "channel", "requires no approvals")
	})
	t.Run("approver without an approver role is FORBIDDEN", func(t *testing.T) {
		_, _, err := Decide(a, &p, viewer, req, "c", t0)
		asError(t, err, KindForbidden)
	})
	t.Run("bad environment", func(t *testing.T) {
		_, _, err := Decide(a, &p, approverA, ApprovalRequest{Channel: ChannelProd, TargetEnvironment: "eu 1", Decision: DecisionApproved}, "c", t0)
		wantBadInput(t, err, "targetEnvironment")
	})
	t.Run("approving twice returns the live approval unchanged", func(t *testing.T) {
		once, first, err := Decide(a, &p, approverA, req, "c1", t0)
		if err != nil {
			t.Fatal(err)
		}
		twice, second, err := Decide(once, &p, approverA, req, "c2", t0.Add(time.Hour))
		if err != ErrUnchanged {
			t.Fatalf("err = %v, want ErrUnchanged", err)
		}
		if !reflect.DeepEqual(second, first) || len(twice.Approvals) != 1 || len(twice.Audit) != len(once.Audit) {
			t.Errorf("second approval %+v changed something (first %+v)", second, first)
		}
		// An expired approval is refreshed: a new decision and event.
		later, third, err := Decide(once, &p, approverA, req, "c3", t0.Add(8*24*time.Hour))
		if err != nil || third.CorrelationID != "c3" || len(later.Approvals) != 1 || len(later.Audit) != len(once.Audit)+1 {
			t.Errorf("expired approval not refreshed: %v %+v", err, third)
		}
	})
	t.Run("decision is audited with the policy version", func(t *testing.T) {
		p := p
		p.Version = 7
		out, ap, err := Decide(a, &p, approverB, ApprovalRequest{Channel: ChannelProd, TargetEnvironment: "eu-1", Decision: DecisionRejected, Comment: "needs load test"}, "c", t0)
		if err != nil {
			t.Fatal(err)
		}
		ev := out.Audit[len(out.Audit)-1]
		if ev.Action != ActionReject || ev.PolicyVersion == nil || *ev.PolicyVersion != 7 || ev.PromotionChannel != ChannelProd || ev.PromotionEnvironment != "eu-1" || ev.Reason != "needs load test" {
			t.Errorf("event %+v", ev)
		}
		if ap.PolicyVersion != 7 || ap.Decision != DecisionRejected || !ap.ExpiresAt.Equal(t0.Add(7*24*time.Hour)) {
			t.Errorf("approval %+v", ap)
		}
	})
}

func TestDecideKeepsApprovalsBounded(t *testing.T) {
	p := govPolicy()
	a := stagedArt(t)
	for i := 0; i < MaxApprovalsPerArtifact; i++ {
		a.Approvals = append(a.Approvals, Approval{Channel: ChannelProd, TargetEnvironment: "e" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Decision: DecisionRejected, DecidedBy: "x"})
	}
	_, _, err := Decide(a, &p, approverA, ApprovalRequest{Channel: ChannelProd, Decision: DecisionApproved}, "c", t0)
	wantBadInput(t, err, "artifactId", "the most one artifact keeps")
	// Expired approvals make room.
	for i := range a.Approvals[:10] {
		a.Approvals[i].Decision, a.Approvals[i].ExpiresAt = DecisionApproved, t0.Add(-time.Minute)
	}
	out, _, err := Decide(a, &p, approverA, ApprovalRequest{Channel: ChannelProd, Decision: DecisionApproved}, "c", t0)
	if err != nil || len(out.Approvals) != MaxApprovalsPerArtifact-9 {
		t.Errorf("err %v, %d approvals", err, len(out.Approvals))
	}
}

func TestSoakRuleMeasuresFromThePromotionIntoThePreviousChannel(t *testing.T) {
	p := govPolicy()
	cp := p.Channel(ChannelProd)
	staged := stagedArt(t)
	twoEnvs := staged
	twoEnvs.Promotions = append(append([]Promotion(nil), staged.Promotions...), Promotion{Channel: ChannelStaging, TargetEnvironment: "us-1", PromotedBy: "x", PromotedAt: t0.Add(-48 * time.Hour), CorrelationID: "c"})
	cases := []struct {
		name     string
		a        Artifact
		env      string
		at       time.Time
		reason   string
		eligible time.Time
	}{
		{"too early", staged, "eu-1", t0.Add(time.Hour), "eligible at 2026-03-10T12:00:00Z", t0.Add(24 * time.Hour)},
		{"exactly the soak", staged, "eu-1", t0.Add(24 * time.Hour), "", time.Time{}},
		{"other environment was never staged", staged, "us-1", t0.Add(48 * time.Hour), "never promoted into STAGING/us-1", time.Time{}},
		{"no environment: any staging promotion", twoEnvs, "", t0.Add(time.Hour), "", time.Time{}},
		{"environment given: only that one", twoEnvs, "eu-1", t0.Add(time.Hour), "soak 24h0m0s in STAGING/eu-1", t0.Add(24 * time.Hour)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reason, eligible := checkSoak(&c.a, cp, PromotionRequest{Channel: ChannelProd, TargetEnvironment: c.env, At: c.at})
			if (c.reason == "") != (reason == "") || !strings.Contains(reason, c.reason) || !eligible.Equal(c.eligible) {
				t.Errorf("checkSoak = %q, %s; want %q, %s", reason, eligible, c.reason, c.eligible)
			}
		})
	}
}

func TestFreezeRuleStopsItsChannelsUntilItsEnd(t *testing.T) {
	until := t0.Add(time.Hour)
	cases := []struct {
		name string
		f    *Freeze
		c    Channel
		at   time.Time
		want bool
	}{
		{"none", nil, ChannelProd, t0, false},
		{"every channel", &Freeze{Reason: "r"}, ChannelDev, t0, true},
		{"listed channel", &Freeze{Channels: []Channel{ChannelProd}}, ChannelProd, t0, true},
		{"other channel", &Freeze{Channels: []Channel{ChannelProd}}, ChannelStaging, t0, false},
		{"before its end", &Freeze{Until: &until}, ChannelProd, t0, true},
		{"at its end", &Freeze{Until: &until}, ChannelProd, until, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.f.Active(c.c, c.at); got != c.want {
				t.Errorf("Active = %v, want %v", got, c.want)
			}
		})
	}
}

func TestNewFreezeRefusesAnEndInThePastOrFarAhead(t *testing.T) {
	past, far, ok := t0.Add(-time.Second), t0.Add(MaxFreeze+time.Hour), t0.Add(time.Hour)
	_, err := NewFreeze(FreezeRequest{Reason: "incident", Until: &past}, admin, t0)
	wantBadInput(t, err, "until", "not in the future")
	_, err = NewFreeze(FreezeRequest{Reason: "incident", Until: &far}, admin, t0)
	wantBadInput(t, err, "until", "days ahead")
	_, err = NewFreeze(FreezeRequest{Reason: "  \n"}, admin, t0)
	wantBadInput(t, err, "reason")
	_, err = NewFreeze(FreezeRequest{Reason: "   "}, admin, t0)
	wantBadInput(t, err, "reason", "not only spaces")
	_, err = NewFreeze(FreezeRequest{Reason: "x", Channels: []Channel{"QA"}}, admin, t0)
	wantBadInput(t, err, "channels")
	f, err := NewFreeze(FreezeRequest{Reason: "incident", Until: &ok, Channels: []Channel{ChannelProd, ChannelProd}}, admin, t0)
	if err != nil || len(f.Channels) != 1 || f.FrozenBy != "carol" || !f.Until.Equal(ok) {
		t.Errorf("NewFreeze = %+v, %v", f, err)
	}
}

func TestEvaluatePromotionNamesEachGovernanceRuleWithItsClassAndEligibleAt(t *testing.T) {
	loc := berlin(t)
	p := govPolicy()
	p.PromotionWindows = []PromotionWindow{{Channels: []Channel{ChannelProd}, Days: weekdays(), Start: "09:00", End: "16:00", TimeZone: "Europe/Berlin"}}
	a := stagedArt(t) // staged at t0 = Monday 2026-03-09 12:00 UTC (13:00 Berlin)
	approved := approve(t, approve(t, a, &p, approverA, "eu-1", t0), &p, approverB, "eu-1", t0)
	classes := func(d Decision) string { return strings.Join(d.Classes, ",") }

	// Soak not over, window open: eligible at the soak's end (Tuesday 13:00 Berlin, in the window).
	d := EvaluatePromotion(&approved, &p, prodAdmin, PromotionRequest{Channel: ChannelProd, TargetEnvironment: "eu-1", At: t0.Add(time.Hour)})
	if classes(d) != DenySoak || !d.EligibleAt.Equal(t0.Add(24*time.Hour)) {
		t.Errorf("soak only: %q %q eligibleAt %s", d.Classes, d.Reasons, d.EligibleAt)
	}
	// Soak over at Tuesday 13:00 Berlin; asked Tuesday 17:00 Berlin: window closed, eligible Wednesday 09:00 Berlin.
	tue17 := time.Date(2026, 3, 10, 17, 0, 0, 0, loc)
	d = EvaluatePromotion(&approved, &p, prodAdmin, PromotionRequest{Channel: ChannelProd, TargetEnvironment: "eu-1", At: tue17})
	if classes(d) != DenyWindow || !d.EligibleAt.Equal(time.Date(2026, 3, 11, 9, 0, 0, 0, loc)) {
		t.Errorf("window only: %q %q eligibleAt %s", d.Classes, d.Reasons, d.EligibleAt)
	}
	// Soak ending Friday 20:00 (Berlin) with the window closed: Monday 09:00.
	late := approved
	late.Promotions = append([]Promotion(nil), late.Promotions...)
	late.Promotions[len(late.Promotions)-1].PromotedAt = time.Date(2026, 3, 12, 20, 0, 0, 0, loc)
	d = EvaluatePromotion(&late, &p, prodAdmin, PromotionRequest{Channel: ChannelProd, TargetEnvironment: "eu-1", At: time.Date(2026, 3, 13, 10, 0, 0, 0, loc)})
	if classes(d) != DenySoak || !d.EligibleAt.Equal(time.Date(2026, 3, 16, 9, 0, 0, 0, loc)) {
		t.Errorf("soak then window: %q %q eligibleAt %s", d.Classes, d.Reasons, d.EligibleAt)
	}
	// Missing approvals: not time-based, no eligibleAt.
	d = EvaluatePromotion(&a, &p, prodAdmin, PromotionRequest{Channel: ChannelProd, TargetEnvironment: "eu-1", At: t0.Add(time.Hour)})
	if classes(d) != DenyApproval+","+DenySoak || !d.EligibleAt.IsZero() {
		t.Errorf("approvals and soak: %q %q eligibleAt %s", d.Classes, d.Reasons, d.EligibleAt)
	}
	// A freeze without an end: not time-based.
	frozen := p
	frozen.Freeze = &Freeze{Reason: "incident 42", FrozenBy: "carol", FrozenAt: t0}
	wed10 := time.Date(2026, 3, 11, 10, 0, 0, 0, loc)
	d = EvaluatePromotion(&approved, &frozen, prodAdmin, PromotionRequest{Channel: ChannelProd, TargetEnvironment: "eu-1", At: wed10})
	if classes(d) != DenyFreeze || !d.EligibleAt.IsZero() || !strings.Contains(d.Reasons[0], "incident 42") {
		t.Errorf("freeze: %q %q eligibleAt %s", d.Classes, d.Reasons, d.EligibleAt)
	}
	// A freeze with an end: eligible then.
	end := wed10.Add(2 * time.Hour)
	frozen.Freeze.Until = &end
	d = EvaluatePromotion(&approved, &frozen, prodAdmin, PromotionRequest{Channel: ChannelProd, TargetEnvironment: "eu-1", At: wed10})
	if classes(d) != DenyFreeze || !d.EligibleAt.Equal(end) {
		t.Errorf("freeze with end: %q %q eligibleAt %s", d.Classes, d.Reasons, d.EligibleAt)
	}
	// Break-glass by a permitted subject bypasses all four...
	bg := &BreakGlass{Justification: "CVE hotfix", Ticket: "INC-1"}
	d = EvaluatePromotion(&a, &frozen, prodAdmin, PromotionRequest{Channel: ChannelProd, TargetEnvironment: "eu-1", At: tue17, BreakGlass: bg})
	if !d.Allowed() || !d.BreakGlass {
		t.Errorf("break-glass: %q", d.Reasons)
	}
	// ...and nothing else: trust, checks, role and progression still hold.
	failedArt := a
	failedArt.Verification = append([]VerificationRecord(nil), a.Verification...)
	setTrust(&failedArt, TrustFailedVerification)
	d = EvaluatePromotion(&failedArt, &frozen, prodAdmin, PromotionRequest{Channel: ChannelProd, TargetEnvironment: "eu-1", At: tue17, BreakGlass: bg})
	if classes(d) != DenyTrust {
		t.Errorf("break-glass over a failed artifact: %q %q", d.Classes, d.Reasons)
	}
	fresh := withPromotions(verifiedArt(t), ChannelDev)
	d = EvaluatePromotion(&fresh, &frozen, prodAdmin, PromotionRequest{Channel: ChannelProd, At: tue17, BreakGlass: bg})
	if !strings.Contains(classes(d), DenyProgression) || strings.Contains(classes(d), DenyApproval) {
		t.Errorf("break-glass skipping a channel: %q %q", d.Classes, d.Reasons)
	}
	// A subject without break-glass rights gets its own reason and the rules.
	d = EvaluatePromotion(&a, &frozen, approverB, PromotionRequest{Channel: ChannelProd, TargetEnvironment: "eu-1", At: tue17, BreakGlass: bg})
	if !strings.HasPrefix(classes(d), DenyRole+","+DenyBreakGlass+","+DenyApproval) || d.BreakGlass {
		t.Errorf("break-glass refused: %q %q", d.Classes, d.Reasons)
	}
}

func TestPromoteMarksABreakGlassPromotionAndItsEvent(t *testing.T) {
	p := govPolicy()
	a := stagedArt(t)
	out, err := Promote(a, &p, prodAdmin, PromotionRequest{Channel: ChannelProd, TargetEnvironment: "eu-1", BreakGlass: &BreakGlass{Justification: "CVE hotfix", Ticket: "INC-1"}}, "c", t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	pr, ev := out.Promotions[len(out.Promotions)-1], out.Audit[len(out.Audit)-1]
	if !pr.BreakGlass || pr.Justification != "CVE hotfix" || pr.Ticket != "INC-1" || !ev.BreakGlass || ev.Ticket != "INC-1" {
		t.Errorf("promotion %+v event %+v", pr, ev)
	}
	_, err = Promote(a, &p, prodAdmin, PromotionRequest{Channel: ChannelProd, BreakGlass: &BreakGlass{Justification: "x"}}, "c", t0)
	wantBadInput(t, err, "breakGlass.ticket")
	_, err = Promote(a, &p, prodAdmin, PromotionRequest{Channel: ChannelProd, TargetEnvironment: "eu-1"}, "c", t0.Add(time.Minute))
	e := asError(t, err, KindPolicyDenied)
	wantReasons(t, e.Reasons, 2, "requires 2 approvals", "soak")
	if strings.Join(e.Classes, ",") != DenyApproval+","+DenySoak {
		t.Errorf("classes %q", e.Classes)
	}
}

func withTrust(a Artifact, tr TrustState) Artifact {
	a.TrustState = tr
	return a
}

func TestRegistrantOfAnArtifactStoredBeforeItWasRecordedIsItsRegisterEventsActor(t *testing.T) {
	a := newArt(t)
	a.RegisteredBy = ""
	if got := a.Registrant(); got != "alice" {
		t.Errorf("Registrant = %q, want the register event's alice", got)
	}
	a.AuditFrom = 5 // the register event is no longer held
	if got := a.Registrant(); got != "" {
		t.Errorf("Registrant = %q, want unknown", got)
	}
}

// BenchmarkEvaluatePromotion measures a PROD decision under the default policy and
// under one with two approvals, a soak and office-hour windows (closed, so the next
// opening is searched).
func BenchmarkEvaluatePromotion(b *testing.B) {
	t := &testing.T{}
	plain := allowlistPolicy()
	gov := govPolicy()
	gov.PromotionWindows = []PromotionWindow{{Channels: []Channel{ChannelProd}, Days: weekdays(), Start: "09:00", End: "16:00", TimeZone: "Europe/Berlin"}}
	a := stagedArt(t)
	a = approve(t, approve(t, a, &gov, approverA, "eu-1", t0), &gov, approverB, "eu-1", t0)
	req := PromotionRequest{Channel: ChannelProd, TargetEnvironment: "eu-1", At: time.Date(2026, 3, 10, 20, 0, 0, 0, time.UTC)}
	b.Run("default policy", func(b *testing.B) {
		for b.Loop() {
			EvaluatePromotion(&a, &plain, prodAdmin, req)
		}
	})
	b.Run("approvals soak windows", func(b *testing.B) {
		for b.Loop() {
			if d := EvaluatePromotion(&a, &gov, prodAdmin, req); d.EligibleAt.IsZero() {
				b.Fatal(d.Reasons)
			}
		}
	})
}

// TestAnApprovalVoidedByATrustChangeStaysVoidWhenTrustComesBack: trust that
// changes and then returns to what it was (a check failing then passing again, or
// a policy tightened then loosened and re-derived both times) does not revive an
// approval given before: the artifact's trust epoch only moves forward.
func TestAnApprovalVoidedByATrustChangeStaysVoidWhenTrustComesBack(t *testing.T) {
	p := govPolicy()
	soaked := t0.Add(25 * time.Hour)
	verifier := user("val", inProject(RoleVerifier))
	verify := func(a Artifact, r CheckResult, at time.Time) Artifact {
		t.Helper()
		out, err := Verify(a, &p, []VerificationRecord{{Check: CheckSignature, Result: r}}, verifier, "c", "", at)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	claimed := verify(stagedArt(t), ResultPassed, t0)
	two := approve(t, approve(t, claimed, &p, approverA, "eu-1", soaked), &p, approverB, "eu-1", soaked)
	req := PromotionRequest{Channel: ChannelProd, TargetEnvironment: "eu-1", At: soaked.Add(time.Hour)}
	if got := checkApprovals(&two, p.Channel(ChannelProd), prodAdmin, req); len(got) != 0 {
		t.Fatalf("before any change: %q", got)
	}
	// SIGNATURE fails, then passes again: the records and trust are what they were
	// when the approvals were given.
	back := verify(verify(two, ResultFailed, soaked), ResultPassed, soaked.Add(time.Minute))
	if back.TrustState != TrustVerified || back.TrustKey() != two.TrustKey() {
		t.Fatalf("setup: trust %s, key %s want %s", back.TrustState, back.TrustKey(), two.TrustKey())
	}
	if got := checkApprovals(&back, p.Channel(ChannelProd), prodAdmin, req); len(got) == 0 {
		t.Error("an approval voided by a failed check counts again after the check passed")
	}

	// Through re-derivation: the source falls out of the allowlist, then back in.
	tight := p
	tight.AllowedSources = []string{"registry.example.com/elsewhere/"}
	tight.Version = p.Version + 1
	loose := p
	loose.Version = p.Version + 2
	down, changed := Rederive(two, &tight, prodAdmin, "c", "policy version 2", soaked)
	if !changed || down.TrustState != TrustFailedVerification {
		t.Fatalf("tightening: %v %s", changed, down.TrustState)
	}
	up, changed := Rederive(down, &loose, prodAdmin, "c", "policy version 3", soaked.Add(time.Minute))
	if !changed || up.TrustState != TrustVerified {
		t.Fatalf("loosening: %v %s", changed, up.TrustState)
	}
	if got := checkApprovals(&up, loose.Channel(ChannelProd), prodAdmin, req); len(got) == 0 {
		t.Error("an approval voided by a re-derivation counts again after trust was re-derived back")
	}
	// A fresh approval after the change counts.
	again := approve(t, approve(t, up, &loose, approverA, "eu-1", soaked.Add(2*time.Minute)), &loose, approverB, "eu-1", soaked.Add(2*time.Minute))
	if got := checkApprovals(&again, loose.Channel(ChannelProd), prodAdmin, req); len(got) != 0 {
		t.Errorf("approvals given after the change: %q", got)
	}
}

// TestApprovalsFollowTheCurrentApproverRolesAndValidity: an approval or rejection
// counts only while its approver's role (when deciding) is among the channel's
// current approverRoles, and a shorter approvalValiditySeconds set later shortens
// approvals already given (a longer one does not extend them).
func TestApprovalsFollowTheCurrentApproverRolesAndValidity(t *testing.T) {
	p := govPolicy()
	soaked := t0.Add(25 * time.Hour)
	two := approve(t, approve(t, stagedArt(t), &p, approverA, "eu-1", soaked), &p, approverB, "eu-1", soaked)
	req := PromotionRequest{Channel: ChannelProd, TargetEnvironment: "eu-1", At: soaked.Add(time.Hour)}
	with := func(change func(cp *ChannelPolicy)) ChannelPolicy {
		q := p
		q.Channels = append([]ChannelPolicy(nil), p.Channels...)
		for i := range q.Channels {
			if q.Channels[i].Channel == ChannelProd {
				change(&q.Channels[i])
			}
		}
		return q.Channel(ChannelProd)
	}
	// frank approved as PROMOTER; the policy now lists PROJECT_ADMIN only.
	adminsOnly := with(func(cp *ChannelPolicy) { cp.ApproverRoles = []Role{RoleProjectAdmin} })
	wantReasons(t, checkApprovals(&two, adminsOnly, prodAdmin, req), -1, "it has 1 (erin)")
	// Validity cut to one minute: both approvals, an hour old, no longer count.
	short := with(func(cp *ChannelPolicy) { cp.ApprovalValiditySeconds = 60 })
	wantReasons(t, checkApprovals(&two, short, prodAdmin, req), -1, "it has none")
	// A longer validity does not extend them past the one they were given.
	long := with(func(cp *ChannelPolicy) { cp.ApprovalValiditySeconds = 30 * 24 * 3600 })
	late := req
	late.At = soaked.Add(8 * 24 * time.Hour)
	wantReasons(t, checkApprovals(&two, long, prodAdmin, late), -1, "it has none")
	// A rejection by a role the policy no longer lists stops blocking.
	rejected, _, err := Decide(two, &p, approverB, ApprovalRequest{Channel: ChannelProd, TargetEnvironment: "eu-1", Decision: DecisionRejected}, "c", soaked)
	if err != nil {
		t.Fatal(err)
	}
	wantReasons(t, checkApprovals(&rejected, p.Channel(ChannelProd), prodAdmin, req), -1, "frank rejected")
	for _, r := range checkApprovals(&rejected, adminsOnly, prodAdmin, req) {
		if strings.Contains(r, "rejected") {
			t.Errorf("a rejection by a role no longer among approverRoles still blocks: %q", r)
		}
	}
}
