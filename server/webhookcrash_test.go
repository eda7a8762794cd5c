package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestWebhookDeliveriesSurviveKill9 registers artifacts under load, and freezes and
// unfreezes the project's promotions (project trail events), with a webhook whose
// receiver answers at first and then holds every request until the kill, so
// deliveries of both kinds are certainly pending (queued or in flight, never
// answered), kills the server with SIGKILL while the writers still write,
// restarts it on the same DATA_DIR and waits: every acknowledged event, of the
// artifacts and of the trail, reaches the receiver (duplicates allowed, with the
// same webhook-id), none is lost. The restarted server takes the webhook over
// when the dead one's lease ends (WEBHOOK_LEASE, short here).
func TestWebhookDeliveriesSurviveKill9(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the server and kills it")
	}
	dir := t.TempDir()
	bin := serverBinary(t)
	var mu sync.Mutex
	received := map[string]int{}
	var requests, held atomic.Int64
	// holding: requests wait for the kill and are not recorded (the killed server
	// never saw their answer, so they are not delivered).
	var holding atomic.Bool
	killed := make(chan struct{})
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if holding.Load() {
			held.Add(1)
			<-killed
			return
		}
		requests.Add(1)
		mu.Lock()
		received[r.Header.Get("webhook-id")]++
		mu.Unlock()
	}))
	defer rc.Close()
	var killOnce sync.Once
	releaseHeld := func() { killOnce.Do(func() { holding.Store(false); close(killed) }) }
	defer releaseHeld()

	dataDir := filepath.Join(dir, "data")
	env := []string{"WEBHOOK_ALLOWED_HOSTS=127.0.0.1", "WEBHOOK_LEASE=2s"}
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
		trailIDs    = map[string]bool{}
		// acknowledged while the receiver holds requests: a writer's second such
		// acknowledgement is of an event written after the receiver began holding,
		// which cannot have been delivered before the kill.
		heldAcks  [workers + 1]int
		dead      atomic.Bool
		wg        sync.WaitGroup
		ackedWith = func(slot int, id string, trail bool) {
			idsMu.Lock()
			defer idsMu.Unlock()
			acked.Add(1)
			ackedIDs = append(ackedIDs, id)
			if trail {
				trailIDs[id] = true
			}
			if holding.Load() {
				heldAcks[slot]++
			}
		}
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
					ackedWith(w, out.RegisterArtifact.ID+".0", false)
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
						ackedWith(workers, fmt.Sprintf("project/crash/policy/%d", p.Version-1), true)
					}
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			idsMu.Lock()
			ok := cond()
			idsMu.Unlock()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 20s (acknowledged %d)", what, acked.Load())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// Deliveries flow for a while, then the receiver holds every request.
	waitFor("first acknowledgements", func() bool { return len(ackedIDs) >= 30 && len(trailIDs) >= 1 })
	holding.Store(true)
	// Kill once events of both kinds were certainly written while the receiver
	// holds: two acknowledgements of one writer, and of the trail writer.
	waitFor("acknowledgements while the receiver holds", func() bool {
		return heldAcks[workers] >= 2 && slices.ContainsFunc(heldAcks[:workers], func(n int) bool { return n >= 2 }) &&
			len(ackedIDs) >= 60
	})
	p.kill(t)
	wg.Wait()
	mu.Lock()
	atKill := len(received)
	var pendingArt, pendingTrail int
	for _, id := range ackedIDs {
		switch {
		case received[id] > 0:
		case trailIDs[id]:
			pendingTrail++
		default:
			pendingArt++
		}
	}
	mu.Unlock()
	releaseHeld()
	if pendingArt == 0 || pendingTrail == 0 {
		t.Fatalf("at the kill %d artifact and %d trail events were acknowledged and not delivered: the crash caught no pending delivery of each kind", pendingArt, pendingTrail)
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
	deadline := time.Now().Add(60 * time.Second)
	for len(missing()) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	dups := 0
	for _, n := range received {
		dups += n - 1
	}
	distinct := len(received)
	mu.Unlock()
	lost := missing()
	t.Logf("sent %d, acknowledged %d (%d of them trail events), delivered before the kill %d, pending at the kill %d artifact and %d trail events (%d requests held), delivered in all %d distinct (%d requests), duplicates %d, lost %d",
		sent.Load(), len(ackedIDs), len(trailIDs), atKill, pendingArt, pendingTrail, held.Load(), distinct, requests.Load(), dups, len(lost))
	if len(lost) > 0 {
		t.Fatalf("%d acknowledged events never delivered, e.g. %v", len(lost), lost[:min(5, len(lost))])
	}
}
