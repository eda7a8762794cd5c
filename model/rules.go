package model

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// RegisterInput is a request to register an artifact.
type RegisterInput struct {
	Project      string
	Digest       string
	Kind         ArtifactKind
	SourceType   SourceType
	Source       string
	RuntimeClass string
	Tags         []string
}

// Validate checks every field and returns the input with the digest canonical and
// duplicate tags removed.
func (in RegisterInput) Validate() (RegisterInput, error) {
	if err := ValidateProject(in.Project); err != nil {
		return in, err
	}
	d, err := ParseDigest(in.Digest)
	if err != nil {
		return in, err
	}
	in.Digest = d
	if err := CheckKindSource(in.Kind, in.SourceType); err != nil {
		return in, err
	}
	if err := ValidateSource(in.Source); err != nil {
		return in, err
	}
	if in.RuntimeClass != "" {
		if err := ValidateRuntimeClass("runtimeClass", in.RuntimeClass); err != nil {
			return in, err
		}
	}
	if in.Tags, err = validStrings("tags", in.Tags, MaxTags, ValidateTag); err != nil {
		return in, err
	}
	return in, nil
}

// CheckRegistration applies the policy's registration rules: allowed source types and
// whether non-OCI artifacts are allowed for the project or the runtime class.
func CheckRegistration(p *Policy, in RegisterInput) error {
	var reasons, classes []string
	if !contains(p.AllowedSourceTypes, in.SourceType) {
		classes = append(classes, DenySourceType)
		reasons = append(reasons, fmt.Sprintf("source type %s is not allowed in project %s (allowed: %s)", in.SourceType, p.Project, joinList(p.AllowedSourceTypes)))
	}
	if !in.Kind.IsOCI() {
		before := len(reasons)
		switch {
		case !p.AllowNonOCI:
			reasons = append(reasons, fmt.Sprintf("non-OCI artifacts (%s) are not allowed in project %s; a project admin can set allowNonOci in the project policy", in.Kind, p.Project))
		case len(p.NonOCIRuntimeClasses) > 0 && in.RuntimeClass == "":
			reasons = append(reasons, fmt.Sprintf("non-OCI artifacts in project %s need a runtime class, one of: %s", p.Project, strings.Join(p.NonOCIRuntimeClasses, ", ")))
		case len(p.NonOCIRuntimeClasses) > 0 && !contains(p.NonOCIRuntimeClasses, in.RuntimeClass):
			reasons = append(reasons, fmt.Sprintf("non-OCI artifacts are not allowed for runtime class %s in project %s (allowed: %s)", in.RuntimeClass, p.Project, strings.Join(p.NonOCIRuntimeClasses, ", ")))
		}
		if len(reasons) > before {
			classes = append(classes, DenyNonOCI)
		}
	}
	if len(reasons) > 0 {
		return DeniedFor(reasons, classes)
	}
	return nil
}

// NewArtifact builds a freshly registered artifact (version 1) with its register event.
func NewArtifact(in RegisterInput, actor Actor, correlationID string, now time.Time) Artifact {
	tags := in.Tags
	if tags == nil {
		tags = []string{}
	}
	a := Artifact{
		ID:             ArtifactID(in.Project, in.Digest),
		Project:        in.Project,
		Digest:         in.Digest,
		Kind:           in.Kind,
		SourceType:     in.SourceType,
		Source:         in.Source,
		RuntimeClass:   in.RuntimeClass,
		Tags:           tags,
		LifecycleState: LifecyclePublished,
		TrustState:     TrustUnverified,
		Verification:   []VerificationRecord{},
		Promotions:     []Promotion{},
		RegisteredBy:   actor.Subject,
		Version:        1,
		CreatedAt:      now,
		UpdatedAt:      now,
	}
	ev := a.Event(ActionRegister, actor, correlationID, "", now)
	ev.ToState = string(LifecyclePublished)
	a.Audit = []AuditEvent{ev}
	return a
}

// RegistrationDiff lists the fields (kind, sourceType, source) in which a retry of in
// differs from a; a retry with none is the same registration and returns a unchanged.
// Tags and runtime class are not compared: they do not identify the artifact.
func (a *Artifact) RegistrationDiff(in RegisterInput) []string {
	var diff []string
	if a.Kind != in.Kind {
		diff = append(diff, fmt.Sprintf("kind %s (registered %s)", in.Kind, a.Kind))
	}
	if a.SourceType != in.SourceType {
		diff = append(diff, fmt.Sprintf("sourceType %s (registered %s)", in.SourceType, a.SourceType))
	}
	if a.Source != in.Source {
		diff = append(diff, fmt.Sprintf("source %s (registered %s)", truncate(in.Source, 200), truncate(a.Source, 200)))
	}
	return diff
}

// VerifyInput is one verification request.
type VerifyInput struct {
	Results []VerificationRecord
	Reason  string
}

// ValidateResults checks submitted results: only reserved trust inputs, each once.
func ValidateResults(results []VerificationRecord) error {
	seen := map[Check]bool{}
	for i, r := range results {
		field := fmt.Sprintf("results[%d]", i)
		if !r.Check.Valid() {
			return BadInput(field+".check", "unknown check %q", r.Check)
		}
		if r.Check.IsBaseline() {
			return BadInput(field+".check", "%s is a baseline check the service runs itself; submit only %s", r.Check, joinList(ReservedChecks))
		}
		if !r.Result.Valid() {
			return BadInput(field+".result", "unknown result %q", r.Result)
		}
		if seen[r.Check] {
			return BadInput(field+".check", "%s is submitted more than once", r.Check)
		}
		seen[r.Check] = true
		if err := ValidateDetail(field+".detail", r.Detail); err != nil {
			return err
		}
	}
	return nil
}

// BaselineResults runs the four baseline checks (five records) on a under policy p.
func BaselineResults(a *Artifact, p *Policy, by string, at time.Time) []VerificationRecord {
	rec := func(c Check, ok bool, pass, fail string) VerificationRecord {
		r := VerificationRecord{Check: c, Result: ResultPassed, Detail: pass, RecordedBy: by, RecordedAt: at, PolicyVersion: p.VersionRef(), Basis: BasisVerified}
		if !ok {
			r.Result, r.Detail = ResultFailed, fail
		}
		return r
	}
	_, digestErr := ParseDigest(a.Digest)
	return []VerificationRecord{
		rec(CheckDigestPresent, a.Digest != "", "immutable digest present", "no digest recorded"),
		rec(CheckDigestCanonical, digestErr == nil, "digest is canonical", fmt.Sprint("digest is not canonical: ", digestErr)),
		rec(CheckKindExplicit, a.Kind.Valid(), "kind "+string(a.Kind), "artifact kind is missing or unknown"),
		rec(CheckSourceTypeExplicit, CheckKindSource(a.Kind, a.SourceType) == nil, "source type "+string(a.SourceType), "source type is missing, unknown or does not fit the kind"),
		rec(CheckSourceAllowlisted, p.SourceAllowlisted(a.Source), "source matches an allowed prefix of the project policy",
			"source "+truncate(a.Source, 200)+" matches no allowedSources prefix of project "+p.Project),
	}
}

// MergeVerification replaces each check's record with the newer one in updates.
func MergeVerification(current, updates []VerificationRecord) []VerificationRecord {
	out := append([]VerificationRecord(nil), current...)
	for _, u := range updates {
		replaced := false
		for i := range out {
			if out[i].Check == u.Check {
				out[i], replaced = u, true
				break
			}
		}
		if !replaced {
			out = append(out, u)
		}
	}
	return out
}

// TrustFromRecords derives the trust state from recorded checks under policy p:
// any FAILED -> FAILED_VERIFICATION; every baseline and required check PASSED ->
// VERIFIED; otherwise UNVERIFIED.
func TrustFromRecords(records []VerificationRecord, p *Policy) TrustState {
	a := Artifact{Verification: records}
	for _, r := range records {
		if r.Result == ResultFailed {
			return TrustFailedVerification
		}
	}
	for _, c := range BaselineChecks {
		if !a.Passed(c) {
			return TrustUnverified
		}
	}
	for _, c := range p.RequiredChecks {
		if !a.Passed(c) {
			return TrustUnverified
		}
	}
	return TrustVerified
}

// Verify applies a verification to a: baseline checks run now, submitted results
// merged, trust derived. It returns the changed artifact (version not bumped) and
// appends the verify event.
func Verify(a Artifact, p *Policy, submitted []VerificationRecord, actor Actor, correlationID, reason string, now time.Time) (Artifact, error) {
	if a.TrustState == TrustRevoked {
		return a, Errorf(KindInvalidTransition, "artifact %s is REVOKED; a revoked artifact cannot be verified again", a.ID)
	}
	if err := ValidateResults(submitted); err != nil {
		return a, err
	}
	stamped := make([]VerificationRecord, 0, len(submitted))
	for _, r := range submitted {
		r.RecordedBy, r.RecordedAt, r.PolicyVersion = actor.Subject, now, p.VersionRef()
		r.Basis, r.EvidenceID = BasisClaimed, ""
		stamped = append(stamped, r)
	}
	updates := append(BaselineResults(&a, p, actor.Subject, now), stamped...)
	from, key := a.TrustState, a.TrustKey()
	a.Verification = MergeVerification(a.Verification, updates)
	// Records resting only on revoked keys count as no result (trust.go).
	a.Verification, _, _ = DeriveRecords(&a, p, actor.Subject, now)
	a.TrustState = TrustFromRecords(a.Verification, p)
	a.noteTrustChange(key)
	ev := a.Event(ActionVerify, actor, correlationID, reason, now)
	ev.FromState, ev.ToState = string(from), string(a.TrustState)
	ev.Verification = updates
	ev.PolicyVersion = p.VersionRef()
	a.Audit = append(append([]AuditEvent(nil), a.Audit...), ev)
	a.UpdatedAt = now
	return a, nil
}

// Revoke moves trust to REVOKED (terminal). A reason is required.
func Revoke(a Artifact, actor Actor, correlationID, reason string, now time.Time) (Artifact, error) {
	if strings.TrimSpace(reason) == "" {
		return a, BadInput("reason", "is required to revoke an artifact")
	}
	if a.TrustState == TrustRevoked {
		return a, Errorf(KindInvalidTransition, "artifact %s is already REVOKED", a.ID)
	}
	ev := a.Event(ActionRevoke, actor, correlationID, reason, now)
	ev.FromState, ev.ToState = string(a.TrustState), string(TrustRevoked)
	a.TrustState = TrustRevoked
	a.TrustEpoch++
	a.Audit = append(append([]AuditEvent(nil), a.Audit...), ev)
	a.UpdatedAt = now
	return a, nil
}

// Deprecate moves PUBLISHED or PROMOTED to DEPRECATED.
func Deprecate(a Artifact, actor Actor, correlationID, reason string, now time.Time) (Artifact, error) {
	if a.LifecycleState != LifecyclePublished && a.LifecycleState != LifecyclePromoted {
		return a, Errorf(KindInvalidTransition, "artifact %s is %s; only PUBLISHED or PROMOTED artifacts can be deprecated", a.ID, a.LifecycleState)
	}
	return lifecycleTo(a, ActionDeprecate, LifecycleDeprecated, actor, correlationID, reason, now), nil
}

// Retire moves PUBLISHED, PROMOTED or DEPRECATED to RETIRED (terminal).
func Retire(a Artifact, actor Actor, correlationID, reason string, now time.Time) (Artifact, error) {
	if a.LifecycleState == LifecycleRetired {
		return a, Errorf(KindInvalidTransition, "artifact %s is already RETIRED", a.ID)
	}
	return lifecycleTo(a, ActionRetire, LifecycleRetired, actor, correlationID, reason, now), nil
}

func lifecycleTo(a Artifact, action string, to LifecycleState, actor Actor, correlationID, reason string, now time.Time) Artifact {
	ev := a.Event(action, actor, correlationID, reason, now)
	ev.FromState, ev.ToState = string(a.LifecycleState), string(to)
	a.LifecycleState = to
	a.Audit = append(append([]AuditEvent(nil), a.Audit...), ev)
	a.UpdatedAt = now
	return a
}

// PromotionRequest is a request to promote an artifact.
type PromotionRequest struct {
	Channel           Channel
	TargetEnvironment string
	Reason            string
	// BreakGlass, when set, asks to bypass approvals, soak, windows and freezes.
	BreakGlass *BreakGlass
	// At is when the promotion is decided (the time-based rules read it); Promote
	// sets it to its now when zero.
	At time.Time
}

// Validate checks the request's fields.
func (r PromotionRequest) Validate() error {
	if !r.Channel.Valid() {
		return BadInput("channel", "unknown channel %q", r.Channel)
	}
	if r.TargetEnvironment != "" {
		if err := ValidateEnvironment(r.TargetEnvironment); err != nil {
			return err
		}
	}
	if r.BreakGlass != nil {
		if err := r.BreakGlass.Validate(); err != nil {
			return err
		}
	}
	return ValidateReason(r.Reason)
}

// Classes of policy denial, for metrics and dashboards.
const (
	DenyLifecycle   = "lifecycle"
	DenyTrust       = "trust"
	DenyChecks      = "checks"
	DenyRole        = "role"
	DenyProgression = "progression"
	DenySourceType  = "source_type"
	DenyNonOCI      = "non_oci"
)

// Decision is the outcome of evaluating a promotion.
type Decision struct {
	// Reasons lists every rule that does not hold; empty when allowed.
	Reasons []string
	// Classes holds the class of each reason (Deny* constants), index for index.
	Classes []string
	// LifecycleBlocked is set when the artifact's lifecycle state forbids any
	// promotion (rule 1), which is an INVALID_TRANSITION rather than a denial.
	LifecycleBlocked bool
	// EligibleAt, when set, is when the decision's reasons clear: all of them are
	// time-based (soak, windows, a freeze with an end).
	EligibleAt time.Time
	// BreakGlass is set when a permitted break-glass bypassed the governance rules.
	BreakGlass bool
}

func (d *Decision) deny(class, reason string) {
	d.Reasons = append(d.Reasons, reason)
	d.Classes = append(d.Classes, class)
}

// Allowed reports whether every rule holds.
func (d Decision) Allowed() bool { return len(d.Reasons) == 0 }

// failedDetails names, as " (CHECK: detail; ...)", the checks of failed whose
// stored record is FAILED, with the record's detail; "" when none is stored as
// FAILED (a failure only derived under the current policy is told by the drift).
func (a *Artifact) failedDetails(failed []Check) string {
	var parts []string
	for _, c := range failed {
		r, ok := a.Record(c)
		if !ok || r.Result != ResultFailed {
			continue
		}
		if r.Detail == "" {
			parts = append(parts, string(c))
		} else {
			parts = append(parts, string(c)+": "+r.Detail)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// EvaluatePromotion applies the five promotion rules and returns every reason for
// refusal. It changes nothing.
func EvaluatePromotion(a *Artifact, p *Policy, actor Actor, req PromotionRequest) Decision {
	var d Decision
	cp := p.Channel(req.Channel)
	// Trust and checks as they stand under the current policy and keys.
	stored := a.DeployFacts()
	facts := stored.Derive(p)
	trust := facts.ChannelTrust(p, req.Channel)
	drift := ""
	if why := trustDrift(stored, facts, p); why != "" {
		drift = " (" + why + ")"
	}
	// Rule 1: lifecycle.
	if a.LifecycleState != LifecyclePublished && a.LifecycleState != LifecyclePromoted {
		d.LifecycleBlocked = true
		d.deny(DenyLifecycle, fmt.Sprintf("artifact is %s; only PUBLISHED or PROMOTED artifacts can be promoted", a.LifecycleState))
	}
	// Rule 2: trust.
	switch {
	case facts.Trust == TrustRevoked:
		d.deny(DenyTrust, "artifact is REVOKED and can never be promoted")
	case facts.Trust == TrustFailedVerification:
		d.deny(DenyTrust, "artifact FAILED_VERIFICATION"+a.failedDetails(facts.Failed)+"; fix the failing checks and verify it again before promoting"+drift)
	case cp.RequiredTrust == TrustRequireVerified && facts.Trust == TrustVerified && trust != TrustVerified:
		d.deny(DenyTrust, fmt.Sprintf("channel %s requires verified evidence: the artifact is VERIFIED only by claimed results for %s; submit signed evidence with submitEvidence", req.Channel, joinList(facts.claimedOnly(p.RequiredChecks))))
	case cp.RequiredTrust == TrustRequireVerified && facts.Trust != TrustVerified:
		d.deny(DenyTrust, fmt.Sprintf("channel %s requires a VERIFIED artifact, but it is %s; run verifyArtifact once every required check has passed%s", req.Channel, facts.Trust, drift))
	}
	// Rule 3: channel checks.
	for _, c := range cp.RequiredChecks {
		if !facts.counts(cp, c) {
			state := "has no result"
			r, ok := a.Record(c)
			switch {
			case contains(facts.Failed, c):
				state = "is FAILED"
			case ok && r.Result == ResultPassed && !contains(facts.Passed, c):
				state = "PASSED only on evidence verified by trusted keys revoked since, so it has no valid result"
			case ok && r.Result == ResultPassed:
				state = "PASSED only as a CLAIMED result, and this channel requires verified evidence (submitEvidence)"
			}
			d.deny(DenyChecks, fmt.Sprintf("channel %s requires check %s to have PASSED, but it %s", req.Channel, c, state))
		}
	}
	// Rule 4: who may promote.
	if !actor.HasAnyRole(a.Project, cp.PromoterRoles...) && !contains(cp.PromoterSubjects, actor.Subject) {
		who := "one of the roles " + joinList(cp.PromoterRoles)
		if len(cp.PromoterRoles) == 0 {
			who = "an approved subject"
		}
		d.deny(DenyRole, fmt.Sprintf("%s may not promote into %s in project %s: it needs %s there, or to be listed in the channel's promoterSubjects", actor.Subject, req.Channel, a.Project, who))
	}
	// Rule 5: strict progression.
	if p.StrictProgression {
		if prev, ok := req.Channel.Previous(); ok && !a.PromotedInto(prev) {
			d.deny(DenyProgression, fmt.Sprintf("project %s uses strict progression: promote the artifact into %s before %s", a.Project, prev, req.Channel))
		}
	}
	// Approvals, soak, windows, freezes and break-glass (governance.go).
	d.governance(a, p, actor, req)
	return d
}

// MaxPromotionTargets bounds the distinct (channel, environment) pairs one artifact
// may be promoted into. The newest promotion into each stays with the artifact
// (Artifact.NewestPromotions), so this bounds what every read of it loads.
const MaxPromotionTargets = 256

// Promote evaluates and, when allowed, appends the promotion and its event.
func Promote(a Artifact, p *Policy, actor Actor, req PromotionRequest, correlationID string, now time.Time) (Artifact, error) {
	if err := req.Validate(); err != nil {
		return a, err
	}
	if targets := a.NewestPromotions(); len(targets) >= MaxPromotionTargets && !hasTarget(targets, req.Channel, req.TargetEnvironment) {
		return a, BadInput("targetEnvironment", "artifact %s was already promoted into %d channel and environment pairs, the most one artifact may have; promote it into one of those", a.ID, len(targets))
	}
	if req.At.IsZero() {
		req.At = now
	}
	d := EvaluatePromotion(&a, p, actor, req)
	if d.LifecycleBlocked {
		return a, &Error{Kind: KindInvalidTransition, Message: d.Reasons[0], Reasons: d.Reasons, Classes: d.Classes}
	}
	if !d.Allowed() {
		return a, DeniedFor(d.Reasons, d.Classes)
	}
	a.Promotions = append(append([]Promotion(nil), a.Promotions...), Promotion{
		Channel: req.Channel, TargetEnvironment: req.TargetEnvironment,
		PromotedBy: actor.Subject, PromotedAt: now, Reason: req.Reason, CorrelationID: correlationID,
		PolicyVersion: p.Version,
	})
	ev := a.Event(ActionPromote, actor, correlationID, req.Reason, now)
	ev.PromotionChannel, ev.PromotionEnvironment = req.Channel, req.TargetEnvironment
	ev.PolicyVersion = p.VersionRef()
	if req.BreakGlass != nil {
		pr := &a.Promotions[len(a.Promotions)-1]
		pr.BreakGlass, pr.Justification, pr.Ticket = true, req.BreakGlass.Justification, req.BreakGlass.Ticket
		ev.BreakGlass, ev.Justification, ev.Ticket = true, req.BreakGlass.Justification, req.BreakGlass.Ticket
	}
	if a.LifecycleState == LifecyclePublished {
		ev.FromState, ev.ToState = string(LifecyclePublished), string(LifecyclePromoted)
		a.LifecycleState = LifecyclePromoted
	}
	a.Audit = append(append([]AuditEvent(nil), a.Audit...), ev)
	a.UpdatedAt = now
	return a, nil
}

// Deployable reports whether a may be deployed from channel c now: not revoked,
// not failed, not retired, and still meeting the channel's trust and checks.
func Deployable(a *Artifact, p *Policy, c Channel) bool {
	return a.DeployFacts().Deployable(p, c)
}

// DeployFacts are all that Deployable reads of an artifact. They do not depend on
// any policy, so a read model can keep them beside each promotion and decide, under
// the policy (and key revocations) current at the time of a query, which
// promotions can be skipped without loading their artifacts. Decisions read them
// through Derive.
type DeployFacts struct {
	// Trust is the stored trust state.
	Trust   TrustState
	Retired bool
	// Passed lists the checks whose latest record is PASSED.
	Passed []Check
	// Verified lists the evidence checks (EvidenceChecks) whose latest record is
	// PASSED with basis VERIFIED.
	Verified []Check
	// VerifiedKeys[i] lists the ids of the trusted keys that verified the evidence
	// behind Verified[i].
	VerifiedKeys [][]string
	// Failed lists the checks whose latest record is FAILED.
	Failed []Check
	// Source is the artifact's source (SOURCE_ALLOWLISTED is run again on it).
	Source string
	// SourceIsPrefix: the facts summarize several artifacts, and Source is only the
	// common prefix of their sources (Derive then takes SOURCE_ALLOWLISTED as
	// passing when some source with that prefix could be allowlisted).
	SourceIsPrefix bool
	// Provenance, when the latest SOURCE_POLICY record was decided from SLSA
	// provenance whose signature and subject verified, is what the provenance
	// rules judged, and ProvenanceKeys the ids of the keys that verified it:
	// Derive decides SOURCE_POLICY again from them under the current rules.
	Provenance     *ProvenanceFacts
	ProvenanceKeys []string
}

// DeployFacts returns a's DeployFacts.
func (a *Artifact) DeployFacts() DeployFacts {
	f := DeployFacts{Trust: a.TrustState, Retired: a.LifecycleState == LifecycleRetired, Source: a.Source}
	for _, r := range a.Verification {
		latest, _ := a.Record(r.Check)
		switch {
		case contains(f.Passed, r.Check) || contains(f.Failed, r.Check):
		case latest.Result == ResultFailed:
			f.Failed = append(f.Failed, r.Check)
		case latest.Result == ResultPassed:
			f.Passed = append(f.Passed, r.Check)
			if r.Check.IsEvidenceCheck() && latest.Basis == BasisVerified {
				f.Verified = append(f.Verified, r.Check)
				f.VerifiedKeys = append(f.VerifiedKeys, append([]string(nil), a.evidenceKeys(latest)...))
			}
		}
	}
	if r, ok := a.Record(CheckSourcePolicy); ok {
		if pf, keys := a.provenanceOf(r); pf != nil {
			cp := *pf
			f.Provenance, f.ProvenanceKeys = &cp, append([]string(nil), keys...)
		}
	}
	return f
}

// counts reports whether check c counts as PASSED in channel cp: PASSED, and for
// an evidence check in a channel requiring verified evidence, from a VERIFIED
// record.
func (f DeployFacts) counts(cp ChannelPolicy, c Check) bool {
	if cp.RequireVerifiedEvidence && c.IsEvidenceCheck() {
		return contains(f.Verified, c)
	}
	return contains(f.Passed, c)
}

// claimedOnly lists the evidence checks among cs that PASSED only as claims.
func (f DeployFacts) claimedOnly(cs []Check) []Check {
	var out []Check
	for _, c := range cs {
		if c.IsEvidenceCheck() && contains(f.Passed, c) && !contains(f.Verified, c) {
			out = append(out, c)
		}
	}
	return out
}

// ChannelTrust is the trust the artifact has in channel c under p, from facts
// derived under p (Derive): their trust, except that in a channel requiring
// verified evidence a VERIFIED artifact whose project-required evidence checks
// passed only as claims is UNVERIFIED there. (Claimed failures still count: they
// can only lower trust.)
func (f DeployFacts) ChannelTrust(p *Policy, c Channel) TrustState {
	if f.Trust != TrustVerified || !p.Channel(c).RequireVerifiedEvidence {
		return f.Trust
	}
	if len(f.claimedOnly(p.RequiredChecks)) > 0 {
		return TrustUnverified
	}
	return TrustVerified
}

// Deployable reports whether an artifact with these facts may be deployed from
// channel c under p: not revoked, not failed, not retired, and meeting the
// channel's trust and checks, all derived under p (Derive).
func (f DeployFacts) Deployable(p *Policy, c Channel) bool {
	f = f.Derive(p)
	if f.Trust == TrustRevoked || f.Trust == TrustFailedVerification || f.Retired {
		return false
	}
	cp := p.Channel(c)
	if cp.RequiredTrust == TrustRequireVerified && f.ChannelTrust(p, c) != TrustVerified {
		return false
	}
	for _, chk := range cp.RequiredChecks {
		if !f.counts(cp, chk) {
			return false
		}
	}
	return true
}

// Placement is one promotion of one artifact, as seen from a channel.
type Placement struct {
	Artifact  *Artifact
	Promotion Promotion
}

// newer orders placements newest first, ties broken by artifact id for stability.
func newer(x, y Placement) bool {
	if !x.Promotion.PromotedAt.Equal(y.Promotion.PromotedAt) {
		return x.Promotion.PromotedAt.After(y.Promotion.PromotedAt)
	}
	return x.Artifact.ID > y.Artifact.ID
}

// PickDeployable returns the newest promotion into exactly (c, env) whose artifact
// is deployable now, among the given artifacts.
func PickDeployable(arts []*Artifact, p *Policy, c Channel, env string) (Placement, bool) {
	var best Placement
	found := false
	for _, a := range arts {
		if !Deployable(a, p, c) {
			continue
		}
		for _, pr := range a.NewestPromotions() {
			if pr.Channel != c || pr.TargetEnvironment != env {
				continue
			}
			pl := Placement{Artifact: a, Promotion: pr}
			if !found || newer(pl, best) {
				best, found = pl, true
			}
		}
	}
	return best, found
}

// ChannelStatus returns, for each (channel, environment) that ever received a
// promotion, the latest promotion there, in channel order then environment name.
func ChannelStatus(arts []*Artifact) []Placement {
	type key struct {
		c   Channel
		env string
	}
	latest := map[key]Placement{}
	for _, a := range arts {
		for _, pr := range a.NewestPromotions() {
			k := key{pr.Channel, pr.TargetEnvironment}
			pl := Placement{Artifact: a, Promotion: pr}
			if cur, ok := latest[k]; !ok || newer(pl, cur) {
				latest[k] = pl
			}
		}
	}
	out := make([]Placement, 0, len(latest))
	for _, pl := range latest {
		out = append(out, pl)
	}
	sort.Slice(out, func(i, j int) bool {
		ri, rj := out[i].Promotion.Channel.Rank(), out[j].Promotion.Channel.Rank()
		if ri != rj {
			return ri < rj
		}
		return out[i].Promotion.TargetEnvironment < out[j].Promotion.TargetEnvironment
	})
	return out
}

func hasTarget(ps []Promotion, c Channel, env string) bool {
	for _, p := range ps {
		if p.Channel == c && p.TargetEnvironment == env {
			return true
		}
	}
	return false
}

func joinList[T ~string](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = string(x)
	}
	return strings.Join(s, ", ")
}
