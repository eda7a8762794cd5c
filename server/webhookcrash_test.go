package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestWebhookDeliveriesSurviveKill9 registers artifacts under load, and freezes and
// unfreezes the project's promotions (project trail events), with a webhook whose
// receiver is slow, so deliveries are pending, kills the server with SIGKILL,
// restarts it on the same DATA_DIR and waits: every acknowledged event, of the
// artifacts and of the trail, reaches the receiver (duplicates allowed, with the
// same webhook-id), none is lost.
func TestWebhookDeliveriesSurviveKill9(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the server and kills it")
	}
	dir := t.TempDir()
	bin := serverBinary(t)
	var mu sync.Mutex
	received := map[string]int{}
	var requests atomic.Int64
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond) // slow: deliveries queue up
		requests.Add(1)
		mu.Lock()
		received[r.Header.Get("webhook-id")]++
		mu.Unlock()
	}))
	defer rc.Close()

	dataDir := filepath.Join(dir, "data")
	env := []string{"WEBHOOK_ALLOWED_HOSTS=127.0.0.1"}
	p := startProcess(t, bin, dataDir, env...)
	admin := token(t, "crash-admin", "crash:project_admin", "crash:publisher")
	client := &crashClient{url: p.URL, http: &http.Client{Timeout: 20 * time.Second}}
	if _, errs, err := client.do(admin, "setup-policy", `mutation { setProjectPolicy(project: "crash", input: {
		allowedSourceTypes: [OCI_REGISTRY], allowedSources: ["registry.example.com/"], allowNonOci: false, strictProgression: true}) { version } }`, nil); err != nil || len(errs) > 0 {
		t.Fatalf("policy: %v %+v", err, errs)
	}
	if _, errs, err := client.do(admin, "webhook", `mutation($u: String!) { createWebhook(project: "crash", input: {url: $u}) { webhook { id } } }`, map[string]any{"u": rc.URL + "/hook"}); err != nil || len(errs) > 0 {
		t.Fatalf("webhook: %v %+v", err, errs)
	}

	const workers = 4
	var (
		sent, acked atomic.Int64
		idsMu       sync.Mutex
		ackedIDs    []string
		trailAcked  int
		dead        atomic.Bool
		wg          sync.WaitGroup
	)
	ctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil && !dead.Load(); n++ {
				sent.Add(1)
				data, errs, terr := client.do(admin, fmt.Sprintf("w%d-%d", w, n), `mutation($in: RegisterArtifactInput!) { registerArtifact(input: $in) { id } }`,
					map[string]any{"in": map[string]any{"project": "crash", "digest": fmt.Sprintf("sha256:%056x%08x", w+1, n), "kind": "OCI_IMAGE", "sourceType": "OCI_REGISTRY", "source": "registry.example.com/crash/app"}})
				if terr != nil {
					dead.Store(true)
					return
				}
				var out struct {
					RegisterArtifact struct{ ID string } `json:"registerArtifact"`
				}
				if len(errs) == 0 && json.Unmarshal(data, &out) == nil && out.RegisterArtifact.ID != "" {
					acked.Add(1)
					idsMu.Lock()
					ackedIDs = append(ackedIDs, out.RegisterArtifact.ID+".0")
					idsMu.Unlock()
				}
			}
		}()
	}
	// Trail events: each acknowledged freeze or unfreeze made policy version v,
	// the policy trail's entry v-1.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ctx.Err() == nil && !dead.Load(); n++ {
			op := `mutation { freezePromotions(project: "crash", reason: "crash test") { version } }`
			if n%2 == 1 {
				op = `mutation { unfreezePromotions(project: "crash", reason: "crash test") { version } }`
			}
			sent.Add(1)
			data, errs, terr := client.do(admin, fmt.Sprintf("freeze-%d", n), op, nil)
			if terr != nil {
				dead.Store(true)
				return
			}
			var out map[string]struct{ Version int }
			if len(errs) == 0 && json.Unmarshal(data, &out) == nil {
				for _, p := range out {
					if p.Version > 0 {
						acked.Add(1)
						idsMu.Lock()
						ackedIDs = append(ackedIDs, fmt.Sprintf("project/crash/policy/%d", p.Version-1))
						trailAcked++
						idsMu.Unlock()
					}
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for acked.Load() < 200 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	p.kill(t)
	wg.Wait()
	mu.Lock()
	atKill := len(received)
	mu.Unlock()
	if atKill >= len(ackedIDs) {
		t.Logf("every delivery was done before the kill (%d of %d): the crash did not catch any pending", atKill, len(ackedIDs))
	}

	startProcess(t, bin, dataDir, env...)
	missing := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, id := range ackedIDs {
			if received[id] == 0 {
				out = append(out, id)
			}
		}
		return out
	}
	deadline = time.Now().Add(60 * time.Second)
	for len(missing()) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	dups := 0
	for _, n := range received {
		dups += n - 1
	}
	distinct := len(received)
	mu.Unlock()
	lost := missing()
	t.Logf("sent %d, acknowledged %d (%d of them trail events), delivered before the kill %d, delivered in all %d distinct (%d requests), duplicates %d, lost %d",
		sent.Load(), len(ackedIDs), trailAcked, atKill, distinct, requests.Load(), dups, len(lost))
	if trailAcked == 0 {
		t.Fatal("no freeze or unfreeze was acknowledged before the kill")
	}
	if len(lost) > 0 {
		t.Fatalf("%d acknowledged events never delivered, e.g. %v", len(lost), lost[:min(5, len(lost))])
	}
}
