package resolvers

import (
	"context"

	"github.com/artifact-trust/control-plane/evidence"
	"github.com/artifact-trust/control-plane/graph"
	"github.com/artifact-trust/control-plane/model"
)

type evidenceResolver struct{ *Resolver }

var _ graph.EvidenceResolver = evidenceResolver{}

func (r *Resolver) Evidence() graph.EvidenceResolver { return evidenceResolver{r} }

func (r mutationResolver) SubmitEvidence(ctx context.Context, in graph.SubmitEvidenceInput) (*graph.EvidenceResult, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	sub := evidence.Submission{DSSE: deref(in.DsseEnvelope)}
	if in.SimpleSigning != nil {
		sub.Payload, sub.Signature = in.SimpleSigning.Payload, in.SimpleSigning.Signature
	}
	a, evs, err := r.Service.SubmitEvidence(ctx, rq, in.ArtifactID, sub)
	if err != nil {
		return nil, err
	}
	return &graph.EvidenceResult{Artifact: a, Evidence: evs}, nil
}

// Evidence returns the artifact's whole evidence list (at most
// model.MaxEvidencePerArtifact envelopes), priced by its length.
func (r artifactResolver) Evidence(ctx context.Context, a *model.Artifact) ([]model.Evidence, error) {
	if admit := r.admit(ctx); admit != nil {
		if err := admit(len(a.Evidence)); err != nil {
			return nil, err
		}
	}
	if a.Evidence == nil {
		return []model.Evidence{}, nil
	}
	return a.Evidence, nil
}

func (verificationRecordResolver) EvidenceID(_ context.Context, r *model.VerificationRecord) (*string, error) {
	return str(r.EvidenceID), nil
}

func (evidenceResolver) Detail(_ context.Context, e *model.Evidence) (*string, error) {
	return str(e.Detail), nil
}

func (evidenceResolver) PredicateType(_ context.Context, e *model.Evidence) (*string, error) {
	return str(e.PredicateType), nil
}

func provenanceInput(in *graph.ProvenancePolicyInput) *model.ProvenancePolicy {
	if in == nil {
		return nil
	}
	return &model.ProvenancePolicy{BuilderIDs: in.BuilderIds, SourceRepositories: in.SourceRepositories}
}
