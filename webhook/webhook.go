// Package webhook is the wire side of event delivery: the CloudEvents 1.0
// structured JSON body of an audit event, its Standard Webhooks signature, and an
// HTTP client that only reaches allowed destinations (checked when the connection
// is dialled, after DNS resolution), follows no redirects, gives up after 10 s and
// reads at most 64 KiB of a response.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/artifact-trust/control-plane/model"
)

// Delivery limits.
const (
	// Timeout bounds one attempt: connecting, sending and the response headers and
	// body.
	Timeout = 10 * time.Second
	// MaxResponseBytes is the most of a response body that is read.
	MaxResponseBytes = 64 << 10
	// ContentType is the CloudEvents structured JSON media type.
	ContentType = "application/cloudevents+json"
	// TypePrefix starts every CloudEvent type; the audit action follows.
	TypePrefix = "dev.artifact-trust."
)

// Guard decides which destinations may be reached. Loopback, private (RFC 1918,
// RFC 4193), link-local, unspecified, multicast and other special-purpose
// addresses are refused unless the URL's host is listed (WEBHOOK_ALLOWED_HOSTS:
// host names or IP addresses).
type Guard struct {
	allowed map[string]bool
}

// NewGuard makes a guard allowing hosts (names are compared case-insensitively).
func NewGuard(hosts []string) *Guard {
	g := &Guard{allowed: map[string]bool{}}
	for _, h := range hosts {
		if h = normHost(h); h != "" {
			g.allowed[h] = true
		}
	}
	return g
}

func normHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap().String()
	}
	return strings.TrimSuffix(h, ".")
}

// Allowed reports whether host is listed.
func (g *Guard) Allowed(host string) bool { return g != nil && g.allowed[normHost(host)] }

// restricted reports whether a is an address webhooks may not reach by default.
func restricted(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsUnspecified() || a.IsMulticast() || a.IsInterfaceLocalMulticast() {
		return true
	}
	for _, p := range specialPrefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// specialPrefixes are further ranges that are not public destinations.
var specialPrefixes = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "255.255.255.255/32",
		"64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001:db8::/32", "fec0::/10",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// CheckURL checks a destination when a webhook is created or changed: its host,
// when it is an IP address or resolves (with resolver) to addresses, must not be
// restricted unless listed. A name that does not resolve yet is accepted: every
// connection is checked again when it is dialled.
func (g *Guard) CheckURL(ctx context.Context, raw string, resolver *net.Resolver) error {
	u, err := url.Parse(raw)
	if err != nil {
		return model.BadInput("url", "must be an absolute http or https URL")
	}
	host := u.Hostname()
	if g.Allowed(host) {
		return nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if restricted(a) {
			return model.BadInput("url", "destination %s is a loopback, private, link-local or reserved address; list it in WEBHOOK_ALLOWED_HOSTS to allow it", host)
		}
		return nil
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") || strings.HasSuffix(strings.ToLower(strings.TrimSuffix(host, ".")), ".localhost") {
		return model.BadInput("url", "destination %s is loopback; list it in WEBHOOK_ALLOWED_HOSTS to allow it", host)
	}
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	addrs, err := resolver.LookupNetIP(rctx, "ip", host)
	if err != nil {
		return nil // checked again at every connection
	}
	for _, a := range addrs {
		if restricted(a) {
			return model.BadInput("url", "destination %s resolves to %s, a loopback, private, link-local or reserved address; list the host in WEBHOOK_ALLOWED_HOSTS to allow it", host, a)
		}
	}
	return nil
}

// ErrDestinationRefused is returned (wrapped) when a connection would reach a
// restricted address of a host that is not listed.
var ErrDestinationRefused = errors.New("destination address not allowed")

// hostKey carries the URL's host (as written in the webhook) to the dialer.
type hostKey struct{}

// Client sends deliveries.
type Client struct {
	http  *http.Client
	guard *Guard
}

// NewClient makes a client whose connections are checked by guard when dialled:
// the address actually connected to, after DNS resolution, so a name that resolves
// to a private address (or is changed to one later) is refused too.
func NewClient(guard *Guard) *Client {
	c := &Client{guard: guard}
	dialer := &net.Dialer{Timeout: Timeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would bypass the address check
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       60 * time.Second,
		TLSHandshakeTimeout:   Timeout,
		ResponseHeaderTimeout: Timeout,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _ := ctx.Value(hostKey{}).(string)
			d := *dialer
			d.Control = func(_, address string, _ syscall.RawConn) error {
				ap, err := netip.ParseAddrPort(address)
				if err != nil {
					return fmt.Errorf("%w: %s", ErrDestinationRefused, address)
				}
				if restricted(ap.Addr()) && !guard.Allowed(host) {
					return fmt.Errorf("%w: %s is a loopback, private, link-local or reserved address (not in WEBHOOK_ALLOWED_HOSTS)", ErrDestinationRefused, ap.Addr())
				}
				return nil
			}
			return d.DialContext(ctx, network, addr)
		},
	}
	c.http = &http.Client{
		Transport: tr,
		Timeout:   Timeout,
		// A redirect is not followed: its 3xx is the attempt's answer.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c
}

// Message is one signed request.
type Message struct {
	URL string
	// ID is the webhook-id (the CloudEvent id).
	ID   string
	Body []byte
	// Secrets sign the message; one signature each.
	Secrets []model.WebhookSecret
}

// Result is the outcome of one attempt.
type Result struct {
	// StatusCode is the receiver's status (0: no response).
	StatusCode int
	// Err says why the attempt failed (nil: 2xx). It never contains a secret.
	Err error
}

// OK reports a 2xx answer.
func (r Result) OK() bool { return r.Err == nil }

// Send posts m once, signed at now.
func (c *Client) Send(ctx context.Context, m Message, now time.Time) Result {
	u, err := url.Parse(m.URL)
	if err != nil {
		return Result{Err: errors.New("invalid destination URL")}
	}
	ctx, cancel := context.WithTimeout(context.WithValue(ctx, hostKey{}, u.Hostname()), Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URL, bytes.NewReader(m.Body))
	if err != nil {
		return Result{Err: errors.New("invalid destination URL")}
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("User-Agent", "artifact-trust-webhooks/1")
	req.Header.Set("webhook-id", m.ID)
	req.Header.Set("webhook-timestamp", ts)
	sig, err := Signature(m.Secrets, m.ID, ts, m.Body)
	if err != nil {
		return Result{Err: err}
	}
	req.Header.Set("webhook-signature", sig)
	resp, err := c.http.Do(req)
	if err != nil {
		return Result{Err: sendError(err)}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxResponseBytes))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return Result{StatusCode: resp.StatusCode}
	}
	return Result{StatusCode: resp.StatusCode, Err: fmt.Errorf("receiver answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))}
}

// sendError describes a transport failure without the URL's query (which a
// receiver may use for its own tokens).
func sendError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case errors.Is(err, ErrDestinationRefused):
		return err
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return fmt.Errorf("timed out after %s", Timeout)
	}
	return fmt.Errorf("request failed: %v", err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Signature is the webhook-signature header of a message: "v1," and the base64
// HMAC-SHA256 of "id.timestamp.body" under each secret, separated by spaces.
func Signature(secrets []model.WebhookSecret, id, timestamp string, body []byte) (string, error) {
	var sigs []string
	for _, s := range secrets {
		key, err := s.Key()
		if err != nil {
			return "", errors.New("webhook secret is not valid base64")
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id))
		mac.Write([]byte{'.'})
		mac.Write([]byte(timestamp))
		mac.Write([]byte{'.'})
		mac.Write(body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(sigs, " "), nil
}

// EventID is the CloudEvent id of an audit event: its artifact and its index in
// the artifact's trail, the same on every attempt and every replica.
func EventID(e model.AuditEvent, seq int) string {
	return e.ArtifactID + "." + strconv.Itoa(seq)
}

// CloudEvent is the structured JSON body of an audit event (CloudEvents 1.0).
// id is its EventID.
func CloudEvent(e model.AuditEvent, id string) ([]byte, error) {
	return envelope(id, e.Project, e.Action, e.Digest, e.At, dataOf(e))
}

// ChangeEvent is the structured JSON body of a project trail entry (project.policy,
// project.key_added, project.key_revoked, project.freeze, project.unfreeze,
// project.webhook): data is the change as the API's PolicyChange type shows it, and
// there is no subject (no digest). id is its stable trail id.
func ChangeEvent(c model.PolicyChange, id string) ([]byte, error) {
	return envelope(id, c.Project, c.Action, "", c.At, changeData{
		Action: c.Action, Project: c.Project, Actor: c.Actor, ActorType: c.ActorType, FromVersion: c.FromVersion,
		ToVersion: c.ToVersion, CorrelationID: c.CorrelationID, At: c.At.UTC(), KeyID: c.KeyID, Reason: c.Reason,
	})
}

// Body is the CloudEvent of a delivery: of its trail entry or of its audit event.
func Body(d *model.WebhookDelivery) ([]byte, error) {
	if d.Change != nil {
		return ChangeEvent(*d.Change, d.EventID)
	}
	return CloudEvent(d.Event, d.EventID)
}

func envelope(id, project, action, subject string, at time.Time, data any) ([]byte, error) {
	ce := struct {
		SpecVersion     string `json:"specversion"`
		ID              string `json:"id"`
		Source          string `json:"source"`
		Type            string `json:"type"`
		Subject         string `json:"subject,omitempty"`
		Time            string `json:"time"`
		DataContentType string `json:"datacontenttype"`
		Data            any    `json:"data"`
	}{
		SpecVersion:     "1.0",
		ID:              id,
		Source:          "/projects/" + url.PathEscape(project),
		Type:            TypePrefix + action,
		Subject:         subject,
		Time:            at.UTC().Format(time.RFC3339Nano),
		DataContentType: "application/json",
		Data:            data,
	}
	return json.Marshal(ce)
}

// changeData is a project trail entry as the API's PolicyChange type shows it.
type changeData struct {
	Action        string          `json:"action"`
	Project       string          `json:"project"`
	Actor         string          `json:"actor"`
	ActorType     model.ActorType `json:"actorType"`
	FromVersion   int             `json:"fromVersion"`
	ToVersion     int             `json:"toVersion"`
	CorrelationID string          `json:"correlationId"`
	At            time.Time       `json:"at"`
	KeyID         string          `json:"keyId,omitempty"`
	Reason        string          `json:"reason,omitempty"`
}

// eventData is the event as the API's AuditEvent type shows it.
type eventData struct {
	Action               string                 `json:"action"`
	Actor                string                 `json:"actor"`
	ActorType            model.ActorType        `json:"actorType"`
	Project              string                 `json:"project"`
	ArtifactID           string                 `json:"artifactId,omitempty"`
	Digest               string                 `json:"digest,omitempty"`
	Kind                 model.ArtifactKind     `json:"kind,omitempty"`
	SourceType           model.SourceType       `json:"sourceType,omitempty"`
	FromState            string                 `json:"fromState,omitempty"`
	ToState              string                 `json:"toState,omitempty"`
	PromotionChannel     model.Channel          `json:"promotionChannel,omitempty"`
	PromotionEnvironment string                 `json:"promotionEnvironment,omitempty"`
	CorrelationID        string                 `json:"correlationId"`
	Reason               string                 `json:"reason,omitempty"`
	At                   time.Time              `json:"at"`
	PolicyVersion        *int                   `json:"policyVersion,omitempty"`
	Verification         []verificationDataItem `json:"verification,omitempty"`
}

type verificationDataItem struct {
	Check      model.Check       `json:"check"`
	Result     model.CheckResult `json:"result"`
	Detail     string            `json:"detail,omitempty"`
	RecordedBy string            `json:"recordedBy"`
	RecordedAt time.Time         `json:"recordedAt"`
}

func dataOf(e model.AuditEvent) eventData {
	d := eventData{
		Action: e.Action, Actor: e.Actor, ActorType: e.ActorType, Project: e.Project,
		ArtifactID: e.ArtifactID, Digest: e.Digest, Kind: e.Kind, SourceType: e.SourceType,
		FromState: e.FromState, ToState: e.ToState, PromotionChannel: e.PromotionChannel,
		PromotionEnvironment: e.PromotionEnvironment, CorrelationID: e.CorrelationID,
		Reason: e.Reason, At: e.At.UTC(), PolicyVersion: e.PolicyVersion,
	}
	for _, v := range e.Verification {
		d.Verification = append(d.Verification, verificationDataItem{Check: v.Check, Result: v.Result, Detail: v.Detail, RecordedBy: v.RecordedBy, RecordedAt: v.RecordedAt.UTC()})
	}
	return d
}
