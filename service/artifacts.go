package service

import (
	"context"
	"strings"
	"time"

	"github.com/artifact-trust/control-plane/model"
)

// Register registers a digest in a project. A retry with the same kind, source type
// and source returns the existing artifact unchanged, even if the policy changed
// since; different values are CONFLICT. New registrations follow the policy.
func (s *Service) Register(ctx context.Context, rq Request, in model.RegisterInput) (*model.Artifact, error) {
	if err := model.ValidateProject(in.Project); err != nil {
		return nil, err
	}
	if !rq.Actor.HasAnyRole(in.Project, model.RegisterRoles...) {
		return nil, forbidden(rq.Actor, in.Project, model.RegisterRoles)
	}
	in, err := in.Validate()
	if err != nil {
		return nil, err
	}
	id := model.ArtifactID(in.Project, in.Digest)
	existing, err := s.store.GetArtifact(ctx, id)
	switch {
	case err == nil:
		return retriedRegistration(existing, in)
	case !model.IsKind(err, model.KindNotFound):
		return nil, err
	}
	p, err := s.policy(ctx, in.Project)
	if err != nil {
		return nil, err
	}
	if err := model.CheckRegistration(p, in); err != nil {
		s.observeDenial("registerArtifact", err)
		s.recordDenial(ctx, rq, "registerArtifact", &model.Artifact{ID: id, Project: in.Project, Digest: in.Digest}, "", "", err)
		return nil, err
	}
	a := model.NewArtifact(in, rq.Actor, rq.CorrelationID, s.clock())
	err = s.store.InsertArtifact(ctx, &a)
	if err == nil {
		s.committed(nil, &a)
		return &a, nil
	}
	if !model.IsKind(err, model.KindConflict) {
		return nil, err
	}
	// Another request registered it between our look-up and our insert.
	if existing, err = s.store.GetArtifact(ctx, id); err != nil {
		return nil, err
	}
	return retriedRegistration(existing, in)
}

// retriedRegistration answers a registration of an existing (project, digest).
func retriedRegistration(existing *model.Artifact, in model.RegisterInput) (*model.Artifact, error) {
	if diff := existing.RegistrationDiff(in); len(diff) > 0 {
		return nil, model.Errorf(model.KindConflict,
			"digest %s is already registered in project %s; an artifact's kind, source type and source never change, and this request differs in %s",
			in.Digest, in.Project, strings.Join(diff, ", "))
	}
	return existing, nil
}

// Verify runs the baseline checks, records submitted trust inputs and derives trust.
func (s *Service) Verify(ctx context.Context, rq Request, id string, results []model.VerificationRecord, reason string) (*model.Artifact, error) {
	if err := validateIDField("artifactId", id); err != nil {
		return nil, err
	}
	if err := model.ValidateResults(results); err != nil {
		return nil, err
	}
	if err := model.ValidateReason(reason); err != nil {
		return nil, err
	}
	return s.mutate(ctx, rq, "verifyArtifact", id, model.VerifyRoles, func(a model.Artifact, p *model.Policy, now time.Time) (model.Artifact, error) {
		return model.Verify(a, p, results, rq.Actor, rq.CorrelationID, reason, now)
	})
}

// Promote promotes an artifact into a channel under the project policy.
func (s *Service) Promote(ctx context.Context, rq Request, id string, req model.PromotionRequest) (*model.Artifact, error) {
	if err := validateIDField("artifactId", id); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	var refused *model.Artifact
	a, err := s.mutate(ctx, rq, "promoteArtifact", id, nil, func(a model.Artifact, p *model.Policy, now time.Time) (model.Artifact, error) {
		out, err := model.Promote(a, p, rq.Actor, req, rq.CorrelationID, now)
		if err != nil {
			refused = &a
		}
		return out, err
	})
	if err != nil && refused != nil {
		s.recordDenial(ctx, rq, "promoteArtifact", refused, req.Channel, req.TargetEnvironment, err)
	}
	return a, err
}

// EvaluatePromotion runs the promotion rules without changing anything.
func (s *Service) EvaluatePromotion(ctx context.Context, rq Request, id string, req model.PromotionRequest) (model.Decision, error) {
	if err := validateIDField("artifactId", id); err != nil {
		return model.Decision{}, err
	}
	if err := req.Validate(); err != nil {
		return model.Decision{}, err
	}
	a, p, err := s.load(ctx, rq.Actor, id, promoters)
	if err != nil {
		return model.Decision{}, err
	}
	return model.EvaluatePromotion(a, p, rq.Actor, req), nil
}

// Deprecate moves an artifact to DEPRECATED.
func (s *Service) Deprecate(ctx context.Context, rq Request, id, reason string) (*model.Artifact, error) {
	return s.lifecycle(ctx, rq, "deprecateArtifact", id, reason, model.LifecycleRoles, model.Deprecate)
}

// Retire moves an artifact to RETIRED.
func (s *Service) Retire(ctx context.Context, rq Request, id, reason string) (*model.Artifact, error) {
	return s.lifecycle(ctx, rq, "retireArtifact", id, reason, model.LifecycleRoles, model.Retire)
}

// Revoke moves an artifact's trust to REVOKED.
func (s *Service) Revoke(ctx context.Context, rq Request, id, reason string) (*model.Artifact, error) {
	return s.lifecycle(ctx, rq, "revokeArtifact", id, reason, model.RevokeRoles, model.Revoke)
}

type transition func(a model.Artifact, actor model.Actor, correlationID, reason string, now time.Time) (model.Artifact, error)

func (s *Service) lifecycle(ctx context.Context, rq Request, operation, id, reason string, roles []model.Role, t transition) (*model.Artifact, error) {
	if err := model.ValidateReason(reason); err != nil {
		return nil, err
	}
	return s.mutate(ctx, rq, operation, id, roles, func(a model.Artifact, _ *model.Policy, now time.Time) (model.Artifact, error) {
		return t(a, rq.Actor, rq.CorrelationID, reason, now)
	})
}

// Artifact returns an artifact by id, or nil when it does not exist or the actor
// may not see it.
func (s *Service) Artifact(ctx context.Context, rq Request, id string) (*model.Artifact, error) {
	a, _, err := s.load(ctx, rq.Actor, id, readers)
	if model.IsKind(err, model.KindNotFound) {
		return nil, nil
	}
	return a, err
}

// ArtifactByDigest returns the artifact of (project, digest), or nil.
func (s *Service) ArtifactByDigest(ctx context.Context, rq Request, project, digest string) (*model.Artifact, error) {
	if err := requireRead(rq.Actor, project); err != nil {
		return nil, err
	}
	d, err := model.ParseDigest(digest)
	if err != nil {
		return nil, err
	}
	a, err := s.store.GetArtifact(ctx, model.ArtifactID(project, d))
	if model.IsKind(err, model.KindNotFound) {
		return nil, nil
	}
	return a, err
}

// Artifacts returns a page of a project's artifacts, newest first.
func (s *Service) Artifacts(ctx context.Context, rq Request, project string, f ArtifactFilter, first *int, after string) (ArtifactPage, error) {
	if err := requireRead(rq.Actor, project); err != nil {
		return ArtifactPage{}, err
	}
	if f.Tag != "" {
		if err := model.ValidateTag("filter.tag", f.Tag); err != nil {
			return ArtifactPage{}, err
		}
	}
	n, err := model.PageSize(first, model.DefaultPageSize)
	if err != nil {
		return ArtifactPage{}, err
	}
	q := ArtifactQuery{Project: project, Filter: f, First: n}
	if after != "" {
		c, err := model.DecodeCursor(after)
		if err != nil {
			return ArtifactPage{}, err
		}
		q.After = &c
	}
	return s.store.ListArtifacts(ctx, q)
}

// ChannelStatus returns the latest promotion per channel and environment.
func (s *Service) ChannelStatus(ctx context.Context, rq Request, project string) ([]model.Placement, error) {
	if err := requireRead(rq.Actor, project); err != nil {
		return nil, err
	}
	arts, err := s.store.ChannelStatusArtifacts(ctx, project)
	if err != nil {
		return nil, err
	}
	return model.ChannelStatus(arts), nil
}

// Deployable returns the newest promotion into exactly (channel, env) whose artifact
// is eligible now, or false.
func (s *Service) Deployable(ctx context.Context, rq Request, project string, c model.Channel, env string) (model.Placement, bool, error) {
	if err := requireRead(rq.Actor, project); err != nil {
		return model.Placement{}, false, err
	}
	if env != "" {
		if err := model.ValidateEnvironment(env); err != nil {
			return model.Placement{}, false, err
		}
	}
	if !c.Valid() {
		return model.Placement{}, false, model.BadInput("channel", "unknown channel %q", c)
	}
	p, err := s.policy(ctx, project)
	if err != nil {
		return model.Placement{}, false, err
	}
	// Candidates come newest promotion first, so the first one with a deployable
	// placement holds the newest deployable promotion of all: usually the first.
	// The store skips promotions whose artifacts cannot be deployable under p by the
	// facts it keeps beside them; each candidate is decided on the artifact itself,
	// under the current policy.
	for a, err := range s.store.DeployCandidates(ctx, project, c, env, p) {
		if err != nil {
			return model.Placement{}, false, err
		}
		if pl, ok := model.PickDeployable([]*model.Artifact{a}, p, c, env); ok {
			return pl, true, nil
		}
	}
	return model.Placement{}, false, nil
}

// AuditEvents returns a page of a project's artifact audit events, newest first.
func (s *Service) AuditEvents(ctx context.Context, rq Request, project string, f AuditFilter, first *int, after string) (AuditPage, error) {
	if err := requireRead(rq.Actor, project); err != nil {
		return AuditPage{}, err
	}
	if err := validateAuditFilter(f); err != nil {
		return AuditPage{}, err
	}
	n, err := model.PageSize(first, 50)
	if err != nil {
		return AuditPage{}, err
	}
	q := AuditQuery{Project: project, Filter: f, First: n}
	if after != "" {
		c, err := model.DecodeCursor(after)
		if err != nil {
			return AuditPage{}, err
		}
		q.After = &c
	}
	return s.store.AuditEvents(ctx, q)
}

// validateAuditFilter checks each set field of an audit filter (an unset field is "").
func validateAuditFilter(f AuditFilter) error {
	checks := []struct {
		value string
		check func() error
	}{
		{f.Action, func() error { return model.ValidateAuditAction("filter.action", f.Action) }},
		{f.Actor, func() error { return model.ValidateSubject("filter.actor", f.Actor) }},
		{f.ArtifactID, func() error { return validateIDField("filter.artifactId", f.ArtifactID) }},
		{f.CorrelationID, func() error { return model.ValidateCorrelationID("filter.correlationId", f.CorrelationID) }},
	}
	for _, c := range checks {
		if c.value != "" {
			if err := c.check(); err != nil {
				return err
			}
		}
	}
	return nil
}
