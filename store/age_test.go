package store

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

// maxArtifactDocBytes bounds the stored artifact document of the artifacts these
// tests build, whatever their age: about 16 events with their check records, 24
// promotions and the per-target newest promotions.
const maxArtifactDocBytes = 32 << 10

// rawDoc reads a stored document as it is.
func rawDoc(t testing.TB, s *Store, coll, id string) bson.Raw {
	t.Helper()
	var raw bson.Raw
	if err := s.db.Collection(coll).FindOne(context.Background(), bson.D{{Key: "_id", Value: id}}).Decode(&raw); err != nil {
		t.Fatalf("%s %s: %v", coll, id, err)
	}
	return raw
}

// steppingClock returns a clock that moves one hour on every call, from start.
func steppingClock(start time.Time) func() time.Time {
	var n atomic.Int64
	return func() time.Time { return start.Add(time.Duration(n.Add(1)) * time.Hour) }
}

// What a read, a verification or a promotion of an artifact loads is its document:
// its size does not grow with the artifact's age, nor does the policy's with the
// number of times it was set.
func TestStoredDocumentsDoNotGrowWithAge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	svc := service.New(s, service.WithClock(steppingClock(t0.Add(5000*time.Hour))))
	rq := service.Request{Actor: ageActor, CorrelationID: "test"}
	const project = "aged"
	var p *model.Policy
	for i := 0; i < 50; i++ {
		var err error
		if p, err = svc.SetPolicy(ctx, rq, project, agePolicy(project, true)); err != nil {
			t.Fatal(err)
		}
	}
	young, old := agedArtifact(t, project, "young", 10, p), agedArtifact(t, project, "old", 2000, p)
	if err := s.InsertArtifactsBulk(ctx, []*model.Artifact{young, old}); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 20; k++ {
		if _, err := svc.Verify(ctx, rq, old.ID, nil, "nightly"); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Promote(ctx, rq, old.ID, model.PromotionRequest{Channel: model.ChannelProd, TargetEnvironment: "eu"}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := svc.Artifact(ctx, rq, old.ID)
	if err != nil || got.TrustState != model.TrustVerified {
		t.Fatalf("read: %v %+v", err, got)
	}
	youngSize, oldSize := len(rawDoc(t, s, artifactsCollection, young.ID)), len(rawDoc(t, s, artifactsCollection, old.ID))
	if oldSize > maxArtifactDocBytes {
		t.Errorf("an artifact with 2,040 events and 24 promotions is stored in %d bytes (one with 10 events: %d); bound %d", oldSize, youngSize, maxArtifactDocBytes)
	}
	if size := len(rawDoc(t, s, policiesCollection, project)); size > 2<<10 {
		t.Errorf("a policy set 50 times is stored in %d bytes", size)
	}
}
