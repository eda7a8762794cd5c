package model

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"time"
)

// ArtifactKind is what an artifact is.
type ArtifactKind string

const (
	KindOCIImage    ArtifactKind = "OCI_IMAGE"
	KindOCIArtifact ArtifactKind = "OCI_ARTIFACT"
	KindArchive     ArtifactKind = "ARCHIVE"
	KindBinary      ArtifactKind = "BINARY"
)

// AllArtifactKinds lists every kind.
var AllArtifactKinds = []ArtifactKind{KindOCIImage, KindOCIArtifact, KindArchive, KindBinary}

// Valid reports whether k is a known kind.
func (k ArtifactKind) Valid() bool {
	switch k {
	case KindOCIImage, KindOCIArtifact, KindArchive, KindBinary:
		return true
	}
	return false
}

// IsOCI reports whether k is an OCI kind.
func (k ArtifactKind) IsOCI() bool { return k == KindOCIImage || k == KindOCIArtifact }

// SourceType is where an artifact comes from.
type SourceType string

const (
	SourceOCIRegistry SourceType = "OCI_REGISTRY"
	SourceObjectStore SourceType = "OBJECT_STORE"
	SourceHTTPS       SourceType = "HTTPS"
)

// AllSourceTypes lists every source type.
var AllSourceTypes = []SourceType{SourceOCIRegistry, SourceObjectStore, SourceHTTPS}

// Valid reports whether t is a known source type.
func (t SourceType) Valid() bool {
	switch t {
	case SourceOCIRegistry, SourceObjectStore, SourceHTTPS:
		return true
	}
	return false
}

// CheckKindSource enforces that OCI kinds come from OCI_REGISTRY and non-OCI kinds
// from OBJECT_STORE or HTTPS.
func CheckKindSource(k ArtifactKind, t SourceType) error {
	if !k.Valid() {
		return BadInput("kind", "unknown artifact kind %q", k)
	}
	if !t.Valid() {
		return BadInput("sourceType", "unknown source type %q", t)
	}
	if k.IsOCI() && t != SourceOCIRegistry {
		return BadInput("sourceType", "%s artifacts must come from OCI_REGISTRY, not %s", k, t)
	}
	if !k.IsOCI() && t == SourceOCIRegistry {
		return BadInput("sourceType", "%s artifacts are not OCI and must come from OBJECT_STORE or HTTPS, not OCI_REGISTRY", k)
	}
	return nil
}

// LifecycleState is the lifecycle dimension of an artifact.
type LifecycleState string

const (
	LifecyclePublished  LifecycleState = "PUBLISHED"
	LifecyclePromoted   LifecycleState = "PROMOTED"
	LifecycleDeprecated LifecycleState = "DEPRECATED"
	LifecycleRetired    LifecycleState = "RETIRED"
)

// TrustState is the trust dimension of an artifact.
type TrustState string

const (
	TrustUnverified         TrustState = "UNVERIFIED"
	TrustVerified           TrustState = "VERIFIED"
	TrustFailedVerification TrustState = "FAILED_VERIFICATION"
	TrustRevoked            TrustState = "REVOKED"
)

// Channel is a promotion channel, ordered DEV < TEST < STAGING < PROD.
type Channel string

const (
	ChannelDev     Channel = "DEV"
	ChannelTest    Channel = "TEST"
	ChannelStaging Channel = "STAGING"
	ChannelProd    Channel = "PROD"
)

// Channels lists the channels in progression order.
var Channels = []Channel{ChannelDev, ChannelTest, ChannelStaging, ChannelProd}

// Valid reports whether c is a known channel.
func (c Channel) Valid() bool { return c.Rank() >= 0 }

// Rank is the position of c in the progression, or -1 when unknown.
func (c Channel) Rank() int {
	for i, x := range Channels {
		if x == c {
			return i
		}
	}
	return -1
}

// Previous is the channel before c, and false for DEV.
func (c Channel) Previous() (Channel, bool) {
	r := c.Rank()
	if r <= 0 {
		return "", false
	}
	return Channels[r-1], true
}

// Check is a verification check.
type Check string

const (
	CheckDigestPresent      Check = "DIGEST_PRESENT"
	CheckDigestCanonical    Check = "DIGEST_CANONICAL"
	CheckKindExplicit       Check = "KIND_EXPLICIT"
	CheckSourceTypeExplicit Check = "SOURCE_TYPE_EXPLICIT"
	CheckSourceAllowlisted  Check = "SOURCE_ALLOWLISTED"
	CheckSignature          Check = "SIGNATURE"
	CheckAttestation        Check = "ATTESTATION"
	CheckBlobDigest         Check = "BLOB_DIGEST"
	CheckSourcePolicy       Check = "SOURCE_POLICY"
)

// BaselineChecks are run by the service itself on every verification.
var BaselineChecks = []Check{CheckDigestPresent, CheckDigestCanonical, CheckKindExplicit, CheckSourceTypeExplicit, CheckSourceAllowlisted}

// ReservedChecks are the trust inputs submitted by outside verifiers.
var ReservedChecks = []Check{CheckSignature, CheckAttestation, CheckBlobDigest, CheckSourcePolicy}

// Valid reports whether c is a known check.
func (c Check) Valid() bool { return c.IsBaseline() || c.IsReserved() }

// IsBaseline reports whether the service computes c itself.
func (c Check) IsBaseline() bool {
	for _, b := range BaselineChecks {
		if b == c {
			return true
		}
	}
	return false
}

// IsReserved reports whether c is a trust input submitted from outside.
func (c Check) IsReserved() bool {
	for _, b := range ReservedChecks {
		if b == c {
			return true
		}
	}
	return false
}

// CheckResult is the outcome of a check.
type CheckResult string

const (
	ResultPassed CheckResult = "PASSED"
	ResultFailed CheckResult = "FAILED"
)

// Valid reports whether r is a known result.
func (r CheckResult) Valid() bool { return r == ResultPassed || r == ResultFailed }

// VerificationRecord is the latest result of one check on one artifact.
type VerificationRecord struct {
	Check      Check
	Result     CheckResult
	Detail     string
	RecordedBy string
	RecordedAt time.Time
	// PolicyVersion is the version of the project policy the record was made
	// under; nil for records stored before versions were recorded.
	PolicyVersion *int
	// Basis is CLAIMED for results submitted with verifyArtifact and VERIFIED for
	// results the service established: from verified evidence (EvidenceID set) or
	// the baseline checks it computes itself.
	Basis EvidenceBasis
	// EvidenceID names the evidence behind a record decided by submitEvidence.
	EvidenceID string
}

// DefaultBasis is the basis of a record stored before bases were recorded: the
// service computed the baseline checks, the others were claims.
func DefaultBasis(c Check) EvidenceBasis {
	if c.IsBaseline() {
		return BasisVerified
	}
	return BasisClaimed
}

// Promotion is one explicit promotion of an artifact into a channel.
type Promotion struct {
	Channel           Channel
	TargetEnvironment string
	PromotedBy        string
	PromotedAt        time.Time
	Reason            string
	CorrelationID     string
	// PolicyVersion is the version of the project policy the promotion was decided
	// under (0: the default policy), or PolicyVersionUnknown for promotions stored
	// before versions were recorded.
	PolicyVersion int
	// BreakGlass marks an emergency promotion that bypassed approvals, soak,
	// windows and freezes, with its Justification and Ticket.
	BreakGlass    bool
	Justification string
	Ticket        string
}

// PolicyVersionUnknown is the policy version of a promotion stored before policy
// versions were recorded. Real versions start at 0 (the default policy).
const PolicyVersionUnknown = -1

// Audit actions.
const (
	ActionRegister  = "app_artifact.register"
	ActionVerify    = "app_artifact.verify"
	ActionPromote   = "app_artifact.promote"
	ActionDeprecate = "app_artifact.deprecate"
	ActionRetire    = "app_artifact.retire"
	ActionRevoke    = "app_artifact.revoke"
)

// AuditEvent is one entry of an artifact's embedded audit trail.
type AuditEvent struct {
	Action               string
	Actor                string
	ActorType            ActorType
	Project              string
	ArtifactID           string
	Digest               string
	Kind                 ArtifactKind
	SourceType           SourceType
	FromState            string
	ToState              string
	PromotionChannel     Channel
	PromotionEnvironment string
	// Verification holds the results submitted or computed in a verify event.
	Verification  []VerificationRecord
	CorrelationID string
	Reason        string
	At            time.Time
	// PolicyVersion is the version of the project policy a decision event
	// (register, verify, promote) was decided under; nil for events no policy
	// decides (deprecate, retire, revoke) and for events stored before versions
	// were recorded.
	PolicyVersion *int
	// BreakGlass marks the event of a break-glass promotion, with its
	// Justification and Ticket.
	BreakGlass    bool
	Justification string
	Ticket        string
	// Cursor is the event's cursor (model.Cursor encoded) where it was read from
	// its project's feed (artifactEvents); empty elsewhere. Not stored.
	Cursor string
}

// Artifact is one immutable digest registered in one project.
type Artifact struct {
	ID             string
	Project        string
	Digest         string
	Kind           ArtifactKind
	SourceType     SourceType
	Source         string
	RuntimeClass   string
	Tags           []string
	LifecycleState LifecycleState
	TrustState     TrustState
	Verification   []VerificationRecord
	// Promotions holds the newest promotions, oldest first: Promotions[i] is
	// promotion PromotionsFrom+i of the artifact's history. The PromotionsFrom older
	// ones are kept by the store outside the artifact, so loading an artifact costs
	// the same whatever its age; rules never need them (see NewestPromotions).
	Promotions     []Promotion
	PromotionsFrom int
	// PromotionTargets holds, for (channel, environment) pairs whose newest
	// promotion is older than Promotions[0], that promotion (kept by the store).
	PromotionTargets []Promotion
	// Audit holds the newest audit events, oldest first: Audit[i] is event
	// AuditFrom+i of the artifact's trail (its sequence number). The AuditFrom older
	// events are kept by the store outside the artifact.
	Audit     []AuditEvent
	AuditFrom int
	// Evidence holds every evidence submitted for the artifact, oldest first (at
	// most MaxEvidencePerArtifact envelopes).
	Evidence []Evidence
	// RegisteredBy is the subject that registered the artifact ("" for artifacts
	// stored before it was recorded whose register event is no longer inline).
	RegisteredBy string
	// Approvals holds the latest approval decision of each approver per channel and
	// target environment (at most MaxApprovalsPerArtifact).
	Approvals []Approval
	// TrustEpoch counts the changes of the artifact's trust (its state or any
	// check's record); approvals given under an older epoch are void.
	TrustEpoch int
	Version    int
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// AuditLen is the length of the artifact's whole audit trail.
func (a *Artifact) AuditLen() int { return a.AuditFrom + len(a.Audit) }

// PromotionsLen is the number of promotions the artifact ever received.
func (a *Artifact) PromotionsLen() int { return a.PromotionsFrom + len(a.Promotions) }

// NewestPromotions returns, for every (channel, environment) the artifact was ever
// promoted into, the newest promotion there (by time; of equal times, the later
// one), in channel order then environment name. It reads PromotionTargets and
// Promotions only, so it holds whatever the artifact's age.
func (a *Artifact) NewestPromotions() []Promotion {
	out := make([]Promotion, 0, len(a.PromotionTargets)+len(a.Promotions))
	add := func(p Promotion) {
		for i := range out {
			if out[i].Channel == p.Channel && out[i].TargetEnvironment == p.TargetEnvironment {
				if !out[i].PromotedAt.After(p.PromotedAt) {
					out[i] = p
				}
				return
			}
		}
		out = append(out, p)
	}
	for _, p := range a.PromotionTargets {
		add(p)
	}
	for _, p := range a.Promotions {
		add(p)
	}
	sort.Slice(out, func(i, j int) bool {
		ri, rj := out[i].Channel.Rank(), out[j].Channel.Rank()
		if ri != rj {
			return ri < rj
		}
		if out[i].Channel != out[j].Channel {
			return out[i].Channel < out[j].Channel
		}
		return out[i].TargetEnvironment < out[j].TargetEnvironment
	})
	return out
}

// ArtifactID is the deterministic id of (project, digest): the same pair always
// addresses the same document, so look-ups by digest are look-ups by id.
func ArtifactID(project, digest string) string {
	h := sha256.Sum256([]byte(project + "\x00" + digest))
	return "art_" + hex.EncodeToString(h[:16])
}

// Record returns the latest record of check c, if any.
func (a *Artifact) Record(c Check) (VerificationRecord, bool) {
	for _, r := range a.Verification {
		if r.Check == c {
			return r, true
		}
	}
	return VerificationRecord{}, false
}

// Passed reports whether check c's latest result is PASSED.
func (a *Artifact) Passed(c Check) bool {
	r, ok := a.Record(c)
	return ok && r.Result == ResultPassed
}

// PromotedInto reports whether the artifact was ever promoted into channel c.
func (a *Artifact) PromotedInto(c Channel) bool {
	for _, p := range a.PromotionTargets {
		if p.Channel == c {
			return true
		}
	}
	for _, p := range a.Promotions {
		if p.Channel == c {
			return true
		}
	}
	return false
}

// Event builds an audit event for this artifact with its identifying fields set.
func (a *Artifact) Event(action string, actor Actor, correlationID, reason string, at time.Time) AuditEvent {
	return AuditEvent{
		Action:        action,
		Actor:         actor.Subject,
		ActorType:     actor.Type,
		Project:       a.Project,
		ArtifactID:    a.ID,
		Digest:        a.Digest,
		Kind:          a.Kind,
		SourceType:    a.SourceType,
		CorrelationID: correlationID,
		Reason:        reason,
		At:            at,
	}
}

// OCI reports whether the artifact is of an OCI kind.
func (a *Artifact) OCI() bool { return a.Kind.IsOCI() }

// Summary returns a copy of the artifact holding only its summary fields: ID,
// Project, Digest, Kind, SourceType, Source, RuntimeClass, Tags, LifecycleState,
// TrustState, Version, CreatedAt and UpdatedAt; every other field is zero. A list
// page that needs no other field is served from the store's list without loading
// the artifacts (service.ArtifactQuery.Summary).
func (a *Artifact) Summary() *Artifact {
	return &Artifact{
		ID: a.ID, Project: a.Project, Digest: a.Digest, Kind: a.Kind, SourceType: a.SourceType, Source: a.Source,
		RuntimeClass: a.RuntimeClass, Tags: append([]string{}, a.Tags...), LifecycleState: a.LifecycleState,
		TrustState: a.TrustState, Version: a.Version, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
	}
}
