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
	// The policy stays at the version read here until the registration is written.
	unlockPolicy, err := s.policyLocks.RLock(ctx, in.Project)
	if err != nil {
		return nil, err
	}
	defer unlockPolicy()
	p, err := s.policy(ctx, in.Project)
	if err != nil {
		return nil, err
	}
	if err := model.CheckRegistration(p, in); err != nil {
		unlockPolicy()
		s.observeDenial("registerArtifact", err)
		s.recordDenial(ctx, rq, "registerArtifact", &model.Artifact{ID: id, Project: in.Project, Digest: in.Digest}, "", "", err)
		return nil, err
	}
	a := model.NewArtifact(in, rq.Actor, rq.CorrelationID, s.clock())
	a.Audit[0].PolicyVersion = p.VersionRef()
	err = s.store.InsertArtifact(ctx, &a)
	if err == nil {
		s.committed(nil, &a)
		s.recheckDecision(ctx, rq, "registerArtifact", p, func(cur *model.Policy) (string, bool) {
			if err := model.CheckRegistration(cur, in); err != nil {
				return "the current policy refuses it: " + err.Error(), true
			}
			return "", false
		}, &a)
		return &a, nil
	}
	unlockPolicy()
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
	req.At = s.clock()
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

// Admit is told the length of a whole list before the service loads it, and may
// refuse it (the API prices such lists against its complexity limit).
type Admit func(n int) error

// ArtifactAudit returns a's whole audit trail, oldest first. a is an artifact this
// service returned to rq's actor. admit, when set, is told the trail's length
// before anything is loaded. Only a long trail costs reads: its older events are
// loaded from the store.
func (s *Service) ArtifactAudit(ctx context.Context, rq Request, a *model.Artifact, admit Admit) ([]model.AuditEvent, error) {
	if admit != nil {
		if err := admit(a.AuditLen()); err != nil {
			return nil, err
		}
	}
	if a.AuditFrom == 0 {
		return a.Audit, nil
	}
	return s.store.ArtifactAudit(ctx, a, 0, a.AuditLen())
}

// ArtifactPromotions returns every promotion of a, oldest first, as ArtifactAudit
// returns its events.
func (s *Service) ArtifactPromotions(ctx context.Context, rq Request, a *model.Artifact, admit Admit) ([]model.Promotion, error) {
	if admit != nil {
		if err := admit(a.PromotionsLen()); err != nil {
			return nil, err
		}
	}
	if a.PromotionsFrom == 0 {
		return a.Promotions, nil
	}
	return s.store.ArtifactPromotions(ctx, a, 0, a.PromotionsLen())
}

// AuditTrail returns a page of a's audit trail, newest first (the reverse of the
// order events were appended), strictly after cursor after (one this method
// returned for a). A page reads a and at most the trail buckets holding its
// events, so it costs the same whatever the trail's length.
func (s *Service) AuditTrail(ctx context.Context, rq Request, a *model.Artifact, first *int, after string) (AuditPage, error) {
	n, err := model.PageSize(first, 50)
	if err != nil {
		return AuditPage{}, err
	}
	end := a.AuditLen()
	if after != "" {
		c, err := model.DecodeCursor(after)
		if err != nil {
			return AuditPage{}, err
		}
		if c.ID != a.ID {
			return AuditPage{}, model.BadInput("after", "is a cursor of another artifact's audit trail")
		}
		end = min(end, c.Seq)
	}
	lo := max(0, end-n)
	events, err := s.store.ArtifactAudit(ctx, a, lo, end)
	if err != nil {
		return AuditPage{}, err
	}
	page := AuditPage{Items: make([]AuditEntry, 0, len(events)), HasNext: lo > 0}
	for i := len(events) - 1; i >= 0; i-- {
		ev := events[i]
		ev.ArtifactID, ev.Project = a.ID, a.Project
		page.Items = append(page.Items, AuditEntry{Event: ev, Seq: lo + i})
	}
	return page, nil
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
	return s.listArtifacts(ctx, rq, project, f, first, after, false)
}

// ArtifactSummaries is Artifacts with only the summary fields of each artifact
// (model.Artifact.Summary), read from the store's list without loading the
// artifacts; authorized and validated as Artifacts.
func (s *Service) ArtifactSummaries(ctx context.Context, rq Request, project string, f ArtifactFilter, first *int, after string) (ArtifactPage, error) {
	return s.listArtifacts(ctx, rq, project, f, first, after, true)
}

func (s *Service) listArtifacts(ctx context.Context, rq Request, project string, f ArtifactFilter, first *int, after string, summary bool) (ArtifactPage, error) {
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
	q := ArtifactQuery{Project: project, Filter: f, First: n, Summary: summary}
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
	p, err := s.decisionPolicy(ctx, project)
	if err != nil {
		return model.Placement{}, false, err
	}
	// Candidates come newest promotion first, so the first one with a deployable
	// placement holds the newest deployable promotion of all: usually the first.
	// The store skips promotions whose artifacts cannot be deployable under p by the
	// facts it keeps beside them; each candidate is decided on the artifact itself,
	// under the current policy and keys (trust derived at decision time).
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
