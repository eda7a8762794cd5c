package store

import (
	"context"
	"sync/atomic"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

// TestASharedEngineOwnerDoesNotOverwriteAnotherReplicasProjectionWrite: a store
// that shares its embedded engine (SharedEngine, the replicas tests) is not the
// only writer of its documents, yet it writes projections by _id alone. Replica B
// appends an artifact to the list head between A's read of that head and A's
// write of it; A's write must not drop B's entry.
func TestASharedEngineOwnerDoesNotOverwriteAnotherReplicasProjectionWrite(t *testing.T) {
	ctx := context.Background()
	var b *Store // the replica, set once opened: the monitor calls it
	var armed atomic.Bool
	h := newHistory(7)
	second := h.register("shared")
	monitor := afterFind(listHeadID("shared"), &armed, func() {
		// A has read the list head; replica B registers an artifact now.
		if err := b.InsertArtifact(ctx, second); err != nil {
			t.Error(err)
		}
	})
	a, b := openSharedPair(t, monitor)
	mustInsert(t, a, h.register("shared"))
	armed.Store(true)
	mustInsert(t, a, h.register("shared"))
	if armed.Load() {
		t.Fatal("A's read of the list head was not seen")
	}
	page, err := a.ListArtifacts(ctx, service.ArtifactQuery{Project: "shared", First: 10})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, it := range page.Items {
		ids = append(ids, it.ID)
	}
	n, _ := a.artifacts.CountDocuments(ctx, bson.D{{Key: "project", Value: "shared"}})
	if page.TotalCount != 3 || len(ids) != 3 {
		t.Fatalf("list after two replicas' registrations: total %d, items %v; %d artifacts stored", page.TotalCount, ids, n)
	}
}

// TestASharedEngineOwnerRefusesAStaleArtifactWrite: on a shared engine replica B
// writes an artifact while the owner's write of the same version is on its way to
// the engine. One of the two writes of version 1 -> 2 must be refused; both
// succeeding loses a change. (The owner wrote by _id alone, after reading the
// version: B's write between the two was overwritten.)
func TestASharedEngineOwnerRefusesAStaleArtifactWrite(t *testing.T) {
	ctx := context.Background()
	var b *Store // the replica, set once opened: the monitor calls it
	var armed atomic.Bool
	h := newHistory(9)
	orig := h.register("shared")
	fromB := h.change(orig)
	fromA := h.change(orig)
	var errB error
	monitor := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		coll, _ := e.Command.Lookup(e.CommandName).StringValueOK()
		if e.CommandName != "update" || coll != artifactsCollection || !armed.CompareAndSwap(true, false) {
			return
		}
		// A's write of the artifact is about to reach the engine; replica B writes
		// the artifact first.
		errB = b.UpdateArtifact(ctx, orig, fromB)
	}}
	a, b := openSharedPair(t, monitor)
	mustInsert(t, a, orig)
	armed.Store(true)
	errA := a.UpdateArtifact(ctx, orig, fromA)
	if armed.Load() {
		t.Fatal("A's write of the artifact was not seen")
	}
	if errB != nil {
		t.Fatalf("B's write: %v", errB)
	}
	if !model.IsKind(errA, model.KindConflict) {
		got, _ := a.GetArtifact(ctx, orig.ID)
		t.Fatalf("the owner's write over B's: %v; the artifact holds %d audit events (A's %d, B's %d)", errA, len(got.Audit), len(fromA.Audit), len(fromB.Audit))
	}
}

// afterFind is a command monitor that calls f once, when armed, right after a
// find returned document id (the store under test has read it, and has not
// written it back yet).
func afterFind(id string, armed *atomic.Bool, f func()) *event.CommandMonitor {
	return &event.CommandMonitor{Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
		if e.CommandName != "find" {
			return
		}
		batch, ok := e.Reply.Lookup("cursor", "firstBatch").ArrayOK()
		if !ok {
			return
		}
		vals, _ := batch.Values()
		if len(vals) == 0 {
			return
		}
		doc, ok := vals[0].DocumentOK()
		if !ok || doc.Lookup("_id").StringValue() != id || !armed.CompareAndSwap(true, false) {
			return
		}
		f()
	}}
}

// openSharedPair opens the owner of a shared embedded engine (its commands seen by
// monitor) and a replica on that engine.
func openSharedPair(t *testing.T, monitor *event.CommandMonitor) (owner, replica *Store) {
	t.Helper()
	ctx := context.Background()
	owner, err := Open(ctx, Config{DataDir: t.TempDir(), SharedEngine: true, monitor: monitor}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = owner.Close(context.Background()) })
	replica, err = Open(ctx, Config{MongoURI: owner.EngineURI()}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = replica.Close(context.Background()) })
	return owner, replica
}

// TestASharedEngineOwnerDoesNotOverwriteAnotherReplicasTrailBucketWrite: a policy's
// change trail fills its bucket a slot per policy write, so every write rewrites
// that bucket. The owner of a shared engine reads bucket 0 to move change 4 (the
// one version 5 holds) there; before it writes the bucket back, replica B stores
// versions 6 and 7, putting changes 4 and 5 there. The owner's write of what it
// read plus change 4 must not drop change 5 (it did when the owner wrote by _id
// alone): the trail then misses a slot, and reading it, or any later policy
// write, fails.
func TestASharedEngineOwnerDoesNotOverwriteAnotherReplicasTrailBucketWrite(t *testing.T) {
	ctx := context.Background()
	const project = "shared"
	var b *Store // the replica, set once opened: the monitor calls it
	var armed atomic.Bool
	bucket := trailOf[policyChangeDoc](nil, policyTrail, project).BucketID(0)
	var errB error
	monitor := afterFind(bucket, &armed, func() {
		// The owner has read the bucket to move change 4 (writing version 6);
		// replica B stores versions 6 and 7 first.
		for v := 6; v <= 7 && errB == nil; v++ {
			p, ch := policyVersion(t, project, v)
			errB = b.PutPolicy(ctx, &p, ch)
		}
	})
	a, b := openSharedPair(t, monitor)
	putPolicies(t, a, project, 5) // changes 0-3 in bucket 0, change 4 inline
	armed.Store(true)
	p, ch := policyVersion(t, project, 6)
	errA := a.PutPolicy(ctx, &p, ch)
	if armed.Load() {
		t.Fatal("the owner's read of the trail bucket was not seen")
	}
	if errB != nil {
		t.Fatalf("B's policy writes: %v", errB)
	}
	if !model.IsKind(errA, model.KindConflict) {
		t.Fatalf("the owner's write of version 6 after B's: %v, want a conflict", errA)
	}
	changes, err := a.PolicyChanges(ctx, project)
	if err != nil {
		t.Fatalf("the change trail after both replicas wrote: %v", err)
	}
	if len(changes) != 7 {
		t.Fatalf("the change trail holds %d changes, want 7", len(changes))
	}
	for i, c := range changes { // newest first
		if c.ToVersion != len(changes)-i {
			t.Fatalf("change %d is to version %d, want %d", i, c.ToVersion, len(changes)-i)
		}
	}
	p, ch = policyVersion(t, project, 8)
	if err := a.PutPolicy(ctx, &p, ch); err != nil {
		t.Fatalf("the next policy write: %v", err)
	}
}
