package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// trailActions are the project trail's actions.
var trailActions = []string{"project.policy", "project.key_added", "project.key_revoked", "project.freeze", "project.unfreeze", "project.webhook"}

// cloudEventJSON is a delivered body.
type cloudEventJSON struct {
	SpecVersion string         `json:"specversion"`
	ID          string         `json:"id"`
	Type        string         `json:"type"`
	Source      string         `json:"source"`
	Subject     *string        `json:"subject"`
	Data        map[string]any `json:"data"`
}

func parseCloudEvent(t *testing.T, r capturedRequest) cloudEventJSON {
	t.Helper()
	var ce cloudEventJSON
	if err := json.Unmarshal([]byte(r.Body), &ce); err != nil {
		t.Fatalf("body %s: %v", r.Body, err)
	}
	return ce
}

// TestWebhooksReceiveProjectTrailEventsFilteredByTheirActions: a policy change, a
// trusted key added and revoked, a freeze and an unfreeze and webhook changes
// each reach the webhooks whose actions ask for them (and only those), as
// CloudEvents whose type holds the action, whose data is the change and that have
// no subject; a receiver that fails first gets the same webhook-id again; the
// signatures and bodies verify with the npm standardwebhooks and cloudevents
// packages.
func TestWebhooksReceiveProjectTrailEventsFilteredByTheirActions(t *testing.T) {
	t.Parallel()
	dir, _ := filepath.Abs("../conformance")
	node, nodeErr := exec.LookPath("node")
	_, modErr := os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks"))
	_, ceErr := os.Stat(filepath.Join(dir, "node_modules", "cloudevents"))
	requireInstalled(t, "the standardwebhooks and cloudevents packages", "(cd conformance && npm ci)", nodeErr, modErr, ceErr)

	ts := startServer(t, t.TempDir(), fastDelivery)
	c := newCast(t)
	allowRegistry(t, ts, c, nil)
	rc := newReceiver(t)
	ok200 := func(int, http.ResponseWriter) {}
	// No actions: every event, the artifacts' and the trail's.
	all, _ := ts.createWebhook(c.admin, "payments", rc.on("/all", ok200), nil)
	trail, trailSecret := ts.createWebhook(c.admin, "payments", rc.on("/trail", ok200), trailActions)
	// The key receiver fails its first request: retried under the same id.
	_, keysSecret := ts.createWebhook(c.admin, "payments", rc.on("/keys", func(n int, w http.ResponseWriter) {
		if n == 1 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}), []string{"project.key_added", "project.key_revoked"})
	arts, _ := ts.createWebhook(c.admin, "payments", rc.on("/artifacts", ok200), []string{"app_artifact.register"})

	// The changes, through the API.
	allowRegistry(t, ts, c, map[string]any{"requiredChecks": []string{"SIGNATURE"}})
	pemText, keyID := p256PublicPEM(t)
	ts.MustDo(c.admin, addKeyMutation, map[string]any{"p": "payments", "in": map[string]any{"publicKeyPem": pemText, "checks": []string{"SIGNATURE"}}}, nil)
	ts.MustDo(c.admin, `mutation($k: String!) { revokeTrustedKey(project: "payments", keyId: $k, reason: "rotated out") { id } }`, map[string]any{"k": keyID}, nil)
	ts.MustDo(c.admin, `mutation { freezePromotions(project: "payments", reason: "change freeze") { version } }`, nil, nil)
	ts.MustDo(c.admin, `mutation { unfreezePromotions(project: "payments", reason: "freeze over") { version } }`, nil, nil)
	ts.MustDo(c.admin, `mutation($id: ID!, $in: WebhookInput!) { updateWebhook(id: $id, input: $in) { id } }`,
		map[string]any{"id": arts.ID, "in": map[string]any{"url": rc.URL + "/artifacts", "actions": []string{"app_artifact.register"}}}, nil)
	a := ts.register(c.publisher, "payments", 1, nil)

	types := func(path string) []string {
		var out []string
		for _, r := range rc.got(path) {
			out = append(out, strings.TrimPrefix(parseCloudEvent(t, r).Type, "dev.artifact-trust."))
		}
		slices.Sort(out)
		return out
	}
	// /trail: the policy change, the key added and revoked, the freeze and the
	// unfreeze, and three webhook changes (two created after it, one updated).
	wantTrail := []string{"project.freeze", "project.key_added", "project.key_revoked", "project.policy", "project.unfreeze", "project.webhook", "project.webhook", "project.webhook"}
	eventually(t, 20*time.Second, "the trail events", func() bool {
		return slices.Equal(types("/trail"), wantTrail) && len(rc.got("/keys")) == 3 && len(rc.got("/artifacts")) == 1
	})
	time.Sleep(500 * time.Millisecond) // nothing more arrives
	if got := types("/trail"); !slices.Equal(got, wantTrail) {
		t.Fatalf("/trail received %v, want %v", got, wantTrail)
	}
	wantAll := slices.Sorted(slices.Values(append(slices.Clone(wantTrail), "project.webhook", "app_artifact.register")))
	eventually(t, 10*time.Second, "every event at the webhook without actions", func() bool { return slices.Equal(types("/all"), wantAll) })
	if got := types("/artifacts"); !slices.Equal(got, []string{"app_artifact.register"}) {
		t.Fatalf("/artifacts received %v, want only the registration", got)
	}
	if got := types("/keys"); !slices.Equal(got, []string{"project.key_added", "project.key_added", "project.key_revoked"}) &&
		!slices.Equal(got, []string{"project.key_added", "project.key_revoked", "project.key_revoked"}) {
		t.Fatalf("/keys received %v, want the addition and the revocation, one of them twice (its first request failed)", got)
	}

	// Each trail event: no subject, data is the change, the id names the change.
	ids := map[string]bool{}
	for _, r := range rc.got("/trail") {
		ce := parseCloudEvent(t, r)
		action := strings.TrimPrefix(ce.Type, "dev.artifact-trust.")
		if ce.Subject != nil || ce.Source != "/projects/payments" || ce.Data["action"] != action || ce.Data["project"] != "payments" ||
			ce.Data["actor"] != "ada" || ce.Data["correlationId"] == "" || ce.Data["at"] == nil || ce.ID != r.Headers["webhook-id"] ||
			!strings.HasPrefix(ce.ID, "project/payments/") {
			t.Errorf("trail event %s", r.Body)
		}
		switch action {
		case "project.key_added", "project.key_revoked":
			if ce.Data["keyId"] != keyID {
				t.Errorf("key event without its key: %s", r.Body)
			}
		case "project.freeze", "project.unfreeze", "project.policy":
			if ce.Data["toVersion"].(float64) != ce.Data["fromVersion"].(float64)+1 {
				t.Errorf("policy event without its versions: %s", r.Body)
			}
		}
		if action == "project.key_revoked" && ce.Data["reason"] != "rotated out" {
			t.Errorf("revocation without its reason: %s", r.Body)
		}
		if ids[ce.ID] {
			t.Errorf("id %s delivered twice to a receiver that answered 200", ce.ID)
		}
		ids[ce.ID] = true
	}
	// The retried key event kept its id.
	keyIDs := map[string]int{}
	for _, r := range rc.got("/keys") {
		keyIDs[r.Headers["webhook-id"]]++
	}
	if len(keyIDs) != 2 {
		t.Errorf("/keys: ids %v, want 2 distinct (one sent twice)", keyIDs)
	}
	// A sender writes the delivery records after the requests are answered: the
	// receiver can hold the last request a moment before its record is listed.
	listed := 0
	eventually(t, 10*time.Second, "every delivery to the webhook without actions listed", func() bool {
		listed = len(ts.deliveries(c.admin, all.ID))
		return listed >= len(wantAll)
	})
	if listed != len(wantAll) {
		t.Errorf("%d deliveries listed for the webhook without actions, want %d", listed, len(wantAll))
	}
	for _, d := range ts.deliveries(c.admin, trail.ID) {
		if d.Status != "DELIVERED" || !ids[d.EventID] {
			t.Errorf("trail delivery %+v", d)
		}
	}
	if ce := parseCloudEvent(t, rc.got("/artifacts")[0]); ce.Subject == nil || *ce.Subject != digestN(1) || ce.Data["artifactId"] != a.ID {
		t.Errorf("artifact event %+v", ce)
	}

	// Independent verification of the signatures and the envelopes.
	var batch []capturedRequest
	for _, r := range rc.got("/trail") {
		r.Secrets = []string{trailSecret}
		batch = append(batch, r)
	}
	for _, r := range rc.got("/keys") {
		r.Secrets = []string{keysSecret}
		batch = append(batch, r)
	}
	lines := verifyWithNPM(t, node, dir, batch)
	for i, line := range lines {
		var v struct {
			Verified []int    `json:"verified"`
			Errors   []string `json:"errors"`
			Event    struct {
				ID      string         `json:"id"`
				Type    string         `json:"type"`
				Subject *string        `json:"subject"`
				Data    map[string]any `json:"data"`
			} `json:"event"`
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if len(v.Verified) != 1 || len(v.Errors) != 0 || v.Event.Subject != nil || v.Event.ID != batch[i].Headers["webhook-id"] ||
			!strings.HasSuffix(v.Event.Type, v.Event.Data["action"].(string)) {
			t.Errorf("delivery %d: %s", i, line)
		}
	}
}

// TestRetriesOfAWebhookThatStopsSendingEndDeadAndADeletedWebhooksDeliveriesGo:
// the retries queued for a webhook end DEAD, naming why, when the webhook is
// deactivated or disabled by a 410 (redelivery is refused until it is active
// again, then sends); a deleted webhook's deliveries are gone (NOT_FOUND).
func TestRetriesOfAWebhookThatStopsSendingEndDeadAndADeletedWebhooksDeliveriesGo(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir(), fastDelivery, func(c *Config) { c.Delivery.RetryFor = time.Hour })
	c := newCast(t)
	allowRegistry(t, ts, c, nil)
	rc := newReceiver(t)
	var offFixed atomic.Bool
	events := []string{"app_artifact.register", "app_artifact.verify"}
	off, _ := ts.createWebhook(c.admin, "payments", rc.on("/off", func(_ int, w http.ResponseWriter) {
		if !offFixed.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}), events)
	del, _ := ts.createWebhook(c.admin, "payments", rc.on("/del", func(_ int, w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) }), events)
	// gone: the registration fails (retried), the verification answers 410.
	var goneRegID string
	gone, _ := ts.createWebhook(c.admin, "payments", rc.on("/gone", func(n int, w http.ResponseWriter) {
		if strings.Contains(rc.got("/gone")[n-1].Body, `"app_artifact.register"`) {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusGone)
	}), events)

	a := ts.register(c.publisher, "payments", 1, nil)
	failing := func(id string) bool {
		ds := ts.deliveries(c.admin, id)
		return len(ds) == 1 && ds[0].Status == "FAILED" && ds[0].NextAttemptAt != nil
	}
	eventually(t, 10*time.Second, "a failed delivery waiting for its retry at each webhook", func() bool {
		return failing(off.ID) && failing(del.ID) && failing(gone.ID)
	})
	goneRegID = ts.deliveries(c.admin, gone.ID)[0].ID

	// Deactivated: the queued retry is DEAD at once, naming why.
	ts.MustDo(c.admin, `mutation($id: ID!, $in: WebhookInput!) { updateWebhook(id: $id, input: $in) { id } }`,
		map[string]any{"id": off.ID, "in": map[string]any{"url": rc.URL + "/off", "actions": events, "active": false}}, nil)
	ds := ts.deliveries(c.admin, off.ID)
	if len(ds) != 1 || ds[0].Status != "DEAD" || ds[0].LastError == nil || !strings.Contains(*ds[0].LastError, "deactivated") || ds[0].NextAttemptAt != nil {
		t.Fatalf("deactivated webhook's delivery: %+v", ds)
	}
	redeliver := `mutation($id: ID!) { redeliverWebhookEvent(deliveryId: $id) { id status } }`
	if e := ts.ErrCode(c.admin, redeliver, map[string]any{"id": ds[0].ID}); e.Code() != "INVALID_TRANSITION" {
		t.Fatalf("redelivering to an inactive webhook: %s %s", e.Code(), e.Message)
	}
	// Active again (and the receiver fixed): redelivery sends it.
	offFixed.Store(true)
	ts.MustDo(c.admin, `mutation($id: ID!, $in: WebhookInput!) { updateWebhook(id: $id, input: $in) { id } }`,
		map[string]any{"id": off.ID, "in": map[string]any{"url": rc.URL + "/off", "actions": events, "active": true}}, nil)
	ts.MustDo(c.admin, redeliver, map[string]any{"id": ds[0].ID}, nil)
	eventually(t, 10*time.Second, "the redelivery after reactivation", func() bool {
		ds := ts.deliveries(c.admin, off.ID)
		return len(ds) == 1 && ds[0].Status == "DELIVERED"
	})

	// 410: the webhook is disabled and the registration's queued retry is DEAD.
	ts.verify(c.verifier, a.ID, "SIGNATURE=PASSED")
	eventually(t, 10*time.Second, "the 410 disabling the webhook", func() bool {
		for _, h := range ts.webhooks(c.admin, "payments") {
			if h.ID == gone.ID {
				return !h.Active
			}
		}
		return false
	})
	// (The sender disables the webhook, then ends its retries.)
	eventually(t, 10*time.Second, "the disabled webhook's retries ended", func() bool {
		for _, d := range ts.deliveries(c.admin, gone.ID) {
			if d.Status != "DEAD" {
				return false
			}
		}
		return true
	})
	for _, d := range ts.deliveries(c.admin, gone.ID) {
		if d.Status != "DEAD" || d.NextAttemptAt != nil {
			t.Errorf("disabled webhook's delivery %+v", d)
		}
		if d.ID == goneRegID && (d.LastError == nil || !strings.Contains(*d.LastError, "410")) {
			t.Errorf("the retried registration: %+v, want DEAD naming the 410", d)
		}
	}

	// Deleted: its deliveries are gone.
	ts.MustDo(c.admin, `mutation($id: ID!) { deleteWebhook(id: $id) }`, map[string]any{"id": del.ID}, nil)
	if e := ts.ErrCode(c.admin, `query($id: ID!) { webhookDeliveries(webhookId: $id) { edges { node { id } } } }`, map[string]any{"id": del.ID}); e.Code() != "NOT_FOUND" {
		t.Fatalf("deliveries of a deleted webhook: %s %s", e.Code(), e.Message)
	}
}
