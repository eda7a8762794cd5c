package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/artifact-trust/control-plane/model"
)

// WebhookStore is what the webhook operations need from persistence.
type WebhookStore interface {
	// InsertWebhook stores a new webhook with its delivery queue placed at the end
	// of its project's feed: it receives the events written from then on.
	InsertWebhook(ctx context.Context, w *model.Webhook) error
	// GetWebhook loads a webhook (a deleted one too); model.KindNotFound if none.
	GetWebhook(ctx context.Context, id string) (*model.Webhook, error)
	// PutWebhook stores w as its next version if the stored one is still
	// w.Version; otherwise model.KindConflict.
	PutWebhook(ctx context.Context, w *model.Webhook) error
	// Webhooks lists a project's webhooks, oldest first.
	Webhooks(ctx context.Context, project string, includeDeleted bool) ([]*model.Webhook, error)
	// RestartQueue moves a webhook's delivery queue to the end of its project's
	// feed (a webhook activated again receives the events written from then on).
	RestartQueue(ctx context.Context, webhookID, project string) error
	// WebhookDeliveries returns a page of a webhook's deliveries, newest first,
	// numbered below before (-1: from the newest), with status ("" any).
	WebhookDeliveries(ctx context.Context, webhookID, project string, status model.DeliveryStatus, first, before int) (DeliveryPage, error)
	// Redeliver queues delivery seq of a webhook to be sent again now (with a new
	// retry period) and returns it.
	Redeliver(ctx context.Context, webhookID, project string, seq int, now time.Time, retryFor time.Duration) (*model.WebhookDelivery, error)
	// RetireQueue makes the deliveries queued for a webhook DEAD with reason (it
	// no longer sends) and empties its queue of retries.
	RetireQueue(ctx context.Context, webhookID, project, reason string) (int, error)
	// PurgeDeliveries deletes a deleted webhook's queue and delivery records.
	PurgeDeliveries(ctx context.Context, webhookID string) error
}

// Reasons given to the deliveries a webhook that stops sending leaves queued.
const (
	ReasonWebhookDeactivated = "not sent: the webhook was deactivated"
	ReasonWebhookGone        = "not sent: the webhook was disabled (the receiver answered 410 Gone)"
)

// DeliveryPage is a page of a webhook's deliveries, newest first.
type DeliveryPage struct {
	Items   []*model.WebhookDelivery
	HasNext bool
	// EndCursor, when set, is where the next page reads on (a page cut short by
	// the bound on what one page reads); otherwise the last item's id.
	EndCursor string
}

// Webhooks configures the webhook operations.
type Webhooks struct {
	Store WebhookStore
	// CheckURL refuses destinations that may not be reached (WEBHOOK_ALLOWED_HOSTS).
	CheckURL func(ctx context.Context, url string) error
	// Changed is told of every change of a webhook (to start, stop or wake its
	// sender); may be nil.
	Changed func(webhookID string)
	// RetryFor is how long a delivery is retried (at least 24 h in production).
	RetryFor time.Duration
}

// WithWebhooks enables the webhook operations.
func WithWebhooks(w Webhooks) Option {
	return func(s *Service) { s.webhooks = &w }
}

func (s *Service) webhookStore() (*Webhooks, error) {
	if s.webhooks == nil {
		return nil, model.Errorf(model.KindInternal, "webhooks are not enabled on this server")
	}
	return s.webhooks, nil
}

func (s *Service) webhookChanged(id string) {
	if s.webhooks != nil && s.webhooks.Changed != nil {
		s.webhooks.Changed(id)
	}
}

func newWebhookID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return "wh_" + hex.EncodeToString(b[:])
}

// webhookChange is a project.webhook entry of the project trail.
func (s *Service) webhookChange(ctx context.Context, rq Request, project, what string) (model.PolicyChange, error) {
	p, err := s.policy(ctx, project)
	if err != nil {
		return model.PolicyChange{}, err
	}
	return model.PolicyChange{
		Action: model.ActionWebhook, Project: project, Actor: rq.Actor.Subject, ActorType: rq.Actor.Type,
		FromVersion: p.Version, ToVersion: p.Version, CorrelationID: rq.CorrelationID, At: s.clock(), Reason: what,
	}, nil
}

// ListWebhooks returns a project's webhooks (project_admin), without secrets.
func (s *Service) ListWebhooks(ctx context.Context, rq Request, project string) ([]*model.Webhook, error) {
	if err := requireAdmin(rq.Actor, project); err != nil {
		return nil, err
	}
	wh, err := s.webhookStore()
	if err != nil {
		return nil, err
	}
	return wh.Store.Webhooks(ctx, project, false)
}

// CreateWebhook adds a webhook to a project (project_admin) and returns it with
// its signing secret, which is shown only here and on rotation.
func (s *Service) CreateWebhook(ctx context.Context, rq Request, project string, in model.WebhookInput) (*model.Webhook, error) {
	if err := requireAdmin(rq.Actor, project); err != nil {
		return nil, err
	}
	wh, err := s.webhookStore()
	if err != nil {
		return nil, err
	}
	url, actions, active, err := model.ValidateWebhookInput(in)
	if err != nil {
		return nil, err
	}
	if err := wh.CheckURL(ctx, url); err != nil {
		return nil, err
	}
	unlock, err := s.locks.Lock(ctx, "webhooks\x00"+project)
	if err != nil {
		return nil, err
	}
	defer unlock()
	existing, err := wh.Store.Webhooks(ctx, project, false)
	if err != nil {
		return nil, err
	}
	if len(existing) >= model.MaxWebhooksPerProject {
		return nil, model.BadInput("project", "a project has at most %d webhooks", model.MaxWebhooksPerProject)
	}
	now := s.clock()
	w := &model.Webhook{
		ID: newWebhookID(), Project: project, URL: url, Actions: actions, Active: active,
		CreatedBy: rq.Actor.Subject, CreatedAt: now, UpdatedAt: now, Secret: model.NewWebhookSecret(),
	}
	ch, err := s.webhookChange(ctx, rq, project, "created "+w.ID+" "+model.ShownURL(url))
	if err != nil {
		return nil, err
	}
	w.Changes = []model.PolicyChange{ch}
	if err := wh.Store.InsertWebhook(ctx, w); err != nil {
		return nil, err
	}
	s.webhookChanged(w.ID)
	return w, nil
}

// loadWebhook loads a live webhook the actor administers.
func (s *Service) loadWebhook(ctx context.Context, rq Request, id string) (*Webhooks, *model.Webhook, error) {
	wh, err := s.webhookStore()
	if err != nil {
		return nil, nil, err
	}
	if id == "" || len(id) > 100 {
		return nil, nil, model.BadInput("id", "is not a webhook id")
	}
	w, err := wh.Store.GetWebhook(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if !rq.Actor.CanRead(w.Project) {
		// Like an artifact: another project's webhook is not found, and which
		// project holds it is not told.
		return nil, nil, model.Errorf(model.KindNotFound, "webhook %s not found", id)
	}
	if err := requireAdmin(rq.Actor, w.Project); err != nil {
		return nil, nil, err
	}
	if w.Deleted {
		return nil, nil, model.Errorf(model.KindNotFound, "webhook %s not found", id)
	}
	return wh, w, nil
}

// changeWebhook applies rule to a webhook and stores it, retried on a version race.
func (s *Service) changeWebhook(ctx context.Context, rq Request, id string, rule func(w *model.Webhook) (string, error)) (*model.Webhook, error) {
	for attempt := 0; attempt < s.maxAttempts; attempt++ {
		wh, w, err := s.loadWebhook(ctx, rq, id)
		if err != nil {
			return nil, err
		}
		what, err := rule(w)
		if err != nil {
			return nil, err
		}
		ch, err := s.webhookChange(ctx, rq, w.Project, what)
		if err != nil {
			return nil, err
		}
		w.Changes = append(w.Changes, ch)
		w.UpdatedAt = ch.At
		err = wh.Store.PutWebhook(ctx, w)
		if model.IsKind(err, model.KindConflict) && ctx.Err() == nil {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.webhookChanged(w.ID)
		return w, nil
	}
	return nil, model.Errorf(model.KindConflict, "webhook %s is being changed concurrently; try again", id)
}

// UpdateWebhook changes a webhook's URL, actions and active flag (project_admin).
// Activating a webhook clears its disabled reason; it receives the events written
// from then on.
func (s *Service) UpdateWebhook(ctx context.Context, rq Request, id string, in model.WebhookInput) (*model.Webhook, error) {
	url, actions, active, err := model.ValidateWebhookInput(in)
	if err != nil {
		return nil, err
	}
	// The caller's rights first: a name is resolved only for an admin of the
	// webhook's project.
	wh, _, err := s.loadWebhook(ctx, rq, id)
	if err != nil {
		return nil, err
	}
	if err := wh.CheckURL(ctx, url); err != nil {
		return nil, err
	}
	var restart, stop bool
	w, err := s.changeWebhook(ctx, rq, id, func(w *model.Webhook) (string, error) {
		restart, stop = active && !w.Active, !active && w.Active
		w.URL, w.Actions, w.Active = url, actions, active
		if active {
			w.DisabledReason = ""
		}
		return "updated " + w.ID + " " + model.ShownURL(url) + " active=" + strconv.FormatBool(active), nil
	})
	if err != nil {
		return nil, err
	}
	if restart {
		if err := wh.Store.RestartQueue(ctx, w.ID, w.Project); err != nil {
			return nil, err
		}
		s.webhookChanged(w.ID)
	}
	if stop {
		// Its queued retries end now (its sender ends them too, should it have
		// queued one more meanwhile).
		if _, err := wh.Store.RetireQueue(ctx, w.ID, w.Project, ReasonWebhookDeactivated); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// DeleteWebhook deletes a webhook (project_admin): nothing more is sent to it, and
// its delivery queue and records are deleted (the webhook stays, without secrets,
// for the project trail).
func (s *Service) DeleteWebhook(ctx context.Context, rq Request, id string) (bool, error) {
	w, err := s.changeWebhook(ctx, rq, id, func(w *model.Webhook) (string, error) {
		w.Deleted, w.Active, w.Secret, w.Previous, w.PreviousUntil = true, false, "", "", time.Time{}
		return "deleted " + w.ID, nil
	})
	if err != nil {
		return false, err
	}
	// Its sender purges them too, should it have written one more meanwhile.
	if err := s.webhooks.Store.PurgeDeliveries(ctx, w.ID); err != nil {
		return false, err
	}
	return true, nil
}

// RotateWebhookSecret gives a webhook a new signing secret (project_admin) and
// returns it; the old one keeps signing (a second signature) for
// model.WebhookSecretOverlap.
func (s *Service) RotateWebhookSecret(ctx context.Context, rq Request, id string) (*model.Webhook, error) {
	return s.changeWebhook(ctx, rq, id, func(w *model.Webhook) (string, error) {
		now := s.clock()
		w.Previous, w.PreviousUntil = w.Secret, now.Add(model.WebhookSecretOverlap)
		w.Secret = model.NewWebhookSecret()
		return "rotated the secret of " + w.ID, nil
	})
}

// WebhookDeliveries returns a webhook's deliveries, newest first (project_admin).
func (s *Service) WebhookDeliveries(ctx context.Context, rq Request, id string, status model.DeliveryStatus, first *int, after string) (DeliveryPage, error) {
	n, err := model.PageSize(first, 50)
	if err != nil {
		return DeliveryPage{}, err
	}
	before := -1
	if after != "" {
		wid, seq, ok := parseDeliveryCursor(after)
		if !ok || wid != id {
			return DeliveryPage{}, model.BadInput("after", "is not a cursor returned by this API")
		}
		before = seq
	}
	wh, err := s.webhookStore()
	if err != nil {
		return DeliveryPage{}, err
	}
	if id == "" || len(id) > 100 {
		return DeliveryPage{}, model.BadInput("webhookId", "is not a webhook id")
	}
	w, err := wh.Store.GetWebhook(ctx, id)
	if err != nil {
		return DeliveryPage{}, err
	}
	if !rq.Actor.CanRead(w.Project) {
		return DeliveryPage{}, model.Errorf(model.KindNotFound, "webhook %s not found", id)
	}
	if err := requireAdmin(rq.Actor, w.Project); err != nil {
		return DeliveryPage{}, err
	}
	if w.Deleted {
		return DeliveryPage{}, model.Errorf(model.KindNotFound, "webhook %s not found", id)
	}
	return wh.Store.WebhookDeliveries(ctx, id, w.Project, status, n, before)
}

// RedeliverWebhookEvent sends a delivery again (project_admin), whatever its
// status, with the same event id.
func (s *Service) RedeliverWebhookEvent(ctx context.Context, rq Request, deliveryID string) (*model.WebhookDelivery, error) {
	wid, seq, ok := parseDeliveryCursor(deliveryID)
	if !ok {
		return nil, model.BadInput("deliveryId", "is not a delivery id")
	}
	wh, w, err := s.loadWebhook(ctx, rq, wid)
	if err != nil {
		return nil, err
	}
	if !w.Active {
		return nil, model.Errorf(model.KindInvalidTransition, "webhook %s is inactive: activate it (updateWebhook) before sending a delivery again", w.ID)
	}
	d, err := wh.Store.Redeliver(ctx, w.ID, w.Project, seq, s.clock(), wh.RetryFor)
	if err != nil {
		return nil, err
	}
	s.webhookChanged(w.ID)
	return d, nil
}

// parseDeliveryCursor splits a delivery id ("<webhookId>:<number>"), which is
// also its cursor.
func parseDeliveryCursor(id string) (string, int, bool) {
	if len(id) > 120 {
		return "", 0, false
	}
	for i := len(id) - 1; i > 0; i-- {
		if id[i] == ':' {
			n, err := strconv.Atoi(id[i+1:])
			if err != nil || n < 0 {
				return "", 0, false
			}
			return id[:i], n, true
		}
	}
	return "", 0, false
}
