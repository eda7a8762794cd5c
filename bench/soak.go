package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// soakSample is one memory sample of the server during the soak.
type soakSample struct {
	At        time.Duration `json:"at_ns"`
	RSS       int64         `json:"rss_bytes"`
	HWM       int64         `json:"hwm_bytes"`
	HeapInuse float64       `json:"heap_inuse_bytes"`
	Requests  int64         `json:"requests"`
	Errors    int64         `json:"errors"`
	Dropped   int64         `json:"dropped"`
	P50       time.Duration `json:"window_p50_ns"`
	P99       time.Duration `json:"window_p99_ns"`
}

type soakResult struct {
	Artifacts int           `json:"artifacts"`
	Seed      seedStats     `json:"seed"`
	Startup   time.Duration `json:"server_startup_ns"`
	Duration  time.Duration `json:"duration_ns"`
	Rate      float64       `json:"rate"`
	Mix       string        `json:"mix"`
	Samples   []soakSample  `json:"samples"`
	FirstErr  string        `json:"first_error,omitempty"`
}

// soakMix is the share of each operation in the soak load, in percent.
var soakMix = []struct {
	op    string
	share int
}{
	{"artifact(id)", 25}, {"artifactByDigest", 10}, {"artifacts(first:20,filter)", 10}, {"deployable", 10},
	{"channelStatus", 5}, {"auditEvents(first:50)", 10}, {"verifyArtifact", 12}, {"promoteArtifact", 12}, {"registerArtifact", 6},
}

// runSoak seeds the first size, starts the server and sends an open-loop mixed load
// at o.SoakRate requests per second for o.Soak (at most 32 requests in flight; a
// request that would exceed that is dropped and counted), sampling the server's
// memory every o.SoakEvery.
func runSoak(ctx context.Context, o options, bin, work string, rep *report) error {
	n := o.Sizes[0]
	dir := filepath.Join(work, fmt.Sprintf("soak-%d", n))
	base := time.Now().UTC().Add(-time.Duration(n+60) * time.Minute)
	logf("soak: seeding %d artifacts", n)
	st, err := seedStore(ctx, dir, n, base, logf)
	if err != nil {
		return err
	}
	sp, err := startServer(bin, dir, dir+".server.log", o.ServerLog)
	if err != nil {
		return err
	}
	defer sp.Stop()
	hc := newHTTPClient()
	tok, err := benchToken()
	if err != nil {
		return err
	}
	c := &gqlClient{http: hc, url: sp.URL + "/query", token: tok}
	label := strconv.FormatInt(time.Now().UnixNano(), 36)
	fns := map[string]opFunc{}
	for _, op := range apiOps {
		fns[op.Name] = op.Run(c, n, "soak-"+label)
	}
	var pick []string
	var mix []string
	for _, m := range soakMix {
		for k := 0; k < m.share; k++ {
			pick = append(pick, m.op)
		}
		mix = append(mix, fmt.Sprintf("%s %d%%", m.op, m.share))
	}
	res := &soakResult{Artifacts: n, Seed: st, Startup: sp.Startup, Duration: o.Soak, Rate: o.SoakRate, Mix: strings.Join(mix, ", ")}
	rep.Soak = res

	var reqs, errs, dropped atomic.Int64
	var mu sync.Mutex
	var window []time.Duration
	var firstErr atomic.Value
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	start := time.Now()
	sample := func() {
		s := soakSample{At: time.Since(start).Round(time.Second), Requests: reqs.Load(), Errors: errs.Load(), Dropped: dropped.Load()}
		s.RSS, s.HWM, _ = procStatus(sp.Pid())
		if m, err := sp.scrape(hc); err == nil {
			s.HeapInuse = m.HeapInuse
		}
		mu.Lock()
		w := window
		window = nil
		mu.Unlock()
		sort.Slice(w, func(i, j int) bool { return w[i] < w[j] })
		s.P50, s.P99 = pct(w, 50), pct(w, 99)
		res.Samples = append(res.Samples, s)
		logf("soak %6s: RSS %4d MiB (peak %4d MiB) heap in use %4.0f MiB; %d requests, %d errors, %d dropped; p50 %s ms p99 %s ms",
			s.At, s.RSS>>20, s.HWM>>20, s.HeapInuse/(1<<20), s.Requests, s.Errors, s.Dropped, msStr(s.P50), msStr(s.P99))
	}
	sample()
	tick := time.NewTicker(time.Duration(float64(time.Second) / o.SoakRate))
	defer tick.Stop()
	every := time.NewTicker(o.SoakEvery)
	defer every.Stop()
	end := time.After(o.Soak)
	rng := rand.New(rand.NewPCG(1, 2))
	i := 0
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-end:
			break loop
		case <-every.C:
			sample()
		case <-tick.C:
			op := pick[rng.IntN(len(pick))]
			k := i
			i++
			select {
			case sem <- struct{}{}:
			default:
				dropped.Add(1)
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				t := time.Now()
				err := fns[op](ctx, k)
				d := time.Since(t)
				reqs.Add(1)
				if err != nil {
					if errs.Add(1) == 1 {
						firstErr.Store(op + ": " + err.Error())
					}
					return
				}
				mu.Lock()
				window = append(window, d)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	sample()
	if s, ok := firstErr.Load().(string); ok {
		res.FirstErr = s
	}
	return nil
}

func (s *soakResult) markdown(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("#### Soak: %s of mixed load at %.0f requests/s on %d artifacts\n\nSeeded in %s through %s; server ready %s after start. Mix: %s. Open loop, at most 32 in flight; memory sampled from /proc/<pid>/status and the server's /metrics.\n\n",
		s.Duration, s.Rate, s.Artifacts, s.Seed.Duration.Round(time.Millisecond), s.Seed.Path, s.Startup.Round(time.Millisecond), s.Mix)
	w("| t | server VmRSS MiB | VmHWM MiB | Go heap in use MiB | requests | errors | dropped | p50 ms (window) | p99 ms (window) |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, x := range s.Samples {
		w("| %s | %d | %d | %.0f | %d | %d | %d | %s | %s |\n", x.At, x.RSS>>20, x.HWM>>20, x.HeapInuse/(1<<20), x.Requests, x.Errors, x.Dropped, msStr(x.P50), msStr(x.P99))
	}
	if s.FirstErr != "" {
		w("\nFirst error: %s\n", s.FirstErr)
	}
	w("\n")
}

// runSeedAPI seeds n artifacts, with the same trails as the store seeder, through
// the GraphQL API with 8 concurrent clients, and reports how long it took.
func runSeedAPI(ctx context.Context, o options, bin, work string) error {
	dir := filepath.Join(work, fmt.Sprintf("seed-api-%d", o.SeedAPI))
	sp, err := startServer(bin, dir, dir+".server.log", o.ServerLog)
	if err != nil {
		return err
	}
	defer sp.Stop()
	tok, err := benchToken()
	if err != nil {
		return err
	}
	c := &gqlClient{http: newHTTPClient(), url: sp.URL + "/query", token: tok}
	start := time.Now()
	for p := 0; p < numProjects; p++ {
		err := c.do(ctx, `mutation($p: String!, $in: ProjectPolicyInput!) { setProjectPolicy(project: $p, input: $in) { version } }`, map[string]any{
			"p": projectOf(p), "in": map[string]any{"allowedSourceTypes": []string{"OCI_REGISTRY", "OBJECT_STORE", "HTTPS"},
				"allowedSources": []string{"registry.example.com/", "s3://artifacts-example/"}, "allowNonOci": true,
				"requiredChecks": []string{"SIGNATURE"}, "strictProgression": true}}, nil)
		if err != nil {
			return fmt.Errorf("policy: %w", err)
		}
	}
	var requests atomic.Int64
	do := func(q string, in map[string]any) error {
		requests.Add(1)
		return c.do(ctx, q, map[string]any{"in": in}, nil)
	}
	seedOne := func(i int) error {
		in := registerInput(i)
		id := idOf(i)
		if err := do(mRegister, map[string]any{"project": in.Project, "digest": in.Digest, "kind": string(in.Kind), "sourceType": string(in.SourceType), "source": in.Source, "tags": in.Tags}); err != nil {
			return err
		}
		var results []map[string]any
		for _, r := range submittedResults {
			results = append(results, map[string]any{"check": string(r.Check), "result": string(r.Result), "detail": r.Detail})
		}
		if err := do(mVerify, map[string]any{"artifactId": id, "results": results, "reason": "release pipeline"}); err != nil {
			return err
		}
		plan := promotionPlan(i)
		for _, req := range plan {
			pin := map[string]any{"artifactId": id, "channel": string(req.Channel), "reason": req.Reason}
			if req.TargetEnvironment != "" {
				pin["targetEnvironment"] = req.TargetEnvironment
			}
			if err := do(mPromote, pin); err != nil {
				return err
			}
		}
		last := 8
		if revoked(i) || deprecated(i) {
			last = 7
		}
		for k := 2 + len(plan); k < last; k++ {
			if err := do(mVerify, map[string]any{"artifactId": id, "reason": "nightly re-verification"}); err != nil {
				return err
			}
		}
		switch {
		case revoked(i):
			requests.Add(1)
			return c.do(ctx, `mutation($id: ID!) { revokeArtifact(id: $id, reason: "key compromise drill") { id } }`, map[string]any{"id": id}, nil)
		case deprecated(i):
			requests.Add(1)
			return c.do(ctx, `mutation($id: ID!) { deprecateArtifact(id: $id, reason: "superseded") { id } }`, map[string]any{"id": id}, nil)
		}
		return nil
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= o.SeedAPI || ctx.Err() != nil || firstErr.Load() != nil {
					return
				}
				if err := seedOne(i); err != nil {
					firstErr.CompareAndSwap(nil, fmt.Sprintf("artifact %d: %v", i, err))
					return
				}
				if (i+1)%1000 == 0 {
					logf("  %d artifacts, %d requests, %.0f artifacts/s", i+1, requests.Load(), float64(i+1)/time.Since(start).Seconds())
				}
			}
		}()
	}
	wg.Wait()
	if e, ok := firstErr.Load().(string); ok {
		return fmt.Errorf("seed through the API: %s", e)
	}
	d := time.Since(start)
	fmt.Printf("seeded %d artifacts through the GraphQL API (8 clients) in %s: %d requests, %.1f artifacts/s, %.0f requests/s; 50,000 would take about %s\n",
		o.SeedAPI, d.Round(time.Millisecond), requests.Load(), float64(o.SeedAPI)/d.Seconds(), float64(requests.Load())/d.Seconds(),
		(time.Duration(float64(d) * 50000 / float64(o.SeedAPI))).Round(time.Second))
	return nil
}
