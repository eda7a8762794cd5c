package resolvers

import (
	"context"

	"github.com/artifact-trust/control-plane/graph"
	"github.com/artifact-trust/control-plane/model"
)

func promotionRequest(in graph.PromoteArtifactInput) model.PromotionRequest {
	return model.PromotionRequest{Channel: in.Channel, TargetEnvironment: deref(in.TargetEnvironment), Reason: deref(in.Reason), BreakGlass: breakGlass(in.BreakGlass)}
}

func (r mutationResolver) RegisterArtifact(ctx context.Context, in graph.RegisterArtifactInput) (*model.Artifact, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	return r.Service.Register(ctx, rq, model.RegisterInput{
		Project: in.Project, Digest: in.Digest, Kind: in.Kind, SourceType: in.SourceType,
		Source: in.Source, RuntimeClass: deref(in.RuntimeClass), Tags: in.Tags,
	})
}

func (r mutationResolver) VerifyArtifact(ctx context.Context, in graph.VerifyArtifactInput) (*model.Artifact, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	results := make([]model.VerificationRecord, 0, len(in.Results))
	for _, res := range in.Results {
		results = append(results, model.VerificationRecord{Check: res.Check, Result: res.Result, Detail: deref(res.Detail)})
	}
	return r.Service.Verify(ctx, rq, in.ArtifactID, results, deref(in.Reason))
}

func (r mutationResolver) PromoteArtifact(ctx context.Context, in graph.PromoteArtifactInput) (*model.Artifact, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	return r.Service.Promote(ctx, rq, in.ArtifactID, promotionRequest(in))
}

func (r mutationResolver) DeprecateArtifact(ctx context.Context, id string, reason *string) (*model.Artifact, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	return r.Service.Deprecate(ctx, rq, id, deref(reason))
}

func (r mutationResolver) RetireArtifact(ctx context.Context, id string, reason *string) (*model.Artifact, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	return r.Service.Retire(ctx, rq, id, deref(reason))
}

func (r mutationResolver) RevokeArtifact(ctx context.Context, id string, reason string) (*model.Artifact, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	return r.Service.Revoke(ctx, rq, id, reason)
}

func (r mutationResolver) SetProjectPolicy(ctx context.Context, project string, in graph.ProjectPolicyInput) (*model.Policy, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	pi := model.PolicyInput{
		AllowedSourceTypes: in.AllowedSourceTypes, AllowedSources: in.AllowedSources, AllowNonOCI: in.AllowNonOci,
		NonOCIRuntimeClasses: in.NonOciRuntimeClasses, RequiredChecks: in.RequiredChecks, StrictProgression: in.StrictProgression,
		ExpectedVersion: in.ExpectedVersion, Provenance: provenanceInput(in.Provenance),
		PromotionWindows: promotionWindows(in.PromotionWindows),
	}
	for _, c := range in.Channels {
		pi.Channels = append(pi.Channels, model.ChannelPolicyInput{
			Channel: c.Channel, RequiredTrust: c.RequiredTrust, RequiredChecks: c.RequiredChecks,
			PromoterRoles: c.PromoterRoles, PromoterSubjects: c.PromoterSubjects,
			RequireVerifiedEvidence: c.RequireVerifiedEvidence,
			RequiredApprovals:       c.RequiredApprovals, ApproverRoles: c.ApproverRoles, ForbidSelfApproval: c.ForbidSelfApproval,
			ApprovalValiditySeconds: c.ApprovalValiditySeconds, MinSoakSeconds: c.MinSoakSeconds,
			BreakGlassRoles: c.BreakGlassRoles, BreakGlassSubjects: c.BreakGlassSubjects,
		})
	}
	return r.Service.SetPolicy(ctx, rq, project, pi)
}
