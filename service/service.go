// Package service holds the use cases of the artifact trust service: load ->
// authorize -> apply a model rule -> one conditional single-document write.
package service

import (
	"context"
	"time"

	"github.com/artifact-trust/control-plane/evidence"
	"github.com/artifact-trust/control-plane/internal/keylock"
	"github.com/artifact-trust/control-plane/model"
)

// Request is who is asking, and under which correlation id.
type Request struct {
	Actor         model.Actor
	CorrelationID string
}

// Service implements every operation of the API.
type Service struct {
	store Store
	now   func() time.Time
	// locks serialize writes to one artifact (or one project's keys or webhooks)
	// inside the process. The embedded engine has no atomic conditional update, so
	// the version predicate alone cannot be relied on there; on MongoDB they spare
	// the loser of a race a wasted round trip. A waiter gives up when its request's
	// deadline passes (keylock).
	locks *keylock.Locks
	// policyLocks hold each project's policy stable from the moment a decision
	// reads it to the moment the decision's write lands. Decisions (register,
	// verify, promote and every other artifact mutation) hold their project's key
	// shared (RLock); a policy change, a key change and a governance change hold it
	// exclusively. So inside one process no decision taken under version v is
	// written after version v+1 was stored, let alone acknowledged. Waiters are
	// served in arrival order, so a waiting policy change is not starved by a
	// stream of decisions: decisions that arrive after it wait for it and decide
	// under the new version.
	//
	// Lock order: an artifact's lock (locks) before its project's policy lock;
	// several artifacts' locks in ascending id order (reevaluateSome); nothing
	// takes an artifact lock while holding a policy lock.
	policyLocks *keylock.Locks
	// policyRace, when set, makes every decision read its project's policy again
	// after its write and receives the decisions that landed after the policy had
	// moved on (see WithPolicyRecheck).
	policyRace func(PolicyRace)
	// maxAttempts bounds retries of a mutation that lost a version race.
	maxAttempts int
	observers   []Observer
	broker      *Broker
	// tokenLeeway is how long past its exp a credential is still honoured.
	tokenLeeway time.Duration
	// verifier checks submitted evidence (evidence.go).
	verifier evidence.Verifier
	// floor is the operator's policy floor; every effective policy is raised to it
	// (governance.go).
	floor model.Floor
	// reeval runs the background trust re-derivations (rederive.go).
	reeval *reevaluator
	// webhooks, when set, serves the webhook operations (webhooks.go).
	webhooks *Webhooks
}

// Option configures a Service.
type Option func(*Service)

// WithClock replaces the wall clock (tests).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// New builds a Service over store.
func New(store Store, opts ...Option) *Service {
	s := &Service{store: store, now: time.Now, maxAttempts: 8, locks: keylock.New(nil), policyLocks: newPolicyLocks(), verifier: evidence.KeyVerifier{}, reeval: newReevaluator()}
	for _, o := range opts {
		o(s)
	}
	return s
}

// newPolicyLocks returns the locks of the projects' policies (Service.policyLocks).
func newPolicyLocks() *keylock.Locks {
	return keylock.New(func(project string) string { return "the policy of project " + project })
}

// clock returns the current time at the precision the store keeps (milliseconds, UTC).
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

// Ping reports whether the store answers.
func (s *Service) Ping(ctx context.Context) error { return s.store.Ping(ctx) }

// Degraded reports why the store's answers may be incomplete although it answers
// (see Store.Degraded); nil when they are not.
func (s *Service) Degraded() error { return s.store.Degraded() }

// policy returns the effective policy of project: the stored one or the default,
// raised to the operator's policy floor.
func (s *Service) policy(ctx context.Context, project string) (*model.Policy, error) {
	p, err := s.storedPolicy(ctx, project)
	if err != nil || s.floor.Empty() {
		return p, err
	}
	raised := s.floor.Apply(*p)
	return &raised, nil
}

// storedPolicy returns the stored policy of project, or the default: what a change
// of the policy starts from (the floor is not written into it).
func (s *Service) storedPolicy(ctx context.Context, project string) (*model.Policy, error) {
	p, err := s.store.GetPolicy(ctx, project)
	if err != nil {
		return nil, err
	}
	if p == nil {
		d := model.DefaultPolicy(project)
		return &d, nil
	}
	return p, nil
}

// decisionPolicy returns the effective policy of project carrying its trusted
// keys' revocations (model.Policy.WithKeys): what every decision derives trust
// under (model/trust.go).
func (s *Service) decisionPolicy(ctx context.Context, project string) (*model.Policy, error) {
	p, err := s.policy(ctx, project)
	if err != nil {
		return nil, err
	}
	keys, _, err := s.store.TrustedKeys(ctx, project)
	if err != nil {
		return nil, err
	}
	return p.WithKeys(keys), nil
}

func forbidden(actor model.Actor, project string, roles []model.Role) error {
	if len(roles) == 0 {
		return model.Errorf(model.KindForbidden, "%s holds no role in project %s", actor.Subject, project)
	}
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	return model.Errorf(model.KindForbidden, "%s needs one of the roles %v in project %s", actor.Subject, names, project)
}

// requireRead checks that the actor may read project.
func requireRead(actor model.Actor, project string) error {
	if err := model.ValidateProject(project); err != nil {
		return err
	}
	if !actor.CanRead(project) {
		return forbidden(actor, project, nil)
	}
	return nil
}

// requireAdmin checks that the actor may change project's policy and keys.
func requireAdmin(actor model.Actor, project string) error {
	if err := model.ValidateProject(project); err != nil {
		return err
	}
	if !actor.HasAnyRole(project, model.PolicyRoles...) {
		return forbidden(actor, project, model.PolicyRoles)
	}
	return nil
}

func notFound(id string) error {
	return model.Errorf(model.KindNotFound, "artifact %s not found", id)
}

// access says who may address an artifact in an operation.
type access int

const (
	// readers: any role in the artifact's project.
	readers access = iota
	// promoters: readers, plus subjects named in the project's promoterSubjects
	// (approved service accounts promote without holding a role).
	promoters
)

func (acc access) allows(actor model.Actor, a *model.Artifact, p *model.Policy) bool {
	return actor.CanRead(a.Project) || (acc == promoters && p.HasPromoterSubject(actor.Subject))
}

// fetch loads an artifact by id, whoever asks: callers decide what the actor may see.
func (s *Service) fetch(ctx context.Context, id string) (*model.Artifact, error) {
	if err := validateID(id); err != nil {
		return nil, err
	}
	a, err := s.store.GetArtifact(ctx, id)
	if model.IsKind(err, model.KindNotFound) {
		return nil, notFound(id)
	}
	return a, err
}

// load fetches an artifact the actor may address and, for promoters access, its
// project's effective policy (nil for readers access). An artifact the actor may
// not address is reported as not found, so nothing about it is revealed.
func (s *Service) load(ctx context.Context, actor model.Actor, id string, acc access) (*model.Artifact, *model.Policy, error) {
	a, err := s.fetch(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if acc == readers {
		// Readers are decided by the token alone: no policy read on this path.
		if !actor.CanRead(a.Project) {
			return nil, nil, notFound(id)
		}
		return a, nil, nil
	}
	p, err := s.decisionPolicy(ctx, a.Project)
	if err != nil {
		return nil, nil, err
	}
	if !acc.allows(actor, a, p) {
		return nil, nil, notFound(id)
	}
	return a, p, nil
}

func validateID(id string) error { return validateIDField("id", id) }

// validateIDField checks an artifact id given in the input field named field.
func validateIDField(field, id string) error {
	if id == "" || len(id) > 128 {
		return model.BadInput(field, "must be an artifact id of at most 128 characters")
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return model.BadInput(field, "is not an artifact id")
		}
	}
	return nil
}

// change is one artifact transition computed by a model rule.
type change func(a model.Artifact, p *model.Policy, now time.Time) (model.Artifact, error)

// mutate runs load -> authorize -> rule -> conditional write, serialized per artifact
// in the process, and retries on fresh state when another writer won the version race.
// roles are the project roles the operation needs (nil: the rule decides).
func (s *Service) mutate(ctx context.Context, rq Request, operation, id string, roles []model.Role, rule change) (*model.Artifact, error) {
	for attempt := 0; attempt < s.maxAttempts; attempt++ {
		a, err := s.mutateOnce(ctx, rq, operation, id, roles, rule)
		if model.IsKind(err, model.KindConflict) && ctx.Err() == nil {
			continue
		}
		s.observeDenial(operation, err)
		return a, err
	}
	return nil, model.Errorf(model.KindConflict, "artifact %s is being changed concurrently; try again", id)
}

// mutateOnce holds the artifact's lock, then its project's policy shared (so the
// policy and the keys' revocations cannot change between the decision and its
// write), reads the policy and keys, decides and writes.
func (s *Service) mutateOnce(ctx context.Context, rq Request, operation, id string, roles []model.Role, rule change) (*model.Artifact, error) {
	unlock, err := s.locks.Lock(ctx, id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	acc := readers
	if roles == nil {
		acc = promoters // the promotion rules decide who may promote
	}
	before, err := s.fetch(ctx, id)
	if err != nil {
		return nil, err
	}
	unlockPolicy, err := s.policyLocks.RLock(ctx, before.Project)
	if err != nil {
		return nil, err
	}
	defer unlockPolicy()
	p, err := s.decisionPolicy(ctx, before.Project)
	if err != nil {
		return nil, err
	}
	if !acc.allows(rq.Actor, before, p) {
		return nil, notFound(id)
	}
	if roles != nil && !rq.Actor.HasAnyRole(before.Project, roles...) {
		return nil, forbidden(rq.Actor, before.Project, roles)
	}
	now := s.clock()
	after, err := rule(*before, p, now)
	if err != nil {
		return nil, err
	}
	if err := s.store.UpdateArtifact(ctx, before, &after); err != nil {
		return nil, err
	}
	after.Version = before.Version + 1
	s.committed(before, &after)
	s.recheckDecision(ctx, rq, operation, p, func(cur *model.Policy) (string, bool) {
		again, err := rule(*before, cur, now)
		switch {
		case err != nil:
			return "the current policy refuses it: " + err.Error(), true
		case again.TrustState != after.TrustState || again.LifecycleState != after.LifecycleState:
			return "the current policy decides otherwise: trust " + string(again.TrustState) + ", lifecycle " + string(again.LifecycleState), true
		}
		return "", false
	}, &after)
	return &after, nil
}
