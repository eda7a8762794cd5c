package store

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

// Benchmarks of an artifact's and a policy's age: the hot paths (read, verify,
// promote; promote and deployable under a long-lived policy) at a short and a long
// history, through the service on the embedded engine. Cost should not depend on
// the history. Run with
//
//	go test ./store/ -run '^$' -bench 'Age' -benchtime 64x
//
// (64 iterations cover whole spill cycles of the artifact trails, so the numbers
// are amortized). BENCH_AGE_EVENTS=10,1000,10000 and BENCH_AGE_CHANGES=1,1000 pick
// the history lengths. The docB metric is the stored size of the artifact (policy)
// document after the run.

func ageSizes(env string, def []int) []int {
	v := os.Getenv(env)
	if v == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

// ageActor holds every role in every project.
var ageActor = model.Actor{Subject: "nightly", Type: model.ActorServiceAccount, Roles: map[string][]model.Role{model.AllProjects: model.AllRoles}}

// agePolicy allowlists the test registry and requires nothing beyond the baseline.
func agePolicy(project string, strict bool) model.PolicyInput {
	return model.PolicyInput{
		AllowedSourceTypes: []model.SourceType{model.SourceOCIRegistry},
		AllowedSources:     []string{"registry.example.com/"},
		StrictProgression:  strict,
	}
}

// agedArtifact is what n events of the real write path leave in the model: a
// registration, a verification and verified attestation evidence, promotions into DEV, TEST (eu), STAGING (eu) and
// PROD (eu) and then nightly re-verifications (each carrying its check records),
// one per hour, up to n events in all.
func agedArtifact(tb testing.TB, project, name string, n int, p *model.Policy) *model.Artifact {
	tb.Helper()
	a := *newArtifact(project, name, t0)
	at := func(k int) time.Time { return ms(t0.Add(time.Duration(k) * time.Hour)) }
	admin := model.Actor{Subject: "alice", Type: model.ActorUser, Roles: map[string][]model.Role{project: {model.RoleProjectAdmin, model.RolePromoter}}}
	steps := []func(k int) (model.Artifact, error){
		// The baseline checks, then ATTESTATION from verified evidence (PROD counts
		// it only from there by default): two events.
		func(k int) (model.Artifact, error) {
			v, err := model.Verify(a, p, nil, ageActor, fmt.Sprintf("c-%d", k), "", at(k))
			if err != nil {
				return v, err
			}
			return model.ApplyEvidence(v, p, model.FormatDSSEInToto, fmt.Sprintf("%064x", k), "https://slsa.dev/provenance/v1",
				[]model.Judgement{{Check: model.CheckAttestation, Result: model.ResultPassed, Detail: "attested", KeyIDs: []string{"k"}}}, ageActor, fmt.Sprintf("c-%d", k), at(k))
		},
		func(k int) (model.Artifact, error) {
			return model.Promote(a, p, admin, model.PromotionRequest{Channel: model.ChannelDev}, fmt.Sprintf("c-%d", k), at(k))
		},
		func(k int) (model.Artifact, error) {
			return model.Promote(a, p, admin, model.PromotionRequest{Channel: model.ChannelTest, TargetEnvironment: "eu"}, fmt.Sprintf("c-%d", k), at(k))
		},
		func(k int) (model.Artifact, error) {
			return model.Promote(a, p, admin, model.PromotionRequest{Channel: model.ChannelStaging, TargetEnvironment: "eu"}, fmt.Sprintf("c-%d", k), at(k))
		},
		func(k int) (model.Artifact, error) {
			return model.Promote(a, p, admin, model.PromotionRequest{Channel: model.ChannelProd, TargetEnvironment: "eu"}, fmt.Sprintf("c-%d", k), at(k))
		},
	}
	// The rules append to a copy of the trail; keep only the newest event in a
	// while they run (they never read the trail) and collect the events aside.
	events := slices.Clone(a.Audit)
	a.Audit = nil
	for k := 1; len(events) < n; k++ {
		var err error
		if k <= len(steps) {
			a, err = steps[k-1](k)
		} else {
			a, err = model.Verify(a, p, []model.VerificationRecord{{Check: model.CheckSignature, Result: model.ResultPassed, Detail: "cosign signature verified"}}, ageActor, fmt.Sprintf("nightly-%d", k), "nightly re-verification", at(k))
		}
		if err != nil {
			tb.Fatalf("event %d: %v", k, err)
		}
		events = append(events, a.Audit...)
		a.Audit = nil
	}
	a.Audit = events
	a.Version = n
	return &a
}

func docSize(tb testing.TB, s *Store, coll, id string) int {
	tb.Helper()
	var raw bson.Raw
	if err := s.db.Collection(coll).FindOne(context.Background(), bson.D{{Key: "_id", Value: id}}).Decode(&raw); err != nil {
		tb.Fatal(err)
	}
	return len(raw)
}

func BenchmarkArtifactAge(b *testing.B) {
	ctx := context.Background()
	rq := service.Request{Actor: ageActor, CorrelationID: "bench"}
	for _, n := range ageSizes("BENCH_AGE_EVENTS", []int{10, 10000}) {
		s := openTest(b, b.TempDir())
		svc := service.New(s)
		const project = "aged"
		p, err := svc.SetPolicy(ctx, rq, project, agePolicy(project, true))
		if err != nil {
			b.Fatal(err)
		}
		a := agedArtifact(b, project, "svc", n, p)
		start := time.Now()
		if err := s.InsertArtifactsBulk(ctx, []*model.Artifact{a}); err != nil {
			b.Fatal(err)
		}
		b.Logf("seeded an artifact with %d events in %v", n, time.Since(start).Round(time.Millisecond))
		run := func(name string, f func() error) {
			b.Run(fmt.Sprintf("%s/events=%d", name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := f(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(docSize(b, s, artifactsCollection, a.ID)), "docB")
			})
		}
		run("Read", func() error {
			got, err := svc.Artifact(ctx, rq, a.ID)
			if err == nil && got.TrustState != model.TrustVerified {
				err = fmt.Errorf("trust %s", got.TrustState)
			}
			return err
		})
		run("Verify", func() error {
			_, err := svc.Verify(ctx, rq, a.ID, []model.VerificationRecord{{Check: model.CheckSignature, Result: model.ResultPassed, Detail: "cosign signature verified"}}, "nightly re-verification")
			return err
		})
		run("Promote", func() error {
			_, err := svc.Promote(ctx, rq, a.ID, model.PromotionRequest{Channel: model.ChannelProd, TargetEnvironment: "eu"})
			return err
		})
		_ = s.Close(ctx)
	}
}

func BenchmarkPolicyAge(b *testing.B) {
	ctx := context.Background()
	rq := service.Request{Actor: ageActor, CorrelationID: "bench"}
	for _, n := range ageSizes("BENCH_AGE_CHANGES", []int{1, 1000}) {
		s := openTest(b, b.TempDir())
		svc := service.New(s)
		const project = "governed"
		start := time.Now()
		var p *model.Policy
		for i := 0; i < n; i++ {
			var err error
			if p, err = svc.SetPolicy(ctx, rq, project, agePolicy(project, i%2 == 0)); err != nil {
				b.Fatal(err)
			}
		}
		b.Logf("applied the policy %d times in %v", n, time.Since(start).Round(time.Millisecond))
		a := agedArtifact(b, project, "svc", 10, p)
		if err := s.InsertArtifactsBulk(ctx, []*model.Artifact{a}); err != nil {
			b.Fatal(err)
		}
		run := func(name string, f func() error) {
			b.Run(fmt.Sprintf("%s/changes=%d", name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := f(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(docSize(b, s, policiesCollection, project)), "docB")
			})
		}
		run("Promote", func() error {
			_, err := svc.Promote(ctx, rq, a.ID, model.PromotionRequest{Channel: model.ChannelDev})
			return err
		})
		run("Deployable", func() error {
			_, ok, err := svc.Deployable(ctx, rq, project, model.ChannelDev, "")
			if err == nil && !ok {
				err = fmt.Errorf("nothing deployable")
			}
			return err
		})
		_ = s.Close(ctx)
	}
}
