package service

import (
	"context"
	"errors"
	"time"

	"github.com/artifact-trust/control-plane/evidence"
	"github.com/artifact-trust/control-plane/model"
)

// errSameEnvelope ends a submission whose envelope the artifact already holds.
var errSameEnvelope = errors.New("the artifact already holds this envelope")

// WithVerifier replaces the evidence verifier (default: evidence.KeyVerifier).
func WithVerifier(v evidence.Verifier) Option { return func(s *Service) { s.verifier = v } }

// SubmitEvidence verifies signed evidence about an artifact against its project's
// trusted keys and records the verdict (verifier, project_admin): one Evidence and
// one VERIFIED verification record per check the evidence decides, PASSED or
// FAILED with the reason, the trust derived again and one app_artifact.evidence
// event. Structurally invalid evidence is BAD_USER_INPUT and records nothing. The
// same envelope again changes nothing and returns what was recorded for it.
func (s *Service) SubmitEvidence(ctx context.Context, rq Request, id string, sub evidence.Submission) (*model.Artifact, []model.Evidence, error) {
	if err := validateIDField("artifactId", id); err != nil {
		return nil, nil, err
	}
	parsed, err := s.verifier.Parse(sub)
	if err != nil {
		return nil, nil, err
	}
	a, err := s.fetch(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if !rq.Actor.CanRead(a.Project) {
		return nil, nil, notFound(id)
	}
	if !rq.Actor.HasAnyRole(a.Project, model.VerifyRoles...) {
		err := forbidden(rq.Actor, a.Project, model.VerifyRoles)
		return nil, nil, err
	}
	if ev := a.EvidenceFor(parsed.EnvelopeSHA256); len(ev) > 0 {
		return a, ev, nil
	}
	// Refusals the artifact as loaded already decides keep nothing, not even the
	// envelope.
	if err := a.TakesEvidence(); err != nil {
		return nil, nil, err
	}
	keys, _, err := s.store.TrustedKeys(ctx, a.Project)
	if err != nil {
		return nil, nil, err
	}
	// The envelope is kept before the evidence that names it, so recorded evidence
	// can always be judged again; when the evidence is not recorded after all, the
	// envelope goes too.
	if err := s.store.PutEnvelope(ctx, a, parsed.Format, parsed.EnvelopeSHA256, parsed.Raw, s.clock()); err != nil {
		return nil, nil, err
	}
	after, err := s.mutate(ctx, rq, "submitEvidence", id, model.VerifyRoles, func(a model.Artifact, p *model.Policy, now time.Time) (model.Artifact, error) {
		if len(a.EvidenceFor(parsed.EnvelopeSHA256)) > 0 {
			return a, errSameEnvelope
		}
		judgements := s.verifier.Judge(parsed, a.Digest, keys, p.Provenance)
		return model.ApplyEvidence(a, p, parsed.Format, parsed.EnvelopeSHA256, parsed.PredicateType, judgements, rq.Actor, rq.CorrelationID, now)
	})
	if errors.Is(err, errSameEnvelope) {
		// A concurrent submission of the same envelope won.
		if after, err = s.fetch(ctx, id); err != nil {
			return nil, nil, err
		}
	} else if err != nil {
		// Best effort: an envelope left behind (the engine refused the delete too)
		// names no evidence and is overwritten when the same envelope comes again.
		_ = s.store.DeleteEnvelope(context.WithoutCancel(ctx), a, parsed.EnvelopeSHA256)
		return nil, nil, err
	}
	return after, after.EvidenceFor(parsed.EnvelopeSHA256), nil
}
