// Package resolvers adapts GraphQL to the service: actor from the context ->
// service call -> result. It holds no rules.
package resolvers

import (
	"context"
	"time"

	"github.com/artifact-trust/control-plane/auth"
	"github.com/artifact-trust/control-plane/correlation"
	"github.com/artifact-trust/control-plane/graph"
	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

// Resolver is the root resolver.
type Resolver struct {
	Service *service.Service
	// PriceList, when set, is told the length of a whole list field being resolved
	// (an artifact's audit trail or promotions, a policy's history) before it is
	// loaded, and refuses it when the operation cannot afford it.
	PriceList func(ctx context.Context, n int) error
}

// admit binds PriceList to the field being resolved in ctx.
func (r *Resolver) admit(ctx context.Context) service.Admit {
	if r.PriceList == nil {
		return nil
	}
	return func(n int) error { return r.PriceList(ctx, n) }
}

type (
	queryResolver              struct{ *Resolver }
	mutationResolver           struct{ *Resolver }
	artifactResolver           struct{ *Resolver }
	auditEventResolver         struct{ *Resolver }
	promotionResolver          struct{ *Resolver }
	verificationRecordResolver struct{ *Resolver }
	projectPolicyResolver      struct{ *Resolver }
)

var (
	_ graph.ResolverRoot               = (*Resolver)(nil)
	_ graph.QueryResolver              = queryResolver{}
	_ graph.MutationResolver           = mutationResolver{}
	_ graph.ArtifactResolver           = artifactResolver{}
	_ graph.AuditEventResolver         = auditEventResolver{}
	_ graph.PromotionResolver          = promotionResolver{}
	_ graph.VerificationRecordResolver = verificationRecordResolver{}
	_ graph.ProjectPolicyResolver      = projectPolicyResolver{}
)

func (r *Resolver) Query() graph.QueryResolver       { return queryResolver{r} }
func (r *Resolver) Mutation() graph.MutationResolver { return mutationResolver{r} }
func (r *Resolver) Artifact() graph.ArtifactResolver { return artifactResolver{r} }
func (r *Resolver) AuditEvent() graph.AuditEventResolver {
	return auditEventResolver{r}
}
func (r *Resolver) Promotion() graph.PromotionResolver { return promotionResolver{r} }
func (r *Resolver) VerificationRecord() graph.VerificationRecordResolver {
	return verificationRecordResolver{r}
}
func (r *Resolver) ProjectPolicy() graph.ProjectPolicyResolver { return projectPolicyResolver{r} }

// request identifies the caller: the verified actor and the correlation id.
func request(ctx context.Context) (service.Request, error) {
	actor, err := auth.Require(ctx)
	if err != nil {
		return service.Request{}, err
	}
	return service.Request{Actor: actor, CorrelationID: correlation.ID(ctx)}, nil
}

// str maps "" to null.
func str(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (artifactResolver) RuntimeClass(_ context.Context, a *model.Artifact) (*string, error) {
	return str(a.RuntimeClass), nil
}

func (r artifactResolver) Promotions(ctx context.Context, a *model.Artifact) ([]model.Promotion, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	return r.Service.ArtifactPromotions(ctx, rq, a, r.admit(ctx))
}

func (r artifactResolver) Audit(ctx context.Context, a *model.Artifact) ([]model.AuditEvent, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	return r.Service.ArtifactAudit(ctx, rq, a, r.admit(ctx))
}

func (r artifactResolver) AuditTrail(ctx context.Context, a *model.Artifact, first *int, after *string) (*graph.AuditEventConnection, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	page, err := r.Service.AuditTrail(ctx, rq, a, first, deref(after))
	if err != nil {
		return nil, err
	}
	return auditConnection(page), nil
}

func (verificationRecordResolver) Detail(_ context.Context, v *model.VerificationRecord) (*string, error) {
	return str(v.Detail), nil
}

func (promotionResolver) TargetEnvironment(_ context.Context, p *model.Promotion) (*string, error) {
	return str(p.TargetEnvironment), nil
}

func (promotionResolver) Reason(_ context.Context, p *model.Promotion) (*string, error) {
	return str(p.Reason), nil
}

func (auditEventResolver) FromState(_ context.Context, e *model.AuditEvent) (*string, error) {
	return str(e.FromState), nil
}

func (auditEventResolver) ToState(_ context.Context, e *model.AuditEvent) (*string, error) {
	return str(e.ToState), nil
}

func (auditEventResolver) PromotionChannel(_ context.Context, e *model.AuditEvent) (*model.Channel, error) {
	if e.PromotionChannel == "" {
		return nil, nil
	}
	c := e.PromotionChannel
	return &c, nil
}

func (auditEventResolver) PromotionEnvironment(_ context.Context, e *model.AuditEvent) (*string, error) {
	return str(e.PromotionEnvironment), nil
}

func (auditEventResolver) Reason(_ context.Context, e *model.AuditEvent) (*string, error) {
	return str(e.Reason), nil
}

func (projectPolicyResolver) UpdatedAt(_ context.Context, p *model.Policy) (*time.Time, error) {
	if p.Version == 0 || p.UpdatedAt.IsZero() {
		return nil, nil
	}
	t := p.UpdatedAt
	return &t, nil
}

func (projectPolicyResolver) UpdatedBy(_ context.Context, p *model.Policy) (*string, error) {
	return str(p.UpdatedBy), nil
}

type subscriptionResolver struct{ *Resolver }

var _ graph.SubscriptionResolver = subscriptionResolver{}

func (r *Resolver) Subscription() graph.SubscriptionResolver { return subscriptionResolver{r} }

func (r subscriptionResolver) ArtifactEvents(ctx context.Context, project string, after *string) (<-chan *model.AuditEvent, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	return r.Service.SubscribeEvents(ctx, rq, project, deref(after))
}

type policyDenialResolver struct{ *Resolver }

var _ graph.PolicyDenialResolver = policyDenialResolver{}

func (r *Resolver) PolicyDenial() graph.PolicyDenialResolver { return policyDenialResolver{r} }

func (policyDenialResolver) Channel(_ context.Context, d *model.Denial) (*model.Channel, error) {
	if d.Channel == "" {
		return nil, nil
	}
	c := d.Channel
	return &c, nil
}

func (policyDenialResolver) TargetEnvironment(_ context.Context, d *model.Denial) (*string, error) {
	return str(d.TargetEnvironment), nil
}
