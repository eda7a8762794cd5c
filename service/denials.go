package service

import (
	"context"
	"errors"
	"time"

	"github.com/artifact-trust/control-plane/model"
)

// denialWriteTimeout bounds the best-effort write of a refusal record.
const denialWriteTimeout = 2 * time.Second

// recordDenial keeps a POLICY_DENIED refusal in the project's recent denials. It is
// best effort: the refusal is answered and logged whether or not this write lands.
func (s *Service) recordDenial(ctx context.Context, rq Request, operation string, a *model.Artifact, c model.Channel, env string, err error) {
	var me *model.Error
	if !errors.As(err, &me) || me.Kind != model.KindPolicyDenied {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), denialWriteTimeout)
	defer cancel()
	_ = s.store.AppendDenial(ctx, model.Denial{
		Project: a.Project, Operation: operation, Actor: rq.Actor.Subject, ActorType: rq.Actor.Type,
		ArtifactID: a.ID, Digest: a.Digest, Channel: c, TargetEnvironment: env,
		Reasons: me.Reasons, Classes: me.Classes, CorrelationID: rq.CorrelationID, At: s.clock(),
	})
}

// RecentDenials returns a project's most recent POLICY_DENIED refusals, newest first.
func (s *Service) RecentDenials(ctx context.Context, rq Request, project string, first *int) ([]model.Denial, error) {
	if err := requireRead(rq.Actor, project); err != nil {
		return nil, err
	}
	n, err := model.PageSize(first, model.DefaultPageSize)
	if err != nil {
		return nil, err
	}
	return s.store.RecentDenials(ctx, project, n)
}
