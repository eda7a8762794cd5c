package store

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

// Benchmarks of the embedded engine at several collection sizes, spread over
// benchProjects projects, with realistic artifacts (8 audit events, 4 promotions,
// 2 verification records). Run with
//
//	go test ./store/ -run '^$' -bench 'Embedded/(Raw(Find|Get)|Get|List|Audit|Deploy|Channel)' -benchtime 100x
//	go test ./store/ -run '^$' -bench 'Embedded/(RawUpdate|Update|RawInsert|Insert)' -benchtime 2560x
//	BENCH_SIZES=1000,10000,50000 ... -timeout 60m   (seeding 50,000 takes ~50 s)
//
// Run the mutations for 2560 iterations (128 per project): a write's cost depends on
// how full its project's open buckets are, and that many cover whole fill cycles,
// seals included, so the result is the amortized cost. Every hot path should cost
// the same at every size. They are measurements, never assertions.

const benchProjects = 20

func benchSizes() []int {
	env := os.Getenv("BENCH_SIZES")
	if env == "" {
		return []int{1000, 10000}
	}
	var out []int
	for _, f := range strings.Split(env, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

func benchProject(i int) string { return fmt.Sprintf("proj-%02d", i%benchProjects) }

// benchArtifact is artifact i of a seeded data set: registered, verified, promoted
// into DEV, TEST (eu), STAGING (eu) and PROD, verified again; one in ten deprecated
// and one in twenty revoked afterwards (replacing the last verification), so the
// newest promotion is not always deployable.
func benchArtifact(i int, created time.Time) *model.Artifact {
	a := newArtifact(benchProject(i), fmt.Sprintf("svc-%06d", i), created)
	at := func(k int) time.Time { return created.Add(time.Duration(k) * time.Second) }
	verify := func(k int, to model.TrustState) {
		a.Verification = model.MergeVerification(a.Verification, []model.VerificationRecord{
			{Check: model.CheckSignature, Result: model.ResultPassed, RecordedBy: "verifier", RecordedAt: at(k)},
			{Check: model.CheckAttestation, Result: model.ResultPassed, RecordedBy: "verifier", RecordedAt: at(k)},
		})
		ev := a.Event(model.ActionVerify, alice, fmt.Sprintf("c-%d-%d", i, k), "", at(k))
		ev.FromState, ev.ToState, ev.Verification = string(a.TrustState), string(to), a.Verification
		a.TrustState = to
		a.Audit = append(a.Audit, ev)
	}
	promote := func(k int, c model.Channel, env string) {
		a.Promotions = append(a.Promotions, model.Promotion{Channel: c, TargetEnvironment: env, PromotedBy: "alice", PromotedAt: at(k), CorrelationID: fmt.Sprintf("c-%d-%d", i, k)})
		ev := a.Event(model.ActionPromote, alice, fmt.Sprintf("c-%d-%d", i, k), "", at(k))
		ev.PromotionChannel, ev.PromotionEnvironment = c, env
		if a.LifecycleState == model.LifecyclePublished {
			ev.FromState, ev.ToState = string(model.LifecyclePublished), string(model.LifecyclePromoted)
			a.LifecycleState = model.LifecyclePromoted
		}
		a.Audit = append(a.Audit, ev)
	}
	verify(1, model.TrustVerified)
	promote(2, model.ChannelDev, "")
	promote(3, model.ChannelTest, "eu")
	promote(4, model.ChannelStaging, "eu")
	promote(5, model.ChannelProd, "")
	verify(6, model.TrustVerified)
	switch k := i / benchProjects; { // the artifact's rank in its project
	case k%20 == 7:
		ev := a.Event(model.ActionRevoke, alice, "r", "drill", at(7))
		ev.FromState, ev.ToState = string(a.TrustState), string(model.TrustRevoked)
		a.TrustState = model.TrustRevoked
		a.Audit = append(a.Audit, ev)
	case k%10 == 3:
		ev := a.Event(model.ActionDeprecate, alice, "d", "old", at(7))
		ev.FromState, ev.ToState = string(a.LifecycleState), string(model.LifecycleDeprecated)
		a.LifecycleState = model.LifecycleDeprecated
		a.Audit = append(a.Audit, ev)
	default:
		verify(7, model.TrustVerified)
	}
	a.Version = len(a.Audit)
	a.UpdatedAt = at(7)
	return a
}

// seedBenchStore stores n artifacts with InsertArtifactsBulk and returns their ids.
func seedBenchStore(b *testing.B, s *Store, n int) []string {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	ids := make([]string, 0, n)
	const chunk = 2000
	arts := make([]*model.Artifact, 0, chunk)
	for i := 0; i < n; i++ {
		a := benchArtifact(i, t0.Add(time.Duration(i)*10*time.Second))
		arts = append(arts, a)
		ids = append(ids, a.ID)
		if len(arts) == chunk || i == n-1 {
			if err := s.InsertArtifactsBulk(ctx, arts); err != nil {
				b.Fatal(err)
			}
			arts = arts[:0]
		}
	}
	b.Logf("seeded %d artifacts in %d projects in %v", n, benchProjects, time.Since(start).Round(time.Millisecond))
	return ids
}

func BenchmarkEmbedded(b *testing.B) {
	for _, n := range benchSizes() {
		counter := &commandCounter{}
		s, err := Open(context.Background(), Config{DataDir: b.TempDir(), monitor: counter.monitor()}, testLog(b))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close(context.Background()) })
		ids := seedBenchStore(b, s, n)
		ctx := context.Background()
		policy := model.DefaultPolicy("x")
		pick := func(i int) string { return ids[(i*7919)%n] }
		next := n
		// Each benchmark also reports the engine commands it sent per op: the
		// writes (insert, update, delete) and the finds, the breakdown in its log.
		run := func(name string, f func(b *testing.B)) {
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				b.ReportAllocs()
				sent := counter.during(func() { f(b) })
				writes, finds := 0, 0
				for cmd, k := range sent {
					switch {
					case strings.HasPrefix(cmd, "find "):
						finds += k
					case strings.HasPrefix(cmd, "insert "), strings.HasPrefix(cmd, "update "), strings.HasPrefix(cmd, "delete "):
						writes += k
					}
				}
				b.ReportMetric(float64(writes)/float64(b.N), "writes/op")
				b.ReportMetric(float64(finds)/float64(b.N), "finds/op")
				b.Logf("commands sent over %d ops: %v", b.N, sent)
			})
		}

		run("RawFindOneByID", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				var raw bson.Raw
				if err := s.artifacts.FindOne(ctx, bson.D{{Key: "_id", Value: pick(i)}}).Decode(&raw); err != nil {
					b.Fatal(err)
				}
			}
		})
		run("GetArtifact", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if _, err := s.GetArtifact(ctx, pick(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
		run("ListArtifacts20", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				p, err := s.ListArtifacts(ctx, service.ArtifactQuery{Project: benchProject(i), First: 20})
				if err != nil || len(p.Items) != 20 {
					b.Fatal(len(p.Items), err)
				}
			}
		})
		run("ListArtifacts20Trust", func(b *testing.B) { // single filter: totals from the counts
			for i := 0; b.Loop(); i++ {
				p, err := s.ListArtifacts(ctx, service.ArtifactQuery{Project: benchProject(i), First: 20, Filter: service.ArtifactFilter{TrustState: model.TrustVerified}})
				if err != nil || len(p.Items) != 20 {
					b.Fatal(len(p.Items), err)
				}
			}
		})
		run("ListArtifacts20TrustSummary", func(b *testing.B) { // the same page, summary fields only
			for i := 0; b.Loop(); i++ {
				p, err := s.ListArtifacts(ctx, service.ArtifactQuery{Project: benchProject(i), First: 20, Filter: service.ArtifactFilter{TrustState: model.TrustVerified}, Summary: true})
				if err != nil || len(p.Items) != 20 {
					b.Fatal(len(p.Items), err)
				}
			}
		})
		run("ListArtifacts20TrustTag", func(b *testing.B) { // combined filter: totals scan the project's buckets
			for i := 0; b.Loop(); i++ {
				if _, err := s.ListArtifacts(ctx, service.ArtifactQuery{Project: benchProject(i), First: 20, Filter: service.ArtifactFilter{TrustState: model.TrustVerified, Tag: "v-svc-000001"}}); err != nil {
					b.Fatal(err)
				}
			}
		})
		run("ListArtifacts10Page3", func(b *testing.B) { // three pages of 10 through the cursor
			for i := 0; b.Loop(); i++ {
				q := service.ArtifactQuery{Project: benchProject(i), First: 10}
				for k := 0; k < 3; k++ {
					p, err := s.ListArtifacts(ctx, q)
					if err != nil || len(p.Items) != 10 {
						b.Fatal(len(p.Items), err)
					}
					last := p.Items[9]
					q.After = &model.Cursor{At: last.CreatedAt, ID: last.ID}
				}
			}
		})
		run("AuditEvents50", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				p, err := s.AuditEvents(ctx, service.AuditQuery{Project: benchProject(i), First: 50})
				if err != nil || len(p.Items) != 50 {
					b.Fatal(len(p.Items), err)
				}
			}
		})
		run("Deployable", func(b *testing.B) { // service.Deployable's store use
			envs := []struct {
				c   model.Channel
				env string
			}{{model.ChannelDev, ""}, {model.ChannelStaging, "eu"}}
			for i := 0; b.Loop(); i++ {
				ce := envs[i%2]
				found := false
				for a, err := range s.DeployCandidates(ctx, benchProject(i), ce.c, ce.env, &policy) {
					if err != nil {
						b.Fatal(err)
					}
					if _, ok := model.PickDeployable([]*model.Artifact{a}, &policy, ce.c, ce.env); ok {
						found = true
						break
					}
				}
				if !found {
					b.Fatal("nothing deployable")
				}
			}
		})
		run("ChannelStatus", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				arts, err := s.ChannelStatusArtifacts(ctx, benchProject(i))
				if err != nil || len(model.ChannelStatus(arts)) != 4 {
					b.Fatal(len(arts), err)
				}
			}
		})
		// Mutations. Each promotes into DEV (one more promotion and audit event).
		promoted := func(a *model.Artifact, at time.Time) *model.Artifact {
			next := *a
			next.Promotions = append(append([]model.Promotion(nil), a.Promotions...), model.Promotion{Channel: model.ChannelDev, PromotedBy: "alice", PromotedAt: at, CorrelationID: "bench"})
			ev := a.Event(model.ActionPromote, alice, "bench", "", at)
			ev.PromotionChannel = model.ChannelDev
			next.Audit = append(append([]model.AuditEvent(nil), a.Audit...), ev)
			next.UpdatedAt = at
			return &next
		}
		clock := t0.Add(time.Duration(n+1000) * 10 * time.Second)
		run("RawUpdateOneByID", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				clock = clock.Add(time.Millisecond)
				pr := toPromotionDoc(model.Promotion{Channel: model.ChannelDev, PromotedBy: "alice", PromotedAt: clock, CorrelationID: "raw"})
				res, err := s.artifacts.UpdateOne(ctx, bson.D{{Key: "_id", Value: pick(i)}}, bson.D{
					{Key: "$set", Value: bson.D{{Key: "updatedAt", Value: clock}}},
					{Key: "$inc", Value: bson.D{{Key: "version", Value: 1}}},
					{Key: "$push", Value: bson.D{{Key: "promotions", Value: pr}}},
				})
				if err != nil || res.MatchedCount != 1 {
					b.Fatal(res, err)
				}
				s.artifactWritten(pick(i)) // written behind the store's back
			}
		})
		// The artifact write alone, as UpdateArtifact did before the projections
		// (version read + update by _id): the baseline of the added cost.
		run("UpdateArtifactWriteOnly", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				cur, err := s.GetArtifact(ctx, pick(i))
				if err != nil {
					b.Fatal(err)
				}
				clock = clock.Add(time.Millisecond)
				after := promoted(cur, clock)
				b.StartTimer()
				update := bson.D{
					{Key: "$set", Value: bson.D{{Key: "updatedAt", Value: ms(clock)}, {Key: "version", Value: int64(cur.Version + 1)}}},
					{Key: "$push", Value: bson.D{
						{Key: "audit", Value: bson.D{{Key: "$each", Value: mapSlice(after.Audit[len(cur.Audit):], toAuditDoc)}}},
						{Key: "promotions", Value: bson.D{{Key: "$each", Value: mapSlice(after.Promotions[len(cur.Promotions):], toPromotionDoc)}}},
					}},
				}
				if ok, err := s.conditionalUpdate(ctx, s.artifacts, cur.ID, int64(cur.Version), update); err != nil || !ok {
					b.Fatal(ok, err)
				}
				// Keep the projections in step for the next benchmarks.
				b.StopTimer()
				cur.Version++
				after.Version = cur.Version
				if err := s.applyProjections(ctx, after, len(cur.Audit), len(cur.Promotions)); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
		run("UpdateArtifactPromote", func(b *testing.B) { // outbox + write + projections
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				cur, err := s.GetArtifact(ctx, pick(i))
				if err != nil {
					b.Fatal(err)
				}
				clock = clock.Add(time.Millisecond)
				after := promoted(cur, clock)
				b.StartTimer()
				if err := s.UpdateArtifact(ctx, cur, after); err != nil {
					b.Fatal(err)
				}
			}
		})
		run("UpdateArtifactTrustFlip", func(b *testing.B) { // moves a list count: the head's counts are rewritten too
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				cur, err := s.GetArtifact(ctx, pick(i+7))
				if err != nil {
					b.Fatal(err)
				}
				clock = clock.Add(time.Millisecond)
				to := model.TrustUnverified
				if cur.TrustState != model.TrustVerified {
					to = model.TrustVerified
				}
				after := *cur
				ev := cur.Event(model.ActionVerify, alice, "bench", "", clock)
				ev.FromState, ev.ToState = string(cur.TrustState), string(to)
				after.TrustState, after.UpdatedAt = to, clock
				after.Audit = append(append([]model.AuditEvent(nil), cur.Audit...), ev)
				b.StartTimer()
				if err := s.UpdateArtifact(ctx, cur, &after); err != nil {
					b.Fatal(err)
				}
			}
		})
		run("UpdateArtifactReverify", func(b *testing.B) { // a nightly re-verification: an event, no state change
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				cur, err := s.GetArtifact(ctx, pick(i+13))
				if err != nil {
					b.Fatal(err)
				}
				clock = clock.Add(time.Millisecond)
				after := *cur
				ev := cur.Event(model.ActionVerify, alice, "bench", "", clock)
				ev.FromState, ev.ToState = string(cur.TrustState), string(cur.TrustState)
				after.UpdatedAt = clock
				after.Audit = append(append([]model.AuditEvent(nil), cur.Audit...), ev)
				b.StartTimer()
				if err := s.UpdateArtifact(ctx, cur, &after); err != nil {
					b.Fatal(err)
				}
			}
		})
		run("RawInsertOne", func(b *testing.B) { // the artifact insert alone
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				clock = clock.Add(time.Millisecond)
				a := newArtifact(benchProject(next), fmt.Sprintf("raw-%07d", next), clock)
				next++
				a.Version = 1
				doc := toArtifactDoc(a)
				b.StartTimer()
				if _, err := s.artifacts.InsertOne(ctx, doc); err != nil {
					b.Fatal(err)
				}
			}
		})
		run("InsertArtifact", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				clock = clock.Add(time.Millisecond)
				a := newArtifact(benchProject(next), fmt.Sprintf("new-%07d", next), clock)
				next++
				b.StartTimer()
				if err := s.InsertArtifact(ctx, a); err != nil {
					b.Fatal(err)
				}
			}
		})
		_ = s.Close(ctx)
	}
}
