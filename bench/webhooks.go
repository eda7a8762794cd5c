package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// runWebhooks measures webhook delivery: n registrations (4 clients) on a fresh
// server with no webhook, then on another fresh server with 3 webhooks whose
// receiver (loopback, answers at once) counts distinct deliveries. It reports the
// mutation latency of both runs and how long all n*3 deliveries took.
func runWebhooks(ctx context.Context, o options, bin, work string) error {
	var mu sync.Mutex
	seen := map[string]bool{}
	var requests atomic.Int64
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		mu.Lock()
		seen[r.URL.Path+" "+r.Header.Get("webhook-id")] = true
		mu.Unlock()
	}))
	defer rc.Close()
	delivered := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen)
	}
	tok, err := benchToken()
	if err != nil {
		return err
	}
	for _, hooks := range []int{0, 3} {
		dir := filepath.Join(work, fmt.Sprintf("webhooks-%d", hooks))
		sp, err := startServer(bin, filepath.Join(dir, "data"), filepath.Join(work, fmt.Sprintf("webhooks-%d.log", hooks)), "warn", "WEBHOOK_ALLOWED_HOSTS=127.0.0.1")
		if err != nil {
			return err
		}
		c := &gqlClient{http: newHTTPClient(), url: sp.URL + "/query", token: tok}
		if err := c.do(ctx, `mutation { setProjectPolicy(project: "hooks", input: {allowedSourceTypes: [OCI_REGISTRY], allowedSources: ["registry.example.com/"], allowNonOci: false, strictProgression: true}) { version } }`, nil, nil); err != nil {
			sp.Stop()
			return err
		}
		for i := 0; i < hooks; i++ {
			if err := c.do(ctx, `mutation($u: String!) { createWebhook(project: "hooks", input: {url: $u}) { secret } }`, map[string]any{"u": fmt.Sprintf("%s/hook%d", rc.URL, i)}, nil); err != nil {
				sp.Stop()
				return err
			}
		}
		before := delivered()
		lat := make([]time.Duration, o.Webhooks)
		var next atomic.Int64
		var wg sync.WaitGroup
		var firstErr atomic.Value
		start := time.Now()
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= o.Webhooks {
						return
					}
					t0 := time.Now()
					err := c.do(ctx, `mutation($in: RegisterArtifactInput!) { registerArtifact(input: $in) { id } }`, map[string]any{"in": map[string]any{
						"project": "hooks", "digest": fmt.Sprintf("sha256:%064x", i+1), "kind": "OCI_IMAGE", "sourceType": "OCI_REGISTRY", "source": "registry.example.com/hooks/app"}}, nil)
					lat[i] = time.Since(t0)
					if err != nil {
						firstErr.CompareAndSwap(nil, err)
					}
				}
			}()
		}
		wg.Wait()
		writes := time.Since(start)
		if err, _ := firstErr.Load().(error); err != nil {
			sp.Stop()
			return err
		}
		want := before + o.Webhooks*hooks
		deadline := time.Now().Add(5 * time.Minute)
		for delivered() < want && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		all := time.Since(start)
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		fmt.Printf("webhooks=%d: %d registrations in %s (4 clients), mutation p50 %s p90 %s p99 %s",
			hooks, o.Webhooks, writes.Round(time.Millisecond), msStr(pct(lat, 50)), msStr(pct(lat, 90)), msStr(pct(lat, 99)))
		if hooks > 0 {
			fmt.Printf("; %d of %d deliveries (%d requests) done %s after the first mutation", delivered()-before, o.Webhooks*hooks, requests.Load(), all.Round(time.Millisecond))
		}
		fmt.Println()
		if err := sp.Stop(); err != nil {
			logf("stopping the server: %v", err)
		}
	}
	return nil
}
