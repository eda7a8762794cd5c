package service

import (
	"context"

	"github.com/artifact-trust/control-plane/model"
)

// Policy returns the effective policy of a project.
func (s *Service) Policy(ctx context.Context, rq Request, project string) (*model.Policy, error) {
	if err := requireRead(rq.Actor, project); err != nil {
		return nil, err
	}
	p, err := s.policy(ctx, project)
	if err != nil {
		return nil, err
	}
	if p.Freeze != nil && p.Freeze.Until != nil && !s.clock().Before(*p.Freeze.Until) {
		// A freeze past its end no longer shows.
		q := *p
		q.Freeze = nil
		return &q, nil
	}
	return p, nil
}

// PolicyHistory returns the policy's own audit trail, newest first. admit, when set,
// is told the trail's length before it is loaded and may refuse it (it prices the
// list).
func (s *Service) PolicyHistory(ctx context.Context, rq Request, project string, admit Admit) ([]model.PolicyChange, error) {
	if err := requireRead(rq.Actor, project); err != nil {
		return nil, err
	}
	if admit != nil {
		n, err := s.store.PolicyChangeCount(ctx, project)
		if err != nil {
			return nil, err
		}
		if err := admit(n); err != nil {
			return nil, err
		}
	}
	return s.store.PolicyChanges(ctx, project)
}

// SetPolicy stores a new version of a project's policy, audited in its own trail.
func (s *Service) SetPolicy(ctx context.Context, rq Request, project string, in model.PolicyInput) (*model.Policy, error) {
	next, err := model.NewPolicy(project, in)
	if err != nil {
		return nil, err
	}
	if !rq.Actor.HasAnyRole(project, model.PolicyRoles...) {
		return nil, forbidden(rq.Actor, project, model.PolicyRoles)
	}
	// Exclusive: no decision reads the policy while it changes, and every decision
	// taken under the current version is written before the new one is stored.
	unlock, err := s.policyLocks.Lock(ctx, project)
	if err != nil {
		return nil, err
	}
	defer unlock()
	cur, err := s.storedPolicy(ctx, project)
	if err != nil {
		return nil, err
	}
	if err := s.aboveFloor(in, &next); err != nil {
		s.observeDenial("setProjectPolicy", err)
		return nil, err
	}
	// A freeze is lifted only by unfreezePromotions.
	next.Freeze = cur.Freeze
	if in.ExpectedVersion != nil && *in.ExpectedVersion != cur.Version {
		return nil, model.Errorf(model.KindConflict, "the policy of project %s is at version %d, not the expected %d; reload it and apply your change again", project, cur.Version, *in.ExpectedVersion)
	}
	now := s.clock()
	next.Version, next.UpdatedAt, next.UpdatedBy = cur.Version+1, now, rq.Actor.Subject
	change := model.PolicyChange{
		Action: model.ActionPolicy, Project: project, Actor: rq.Actor.Subject, ActorType: rq.Actor.Type,
		FromVersion: cur.Version, ToVersion: next.Version, CorrelationID: rq.CorrelationID, At: now,
	}
	if err := s.store.PutPolicy(ctx, &next, change); err != nil {
		return nil, err
	}
	// Stored trust catches up with the new version in the background (rederive.go).
	if keys, _, err := s.store.TrustedKeys(ctx, project); err == nil {
		s.trustInputsChanged(ctx, rq, project, next.WithKeys(keys), model.PolicyReason(next.Version))
	}
	return &next, nil
}
