package resolvers

import (
	"context"

	"github.com/artifact-trust/control-plane/graph"
	"github.com/artifact-trust/control-plane/model"
)

type (
	trustedKeyResolver   struct{ *Resolver }
	policyChangeResolver struct{ *Resolver }
)

var (
	_ graph.TrustedKeyResolver   = trustedKeyResolver{}
	_ graph.PolicyChangeResolver = policyChangeResolver{}
)

func (r *Resolver) TrustedKey() graph.TrustedKeyResolver     { return trustedKeyResolver{r} }
func (r *Resolver) PolicyChange() graph.PolicyChangeResolver { return policyChangeResolver{r} }

func (r queryResolver) TrustedKeys(ctx context.Context, project string, includeRevoked *bool) ([]model.TrustedKey, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	return r.Service.TrustedKeys(ctx, rq, project, includeRevoked != nil && *includeRevoked, r.admit(ctx))
}

func (r queryResolver) TrustReevaluation(ctx context.Context, project string) (*model.Reevaluation, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	return r.Service.TrustReevaluation(ctx, rq, project)
}

func (r mutationResolver) AddTrustedKey(ctx context.Context, project string, in graph.TrustedKeyInput) (*model.TrustedKey, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	return r.Service.AddTrustedKey(ctx, rq, project, model.TrustedKeyInput{
		PublicKeyPEM: in.PublicKeyPem, Name: deref(in.Name), Checks: in.Checks, PredicateTypes: in.PredicateTypes,
	})
}

func (r mutationResolver) RevokeTrustedKey(ctx context.Context, project, keyID, reason string) (*model.TrustedKey, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	return r.Service.RevokeTrustedKey(ctx, rq, project, keyID, reason)
}

func (trustedKeyResolver) Name(_ context.Context, k *model.TrustedKey) (*string, error) {
	return str(k.Name), nil
}

func (trustedKeyResolver) RevokedBy(_ context.Context, k *model.TrustedKey) (*string, error) {
	return str(k.RevokedBy), nil
}

func (trustedKeyResolver) RevokeReason(_ context.Context, k *model.TrustedKey) (*string, error) {
	return str(k.RevokeReason), nil
}

func (policyChangeResolver) KeyID(_ context.Context, c *model.PolicyChange) (*string, error) {
	return str(c.KeyID), nil
}

func (policyChangeResolver) Reason(_ context.Context, c *model.PolicyChange) (*string, error) {
	return str(c.Reason), nil
}
