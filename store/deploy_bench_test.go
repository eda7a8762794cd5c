package store

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

// BenchmarkDeployableIneligible measures service.Deployable (policy, read models,
// artifacts; everything but HTTP) on the embedded engine for one (channel,
// environment), DEV/eu, holding BENCH_DEPLOY_N (default 2,000) promotions:
//
//	newest-eligible      the newest promotion is deployable (the normal case)
//	all-revoked          every artifact there is REVOKED (mass revocation)
//	policy-tightened     DEV now requires ATTESTATION, which none of them has
//	policy-tightened-x10 10 callers at once; max-ms is the slowest of all calls,
//	                     other-ms the p50 of an unrelated project's deployable
//	                     asked meanwhile
//	policy-loosened      the requirement dropped again: the newest is back
//
// Each reports p50-ms and max-ms besides ns/op. Run with
//
//	go test ./store/ -run '^$' -bench DeployableIneligible -benchtime 20x
func BenchmarkDeployableIneligible(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("BENCH_DEPLOY_N")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	s := openTest(b, b.TempDir())
	start := time.Now()
	seedDeployProject(b, s, "mass", n, false)
	seedDeployProject(b, s, "revoked", n, true)
	seedDeployProject(b, s, "other", 50, false)
	b.Logf("seeded 2 x %d promotions into DEV/eu in %v", n, time.Since(start).Round(time.Millisecond))

	svc := service.New(s)
	rq := service.Request{Actor: model.Actor{Subject: "bench", Type: model.ActorUser, Roles: map[string][]model.Role{"*": {model.RoleViewer}}}}
	call := func(project string) (time.Duration, bool) {
		t := time.Now()
		_, ok, err := svc.Deployable(ctx, rq, project, model.ChannelDev, "eu")
		if err != nil {
			b.Fatal(err)
		}
		return time.Since(t), ok
	}
	measure := func(name, project string, want bool) {
		b.Run(name, func(b *testing.B) {
			var lat []time.Duration
			for b.Loop() {
				d, ok := call(project)
				if ok != want {
					b.Fatalf("deployable found=%v, want %v", ok, want)
				}
				lat = append(lat, d)
			}
			reportLatencies(b, "", lat)
		})
	}
	setDevChecks := func(version int, checks []model.Check) {
		in := model.PolicyInput{AllowedSourceTypes: model.AllSourceTypes, StrictProgression: true, Channels: []model.ChannelPolicyInput{{
			Channel: model.ChannelDev, RequiredTrust: model.TrustAllowUnverified, RequiredChecks: checks,
			PromoterRoles: []model.Role{model.RolePromoter, model.RoleProjectAdmin},
		}}}
		p, err := model.NewPolicy("mass", in)
		if err != nil {
			b.Fatal(err)
		}
		p.Version, p.UpdatedAt, p.UpdatedBy = version, time.Now(), "bench"
		if err := s.PutPolicy(ctx, &p, model.PolicyChange{Project: "mass", Actor: "bench", FromVersion: version - 1, ToVersion: version, At: p.UpdatedAt}); err != nil {
			b.Fatal(err)
		}
	}

	measure("newest-eligible", "mass", true)
	measure("all-revoked", "revoked", false)
	setDevChecks(1, []model.Check{model.CheckAttestation})
	measure("policy-tightened", "mass", false)
	b.Run("policy-tightened-x10", func(b *testing.B) {
		var lat, other []time.Duration
		for b.Loop() {
			var mu sync.Mutex
			var wg sync.WaitGroup
			done := make(chan struct{})
			for range 10 {
				wg.Go(func() {
					d, ok := call("mass")
					if ok {
						b.Error("deployable found under the tightened policy")
					}
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				})
			}
			var ow sync.WaitGroup
			ow.Go(func() {
				for {
					select {
					case <-done:
						return
					default:
					}
					d, ok := call("other")
					if !ok {
						b.Error("the other project has a deployable artifact")
					}
					other = append(other, d)
				}
			})
			wg.Wait()
			close(done)
			ow.Wait()
		}
		reportLatencies(b, "", lat)
		reportLatencies(b, "other-", other)
	})
	setDevChecks(2, nil)
	measure("policy-loosened", "mass", true)
}

// seedDeployProject stores n VERIFIED artifacts of project (SIGNATURE passed, no
// ATTESTATION), each promoted into DEV/eu, 10 s apart; revoked ones were revoked
// after their promotion.
func seedDeployProject(b *testing.B, s *Store, project string, n int, revoked bool) {
	b.Helper()
	var arts []*model.Artifact
	for i := 0; i < n; i++ {
		created := t0.Add(time.Duration(i) * 10 * time.Second)
		arts = append(arts, deployArtifact(project, fmt.Sprintf("d-%06d", i), created, revoked))
	}
	for len(arts) > 0 {
		k := min(len(arts), 1000)
		if err := s.InsertArtifactsBulk(context.Background(), arts[:k]); err != nil {
			b.Fatal(err)
		}
		arts = arts[k:]
	}
}

// deployArtifact is a registered artifact, verified (SIGNATURE passed), promoted
// into DEV/eu a second later and, with revoked, revoked a second after that.
func deployArtifact(project, name string, created time.Time, revoked bool) *model.Artifact {
	a := newArtifact(project, name, created)
	at := func(k int) time.Time { return created.Add(time.Duration(k) * time.Second) }
	a.Verification = model.MergeVerification(a.Verification, []model.VerificationRecord{
		{Check: model.CheckSignature, Result: model.ResultPassed, RecordedBy: "verifier", RecordedAt: at(1)},
	})
	ev := a.Event(model.ActionVerify, alice, "v-"+name, "", at(1))
	ev.FromState, ev.ToState, ev.Verification = string(a.TrustState), string(model.TrustVerified), a.Verification
	a.TrustState = model.TrustVerified
	a.Audit = append(a.Audit, ev)
	a.Promotions = append(a.Promotions, model.Promotion{Channel: model.ChannelDev, TargetEnvironment: "eu", PromotedBy: "alice", PromotedAt: at(2), CorrelationID: "p-" + name})
	ev = a.Event(model.ActionPromote, alice, "p-"+name, "", at(2))
	ev.PromotionChannel, ev.PromotionEnvironment = model.ChannelDev, "eu"
	ev.FromState, ev.ToState = string(model.LifecyclePublished), string(model.LifecyclePromoted)
	a.LifecycleState = model.LifecyclePromoted
	a.Audit = append(a.Audit, ev)
	if revoked {
		ev = a.Event(model.ActionRevoke, alice, "r-"+name, "mass revocation", at(3))
		ev.FromState, ev.ToState = string(a.TrustState), string(model.TrustRevoked)
		a.TrustState = model.TrustRevoked
		a.Audit = append(a.Audit, ev)
	}
	a.Version = len(a.Audit)
	a.UpdatedAt = a.Audit[len(a.Audit)-1].At
	return a
}

// reportLatencies reports the median and the maximum of lat in milliseconds.
func reportLatencies(b *testing.B, prefix string, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lat[(len(lat)-1)/2]), prefix+"p50-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), prefix+"max-ms")
}

// BenchmarkWriteRoundTrips measures what the chan logs' deploy facts add to
// writes: UpdateArtifact (outbox, artifact write, every projection) on the
// BenchmarkEmbedded data set (1,000 artifacts in 20 projects, each promoted into 4
// channels), reporting engine round trips per write (cmds/op, by command; the
// embedded engine's cost is mostly round trips, and they do not depend on the
// machine's load) besides the time.
//
//	promote   a new promotion into DEV (the facts do not change)
//	reverify  a verification that changes nothing (the nightly kind)
//	flip      a verification moving trust VERIFIED <-> UNVERIFIED (facts change in
//	          all 4 channel logs)
//	revoke    a revocation (facts change in all 4)
//
// Run with
//
//	go test ./store/ -run '^$' -bench WriteRoundTrips -benchtime 400x
func BenchmarkWriteRoundTrips(b *testing.B) {
	ctx := context.Background()
	counter := &commandCounter{}
	s, err := Open(ctx, Config{DataDir: b.TempDir(), monitor: counter.monitor()}, testLog(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close(context.Background()) })
	const n = 1000
	ids := seedBenchStore(b, s, n)
	clock := t0.Add(time.Duration(n+1000) * 10 * time.Second)
	event := func(cur *model.Artifact, action string, to model.TrustState) *model.Artifact {
		clock = clock.Add(time.Millisecond)
		after := *cur
		ev := cur.Event(action, alice, "bench", "bench", clock)
		ev.FromState, ev.ToState = string(cur.TrustState), string(to)
		after.TrustState, after.UpdatedAt = to, clock
		after.Audit = append(append([]model.AuditEvent(nil), cur.Audit...), ev)
		return &after
	}
	ops := []struct {
		name string
		next func(cur *model.Artifact) *model.Artifact
	}{
		{"promote", func(cur *model.Artifact) *model.Artifact {
			after := event(cur, model.ActionPromote, cur.TrustState)
			after.Audit[len(after.Audit)-1].FromState, after.Audit[len(after.Audit)-1].ToState = "", ""
			after.Audit[len(after.Audit)-1].PromotionChannel = model.ChannelDev
			after.Promotions = append(append([]model.Promotion(nil), cur.Promotions...), model.Promotion{Channel: model.ChannelDev, PromotedBy: "alice", PromotedAt: clock, CorrelationID: "bench"})
			return after
		}},
		{"reverify", func(cur *model.Artifact) *model.Artifact { return event(cur, model.ActionVerify, cur.TrustState) }},
		{"flip", func(cur *model.Artifact) *model.Artifact {
			to := model.TrustUnverified
			if cur.TrustState != model.TrustVerified {
				to = model.TrustVerified
			}
			return event(cur, model.ActionVerify, to)
		}},
		{"revoke", func(cur *model.Artifact) *model.Artifact { return event(cur, model.ActionRevoke, model.TrustRevoked) }},
	}
	k := 0
	for _, op := range ops {
		b.Run(op.name, func(b *testing.B) {
			var lat []time.Duration
			total := map[string]int{}
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				var cur *model.Artifact
				for cur == nil || cur.TrustState == model.TrustRevoked {
					k++
					if cur, err = s.GetArtifact(ctx, ids[(k*7919)%n]); err != nil {
						b.Fatal(err)
					}
				}
				after := op.next(cur)
				b.StartTimer()
				start := time.Now()
				var werr error
				for cmd, c := range counter.during(func() { werr = s.UpdateArtifact(ctx, cur, after) }) {
					total[cmd] += c
				}
				lat = append(lat, time.Since(start))
				if werr != nil {
					b.Fatal(werr)
				}
			}
			sum := 0
			for cmd, c := range total {
				sum += c
				b.ReportMetric(float64(c)/float64(b.N), strings.ReplaceAll(cmd, " ", "-")+"/op")
			}
			b.ReportMetric(float64(sum)/float64(b.N), "cmds/op")
			reportLatencies(b, "", lat)
		})
	}
}
