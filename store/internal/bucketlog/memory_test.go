package bucketlog

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// memory is Storage in memory: documents as BSON with versions, a mutex per id,
// and a count of writes.
type memory struct {
	mu   sync.Mutex
	docs map[string]memDoc
	lockSet
	writes int
	// failPut, when set, refuses a Put with an error (a crash at that write).
	failPut func(id string) bool
}

type memDoc struct {
	ver int64
	raw bson.Raw
}

func newMemory() *memory {
	return &memory{docs: map[string]memDoc{}}
}

// lockSet is one process's locks, a mutex per document id.
type lockSet struct {
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

func (ls *lockSet) lock(id string) func() {
	ls.mu.Lock()
	if ls.locks == nil {
		ls.locks = map[string]*sync.Mutex{}
	}
	l := ls.locks[id]
	if l == nil {
		l = &sync.Mutex{}
		ls.locks[id] = l
	}
	ls.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func (m *memory) Lock(_ context.Context, id string) (func(), error) { return m.lockSet.lock(id), nil }

// tagsMayBe is a Covers of a summary that only lets readers skip: a record covers
// a bucket when every tag the bucket holds is in it (it may name more).
func tagsMayBe(rec, exact tags) bool {
	for tag, n := range exact.Tags {
		if n > 0 && rec.Tags[tag] == 0 {
			return false
		}
	}
	return true
}

func (m *memory) Get(_ context.Context, id string, into any) (int64, error) {
	m.mu.Lock()
	d, ok := m.docs[id]
	m.mu.Unlock()
	if !ok {
		return 0, nil
	}
	return d.ver, bson.Unmarshal(d.raw, into)
}

var errCrash = errors.New("crash")

func (m *memory) Put(_ context.Context, id string, payload any, ver int64) (bool, error) {
	if m.failPut != nil && m.failPut(id) {
		return false, errCrash
	}
	raw, err := bson.Marshal(payload)
	if err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.docs[id].ver != ver {
		return false, nil
	}
	m.docs[id] = memDoc{ver + 1, raw}
	m.writes++
	return true, nil
}

func (m *memory) Delete(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.docs, id)
	return nil
}

// ent is a test entry: a time and an id (its key), a version and a tag the
// summaries count.
type ent struct {
	At  int64  `bson:"at"`
	ID  string `bson:"id"`
	V   int    `bson:"v"`
	Tag string `bson:"tag"`
}

type tags struct {
	Tags map[string]int32 `bson:"tags"`
}

func testSpec(capacity int) *Spec[ent, tags] {
	return &Spec[ent, tags]{
		Cap:   capacity,
		Key:   func(e *ent) Key { return Key{At: e.At, ID: e.ID} },
		Newer: func(cur, next *ent) bool { return next.V > cur.V },
		Summarize: func(es []ent) tags {
			t := tags{Tags: map[string]int32{}}
			for _, e := range es {
				t.Tags[e.Tag]++
			}
			return t
		},
		Covers: func(rec, exact tags) bool { return maps.Equal(rec.Tags, exact.Tags) },
	}
}

func setNewer(cur *ent, next ent) bool {
	if next.V <= cur.V {
		return false
	}
	*cur = next
	return true
}

// all reads every entry of the log by sequence number (sealed buckets, then the
// head) and checks the layout: every sealed bucket full, the head's records
// right.
func all(t *testing.T, l Log[ent, tags]) []ent {
	t.Helper()
	ctx := context.Background()
	h, _, err := l.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	es := entries(t, l)
	recs, err := h.Sealed.All()
	if err != nil {
		t.Fatal(err)
	}
	for n, rec := range recs {
		b := es[n*l.Spec.Cap : min(len(es), (n+1)*l.Spec.Cap)]
		if len(b) != l.Spec.Cap {
			t.Fatalf("bucket %d holds %d entries, want %d", n, len(b), l.Spec.Cap)
		}
		if want := l.Spec.Summarize(b); !maps.Equal(rec.Summary.Tags, want.Tags) || rec.Range != l.rangeOf(b) {
			t.Fatalf("bucket %d recorded as %+v, holds %+v", n, rec, want)
		}
	}
	// The head may hold more than a bucket's worth: a write seals what the head
	// held as read and appends after (the next write seals those).
	return es
}

func newest(t *testing.T, l Log[ent, tags], below *Key, skip func(*Sealed[tags]) bool, keep func(*ent) bool) []ent {
	t.Helper()
	ctx := context.Background()
	h, _, err := l.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []ent
	it := l.Newest(ctx, h, below, skip, keep, nil)
	for {
		p, ok, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		out = append(out, p.Entry)
	}
}

// TestEntriesAreNumberedInAppendOrderAndBucketNHoldsSequencesNCapOn: entry k of
// the log (in the order appended) is entry k%cap of bucket k/cap, the head holds
// the open bucket, and every sealed bucket's record summarizes it.
func TestEntriesAreNumberedInAppendOrderAndBucketNHoldsSequencesNCapOn(t *testing.T) {
	st := newMemory()
	l := Log[ent, tags]{Spec: testSpec(4), St: st, ID: "log"}
	ctx := context.Background()
	var want []ent
	for i := range 11 {
		e := ent{At: int64(100 - i), ID: fmt.Sprint("a", i), V: 1, Tag: fmt.Sprint(i % 3)} // times go backwards
		want = append(want, e)
		if err := l.Upsert(ctx, []ent{e}, setNewer); err != nil {
			t.Fatal(err)
		}
	}
	if got := all(t, l); !slices.Equal(got, want) {
		t.Fatalf("log by sequence:\n%v\nwant\n%v", got, want)
	}
	for k, e := range want {
		es, err := l.Bucket(ctx, k/4)
		if err != nil {
			t.Fatal(err)
		}
		if k/4 < 2 && es[k%4] != e {
			t.Fatalf("entry %d is not at bucket %d index %d", k, k/4, k%4)
		}
	}
	// Newest first by key, whatever the order of appending.
	got := newest(t, l, nil, nil, nil)
	sorted := slices.Clone(want)
	slices.SortFunc(sorted, func(a, b ent) int { return Key{At: b.At, ID: b.ID}.Compare(Key{At: a.At, ID: a.ID}) })
	if !slices.Equal(got, sorted) {
		t.Fatalf("newest first:\n%v\nwant\n%v", got, sorted)
	}
}

// TestApplyingTheSameEntriesAgainWritesNothing: a replay of appends and updates,
// in the head or in sealed buckets, finds every entry where it is and writes no
// document.
func TestApplyingTheSameEntriesAgainWritesNothing(t *testing.T) {
	st := newMemory()
	l := Log[ent, tags]{Spec: testSpec(3), St: st, ID: "log"}
	ctx := context.Background()
	var es []ent
	for i := range 10 {
		es = append(es, ent{At: int64(i / 2), ID: fmt.Sprint("a", i), V: 1 + i%2, Tag: "x"})
	}
	if err := l.Upsert(ctx, es, setNewer); err != nil {
		t.Fatal(err)
	}
	before := st.writes
	for i := 0; i < len(es); i += 4 {
		if err := l.Upsert(ctx, es[i:min(i+4, len(es))], setNewer); err != nil {
			t.Fatal(err)
		}
	}
	if st.writes != before {
		t.Fatalf("applying the same entries again wrote %d documents", st.writes-before)
	}
	if got := all(t, l); !slices.Equal(got, es) {
		t.Fatalf("log:\n%v\nwant\n%v", got, es)
	}
}

// TestSealInterruptedBeforeTheHeadIsWrittenCompletesOnTheNextWrite: a crash after
// a bucket is written and before the head drops its entries leaves a bucket the
// head does not count; the next write seals the same slots again, and no entry is
// lost or doubled.
func TestSealInterruptedBeforeTheHeadIsWrittenCompletesOnTheNextWrite(t *testing.T) {
	st := newMemory()
	l := Log[ent, tags]{Spec: testSpec(4), St: st, ID: "log"}
	ctx := context.Background()
	var es []ent
	for i := range 6 {
		es = append(es, ent{At: int64(i), ID: fmt.Sprint("a", i), V: 1, Tag: "x"})
	}
	// A full bucket's worth in the head: the next write seals it.
	if err := l.Upsert(ctx, es[:4], setNewer); err != nil {
		t.Fatal(err)
	}
	st.failPut = func(id string) bool { return id == "log" }
	if err := l.Upsert(ctx, es[4:5], setNewer); !errors.Is(err, errCrash) {
		t.Fatalf("write at the crash: %v", err)
	}
	st.failPut = nil
	if _, ok := st.docs[BucketID("log", 0)]; !ok {
		t.Fatal("the bucket was not written before the head")
	}
	if h, _, _ := l.Head(ctx); h.Open() != 0 || len(h.Entries) != 4 {
		t.Fatalf("head after the crash: %+v", h)
	}
	// An update of an entry the head still holds, then the replay and a new entry.
	up := es[1]
	up.V, up.Tag = 2, "y"
	if err := l.Upsert(ctx, []ent{up}, setNewer); err != nil {
		t.Fatal(err)
	}
	if err := l.Upsert(ctx, es[3:], setNewer); err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(es)
	want[1] = up
	if got := all(t, l); !slices.Equal(got, want) {
		t.Fatalf("log:\n%v\nwant\n%v", got, want)
	}
}

// TestALateSealOfTheSameBucketKeepsNewerEntries: a writer that sealed from an
// older head (another replica that lost the race) writes the bucket's slots
// again; entries updated in the bucket since keep their newer state, and the
// head's record follows the bucket.
func TestALateSealOfTheSameBucketKeepsNewerEntries(t *testing.T) {
	st := newMemory()
	l := Log[ent, tags]{Spec: testSpec(2), St: st, ID: "log"}
	ctx := context.Background()
	es := []ent{{At: 1, ID: "a", V: 1, Tag: "x"}, {At: 2, ID: "b", V: 1, Tag: "x"}}
	if err := l.Upsert(ctx, es[:1], setNewer); err != nil {
		t.Fatal(err)
	}
	stale, _, _ := l.Head(ctx) // the late writer's view, before the seal
	stale.Entries = append(stale.Entries, es[1])
	if err := l.Upsert(ctx, es[1:], setNewer); err != nil {
		t.Fatal(err)
	}
	up := ent{At: 1, ID: "a", V: 2, Tag: "y"}
	if err := l.Upsert(ctx, []ent{up}, setNewer); err != nil {
		t.Fatal(err)
	}
	if err := l.seal(ctx, stale); err != nil {
		t.Fatal(err)
	}
	got, err := l.Bucket(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []ent{up, es[1]}) {
		t.Fatalf("bucket after the late seal: %v", got)
	}
	all(t, l)
	// An older state applied late changes nothing either.
	if err := l.Upsert(ctx, es[:1], setNewer); err != nil {
		t.Fatal(err)
	}
	if got := all(t, l); !slices.Equal(got, []ent{up, es[1]}) {
		t.Fatalf("log after a late older state: %v", got)
	}
}

// TestRandomHistoriesConvergeWhateverTheOrderOfApplying: random appends and
// updates, applied in random order with replays and in concurrent writers, leave
// every entry at its newest state exactly once, sealed buckets described by their
// records; reading newest first with a cursor, a filter and skipped buckets
// answers what sorting everything answers.
func TestRandomHistoriesConvergeWhateverTheOrderOfApplying(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 1))
			st := newMemory()
			l := Log[ent, tags]{Spec: testSpec(1 + r.IntN(5)), St: st, ID: "log"}
			ctx := context.Background()
			latest := map[string]ent{}
			var writes [][]ent
			for i := range 40 {
				id := fmt.Sprint("a", r.IntN(i+1))
				e, ok := latest[id]
				if !ok {
					e = ent{At: int64(r.IntN(20)), ID: id}
				}
				e.V++
				e.Tag = fmt.Sprint(r.IntN(3))
				latest[id] = e
				writes = append(writes, []ent{e})
				if r.IntN(3) == 0 { // a batch: a replay of earlier states too
					writes = append(writes, []ent{writes[r.IntN(len(writes))][0], e})
				}
			}
			r.Shuffle(len(writes), func(i, j int) { writes[i], writes[j] = writes[j], writes[i] })
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < len(writes); i += 4 {
						if err := l.Upsert(ctx, writes[i], setNewer); err != nil {
							errs[w] = err
							return
						}
					}
				}()
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			got := all(t, l)
			byID := map[string]ent{}
			for _, e := range got {
				if _, dup := byID[e.ID]; dup {
					t.Fatalf("%s twice in the log", e.ID)
				}
				byID[e.ID] = e
			}
			if !maps.Equal(byID, latest) {
				t.Fatalf("log:\n%v\nwant\n%v", byID, latest)
			}
			want := slices.Collect(maps.Values(latest))
			key := func(e *ent) Key { return Key{At: e.At, ID: e.ID} }
			slices.SortFunc(want, func(a, b ent) int { return key(&b).Compare(key(&a)) })
			below := key(&want[len(want)/3])
			var page []ent
			for _, e := range want {
				if key(&e).Compare(below) < 0 && e.Tag == "1" {
					page = append(page, e)
				}
			}
			skip := func(s *Sealed[tags]) bool { return s.Summary.Tags["1"] == 0 }
			keep := func(e *ent) bool { return e.Tag == "1" }
			if got := newest(t, l, &below, skip, keep); !slices.Equal(got, page) {
				t.Fatalf("newest first below %v with tag 1:\n%v\nwant\n%v", below, got, page)
			}
		})
	}
}

// TestBulkReplaceLaysTheLogOutAgainInKeyOrder: Bulk with replace drops the old
// buckets (a leftover of an interrupted seal too) and writes full buckets in key
// order; a Bulk without replace appends.
func TestBulkReplaceLaysTheLogOutAgainInKeyOrder(t *testing.T) {
	st := newMemory()
	l := Log[ent, tags]{Spec: testSpec(3), St: st, ID: "log"}
	ctx := context.Background()
	var es []ent
	for i := range 8 {
		es = append(es, ent{At: int64(10 - i), ID: fmt.Sprint("a", i), V: 1, Tag: "x"})
	}
	if err := l.Upsert(ctx, es, setNewer); err != nil {
		t.Fatal(err)
	}
	st.docs[BucketID("log", 2)] = memDoc{1, must(bson.Marshal(bucket[ent]{Entries: es[:3]}))} // a leftover
	if err := l.Bulk(ctx, es[:7], true); err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(es[:7])
	slices.Reverse(want)
	if got := all(t, l); !slices.Equal(got, want) {
		t.Fatalf("after the rebuild:\n%v\nwant\n%v", got, want)
	}
	if _, ok := st.docs[BucketID("log", 2)]; ok {
		t.Fatal("a bucket of the old layout is left")
	}
	if err := l.Bulk(ctx, es[7:], false); err != nil {
		t.Fatal(err)
	}
	if got := all(t, l); len(got) != 8 || !slices.Contains(got, es[7]) {
		t.Fatalf("after the bulk append: %v", got)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// sealedLog is a log of cap 2 holding entries a0..a4 (buckets 0 and 1 sealed),
// each tagged "x".
func sealedLog(t *testing.T, spec *Spec[ent, tags]) (*memory, Log[ent, tags]) {
	t.Helper()
	st := newMemory()
	l := Log[ent, tags]{Spec: spec, St: st, ID: "log"}
	for i := range 5 {
		if err := l.Upsert(context.Background(), []ent{{At: int64(i), ID: fmt.Sprint("a", i), V: 1, Tag: "x"}}, setNewer); err != nil {
			t.Fatal(err)
		}
	}
	return st, l
}

// TestAWriterStoppedBetweenABucketAndTheHeadLeavesARecordItsReplayCorrects: an
// update moves a sealed bucket's summary, and the writer stops after the bucket
// and before the head; the replay of the same update (the outbox's) changes no
// entry, and still records the bucket's summary in the head.
func TestAWriterStoppedBetweenABucketAndTheHeadLeavesARecordItsReplayCorrects(t *testing.T) {
	st, l := sealedLog(t, testSpec(2))
	ctx := context.Background()
	up := []ent{{At: 1, ID: "a1", V: 2, Tag: "y"}} // in bucket 0
	st.failPut = func(id string) bool { return id == "log" }
	if err := l.Upsert(ctx, up, setNewer); !errors.Is(err, errCrash) {
		t.Fatalf("the stopped write: %v", err)
	}
	st.failPut = nil
	if err := l.Upsert(ctx, up, setNewer); err != nil {
		t.Fatal(err)
	}
	all(t, l) // every sealed bucket's record is its summary
}

// TestARecordThatStillCoversTheBucketIsNotRewritten: with a summary that only lets
// readers skip (here: the tags that may be present), an update whose bucket
// summary the head's record still covers writes the bucket alone.
func TestARecordThatStillCoversTheBucketIsNotRewritten(t *testing.T) {
	spec := testSpec(2)
	spec.Covers = tagsMayBe
	st, l := sealedLog(t, spec)
	ctx := context.Background()
	written := func(es ...ent) int {
		t.Helper()
		before := st.writes
		if err := l.Upsert(ctx, es, setNewer); err != nil {
			t.Fatal(err)
		}
		return st.writes - before
	}
	if n := written(ent{At: 1, ID: "a1", V: 2, Tag: "y"}); n != 2 {
		t.Fatalf("a new tag in bucket 0: %d writes, want the bucket and the head", n)
	}
	if n := written(ent{At: 1, ID: "a1", V: 3, Tag: "x"}); n != 1 {
		t.Fatalf("back to a tag the record holds: %d writes, want the bucket alone", n)
	}
	h, _, err := l.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first, err := h.Sealed.At(0)
	if err != nil {
		t.Fatal(err)
	}
	if rec := first.Summary.Tags; rec["x"] == 0 || rec["y"] == 0 {
		t.Fatalf("bucket 0 recorded as %v, want x and y (a record may say more than the bucket holds)", rec)
	}
}

// owner is a trail's owner document in the tests: the newest entries inline and
// the count of those moved out.
type owner struct {
	From   int   `bson:"from"`
	Inline []ent `bson:"entries"`
}

// testTrail is trail "t" of owner "o" in memory, and n entries to append to it.
func testTrail(keep, step, capacity, n int) (*memory, Trail[ent], []ent) {
	st := newMemory()
	var es []ent
	for i := range n {
		es = append(es, ent{At: int64(i), ID: fmt.Sprint("e", i), V: 1})
	}
	return st, Trail[ent]{Spec: &TrailSpec{Name: "t", Keep: keep, Step: step, Cap: capacity}, St: st, Owner: "o"}, es
}

// ownerWrite is a write of the owner as read (o at version ver) appending es: it
// moves what Plan says of the entries o held, spills them, then writes the owner
// with its version predicate and reports whether that landed.
func ownerWrite(ctx context.Context, tr Trail[ent], o owner, ver int64, es ...ent) (bool, error) {
	committed := len(o.Inline)
	o.Inline = append(slices.Clone(o.Inline), es...)
	if k := min(tr.Spec.Plan(o.From, len(o.Inline)), committed); k > 0 {
		if err := tr.Spill(ctx, o.From, o.Inline[:k]); err != nil {
			return false, err
		}
		o.Inline, o.From = o.Inline[k:], o.From+k
	}
	return tr.St.Put(ctx, tr.Owner, &o, ver)
}

func readOwner(t *testing.T, tr Trail[ent]) (owner, int64) {
	t.Helper()
	var o owner
	ver, err := tr.St.Get(context.Background(), tr.Owner, &o)
	if err != nil {
		t.Fatal(err)
	}
	return o, ver
}

// appendTrail appends es to the trail, one owner write each.
func appendTrail(t *testing.T, tr Trail[ent], es ...ent) {
	t.Helper()
	for _, e := range es {
		o, ver := readOwner(t, tr)
		if ok, err := ownerWrite(context.Background(), tr, o, ver, e); err != nil || !ok {
			t.Fatalf("append %v: %v %v", e, ok, err)
		}
	}
}

// readTrail reads the whole trail as its owner holds it now.
func readTrail(t *testing.T, tr Trail[ent]) []ent {
	t.Helper()
	o, _ := readOwner(t, tr)
	es, err := ReadTrail(context.Background(), tr, o.From, o.Inline, 0, o.From+len(o.Inline), func(e ent) ent { return e })
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// stored returns bucket n of tr as stored, labels and all.
func stored(t *testing.T, tr Trail[ent], n int) (bucket[ent], int64) {
	t.Helper()
	var b bucket[ent]
	ver, err := tr.St.Get(context.Background(), tr.BucketID(n), &b)
	if err != nil {
		t.Fatal(err)
	}
	return b, ver
}

// TestTrailSpillThenReadGivesEveryEntryBySequence: entries appended one write at
// a time move out of the owner step entries at a time, entry k lands in slot k%cap
// of bucket k/cap (labelled with its owner, trail and first sequence number), the
// owner keeps between keep and keep+step-1 inline, and every range reads back in
// order from the buckets and the owner.
func TestTrailSpillThenReadGivesEveryEntryBySequence(t *testing.T) {
	_, tr, es := testTrail(3, 4, 4, 23)
	appendTrail(t, tr, es...)
	o, _ := readOwner(t, tr)
	if o.From != 20 || len(o.Inline) != 3 {
		t.Fatalf("owner holds %d inline from %d, want 3 from 20", len(o.Inline), o.From)
	}
	for n := range 5 {
		b, _ := stored(t, tr, n)
		if b.Owner != "o" || b.Trail != "t" || b.First == nil || *b.First != 4*n || !slices.Equal(b.Entries, es[4*n:4*n+4]) {
			t.Fatalf("bucket %d: %+v", n, b)
		}
	}
	if got := readTrail(t, tr); !slices.Equal(got, es) {
		t.Fatalf("trail:\n%v\nwant\n%v", got, es)
	}
	for lo := range 23 {
		for hi := lo; hi <= 23; hi += 5 {
			got, err := ReadTrail(context.Background(), tr, o.From, o.Inline, lo, hi, func(e ent) ent { return e })
			if err != nil || !slices.Equal(got, es[lo:hi]) {
				t.Fatalf("[%d, %d): %v %v", lo, hi, got, err)
			}
		}
	}
}

// TestTrailSpillReplayedWritesNothing: a spill of entries already in their slots
// (a retry, a replay) writes no document.
func TestTrailSpillReplayedWritesNothing(t *testing.T) {
	st, tr, es := testTrail(2, 4, 8, 15)
	appendTrail(t, tr, es...)
	before := st.writes
	for _, from := range []int{0, 4, 8, 0} {
		if err := tr.Spill(context.Background(), from, es[from:12]); err != nil {
			t.Fatal(err)
		}
	}
	if st.writes != before {
		t.Fatalf("replayed spills wrote %d documents", st.writes-before)
	}
	if got := readTrail(t, tr); !slices.Equal(got, es) {
		t.Fatalf("trail: %v", got)
	}
}

// TestTrailCrashBetweenSpillAndOwnerWriteLeavesItReadable: a write that spilled
// and died before its owner write leaves slots the owner still holds inline; the
// trail reads back whole (those entries from the owner), and the next write
// spills the same entries into the same slots, once.
func TestTrailCrashBetweenSpillAndOwnerWriteLeavesItReadable(t *testing.T) {
	st, tr, es := testTrail(2, 4, 4, 11)
	appendTrail(t, tr, es[:9]...) // 4 moved out, 5 inline
	st.failPut = func(id string) bool { return id == "o" }
	o, ver := readOwner(t, tr)
	if _, err := ownerWrite(context.Background(), tr, o, ver, es[9]); !errors.Is(err, errCrash) {
		t.Fatalf("the write at the crash: %v", err)
	}
	st.failPut = nil
	if b, _ := stored(t, tr, 1); !slices.Equal(b.Entries, es[4:8]) {
		t.Fatalf("the spill before the crash left bucket 1 as %v", b.Entries)
	}
	if o2, _ := readOwner(t, tr); o2.From != 4 {
		t.Fatalf("the owner moved to %d", o2.From)
	}
	if got := readTrail(t, tr); !slices.Equal(got, es[:9]) {
		t.Fatalf("trail after the crash: %v", got)
	}
	_, bver := stored(t, tr, 1)
	appendTrail(t, tr, es[9:]...)
	b, ver1 := stored(t, tr, 1)
	if !slices.Equal(b.Entries, es[4:8]) || ver1 != bver {
		t.Fatalf("bucket 1 after the next write: %v at version %d (was %d)", b.Entries, ver1, bver)
	}
	if o2, _ := readOwner(t, tr); o2.From != 8 {
		t.Fatalf("the owner holds %d inline from %d", len(o2.Inline), o2.From)
	}
	if got := readTrail(t, tr); !slices.Equal(got, es) {
		t.Fatalf("trail: %v", got)
	}
}

// TestTrailBucketsFilledAnEntryAtATime: a trail that moves one entry per write
// (keep 1, step 1) into buckets of 32 fills each bucket in place, slot by slot,
// reading back whole after every write; a writer holding an older owner writes
// slots the bucket holds and drops none.
func TestTrailBucketsFilledAnEntryAtATime(t *testing.T) {
	st, tr, es := testTrail(1, 1, 32, 70)
	for i, e := range es {
		appendTrail(t, tr, e)
		if got := readTrail(t, tr); !slices.Equal(got, es[:i+1]) {
			t.Fatalf("after %d writes: %v", i+1, got)
		}
	}
	for n, want := range [][]ent{es[:32], es[32:64], es[64:69]} {
		if b, _ := stored(t, tr, n); !slices.Equal(b.Entries, want) || *b.First != 32*n {
			t.Fatalf("bucket %d holds %v", n, b.Entries)
		}
	}
	// A late writer that read the owner at from 33 spills entry 33 again.
	before := st.writes
	if err := tr.Spill(context.Background(), 33, es[33:34]); err != nil {
		t.Fatal(err)
	}
	if b, _ := stored(t, tr, 1); !slices.Equal(b.Entries, es[32:64]) || st.writes != before {
		t.Fatalf("a late spill left bucket 1 as %v (%d writes)", b.Entries, st.writes-before)
	}
	// A spill past a bucket's last slot would leave a gap: refused.
	if err := tr.Spill(context.Background(), 70, []ent{{At: 70, ID: "e70", V: 1}}); err == nil {
		t.Fatal("a spill leaving a gap in bucket 2 was accepted")
	}
}

// TestTrailWritersThatReadTheSameOwnerVersion: two writers read the owner at one
// version and both spill (concurrently) before their owner writes; one owner
// write lands, the other is refused by the version predicate and, read again,
// appends after it. Each slot holds its entry once, and the trail reads whole.
func TestTrailWritersThatReadTheSameOwnerVersion(t *testing.T) {
	st, tr, es := testTrail(2, 4, 4, 11)
	appendTrail(t, tr, es[:9]...) // 4 moved out, 5 inline: the next write moves 4
	o, ver := readOwner(t, tr)
	var wg sync.WaitGroup
	landed := make([]bool, 2)
	errs := make([]error, 2)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			landed[w], errs[w] = ownerWrite(context.Background(), tr, o, ver, es[9+w])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if landed[0] == landed[1] {
		t.Fatalf("owner writes landed: %v", landed)
	}
	b, bver := stored(t, tr, 1)
	if !slices.Equal(b.Entries, es[4:8]) || bver != 1 {
		t.Fatalf("bucket 1 after both spills: %v at version %d", b.Entries, bver)
	}
	won, lost := es[9], es[10]
	if landed[1] {
		won, lost = lost, won
	}
	before := st.writes
	appendTrail(t, tr, lost)
	if st.writes != before+1 {
		t.Fatalf("the loser's second write wrote %d documents, want its owner alone", st.writes-before)
	}
	want := append(slices.Clone(es[:9]), won, lost)
	if got := readTrail(t, tr); !slices.Equal(got, want) {
		t.Fatalf("trail:\n%v\nwant\n%v", got, want)
	}
}

// TestTrailEntryMissingBelowFromIsAnError: an entry below the owner's from that
// its bucket does not hold is reported, never skipped.
func TestTrailEntryMissingBelowFromIsAnError(t *testing.T) {
	st, tr, es := testTrail(1, 1, 4, 7)
	appendTrail(t, tr, es...)
	if err := st.Delete(context.Background(), tr.BucketID(0)); err != nil {
		t.Fatal(err)
	}
	o, _ := readOwner(t, tr)
	if _, err := ReadTrail(context.Background(), tr, o.From, o.Inline, 0, 7, func(e ent) ent { return e }); err == nil {
		t.Fatal("a trail without its bucket 0 read back")
	}
	if got, err := ReadTrail(context.Background(), tr, o.From, o.Inline, 4, 7, func(e ent) ent { return e }); err != nil || len(got) != 3 {
		t.Fatalf("the range past bucket 0: %v %v", got, err)
	}
}
