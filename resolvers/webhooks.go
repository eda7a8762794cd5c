package resolvers

import (
	"context"
	"time"

	"github.com/artifact-trust/control-plane/graph"
	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

func (r *Resolver) Webhook() graph.WebhookResolver { return webhookResolver{r} }
func (r *Resolver) WebhookDelivery() graph.WebhookDeliveryResolver {
	return webhookDeliveryResolver{r}
}

type webhookResolver struct{ *Resolver }

var _ graph.WebhookResolver = webhookResolver{}

func (webhookResolver) DisabledReason(_ context.Context, w *model.Webhook) (*string, error) {
	return str(w.DisabledReason), nil
}

type webhookDeliveryResolver struct{ *Resolver }

var _ graph.WebhookDeliveryResolver = webhookDeliveryResolver{}

func (webhookDeliveryResolver) LastStatusCode(_ context.Context, d *model.WebhookDelivery) (*int, error) {
	if d.LastStatusCode == 0 {
		return nil, nil
	}
	c := d.LastStatusCode
	return &c, nil
}

func (webhookDeliveryResolver) LastError(_ context.Context, d *model.WebhookDelivery) (*string, error) {
	return str(d.LastError), nil
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (webhookDeliveryResolver) NextAttemptAt(_ context.Context, d *model.WebhookDelivery) (*time.Time, error) {
	return timeOrNil(d.NextAttemptAt), nil
}

func (webhookDeliveryResolver) DeliveredAt(_ context.Context, d *model.WebhookDelivery) (*time.Time, error) {
	return timeOrNil(d.DeliveredAt), nil
}

func webhookInput(in graph.WebhookInput) model.WebhookInput {
	return model.WebhookInput{URL: in.URL, Actions: in.Actions, Active: in.Active}
}

func (r queryResolver) Webhooks(ctx context.Context, project string) ([]model.Webhook, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	hooks, err := r.Service.ListWebhooks(ctx, rq, project)
	if err != nil {
		return nil, err
	}
	out := make([]model.Webhook, len(hooks))
	for i, w := range hooks {
		out[i] = *w
	}
	return out, nil
}

func (r queryResolver) WebhookDeliveries(ctx context.Context, webhookID string, status *model.DeliveryStatus, first *int, after *string) (*graph.WebhookDeliveryConnection, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	var st model.DeliveryStatus
	if status != nil {
		st = *status
	}
	page, err := r.Service.WebhookDeliveries(ctx, rq, webhookID, st, first, deref(after))
	if err != nil {
		return nil, err
	}
	return deliveryConnection(page), nil
}

func deliveryConnection(page service.DeliveryPage) *graph.WebhookDeliveryConnection {
	conn := &graph.WebhookDeliveryConnection{Edges: make([]graph.WebhookDeliveryEdge, 0, len(page.Items)), PageInfo: &graph.PageInfo{HasNextPage: page.HasNext}}
	for _, d := range page.Items {
		c := d.ID
		conn.Edges = append(conn.Edges, graph.WebhookDeliveryEdge{Cursor: c, Node: d})
		conn.PageInfo.EndCursor = &c
	}
	if page.EndCursor != "" {
		c := page.EndCursor
		conn.PageInfo.EndCursor = &c
	}
	return conn
}

func (r mutationResolver) CreateWebhook(ctx context.Context, project string, in graph.WebhookInput) (*graph.WebhookWithSecret, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	w, err := r.Service.CreateWebhook(ctx, rq, project, webhookInput(in))
	if err != nil {
		return nil, err
	}
	return &graph.WebhookWithSecret{Webhook: w, Secret: w.Secret.Reveal()}, nil
}

func (r mutationResolver) UpdateWebhook(ctx context.Context, id string, in graph.WebhookInput) (*model.Webhook, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	return r.Service.UpdateWebhook(ctx, rq, id, webhookInput(in))
}

func (r mutationResolver) DeleteWebhook(ctx context.Context, id string) (bool, error) {
	rq, err := request(ctx)
	if err != nil {
		return false, err
	}
	return r.Service.DeleteWebhook(ctx, rq, id)
}

func (r mutationResolver) RotateWebhookSecret(ctx context.Context, id string) (*graph.WebhookWithSecret, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	w, err := r.Service.RotateWebhookSecret(ctx, rq, id)
	if err != nil {
		return nil, err
	}
	return &graph.WebhookWithSecret{Webhook: w, Secret: w.Secret.Reveal()}, nil
}

func (r mutationResolver) RedeliverWebhookEvent(ctx context.Context, deliveryID string) (*model.WebhookDelivery, error) {
	rq, err := request(ctx)
	if err != nil {
		return nil, err
	}
	return r.Service.RedeliverWebhookEvent(ctx, rq, deliveryID)
}

// Cursor is the event's cursor where it was read from the feed.
func (auditEventResolver) Cursor(_ context.Context, e *model.AuditEvent) (*string, error) {
	return str(e.Cursor), nil
}
