package model

import (
	"fmt"
	"strings"
	"time"
)

// TrustRequirement is the trust a channel requires of an artifact.
type TrustRequirement string

const (
	TrustAllowUnverified TrustRequirement = "ALLOW_UNVERIFIED"
	TrustRequireVerified TrustRequirement = "VERIFIED"
)

// Valid reports whether t is a known requirement.
func (t TrustRequirement) Valid() bool { return t == TrustAllowUnverified || t == TrustRequireVerified }

// ChannelPolicy is the promotion policy of one channel.
type ChannelPolicy struct {
	Channel          Channel
	RequiredTrust    TrustRequirement
	RequiredChecks   []Check
	PromoterRoles    []Role
	PromoterSubjects []string
	// RequireVerifiedEvidence counts SIGNATURE, ATTESTATION and SOURCE_POLICY only
	// from VERIFIED records (evidence the service verified) in this channel's
	// decisions: its required checks and the trust it requires.
	RequireVerifiedEvidence bool
	// RequiredApprovals distinct subjects holding one of ApproverRoles must approve
	// a promotion here (0: none); with ForbidSelfApproval the registrant's and the
	// promoter's approvals never count. Approvals expire after
	// ApprovalValiditySeconds.
	RequiredApprovals       int
	ApproverRoles           []Role
	ForbidSelfApproval      bool
	ApprovalValiditySeconds int
	// MinSoakSeconds is how long ago the artifact must have been promoted into the
	// previous channel.
	MinSoakSeconds int
	// BreakGlassRoles and BreakGlassSubjects may promote here bypassing approvals,
	// soak, windows and freezes.
	BreakGlassRoles    []Role
	BreakGlassSubjects []string
}

// DefaultRequireVerifiedEvidence is a channel's requireVerifiedEvidence when a
// policy does not set it: true for PROD, false elsewhere.
func DefaultRequireVerifiedEvidence(c Channel) bool { return c == ChannelProd }

// Policy is a project's trust and promotion policy.
type Policy struct {
	Project              string
	AllowedSourceTypes   []SourceType
	AllowedSources       []string
	AllowNonOCI          bool
	NonOCIRuntimeClasses []string
	RequiredChecks       []Check
	StrictProgression    bool
	// Channels holds one entry per channel, in progression order.
	Channels []ChannelPolicy
	// Provenance, when set, is how SLSA provenance evidence decides SOURCE_POLICY.
	Provenance *ProvenancePolicy
	// PromotionWindows are the recurring windows promotions into the channels they
	// list must fall in (a channel no window lists is always open).
	PromotionWindows []PromotionWindow
	// Freeze, when set, stops promotions (freezePromotions / unfreezePromotions).
	Freeze    *Freeze
	Version   int
	UpdatedAt time.Time
	UpdatedBy string
	// RevokedKeys holds the ids of the project's revoked trusted keys when the
	// policy was read for a decision. It is not part of the stored policy: the
	// service reads the project's keys beside it (WithKeys), because trust derived
	// under the policy gives no weight to evidence resting only on revoked keys.
	RevokedKeys []string
}

// PolicyChange is one entry of a policy's own audit trail.
type PolicyChange struct {
	// Action is ActionPolicy for a new policy version, ActionKeyAdded or
	// ActionKeyRevoked for a trusted key change (which keeps the policy's version:
	// FromVersion == ToVersion).
	Action        string
	Project       string
	Actor         string
	ActorType     ActorType
	FromVersion   int
	ToVersion     int
	CorrelationID string
	At            time.Time
	// KeyID is the trusted key a key change is about.
	KeyID string
	// Reason is the reason given for a key revocation.
	Reason string
}

// DefaultChannelPolicy is the policy of channel c when a project does not set one.
func DefaultChannelPolicy(c Channel) ChannelPolicy {
	cp := ChannelPolicy{
		Channel:                 c,
		RequiredTrust:           TrustRequireVerified,
		RequiredChecks:          []Check{},
		PromoterRoles:           []Role{RolePromoter, RoleProjectAdmin},
		PromoterSubjects:        []string{},
		RequireVerifiedEvidence: DefaultRequireVerifiedEvidence(c),
		ApproverRoles:           append([]Role(nil), DefaultApproverRoles...),
		ForbidSelfApproval:      true,
		ApprovalValiditySeconds: DefaultApprovalValiditySeconds,
		BreakGlassRoles:         []Role{},
		BreakGlassSubjects:      []string{},
	}
	switch c {
	case ChannelDev:
		cp.RequiredTrust = TrustAllowUnverified
	case ChannelProd:
		cp.RequiredChecks = []Check{CheckAttestation}
		cp.PromoterRoles = []Role{RoleProjectAdmin}
	}
	return cp
}

// DefaultPolicy is the effective policy of a project with none stored (version 0).
func DefaultPolicy(project string) Policy {
	p := Policy{
		Project:              project,
		AllowedSourceTypes:   append([]SourceType(nil), AllSourceTypes...),
		AllowedSources:       []string{},
		AllowNonOCI:          false,
		NonOCIRuntimeClasses: []string{},
		RequiredChecks:       []Check{},
		StrictProgression:    true,
		PromotionWindows:     []PromotionWindow{},
	}
	for _, c := range Channels {
		p.Channels = append(p.Channels, DefaultChannelPolicy(c))
	}
	return p
}

// VersionRef returns a new pointer to the policy's version, for the records that
// name the version they were decided under.
func (p *Policy) VersionRef() *int {
	v := p.Version
	return &v
}

// Channel returns the policy of channel c.
func (p *Policy) Channel(c Channel) ChannelPolicy {
	for _, cp := range p.Channels {
		if cp.Channel == c {
			return cp
		}
	}
	return DefaultChannelPolicy(c)
}

// SourceAllowlisted reports whether source starts with one of the allowed prefixes.
func (p *Policy) SourceAllowlisted(source string) bool {
	for _, prefix := range p.AllowedSources {
		if prefix != "" && strings.HasPrefix(source, prefix) {
			return true
		}
	}
	return false
}

// HasPromoterSubject reports whether subject is named in any channel's promoterSubjects.
func (p *Policy) HasPromoterSubject(subject string) bool {
	for _, cp := range p.Channels {
		if contains(cp.PromoterSubjects, subject) {
			return true
		}
	}
	return false
}

// ChannelPolicyInput is a requested channel policy; nil lists mean "none".
type ChannelPolicyInput struct {
	Channel          Channel
	RequiredTrust    TrustRequirement
	RequiredChecks   []Check
	PromoterRoles    []Role
	PromoterSubjects []string
	// RequireVerifiedEvidence nil: DefaultRequireVerifiedEvidence.
	RequireVerifiedEvidence *bool
	// Governance settings; nil: the channel default (0 approvals, approvers
	// DefaultApproverRoles, forbidSelfApproval true, validity
	// DefaultApprovalValiditySeconds, no soak, no break-glass).
	RequiredApprovals       *int
	ApproverRoles           []Role
	ForbidSelfApproval      *bool
	ApprovalValiditySeconds *int
	MinSoakSeconds          *int
	BreakGlassRoles         []Role
	BreakGlassSubjects      []string
}

// PolicyInput is a requested project policy.
type PolicyInput struct {
	AllowedSourceTypes   []SourceType
	AllowedSources       []string
	AllowNonOCI          bool
	NonOCIRuntimeClasses []string
	RequiredChecks       []Check
	StrictProgression    bool
	// Channels left out keep the default policy for that channel.
	Channels []ChannelPolicyInput
	// Provenance, when set, is how SLSA provenance evidence decides SOURCE_POLICY.
	Provenance *ProvenancePolicy
	// PromotionWindows nil: none.
	PromotionWindows []PromotionWindow
	// ExpectedVersion, when set, is the version the change was based on.
	ExpectedVersion *int
}

// Limits on policy input.
const (
	MaxPolicyListLength = 100
	MaxPrefixLength     = 512
)

// NewPolicy validates in and builds the policy it describes (version and audit
// fields unset). Channels left out keep their defaults.
func NewPolicy(project string, in PolicyInput) (Policy, error) {
	if err := ValidateProject(project); err != nil {
		return Policy{}, err
	}
	p := Policy{Project: project, AllowNonOCI: in.AllowNonOCI, StrictProgression: in.StrictProgression}
	var err error
	if p.AllowedSourceTypes, err = uniqueValid("allowedSourceTypes", in.AllowedSourceTypes, SourceType.Valid); err != nil {
		return Policy{}, err
	}
	if len(p.AllowedSourceTypes) == 0 {
		return Policy{}, BadInput("allowedSourceTypes", "must list at least one source type")
	}
	if p.RequiredChecks, err = uniqueValid("requiredChecks", in.RequiredChecks, Check.Valid); err != nil {
		return Policy{}, err
	}
	if p.AllowedSources, err = validStrings("allowedSources", in.AllowedSources, MaxPolicyListLength, ValidateSourcePrefix); err != nil {
		return Policy{}, err
	}
	if p.NonOCIRuntimeClasses, err = validStrings("nonOciRuntimeClasses", in.NonOCIRuntimeClasses, MaxPolicyListLength, ValidateRuntimeClass); err != nil {
		return Policy{}, err
	}
	if in.Provenance != nil {
		pp := ProvenancePolicy{}
		if pp.BuilderIDs, err = validStrings("provenance.builderIds", in.Provenance.BuilderIDs, MaxPolicyListLength, ValidateSourcePrefix); err != nil {
			return Policy{}, err
		}
		if pp.SourceRepositories, err = validStrings("provenance.sourceRepositories", in.Provenance.SourceRepositories, MaxPolicyListLength, ValidateSourcePrefix); err != nil {
			return Policy{}, err
		}
		if len(pp.BuilderIDs) == 0 || len(pp.SourceRepositories) == 0 {
			return Policy{}, BadInput("provenance", "needs at least one builder id and one source repository prefix; leave provenance out to have SLSA provenance decide no SOURCE_POLICY")
		}
		p.Provenance = &pp
	}
	if p.PromotionWindows, err = ValidateWindows("promotionWindows", in.PromotionWindows); err != nil {
		return Policy{}, err
	}
	given := map[Channel]ChannelPolicy{}
	for i, ci := range in.Channels {
		field := fmt.Sprintf("channels[%d]", i)
		if !ci.Channel.Valid() {
			return Policy{}, BadInput(field+".channel", "unknown channel %q", ci.Channel)
		}
		if _, dup := given[ci.Channel]; dup {
			return Policy{}, BadInput(field+".channel", "channel %s is listed more than once", ci.Channel)
		}
		if !ci.RequiredTrust.Valid() {
			return Policy{}, BadInput(field+".requiredTrust", "unknown trust requirement %q", ci.RequiredTrust)
		}
		cp := ChannelPolicy{Channel: ci.Channel, RequiredTrust: ci.RequiredTrust, RequireVerifiedEvidence: DefaultRequireVerifiedEvidence(ci.Channel)}
		if ci.RequireVerifiedEvidence != nil {
			cp.RequireVerifiedEvidence = *ci.RequireVerifiedEvidence
		}
		if cp.RequiredChecks, err = uniqueValid(field+".requiredChecks", ci.RequiredChecks, Check.Valid); err != nil {
			return Policy{}, err
		}
		if cp.PromoterRoles, err = uniqueValid(field+".promoterRoles", ci.PromoterRoles, Role.Valid); err != nil {
			return Policy{}, err
		}
		if cp.PromoterSubjects, err = validStrings(field+".promoterSubjects", ci.PromoterSubjects, MaxPolicyListLength, ValidateSubject); err != nil {
			return Policy{}, err
		}
		if len(cp.PromoterRoles) == 0 && len(cp.PromoterSubjects) == 0 {
			return Policy{}, BadInput(field, "channel %s names no promoter role and no promoter subject, so nobody could promote into it", ci.Channel)
		}
		if err := governanceInput(field, ci, &cp); err != nil {
			return Policy{}, err
		}
		given[ci.Channel] = cp
	}
	for _, c := range Channels {
		if cp, ok := given[c]; ok {
			p.Channels = append(p.Channels, cp)
		} else {
			p.Channels = append(p.Channels, DefaultChannelPolicy(c))
		}
	}
	return p, nil
}

func uniqueValid[T comparable](field string, in []T, valid func(T) bool) ([]T, error) {
	if len(in) > MaxPolicyListLength {
		return nil, BadInput(field, "has %d entries, at most %d allowed", len(in), MaxPolicyListLength)
	}
	out := make([]T, 0, len(in))
	seen := map[T]bool{}
	for _, v := range in {
		if !valid(v) {
			return nil, BadInput(field, "unknown value %v", v)
		}
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out, nil
}

// validStrings checks each of at most max entries of in and returns them without
// duplicates. The bound applies to the list as given, duplicates included, so a
// huge list is refused before any entry is looked at.
func validStrings(field string, in []string, max int, validate func(field, s string) error) ([]string, error) {
	if len(in) > max {
		return nil, BadInput(field, "has %d entries, at most %d allowed", len(in), max)
	}
	out := make([]string, 0, len(in))
	seen := map[string]bool{}
	for i, s := range in {
		if err := validate(fmt.Sprintf("%s[%d]", field, i), s); err != nil {
			return nil, err
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out, nil
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// governanceInput validates the governance settings of ci into cp (defaults for
// those left out).
func governanceInput(field string, ci ChannelPolicyInput, cp *ChannelPolicy) error {
	def := DefaultChannelPolicy(ci.Channel)
	cp.ApproverRoles, cp.ForbidSelfApproval, cp.ApprovalValiditySeconds = def.ApproverRoles, def.ForbidSelfApproval, def.ApprovalValiditySeconds
	if ci.RequiredApprovals != nil {
		if n := *ci.RequiredApprovals; n < 0 || n > MaxRequiredApprovals {
			return BadInput(field+".requiredApprovals", "must be from 0 (none) to %d, not %d", MaxRequiredApprovals, n)
		}
		cp.RequiredApprovals = *ci.RequiredApprovals
	}
	var err error
	if ci.ApproverRoles != nil {
		if cp.ApproverRoles, err = uniqueValid(field+".approverRoles", ci.ApproverRoles, Role.Valid); err != nil {
			return err
		}
		if len(cp.ApproverRoles) == 0 {
			return BadInput(field+".approverRoles", "must name at least one role (leave it out for the default, %s)", joinList(DefaultApproverRoles))
		}
	}
	if ci.ForbidSelfApproval != nil {
		cp.ForbidSelfApproval = *ci.ForbidSelfApproval
	}
	if ci.ApprovalValiditySeconds != nil {
		if n := *ci.ApprovalValiditySeconds; n < MinApprovalValiditySeconds || n > MaxApprovalValiditySeconds {
			return BadInput(field+".approvalValiditySeconds", "must be from %d (a minute) to %d (90 days) seconds, not %d", MinApprovalValiditySeconds, MaxApprovalValiditySeconds, n)
		}
		cp.ApprovalValiditySeconds = *ci.ApprovalValiditySeconds
	}
	if ci.MinSoakSeconds != nil {
		if n := *ci.MinSoakSeconds; n < 0 || n > MaxSoakSeconds {
			return BadInput(field+".minSoakSeconds", "must be from 0 (none) to %d (90 days) seconds, not %d", MaxSoakSeconds, n)
		}
		if ci.Channel == ChannelDev && *ci.MinSoakSeconds > 0 {
			return BadInput(field+".minSoakSeconds", "DEV has no channel before it to soak in; leave minSoakSeconds at 0 there")
		}
		cp.MinSoakSeconds = *ci.MinSoakSeconds
	}
	if cp.BreakGlassRoles, err = uniqueValid(field+".breakGlassRoles", ci.BreakGlassRoles, Role.Valid); err != nil {
		return err
	}
	if cp.BreakGlassSubjects, err = validStrings(field+".breakGlassSubjects", ci.BreakGlassSubjects, MaxPolicyListLength, ValidateSubject); err != nil {
		return err
	}
	return nil
}
