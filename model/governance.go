package model

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
	// Promotion windows name IANA time zones: every binary carries the zone
	// database, so windows work on a machine without one.
	_ "time/tzdata"
)

// Classes of the governance denials (see Decision.Classes).
const (
	DenyApproval   = "approval"
	DenySoak       = "soak"
	DenyWindow     = "window"
	DenyFreeze     = "freeze"
	DenyBreakGlass = "break_glass"
	// DenyFloor is the class of a setProjectPolicy refused for going below the
	// operator's policy floor.
	DenyFloor = "floor"
)

// Bounds of the governance settings.
const (
	MaxRequiredApprovals           = 10
	DefaultApprovalValiditySeconds = 7 * 24 * 3600
	MinApprovalValiditySeconds     = 60
	MaxApprovalValiditySeconds     = 90 * 24 * 3600
	MaxSoakSeconds                 = 90 * 24 * 3600
	MaxPromotionWindows            = 50
	// MaxFreeze is the longest a freeze with an end may last.
	MaxFreeze = 366 * 24 * time.Hour
	// MaxApprovalsPerArtifact bounds the approval decisions an artifact keeps (one
	// per approver, channel and environment: the latest).
	MaxApprovalsPerArtifact = 100
	MaxTicketLength         = 256
)

// DefaultApproverRoles are a channel's approverRoles when a policy does not set them.
var DefaultApproverRoles = []Role{RoleProjectAdmin}

// ---- approvals ----

// ApprovalDecision is an approver's decision.
type ApprovalDecision string

const (
	DecisionApproved ApprovalDecision = "APPROVED"
	DecisionRejected ApprovalDecision = "REJECTED"
)

// Audit actions of approval decisions.
const (
	ActionApprove = "app_artifact.approve"
	ActionReject  = "app_artifact.reject"
)

// Approval is one approver's latest decision on promoting an artifact into one
// channel and target environment.
type Approval struct {
	ArtifactID        string
	Channel           Channel
	TargetEnvironment string
	Decision          ApprovalDecision
	DecidedBy         string
	DecidedAt         time.Time
	Comment           string
	// ExpiresAt is when an approval stops counting. A rejection does not expire:
	// it blocks until the same subject approves again.
	ExpiresAt     time.Time
	PolicyVersion int
	CorrelationID string
	// TrustKey and TrustEpoch are the artifact's when the decision was taken; an
	// approval is void once the artifact's trust changed (its epoch moved on), even
	// if it came back to what it was.
	TrustKey   string
	TrustEpoch int
	// Roles are the roles the approver held in the project when deciding (nil for
	// decisions stored before they were recorded). A decision counts only while one
	// of them is among the channel's current approverRoles.
	Roles []Role
}

// Registrant is the subject that registered a: RegisteredBy, or for artifacts
// stored before it was recorded the actor of the register event when the artifact
// still holds it ("" when unknown).
func (a *Artifact) Registrant() string {
	if a.RegisteredBy != "" {
		return a.RegisteredBy
	}
	if a.AuditFrom == 0 && len(a.Audit) > 0 && a.Audit[0].Action == ActionRegister {
		return a.Audit[0].Actor
	}
	return ""
}

// TrustKey fingerprints what an artifact's trust rests on: its trust state and the
// result and basis of every recorded check. It changes with the trust state and
// with any changed check result, not with a re-verification that finds the same.
func (a *Artifact) TrustKey() string {
	parts := make([]string, 0, len(a.Verification)+1)
	for _, r := range a.Verification {
		parts = append(parts, fmt.Sprintf("%s=%s/%s/%s", r.Check, r.Result, r.Basis, r.EvidenceID))
	}
	sort.Strings(parts)
	h := sha256.Sum256([]byte(string(a.TrustState) + "|" + strings.Join(parts, "|")))
	return hex.EncodeToString(h[:12])
}

// noteTrustChange moves a's trust epoch on when its TrustKey differs from before
// (the key before the change): every function that changes an artifact's trust
// state or check records calls it, so an approval given before is void for good,
// even when the trust later comes back to what it was.
func (a *Artifact) noteTrustChange(before string) {
	if a.TrustKey() != before {
		a.TrustEpoch++
	}
}

// Live reports whether an approval counts at now for artifact a under channel
// policy cp: APPROVED, unexpired, given under a's current trust, by an approver
// whose role then is among cp's approverRoles now.
func (ap Approval) Live(a *Artifact, cp ChannelPolicy, now time.Time) bool {
	return ap.Decision == DecisionApproved && now.Before(ap.Expiry(cp)) && ap.underTrustOf(a) && ap.Stands(cp)
}

// Expiry is when an approval stops counting under channel policy cp: when it was
// given to expire, or sooner when cp's approvalValiditySeconds is now shorter (a
// longer one set later does not extend it).
func (ap Approval) Expiry(cp ChannelPolicy) time.Time {
	if capped := ap.DecidedAt.Add(time.Duration(cp.ApprovalValiditySeconds) * time.Second); capped.Before(ap.ExpiresAt) {
		return capped
	}
	return ap.ExpiresAt
}

func (ap Approval) underTrustOf(a *Artifact) bool {
	return ap.TrustKey == a.TrustKey() && ap.TrustEpoch == a.TrustEpoch
}

// Stands reports whether the decision's approver held, when deciding, one of cp's
// current approverRoles: an approval or rejection by a role the policy no longer
// lists counts for nothing.
func (ap Approval) Stands(cp ChannelPolicy) bool {
	if ap.Roles == nil {
		return true // decided before roles were recorded
	}
	for _, r := range ap.Roles {
		if contains(cp.ApproverRoles, r) {
			return true
		}
	}
	return false
}

// ApprovalRequest is an approvePromotion or rejectPromotion.
type ApprovalRequest struct {
	Channel           Channel
	TargetEnvironment string
	Comment           string
	Decision          ApprovalDecision
}

// Validate checks the request's fields.
func (r ApprovalRequest) Validate() error {
	if !r.Channel.Valid() {
		return BadInput("channel", "unknown channel %q", r.Channel)
	}
	if r.TargetEnvironment != "" {
		if err := ValidateEnvironment(r.TargetEnvironment); err != nil {
			return err
		}
	}
	if r.Comment != "" {
		if err := printable("comment", r.Comment, MaxReasonLength, true); err != nil {
			return err
		}
	}
	if r.Decision != DecisionApproved && r.Decision != DecisionRejected {
		return BadInput("decision", "unknown decision %q", r.Decision)
	}
	return nil
}

// ErrUnchanged is returned by Decide when the approver's latest decision for that
// channel and environment is already the one asked for (and, for an approval,
// still live): nothing is written and that decision is the answer.
// (Its kind is not CONFLICT, which writers retry.)
var ErrUnchanged = &Error{Kind: KindInvalidTransition, Message: "decision unchanged"}

func target(c Channel, env string) string {
	if env == "" {
		return string(c)
	}
	return string(c) + "/" + env
}

// Decide records actor's approval or rejection of promoting a into a channel and
// environment under policy p. It returns the changed artifact (with the decision
// and its app_artifact.approve or .reject event) and the decision. Approving
// again while the approver's approval is still live, or rejecting again, changes
// nothing: it returns a unchanged, that decision, and ErrUnchanged. An approval
// that expired or was voided by a trust change is replaced by a fresh one.
func Decide(a Artifact, p *Policy, actor Actor, req ApprovalRequest, correlationID string, now time.Time) (Artifact, Approval, error) {
	if err := req.Validate(); err != nil {
		return a, Approval{}, err
	}
	verb := "approved"
	if req.Decision == DecisionRejected {
		verb = "rejected"
	}
	switch {
	case a.TrustState == TrustRevoked:
		return a, Approval{}, Errorf(KindInvalidTransition, "artifact %s is REVOKED and can never be promoted, so its promotion cannot be %s", a.ID, verb)
	case a.LifecycleState != LifecyclePublished && a.LifecycleState != LifecyclePromoted:
		return a, Approval{}, Errorf(KindInvalidTransition, "artifact %s is %s and can no longer be promoted, so its promotion cannot be %s", a.ID, a.LifecycleState, verb)
	}
	cp := p.Channel(req.Channel)
	if !actor.HasAnyRole(a.Project, cp.ApproverRoles...) {
		return a, Approval{}, Errorf(KindForbidden, "%s may not approve or reject promotions into %s in project %s: it needs one of the roles %s there", actor.Subject, req.Channel, a.Project, joinList(cp.ApproverRoles))
	}
	if cp.RequiredApprovals == 0 {
		return a, Approval{}, BadInput("channel", "channel %s of project %s requires no approvals (requiredApprovals is 0), so there is nothing to approve or reject; a project admin can set requiredApprovals in the project policy", req.Channel, a.Project)
	}
	if req.Decision == DecisionApproved && cp.ForbidSelfApproval && a.Registrant() != "" && a.Registrant() == actor.Subject {
		return a, Approval{}, Errorf(KindForbidden, "%s registered artifact %s; with forbidSelfApproval the registrant's approval never counts for %s, so another approver must approve it", actor.Subject, a.ID, req.Channel)
	}
	idx := -1
	for i, ap := range a.Approvals {
		if ap.DecidedBy == actor.Subject && ap.Channel == req.Channel && ap.TargetEnvironment == req.TargetEnvironment {
			idx = i
			break
		}
	}
	if idx >= 0 {
		cur := a.Approvals[idx]
		if cur.Decision == req.Decision && ((cur.Decision == DecisionRejected && cur.Stands(cp)) || cur.Live(&a, cp, now)) {
			return a, cur, ErrUnchanged
		}
	}
	ap := Approval{
		ArtifactID: a.ID, Channel: req.Channel, TargetEnvironment: req.TargetEnvironment, Decision: req.Decision,
		DecidedBy: actor.Subject, DecidedAt: now, Comment: req.Comment,
		ExpiresAt:     now.Add(time.Duration(cp.ApprovalValiditySeconds) * time.Second),
		PolicyVersion: p.Version, CorrelationID: correlationID, TrustKey: a.TrustKey(), TrustEpoch: a.TrustEpoch,
		Roles: actor.RolesIn(a.Project),
	}
	approvals := append([]Approval(nil), a.Approvals...)
	if idx >= 0 {
		approvals = append(approvals[:idx], approvals[idx+1:]...)
	}
	if len(approvals) >= MaxApprovalsPerArtifact {
		// Approvals that no longer count make room; rejections never do.
		kept := approvals[:0:0]
		for _, x := range approvals {
			if x.Decision == DecisionRejected || x.Live(&a, p.Channel(x.Channel), now) {
				kept = append(kept, x)
			}
		}
		approvals = kept
	}
	if len(approvals) >= MaxApprovalsPerArtifact {
		return a, Approval{}, BadInput("artifactId", "artifact %s holds %d live approval decisions, the most one artifact keeps; wait for approvals to expire", a.ID, len(approvals))
	}
	a.Approvals = append(approvals, ap)
	action := ActionApprove
	if req.Decision == DecisionRejected {
		action = ActionReject
	}
	ev := a.Event(action, actor, correlationID, req.Comment, now)
	ev.PromotionChannel, ev.PromotionEnvironment = req.Channel, req.TargetEnvironment
	ev.PolicyVersion = p.VersionRef()
	a.Audit = append(append([]AuditEvent(nil), a.Audit...), ev)
	a.UpdatedAt = now
	return a, ap, nil
}

// ApprovalsFor returns the approvals of a that count for a promotion by promoter
// into (c, env) at now under channel policy cp (their approvers, sorted), and the
// approvers whose latest decision is a rejection. With forbidSelfApproval neither
// the registrant's nor the promoter's approval counts.
func ApprovalsFor(a *Artifact, cp ChannelPolicy, promoter string, c Channel, env string, now time.Time) (counted, rejectedBy []string) {
	registrant := a.Registrant()
	for _, ap := range a.Approvals {
		if ap.Channel != c || ap.TargetEnvironment != env {
			continue
		}
		switch {
		case ap.Decision == DecisionRejected:
			if ap.Stands(cp) {
				rejectedBy = append(rejectedBy, ap.DecidedBy)
			}
		case !ap.Live(a, cp, now):
		case cp.ForbidSelfApproval && (ap.DecidedBy == promoter || (registrant != "" && ap.DecidedBy == registrant)):
		default:
			counted = append(counted, ap.DecidedBy)
		}
	}
	sort.Strings(counted)
	sort.Strings(rejectedBy)
	return counted, rejectedBy
}

// checkApprovals is the approval rule: cp.RequiredApprovals distinct approvers,
// no standing rejection.
func checkApprovals(a *Artifact, cp ChannelPolicy, actor Actor, req PromotionRequest) []string {
	if cp.RequiredApprovals == 0 {
		return nil
	}
	counted, rejected := ApprovalsFor(a, cp, actor.Subject, req.Channel, req.TargetEnvironment, req.At)
	var reasons []string
	for _, who := range rejected {
		reasons = append(reasons, fmt.Sprintf("%s rejected the promotion into %s; it stays blocked until %s approves it again", who, target(req.Channel, req.TargetEnvironment), who))
	}
	if len(counted) < cp.RequiredApprovals {
		has := "none"
		if len(counted) > 0 {
			has = fmt.Sprintf("%d (%s)", len(counted), strings.Join(counted, ", "))
		}
		self := ""
		if cp.ForbidSelfApproval {
			self = ", other than the registrant and the promoter,"
		}
		reasons = append(reasons, fmt.Sprintf("channel %s requires %d approvals for %s from distinct subjects holding %s%s given with approvePromotion, unexpired and under the artifact's current trust; it has %s",
			req.Channel, cp.RequiredApprovals, target(req.Channel, req.TargetEnvironment), joinList(cp.ApproverRoles), self, has))
	}
	return reasons
}

// ---- soak ----

// SoakStart is when the soak into the channel after prev started for a promotion
// into env: the newest promotion into (prev, env) when env is given; else, of the
// newest promotions into prev per environment, the earliest. False when the
// artifact was never promoted there.
func SoakStart(a *Artifact, prev Channel, env string) (time.Time, bool) {
	var start time.Time
	found := false
	for _, pr := range a.NewestPromotions() {
		if pr.Channel != prev || (env != "" && pr.TargetEnvironment != env) {
			continue
		}
		if !found || pr.PromotedAt.Before(start) {
			start, found = pr.PromotedAt, true
		}
	}
	return start, found
}

// checkSoak is the soak rule. It returns the reason (empty when it holds) and,
// when time alone clears it, when.
func checkSoak(a *Artifact, cp ChannelPolicy, req PromotionRequest) (string, time.Time) {
	prev, ok := req.Channel.Previous()
	if cp.MinSoakSeconds == 0 || !ok {
		return "", time.Time{}
	}
	soak := time.Duration(cp.MinSoakSeconds) * time.Second
	where := target(prev, req.TargetEnvironment)
	start, found := SoakStart(a, prev, req.TargetEnvironment)
	if !found {
		return fmt.Sprintf("channel %s requires the artifact to soak %s in %s first, and it was never promoted into %s", req.Channel, soak, where, where), time.Time{}
	}
	if eligible := start.Add(soak); req.At.Before(eligible) {
		return fmt.Sprintf("channel %s requires the artifact to soak %s in %s (minSoakSeconds %d): it was promoted there at %s, so it is eligible at %s",
			req.Channel, soak, where, cp.MinSoakSeconds, start.UTC().Format(time.RFC3339), eligible.UTC().Format(time.RFC3339)), eligible
	}
	return "", time.Time{}
}

// ---- windows ----

// Weekday is a day of the week, as the API names it.
type Weekday string

// Weekdays lists the days, Monday first.
var Weekdays = []Weekday{"MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"}

// Valid reports whether d is a known day.
func (d Weekday) Valid() bool { return contains(Weekdays, d) }

// Time returns d as a time.Weekday.
func (d Weekday) Time() time.Weekday {
	for i, w := range Weekdays {
		if w == d {
			return time.Weekday((i + 1) % 7)
		}
	}
	return -1
}

// PromotionWindow is a recurring allow window of some channels: on each of Days,
// from Start to End (HH:MM, wall clock in TimeZone). An End before Start runs over
// midnight into the next day (22:00-02:00 on FRIDAY is Friday 22:00 to Saturday
// 02:00); End 24:00 is the end of the day.
type PromotionWindow struct {
	Channels []Channel
	Days     []Weekday
	Start    string
	End      string
	TimeZone string
}

// ParseClock parses HH:MM (00:00-23:59; 24:00 too when end) into minutes.
func ParseClock(field, s string, end bool) (int, error) {
	digit := func(i int) bool { return s[i] >= '0' && s[i] <= '9' }
	if len(s) != 5 || s[2] != ':' || !digit(0) || !digit(1) || !digit(3) || !digit(4) {
		return 0, BadInput(field, "%q is not a time of day in HH:MM (24 h), e.g. 09:00", truncate(s, 16))
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if end && h == 24 && m == 0 {
		return 24 * 60, nil
	}
	if h > 23 || m > 59 {
		hint := ""
		if end {
			hint = " (or 24:00 for the end of the day)"
		}
		return 0, BadInput(field, "%q is not a time of day: hours 00-23, minutes 00-59%s", s, hint)
	}
	return h*60 + m, nil
}

// LoadZone loads an IANA time zone by name. "Local" and the empty name are refused:
// a window means the same wherever the server runs.
func LoadZone(field, name string) (*time.Location, error) {
	if name == "" || name == "Local" || len(name) > 64 {
		return nil, BadInput(field, "must be an IANA time zone name such as Europe/Berlin or UTC, not %q", truncate(name, 64))
	}
	if loc, ok := zones.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, BadInput(field, "unknown time zone %q: use an IANA name such as Europe/Berlin or UTC", truncate(name, 64))
	}
	zones.Store(name, loc)
	return loc, nil
}

// zones caches loaded time zones by name (a *time.Location is immutable); only
// names that loaded are kept, so the cache holds at most the zone database.
var zones sync.Map

// ValidateWindows checks windows and returns them with their lists deduplicated.
func ValidateWindows(field string, in []PromotionWindow) ([]PromotionWindow, error) {
	if len(in) > MaxPromotionWindows {
		return nil, BadInput(field, "has %d windows, at most %d allowed", len(in), MaxPromotionWindows)
	}
	out := make([]PromotionWindow, 0, len(in))
	for i, w := range in {
		f := fmt.Sprintf("%s[%d]", field, i)
		var err error
		if w.Channels, err = uniqueValid(f+".channels", w.Channels, Channel.Valid); err != nil {
			return nil, err
		}
		if len(w.Channels) == 0 {
			return nil, BadInput(f+".channels", "must list at least one channel")
		}
		if w.Days, err = uniqueValid(f+".days", w.Days, Weekday.Valid); err != nil {
			return nil, err
		}
		if len(w.Days) == 0 {
			return nil, BadInput(f+".days", "must list at least one day")
		}
		start, err := ParseClock(f+".start", w.Start, false)
		if err != nil {
			return nil, err
		}
		end, err := ParseClock(f+".end", w.End, true)
		if err != nil {
			return nil, err
		}
		if start == end {
			return nil, BadInput(f+".end", "equals start (%s): a window needs a length; use 00:00-24:00 for a whole day", w.Start)
		}
		if _, err := LoadZone(f+".timeZone", w.TimeZone); err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}

func (w PromotionWindow) bounds() (start, end int, loc *time.Location, ok bool) {
	var err error
	if start, err = ParseClock("start", w.Start, false); err != nil {
		return 0, 0, nil, false
	}
	if end, err = ParseClock("end", w.End, true); err != nil {
		return 0, 0, nil, false
	}
	if loc, err = LoadZone("timeZone", w.TimeZone); err != nil {
		return 0, 0, nil, false
	}
	return start, end, loc, true
}

func (w PromotionWindow) hasDay(d time.Weekday) bool {
	for _, x := range w.Days {
		if x.Time() == d {
			return true
		}
	}
	return false
}

// Open reports whether t falls in the window: by the wall clock in its time zone,
// on one of its days between start and end, or, for a window over midnight, after
// start on one of its days or before end on the day after one of them. Wall-clock
// times skipped by a daylight saving change never occur; those repeated occur twice.
func (w PromotionWindow) Open(t time.Time) bool {
	start, end, loc, ok := w.bounds()
	if !ok {
		return false
	}
	l := t.In(loc)
	m := l.Hour()*60 + l.Minute()
	if start < end {
		return w.hasDay(l.Weekday()) && m >= start && m < end
	}
	return (w.hasDay(l.Weekday()) && m >= start) || (w.hasDay((l.Weekday()+6)%7) && m < end)
}

// openings returns the moments from which the window is open, on the local days
// from the one before t to eight days after it: each start on one of its days, or,
// where that wall-clock time is skipped by a daylight saving change, the change.
func (w PromotionWindow) openings(t time.Time) []time.Time {
	start, _, loc, ok := w.bounds()
	if !ok {
		return nil
	}
	l := t.In(loc)
	var out []time.Time
	for d := -1; d <= 8; d++ {
		day := time.Date(l.Year(), l.Month(), l.Day()+d, 12, 0, 0, 0, loc)
		if !w.hasDay(day.Weekday()) {
			continue
		}
		o := time.Date(day.Year(), day.Month(), day.Day(), start/60, start%60, 0, 0, loc)
		if o.Hour()*60+o.Minute() != start {
			// Skipped wall-clock time: the window opens when the clock jumps.
			o, _ = o.ZoneBounds()
		}
		out = append(out, o)
	}
	return out
}

// ChannelWindows returns the windows of ws that list channel c.
func ChannelWindows(ws []PromotionWindow, c Channel) []PromotionWindow {
	var out []PromotionWindow
	for _, w := range ws {
		if contains(w.Channels, c) {
			out = append(out, w)
		}
	}
	return out
}

// WindowOpen reports whether a promotion into c may happen at t: c has no window,
// or t falls in one of them.
func WindowOpen(ws []PromotionWindow, c Channel, t time.Time) bool {
	cw := ChannelWindows(ws, c)
	if len(cw) == 0 {
		return true
	}
	for _, w := range cw {
		if w.Open(t) {
			return true
		}
	}
	return false
}

// NextWindowOpen returns the first moment at or after t at which a promotion into
// c may happen by its windows (t itself when open), and false when none opens
// within eight days.
func NextWindowOpen(ws []PromotionWindow, c Channel, t time.Time) (time.Time, bool) {
	if WindowOpen(ws, c, t) {
		return t, true
	}
	var cands []time.Time
	for _, w := range ChannelWindows(ws, c) {
		cands = append(cands, w.openings(t)...)
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].Before(cands[j]) })
	for _, o := range cands {
		if o.After(t) && WindowOpen(ws, c, o) {
			return o, true
		}
	}
	return time.Time{}, false
}

func describeWindows(ws []PromotionWindow) string {
	s := make([]string, len(ws))
	for i, w := range ws {
		days := make([]string, len(w.Days))
		for j, d := range w.Days {
			days[j] = string(d)
		}
		s[i] = fmt.Sprintf("%s %s-%s %s", strings.Join(days, ","), w.Start, w.End, w.TimeZone)
	}
	return strings.Join(s, "; ")
}

// checkWindow is the window rule. It returns the reason (empty when it holds) and
// when the next window opens (zero when none does within eight days).
func checkWindow(p *Policy, req PromotionRequest) (string, time.Time) {
	if WindowOpen(p.PromotionWindows, req.Channel, req.At) {
		return "", time.Time{}
	}
	next, ok := NextWindowOpen(p.PromotionWindows, req.Channel, req.At)
	when := "no window opens within eight days"
	if ok {
		when = "the next one opens at " + next.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("promotions into %s in project %s are allowed only in its promotion windows (%s), and %s is outside them; %s",
		req.Channel, p.Project, describeWindows(ChannelWindows(p.PromotionWindows, req.Channel)), req.At.UTC().Format(time.RFC3339), when), next
}

// ---- freezes ----

// Freeze stops promotions into some channels (none listed: every channel) of a
// project until it is lifted or, when Until is set, until then.
type Freeze struct {
	Channels []Channel
	Reason   string
	FrozenBy string
	FrozenAt time.Time
	Until    *time.Time
}

// Audit actions of the project trail for freezes.
const (
	ActionFreeze   = "project.freeze"
	ActionUnfreeze = "project.unfreeze"
)

// Active reports whether the freeze stops a promotion into c at t.
func (f *Freeze) Active(c Channel, t time.Time) bool {
	if f == nil || (f.Until != nil && !t.Before(*f.Until)) {
		return false
	}
	return len(f.Channels) == 0 || contains(f.Channels, c)
}

// FreezeRequest is a freezePromotions.
type FreezeRequest struct {
	Channels []Channel
	Reason   string
	Until    *time.Time
}

// NewFreeze validates a freeze request taken at now by actor.
func NewFreeze(in FreezeRequest, actor Actor, now time.Time) (Freeze, error) {
	channels, err := uniqueValid("channels", in.Channels, Channel.Valid)
	if err != nil {
		return Freeze{}, err
	}
	if err := printable("reason", in.Reason, MaxReasonLength, true); err != nil {
		return Freeze{}, err
	}
	if strings.TrimSpace(in.Reason) == "" {
		return Freeze{}, BadInput("reason", "must say why promotions are frozen, not only spaces")
	}
	f := Freeze{Channels: channels, Reason: in.Reason, FrozenBy: actor.Subject, FrozenAt: now}
	if in.Until != nil {
		u := in.Until.UTC().Truncate(time.Millisecond)
		switch {
		case !u.After(now):
			return Freeze{}, BadInput("until", "%s is not in the future (now is %s); leave until out to freeze until unfreezePromotions", u.Format(time.RFC3339), now.Format(time.RFC3339))
		case u.Sub(now) > MaxFreeze:
			return Freeze{}, BadInput("until", "%s is more than %d days ahead; leave until out to freeze until unfreezePromotions", u.Format(time.RFC3339), int(MaxFreeze.Hours()/24))
		}
		f.Until = &u
	}
	return f, nil
}

// checkFreeze is the freeze rule. It returns the reason (empty when it holds) and,
// for a freeze with an end, that end.
func checkFreeze(p *Policy, req PromotionRequest) (string, time.Time) {
	f := p.Freeze
	if !f.Active(req.Channel, req.At) {
		return "", time.Time{}
	}
	until, end := "until unfreezePromotions lifts it", time.Time{}
	if f.Until != nil {
		until, end = "until "+f.Until.UTC().Format(time.RFC3339), *f.Until
	}
	scope := "every channel"
	if len(f.Channels) > 0 {
		scope = joinList(f.Channels)
	}
	return fmt.Sprintf("promotions into %s in project %s are frozen (%s) since %s by %s: %s; %s",
		req.Channel, p.Project, scope, f.FrozenAt.UTC().Format(time.RFC3339), f.FrozenBy, f.Reason, until), end
}

// ---- break-glass ----

// BreakGlass is an emergency promotion's justification and ticket.
type BreakGlass struct {
	Justification string
	Ticket        string
}

// Validate checks the fields.
func (b BreakGlass) Validate() error {
	if err := printable("breakGlass.justification", b.Justification, MaxReasonLength, true); err != nil {
		return err
	}
	return printable("breakGlass.ticket", b.Ticket, MaxTicketLength, true)
}

// MayBreakGlass reports whether actor may use break-glass into channel cp.
func MayBreakGlass(actor Actor, project string, cp ChannelPolicy) bool {
	return actor.HasAnyRole(project, cp.BreakGlassRoles...) || contains(cp.BreakGlassSubjects, actor.Subject)
}

// governance applies the governance rules (approvals, soak, windows, freezes) to a
// promotion decision and, when every reason left is one that time alone clears,
// sets EligibleAt. A permitted break-glass skips those four rules (and only those).
func (d *Decision) governance(a *Artifact, p *Policy, actor Actor, req PromotionRequest) {
	cp := p.Channel(req.Channel)
	if req.BreakGlass != nil {
		if MayBreakGlass(actor, a.Project, cp) {
			d.BreakGlass = true
			return
		}
		who := "one of the roles " + joinList(cp.BreakGlassRoles)
		if len(cp.BreakGlassRoles) == 0 {
			who = "to be listed in breakGlassSubjects (the channel names no breakGlassRoles)"
		}
		d.deny(DenyBreakGlass, fmt.Sprintf("%s may not use break-glass into %s in project %s: it needs %s, or to be listed in the channel's breakGlassSubjects", actor.Subject, req.Channel, a.Project, who))
	}
	for _, r := range checkApprovals(a, cp, actor, req) {
		d.deny(DenyApproval, r)
	}
	timed := 0
	var after time.Time
	clears := func(reason string, at time.Time, class string) {
		if reason == "" {
			return
		}
		d.deny(class, reason)
		if !at.IsZero() {
			timed++
			if at.After(after) {
				after = at
			}
		}
	}
	soakReason, soakAt := checkSoak(a, cp, req)
	clears(soakReason, soakAt, DenySoak)
	freezeReason, freezeAt := checkFreeze(p, req)
	clears(freezeReason, freezeAt, DenyFreeze)
	windowReason, windowAt := checkWindow(p, req)
	clears(windowReason, windowAt, DenyWindow)
	if timed == 0 || timed != len(d.Reasons) {
		return
	}
	// Every reason is time-based: the first moment after all of them at which a
	// window is open.
	if next, ok := NextWindowOpen(p.PromotionWindows, req.Channel, after); ok {
		d.EligibleAt = next
	}
}
