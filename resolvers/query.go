package resolvers

import (
	"context"

	"github.com/artifact-trust/control-plane/graph"
	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

func (r queryResolver) Viewer(ctx context.Context) (*graph.Viewer, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	v := &graph.Viewer{Subject: rq.Actor.Subject, ActorType: rq.Actor.Type, Roles: []graph.ProjectRoles{}}
	for _, p := range rq.Actor.Projects() {
		v.Roles = append(v.Roles, graph.ProjectRoles{Project: p, Roles: rq.Actor.Roles[p]})
	}
	return v, nil
}

func (r queryResolver) Artifact(ctx context.Context, id string) (*model.Artifact, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	return r.Service.Artifact(ctx, rq, id)
}

func (r queryResolver) ArtifactByDigest(ctx context.Context, project, digest string) (*model.Artifact, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	return r.Service.ArtifactByDigest(ctx, rq, project, digest)
}

func (r queryResolver) Artifacts(ctx context.Context, project string, filter *graph.ArtifactFilter, first *int, after *string) (*graph.ArtifactConnection, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	var f service.ArtifactFilter
	if filter != nil {
		f.Tag = deref(filter.Tag)
		if filter.TrustState != nil {
			f.TrustState = *filter.TrustState
		}
		if filter.LifecycleState != nil {
			f.LifecycleState = *filter.LifecycleState
		}
		if filter.Kind != nil {
			f.Kind = *filter.Kind
		}
		if filter.Channel != nil {
			f.Channel = *filter.Channel
		}
	}
	list := r.Service.Artifacts
	if selectsOnlySummaries(ctx) {
		list = r.Service.ArtifactSummaries
	}
	page, err := list(ctx, rq, project, f, first, deref(after))
	if err != nil {
		return nil, err
	}
	conn := &graph.ArtifactConnection{Edges: make([]graph.ArtifactEdge, 0, len(page.Items)), PageInfo: &graph.PageInfo{HasNextPage: page.HasNext}, TotalCount: page.TotalCount}
	for _, a := range page.Items {
		c := model.Cursor{At: a.CreatedAt, ID: a.ID}.Encode()
		conn.Edges = append(conn.Edges, graph.ArtifactEdge{Cursor: c, Node: a})
		conn.PageInfo.EndCursor = &c
	}
	return conn, nil
}

func (r queryResolver) ChannelStatus(ctx context.Context, project string) ([]graph.ChannelStatus, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := r.Service.ChannelStatus(ctx, rq, project)
	if err != nil {
		return nil, err
	}
	out := make([]graph.ChannelStatus, 0, len(rows))
	for _, pl := range rows {
		out = append(out, graph.ChannelStatus{
			Channel: pl.Promotion.Channel, TargetEnvironment: str(pl.Promotion.TargetEnvironment),
			Artifact: pl.Artifact, Digest: pl.Artifact.Digest,
			PromotedAt: pl.Promotion.PromotedAt, PromotedBy: pl.Promotion.PromotedBy,
		})
	}
	return out, nil
}

func (r queryResolver) Deployable(ctx context.Context, project string, channel model.Channel, targetEnvironment *string) (*graph.Deployment, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	pl, ok, err := r.Service.Deployable(ctx, rq, project, channel, deref(targetEnvironment))
	if err != nil || !ok {
		return nil, err
	}
	return deployment(service.Side{Channel: channel, Placement: pl, Found: true}), nil
}

func (r queryResolver) EvaluatePromotion(ctx context.Context, input graph.PromoteArtifactInput) (*graph.PolicyDecision, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	d, err := r.Service.EvaluatePromotion(ctx, rq, input.ArtifactID, promotionRequest(input))
	if err != nil {
		return nil, err
	}
	reasons := d.Reasons
	if reasons == nil {
		reasons = []string{}
	}
	classes := d.Classes
	if classes == nil {
		classes = []string{}
	}
	out := &graph.PolicyDecision{Allowed: d.Allowed(), Reasons: reasons, ReasonClasses: classes}
	if !d.EligibleAt.IsZero() {
		t := d.EligibleAt.UTC()
		out.EligibleAt = &t
	}
	return out, nil
}

func (r queryResolver) AuditEvents(ctx context.Context, project string, filter *graph.AuditFilter, first *int, after *string) (*graph.AuditEventConnection, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	var f service.AuditFilter
	if filter != nil {
		f = service.AuditFilter{Action: deref(filter.Action), Actor: deref(filter.Actor), ArtifactID: deref(filter.ArtifactID), CorrelationID: deref(filter.CorrelationID), BreakGlass: filter.BreakGlass}
	}
	page, err := r.Service.AuditEvents(ctx, rq, project, f, first, deref(after))
	if err != nil {
		return nil, err
	}
	return auditConnection(page), nil
}

// auditConnection is a page of audit events as a connection; a cursor is the
// event's position (time, artifact, sequence number in its trail).
func auditConnection(page service.AuditPage) *graph.AuditEventConnection {
	conn := &graph.AuditEventConnection{Edges: make([]graph.AuditEventEdge, 0, len(page.Items)), PageInfo: &graph.PageInfo{HasNextPage: page.HasNext}}
	for i := range page.Items {
		e := &page.Items[i]
		c := model.Cursor{At: e.Event.At, ID: e.Event.ArtifactID, Seq: e.Seq, Feed: e.Feed}.Encode()
		e.Event.Cursor = c
		conn.Edges = append(conn.Edges, graph.AuditEventEdge{Cursor: c, Node: &e.Event})
		conn.PageInfo.EndCursor = &c
	}
	return conn
}

func (r queryResolver) ProjectPolicy(ctx context.Context, project string) (*model.Policy, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	return r.Service.Policy(ctx, rq, project)
}

func (r queryResolver) ProjectPolicyHistory(ctx context.Context, project string) ([]model.PolicyChange, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	return r.Service.PolicyHistory(ctx, rq, project, r.admit(ctx))
}

func (r queryResolver) RecentDenials(ctx context.Context, project string, first *int) ([]model.Denial, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	return r.Service.RecentDenials(ctx, rq, project, first)
}
