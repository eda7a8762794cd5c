package model

import (
	"crypto/rand"
	"encoding/base64"
	"net/url"
	"strings"
	"time"
)

// ActionWebhook is the project trail action of a webhook created, updated, deleted
// or given a new secret.
const ActionWebhook = "project.webhook"

// Webhook limits and timings.
const (
	// MaxWebhooksPerProject bounds the live webhooks of one project.
	MaxWebhooksPerProject = 20
	// MaxWebhookURLLength bounds a destination URL.
	MaxWebhookURLLength = 2048
	// MaxWebhookActions bounds the actions one webhook filters on.
	MaxWebhookActions = 50
	// WebhookSecretOverlap is how long a rotated-out secret still signs deliveries.
	WebhookSecretOverlap = 24 * time.Hour
	// WebhookSecretPrefix starts every signing secret (Standard Webhooks).
	WebhookSecretPrefix = "whsec_"
)

// WebhookSecret is a signing secret: "whsec_" and the base64 of 32 random bytes.
// It prints redacted, so a log line or an error that formats a webhook never shows
// it; Reveal returns it.
type WebhookSecret string

func (s WebhookSecret) String() string   { return "[redacted]" }
func (s WebhookSecret) GoString() string { return "[redacted]" }

// Reveal returns the secret itself.
func (s WebhookSecret) Reveal() string { return string(s) }

// Key returns the HMAC key: the base64-decoded part after the prefix.
func (s WebhookSecret) Key() ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.TrimPrefix(string(s), WebhookSecretPrefix))
}

// NewWebhookSecret makes a fresh random signing secret.
func NewWebhookSecret() WebhookSecret {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return WebhookSecret(WebhookSecretPrefix + base64.StdEncoding.EncodeToString(b[:]))
}

// Webhook is a project's event destination.
type Webhook struct {
	ID      string
	Project string
	URL     string
	// Actions are the audit actions delivered; empty means all.
	Actions        []string
	Active         bool
	DisabledReason string
	CreatedBy      string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	// Secret signs every delivery; Previous (until PreviousUntil) too, after a
	// rotation.
	Secret        WebhookSecret
	Previous      WebhookSecret
	PreviousUntil time.Time
	// Deleted webhooks are kept (without secrets) for the project trail.
	Deleted bool
	// Changes is the webhook's part of the project trail (project.webhook), oldest
	// first.
	Changes []PolicyChange
	Version int
}

// Wants reports whether the webhook delivers events of action.
func (w *Webhook) Wants(action string) bool {
	if len(w.Actions) == 0 {
		return true
	}
	for _, a := range w.Actions {
		if a == action {
			return true
		}
	}
	return false
}

// Secrets returns the secrets that sign a delivery at now: the current one and,
// within the overlap after a rotation, the previous one.
func (w *Webhook) Secrets(now time.Time) []WebhookSecret {
	out := []WebhookSecret{w.Secret}
	if w.Previous != "" && now.Before(w.PreviousUntil) {
		out = append(out, w.Previous)
	}
	return out
}

// WebhookInput is what createWebhook and updateWebhook take.
type WebhookInput struct {
	URL     string
	Actions []string
	// Active nil means true.
	Active *bool
}

// ValidateWebhookInput checks a webhook's URL (absolute http or https, a host, no
// credentials, no fragment) and actions, and returns them normalized. Where the
// destination may be (loopback, private networks) is checked by the caller.
func ValidateWebhookInput(in WebhookInput) (string, []string, bool, error) {
	raw := strings.TrimSpace(in.URL)
	if raw == "" || len(raw) > MaxWebhookURLLength {
		return "", nil, false, BadInput("url", "must be an http or https URL of at most %d characters", MaxWebhookURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return "", nil, false, BadInput("url", "must be an absolute http or https URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", nil, false, BadInput("url", "scheme %q is not allowed: only http and https", u.Scheme)
	}
	if u.Hostname() == "" {
		return "", nil, false, BadInput("url", "must name a host")
	}
	if u.User != nil {
		return "", nil, false, BadInput("url", "must not carry credentials")
	}
	if u.Fragment != "" {
		return "", nil, false, BadInput("url", "must not have a fragment")
	}
	if len(in.Actions) > MaxWebhookActions {
		return "", nil, false, BadInput("actions", "at most %d actions", MaxWebhookActions)
	}
	actions := []string{}
	seen := map[string]bool{}
	for _, a := range in.Actions {
		a = strings.TrimSpace(a)
		if !validAction(a) {
			return "", nil, false, BadInput("actions", "%q is not an audit action (such as app_artifact.promote or project.policy)", a)
		}
		if !seen[a] {
			seen[a] = true
			actions = append(actions, a)
		}
	}
	active := in.Active == nil || *in.Active
	return u.String(), actions, active, nil
}

// validAction accepts names shaped like audit actions: "<area>.<name>", lower-case
// letters, digits and underscores.
func validAction(a string) bool {
	area, name, ok := strings.Cut(a, ".")
	if !ok || area == "" || name == "" || len(a) > 100 {
		return false
	}
	for _, r := range area + name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// DeliveryStatus is where a webhook delivery stands.
type DeliveryStatus string

const (
	// DeliveryPending: not attempted yet, or being sent again on request.
	DeliveryPending DeliveryStatus = "PENDING"
	// DeliveryDelivered: the receiver answered 2xx.
	DeliveryDelivered DeliveryStatus = "DELIVERED"
	// DeliveryFailed: the latest attempt failed; another is due at NextAttemptAt.
	DeliveryFailed DeliveryStatus = "FAILED"
	// DeliveryDead: no more attempts (retried for the whole retry period, the
	// receiver answered 410, or the webhook was deleted).
	DeliveryDead DeliveryStatus = "DEAD"
)

// WebhookDelivery is one event's delivery to one webhook, with its attempts.
type WebhookDelivery struct {
	ID        string
	WebhookID string
	Project   string
	// Seq is the delivery's number in its webhook (its id is "<webhookId>:<seq>").
	Seq int
	// EventID is the CloudEvent id, also the webhook-id header: stable across
	// attempts and redeliveries.
	EventID        string
	Action         string
	Status         DeliveryStatus
	Attempts       int
	LastStatusCode int
	LastError      string
	NextAttemptAt  time.Time
	DeliveredAt    time.Time
	CreatedAt      time.Time
	// Event is the audit event delivered, or Change the project trail entry
	// (project.policy, project.key_added, ...) when it is not nil.
	Event  AuditEvent
	Change *PolicyChange
}

// ShownURL is a webhook URL as the project trail shows it, to every role of the
// project: scheme, host and path only. The query and any user information are
// left out (a receiver may take its own token there) and marked "?…".
func ShownURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	hidden := u.RawQuery != "" || u.User != nil || u.Fragment != ""
	u.RawQuery, u.User, u.Fragment, u.RawFragment, u.ForceQuery = "", nil, "", "", false
	if hidden {
		return u.String() + "?…"
	}
	return u.String()
}
