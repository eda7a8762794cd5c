package bucketlog

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// replica is a second process over the same documents: its own locks (the
// version predicate alone serializes it with the others), and hooks around its
// writes.
type replica struct {
	m *memory
	lockSet
	beforeGet func(id string)
	beforeLk  func(id string)
	beforePut func(id string, ver int64)
}

func newReplica(m *memory) *replica { return &replica{m: m} }

func (r *replica) Lock(_ context.Context, id string) (func(), error) {
	if r.beforeLk != nil {
		r.beforeLk(id)
	}
	return r.lockSet.lock(id), nil
}

func (r *replica) Get(ctx context.Context, id string, into any) (int64, error) {
	if r.beforeGet != nil {
		r.beforeGet(id)
	}
	return r.m.Get(ctx, id, into)
}

func (r *replica) Put(ctx context.Context, id string, payload any, ver int64) (bool, error) {
	if r.beforePut != nil {
		r.beforePut(id, ver)
	}
	return r.m.Put(ctx, id, payload, ver)
}

func (r *replica) Delete(ctx context.Context, id string) error { return r.m.Delete(ctx, id) }

// entries reads the log as stored (sealed buckets below Open(), then the
// head), without checking the records.
func entries(t *testing.T, l Log[ent, tags]) []ent {
	t.Helper()
	ctx := context.Background()
	h, _, err := l.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []ent
	for n := range h.Open() {
		es, err := l.Bucket(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, es...)
	}
	return append(out, h.Entries...)
}

// TestTwoReplicasSealingTheSameBucketLoseNoEntry: replicas A and B both read a
// head one entry short of a full bucket and append a and b. A inserts bucket 0
// and writes the head; B, which read the head before A's head write, finds the
// bucket there and merges its chunk into it, then loses the head's version race
// and retries. a must still be in the log, and b exactly once (B used to seal its
// own appended b into slot 1, over a).
func TestTwoReplicasSealingTheSameBucketLoseNoEntry(t *testing.T) {
	m := newMemory()
	spec := testSpec(2)
	base := Log[ent, tags]{Spec: spec, St: m, ID: "log"}
	ctx := context.Background()
	e0 := ent{At: 0, ID: "e0", V: 1, Tag: "x"}
	if err := base.Upsert(ctx, []ent{e0}, setNewer); err != nil {
		t.Fatal(err)
	}
	ra, rb := newReplica(m), newReplica(m)
	la := Log[ent, tags]{Spec: spec, St: ra, ID: "log"}
	lb := Log[ent, tags]{Spec: spec, St: rb, ID: "log"}
	a := ent{At: 5, ID: "a", V: 1, Tag: "x"}
	b := ent{At: 3, ID: "b", V: 1, Tag: "y"}

	bAtHead, aDone, bDone := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	var aOnce, bOnce sync.Once
	rb.beforePut = func(id string, ver int64) {
		if id == "log" {
			bOnce.Do(func() { close(bAtHead); <-aDone })
		}
	}
	ra.beforePut = func(id string, ver int64) {
		if id == "log" {
			aOnce.Do(func() {
				go func() { bDone <- lb.Upsert(ctx, []ent{b}, setNewer) }()
				<-bAtHead // B read the old head and merged its chunk into bucket 0
			})
		}
	}
	if err := la.Upsert(ctx, []ent{a}, setNewer); err != nil {
		t.Fatal(err)
	}
	close(aDone)
	if err := <-bDone; err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, e := range entries(t, base) {
		got[e.ID]++
	}
	if got["e0"] != 1 || got["a"] != 1 || got["b"] != 1 {
		t.Fatalf("entries in the log (id: times): %v, want e0, a and b once each", got)
	}
	all(t, base)
}

// TestConcurrentUpdatesOfOneSealedBucketLeaveItsCountsExact: writer A moves a0
// from tag x to y in sealed bucket 0 (counts {x:1,y:1} -> {x:0,y:2}, so its
// record must be rewritten); before A writes the head, writer B moves a1 from y
// to x in the same bucket (counts back to {x:1,y:1}). The head's counts must end
// exact: they used to end {y:2}, A's, recorded over the bucket's {x:1,y:1}, when B
// skipped the head because the record it had read covered.
func TestConcurrentUpdatesOfOneSealedBucketLeaveItsCountsExact(t *testing.T) {
	m := newMemory()
	spec := testSpec(2)
	base := Log[ent, tags]{Spec: spec, St: m, ID: "log"}
	ctx := context.Background()
	for i, tag := range []string{"x", "y", "x"} {
		if err := base.Upsert(ctx, []ent{{At: int64(i), ID: fmt.Sprint("a", i), V: 1, Tag: tag}}, setNewer); err != nil {
			t.Fatal(err)
		}
	}
	all(t, base) // bucket 0 = [a0 x, a1 y], recorded {x:1, y:1}
	// One process: A and B share the locks; A is paused when it asks for the
	// head's lock to record the bucket's new summary.
	ra := newReplica(m)
	la := Log[ent, tags]{Spec: spec, St: ra, ID: "log"}
	lb := Log[ent, tags]{Spec: spec, St: &sharedLocks{ra, m}, ID: "log"} // same process, same locks
	heads := 0
	ra.beforeLk = func(id string) {
		if id != "log" {
			return
		}
		if heads++; heads == 2 { // after A's bucket write, before its head write
			if err := lb.Upsert(ctx, []ent{{At: 1, ID: "a1", V: 2, Tag: "x"}}, setNewer); err != nil {
				t.Error(err)
			}
		}
	}
	if err := la.Upsert(ctx, []ent{{At: 0, ID: "a0", V: 2, Tag: "y"}}, setNewer); err != nil {
		t.Fatal(err)
	}
	all(t, base) // every sealed bucket's record is its summary
}

// twoWriters stores entries a0, a1, ... tagged marks in a log of spec and returns
// it, and two writers of one process over it: lb through replica rb (its hooks)
// and la with rb's locks and no hooks.
func twoWriters(t *testing.T, spec *Spec[ent, tags], marks ...string) (base Log[ent, tags], rb *replica, la, lb Log[ent, tags]) {
	t.Helper()
	m := newMemory()
	base = Log[ent, tags]{Spec: spec, St: m, ID: "log"}
	for i, tag := range marks {
		if err := base.Upsert(context.Background(), []ent{{At: int64(i), ID: fmt.Sprint("a", i), V: 1, Tag: tag}}, setNewer); err != nil {
			t.Fatal(err)
		}
	}
	rb = newReplica(m)
	return base, rb, Log[ent, tags]{Spec: spec, St: &sharedLocks{rb, m}, ID: "log"}, Log[ent, tags]{Spec: spec, St: rb, ID: "log"}
}

// sharedLocks is a writer of the same process as r: r's locks, no hooks.
type sharedLocks struct {
	r *replica
	m *memory
}

func (s *sharedLocks) Lock(_ context.Context, id string) (func(), error) {
	return s.r.lockSet.lock(id), nil
}
func (s *sharedLocks) Get(ctx context.Context, id string, into any) (int64, error) {
	return s.m.Get(ctx, id, into)
}
func (s *sharedLocks) Put(ctx context.Context, id string, payload any, ver int64) (bool, error) {
	return s.m.Put(ctx, id, payload, ver)
}
func (s *sharedLocks) Delete(ctx context.Context, id string) error { return s.m.Delete(ctx, id) }

// TestAWriterThatReadTheHeadBeforeAnotherWriteStillRecordsItsBucket: writer B
// reads the head (bucket 0 recorded {x:1, y:1}); writer A then moves a0 from x to y
// and, its write complete, records {y:2}; B moves a1 from y to x (the bucket holds
// {x:1, y:1} again). The head must end {x:1, y:1}: B used to compare with the
// record it had read, which covered, write no head, and leave A's {y:2}.
func TestAWriterThatReadTheHeadBeforeAnotherWriteStillRecordsItsBucket(t *testing.T) {
	ctx := context.Background()
	base, rb, la, lb := twoWriters(t, testSpec(2), "x", "y", "x")
	var once sync.Once
	rb.beforeLk = func(id string) {
		if id == BucketID("log", 0) {
			once.Do(func() { // B read the head; A writes, bucket and head, in full
				if err := la.Upsert(ctx, []ent{{At: 0, ID: "a0", V: 2, Tag: "y"}}, setNewer); err != nil {
					t.Error(err)
				}
			})
		}
	}
	if err := lb.Upsert(ctx, []ent{{At: 1, ID: "a1", V: 2, Tag: "x"}}, setNewer); err != nil {
		t.Fatal(err)
	}
	all(t, base)
}

// TestASkippingSummaryIsNeverNarrowerThanItsBucket: with a summary that only lets
// readers skip (the tags that may be present; a record may say more, never less),
// writer B reads the head (bucket 0 recorded {x, z}); writer A applies version 2
// of a0 (x -> y) in full: the bucket holds {y, z}, not covered, so A records {y, z};
// B applies version 3 of a0 (y -> x): the bucket holds {x, z}. A reader looking for
// x must find a0: B used to compare with the record it had read, which covered,
// write no head, and leave a record saying bucket 0 holds no x.
func TestASkippingSummaryIsNeverNarrowerThanItsBucket(t *testing.T) {
	spec := testSpec(2)
	spec.Covers = tagsMayBe
	ctx := context.Background()
	base, rb, la, lb := twoWriters(t, spec, "x", "z", "z")
	var once sync.Once
	rb.beforeLk = func(id string) {
		if id == BucketID("log", 0) {
			once.Do(func() {
				if err := la.Upsert(ctx, []ent{{At: 0, ID: "a0", V: 2, Tag: "y"}}, setNewer); err != nil {
					t.Error(err)
				}
			})
		}
	}
	if err := lb.Upsert(ctx, []ent{{At: 0, ID: "a0", V: 3, Tag: "x"}}, setNewer); err != nil {
		t.Fatal(err)
	}
	skip := func(s *Sealed[tags]) bool { return s.Summary.Tags["x"] == 0 }
	keep := func(e *ent) bool { return e.Tag == "x" }
	if got := newest(t, base, nil, skip, keep); len(got) != 1 || got[0].ID != "a0" {
		h, _, _ := base.Head(ctx)
		first, _ := h.Sealed.At(0)
		t.Fatalf("entries tagged x found skipping the buckets recorded without x: %v (bucket 0 recorded as %+v)", got, first)
	}
}
