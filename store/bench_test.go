package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

// Benchmarks of the embedded engine with realistic documents (4 promotions, 8 audit
// events), look-ups spread over the collection. Run with
//
//	go test ./store/ -run '^$' -bench . -benchtime 50x
//
// They are measurements, never assertions.

var benchSizes = []int{500, 5000}

// seedBench stores n realistic artifacts in "bench" and returns their ids.
func seedBench(b *testing.B, s *Store, n int) []string {
	b.Helper()
	ctx := context.Background()
	policy := model.DefaultPolicy("bench")
	promoter := model.Actor{Subject: "alice", Type: model.ActorUser, Roles: map[string][]model.Role{"bench": {model.RolePromoter, model.RoleProjectAdmin}}}
	ids := make([]string, 0, n)
	docs := make([]any, 0, 500)
	flush := func() {
		if len(docs) == 0 {
			return
		}
		if _, err := s.artifacts.InsertMany(ctx, docs); err != nil {
			b.Fatal(err)
		}
		docs = docs[:0]
	}
	for i := 0; i < n; i++ {
		at := t0.Add(time.Duration(i) * time.Second)
		a := *newArtifact("bench", fmt.Sprintf("svc-%05d", i), at)
		for k := 0; k < 4; k++ {
			next, err := model.Promote(a, &policy, promoter, model.PromotionRequest{Channel: model.ChannelDev, TargetEnvironment: fmt.Sprintf("env-%d", k), Reason: "bench"}, "corr", at)
			if err != nil {
				b.Fatal(err)
			}
			a = next
		}
		for k := 0; len(a.Audit) < 8; k++ {
			next, err := model.Verify(a, &policy, nil, alice, "corr", "bench", at)
			if err != nil {
				b.Fatal(err)
			}
			a = next
		}
		docs = append(docs, toArtifactDoc(&a))
		ids = append(ids, a.ID)
		if len(docs) == cap(docs) {
			flush()
		}
	}
	flush()
	return ids
}

func BenchmarkEmbedded(b *testing.B) {
	for _, n := range benchSizes {
		s := openTest(b, b.TempDir())
		ids := seedBench(b, s, n)
		ctx := context.Background()
		b.Run(fmt.Sprintf("GetArtifact/%d", n), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if _, err := s.GetArtifact(ctx, ids[(i*7919)%n]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("UpdateArtifact/%d", n), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				id := ids[(i*7919)%n]
				cur, err := s.GetArtifact(ctx, id)
				if err != nil {
					b.Fatal(err)
				}
				next := *cur
				next.Audit = append(append([]model.AuditEvent(nil), cur.Audit...), cur.Event(model.ActionVerify, alice, "b", "", t0))
				if err := s.UpdateArtifact(ctx, cur, &next); err != nil {
					b.Fatal(err)
				}
			}
		})
		// The MongoDB shape of the conditional write, sent to FerretDB: {_id, version}
		// is not pushed down, so every document is read and decoded.
		b.Run(fmt.Sprintf("UpdateOneIDVersion/%d", n), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				id := ids[(i*7919)%n]
				res, err := s.artifacts.UpdateOne(ctx,
					bson.D{{Key: "_id", Value: id}, {Key: "version", Value: bson.D{{Key: "$gte", Value: 0}}}},
					bson.D{{Key: "$set", Value: bson.D{{Key: "updatedAt", Value: t0}}}})
				if err != nil || res.MatchedCount != 1 {
					b.Fatal(res, err)
				}
			}
		})
		b.Run(fmt.Sprintf("FindOneByDigest/%d", n), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				d := digestOf(fmt.Sprintf("bench/svc-%05d", (i*7919)%n))
				if err := s.artifacts.FindOne(ctx, bson.D{{Key: "project", Value: "bench"}, {Key: "digest", Value: d}}).Err(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("ListArtifacts20/%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := s.ListArtifacts(ctx, service.ArtifactQuery{Project: "bench", First: 20}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("AuditEvents20/%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := s.AuditEvents(ctx, service.AuditQuery{Project: "bench", First: 20}); err != nil {
					b.Fatal(err)
				}
			}
		})
		_ = s.Close(ctx)
	}
}
