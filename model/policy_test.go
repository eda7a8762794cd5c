package model

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestDefaultPolicyMatchesDomainRules(t *testing.T) {
	p := DefaultPolicy(testProject)
	want := Policy{
		Project:              testProject,
		AllowedSourceTypes:   []SourceType{SourceOCIRegistry, SourceObjectStore, SourceHTTPS},
		AllowedSources:       []string{},
		AllowNonOCI:          false,
		NonOCIRuntimeClasses: []string{},
		RequiredChecks:       []Check{},
		StrictProgression:    true,
		Channels: []ChannelPolicy{
			{Channel: ChannelDev, RequiredTrust: TrustAllowUnverified, RequiredChecks: []Check{},
				PromoterRoles: []Role{RolePromoter, RoleProjectAdmin}, PromoterSubjects: []string{},
				ApproverRoles: []Role{RoleProjectAdmin}, ForbidSelfApproval: true, ApprovalValiditySeconds: DefaultApprovalValiditySeconds, BreakGlassRoles: []Role{}, BreakGlassSubjects: []string{}},
			{Channel: ChannelTest, RequiredTrust: TrustRequireVerified, RequiredChecks: []Check{},
				PromoterRoles: []Role{RolePromoter, RoleProjectAdmin}, PromoterSubjects: []string{},
				ApproverRoles: []Role{RoleProjectAdmin}, ForbidSelfApproval: true, ApprovalValiditySeconds: DefaultApprovalValiditySeconds, BreakGlassRoles: []Role{}, BreakGlassSubjects: []string{}},
			{Channel: ChannelStaging, RequiredTrust: TrustRequireVerified, RequiredChecks: []Check{},
				PromoterRoles: []Role{RolePromoter, RoleProjectAdmin}, PromoterSubjects: []string{},
				ApproverRoles: []Role{RoleProjectAdmin}, ForbidSelfApproval: true, ApprovalValiditySeconds: DefaultApprovalValiditySeconds, BreakGlassRoles: []Role{}, BreakGlassSubjects: []string{}},
			{Channel: ChannelProd, RequiredTrust: TrustRequireVerified, RequiredChecks: []Check{CheckAttestation},
				PromoterRoles: []Role{RoleProjectAdmin}, PromoterSubjects: []string{}, RequireVerifiedEvidence: true,
				ApproverRoles: []Role{RoleProjectAdmin}, ForbidSelfApproval: true, ApprovalValiditySeconds: DefaultApprovalValiditySeconds, BreakGlassRoles: []Role{}, BreakGlassSubjects: []string{}},
		},
		PromotionWindows: []PromotionWindow{},
		Version:          0,
	}
	// Field by field, so a failure says which rule drifted.
	checks := []struct {
		field     string
		got, want any
	}{
		{"Project", p.Project, want.Project},
		{"AllowedSourceTypes (all)", p.AllowedSourceTypes, want.AllowedSourceTypes},
		{"AllowedSources (none)", p.AllowedSources, want.AllowedSources},
		{"AllowNonOCI (false)", p.AllowNonOCI, want.AllowNonOCI},
		{"NonOCIRuntimeClasses (none)", p.NonOCIRuntimeClasses, want.NonOCIRuntimeClasses},
		{"RequiredChecks (none)", p.RequiredChecks, want.RequiredChecks},
		{"StrictProgression (true)", p.StrictProgression, want.StrictProgression},
		{"Version (0)", p.Version, want.Version},
		{"UpdatedBy (unset)", p.UpdatedBy, ""},
		{"UpdatedAt (unset)", p.UpdatedAt.IsZero(), true},
		{"number of channels", len(p.Channels), 4},
	}
	for i, c := range want.Channels {
		if i >= len(p.Channels) {
			break
		}
		g := p.Channels[i]
		checks = append(checks,
			struct {
				field     string
				got, want any
			}{fmt.Sprintf("Channels[%d].Channel", i), g.Channel, c.Channel},
			struct {
				field     string
				got, want any
			}{string(c.Channel) + ".RequiredTrust", g.RequiredTrust, c.RequiredTrust},
			struct {
				field     string
				got, want any
			}{string(c.Channel) + ".RequiredChecks", g.RequiredChecks, c.RequiredChecks},
			struct {
				field     string
				got, want any
			}{string(c.Channel) + ".PromoterRoles", g.PromoterRoles, c.PromoterRoles},
			struct {
				field     string
				got, want any
			}{string(c.Channel) + ".PromoterSubjects", g.PromoterSubjects, c.PromoterSubjects},
		)
		if !reflect.DeepEqual(DefaultChannelPolicy(c.Channel), c) {
			t.Errorf("DefaultChannelPolicy(%s) = %+v, want %+v", c.Channel, DefaultChannelPolicy(c.Channel), c)
		}
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.field, c.got, c.want)
		}
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("DefaultPolicy =\n%+v\nwant\n%+v", p, want)
	}
}

func TestDefaultPolicyReturnsIndependentCopies(t *testing.T) {
	p := DefaultPolicy(testProject)
	p.AllowedSourceTypes[0] = "CHANGED"
	p.Channels[0].PromoterRoles[0] = RoleViewer
	q := DefaultPolicy(testProject)
	if AllSourceTypes[0] != SourceOCIRegistry || q.AllowedSourceTypes[0] != SourceOCIRegistry {
		t.Error("DefaultPolicy shares AllowedSourceTypes with AllSourceTypes")
	}
	if q.Channels[0].PromoterRoles[0] != RolePromoter {
		t.Error("DefaultPolicy shares channel promoter roles between calls")
	}
}

func goodPolicyInput() PolicyInput {
	return PolicyInput{
		AllowedSourceTypes: []SourceType{SourceOCIRegistry},
		AllowedSources:     []string{"registry.example.com/payments/"},
		StrictProgression:  true,
	}
}

func TestNewPolicyBuildsThePolicyAndKeepsDefaultsForChannelsLeftOut(t *testing.T) {
	in := PolicyInput{
		AllowedSourceTypes:   []SourceType{SourceOCIRegistry, SourceHTTPS, SourceOCIRegistry},
		AllowedSources:       []string{"registry.example.com/", "https://dl.example.com/", "registry.example.com/"},
		AllowNonOCI:          true,
		NonOCIRuntimeClasses: []string{"wasm", "gvisor"},
		RequiredChecks:       []Check{CheckSignature, CheckSignature, CheckBlobDigest},
		StrictProgression:    false,
		Channels: []ChannelPolicyInput{
			{Channel: ChannelProd, RequiredTrust: TrustRequireVerified, RequiredChecks: []Check{CheckAttestation, CheckSignature},
				PromoterRoles: []Role{RoleProjectAdmin}, PromoterSubjects: []string{"ci-release"}},
			{Channel: ChannelTest, RequiredTrust: TrustAllowUnverified, PromoterSubjects: []string{"qa-bot"}},
		},
	}
	p, err := NewPolicy(testProject, in)
	if err != nil {
		t.Fatal(err)
	}
	want := Policy{
		Project:              testProject,
		AllowedSourceTypes:   []SourceType{SourceOCIRegistry, SourceHTTPS},
		AllowedSources:       []string{"registry.example.com/", "https://dl.example.com/"},
		AllowNonOCI:          true,
		NonOCIRuntimeClasses: []string{"wasm", "gvisor"},
		RequiredChecks:       []Check{CheckSignature, CheckBlobDigest},
		StrictProgression:    false,
		Channels: []ChannelPolicy{
			DefaultChannelPolicy(ChannelDev),
			{Channel: ChannelTest, RequiredTrust: TrustAllowUnverified, RequiredChecks: []Check{}, PromoterRoles: []Role{}, PromoterSubjects: []string{"qa-bot"},
				ApproverRoles: []Role{RoleProjectAdmin}, ForbidSelfApproval: true, ApprovalValiditySeconds: DefaultApprovalValiditySeconds, BreakGlassRoles: []Role{}, BreakGlassSubjects: []string{}},
			DefaultChannelPolicy(ChannelStaging),
			{Channel: ChannelProd, RequiredTrust: TrustRequireVerified, RequiredChecks: []Check{CheckAttestation, CheckSignature},
				PromoterRoles: []Role{RoleProjectAdmin}, PromoterSubjects: []string{"ci-release"}, RequireVerifiedEvidence: true,
				ApproverRoles: []Role{RoleProjectAdmin}, ForbidSelfApproval: true, ApprovalValiditySeconds: DefaultApprovalValiditySeconds, BreakGlassRoles: []Role{}, BreakGlassSubjects: []string{}},
		},
		PromotionWindows: []PromotionWindow{},
	}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("NewPolicy =\n%+v\nwant\n%+v", p, want)
	}
	if !p.HasPromoterSubject("ci-release") || !p.HasPromoterSubject("qa-bot") || p.HasPromoterSubject("bob") {
		t.Error("HasPromoterSubject wrong")
	}
	if got := p.Channel(ChannelStaging); !reflect.DeepEqual(got, DefaultChannelPolicy(ChannelStaging)) {
		t.Errorf("Channel(STAGING) = %+v", got)
	}

	// No channels at all: every channel keeps its default.
	q, err := NewPolicy(testProject, goodPolicyInput())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(q.Channels, DefaultPolicy(testProject).Channels) {
		t.Errorf("channels = %+v, want defaults", q.Channels)
	}
}

func TestNewPolicyAcceptsExactly100Entries(t *testing.T) {
	prefixes := make([]string, MaxPolicyListLength)
	subjects := make([]string, MaxPolicyListLength)
	for i := range prefixes {
		prefixes[i] = fmt.Sprintf("registry.example.com/p%d/", i)
		subjects[i] = fmt.Sprintf("sa-%d", i)
	}
	in := goodPolicyInput()
	in.AllowedSources = prefixes
	in.Channels = []ChannelPolicyInput{{Channel: ChannelDev, RequiredTrust: TrustAllowUnverified, PromoterSubjects: subjects}}
	p, err := NewPolicy(testProject, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.AllowedSources) != 100 || len(p.Channels[0].PromoterSubjects) != 100 {
		t.Errorf("lengths %d %d", len(p.AllowedSources), len(p.Channels[0].PromoterSubjects))
	}
}

func TestNewPolicyRefusesBadInputNamingTheField(t *testing.T) {
	n101 := func(f func(i int) string) []string {
		out := make([]string, MaxPolicyListLength+1)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	manyTypes := make([]SourceType, MaxPolicyListLength+1)
	for i := range manyTypes {
		manyTypes[i] = SourceOCIRegistry
	}
	manyChecks := make([]Check, MaxPolicyListLength+1)
	for i := range manyChecks {
		manyChecks[i] = CheckSignature
	}
	manyRoles := make([]Role, MaxPolicyListLength+1)
	for i := range manyRoles {
		manyRoles[i] = RolePromoter
	}
	mod := func(f func(in *PolicyInput)) PolicyInput {
		in := goodPolicyInput()
		f(&in)
		return in
	}
	ch := func(c ChannelPolicyInput) func(in *PolicyInput) {
		return func(in *PolicyInput) { in.Channels = []ChannelPolicyInput{c} }
	}
	dev := ChannelPolicyInput{Channel: ChannelDev, RequiredTrust: TrustAllowUnverified, PromoterRoles: []Role{RolePromoter}}
	tests := []struct {
		name    string
		project string
		in      PolicyInput
		field   string
		msg     string
	}{
		{"bad project", "no spaces", goodPolicyInput(), "project", "may only contain"},
		{"empty project", "", goodPolicyInput(), "project", "must not be empty"},
		{"no source types", testProject, mod(func(in *PolicyInput) { in.AllowedSourceTypes = nil }), "allowedSourceTypes", "at least one"},
		{"unknown source type", testProject, mod(func(in *PolicyInput) { in.AllowedSourceTypes = []SourceType{"FTP"} }), "allowedSourceTypes", "unknown value FTP"},
		{"101 source types", testProject, mod(func(in *PolicyInput) { in.AllowedSourceTypes = manyTypes }), "allowedSourceTypes", "has 101 entries, at most 100"},
		{"unknown required check", testProject, mod(func(in *PolicyInput) { in.RequiredChecks = []Check{"SBOM"} }), "requiredChecks", "unknown value SBOM"},
		{"101 required checks", testProject, mod(func(in *PolicyInput) { in.RequiredChecks = manyChecks }), "requiredChecks", "has 101 entries"},
		{"empty prefix", testProject, mod(func(in *PolicyInput) { in.AllowedSources = []string{"registry.example.com/", ""} }), "allowedSources[1]", "must not be empty"},
		{"prefix with space", testProject, mod(func(in *PolicyInput) { in.AllowedSources = []string{"registry example"} }), "allowedSources[0]", "white-space"},
		{"prefix too long", testProject, mod(func(in *PolicyInput) { in.AllowedSources = []string{strings.Repeat("a", MaxPrefixLength+1)} }), "allowedSources[0]", "at most 512"},
		{"101 prefixes", testProject, mod(func(in *PolicyInput) { in.AllowedSources = n101(func(i int) string { return fmt.Sprint("p", i) }) }), "allowedSources", "has 101 entries"},
		{"bad runtime class", testProject, mod(func(in *PolicyInput) { in.NonOCIRuntimeClasses = []string{"Wasm"} }), "nonOciRuntimeClasses[0]", "may only contain"},
		{"101 runtime classes", testProject, mod(func(in *PolicyInput) {
			in.NonOCIRuntimeClasses = n101(func(i int) string { return fmt.Sprint("rc", i) })
		}), "nonOciRuntimeClasses", "has 101 entries"},
		{"unknown channel", testProject, mod(ch(ChannelPolicyInput{Channel: "QA", RequiredTrust: TrustAllowUnverified, PromoterRoles: []Role{RolePromoter}})), "channels[0].channel", `unknown channel "QA"`},
		{"duplicate channel", testProject, mod(func(in *PolicyInput) { in.Channels = []ChannelPolicyInput{dev, dev} }), "channels[1].channel", "channel DEV is listed more than once"},
		{"unknown trust requirement", testProject, mod(ch(ChannelPolicyInput{Channel: ChannelDev, RequiredTrust: "TRUSTED", PromoterRoles: []Role{RolePromoter}})), "channels[0].requiredTrust", `unknown trust requirement "TRUSTED"`},
		{"empty trust requirement", testProject, mod(ch(ChannelPolicyInput{Channel: ChannelDev, PromoterRoles: []Role{RolePromoter}})), "channels[0].requiredTrust", "unknown trust requirement"},
		{"bad channel check", testProject, mod(ch(ChannelPolicyInput{Channel: ChannelDev, RequiredTrust: TrustAllowUnverified, RequiredChecks: []Check{"X"}, PromoterRoles: []Role{RolePromoter}})), "channels[0].requiredChecks", "unknown value X"},
		{"101 channel checks", testProject, mod(ch(ChannelPolicyInput{Channel: ChannelDev, RequiredTrust: TrustAllowUnverified, RequiredChecks: manyChecks, PromoterRoles: []Role{RolePromoter}})), "channels[0].requiredChecks", "has 101 entries"},
		{"bad role", testProject, mod(ch(ChannelPolicyInput{Channel: ChannelDev, RequiredTrust: TrustAllowUnverified, PromoterRoles: []Role{"OWNER"}})), "channels[0].promoterRoles", "unknown value OWNER"},
		{"lowercase role", testProject, mod(ch(ChannelPolicyInput{Channel: ChannelDev, RequiredTrust: TrustAllowUnverified, PromoterRoles: []Role{"promoter"}})), "channels[0].promoterRoles", "unknown value promoter"},
		{"101 roles", testProject, mod(ch(ChannelPolicyInput{Channel: ChannelDev, RequiredTrust: TrustAllowUnverified, PromoterRoles: manyRoles})), "channels[0].promoterRoles", "has 101 entries"},
		{"bad subject", testProject, mod(ch(ChannelPolicyInput{Channel: ChannelDev, RequiredTrust: TrustAllowUnverified, PromoterSubjects: []string{"ci\trelease"}})), "channels[0].promoterSubjects[0]", "white-space"},
		{"empty subject", testProject, mod(ch(ChannelPolicyInput{Channel: ChannelDev, RequiredTrust: TrustAllowUnverified, PromoterSubjects: []string{""}})), "channels[0].promoterSubjects[0]", "must not be empty"},
		{"101 subjects", testProject, mod(ch(ChannelPolicyInput{Channel: ChannelDev, RequiredTrust: TrustAllowUnverified, PromoterSubjects: n101(func(i int) string { return fmt.Sprint("s", i) })})), "channels[0].promoterSubjects", "has 101 entries"},
		{"channel with no promoters", testProject, mod(ch(ChannelPolicyInput{Channel: ChannelProd, RequiredTrust: TrustRequireVerified})), "channels[0]", "channel PROD names no promoter role and no promoter subject"},
		{"second channel with empty promoter lists", testProject, mod(func(in *PolicyInput) {
			in.Channels = []ChannelPolicyInput{dev, {Channel: ChannelTest, RequiredTrust: TrustRequireVerified, PromoterRoles: []Role{}, PromoterSubjects: []string{}}}
		}), "channels[1]", "nobody could promote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPolicy(tt.project, tt.in)
			wantBadInput(t, err, tt.field, tt.msg)
			if !reflect.DeepEqual(p, Policy{}) {
				t.Errorf("refused policy returned a partial value %+v", p)
			}
		})
	}
}

func TestPolicyChannelFallsBackToDefaultAndSourceAllowlisted(t *testing.T) {
	p := Policy{Project: testProject}
	for _, c := range Channels {
		if !reflect.DeepEqual(p.Channel(c), DefaultChannelPolicy(c)) {
			t.Errorf("Channel(%s) on an empty policy is not the default", c)
		}
	}
	p.AllowedSources = []string{"", "ghcr.io/acme/"}
	tests := []struct {
		src  string
		want bool
	}{
		{"ghcr.io/acme/app", true},
		{"ghcr.io/acme/", true},
		{"ghcr.io/acm", false},
		{"ghcr.io/other/app", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := p.SourceAllowlisted(tt.src); got != tt.want {
			t.Errorf("SourceAllowlisted(%q) = %v, want %v", tt.src, got, tt.want)
		}
	}
	if !TrustAllowUnverified.Valid() || !TrustRequireVerified.Valid() || TrustRequirement("X").Valid() {
		t.Error("TrustRequirement.Valid wrong")
	}
}
