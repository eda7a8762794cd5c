package service

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/artifact-trust/control-plane/model"
)

// WithPolicyFloor sets the operator's policy floor: every effective policy is
// raised to it, and setProjectPolicy below it is POLICY_DENIED.
func WithPolicyFloor(f model.Floor) Option { return func(s *Service) { s.floor = f } }

// aboveFloor checks a policy about to be stored against the floor. Channels the
// input leaves out take their defaults raised to the floor (the floor is the
// operator's default); a channel the input sets below it is refused, naming every
// violation.
func (s *Service) aboveFloor(in model.PolicyInput, next *model.Policy) error {
	if s.floor.Empty() {
		return nil
	}
	given := map[model.Channel]bool{}
	for _, c := range in.Channels {
		given[c.Channel] = true
	}
	raised := s.floor.Apply(*next)
	for i, cp := range next.Channels {
		if !given[cp.Channel] {
			next.Channels[i] = raised.Channels[i]
		}
	}
	if v := s.floor.Violations(next); len(v) > 0 {
		classes := make([]string, len(v))
		for i := range v {
			classes[i] = model.DenyFloor
		}
		reasons := make([]string, len(v))
		for i, r := range v {
			reasons[i] = r + " (the operator's policy floor, POLICY_FLOOR_FILE)"
		}
		return model.DeniedFor(reasons, classes)
	}
	return nil
}

// FloorViolations returns, for every stored policy below the floor, its
// violations (the effective policies are raised to the floor all the same). It
// reads every policy: for the start-up log.
func (s *Service) FloorViolations(ctx context.Context) (map[string][]string, error) {
	out := map[string][]string{}
	if s.floor.Empty() {
		return out, nil
	}
	ps, err := s.store.Policies(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if v := s.floor.Violations(p); len(v) > 0 {
			out[p.Project] = v
		}
	}
	return out, nil
}

// Decide records an approval or a rejection of promoting an artifact into a
// channel and environment (approvePromotion, rejectPromotion). Approving again
// while one's approval is live, or rejecting again, returns that decision and
// writes nothing.
func (s *Service) Decide(ctx context.Context, rq Request, id string, req model.ApprovalRequest) (model.Approval, error) {
	if err := validateIDField("artifactId", id); err != nil {
		return model.Approval{}, err
	}
	if err := req.Validate(); err != nil {
		return model.Approval{}, err
	}
	operation := "approvePromotion"
	if req.Decision == model.DecisionRejected {
		operation = "rejectPromotion"
	}
	var unchanged model.Approval
	a, err := s.mutate(ctx, rq, operation, id, nil, func(a model.Artifact, p *model.Policy, now time.Time) (model.Artifact, error) {
		out, ap, err := model.Decide(a, p, rq.Actor, req, rq.CorrelationID, now)
		if err == model.ErrUnchanged {
			unchanged = ap
		}
		return out, err
	})
	if errors.Is(err, model.ErrUnchanged) {
		unchanged.ArtifactID = id
		return unchanged, nil
	}
	if err != nil {
		return model.Approval{}, err
	}
	// The decision written: the actor's entry for that channel and environment.
	for _, ap := range a.Approvals {
		if ap.DecidedBy == rq.Actor.Subject && ap.Channel == req.Channel && ap.TargetEnvironment == req.TargetEnvironment {
			ap.ArtifactID = a.ID
			return ap, nil
		}
	}
	return model.Approval{}, model.Errorf(model.KindInternal, "the decision on artifact %s was written but not found", id)
}

// Approvals returns the approval decisions of an artifact the caller may read,
// newest first.
func (s *Service) Approvals(a *model.Artifact) []model.Approval {
	out := make([]model.Approval, len(a.Approvals))
	for i, ap := range a.Approvals {
		ap.ArtifactID = a.ID
		out[len(out)-1-i] = ap
	}
	return out
}

// Freeze stops promotions into channels (none: every channel) of a project, as a
// new policy version audited project.freeze in the policy's trail. A freeze
// replaces the one in force.
func (s *Service) Freeze(ctx context.Context, rq Request, project string, in model.FreezeRequest) (*model.Policy, error) {
	if err := requireAdmin(rq.Actor, project); err != nil {
		return nil, err
	}
	if _, err := model.NewFreeze(in, rq.Actor, s.clock()); err != nil {
		return nil, err
	}
	return s.changeFreeze(ctx, rq, project, model.ActionFreeze, in.Reason, func(cur *model.Policy, now time.Time) (*model.Freeze, error) {
		f, err := model.NewFreeze(in, rq.Actor, now)
		return &f, err
	})
}

// Unfreeze lifts a project's freeze (project.unfreeze). A project with no freeze
// in force is INVALID_TRANSITION.
func (s *Service) Unfreeze(ctx context.Context, rq Request, project, reason string) (*model.Policy, error) {
	if err := requireAdmin(rq.Actor, project); err != nil {
		return nil, err
	}
	if strings.TrimSpace(reason) == "" {
		return nil, model.BadInput("reason", "is required to unfreeze promotions")
	}
	if err := model.ValidateReason(reason); err != nil {
		return nil, err
	}
	return s.changeFreeze(ctx, rq, project, model.ActionUnfreeze, reason, func(cur *model.Policy, now time.Time) (*model.Freeze, error) {
		if cur.Freeze == nil || (cur.Freeze.Until != nil && !now.Before(*cur.Freeze.Until)) {
			return nil, model.Errorf(model.KindInvalidTransition, "promotions in project %s are not frozen", project)
		}
		return nil, nil
	})
}

// changeFreeze stores the stored policy with the freeze next returns as a new
// version, audited as action with reason.
func (s *Service) changeFreeze(ctx context.Context, rq Request, project, action, reason string, next func(cur *model.Policy, now time.Time) (*model.Freeze, error)) (*model.Policy, error) {
	unlock, err := s.policyLocks.Lock(ctx, project)
	if err != nil {
		return nil, err
	}
	defer unlock()
	cur, err := s.storedPolicy(ctx, project)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	f, err := next(cur, now)
	if err != nil {
		return nil, err
	}
	p := *cur
	p.Freeze = f
	p.Version, p.UpdatedAt, p.UpdatedBy = cur.Version+1, now, rq.Actor.Subject
	change := model.PolicyChange{
		Action: action, Project: project, Actor: rq.Actor.Subject, ActorType: rq.Actor.Type,
		FromVersion: cur.Version, ToVersion: p.Version, CorrelationID: rq.CorrelationID, At: now, Reason: reason,
	}
	if err := s.store.PutPolicy(ctx, &p, change); err != nil {
		return nil, err
	}
	if s.floor.Empty() {
		return &p, nil
	}
	raised := s.floor.Apply(p)
	return &raised, nil
}

// Side is one side of an environment diff: what is deployable there, if anything.
type Side struct {
	Channel           model.Channel
	TargetEnvironment string
	Placement         model.Placement
	Found             bool
}

// EnvironmentDiff returns what is deployable in two channel/environment pairs.
func (s *Service) EnvironmentDiff(ctx context.Context, rq Request, project string, from, to Side) (Side, Side, error) {
	var err error
	if from.Placement, from.Found, err = s.Deployable(ctx, rq, project, from.Channel, from.TargetEnvironment); err != nil {
		return from, to, err
	}
	if to.Placement, to.Found, err = s.Deployable(ctx, rq, project, to.Channel, to.TargetEnvironment); err != nil {
		return from, to, err
	}
	return from, to, nil
}
