// Package bucketlog keeps a log of entries as one head document and numbered
// bucket documents, behind a narrow storage interface: the store's read models
// (the artifact list, the audit feed, the promotion log of each channel) are such
// logs, and so are the trails their owners' documents head (an artifact's audit
// events and promotions, a policy's changes: Trail); only this package knows how
// they are laid out.
//
// It lives under store/internal because nothing but the store has any business
// with its documents, and it talks to storage only through Storage (a locked
// read-modify-write of one document by _id with a version predicate), so it is
// tested in memory (memory_test.go) and knows nothing of MongoDB, FerretDB or the
// payload codec.
//
// Contract:
//
//   - Every entry of a log has a sequence number, its position in the log from 0,
//     given when it is appended. Bucket n holds sequence numbers [n*cap,
//     (n+1)*cap), entry i of the bucket being n*cap+i; the head holds the open
//     bucket, number Open(), inline (it may hold more than cap entries
//     between two writes: the entry at index i has sequence number
//     Open()*cap+i), and per sealed bucket a Sealed record: the range of its
//     entries' times, the bucket document version the record was computed from
//     and a caller-defined Summary (counts, facts) that lets readers skip the
//     bucket. A log's capacity never changes: addresses depend on it (a rebuild,
//     Bulk with replace, lays a log out again).
//   - A bucket's _id is derived from its number (BucketID), so sealing is
//     idempotent by address. A write first sets the entries it changes in place,
//     then seals every full bucket's worth of the entries the head held as read,
//     and only then appends its new entries (they are sealed by a later write).
//     So every writer that read the head at one version seals the same entries
//     into the same slots: the bucket is inserted, or merged into what is there
//     (a slot with the same key keeps the newer state, Spec.Newer), then the
//     head, with its version predicate, drops them and records the bucket. A
//     crash or a lost race in between leaves a bucket holding entries the head
//     still holds inline; readers read only buckets below Open(), and the
//     next seal writes the same slots again. There are no seal versions and no
//     orphans.
//   - Entries are identified by Spec.Key (time, id, sequence in its owner's
//     trail). Upsert finds an entry in the head or in the sealed buckets whose
//     time range holds its time (newest first), sets it in place there with the
//     caller's rule (never over a newer state, so every replay and any order of
//     applying converges), and appends those found nowhere. Every writer of a
//     sealed bucket then brings the head's record of it up to date under the
//     head's lock, from the bucket as it is at that moment, so the last writer
//     records the last state (recordBucket). The record is rewritten only when
//     it no longer covers the bucket's summary (Spec.Covers: equal for counts, at
//     least as permissive for what lets readers skip) and never below the bucket
//     version already recorded; a replay of a write corrects a record its writer
//     did not reach.
//   - Readers read the head and then, newest first by key, only the buckets
//     whose range may hold the next entry and whose summary the caller does not
//     skip (Iter); a page costs the head and usually a bucket or two.
//   - Every read-modify-write (Update) holds the document's lock for its
//     duration; the head's lock may be held while a bucket's is taken (sealing)
//     or read (recordBucket), never the other way round, so locks cannot
//     deadlock.
//
// Trails (Trail): a log of immutable entries headed by a document the caller
// owns and writes itself (an artifact's audit events and promotions, a policy's
// changes), so that an entry lands in one write with the change it records.
//
//   - Every entry has a sequence number, its position in the trail from 0, and
//     never changes once its owner's write committed it. The owner holds the
//     newest entries inline and the count `from` of those moved out: inline entry
//     i has sequence number from+i. Bucket n, _id BucketID("<owner>:<name>", n),
//     holds sequence numbers [n*cap, (n+1)*cap), entry i of the bucket being
//     n*cap+i (and, for people reading it, owner, trail and first = n*cap). A
//     trail's cap never changes: addresses depend on it.
//   - A write that appends to the owner asks Plan how many of the oldest inline
//     entries to move (keep, step and cap as TrailSpec says), moves only entries
//     the owner held as read (committed), writes them into their buckets first
//     (Spill), and then the owner, with its own version predicate, holding the
//     rest and the new from.
//   - Spill seals as a log does, by address: a bucket whose first slot it writes
//     is inserted, and merged when it is there; a merge, under the bucket's lock
//     and version predicate, keeps the slots the bucket holds (their entries are
//     immutable) and appends the others. So every writer that read the owner at
//     one version writes the same entries into the same slots, a replay writes
//     nothing, and a bucket filled a slot at a time (a policy's trail moves one
//     change per write) grows in place. Slots are never dropped: a writer that
//     read an older owner writes slots the bucket already holds.
//   - A crash or a lost race between a spill and the owner's write leaves slots
//     at or beyond the owner's from (entries it still holds inline): readers take
//     those from the owner only, and the next spill writes the same slots again.
//   - Readers (ReadTrail, Entries) read the owner, then only the buckets of the
//     range they need, by _id, a few in parallel; an entry below from that its
//     bucket does not hold is an error. Without transactions this keeps every
//     entry: it is in the owner or, before the owner lets go of it, in its bucket.
package bucketlog

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"golang.org/x/sync/errgroup"

	"github.com/artifact-trust/control-plane/model"
)

// Storage is what a log needs of the database: documents by _id, each with a
// version (0: absent) bumped by every write.
type Storage interface {
	// Lock takes document id's write lock (in the process; across processes
	// the version predicate of Put serializes writers).
	Lock(ctx context.Context, id string) (unlock func(), err error)
	// Get decodes document id's payload into into and returns its version
	// (0 and into untouched: absent).
	Get(ctx context.Context, id string, into any) (int64, error)
	// Put stores payload as document id at version ver+1 if its stored version
	// is ver (0: absent) and reports whether it did.
	Put(ctx context.Context, id string, payload any, ver int64) (bool, error)
	// Delete removes document id (absent: nothing to do).
	Delete(ctx context.Context, id string) error
}

// Viewer is what a Storage may offer besides: View returns document id's payload
// decoded into the value fresh makes, and its version, where the storage may
// hand the same decoded value to every reader until the document is written (a
// cache of decoded documents). Readers of a viewed value never change it.
type Viewer interface {
	View(ctx context.Context, id string, fresh func() any) (any, int64, error)
}

// Attempts bounds the retries of a write that lost a version race (possible only
// between processes).
const Attempts = 16

// Update is the read-modify-write of document id: under its lock it reads the
// payload (zero T and version 0 when absent), lets fn change it, and writes it
// back with the version predicate when fn reports a change. It returns the
// document's version afterwards; an error of fn is returned as is.
func Update[T any](ctx context.Context, st Storage, id string, fn func(cur *T, ver int64) (bool, error)) (int64, error) {
	for attempt := 0; attempt < Attempts; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(time.Duration(attempt) * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				// As the store maps a context that ended during a database call.
				return 0, &model.Error{Kind: model.KindUnavailable, Message: "database unavailable", Err: fmt.Errorf("write %s: %w", id, ctx.Err())}
			case <-t.C:
			}
		}
		unlock, err := st.Lock(ctx, id)
		if err != nil {
			return 0, err
		}
		var cur T
		ver, err := st.Get(ctx, id, &cur)
		if err != nil {
			unlock()
			return 0, err
		}
		write, err := fn(&cur, ver)
		if err != nil || !write {
			unlock()
			return ver, err
		}
		ok, err := st.Put(ctx, id, &cur, ver)
		unlock()
		if err != nil {
			return 0, err
		}
		if ok {
			return ver + 1, nil
		}
	}
	return 0, model.Errorf(model.KindConflict, "%s is being written concurrently", id)
}

// Key orders entries: a time in Unix milliseconds, an id and a sequence number in
// the id's own trail.
type Key struct {
	At  int64
	ID  string
	Seq int
}

// Compare orders keys by time, then id, then sequence.
func (k Key) Compare(o Key) int {
	return cmp.Or(cmp.Compare(k.At, o.At), cmp.Compare(k.ID, o.ID), cmp.Compare(k.Seq, o.Seq))
}

// Range is the range of entry times of a sealed bucket.
type Range struct {
	Min bson.DateTime `bson:"min"`
	Max bson.DateTime `bson:"max"`
}

func (r Range) contains(at int64) bool { return int64(r.Min) <= at && at <= int64(r.Max) }

// Sealed describes sealed bucket n in the head.
type Sealed[S any] struct {
	Range Range `bson:"range"`
	// Version is the bucket document version Summary was computed from.
	Version int64 `bson:"bucketVersion"`
	Summary S     `bson:",inline"`
}

// Head is a log's head document: the open bucket and a record per sealed bucket
// (record n is bucket n's; Records says how they are read and written).
type Head[E, S any] struct {
	Entries []E        `bson:"entries"`
	Sealed  Records[S] `bson:"sealed"`
}

// Open is the number of the open bucket.
func (h *Head[E, S]) Open() int { return h.Sealed.Len() }

// bucket is a bucket document. A trail's buckets carry labels for people reading
// them (the owner, the trail's name and the sequence number of slot 0); a log's
// carry none.
type bucket[E any] struct {
	Owner   string `bson:"owner,omitempty"`
	Trail   string `bson:"trail,omitempty"`
	First   *int   `bson:"first,omitempty"`
	Entries []E    `bson:"entries"`
}

// Spec describes a kind of log.
type Spec[E, S any] struct {
	// Cap is the number of entries per bucket; it never changes for a log.
	Cap int
	// Key identifies and orders entries.
	Key func(*E) Key
	// Newer reports whether next, an entry with cur's key, is a newer state of
	// it (nil: entries never change).
	Newer func(cur, next *E) bool
	// Summarize computes a sealed bucket's summary from its entries. Covers
	// reports whether recorded, a summary in the head, still describes a bucket
	// whose summary is now exact: equal, for a summary that must be exact
	// (counts); for one that only lets readers skip a bucket, any summary saying
	// at least as much may be possible (nil: every summary covers every other).
	Summarize func([]E) S
	Covers    func(recorded, exact S) bool
}

// BucketID is the _id of bucket n of the log headed by head.
func BucketID(head string, n int) string { return head + "#" + strconv.Itoa(n) }

// Log is one log of kind Spec stored in St with head document ID.
type Log[E, S any] struct {
	Spec *Spec[E, S]
	St   Storage
	ID   string
}

// Head reads the head (version 0: the log is empty and has none). It may be
// shared with other readers (Viewer): read it, never change it.
func (l Log[E, S]) Head(ctx context.Context) (*Head[E, S], int64, error) {
	return view[Head[E, S]](ctx, l.St, l.ID)
}

// Records returns the records of h's sealed buckets, decoded, for reading only
// (Records); one that cannot be decoded is an internal error naming the head.
func (l Log[E, S]) Records(h *Head[E, S]) ([]Sealed[S], error) {
	recs, err := h.Sealed.All()
	return recs, l.damaged(err)
}

// damaged maps a record that cannot be decoded onto the error a document that
// cannot be decoded is.
func (l Log[E, S]) damaged(err error) error {
	if err == nil {
		return nil
	}
	return &model.Error{Kind: model.KindInternal, Message: "database error", Err: fmt.Errorf("head %s: %w", l.ID, err)}
}

// Bucket reads the entries of sealed bucket n (a missing one reads as empty),
// decoded for the caller: sealed buckets are many and most are read far less
// often than the head, so they are not shared (Viewer) where their decoded copies
// would crowd the documents out of a cache.
func (l Log[E, S]) Bucket(ctx context.Context, n int) ([]E, error) {
	var b bucket[E]
	_, err := l.St.Get(ctx, BucketID(l.ID, n), &b)
	return b.Entries, err
}

// recentViews is how many of the newest sealed buckets are read shared (Viewer):
// a first page that the head does not fill reads on in them.
const recentViews = 2

// BucketOf reads sealed bucket n of the log h heads: one of the recentViews newest
// may be shared with other readers (read it, never change it), the others are
// decoded for the caller (Bucket).
func (l Log[E, S]) BucketOf(ctx context.Context, h *Head[E, S], n int) ([]E, error) {
	if n < h.Open()-recentViews {
		return l.Bucket(ctx, n)
	}
	b, _, err := view[bucket[E]](ctx, l.St, BucketID(l.ID, n))
	if err != nil {
		return nil, err
	}
	return b.Entries, nil
}

// view reads document id for reading only: through the storage's Viewer when it
// has one.
func view[T any](ctx context.Context, st Storage, id string) (*T, int64, error) {
	if v, ok := st.(Viewer); ok {
		x, ver, err := v.View(ctx, id, func() any { return new(T) })
		if err != nil {
			return nil, 0, err
		}
		return x.(*T), ver, nil
	}
	var t T
	ver, err := st.Get(ctx, id, &t)
	return &t, ver, err
}

func (l Log[E, S]) rangeOf(es []E) Range {
	lo, hi := l.Spec.Key(&es[0]).At, l.Spec.Key(&es[0]).At
	for i := range es[1:] {
		at := l.Spec.Key(&es[i+1]).At
		lo, hi = min(lo, at), max(hi, at)
	}
	return Range{Min: bson.DateTime(lo), Max: bson.DateTime(hi)}
}

func (l Log[E, S]) summarize(es []E) S {
	if l.Spec.Summarize == nil {
		var zero S
		return zero
	}
	return l.Spec.Summarize(es)
}

func (l Log[E, S]) covers(recorded, exact S) bool {
	return l.Spec.Covers == nil || l.Spec.Covers(recorded, exact)
}

func (l Log[E, S]) index(es []E, k Key) int {
	for i := range es {
		if l.Spec.Key(&es[i]) == k {
			return i
		}
	}
	return -1
}

// appendOrSet appends e to add, or sets it over the entry of add with its key (a
// write naming one entry twice).
func (l Log[E, S]) appendOrSet(add []E, e E, set func(cur *E, next E) bool) []E {
	if i := l.index(add, l.Spec.Key(&e)); i >= 0 {
		set(&add[i], e)
		return add
	}
	return append(add, e)
}

// sealThenAppend seals the full buckets' worth of the entries h held as read (with
// this write's changes in place), then appends add, and reports whether h is to be
// written (changed: the caller changed entries in place). Sealing before the
// appends makes every writer that read h at one version seal the same entries
// into the same slots, whatever it appends: a replica that lost the head's version
// race to another merges its chunk into the other's bucket slot for slot by key
// and newer state, and never overwrites an entry the winner appended.
func (l Log[E, S]) sealThenAppend(ctx context.Context, h *Head[E, S], add []E, changed bool) (bool, error) {
	if !changed && len(add) == 0 {
		return false, nil
	}
	if err := l.seal(ctx, h); err != nil {
		return false, err
	}
	h.Entries = append(h.Entries, add...)
	return true, nil
}

// seal moves every full bucket's worth of h's inline entries into its bucket
// document (see the contract), leaving h to be written by the caller.
func (l Log[E, S]) seal(ctx context.Context, h *Head[E, S]) error {
	for len(h.Entries) >= l.Spec.Cap {
		chunk := h.Entries[:l.Spec.Cap]
		stored, bver, err := place(ctx, l.St, BucketID(l.ID, h.Open()), bucket[E]{}, 0, chunk, l.replaces, true)
		if err != nil {
			return err
		}
		h.Sealed.Append(Sealed[S]{Range: l.rangeOf(stored), Version: bver, Summary: l.summarize(stored)})
		h.Entries = slices.Clone(h.Entries[l.Spec.Cap:])
	}
	if h.Entries == nil {
		h.Entries = []E{}
	}
	return nil
}

// replaces reports whether a seal puts next into the slot that holds cur: a slot
// holding another entry, or an older state of it.
func (l Log[E, S]) replaces(cur, next *E) bool {
	return l.Spec.Key(cur) != l.Spec.Key(next) || (l.Spec.Newer != nil && l.Spec.Newer(cur, next))
}

// place writes chunk into slots at, at+1, ... of bucket document id, labelled
// as b says (b's entries are ignored), and returns what the bucket holds then and
// its version. A bucket whose chunk starts at slot 0 is new but after a crash or
// a lost race: it is inserted, and merged only when it is there. The merge, under
// the bucket's lock and version predicate, sets a slot the bucket holds to the
// chunk's entry when replace says so (nil: never, entries are immutable), appends
// the slots it does not hold, and with trim drops the slots beyond the chunk; a
// chunk starting past the bucket's last slot leaves a gap, which is an error
// (entries below it are missing).
func place[E any](ctx context.Context, st Storage, id string, b bucket[E], at int, chunk []E, replace func(cur, next *E) bool, trim bool) ([]E, int64, error) {
	if at == 0 {
		unlock, err := st.Lock(ctx, id)
		if err != nil {
			return nil, 0, err
		}
		b.Entries = chunk
		inserted, err := st.Put(ctx, id, &b, 0)
		unlock()
		if err != nil || inserted {
			return chunk, 1, err
		}
	}
	var stored []E
	ver, err := Update(ctx, st, id, func(cur *bucket[E], _ int64) (bool, error) {
		if len(cur.Entries) < at {
			return false, missing(id, len(cur.Entries))
		}
		changed := false
		if trim && len(cur.Entries) > at+len(chunk) {
			cur.Entries, changed = cur.Entries[:at+len(chunk)], true
		}
		for i := range chunk {
			switch j := at + i; {
			case j >= len(cur.Entries):
				cur.Entries, changed = append(cur.Entries, chunk[i]), true
			case replace != nil && replace(&cur.Entries[j], &chunk[i]):
				cur.Entries[j], changed = chunk[i], true
			}
		}
		if changed {
			b.Entries = cur.Entries
			*cur = b
		}
		stored = cur.Entries
		return changed, nil
	})
	return stored, ver, err
}

// Upsert applies es to the log: an entry whose key is there is set in place with
// set (which reports whether it changed cur; nil: entries are never changed), the
// others are appended in order. Full buckets are sealed. Idempotent when set is.
func (l Log[E, S]) Upsert(ctx context.Context, es []E, set func(cur *E, next E) bool) error {
	if len(es) == 0 {
		return nil
	}
	if set == nil {
		set = func(*E, E) bool { return false }
	}
	type pending struct {
		e       E
		k       Key
		buckets []int // sealed buckets whose range holds e, newest first
	}
	for attempt := 0; attempt < Attempts; attempt++ {
		var look []pending
		var recorded []S // the head's summaries, as read
		sealed := 0
		_, err := Update(ctx, l.St, l.ID, func(h *Head[E, S], _ int64) (bool, error) {
			look, sealed, recorded = nil, h.Open(), nil
			defer func() { sealed = h.Open() }() // a bucket sealed now holds none of look
			changed := false
			var add []E
			for j := range es {
				e := es[j]
				k := l.Spec.Key(&es[j])
				if i := l.index(h.Entries, k); i >= 0 {
					changed = set(&h.Entries[i], e) || changed
					continue
				}
				var in []int
				for n := h.Open() - 1; n >= 0; n-- {
					if h.Sealed.Range(n).contains(k.At) {
						in = append(in, n)
					}
				}
				if len(in) > 0 {
					look = append(look, pending{e, k, in}) // look there first, outside this lock
					continue
				}
				add = l.appendOrSet(add, e, set)
			}
			if len(look) > 0 {
				// The records are decoded only by a write that looks in sealed
				// buckets (see Records).
				recs, err := l.Records(h)
				if err != nil {
					return false, err
				}
				for _, rec := range recs {
					recorded = append(recorded, rec.Summary)
				}
			}
			return l.sealThenAppend(ctx, h, add, changed)
		})
		if err != nil || len(look) == 0 {
			return err
		}
		// The sealed buckets that may hold them, newest first, each read and
		// written once for all the entries it may hold.
		var buckets []int
		for _, p := range look {
			for _, n := range p.buckets {
				if !slices.Contains(buckets, n) {
					buckets = append(buckets, n)
				}
			}
		}
		slices.SortFunc(buckets, func(a, b int) int { return b - a })
		found := map[Key]bool{}
		for _, n := range buckets {
			var in []E
			for _, p := range look {
				if !found[p.k] && slices.Contains(p.buckets, n) {
					in = append(in, p.e)
				}
			}
			if len(in) == 0 {
				continue
			}
			hit, err := l.setInBucket(ctx, n, in, set, recorded[n])
			if err != nil {
				return err
			}
			for _, k := range hit {
				found[k] = true
			}
		}
		var missing []E
		for _, p := range look {
			if !found[p.k] {
				missing = append(missing, p.e)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		// In no sealed bucket: append them, unless a seal since moved things (then
		// look again).
		_, err = Update(ctx, l.St, l.ID, func(h *Head[E, S], _ int64) (bool, error) {
			if h.Open() != sealed {
				return false, errSealed
			}
			changed := false
			var add []E
			for j := range missing {
				if i := l.index(h.Entries, l.Spec.Key(&missing[j])); i >= 0 {
					changed = set(&h.Entries[i], missing[j]) || changed
					continue
				}
				add = l.appendOrSet(add, missing[j], set)
			}
			return l.sealThenAppend(ctx, h, add, changed)
		})
		if !errors.Is(err, errSealed) {
			return err
		}
	}
	return model.Errorf(model.KindConflict, "%s is being written concurrently", l.ID)
}

var errSealed = errors.New("a bucket was sealed under the writer")

// setInBucket sets those of es that are in sealed bucket n (one write of the
// bucket, when that changes it) and returns their keys. Then, when its write
// moved the bucket's summary, or when recorded (the head's summary of the bucket as the caller read
// it) does not cover the bucket's summary (a writer stopped between a bucket and
// the head: its replay changes no entry), it brings the head's record up to date
// (recordBucket).
func (l Log[E, S]) setInBucket(ctx context.Context, n int, es []E, set func(cur *E, next E) bool, recorded S) ([]Key, error) {
	var hit []Key
	var exact S
	moved := false // this write changed the bucket beyond what its summary covered
	_, err := Update(ctx, l.St, BucketID(l.ID, n), func(b *bucket[E], ver int64) (bool, error) {
		hit, moved = nil, false
		if ver == 0 {
			return false, nil
		}
		before := l.summarize(b.Entries)
		changed := false
		for j := range es {
			k := l.Spec.Key(&es[j])
			if i := l.index(b.Entries, k); i >= 0 {
				hit = append(hit, k)
				changed = set(&b.Entries[i], es[j]) || changed
			}
		}
		if len(hit) > 0 {
			exact = l.summarize(b.Entries)
			moved = changed && !l.covers(before, exact)
		}
		return changed, nil
	})
	// A write its bucket's summary before it still covers makes no record stale
	// (the writer that moved the summary records it): the head is read only for
	// a write that moved it, or a record that does not cover the bucket (its
	// writer stopped before the head).
	if err != nil || len(hit) == 0 || (!moved && l.covers(recorded, exact)) {
		return hit, err
	}
	return hit, l.recordBucket(ctx, n)
}

// recordBucket brings the head's record of sealed bucket n up to date: under the
// head's lock (and its version predicate) it reads the bucket as it is now and
// writes its summary when the record neither comes from that bucket version or a
// later one nor covers it. Every writer of a bucket calls it after its write, so
// the last call reads the last write: concurrent writers, here or on another
// replica, cannot leave a record older than the bucket it describes.
func (l Log[E, S]) recordBucket(ctx context.Context, n int) error {
	_, err := Update(ctx, l.St, l.ID, func(h *Head[E, S], _ int64) (bool, error) {
		if n >= h.Open() {
			return false, nil
		}
		var b bucket[E]
		bver, err := l.St.Get(ctx, BucketID(l.ID, n), &b)
		if err != nil || bver == 0 {
			return false, err
		}
		rec, err := h.Sealed.At(n)
		if err != nil {
			return false, l.damaged(err)
		}
		exact := l.summarize(b.Entries)
		if rec.Version >= bver || l.covers(rec.Summary, exact) {
			return false, nil
		}
		next := *rec
		next.Version, next.Summary = bver, exact
		return true, h.Sealed.Set(n, next)
	})
	return err
}

// ErrBusy is returned by Bulk when the log changed during it.
var ErrBusy = errors.New("log changed during a bulk write")

// Bulk appends es (known not to be in the log) in a few writes, laying the open
// bucket and es out again in key order: full buckets are written sealed, the rest
// stays inline. With replace, the log's previous content is dropped first. Nothing
// else may write to the log meanwhile (ErrBusy).
func (l Log[E, S]) Bulk(ctx context.Context, es []E, replace bool) error {
	var old struct {
		Entries []bson.RawValue `bson:"entries"`
		Sealed  []bson.RawValue `bson:"sealed"`
	}
	ver, err := l.St.Get(ctx, l.ID, &old)
	if err != nil {
		return err
	}
	if replace {
		// The buckets a seal of the head's entries would write too: one that never
		// reached the head may have left them.
		for n := 0; n <= len(old.Sealed)+len(old.Entries)/l.Spec.Cap; n++ {
			if err := l.St.Delete(ctx, BucketID(l.ID, n)); err != nil {
				return err
			}
		}
		if ver > 0 {
			if err := l.St.Delete(ctx, l.ID); err != nil {
				return err
			}
			ver = 0
		}
	}
	if len(es) == 0 && !replace {
		return nil
	}
	_, err = Update(ctx, l.St, l.ID, func(h *Head[E, S], v int64) (bool, error) {
		if v != ver {
			return false, ErrBusy
		}
		all := append(slices.Clone(h.Entries), es...)
		keyed := make([]Placed[E], len(all))
		for i := range all {
			keyed[i] = Placed[E]{Entry: all[i], key: l.Spec.Key(&all[i])}
		}
		slices.SortStableFunc(keyed, func(a, b Placed[E]) int { return a.key.Compare(b.key) })
		for i := range keyed {
			all[i] = keyed[i].Entry
		}
		h.Entries = all
		return true, l.seal(ctx, h)
	})
	return err
}

// Placed is an entry as a reader found it: in bucket Bucket at index Index (its
// sequence number is Bucket*cap+Index).
type Placed[E any] struct {
	Entry         E
	Bucket, Index int
	key           Key
}

// Iter yields a log's entries newest first by key, strictly below a key when
// set: the open bucket's entries merged with the sealed buckets, each read only
// when its range may hold the next entry.
type Iter[E, S any] struct {
	l       Log[E, S]
	pending []Placed[E] // read, not yet yielded, newest first
	unread  []int       // sealed bucket numbers, by range max, newest first
	ranges  map[int]Range
	err     error // reading the head's records failed
	load    func(n int) ([]E, error)
	keep    func(*E) bool
	below   *Key
}

// Newest returns an iterator over the log as h holds it. skip, when set, tells
// the sealed buckets (by their record) that hold nothing the reader wants; keep,
// when set, the entries it wants; load reads bucket n (nil: Bucket).
func (l Log[E, S]) Newest(ctx context.Context, h *Head[E, S], below *Key, skip func(*Sealed[S]) bool, keep func(*E) bool, load func(n int) ([]E, error)) *Iter[E, S] {
	if load == nil {
		load = func(n int) ([]E, error) { return l.BucketOf(ctx, h, n) }
	}
	it := &Iter[E, S]{l: l, ranges: map[int]Range{}, load: load, keep: keep, below: below}
	it.add(h.Entries, h.Open())
	var recs []Sealed[S]
	if skip != nil {
		if recs, it.err = l.Records(h); it.err != nil {
			return it
		}
	}
	for n := range h.Open() {
		r := h.Sealed.Range(n)
		if (below != nil && int64(r.Min) > below.At) || (skip != nil && skip(&recs[n])) {
			continue // every entry of bucket n is newer than the cursor, or unwanted
		}
		it.unread = append(it.unread, n)
		it.ranges[n] = r
	}
	slices.SortStableFunc(it.unread, func(a, b int) int { return cmp.Compare(it.ranges[b].Max, it.ranges[a].Max) })
	return it
}

func (it *Iter[E, S]) add(es []E, n int) {
	for i := range es {
		if (it.below == nil || it.l.Spec.Key(&es[i]).Compare(*it.below) < 0) && (it.keep == nil || it.keep(&es[i])) {
			it.pending = append(it.pending, Placed[E]{es[i], n, i, it.l.Spec.Key(&es[i])})
		}
	}
	slices.SortStableFunc(it.pending, func(a, b Placed[E]) int { return b.key.Compare(a.key) })
}

// Next returns the next entry (false: none is left).
func (it *Iter[E, S]) Next() (Placed[E], bool, error) {
	if it.err != nil {
		return Placed[E]{}, false, it.err
	}
	for len(it.unread) > 0 {
		n := it.unread[0]
		if len(it.pending) > 0 && it.pending[0].key.At > int64(it.ranges[n].Max) {
			break
		}
		es, err := it.load(n)
		if err != nil {
			return Placed[E]{}, false, err
		}
		it.unread = it.unread[1:]
		it.add(es, n)
	}
	if len(it.pending) == 0 {
		return Placed[E]{}, false, nil
	}
	p := it.pending[0]
	it.pending = it.pending[1:]
	return p, true, nil
}

// ---------------------------------------------------------------------------------
// Trails: logs headed by their owner's document.

// TrailSpec describes a kind of trail (see the contract).
type TrailSpec struct {
	// Name is the trail's name: its owner's field for it, and the middle part
	// of its bucket ids.
	Name string
	// Keep is how many entries at least stay inline after a move (>= 1: the entry
	// a write appends is committed with the owner, never written elsewhere first).
	Keep int
	// Step: moves take a multiple of Step entries; it divides Cap.
	Step int
	// Cap is the number of entries per bucket; it never changes for a trail.
	Cap int
}

// Plan returns how many of n inline entries, the first at sequence number from,
// a write moves out of the owner: none while fewer than Keep+Step are inline,
// else enough to leave between Keep and Keep+Step-1, so that from advances by
// multiples of Step (with Step == Cap each move fills one new bucket).
func (sp *TrailSpec) Plan(from, n int) int {
	if n < sp.Keep+sp.Step {
		return 0
	}
	to := (from + n - sp.Keep) / sp.Step * sp.Step
	return max(0, to-from)
}

// Trail is the trail of kind Spec of the owner document Owner, its buckets
// stored in St.
type Trail[E any] struct {
	Spec  *TrailSpec
	St    Storage
	Owner string
}

// BucketID is the _id of the trail's bucket n: BucketID of "<owner>:<name>".
func (t Trail[E]) BucketID(n int) string { return BucketID(t.Owner+":"+t.Spec.Name, n) }

// Spill writes moved, the entries from sequence number from on that the owner
// is about to let go of, into their buckets (see the contract): before the
// owner's write, which then holds the entries after them and from+len(moved).
// Idempotent: a replay, or another writer that read the owner at the same
// version, writes the same entries into the same slots.
func (t Trail[E]) Spill(ctx context.Context, from int, moved []E) error {
	c := t.Spec.Cap
	for i := 0; i < len(moved); {
		n := (from + i) / c
		end := min(len(moved), (n+1)*c-from)
		first := n * c
		b := bucket[E]{Owner: t.Owner, Trail: t.Spec.Name, First: &first}
		if _, _, err := place(ctx, t.St, t.BucketID(n), b, from+i-first, moved[i:end], nil, false); err != nil {
			return err
		}
		i = end
	}
	return nil
}

// readConcurrency bounds the parallel bucket reads of one trail read.
const readConcurrency = 4

// Entries returns the trail's entries [lo, hi), oldest first, from its buckets:
// hi is at most the owner's from (as read by the caller, or earlier: buckets hold
// every entry below the stored from, which only grows). They are read by _id, a
// few at a time; a missing one is an error. Slots beyond what the owner let go of
// (a spill whose owner write did not land) are never read.
func (t Trail[E]) Entries(ctx context.Context, lo, hi int) ([]E, error) {
	lo = max(lo, 0)
	if lo >= hi {
		return []E{}, nil
	}
	c := t.Spec.Cap
	first := lo / c
	buckets := make([][]E, (hi-1)/c-first+1)
	var g errgroup.Group
	g.SetLimit(readConcurrency)
	for i := range buckets {
		g.Go(func() error {
			var b bucket[E]
			_, err := t.St.Get(ctx, t.BucketID(first+i), &b)
			buckets[i] = b.Entries
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make([]E, 0, hi-lo)
	for i, es := range buckets {
		n := first + i
		from, to := max(lo, n*c)-n*c, min(hi, (n+1)*c)-n*c
		if len(es) < to {
			return nil, missing(t.BucketID(n), len(es))
		}
		out = append(out, es[from:to]...)
	}
	return out, nil
}

// ReadTrail returns the entries [lo, hi) of trail t, oldest first, given the part
// its owner holds: inline, whose first entry has sequence number from (the owner
// as read, or any later state of it). Those below from come from the buckets
// (Entries), converted with conv, the rest from inline.
func ReadTrail[M, E any](ctx context.Context, t Trail[E], from int, inline []M, lo, hi int, conv func(E) M) ([]M, error) {
	lo, hi = max(lo, 0), min(hi, from+len(inline))
	if lo >= hi {
		return []M{}, nil
	}
	out := make([]M, 0, hi-lo)
	if lo < from {
		older, err := t.Entries(ctx, lo, min(hi, from))
		if err != nil {
			return nil, err
		}
		for _, e := range older {
			out = append(out, conv(e))
		}
	}
	if hi > from {
		out = append(out, inline[max(lo, from)-from:hi-from]...)
	}
	return out, nil
}

// missing is the error of bucket id holding only its first n slots where more
// are expected (entries the owner let go of are lost).
func missing(id string, n int) error {
	return &model.Error{Kind: model.KindInternal, Message: "database error", Err: fmt.Errorf("bucket %s misses slot %d", id, n)}
}
