package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/artifact-trust/control-plane/delivery"
)

// receiver is a webhook receiver on loopback: each path behaves as its handler
// says and every request is recorded.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	requests map[string][]capturedRequest
	behave   map[string]func(n int, w http.ResponseWriter) // n: the path's request number, from 1
}

type capturedRequest struct {
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
	Secrets []string          `json:"secrets,omitempty"`
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{requests: map[string][]capturedRequest{}, behave: map[string]func(int, http.ResponseWriter){}}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h := map[string]string{}
		for k := range r.Header {
			h[strings.ToLower(k)] = r.Header.Get(k)
		}
		rc.mu.Lock()
		rc.requests[r.URL.Path] = append(rc.requests[r.URL.Path], capturedRequest{Headers: h, Body: string(body)})
		n := len(rc.requests[r.URL.Path])
		f := rc.behave[r.URL.Path]
		rc.mu.Unlock()
		if f != nil {
			f(n, w)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) on(path string, f func(n int, w http.ResponseWriter)) string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.behave[path] = f
	return rc.URL + path
}

func (rc *receiver) got(path string) []capturedRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]capturedRequest(nil), rc.requests[path]...)
}

type webhookJSON struct {
	ID             string   `json:"id"`
	Project        string   `json:"project"`
	URL            string   `json:"url"`
	Actions        []string `json:"actions"`
	Active         bool     `json:"active"`
	DisabledReason *string  `json:"disabledReason"`
}

type deliveryJSON struct {
	ID             string  `json:"id"`
	WebhookID      string  `json:"webhookId"`
	EventID        string  `json:"eventId"`
	Action         string  `json:"action"`
	Status         string  `json:"status"`
	Attempts       int     `json:"attempts"`
	LastStatusCode *int    `json:"lastStatusCode"`
	LastError      *string `json:"lastError"`
	NextAttemptAt  *string `json:"nextAttemptAt"`
	DeliveredAt    *string `json:"deliveredAt"`
}

const webhookFields = `id project url actions active disabledReason createdBy createdAt`

func (ts *testServer) createWebhook(tok, project, url string, actions []string) (webhookJSON, string) {
	ts.t.Helper()
	var out struct {
		CreateWebhook struct {
			Webhook webhookJSON `json:"webhook"`
			Secret  string      `json:"secret"`
		} `json:"createWebhook"`
	}
	in := map[string]any{"url": url}
	if actions != nil {
		in["actions"] = actions
	}
	ts.MustDo(tok, `mutation($p: String!, $in: WebhookInput!) { createWebhook(project: $p, input: $in) { webhook { `+webhookFields+` } secret } }`,
		map[string]any{"p": project, "in": in}, &out)
	return out.CreateWebhook.Webhook, out.CreateWebhook.Secret
}

func (ts *testServer) deliveries(tok, webhookID string) []deliveryJSON {
	ts.t.Helper()
	var out struct {
		WebhookDeliveries struct {
			Edges []struct {
				Node deliveryJSON `json:"node"`
			} `json:"edges"`
		} `json:"webhookDeliveries"`
	}
	ts.MustDo(tok, `query($id: ID!) { webhookDeliveries(webhookId: $id, first: 100) { edges { node { id webhookId eventId action status attempts lastStatusCode lastError nextAttemptAt deliveredAt createdAt } } } }`,
		map[string]any{"id": webhookID}, &out)
	var ds []deliveryJSON
	for _, e := range out.WebhookDeliveries.Edges {
		ds = append(ds, e.Node)
	}
	return ds
}

func (ts *testServer) webhooks(tok, project string) []webhookJSON {
	ts.t.Helper()
	var out struct {
		Webhooks []webhookJSON `json:"webhooks"`
	}
	ts.MustDo(tok, `query($p: String!) { webhooks(project: $p) { `+webhookFields+` } }`, map[string]any{"p": project}, &out)
	return out.Webhooks
}

// eventually polls cond until it holds, failing the test after limit.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not reached within %s: %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fastDelivery shortens the delivery timings for tests.
func fastDelivery(c *Config) {
	c.WebhookAllowedHosts = []string{"127.0.0.1"}
	c.Delivery = delivery.Config{RetryMin: 100 * time.Millisecond, RetryMax: 300 * time.Millisecond, PollInterval: 100 * time.Millisecond, DiscoverInterval: 200 * time.Millisecond}
}

func TestWebhookAdministrationShowsTheSecretOnceAuditsEveryChangeAndRefusesUnsafeDestinations(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir(), func(c *Config) { c.WebhookAllowedHosts = []string{"127.0.0.1"} })
	c := newCast(t)
	create := `mutation($p: String!, $in: WebhookInput!) { createWebhook(project: $p, input: $in) { webhook { id } secret } }`
	for _, tc := range []struct{ url, code string }{
		{"ftp://example.com/x", "BAD_USER_INPUT"},
		{"http://localhost:9/x", "BAD_USER_INPUT"},
		{"http://169.254.169.254/latest/meta-data", "BAD_USER_INPUT"},
		{"http://10.0.0.8/hook", "BAD_USER_INPUT"},
		{"http://user:pw@example.com/", "BAD_USER_INPUT"},
		{"not a url", "BAD_USER_INPUT"},
	} {
		if e := ts.ErrCode(c.admin, create, map[string]any{"p": "payments", "in": map[string]any{"url": tc.url}}); e.Code() != tc.code {
			t.Errorf("%s: %s %s, want %s", tc.url, e.Code(), e.Message, tc.code)
		}
	}
	for _, tok := range []string{c.viewer, c.promoter, c.outsider} {
		if e := ts.ErrCode(tok, create, map[string]any{"p": "payments", "in": map[string]any{"url": "http://127.0.0.1:9/x"}}); e.Code() != "FORBIDDEN" {
			t.Errorf("non-admin: %s, want FORBIDDEN", e.Code())
		}
	}
	w, secret := ts.createWebhook(c.admin, "payments", "http://127.0.0.1:9/hook", []string{"app_artifact.promote"})
	if !strings.HasPrefix(secret, "whsec_") || len(secret) < 40 || !w.Active || w.Project != "payments" {
		t.Fatalf("created %+v with secret %q", w, secret)
	}
	if raw := ts.DoPath(GraphQLPath, c.admin, `{ webhooks(project: "payments") { id url } }`); strings.Contains(raw, secret) || !strings.Contains(raw, w.ID) {
		t.Fatalf("webhooks lists %s", raw)
	}
	var rot struct {
		RotateWebhookSecret struct {
			Secret string `json:"secret"`
		} `json:"rotateWebhookSecret"`
	}
	ts.MustDo(c.admin, `mutation($id: ID!) { rotateWebhookSecret(id: $id) { webhook { id } secret } }`, map[string]any{"id": w.ID}, &rot)
	if rot.RotateWebhookSecret.Secret == secret || !strings.HasPrefix(rot.RotateWebhookSecret.Secret, "whsec_") {
		t.Fatal("rotation did not make a new secret")
	}
	var upd struct {
		UpdateWebhook webhookJSON `json:"updateWebhook"`
	}
	ts.MustDo(c.admin, `mutation($id: ID!, $in: WebhookInput!) { updateWebhook(id: $id, input: $in) { `+webhookFields+` } }`,
		map[string]any{"id": w.ID, "in": map[string]any{"url": "http://127.0.0.1:10/hook", "active": false}}, &upd)
	if upd.UpdateWebhook.Active || upd.UpdateWebhook.URL != "http://127.0.0.1:10/hook" || len(upd.UpdateWebhook.Actions) != 0 {
		t.Fatalf("updated: %+v", upd.UpdateWebhook)
	}
	if e := ts.ErrCode(c.outsider, `mutation($id: ID!) { deleteWebhook(id: $id) }`, map[string]any{"id": w.ID}); e.Code() != "NOT_FOUND" {
		t.Fatalf("outsider delete: %s", e.Code())
	}
	if e := ts.ErrCode(c.viewer, `mutation($id: ID!) { deleteWebhook(id: $id) }`, map[string]any{"id": w.ID}); e.Code() != "FORBIDDEN" {
		t.Fatalf("viewer delete: %s", e.Code())
	}
	ts.MustDo(c.admin, `mutation($id: ID!) { deleteWebhook(id: $id) }`, map[string]any{"id": w.ID}, nil)
	if hooks := ts.webhooks(c.admin, "payments"); len(hooks) != 0 {
		t.Fatalf("deleted webhook still listed: %+v", hooks)
	}
	if e := ts.ErrCode(c.admin, `mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }`, map[string]any{"id": w.ID}); e.Code() != "NOT_FOUND" {
		t.Fatalf("rotating a deleted webhook: %s", e.Code())
	}
	var hist struct {
		ProjectPolicyHistory []struct {
			Action string  `json:"action"`
			Actor  string  `json:"actor"`
			Reason *string `json:"reason"`
		} `json:"projectPolicyHistory"`
	}
	ts.MustDo(c.admin, `{ projectPolicyHistory(project: "payments") { action actor reason } }`, nil, &hist)
	var trail []string
	for _, h := range hist.ProjectPolicyHistory {
		if h.Action == "project.webhook" && h.Actor == "ada" && h.Reason != nil {
			trail = append(trail, strings.Fields(*h.Reason)[0])
		}
	}
	if strings.Join(trail, ",") != "deleted,updated,rotated,created" {
		t.Fatalf("project trail of the webhook: %v, want deleted, updated, rotated, created (newest first)", trail)
	}
	all, _ := json.Marshal(hist)
	if strings.Contains(string(all), secret) || strings.Contains(string(all), rot.RotateWebhookSecret.Secret) {
		t.Fatal("the trail shows a secret")
	}
}

// TestWebhookDeliveryMatrix drives one receiver per behaviour and checks what the
// service did: delivered, retried with backoff until delivered, DEAD after the
// retry period, 410 disables the webhook, a redirect is a failed attempt and is
// not followed, a receiver slower than the timeout is retried; every body is a
// CloudEvent signed per Standard Webhooks, checked with the npm standardwebhooks
// and cloudevents packages, the rotated-out secret still verifying.
func TestWebhookDeliveryMatrix(t *testing.T) {
	t.Parallel()
	dir, _ := filepath.Abs("../conformance")
	node, nodeErr := exec.LookPath("node")
	_, modErr := os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks"))
	_, ceErr := os.Stat(filepath.Join(dir, "node_modules", "cloudevents"))
	requireInstalled(t, "the standardwebhooks and cloudevents packages", "(cd conformance && npm ci)", nodeErr, modErr, ceErr)

	ts := startServer(t, t.TempDir(), fastDelivery, func(c *Config) { c.Delivery.RetryFor = 12 * time.Second })
	c := newCast(t)
	allowRegistry(t, ts, c, nil)
	rc := newReceiver(t)
	ok200 := func(int, http.ResponseWriter) {}
	hooks := map[string]string{}
	secrets := map[string]string{}
	add := func(name string, f func(int, http.ResponseWriter), actions []string) {
		w, s := ts.createWebhook(c.admin, "payments", rc.on("/"+name, f), actions)
		hooks[name], secrets[name] = w.ID, s
	}
	// The artifact events only: the project trail's (project.webhook as these
	// webhooks are created, ...) have their own test.
	artifactEvents := []string{"app_artifact.register", "app_artifact.verify"}
	add("ok", ok200, artifactEvents)
	add("registrations", ok200, []string{"app_artifact.register"})
	add("flaky", func(n int, w http.ResponseWriter) {
		if n <= 2 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}, artifactEvents)
	add("dead", func(_ int, w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) }, []string{"app_artifact.register"})
	add("gone", func(_ int, w http.ResponseWriter) { w.WriteHeader(http.StatusGone) }, artifactEvents)
	add("redirect", func(_ int, w http.ResponseWriter) {
		w.Header().Set("Location", rc.URL+"/redirect-target")
		w.WriteHeader(http.StatusFound)
	}, []string{"app_artifact.register"})
	add("slow", func(n int, w http.ResponseWriter) {
		if n == 1 {
			time.Sleep(11 * time.Second)
		}
	}, []string{"app_artifact.register"})
	add("bigbody", func(_ int, w http.ResponseWriter) {
		_, _ = w.Write(bytes.Repeat([]byte("y"), 1<<20))
	}, []string{"app_artifact.register"})

	a := ts.register(c.publisher, "payments", 1, nil)
	start := time.Now()
	ts.verify(c.verifier, a.ID, "SIGNATURE=PASSED")
	if took := time.Since(start); took > 5*time.Second {
		t.Logf("verify took %s with a slow receiver", took)
	}

	status := func(name string) []deliveryJSON { return ts.deliveries(c.admin, hooks[name]) }
	t.Cleanup(func() {
		if t.Failed() {
			for name := range hooks {
				t.Logf("%s: %+v (%d requests)", name, status(name), len(rc.got("/"+name)))
			}
		}
	})
	eventually(t, 30*time.Second, "every delivery settled", func() bool {
		settled := func(name string, want ...string) bool {
			ds := status(name)
			if len(ds) != len(want) {
				return false
			}
			for i, d := range ds {
				if d.Status != want[i] {
					return false
				}
			}
			return true
		}
		return settled("ok", "DELIVERED", "DELIVERED") && settled("registrations", "DELIVERED") &&
			settled("flaky", "DELIVERED", "DELIVERED") && settled("dead", "DEAD") && (settled("gone", "DEAD") || settled("gone", "DEAD", "DEAD")) &&
			settled("slow", "DELIVERED") && settled("bigbody", "DELIVERED") && settled("redirect", "DEAD")
	})

	// flaky failed its first two requests: 4 requests for its 2 events, each
	// event's id the same on every attempt.
	flaky, attempts, ids := rc.got("/flaky"), 0, map[string]int{}
	for _, r := range flaky {
		ids[r.Headers["webhook-id"]]++
	}
	for _, d := range status("flaky") {
		t.Logf("flaky: %s %s attempts %d", d.Action, d.Status, d.Attempts)
		attempts += d.Attempts
		if ids[d.EventID] != d.Attempts {
			t.Errorf("flaky: event %s attempted %d times, received %d times under its id", d.EventID, d.Attempts, ids[d.EventID])
		}
	}
	if len(flaky) != 4 || attempts != 4 || len(ids) != 2 {
		t.Errorf("flaky received %d requests (%d attempts recorded, %d event ids); want 4 for 2 events", len(flaky), attempts, len(ids))
	}
	if ds := status("dead"); ds[0].Attempts < 3 || ds[0].LastStatusCode == nil || *ds[0].LastStatusCode != 503 {
		t.Errorf("dead: %+v; want several attempts, the last answered 503", ds[0])
	}
	hs := ts.webhooks(c.admin, "payments")
	for _, h := range hs {
		if h.ID == hooks["gone"] && (h.Active || h.DisabledReason == nil || !strings.Contains(*h.DisabledReason, "410")) {
			t.Errorf("gone: %+v; want disabled by the 410", h)
		}
	}
	// The events sent together with the one answered 410 (one batch) may have
	// been sent too; nothing is sent after it.
	if n := len(rc.got("/gone")); n != len(status("gone")) {
		t.Errorf("gone received %d requests for %d deliveries; want one each and nothing after the 410", n, len(status("gone")))
	}
	if n := len(rc.got("/redirect-target")); n != 0 {
		t.Errorf("the redirect was followed (%d requests to its target)", n)
	}
	if ds := status("redirect"); ds[0].LastStatusCode == nil || *ds[0].LastStatusCode != 302 {
		t.Errorf("redirect: %+v", ds[0])
	}
	if ds := status("slow"); ds[0].Attempts != 2 {
		t.Errorf("slow: %+v; want a timed-out attempt, then a delivered one", ds[0])
	} else if len(rc.got("/slow")) != 2 {
		t.Errorf("slow received %d requests", len(rc.got("/slow")))
	}

	// Redelivery sends the same event again.
	okDeliveries := status("ok")
	var re struct {
		RedeliverWebhookEvent deliveryJSON `json:"redeliverWebhookEvent"`
	}
	ts.MustDo(c.admin, `mutation($id: ID!) { redeliverWebhookEvent(deliveryId: $id) { id eventId status attempts } }`, map[string]any{"id": okDeliveries[1].ID}, &re)
	if re.RedeliverWebhookEvent.Status != "PENDING" || re.RedeliverWebhookEvent.EventID != okDeliveries[1].EventID {
		t.Fatalf("redeliver: %+v", re.RedeliverWebhookEvent)
	}
	eventually(t, 10*time.Second, "the redelivery", func() bool { return len(rc.got("/ok")) == 3 })
	if got := rc.got("/ok"); got[2].Headers["webhook-id"] != okDeliveries[1].EventID {
		t.Errorf("redelivered webhook-id %s, want the delivery's event id %s", got[2].Headers["webhook-id"], okDeliveries[1].EventID)
	}

	// Rotation: the next delivery carries two signatures, each verifies.
	old := secrets["ok"]
	var rot struct {
		RotateWebhookSecret struct {
			Secret string `json:"secret"`
		} `json:"rotateWebhookSecret"`
	}
	ts.MustDo(c.admin, `mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }`, map[string]any{"id": hooks["ok"]}, &rot)
	ts.verify(c.verifier, a.ID, "ATTESTATION=PASSED")
	eventually(t, 10*time.Second, "the delivery after rotation", func() bool { return len(rc.got("/ok")) == 4 })

	// Independent verification.
	var batch []capturedRequest
	for i, r := range rc.got("/ok") {
		r.Secrets = []string{old}
		if i == 3 {
			r.Secrets = []string{rot.RotateWebhookSecret.Secret, old}
		}
		batch = append(batch, r)
	}
	for _, r := range rc.got("/registrations") {
		r.Secrets = []string{secrets["registrations"]}
		batch = append(batch, r)
	}
	lines := verifyWithNPM(t, node, dir, batch)
	for i, line := range lines {
		var v struct {
			ID              string   `json:"id"`
			Verified        []int    `json:"verified"`
			Errors          []string `json:"errors"`
			TamperedVerfied bool     `json:"tamperedVerified"`
			Event           struct {
				SpecVersion     string         `json:"specversion"`
				ID              string         `json:"id"`
				Type            string         `json:"type"`
				Source          string         `json:"source"`
				Subject         string         `json:"subject"`
				DataContentType string         `json:"datacontenttype"`
				Data            map[string]any `json:"data"`
			} `json:"event"`
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		t.Logf("%s", line)
		if len(v.Verified) != len(batch[i].Secrets) || len(v.Errors) != 0 || v.TamperedVerfied {
			t.Errorf("delivery %d: verified with secrets %v of %d, errors %v, tampered body verified %v", i, v.Verified, len(batch[i].Secrets), v.Errors, v.TamperedVerfied)
		}
		action, _ := v.Event.Data["action"].(string)
		if v.Event.SpecVersion != "1.0" || v.Event.ID != v.ID || v.Event.Subject != digestN(1) || v.Event.Source != "/projects/payments" ||
			!strings.HasSuffix(v.Event.Type, action) || action == "" || v.Event.Data["artifactId"] != a.ID {
			t.Errorf("delivery %d: CloudEvent %+v", i, v.Event)
		}
	}
	if got := rc.got("/registrations"); len(got) != 1 || !strings.Contains(got[0].Body, "app_artifact.register") {
		t.Errorf("the register-only webhook received %d requests", len(got))
	}
}

// TestWebhooksOfAnotherProjectAreNotFoundAndTheTrailHidesURLSecrets: an admin of
// another project gets NOT_FOUND for a webhook id, as for an unknown one (which
// project holds it is not told), and no name is resolved for it; a viewer
// reading the project trail sees the webhook's scheme, host and path, never the
// query or user information a receiver may keep its token in.
func TestWebhooksOfAnotherProjectAreNotFoundAndTheTrailHidesURLSecrets(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir(), func(c *Config) { c.WebhookAllowedHosts = []string{"127.0.0.1"} })
	c := newCast(t)
	w, _ := ts.createWebhook(c.admin, "payments", "http://127.0.0.1:9/hook?token=RECEIVER-SECRET-123", nil)
	for name, q := range map[string]string{
		"updateWebhook":       `mutation($id: ID!) { updateWebhook(id: $id, input: {url: "http://127.0.0.1:9/other"}) { id } }`,
		"deleteWebhook":       `mutation($id: ID!) { deleteWebhook(id: $id) }`,
		"rotateWebhookSecret": `mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }`,
		"webhookDeliveries":   `query($id: ID!) { webhookDeliveries(webhookId: $id) { edges { cursor } } }`,
	} {
		e := ts.ErrCode(c.outsider, q, map[string]any{"id": w.ID})
		if e.Code() != "NOT_FOUND" || strings.Contains(e.Message, "payments") {
			t.Errorf("%s by another project's admin: %s %q", name, e.Code(), e.Message)
		}
	}
	raw := ts.DoPath(GraphQLPath, c.viewer, `{ projectPolicyHistory(project: "payments") { action reason } }`)
	if strings.Contains(raw, "RECEIVER-SECRET-123") || !strings.Contains(raw, "http://127.0.0.1:9/hook?…") {
		t.Fatalf("the trail a viewer reads: %s", raw)
	}
}

// verifyWithNPM runs conformance/webhooks.mjs (node, in dir) on the captured
// deliveries, which checks each one's signatures with the npm standardwebhooks
// package and parses its body with the npm cloudevents package, and returns its
// one JSON line per delivery.
func verifyWithNPM(t *testing.T, node, dir string, batch []capturedRequest) []string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "deliveries.json")
	raw, _ := json.Marshal(batch)
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "webhooks.mjs", file)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("webhooks.mjs: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(batch) {
		t.Fatalf("%d results for %d deliveries:\n%s", len(lines), len(batch), out)
	}
	return lines
}
