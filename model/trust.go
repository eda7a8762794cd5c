package model

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Trust follows the current policy (DOMAIN-2). An artifact's trust is a function of
// its recorded check results, the baseline checks against the current
// allowedSources, the current requiredChecks and the current trusted keys:
//
//   - REVOKED is terminal and never changes.
//   - The baseline checks of an artifact that was verified (one holding baseline
//     records) are run again under the current policy: SOURCE_ALLOWLISTED against
//     the current allowedSources. An artifact never verified stays UNVERIFIED.
//   - A PASSED record from verified evidence all of whose keys have been revoked
//     since counts as no result at all: the check has no valid result, so it is
//     missing (UNVERIFIED), not FAILED. Revocation says the key's word is worth
//     nothing any more, not that what it signed was false. A FAILED record keeps
//     counting whatever its keys: a failure can only lower trust.
//   - A SOURCE_POLICY record decided from SLSA provenance (evidence whose
//     signature and subject verified, so what the provenance rules looked at is
//     kept with it: Evidence.Provenance) is decided again under the current
//     provenance rules: a builder or source repository the policy no longer
//     allows makes it FAILED, one it allows now makes it PASSED (a pass resting
//     only on revoked keys then counts as no result, as above). A policy without
//     provenance rules judges no provenance: such records stand as they were
//     decided (the rules they were decided under may come back; a claimed result
//     may replace them).
//   - Then, as always: any FAILED record -> FAILED_VERIFICATION; every baseline
//     check and every currently required check PASSED -> VERIFIED; otherwise
//     UNVERIFIED.
//
// Decisions (promotion, evaluation, deployable) derive trust this way at decision
// time through DeployFacts.Derive; the stored trust state catches up in the
// background (Rederive).

// KeyRevoked reports whether the trusted key id was revoked when the policy was
// read for a decision (see Policy.RevokedKeys).
func (p *Policy) KeyRevoked(id string) bool { return slices.Contains(p.RevokedKeys, id) }

// WithKeys returns a copy of p carrying the revocations among a project's trusted
// keys, as the decisions under p must see them.
func (p *Policy) WithKeys(keys []TrustedKey) *Policy {
	out := *p
	out.RevokedKeys = nil
	for _, k := range keys {
		if !k.Live() {
			out.RevokedKeys = append(out.RevokedKeys, k.ID)
		}
	}
	return &out
}

// SourceMayBeAllowlisted reports whether some source starting with prefix could be
// allowlisted by p: an allowed prefix is a prefix of it, or it is a prefix of an
// allowed prefix. (For facts summarizing several artifacts by the common prefix of
// their sources.)
func (p *Policy) SourceMayBeAllowlisted(prefix string) bool {
	for _, allowed := range p.AllowedSources {
		if allowed != "" && (strings.HasPrefix(prefix, allowed) || strings.HasPrefix(allowed, prefix)) {
			return true
		}
	}
	return false
}

// evidenceOf returns the evidence behind record r (nil for a record not from
// evidence).
func (a *Artifact) evidenceOf(r VerificationRecord) *Evidence {
	if r.EvidenceID == "" {
		return nil
	}
	for i := range a.Evidence {
		if a.Evidence[i].ID == r.EvidenceID {
			return &a.Evidence[i]
		}
	}
	return nil
}

// evidenceKeys returns the ids of the keys that verified the evidence behind
// record r (none for a record not from evidence).
func (a *Artifact) evidenceKeys(r VerificationRecord) []string {
	if e := a.evidenceOf(r); e != nil {
		return e.KeyIDs
	}
	return nil
}

// provenanceOf returns what the provenance rules judged for record r, and the
// keys that verified it: set for a VERIFIED SOURCE_POLICY record decided from
// SLSA provenance whose signature and subject verified.
func (a *Artifact) provenanceOf(r VerificationRecord) (*ProvenanceFacts, []string) {
	if r.Check != CheckSourcePolicy || r.Basis != BasisVerified {
		return nil, nil
	}
	if e := a.evidenceOf(r); e != nil && e.Provenance != nil {
		return e.Provenance, e.KeyIDs
	}
	return nil, nil
}

// JudgeProvenance decides SOURCE_POLICY for provenance with facts f under p's
// provenance rules (p.Provenance must be set): the result and a detail naming
// the rules' policy version and, for a failure, why.
func JudgeProvenance(p *Policy, f ProvenanceFacts) (CheckResult, string) {
	if why := p.Provenance.Mismatch(f); why != "" {
		return ResultFailed, fmt.Sprintf("verification was attempted and failed: %s (provenance rules of policy version %d)", why, p.Version)
	}
	return ResultPassed, fmt.Sprintf("SLSA provenance from builder %s of %s satisfies the provenance rules of policy version %d",
		truncate(f.BuilderID, 200), truncate(f.SourceRepository, 200), p.Version)
}

// rejudged returns record r of a decided again under p's provenance rules, and
// whether its result changes (see the top of this file); r is returned as it is
// when it is not decided from provenance or p has no provenance rules. A changed
// record keeps r's evidence and is recorded by `by` at `at`.
func (a *Artifact) rejudged(p *Policy, r VerificationRecord, by string, at time.Time) (VerificationRecord, bool) {
	f, _ := a.provenanceOf(r)
	if f == nil || p.Provenance == nil {
		return r, false
	}
	result, detail := JudgeProvenance(p, *f)
	if result == r.Result {
		return r, false
	}
	return VerificationRecord{
		Check: r.Check, Result: result, Detail: truncate(detail, MaxDetailLength), RecordedBy: by, RecordedAt: at,
		PolicyVersion: p.VersionRef(), Basis: BasisVerified, EvidenceID: r.EvidenceID,
	}, true
}

// onlyRevokedKeys reports whether keys is not empty and every one of them is
// revoked under p.
func onlyRevokedKeys(p *Policy, keys []string) bool {
	if len(keys) == 0 {
		return false
	}
	for _, k := range keys {
		if !p.KeyRevoked(k) {
			return false
		}
	}
	return true
}

// discounted reports whether record r of a counts as no result under p: a PASSED
// record from verified evidence whose keys are all revoked.
func (a *Artifact) discounted(p *Policy, r VerificationRecord) bool {
	return r.Result == ResultPassed && r.Basis == BasisVerified && r.Check.IsEvidenceCheck() && onlyRevokedKeys(p, a.evidenceKeys(r))
}

// verifiedBefore reports whether a holds baseline records (it was verified).
func (a *Artifact) verifiedBefore() bool {
	for _, r := range a.Verification {
		if r.Check.IsBaseline() {
			return true
		}
	}
	return false
}

// DeriveRecords returns a's verification records as they stand under p: for an
// artifact verified before, SOURCE_ALLOWLISTED run again under p, a SOURCE_POLICY
// record decided from SLSA provenance decided again under p's provenance rules
// (each replaced, recorded by `by` at `at`, only where its result changes), and
// PASSED records from evidence whose keys are all revoked left out. It also
// returns the records it replaced or added (for the event) and whether anything
// differs.
func DeriveRecords(a *Artifact, p *Policy, by string, at time.Time) (records, updates []VerificationRecord, changed bool) {
	records = make([]VerificationRecord, 0, len(a.Verification))
	for _, r := range a.Verification {
		if j, ok := a.rejudged(p, r, by, at); ok {
			changed = true
			if !a.discounted(p, j) {
				records = append(records, j)
				updates = append(updates, j)
			}
			continue
		}
		if a.discounted(p, r) {
			changed = true
			continue
		}
		records = append(records, r)
	}
	if a.verifiedBefore() {
		// Of the baseline checks only SOURCE_ALLOWLISTED depends on the policy; the
		// others depend on the artifact alone, which never changes.
		var baseline []VerificationRecord
		for _, b := range BaselineResults(a, p, by, at) {
			if cur, ok := a.Record(b.Check); b.Check == CheckSourceAllowlisted && (!ok || cur.Result != b.Result) {
				baseline = append(baseline, b)
			}
		}
		if len(baseline) > 0 {
			records = MergeVerification(records, baseline)
			updates = append(updates, baseline...)
			changed = true
		}
	}
	return records, updates, changed
}

// DeriveTrust is the trust a has under p now (see the top of this file).
func DeriveTrust(a *Artifact, p *Policy) TrustState { return a.DeployFacts().Derive(p).Trust }

// Rederive brings a's stored trust up to date with p: when the trust derived
// under p differs from the stored one, the derived records and trust replace the
// stored ones and one app_artifact.verify event records it with the actor,
// correlation id and reason of the change that made them differ (a policy
// version, a key revocation). It returns a unchanged and false when they agree, and
// always for a REVOKED artifact. Records of an artifact whose trust does not change
// are left as they are: decisions derive them again anyway.
func Rederive(a Artifact, p *Policy, actor Actor, correlationID, reason string, now time.Time) (Artifact, bool) {
	if a.TrustState == TrustRevoked {
		return a, false
	}
	records, updates, _ := DeriveRecords(&a, p, actor.Subject, now)
	trust := TrustFromRecords(records, p)
	if trust == a.TrustState {
		return a, false
	}
	from, key := a.TrustState, a.TrustKey()
	a.Verification, a.TrustState = records, trust
	a.noteTrustChange(key)
	ev := a.Event(ActionVerify, actor, correlationID, reason, now)
	ev.FromState, ev.ToState = string(from), string(trust)
	ev.Verification = updates
	ev.PolicyVersion = p.VersionRef()
	a.Audit = append(append([]AuditEvent(nil), a.Audit...), ev)
	a.UpdatedAt = now
	return a, true
}

// Derive returns the facts as they stand under p (see the top of this file): the
// trust derived again, SOURCE_ALLOWLISTED run again against p's allowedSources, and
// evidence checks whose verified passes rest only on revoked keys left out. Facts
// of a REVOKED artifact are returned as they are.
func (f DeployFacts) Derive(p *Policy) DeployFacts {
	if f.Trust == TrustRevoked {
		return f
	}
	f = f.rejudged(p)
	d := DeployFacts{Trust: f.Trust, Retired: f.Retired, Source: f.Source, SourceIsPrefix: f.SourceIsPrefix,
		Provenance: f.Provenance, ProvenanceKeys: f.ProvenanceKeys}
	var dropped []Check
	for i, c := range f.Verified {
		var keys []string
		if i < len(f.VerifiedKeys) {
			keys = f.VerifiedKeys[i]
		}
		if onlyRevokedKeys(p, keys) {
			dropped = append(dropped, c)
			continue
		}
		d.Verified = append(d.Verified, c)
		d.VerifiedKeys = append(d.VerifiedKeys, keys)
	}
	// Whether the baseline ran is told by its records, whatever their results.
	sa := CheckSourceAllowlisted
	ran := contains(f.Passed, sa) || contains(f.Failed, sa)
	allowed := p.SourceAllowlisted(f.Source)
	if f.SourceIsPrefix {
		allowed = p.SourceMayBeAllowlisted(f.Source)
	}
	for _, c := range f.Passed {
		if c != sa && !contains(dropped, c) {
			d.Passed = append(d.Passed, c)
		}
	}
	for _, c := range f.Failed {
		if c != sa {
			d.Failed = append(d.Failed, c)
		}
	}
	if ran && allowed {
		d.Passed = append(d.Passed, sa)
	} else if ran {
		d.Failed = append(d.Failed, sa)
	}
	switch {
	case len(d.Failed) > 0:
		d.Trust = TrustFailedVerification
	case allIn(d.Passed, BaselineChecks) && allIn(d.Passed, p.RequiredChecks):
		d.Trust = TrustVerified
	default:
		d.Trust = TrustUnverified
	}
	return d
}

// rejudged returns f with SOURCE_POLICY decided again under p's provenance
// rules when the facts hold the provenance it was decided from (see the top of
// this file): PASSED on the provenance's keys, or FAILED.
func (f DeployFacts) rejudged(p *Policy) DeployFacts {
	if f.Provenance == nil || p.Provenance == nil {
		return f
	}
	sp := CheckSourcePolicy
	pass := p.Provenance.Mismatch(*f.Provenance) == ""
	if pass == contains(f.Passed, sp) && pass != contains(f.Failed, sp) && pass == contains(f.Verified, sp) {
		return f
	}
	g := f
	g.Passed, g.Failed, g.Verified, g.VerifiedKeys = nil, nil, nil, nil
	for _, c := range f.Passed {
		if c != sp {
			g.Passed = append(g.Passed, c)
		}
	}
	for _, c := range f.Failed {
		if c != sp {
			g.Failed = append(g.Failed, c)
		}
	}
	for i, c := range f.Verified {
		if c != sp {
			g.Verified = append(g.Verified, c)
			var keys []string
			if i < len(f.VerifiedKeys) {
				keys = f.VerifiedKeys[i]
			}
			g.VerifiedKeys = append(g.VerifiedKeys, keys)
		}
	}
	if pass {
		g.Passed = append(g.Passed, sp)
		g.Verified = append(g.Verified, sp)
		g.VerifiedKeys = append(g.VerifiedKeys, f.ProvenanceKeys)
	} else {
		g.Failed = append(g.Failed, sp)
	}
	return g
}

func allIn(have, want []Check) bool {
	for _, c := range want {
		if !contains(have, c) {
			return false
		}
	}
	return true
}

// trustDrift explains, for a decision's reasons, why the trust derived under p (d)
// differs from the stored trust state of the artifact with facts f; "" when it
// does not.
func trustDrift(f, d DeployFacts, p *Policy) string {
	if f.Trust == d.Trust {
		return ""
	}
	var why []string
	sa := CheckSourceAllowlisted
	if contains(d.Failed, sa) && !contains(f.Failed, sa) {
		why = append(why, fmt.Sprintf("its source %s matches no allowedSources prefix of the current policy", truncate(f.Source, 200)))
	}
	if sp := CheckSourcePolicy; f.Provenance != nil && p.Provenance != nil && contains(d.Failed, sp) && !contains(f.Failed, sp) {
		why = append(why, fmt.Sprintf("its SLSA provenance fails the current provenance rules (%s)", p.Provenance.Mismatch(*f.Provenance)))
	}
	for _, c := range f.Verified {
		if !contains(d.Verified, c) && !contains(d.Failed, c) {
			why = append(why, fmt.Sprintf("its %s evidence was verified only by trusted keys revoked since", c))
		}
	}
	for _, c := range p.RequiredChecks {
		if !contains(d.Passed, c) && !contains(d.Failed, c) {
			why = append(why, fmt.Sprintf("the policy requires %s, which has no valid PASSED result", c))
		}
	}
	msg := fmt.Sprintf("stored as %s, it is %s under the current policy (version %d)", f.Trust, d.Trust, p.Version)
	if len(why) > 0 {
		msg += ": " + strings.Join(why, "; ")
	}
	return msg
}

// Reevaluation is the background re-derivation of a project's stored trust after a
// change of the inputs (a policy version, a key revocation): its progress, and
// what it needs to resume after a restart.
type Reevaluation struct {
	Project string
	// PolicyVersion and RevokedKeys (how many of the project's keys are revoked)
	// are those of the change it brings the stored trust up to date with, Inputs
	// the fingerprint of the trust inputs that change made (Policy.TrustInputs).
	// A later change that alters the inputs supersedes it; one that leaves them as
	// they are (a freeze, a governance-only policy change) does not.
	PolicyVersion int
	RevokedKeys   int
	Inputs        string
	// Reason names the change ("policy version 7", "key 3f2a... revoked"); Actor
	// and CorrelationID are the change's. They go into every event it writes.
	Reason        string
	Actor         Actor
	CorrelationID string
	StartedAt     time.Time
	FinishedAt    *time.Time
	// Cursor is where to go on from (an opaque position in the project's artifact
	// list); Total, Done and Changed count artifacts.
	Cursor  int
	Total   int
	Done    int
	Changed int
}

// Supersedes reports whether r is for other inputs than old and from a later
// change. A job recorded without a fingerprint (before there were any) is
// superseded by any later change, as by one with other inputs.
func (r *Reevaluation) Supersedes(old *Reevaluation) bool {
	if old == nil {
		return true
	}
	later := r.PolicyVersion > old.PolicyVersion || r.RevokedKeys > old.RevokedKeys
	return later && (old.Inputs == "" || r.Inputs != old.Inputs)
}

// For reports whether r brings the stored trust up to date with the inputs of p
// (a decision policy: Policy.WithKeys). For a job recorded without a fingerprint
// that is p's policy version and revoked key count being r's.
func (r *Reevaluation) For(p *Policy) bool {
	if r.Inputs == "" {
		return p.Version == r.PolicyVersion && len(p.RevokedKeys) == r.RevokedKeys
	}
	return p.TrustInputs() == r.Inputs
}

// TrustInputs fingerprints what the trust of every artifact under p depends on
// (see the top of this file): the allowedSources prefixes, the project's
// requiredChecks and the revoked trusted keys, each as a set. Two policies with
// the same fingerprint derive the same trust for every artifact, so a change
// that leaves it as it was (a freeze, approvals, promoters, channel rules, a
// key added) needs no re-derivation. Channel rules (requireVerifiedEvidence,
// requiredTrust, channel requiredChecks) are read by decisions at decision time
// and never stored in an artifact. The provenance rules (builderIds and
// sourceRepositories, each as a set) count when the policy has them; a policy
// without them has the fingerprint it had before they counted.
func (p *Policy) TrustInputs() string {
	set := func(xs []string) []string {
		out := slices.Clone(xs)
		slices.Sort(out)
		return slices.Compact(out)
	}
	var sources, checks []string
	for _, s := range p.AllowedSources {
		if s != "" {
			sources = append(sources, s)
		}
	}
	for _, c := range p.RequiredChecks {
		checks = append(checks, string(c))
	}
	parts := [][]string{set(sources), set(checks), set(p.RevokedKeys)}
	if pp := p.Provenance; pp != nil {
		var repos []string
		for _, r := range pp.SourceRepositories {
			if r != "" {
				repos = append(repos, r)
			}
		}
		parts = append(parts, []string{"provenance"}, set(pp.BuilderIDs), set(repos))
	}
	h := sha256.New()
	for _, part := range parts {
		for _, x := range part {
			fmt.Fprintf(h, "%d:%s,", len(x), x)
		}
		h.Write([]byte{';'})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// RevokedKeyCount counts the revoked keys among keys.
func RevokedKeyCount(keys []TrustedKey) int {
	n := 0
	for _, k := range keys {
		if !k.Live() {
			n++
		}
	}
	return n
}

// PolicyReason and KeyRevokedReason name the changes that start a re-derivation.
func PolicyReason(version int) string { return fmt.Sprintf("policy version %d", version) }

// KeyRevokedReason names a key revocation.
func KeyRevokedReason(keyID string) string { return fmt.Sprintf("key %s revoked", keyID) }
