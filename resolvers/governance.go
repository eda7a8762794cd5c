package resolvers

import (
	"context"
	"time"

	"github.com/artifact-trust/control-plane/graph"
	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

type approvalResolver struct{ *Resolver }

var _ graph.ApprovalResolver = approvalResolver{}

func (r *Resolver) Approval() graph.ApprovalResolver { return approvalResolver{r} }

func (approvalResolver) TargetEnvironment(_ context.Context, a *model.Approval) (*string, error) {
	return str(a.TargetEnvironment), nil
}

func (approvalResolver) Comment(_ context.Context, a *model.Approval) (*string, error) {
	return str(a.Comment), nil
}

// Approvals are charged by their real length (at most
// model.MaxApprovalsPerArtifact), like the other whole lists of an artifact.
func (r artifactResolver) Approvals(ctx context.Context, a *model.Artifact) ([]model.Approval, error) {
	if admit := r.admit(ctx); admit != nil {
		if err := admit(len(a.Approvals)); err != nil {
			return nil, err
		}
	}
	return r.Service.Approvals(a), nil
}

func (promotionResolver) Justification(_ context.Context, p *model.Promotion) (*string, error) {
	return str(p.Justification), nil
}

func (promotionResolver) Ticket(_ context.Context, p *model.Promotion) (*string, error) {
	return str(p.Ticket), nil
}

func (auditEventResolver) Justification(_ context.Context, e *model.AuditEvent) (*string, error) {
	return str(e.Justification), nil
}

func (auditEventResolver) Ticket(_ context.Context, e *model.AuditEvent) (*string, error) {
	return str(e.Ticket), nil
}

func (r mutationResolver) decide(ctx context.Context, in graph.ApprovalInput, d model.ApprovalDecision) (*model.Approval, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	ap, err := r.Service.Decide(ctx, rq, in.ArtifactID, model.ApprovalRequest{
		Channel: in.Channel, TargetEnvironment: deref(in.TargetEnvironment), Comment: deref(in.Comment), Decision: d,
	})
	if err != nil {
		return nil, err
	}
	return &ap, nil
}

func (r mutationResolver) ApprovePromotion(ctx context.Context, in graph.ApprovalInput) (*model.Approval, error) {
	return r.decide(ctx, in, model.DecisionApproved)
}

func (r mutationResolver) RejectPromotion(ctx context.Context, in graph.ApprovalInput) (*model.Approval, error) {
	return r.decide(ctx, in, model.DecisionRejected)
}

func (r mutationResolver) FreezePromotions(ctx context.Context, project string, channels []model.Channel, reason string, until *time.Time) (*model.Policy, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	return r.Service.Freeze(ctx, rq, project, model.FreezeRequest{Channels: channels, Reason: reason, Until: until})
}

func (r mutationResolver) UnfreezePromotions(ctx context.Context, project string, reason string) (*model.Policy, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	return r.Service.Unfreeze(ctx, rq, project, reason)
}

func deployment(s service.Side) *graph.Deployment {
	if !s.Found {
		return nil
	}
	pr := s.Placement.Promotion
	return &graph.Deployment{
		Channel: s.Channel, TargetEnvironment: str(pr.TargetEnvironment), Digest: s.Placement.Artifact.Digest, Artifact: s.Placement.Artifact,
		PromotedAt: pr.PromotedAt, PromotedBy: pr.PromotedBy, PolicyVersion: pr.PolicyVersion, BreakGlass: pr.BreakGlass,
	}
}

func (r queryResolver) EnvironmentDiff(ctx context.Context, project string, from, to graph.EnvironmentInput) (*graph.EnvironmentDiff, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	f, t, err := r.Service.EnvironmentDiff(ctx, rq, project,
		service.Side{Channel: from.Channel, TargetEnvironment: deref(from.TargetEnvironment)},
		service.Side{Channel: to.Channel, TargetEnvironment: deref(to.TargetEnvironment)})
	if err != nil {
		return nil, err
	}
	d := &graph.EnvironmentDiff{From: deployment(f), To: deployment(t)}
	d.Same = d.From != nil && d.To != nil && d.From.Digest == d.To.Digest
	return d, nil
}

func promotionWindows(in []graph.PromotionWindowInput) []model.PromotionWindow {
	if in == nil {
		return nil
	}
	out := make([]model.PromotionWindow, len(in))
	for i, w := range in {
		out[i] = model.PromotionWindow{Channels: w.Channels, Days: w.Days, Start: w.Start, End: w.End, TimeZone: w.TimeZone}
	}
	return out
}

func breakGlass(in *graph.BreakGlassInput) *model.BreakGlass {
	if in == nil {
		return nil
	}
	return &model.BreakGlass{Justification: in.Justification, Ticket: in.Ticket}
}
