package service

import (
	"context"
	"iter"
	"time"

	"github.com/artifact-trust/control-plane/model"
)

// Store is what the service needs from persistence. Implementations map their
// driver errors onto model errors: a missing document is model.KindNotFound, a
// duplicate key or a failed version predicate is model.KindConflict, an unreachable
// database is model.KindUnavailable.
type Store interface {
	// InsertArtifact stores a new artifact (version 1). If an artifact with the same
	// id or (project, digest) exists it returns a model.KindConflict error.
	InsertArtifact(ctx context.Context, a *model.Artifact) error
	// GetArtifact loads one artifact by id.
	GetArtifact(ctx context.Context, id string) (*model.Artifact, error)
	// UpdateArtifact writes after over before in one single-document conditional
	// write: it matches {_id: before.ID, version: before.Version}, sets the states,
	// verification, updatedAt and version before.Version+1, and appends the audit
	// events and promotions that after has beyond before. When the version no longer
	// matches it returns model.KindConflict and writes nothing.
	//
	// A loaded artifact holds only the newest audit events and promotions
	// (model.Artifact.AuditFrom, PromotionsFrom): what it costs to load, verify or
	// promote does not depend on its age. after must start its trails where before
	// does.
	UpdateArtifact(ctx context.Context, before, after *model.Artifact) error
	// ArtifactAudit returns the events of a's audit trail with sequence numbers in
	// [from, to), oldest first: those a holds and, below a.AuditFrom, the older ones
	// from the store (reading only what the range needs).
	ArtifactAudit(ctx context.Context, a *model.Artifact, from, to int) ([]model.AuditEvent, error)
	// ArtifactPromotions returns promotions [from, to) of a, oldest first, the same
	// way.
	ArtifactPromotions(ctx context.Context, a *model.Artifact, from, to int) ([]model.Promotion, error)
	// ListArtifacts returns one page of a project's artifacts, newest first
	// (createdAt desc, id desc), strictly after q.After when set, with the total
	// count of artifacts matching the filter.
	ListArtifacts(ctx context.Context, q ArtifactQuery) (ArtifactPage, error)
	// DeployCandidates yields, as stored now, each artifact of project that was
	// promoted into exactly (channel, env), once, in the order of its newest such
	// promotion, newest first, loading each only when the consumer asks for the next
	// one; an error ends the sequence. It may leave out artifacts whose recorded
	// deploy facts (model.DeployFacts) are not deployable under p without loading
	// them (p nil: none left out). So the first candidate for which
	// model.PickDeployable finds a placement under p is the deployable one.
	DeployCandidates(ctx context.Context, project string, channel model.Channel, env string, p *model.Policy) iter.Seq2[*model.Artifact, error]
	// ChannelStatusArtifacts returns the artifacts holding the latest promotion of
	// each (channel, environment) of project, as stored now (at least those:
	// model.ChannelStatus over them is the project's channel status).
	ChannelStatusArtifacts(ctx context.Context, project string) ([]*model.Artifact, error)
	// AuditEvents returns one page of a project's artifact audit events, newest first
	// (at desc, artifactId desc, seq desc), strictly after q.After when set.
	AuditEvents(ctx context.Context, q AuditQuery) (AuditPage, error)

	// GetPolicy loads a project's stored policy; (nil, nil) when none is stored.
	GetPolicy(ctx context.Context, project string) (*model.Policy, error)
	// PutPolicy stores p (p.Version is the new version) if the stored version is
	// still p.Version-1 (0: none stored yet), appending change to the policy's own
	// audit trail in the same write; otherwise model.KindConflict.
	PutPolicy(ctx context.Context, p *model.Policy, change model.PolicyChange) error
	// PolicyChanges returns a project's policy audit trail, newest first.
	PolicyChanges(ctx context.Context, project string) ([]model.PolicyChange, error)
	// PolicyChangeCount returns the length of a project's policy audit trail.
	PolicyChangeCount(ctx context.Context, project string) (int, error)
	// Policies returns every stored policy (a whole-collection read, for start-up).
	Policies(ctx context.Context) ([]*model.Policy, error)

	// TrustedKeys returns every key project ever trusted (revoked ones included),
	// in the order they were added, and the version of the set (0: none stored).
	TrustedKeys(ctx context.Context, project string) ([]model.TrustedKey, int, error)
	// PutTrustedKeys stores a project's keys as the next version if the stored set
	// is still at version; otherwise model.KindConflict.
	PutTrustedKeys(ctx context.Context, project string, version int, keys []model.TrustedKey) error

	// PutEnvelope keeps the raw evidence envelope with that SHA-256 submitted for
	// a (idempotent by address).
	PutEnvelope(ctx context.Context, a *model.Artifact, format model.EvidenceFormat, sha string, raw []byte, at time.Time) error
	// DeleteEnvelope removes that envelope unless a holds evidence from it (the
	// envelope of a submission that was refused after it was kept).
	DeleteEnvelope(ctx context.Context, a *model.Artifact, sha string) error

	// Reevaluation returns project's trust re-derivation job; nil when none ever ran.
	Reevaluation(ctx context.Context, project string) (*ReevaluationState, error)
	// PutReevaluation writes st as the next version of its project's job if the
	// stored one is still at st.Version (0: none stored), and sets st.Version;
	// otherwise model.KindConflict.
	PutReevaluation(ctx context.Context, st *ReevaluationState) error
	// UnfinishedReevaluations returns the jobs not finished yet.
	UnfinishedReevaluations(ctx context.Context) ([]*ReevaluationState, error)
	// TrustInputProjects returns the projects with a stored policy or trusted keys.
	TrustInputProjects(ctx context.Context) ([]string, error)
	// ReevaluationBatch returns the artifacts of part `part` of project's artifact
	// list with their deploy facts as the list holds them (parts below sealed are
	// fixed once sealed; part sealed is the open rest, and with it every artifact
	// of project whose latest write has not reached the list yet), the number of
	// sealed parts, and how many artifacts it lists. An artifact with a write
	// whose read models are not applied yet is not Known.
	ReevaluationBatch(ctx context.Context, project string, part int) (entries []ReevaluationEntry, sealed, total int, err error)
	// RewriteArtifacts loads the artifacts ids of project (one that does not exist
	// is left out), calls rewrite with each, and writes the new states it returns
	// (true) as UpdateArtifact would, each conditional on the version loaded and
	// set to that version + 1, as one batch: one outbox entry for the batch, and
	// the read models of the batch applied together. It returns the changes it
	// tried; After.Version is set on those written. One whose version no longer
	// matched is left out and reported as model.KindConflict once the others are
	// written.
	RewriteArtifacts(ctx context.Context, project string, ids []string, rewrite func(a *model.Artifact) (*model.Artifact, bool)) ([]ArtifactChange, error)
	// PrefetchArtifacts reads the artifacts ids into the store's memory, where it
	// keeps one that stays current (the embedded engine's document cache), so that
	// loading them next reads no database; elsewhere it does nothing. A hint: it
	// reports nothing, and a write in between only makes the next load read again.
	PrefetchArtifacts(ctx context.Context, ids []string)

	// AppendDenial records a refused mutation in its project's recent denials,
	// keeping what model.KeepRecentDenials keeps.
	AppendDenial(ctx context.Context, d model.Denial) error
	// RecentDenials returns up to n of a project's most recent refusals, newest first.
	RecentDenials(ctx context.Context, project string, n int) ([]model.Denial, error)

	// Exclusive reports whether this process is the only one that can write the
	// database (the embedded engine, whose data directory it locks): a lease held
	// by another process is then left over from an earlier run.
	Exclusive() bool

	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Degraded explains, while the database answers, why answers may still be
	// incomplete: acknowledged writes whose read models (lists, the audit feed,
	// channel status, deployable) could not be updated yet and are being repaired.
	// nil when there are none.
	Degraded() error
}

// ArtifactFilter narrows an artifact list; empty fields match anything.
type ArtifactFilter struct {
	TrustState     model.TrustState
	LifecycleState model.LifecycleState
	Kind           model.ArtifactKind
	// Channel matches artifacts promoted into that channel at least once.
	Channel model.Channel
	// Tag matches artifacts carrying that label.
	Tag string
}

// ArtifactQuery asks for a page of artifacts.
type ArtifactQuery struct {
	Project string
	Filter  ArtifactFilter
	First   int
	After   *model.Cursor
	// Summary asks for the items' summary fields only: each item is then
	// model.Artifact.Summary of the artifact as the store's list holds it, every
	// other field zero, and no artifact is loaded.
	Summary bool
}

// ArtifactPage is one page of artifacts.
type ArtifactPage struct {
	Items      []*model.Artifact
	HasNext    bool
	TotalCount int
}

// AuditFilter narrows an audit feed; empty fields match anything.
type AuditFilter struct {
	Action        string
	Actor         string
	ArtifactID    string
	CorrelationID string
	// BreakGlass, when set, matches events that are (true) or are not (false)
	// break-glass promotions.
	BreakGlass *bool
}

// AuditQuery asks for a page of audit events.
type AuditQuery struct {
	Project string
	Filter  AuditFilter
	First   int
	After   *model.Cursor
}

// AuditEntry is an audit event with its position in its artifact's trail.
type AuditEntry struct {
	Event model.AuditEvent
	Seq   int
	// Feed is the event's position in its project's feed, when it was read there.
	Feed *model.FeedPosition
}

// AuditPage is one page of audit events.
type AuditPage struct {
	Items   []AuditEntry
	HasNext bool
}

// ReevaluationState is a project's trust re-derivation job as stored: the job, the
// lease of the process running it, and the document version. Pending holds the
// artifacts of the part at the job's cursor that a run is writing (recorded
// before the writes): a run resumed after a crash counts those it finds written
// by the job among the changed ones.
type ReevaluationState struct {
	Job        model.Reevaluation
	LeaseOwner string
	LeaseUntil time.Time
	Version    int64
	Pending    []string
}

// ReevaluationEntry is an artifact of a project's list as the trust re-derivation
// reads it: its id and, when Known, its deploy facts as of its latest write.
type ReevaluationEntry struct {
	ID    string
	Facts model.DeployFacts
	Known bool
	// Unlisted: not an entry of the part but an artifact with a write not applied
	// to the list yet, added to the open part (its entry may be in another part,
	// or not there yet): loaded, not counted as a listed artifact.
	Unlisted bool
}

// ArtifactChange is one artifact write of a batch (Store.RewriteArtifacts).
type ArtifactChange struct {
	Before, After *model.Artifact
}
