package store

import (
	"context"
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

func cacheTestDoc(t *testing.T, id string, version int, pad int) bson.Raw {
	t.Helper()
	raw, err := bson.Marshal(bson.D{{Key: "_id", Value: id}, {Key: "version", Value: version}, {Key: "pad", Value: make([]byte, pad)}})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// A document read while a write of it was in flight may be the one from before
// the write: the cache refuses it, and serves what the writer stored instead.
func TestDocCacheRefusesAReadThatRacedAWrite(t *testing.T) {
	c := newDocCache(1 << 20)
	k := cacheKey{"artifacts", "a1"}
	gen := c.gen(k) // a reader misses and reads the counter...
	c.written(k)    // ...a write lands...
	old := cacheTestDoc(t, "a1", 1, 0)
	c.fill(k, old, gen) // ...and the reader offers what it read before the write
	if _, ok := c.get(k); ok {
		t.Fatal("a document read across a write was served")
	}
	c.fill(k, cacheTestDoc(t, "a1", 2, 0), c.gen(k))
	if raw, ok := c.get(k); !ok || raw.Lookup("version").Int32() != 2 {
		t.Fatal("a document read after the last write was not served")
	}
	c.written(k)
	if _, ok := c.get(k); ok {
		t.Fatal("a document was served after a write of it")
	}
	c.store(k, cacheTestDoc(t, "a1", 3, 0))
	if raw, ok := c.get(k); !ok || raw.Lookup("version").Int32() != 3 {
		t.Fatal("the document a writer stored was not served")
	}
}

// The cache never holds more than its bound, evicting the least recently used,
// and never keeps a document of more than a quarter of it.
func TestDocCacheIsBoundedByBytes(t *testing.T) {
	const maxBytes = 64 << 10
	c := newDocCache(maxBytes)
	for i := 0; i < 1000; i++ {
		k := cacheKey{"projections", fmt.Sprint("p", i)}
		c.fill(k, cacheTestDoc(t, k.id, 1, 1000), c.gen(k))
		if _, _, b := c.stats(); b > maxBytes {
			t.Fatalf("after %d documents the cache holds %d bytes, more than %d", i+1, b, maxBytes)
		}
	}
	if _, ok := c.get(cacheKey{"projections", "p999"}); !ok {
		t.Fatal("the newest document was evicted")
	}
	if _, ok := c.get(cacheKey{"projections", "p0"}); ok {
		t.Fatal("the oldest document was kept past the bound")
	}
	big := cacheKey{"artifacts", "big"}
	c.fill(big, cacheTestDoc(t, "big", 1, maxBytes/4+1), c.gen(big))
	if _, ok := c.get(big); ok {
		t.Fatal("a document of more than a quarter of the bound was kept")
	}
}

// On the embedded engine a document read or written by the store and not written
// since is not read from the engine again: a second read of an artifact, the
// conditional write after a read (no second read of the version) and a second list
// page send no find; and a read after a write sees the write.
func TestEmbeddedStoreReadsUnchangedDocumentsFromMemory(t *testing.T) {
	t.Parallel()
	counter := &commandCounter{}
	s, err := Open(context.Background(), Config{DataDir: t.TempDir(), monitor: counter.monitor()}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	ctx := context.Background()
	h := newHistory(11)
	a := h.register("cache")
	mustInsert(t, s, a)
	s.mustGet(t, a.ID)
	n := counter.during(func() { s.mustGet(t, a.ID) })
	if n["find artifacts"] != 0 {
		t.Fatalf("a second read of an unchanged artifact sent %v", n)
	}
	before := s.mustGet(t, a.ID)
	next := h.change(before)
	n = counter.during(func() {
		if err := s.UpdateArtifact(ctx, before, next); err != nil {
			t.Fatal(err)
		}
	})
	if n["find artifacts"] != 0 || n["update artifacts"] != 1 {
		t.Fatalf("the write of an artifact read since its last write sent %v, want one update and no find", n)
	}
	got := s.mustGet(t, a.ID)
	if got.Version != before.Version+1 || len(got.Audit) != len(next.Audit) {
		t.Fatalf("read after the write: version %d with %d events, want %d with %d", got.Version, len(got.Audit), before.Version+1, len(next.Audit))
	}
	q := service.ArtifactQuery{Project: "cache", First: 10}
	first, err := s.ListArtifacts(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	var second service.ArtifactPage
	n = counter.during(func() {
		if second, err = s.ListArtifacts(ctx, q); err != nil {
			t.Fatal(err)
		}
	})
	if n["find projections"] != 0 || n["find artifacts"] != 0 {
		t.Fatalf("a second list page over unchanged documents sent %v", n)
	}
	if len(second.Items) != 1 || len(first.Items) != 1 || second.Items[0].Version != got.Version || second.Items[0].TrustState != got.TrustState {
		t.Fatalf("list pages %+v and %+v, want the artifact at version %d", first.Items, second.Items, got.Version)
	}
	if !model.IsKind(func() error { _, err := s.GetArtifact(ctx, "missing"); return err }(), model.KindNotFound) {
		t.Fatal("a missing artifact is not NOT_FOUND")
	}
}

// A store that shares its embedded engine with other processes is not its only
// writer: it keeps no document cache, reads every document from the engine, and
// only then shows the engine's address.
func TestSharedEmbeddedEngineKeepsNoCacheAndShowsItsAddress(t *testing.T) {
	t.Parallel()
	counter := &commandCounter{}
	s, err := Open(context.Background(), Config{DataDir: t.TempDir(), SharedEngine: true, monitor: counter.monitor()}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	if s.Exclusive() || s.EngineURI() == "" {
		t.Fatalf("shared engine: exclusive %v, address %q", s.Exclusive(), s.EngineURI())
	}
	h := newHistory(12)
	a := h.register("shared")
	mustInsert(t, s, a)
	s.mustGet(t, a.ID)
	if n := counter.during(func() { s.mustGet(t, a.ID) }); n["find artifacts"] != 1 {
		t.Fatalf("a read on a shared engine sent %v, want one find", n)
	}
	own := openTest(t, t.TempDir())
	if !own.Exclusive() || own.EngineURI() != "" {
		t.Fatalf("unshared engine: exclusive %v, address %q", own.Exclusive(), own.EngineURI())
	}
}

// A read-only reader of a log's head (list pages, audit pages, deployable) gets the
// decoded head the cache keeps until the head is written: the same value again,
// then, after a write, the new head decoded once.
func TestReadersOfAnUnchangedHeadShareOneDecodedValueUntilItIsWritten(t *testing.T) {
	t.Parallel()
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	h := newHistory(12)
	mustInsert(t, s, h.register("views"))
	lg := s.listLog("views")
	first, ver, err := lg.Head(ctx)
	if err != nil || ver == 0 || len(first.Entries) != 1 {
		t.Fatalf("head: %v %d %+v", err, ver, first)
	}
	again, ver2, err := lg.Head(ctx)
	if err != nil || again != first || ver2 != ver {
		t.Fatalf("a second read of the unchanged head decoded it again (%p, %p, version %d then %d, %v)", first, again, ver, ver2, err)
	}
	mustInsert(t, s, h.register("views"))
	after, ver3, err := lg.Head(ctx)
	if err != nil || after == first || ver3 <= ver || len(after.Entries) != 2 || len(first.Entries) != 1 {
		t.Fatalf("after a write: %d entries at version %d (%v); the old value now holds %d", len(after.Entries), ver3, err, len(first.Entries))
	}
}
