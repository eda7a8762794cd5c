package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/store"
)

// rederiveProject is the one project of the -rederive mode.
const rederiveProject = "rederive"

const qTrustReevaluation = `query($p: String!) { trustReevaluation(project: $p) { policyVersion reason startedAt finishedAt artifactsTotal artifactsDone artifactsChanged } }`

const qDeployableIn = `query($p: String!, $c: Channel!, $e: String) { deployable(project: $p, channel: $c, targetEnvironment: $e) { digest } }`

type reevaluationJSON struct {
	PolicyVersion    int        `json:"policyVersion"`
	Reason           string     `json:"reason"`
	StartedAt        time.Time  `json:"startedAt"`
	FinishedAt       *time.Time `json:"finishedAt"`
	ArtifactsTotal   int        `json:"artifactsTotal"`
	ArtifactsDone    int        `json:"artifactsDone"`
	ArtifactsChanged int        `json:"artifactsChanged"`
}

// runRederive seeds n artifacts into one project (the seed's trails: verified,
// evidence, promoted 2-4 times), starts the server on them, waits for the
// re-derivation the server starts for the seeded policy (nothing to change), then
// tightens the policy so that no source is allowlisted any more (every artifact
// not REVOKED changes: the worst case) and measures the time until
// trustReevaluation.finishedAt, with deployable (one client, closed loop) measured
// at rest before and during it.
func runRederive(ctx context.Context, o options, bin, work string) error {
	n := o.Rederive
	dir := filepath.Join(work, fmt.Sprintf("rederive-%d", n))
	base := time.Now().UTC().Add(-time.Duration(n+60) * time.Minute)
	logf("rederive: seeding %d artifacts into project %s", n, rederiveProject)
	start := time.Now()
	if err := seedOneProject(ctx, dir, n, base); err != nil {
		return err
	}
	logf("rederive: seeded in %s", time.Since(start).Round(time.Millisecond))
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
	vars := map[string]any{"p": rederiveProject}
	job := func() (*reevaluationJSON, error) {
		var out struct {
			TrustReevaluation *reevaluationJSON `json:"trustReevaluation"`
		}
		err := c.do(ctx, qTrustReevaluation, vars, &out)
		return out.TrustReevaluation, err
	}
	wait := func(reason string, during func()) (*reevaluationJSON, error) {
		for {
			r, err := job()
			if err != nil {
				return nil, err
			}
			if r != nil && r.Reason == reason && r.FinishedAt != nil {
				return r, nil
			}
			if during != nil {
				during()
			} else {
				time.Sleep(200 * time.Millisecond)
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
	}
	// The server finds the seeded policy without a job and walks the project once.
	t0 := time.Now()
	first, err := wait("policy version 1", nil)
	if err != nil {
		return err
	}
	logf("rederive: the walk of the seeded policy (nothing to change) took about %s: %+v", time.Since(t0).Round(time.Millisecond), *first)

	dvars := map[string]any{"p": rederiveProject, "c": "PROD", "e": "eu-west"}
	deployable := func() (time.Duration, string, error) {
		var out struct {
			Deployable *struct {
				Digest string `json:"digest"`
			} `json:"deployable"`
		}
		t := time.Now()
		err := c.do(ctx, qDeployableIn, dvars, &out)
		d := time.Since(t)
		if out.Deployable == nil {
			return d, "", err
		}
		return d, out.Deployable.Digest, err
	}
	registered := 0
	register := func() (time.Duration, error) {
		registered++
		in := map[string]any{"project": rederiveProject, "digest": digestFor(fmt.Sprintf("rederive-registered-%d", registered)),
			"kind": "OCI_IMAGE", "sourceType": "OCI_REGISTRY", "source": "registry.example.com/" + rederiveProject + "/svc-new"}
		t := time.Now()
		err := c.do(ctx, mRegister, map[string]any{"in": in}, nil)
		return time.Since(t), err
	}
	var rest, restMut []time.Duration
	digest := ""
	for i := 0; i < 300; i++ {
		d, dg, err := deployable()
		if err != nil {
			return err
		}
		rest, digest = append(rest, d), dg
		if i%10 == 0 {
			d, err := register()
			if err != nil {
				return fmt.Errorf("register: %w", err)
			}
			restMut = append(restMut, d)
		}
	}
	if digest == "" {
		return fmt.Errorf("nothing deployable from PROD/eu-west before the tightening")
	}

	var changed struct {
		SetProjectPolicy struct {
			Version int `json:"version"`
		} `json:"setProjectPolicy"`
	}
	err = c.do(ctx, `mutation($p: String!, $in: ProjectPolicyInput!) { setProjectPolicy(project: $p, input: $in) { version } }`, map[string]any{
		"p": rederiveProject, "in": map[string]any{"allowedSourceTypes": []string{"OCI_REGISTRY", "OBJECT_STORE", "HTTPS"},
			"allowedSources": []string{"registry.example.com/nothing-matches/"}, "allowNonOci": true,
			"requiredChecks": []string{"SIGNATURE"}, "strictProgression": true}}, &changed)
	if err != nil {
		return fmt.Errorf("tighten: %w", err)
	}
	tightened := time.Now()
	next := tightened
	var during, duringMut []time.Duration
	var answered []string
	mutErrs := 0
	last, err := wait(fmt.Sprintf("policy version %d", changed.SetProjectPolicy.Version), func() {
		// 20 deployable queries and 2 registrations between two progress polls,
		// paced at o.RederiveRate queries per second when it is set.
		for i := 0; i < 20; i++ {
			if o.RederiveRate > 0 {
				next = next.Add(time.Second / time.Duration(o.RederiveRate))
				time.Sleep(time.Until(next))
			}
			d, dg, err := deployable()
			if err == nil {
				during = append(during, d)
				answered = append(answered, dg)
			}
			if i%10 == 0 {
				if d, err := register(); err == nil {
					duringMut = append(duringMut, d)
				} else {
					mutErrs++
				}
			}
		}
	})
	if err != nil {
		return err
	}
	took := last.FinishedAt.Sub(last.StartedAt)
	stale := 0
	for _, dg := range answered {
		if dg != "" {
			stale++
		}
	}
	fmt.Printf("\n## Trust re-derivation, %d artifacts of one project (embedded engine)\n\n", n)
	fmt.Printf("- policy tightened so that no source is allowlisted any more: %d artifacts looked at, %d changed (REVOKED ones never change)\n", last.ArtifactsDone, last.ArtifactsChanged)
	fmt.Printf("- startedAt -> finishedAt: **%s** (tightening acknowledged -> finishedAt seen: %s)\n", took.Round(time.Millisecond), time.Since(tightened).Round(time.Millisecond))
	fmt.Printf("- deployable(PROD, eu-west) at rest: p50 %s, p95 %s (n=%d)\n", msStr(pctOf(rest, 50)), msStr(pctOf(rest, 95)), len(rest))
	pace := "a closed loop, as fast as the API answers"
	if o.RederiveRate > 0 {
		pace = fmt.Sprintf("paced at %d per second", o.RederiveRate)
	}
	fmt.Printf("- the client during the job: deployable %s, one registration per ten\n", pace)
	fmt.Printf("- deployable during the re-derivation: p50 %s, p95 %s, max %s (n=%d); answers naming a digest after the tightening: %d (want 0)\n",
		msStr(pctOf(during, 50)), msStr(pctOf(during, 95)), msStr(pctOf(during, 100)), len(during), stale)
	fmt.Printf("- registerArtifact into the project at rest: p50 %s, p95 %s (n=%d); during the re-derivation: p50 %s, p95 %s, max %s (n=%d, %d failed)\n",
		msStr(pctOf(restMut, 50)), msStr(pctOf(restMut, 95)), len(restMut), msStr(pctOf(duringMut, 50)), msStr(pctOf(duringMut, 95)), msStr(pctOf(duringMut, 100)), len(duringMut), mutErrs)
	fmt.Printf("- the first walk, under the seeded policy (nothing to change): %d artifacts in %s\n", first.ArtifactsDone, first.FinishedAt.Sub(first.StartedAt).Round(time.Millisecond))
	if rss, hwm, err := procStatus(sp.Pid()); err == nil {
		fmt.Printf("- server memory after the job: RSS %d MiB, peak %d MiB (VmHWM; GOGC %s)\n", rss>>20, hwm>>20, gcSetting())
	}
	m := machineInfo()
	fmt.Printf("- machine: %d CPUs (%s), %s, %s %s\n", m.NumCPU, m.Model, m.MemTotal, m.Go, m.OS)
	return nil
}

// gcSetting names the garbage collector setting the server ran with.
func gcSetting() string {
	if v, ok := os.LookupEnv("GOGC"); ok {
		return v + " (set)"
	}
	return "the server's default"
}

// pctOf is the nearest-rank percentile p of ds (sorted here).
func pctOf(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return pct(s, p)
}

// seedOneProject seeds n artifacts of rederiveProject with the bench's policy.
func seedOneProject(ctx context.Context, dir string, n int, base time.Time) error {
	st, err := store.Open(ctx, store.Config{DataDir: dir}, nil)
	if err != nil {
		return err
	}
	defer st.Close(context.WithoutCancel(ctx))
	pol, ch, err := benchPolicy(rederiveProject, base)
	if err != nil {
		return err
	}
	if err := st.PutPolicy(ctx, &pol, ch); err != nil {
		return err
	}
	const batch = 2000
	arts := make([]*model.Artifact, 0, batch)
	for i := 0; i < n; i++ {
		a, err := artifactIn(rederiveProject, i, base, &pol)
		if err != nil {
			return err
		}
		arts = append(arts, a)
		if len(arts) == batch || i == n-1 {
			if err := st.InsertArtifactsBulk(ctx, arts); err != nil {
				return err
			}
			arts = arts[:0]
		}
	}
	return nil
}
