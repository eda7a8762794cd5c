package store

import (
	"time"

	"github.com/artifact-trust/control-plane/model"
)

// Document shapes. Field names are camelCase; times are BSON dates (millisecond
// precision, UTC): the mapping truncates model times to milliseconds so a write
// followed by a read round-trips exactly.

type artifactDoc struct {
	ID             string               `bson:"_id"`
	Project        string               `bson:"project"`
	Digest         string               `bson:"digest"`
	Kind           model.ArtifactKind   `bson:"kind"`
	SourceType     model.SourceType     `bson:"sourceType"`
	Source         string               `bson:"source"`
	RuntimeClass   string               `bson:"runtimeClass"`
	Tags           []string             `bson:"tags"`
	LifecycleState model.LifecycleState `bson:"lifecycleState"`
	TrustState     model.TrustState     `bson:"trustState"`
	Verification   []verificationDoc    `bson:"verification"`
	Promotions     []promotionDoc       `bson:"promotions"`
	Audit          []auditDoc           `bson:"audit"`
	Version        int64                `bson:"version"`
	CreatedAt      time.Time            `bson:"createdAt"`
	UpdatedAt      time.Time            `bson:"updatedAt"`

	// Promotions and Audit hold the newest entries of the artifact's two trails;
	// the older ones, PromotionsOverflow and AuditOverflow of them, are in their
	// trails' buckets (trail.go). PromotionTargets holds, for each (channel,
	// environment) whose newest promotion is no longer inline, that promotion.
	PromotionsOverflow int            `bson:"promotionsOverflow,omitempty"`
	PromotionTargets   []promotionDoc `bson:"promotionTargets,omitempty"`
	AuditOverflow      int            `bson:"auditOverflow,omitempty"`
	// AuditUnordered is set once an event was appended with a time before its
	// predecessor's (clock skew): the trail's order is then not its time order.
	AuditUnordered bool `bson:"auditUnordered,omitempty"`
	// Evidence holds the verdicts on submitted evidence, oldest first (at most
	// model.MaxEvidencePerArtifact envelopes); the envelopes themselves are in the
	// envelopes collection (evidence.go).
	Evidence []evidenceDoc `bson:"evidence,omitempty"`
	// RegisteredBy is absent in documents stored before it was recorded.
	RegisteredBy string `bson:"registeredBy,omitempty"`
	// Approvals holds the latest approval decision per approver, channel and
	// environment (at most model.MaxApprovalsPerArtifact).
	Approvals []approvalDoc `bson:"approvals,omitempty"`
	// TrustEpoch counts the artifact's trust changes (model.Artifact.TrustEpoch);
	// absent (0) until the first.
	TrustEpoch int64 `bson:"trustEpoch,omitempty"`
}

type approvalDoc struct {
	Channel           model.Channel          `bson:"channel"`
	TargetEnvironment string                 `bson:"targetEnvironment,omitempty"`
	Decision          model.ApprovalDecision `bson:"decision"`
	DecidedBy         string                 `bson:"decidedBy"`
	DecidedAt         time.Time              `bson:"decidedAt"`
	Comment           string                 `bson:"comment,omitempty"`
	ExpiresAt         time.Time              `bson:"expiresAt"`
	PolicyVersion     int64                  `bson:"policyVersion"`
	CorrelationID     string                 `bson:"correlationId"`
	TrustKey          string                 `bson:"trustKey"`
	TrustEpoch        int64                  `bson:"trustEpoch,omitempty"`
	// Roles is absent in decisions stored before roles were recorded.
	Roles []model.Role `bson:"roles,omitempty"`
}

func toApprovalDoc(a model.Approval) approvalDoc {
	return approvalDoc{
		Channel: a.Channel, TargetEnvironment: a.TargetEnvironment, Decision: a.Decision, DecidedBy: a.DecidedBy,
		DecidedAt: ms(a.DecidedAt), Comment: a.Comment, ExpiresAt: ms(a.ExpiresAt), PolicyVersion: int64(a.PolicyVersion),
		CorrelationID: a.CorrelationID, TrustKey: a.TrustKey, TrustEpoch: int64(a.TrustEpoch), Roles: a.Roles,
	}
}

func (d approvalDoc) model(artifactID string) model.Approval {
	return model.Approval{
		ArtifactID: artifactID, Channel: d.Channel, TargetEnvironment: d.TargetEnvironment, Decision: d.Decision, DecidedBy: d.DecidedBy,
		DecidedAt: d.DecidedAt.UTC(), Comment: d.Comment, ExpiresAt: d.ExpiresAt.UTC(), PolicyVersion: int(d.PolicyVersion),
		CorrelationID: d.CorrelationID, TrustKey: d.TrustKey, TrustEpoch: int(d.TrustEpoch), Roles: d.Roles,
	}
}

type evidenceDoc struct {
	ID             string               `bson:"id"`
	Format         model.EvidenceFormat `bson:"format"`
	Check          model.Check          `bson:"check"`
	Result         model.CheckResult    `bson:"result"`
	Detail         string               `bson:"detail,omitempty"`
	PredicateType  string               `bson:"predicateType,omitempty"`
	KeyIDs         []string             `bson:"keyIds"`
	EnvelopeSHA256 string               `bson:"envelopeSha256"`
	SubmittedBy    string               `bson:"submittedBy"`
	SubmittedAt    time.Time            `bson:"submittedAt"`
	PolicyVersion  int64                `bson:"policyVersion"`
	// Provenance is absent but for SOURCE_POLICY evidence from SLSA provenance
	// whose signature and subject verified (and in documents stored before it was
	// kept: such evidence is not judged again).
	Provenance *provenanceFactsDoc `bson:"provenance,omitempty"`
}

// provenanceFactsDoc is model.ProvenanceFacts.
type provenanceFactsDoc struct {
	BuilderID        string `bson:"builderId"`
	SourceRepository string `bson:"sourceRepository"`
}

func toEvidenceDoc(e model.Evidence) evidenceDoc {
	return evidenceDoc{
		ID: e.ID, Format: e.Format, Check: e.Check, Result: e.Result, Detail: e.Detail, PredicateType: e.PredicateType,
		KeyIDs: nonNil(e.KeyIDs), EnvelopeSHA256: e.EnvelopeSHA256, SubmittedBy: e.SubmittedBy, SubmittedAt: ms(e.SubmittedAt),
		PolicyVersion: int64(e.PolicyVersion), Provenance: toProvenanceFactsDoc(e.Provenance),
	}
}

func toProvenanceFactsDoc(f *model.ProvenanceFacts) *provenanceFactsDoc {
	if f == nil {
		return nil
	}
	return &provenanceFactsDoc{BuilderID: f.BuilderID, SourceRepository: f.SourceRepository}
}

func (d *provenanceFactsDoc) model() *model.ProvenanceFacts {
	if d == nil {
		return nil
	}
	return &model.ProvenanceFacts{BuilderID: d.BuilderID, SourceRepository: d.SourceRepository}
}

func (d evidenceDoc) model() model.Evidence {
	return model.Evidence{
		ID: d.ID, Format: d.Format, Check: d.Check, Result: d.Result, Detail: d.Detail, PredicateType: d.PredicateType,
		KeyIDs: nonNil(d.KeyIDs), EnvelopeSHA256: d.EnvelopeSHA256, SubmittedBy: d.SubmittedBy, SubmittedAt: d.SubmittedAt.UTC(),
		PolicyVersion: int(d.PolicyVersion), Provenance: d.Provenance.model(),
	}
}

type verificationDoc struct {
	Check      model.Check       `bson:"check"`
	Result     model.CheckResult `bson:"result"`
	Detail     string            `bson:"detail,omitempty"`
	RecordedBy string            `bson:"recordedBy"`
	RecordedAt time.Time         `bson:"recordedAt"`
	// PolicyVersion is absent in documents stored before versions were recorded.
	PolicyVersion *int64 `bson:"policyVersion,omitempty"`
	// Basis is absent in documents stored before bases were recorded
	// (model.DefaultBasis).
	Basis      model.EvidenceBasis `bson:"basis,omitempty"`
	EvidenceID string              `bson:"evidenceId,omitempty"`
}

type promotionDoc struct {
	Channel           model.Channel `bson:"channel"`
	TargetEnvironment string        `bson:"targetEnvironment,omitempty"`
	PromotedBy        string        `bson:"promotedBy"`
	PromotedAt        time.Time     `bson:"promotedAt"`
	Reason            string        `bson:"reason,omitempty"`
	CorrelationID     string        `bson:"correlationId"`
	// PolicyVersion is absent in documents stored before versions were recorded.
	PolicyVersion *int64 `bson:"policyVersion,omitempty"`
	// BreakGlass marks an emergency promotion (absent: an ordinary one).
	BreakGlass    bool   `bson:"breakGlass,omitempty"`
	Justification string `bson:"justification,omitempty"`
	Ticket        string `bson:"ticket,omitempty"`
}

type auditDoc struct {
	Action    string          `bson:"action"`
	Actor     string          `bson:"actor"`
	ActorType model.ActorType `bson:"actorType"`
	// Project, ArtifactID, Digest, Kind and SourceType are left out of the events
	// an artifact document and its trail buckets hold wherever they equal the
	// artifact's own (ownedAuditDoc): they repeated ~230 bytes per event, a sixth
	// of the document, which the embedded engine decodes on every read and write.
	Project              string             `bson:"project,omitempty"`
	ArtifactID           string             `bson:"artifactId,omitempty"`
	Digest               string             `bson:"digest,omitempty"`
	Kind                 model.ArtifactKind `bson:"kind,omitempty"`
	SourceType           model.SourceType   `bson:"sourceType,omitempty"`
	FromState            string             `bson:"fromState,omitempty"`
	ToState              string             `bson:"toState,omitempty"`
	PromotionChannel     model.Channel      `bson:"promotionChannel,omitempty"`
	PromotionEnvironment string             `bson:"promotionEnvironment,omitempty"`
	Verification         []verificationDoc  `bson:"verification,omitempty"`
	CorrelationID        string             `bson:"correlationId"`
	Reason               string             `bson:"reason,omitempty"`
	At                   time.Time          `bson:"at"`
	// PolicyVersion is set on decision events; absent on the others and in
	// documents stored before versions were recorded.
	PolicyVersion *int64 `bson:"policyVersion,omitempty"`
	// BreakGlass marks the event of an emergency promotion.
	BreakGlass    bool   `bson:"breakGlass,omitempty"`
	Justification string `bson:"justification,omitempty"`
	Ticket        string `bson:"ticket,omitempty"`
}

type policyDoc struct {
	ID                   string             `bson:"_id"`
	Project              string             `bson:"project"`
	AllowedSourceTypes   []model.SourceType `bson:"allowedSourceTypes"`
	AllowedSources       []string           `bson:"allowedSources"`
	AllowNonOCI          bool               `bson:"allowNonOci"`
	NonOCIRuntimeClasses []string           `bson:"nonOciRuntimeClasses"`
	RequiredChecks       []model.Check      `bson:"requiredChecks"`
	StrictProgression    bool               `bson:"strictProgression"`
	Channels             []channelPolicyDoc `bson:"channels"`
	Provenance           *provenanceDoc     `bson:"provenance,omitempty"`
	PromotionWindows     []windowDoc        `bson:"promotionWindows,omitempty"`
	Freeze               *freezeDoc         `bson:"freeze,omitempty"`
	Version              int64              `bson:"version"`
	UpdatedAt            time.Time          `bson:"updatedAt"`
	UpdatedBy            string             `bson:"updatedBy"`
	Changes              []policyChangeDoc  `bson:"changes,omitempty"`

	// Changes holds the newest entries of the policy's change trail (the change
	// that made this version); the ChangesOverflow older ones are in the trail's
	// buckets (trail.go).
	ChangesOverflow int `bson:"changesOverflow,omitempty"`
}

type windowDoc struct {
	Channels []model.Channel `bson:"channels"`
	Days     []model.Weekday `bson:"days"`
	Start    string          `bson:"start"`
	End      string          `bson:"end"`
	TimeZone string          `bson:"timeZone"`
}

type freezeDoc struct {
	Channels []model.Channel `bson:"channels"`
	Reason   string          `bson:"reason"`
	FrozenBy string          `bson:"frozenBy"`
	FrozenAt time.Time       `bson:"frozenAt"`
	Until    *time.Time      `bson:"until,omitempty"`
}

func toFreezeDoc(f *model.Freeze) *freezeDoc {
	if f == nil {
		return nil
	}
	d := &freezeDoc{Channels: nonNil(f.Channels), Reason: f.Reason, FrozenBy: f.FrozenBy, FrozenAt: ms(f.FrozenAt)}
	if f.Until != nil {
		u := ms(*f.Until)
		d.Until = &u
	}
	return d
}

func (d *freezeDoc) model() *model.Freeze {
	if d == nil {
		return nil
	}
	f := &model.Freeze{Channels: nonNil(d.Channels), Reason: d.Reason, FrozenBy: d.FrozenBy, FrozenAt: d.FrozenAt.UTC()}
	if d.Until != nil {
		u := d.Until.UTC()
		f.Until = &u
	}
	return f
}

type provenanceDoc struct {
	BuilderIDs         []string `bson:"builderIds"`
	SourceRepositories []string `bson:"sourceRepositories"`
}

type channelPolicyDoc struct {
	Channel          model.Channel          `bson:"channel"`
	RequiredTrust    model.TrustRequirement `bson:"requiredTrust"`
	RequiredChecks   []model.Check          `bson:"requiredChecks"`
	PromoterRoles    []model.Role           `bson:"promoterRoles"`
	PromoterSubjects []string               `bson:"promoterSubjects"`
	// RequireVerifiedEvidence is absent in documents stored before it existed:
	// model.DefaultRequireVerifiedEvidence.
	RequireVerifiedEvidence *bool `bson:"requireVerifiedEvidence,omitempty"`
	// The governance settings are absent in documents stored before they existed:
	// the channel defaults (model.DefaultChannelPolicy).
	RequiredApprovals       int          `bson:"requiredApprovals,omitempty"`
	ApproverRoles           []model.Role `bson:"approverRoles,omitempty"`
	ForbidSelfApproval      *bool        `bson:"forbidSelfApproval,omitempty"`
	ApprovalValiditySeconds int          `bson:"approvalValiditySeconds,omitempty"`
	MinSoakSeconds          int          `bson:"minSoakSeconds,omitempty"`
	BreakGlassRoles         []model.Role `bson:"breakGlassRoles,omitempty"`
	BreakGlassSubjects      []string     `bson:"breakGlassSubjects,omitempty"`
}

type policyChangeDoc struct {
	Project       string          `bson:"project"`
	Actor         string          `bson:"actor"`
	ActorType     model.ActorType `bson:"actorType"`
	FromVersion   int64           `bson:"fromVersion"`
	ToVersion     int64           `bson:"toVersion"`
	CorrelationID string          `bson:"correlationId"`
	At            time.Time       `bson:"at"`
	// Action is set for entries other than a policy change (stored before it was
	// recorded: a policy change).
	Action string `bson:"action,omitempty"`
	// Reason is the reason given with a freeze or an unfreeze.
	Reason string `bson:"reason,omitempty"`
}

// ms is the stored form of a time: UTC, millisecond precision.
func ms(t time.Time) time.Time { return t.Truncate(time.Millisecond).UTC() }

// nonNil returns s, or an empty slice when s is nil, so arrays are stored as [] (a
// later $push needs an array) and read back as empty, never nil, lists.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func mapSlice[T, U any](in []T, f func(T) U) []U {
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

func toArtifactDoc(a *model.Artifact) artifactDoc {
	d := artifactDoc{
		ID:             a.ID,
		Project:        a.Project,
		Digest:         a.Digest,
		Kind:           a.Kind,
		SourceType:     a.SourceType,
		Source:         a.Source,
		RuntimeClass:   a.RuntimeClass,
		Tags:           nonNil(a.Tags),
		LifecycleState: a.LifecycleState,
		TrustState:     a.TrustState,
		Verification:   mapSlice(a.Verification, toVerificationDoc),
		Promotions:     mapSlice(a.Promotions, toPromotionDoc),
		Audit:          mapSlice(a.Audit, func(e model.AuditEvent) auditDoc { return ownedAuditDoc(a, e) }),
		Version:        int64(a.Version),
		CreatedAt:      ms(a.CreatedAt),
		UpdatedAt:      ms(a.UpdatedAt),
	}
	d.PromotionsOverflow, d.AuditOverflow = a.PromotionsFrom, a.AuditFrom
	if len(a.PromotionTargets) > 0 {
		d.PromotionTargets = mapSlice(a.PromotionTargets, toPromotionDoc)
	}
	if len(a.Evidence) > 0 {
		d.Evidence = mapSlice(a.Evidence, toEvidenceDoc)
	}
	d.RegisteredBy = a.RegisteredBy
	d.TrustEpoch = int64(a.TrustEpoch)
	if len(a.Approvals) > 0 {
		d.Approvals = mapSlice(a.Approvals, toApprovalDoc)
	}
	return d
}

func (d *artifactDoc) model() *model.Artifact {
	a := &model.Artifact{
		ID:             d.ID,
		Project:        d.Project,
		Digest:         d.Digest,
		Kind:           d.Kind,
		SourceType:     d.SourceType,
		Source:         d.Source,
		RuntimeClass:   d.RuntimeClass,
		Tags:           nonNil(d.Tags),
		LifecycleState: d.LifecycleState,
		TrustState:     d.TrustState,
		Verification:   mapSlice(d.Verification, verificationDoc.model),
		Promotions:     mapSlice(d.Promotions, promotionDoc.model),
		Version:        int(d.Version),
		CreatedAt:      d.CreatedAt.UTC(),
		UpdatedAt:      d.UpdatedAt.UTC(),
	}
	a.Audit = mapSlice(d.Audit, func(e auditDoc) model.AuditEvent { return ownedAudit(a, e) })
	a.PromotionsFrom, a.AuditFrom = d.PromotionsOverflow, d.AuditOverflow
	if len(d.PromotionTargets) > 0 {
		a.PromotionTargets = mapSlice(d.PromotionTargets, promotionDoc.model)
	}
	a.Evidence = mapSlice(d.Evidence, evidenceDoc.model)
	a.RegisteredBy = d.RegisteredBy
	a.TrustEpoch = int(d.TrustEpoch)
	if len(d.Approvals) > 0 {
		a.Approvals = make([]model.Approval, len(d.Approvals))
		for i, ad := range d.Approvals {
			a.Approvals[i] = ad.model(d.ID)
		}
	}
	return a
}

func toVerificationDoc(r model.VerificationRecord) verificationDoc {
	return verificationDoc{Check: r.Check, Result: r.Result, Detail: r.Detail, RecordedBy: r.RecordedBy, RecordedAt: ms(r.RecordedAt), PolicyVersion: toVersionDoc(r.PolicyVersion),
		Basis: r.Basis, EvidenceID: r.EvidenceID}
}

func (d verificationDoc) model() model.VerificationRecord {
	r := model.VerificationRecord{Check: d.Check, Result: d.Result, Detail: d.Detail, RecordedBy: d.RecordedBy, RecordedAt: d.RecordedAt.UTC(), PolicyVersion: versionOfDoc(d.PolicyVersion),
		Basis: d.Basis, EvidenceID: d.EvidenceID}
	if r.Basis == "" {
		r.Basis = model.DefaultBasis(r.Check)
	}
	return r
}

// toVersionDoc and versionOfDoc map an optional policy version (nil: none recorded).
func toVersionDoc(v *int) *int64 {
	if v == nil {
		return nil
	}
	x := int64(*v)
	return &x
}

func versionOfDoc(v *int64) *int {
	if v == nil {
		return nil
	}
	x := int(*v)
	return &x
}

func toPromotionDoc(p model.Promotion) promotionDoc {
	d := promotionDoc{
		Channel: p.Channel, TargetEnvironment: p.TargetEnvironment, PromotedBy: p.PromotedBy,
		PromotedAt: ms(p.PromotedAt), Reason: p.Reason, CorrelationID: p.CorrelationID,
	}
	if p.PolicyVersion != model.PolicyVersionUnknown {
		d.PolicyVersion = toVersionDoc(&p.PolicyVersion)
	}
	d.BreakGlass, d.Justification, d.Ticket = p.BreakGlass, p.Justification, p.Ticket
	return d
}

func (d promotionDoc) model() model.Promotion {
	p := model.Promotion{
		Channel: d.Channel, TargetEnvironment: d.TargetEnvironment, PromotedBy: d.PromotedBy,
		PromotedAt: d.PromotedAt.UTC(), Reason: d.Reason, CorrelationID: d.CorrelationID,
		PolicyVersion: model.PolicyVersionUnknown,
	}
	if d.PolicyVersion != nil {
		p.PolicyVersion = int(*d.PolicyVersion)
	}
	p.BreakGlass, p.Justification, p.Ticket = d.BreakGlass, d.Justification, d.Ticket
	return p
}

func toAuditDoc(e model.AuditEvent) auditDoc {
	d := auditDoc{
		Action: e.Action, Actor: e.Actor, ActorType: e.ActorType, Project: e.Project,
		ArtifactID: e.ArtifactID, Digest: e.Digest, Kind: e.Kind, SourceType: e.SourceType,
		FromState: e.FromState, ToState: e.ToState,
		PromotionChannel: e.PromotionChannel, PromotionEnvironment: e.PromotionEnvironment,
		CorrelationID: e.CorrelationID, Reason: e.Reason, At: ms(e.At), PolicyVersion: toVersionDoc(e.PolicyVersion),
		BreakGlass: e.BreakGlass, Justification: e.Justification, Ticket: e.Ticket,
	}
	if len(e.Verification) > 0 {
		d.Verification = mapSlice(e.Verification, toVerificationDoc)
	}
	return d
}

// ownedAuditDoc is e, an event of a, as a's document and its trail buckets hold
// it: without the fields that equal a's own.
func ownedAuditDoc(a *model.Artifact, e model.AuditEvent) auditDoc {
	d := toAuditDoc(e)
	if d.Project == a.Project {
		d.Project = ""
	}
	if d.ArtifactID == a.ID {
		d.ArtifactID = ""
	}
	if d.Digest == a.Digest {
		d.Digest = ""
	}
	if d.Kind == a.Kind {
		d.Kind = ""
	}
	if d.SourceType == a.SourceType {
		d.SourceType = ""
	}
	return d
}

// ownedAudit is the event d of a (read from a's document or its trail
// buckets) with the fields ownedAuditDoc left out taken from a.
func ownedAudit(a *model.Artifact, d auditDoc) model.AuditEvent {
	e := d.model()
	if e.Project == "" {
		e.Project = a.Project
	}
	if e.ArtifactID == "" {
		e.ArtifactID = a.ID
	}
	if e.Digest == "" {
		e.Digest = a.Digest
	}
	if e.Kind == "" {
		e.Kind = a.Kind
	}
	if e.SourceType == "" {
		e.SourceType = a.SourceType
	}
	return e
}

func (d auditDoc) model() model.AuditEvent {
	e := model.AuditEvent{
		Action: d.Action, Actor: d.Actor, ActorType: d.ActorType, Project: d.Project,
		ArtifactID: d.ArtifactID, Digest: d.Digest, Kind: d.Kind, SourceType: d.SourceType,
		FromState: d.FromState, ToState: d.ToState,
		PromotionChannel: d.PromotionChannel, PromotionEnvironment: d.PromotionEnvironment,
		CorrelationID: d.CorrelationID, Reason: d.Reason, At: d.At.UTC(), PolicyVersion: versionOfDoc(d.PolicyVersion),
		BreakGlass: d.BreakGlass, Justification: d.Justification, Ticket: d.Ticket,
	}
	if len(d.Verification) > 0 {
		e.Verification = mapSlice(d.Verification, verificationDoc.model)
	}
	return e
}

func toPolicyDoc(p *model.Policy) policyDoc {
	return policyDoc{
		ID:                   p.Project,
		Project:              p.Project,
		AllowedSourceTypes:   nonNil(p.AllowedSourceTypes),
		AllowedSources:       nonNil(p.AllowedSources),
		AllowNonOCI:          p.AllowNonOCI,
		NonOCIRuntimeClasses: nonNil(p.NonOCIRuntimeClasses),
		RequiredChecks:       nonNil(p.RequiredChecks),
		StrictProgression:    p.StrictProgression,
		Channels: mapSlice(p.Channels, func(c model.ChannelPolicy) channelPolicyDoc {
			rve, fsa := c.RequireVerifiedEvidence, c.ForbidSelfApproval
			return channelPolicyDoc{
				Channel: c.Channel, RequiredTrust: c.RequiredTrust,
				RequiredChecks: nonNil(c.RequiredChecks), PromoterRoles: nonNil(c.PromoterRoles),
				PromoterSubjects: nonNil(c.PromoterSubjects), RequireVerifiedEvidence: &rve,
				RequiredApprovals: c.RequiredApprovals, ApproverRoles: nonNil(c.ApproverRoles), ForbidSelfApproval: &fsa,
				ApprovalValiditySeconds: c.ApprovalValiditySeconds, MinSoakSeconds: c.MinSoakSeconds,
				BreakGlassRoles: c.BreakGlassRoles, BreakGlassSubjects: c.BreakGlassSubjects,
			}
		}),
		Provenance:       toProvenanceDoc(p.Provenance),
		PromotionWindows: mapSlice(p.PromotionWindows, toWindowDoc),
		Freeze:           toFreezeDoc(p.Freeze),
		Version:          int64(p.Version),
		UpdatedAt:        ms(p.UpdatedAt),
		UpdatedBy:        p.UpdatedBy,
	}
}

func toProvenanceDoc(pp *model.ProvenancePolicy) *provenanceDoc {
	if pp == nil {
		return nil
	}
	return &provenanceDoc{BuilderIDs: nonNil(pp.BuilderIDs), SourceRepositories: nonNil(pp.SourceRepositories)}
}

func (d *policyDoc) model() *model.Policy {
	return &model.Policy{
		Project:              d.Project,
		AllowedSourceTypes:   nonNil(d.AllowedSourceTypes),
		AllowedSources:       nonNil(d.AllowedSources),
		AllowNonOCI:          d.AllowNonOCI,
		NonOCIRuntimeClasses: nonNil(d.NonOCIRuntimeClasses),
		RequiredChecks:       nonNil(d.RequiredChecks),
		StrictProgression:    d.StrictProgression,
		Channels: mapSlice(d.Channels, func(c channelPolicyDoc) model.ChannelPolicy {
			rve := model.DefaultRequireVerifiedEvidence(c.Channel)
			if c.RequireVerifiedEvidence != nil {
				rve = *c.RequireVerifiedEvidence
			}
			def := model.DefaultChannelPolicy(c.Channel)
			cp := model.ChannelPolicy{
				Channel: c.Channel, RequiredTrust: c.RequiredTrust,
				RequiredChecks: nonNil(c.RequiredChecks), PromoterRoles: nonNil(c.PromoterRoles),
				PromoterSubjects: nonNil(c.PromoterSubjects), RequireVerifiedEvidence: rve,
				RequiredApprovals: c.RequiredApprovals, ApproverRoles: c.ApproverRoles, ForbidSelfApproval: def.ForbidSelfApproval,
				ApprovalValiditySeconds: c.ApprovalValiditySeconds, MinSoakSeconds: c.MinSoakSeconds,
				BreakGlassRoles: nonNil(c.BreakGlassRoles), BreakGlassSubjects: nonNil(c.BreakGlassSubjects),
			}
			if len(cp.ApproverRoles) == 0 {
				cp.ApproverRoles = def.ApproverRoles
			}
			if c.ForbidSelfApproval != nil {
				cp.ForbidSelfApproval = *c.ForbidSelfApproval
			}
			if cp.ApprovalValiditySeconds == 0 {
				cp.ApprovalValiditySeconds = def.ApprovalValiditySeconds
			}
			return cp
		}),
		Provenance:       d.Provenance.model(),
		PromotionWindows: mapSlice(d.PromotionWindows, windowDoc.model),
		Freeze:           d.Freeze.model(),
		Version:          int(d.Version),
		UpdatedAt:        d.UpdatedAt.UTC(),
		UpdatedBy:        d.UpdatedBy,
	}
}

func (d *provenanceDoc) model() *model.ProvenancePolicy {
	if d == nil {
		return nil
	}
	return &model.ProvenancePolicy{BuilderIDs: nonNil(d.BuilderIDs), SourceRepositories: nonNil(d.SourceRepositories)}
}

func toWindowDoc(w model.PromotionWindow) windowDoc {
	return windowDoc{Channels: nonNil(w.Channels), Days: nonNil(w.Days), Start: w.Start, End: w.End, TimeZone: w.TimeZone}
}

func (d windowDoc) model() model.PromotionWindow {
	return model.PromotionWindow{Channels: nonNil(d.Channels), Days: nonNil(d.Days), Start: d.Start, End: d.End, TimeZone: d.TimeZone}
}

func toPolicyChangeDoc(c model.PolicyChange) policyChangeDoc {
	return policyChangeDoc{
		Project: c.Project, Actor: c.Actor, ActorType: c.ActorType,
		FromVersion: int64(c.FromVersion), ToVersion: int64(c.ToVersion),
		CorrelationID: c.CorrelationID, At: ms(c.At),
		Action: c.Action, Reason: c.Reason,
	}
}

func (d policyChangeDoc) model() model.PolicyChange {
	c := model.PolicyChange{
		Project: d.Project, Actor: d.Actor, ActorType: d.ActorType,
		FromVersion: int(d.FromVersion), ToVersion: int(d.ToVersion),
		CorrelationID: d.CorrelationID, At: d.At.UTC(),
		Action: d.Action, Reason: d.Reason,
	}
	if c.Action == "" {
		c.Action = model.ActionPolicy
	}
	return c
}
