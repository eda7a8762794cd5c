package store

// Embedded trails: append-only logs that live in an owner document (an artifact's
// audit events and promotions, a policy's changes) and stay bounded there whatever
// their length. One mechanism serves all three: a trailSpec and the functions of
// this file, which nothing else uses to reach the overflow documents (they need
// only the overflow collection, so they can move to a package of their own).
//
// Contract:
//
//   - Every entry has a sequence number, its position in the log from 0. An entry
//     never changes once it is written.
//   - The owner document holds the newest entries inline, oldest first, in its array
//     field <name>, and in <name>Overflow the number `from` of older entries (absent:
//     0). Inline entry i has sequence number from+i.
//   - The older entries live in the "overflow" collection, `bucket` per document:
//     document n, _id "<owner>:<name>:<n>", holds entries n*bucket to (n+1)*bucket-1
//     as {seq, <the entry's own fields>} (plus owner, trail and first, for people
//     reading it in mongosh). The address depends on sequence numbers only, so
//     writing an entry again (a retry, a replay, a writer that lost a race) writes
//     the same slot, and the write ($addToSet, upsert) is idempotent.
//   - A write that appends to the owner asks plan how many of the oldest inline
//     entries to move: once keep+step entries are inline, enough to leave between
//     keep and keep+step-1, so `from` advances by multiples of step (step divides
//     bucket, so with step == bucket each move fills one new document). It writes the
//     moved entries to their overflow documents first (spill), then the owner, with
//     its version predicate, holding the remaining entries and the new `from`.
//   - A crash or an error between the two leaves overflow documents holding entries
//     the owner still holds inline (sequence >= from): readers take those from the
//     owner only, and the next spill writes them to the same slots again. An owner
//     write that loses its version race leaves the same harmless surplus. Only
//     entries the owner held when it was read are moved, and those are committed and
//     never change, so two writers never put different entries into one slot;
//     readers still drop duplicates by sequence number.
//   - Readers (readTrail) read the owner, then only the overflow documents of the
//     range they need, each by _id, in parallel (a few at a time).
//   - A trail's bucket size never changes: addresses depend on it.
//
// Without transactions this keeps every entry: it is in the owner or, before the
// owner lets go of it, in its overflow document. On the embedded engine the owner's
// writers are serialized in the process; across MongoDB replicas by the version
// predicate.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/artifact-trust/control-plane/model"
)

// overflowCollection holds the older entries of every embedded trail.
const overflowCollection = "overflow"

// trailSpec describes one kind of embedded trail.
type trailSpec struct {
	// name is the owner's array field and the middle part of overflow ids.
	name string
	// keep is how many entries at least stay inline after a move (>= 1: the entry
	// a write appends is committed with the owner, never written elsewhere first).
	keep int
	// step: moves take a multiple of step entries; it divides bucket.
	step int
	// bucket is the number of entries per overflow document.
	bucket int
}

// The trails. The audit trail's inline part bounds what every read and write of an
// artifact decodes (the embedded engine's cost grows with each value it decodes):
// 8 to 15 events, moved 8 at a time into documents of 8. Promotions are smaller.
// A policy keeps only the change that made its current version.
var (
	auditTrail     = trailSpec{name: "audit", keep: 8, step: 8, bucket: 8}
	promotionTrail = trailSpec{name: "promotions", keep: 8, step: 16, bucket: 16}
	policyTrail    = trailSpec{name: "changes", keep: 1, step: 1, bucket: 32}
)

// overflowID is the _id of overflow document n of owner's trail.
func (sp trailSpec) overflowID(owner string, n int) string {
	return owner + ":" + sp.name + ":" + strconv.Itoa(n)
}

// plan returns how many of n inline entries (the first at sequence from) a write
// moves to overflow documents.
func (sp trailSpec) plan(from, n int) int {
	if n < sp.keep+sp.step {
		return 0
	}
	to := (from + n - sp.keep) / sp.step * sp.step
	return max(0, to-from)
}

// overflowEntry is one stored entry: its sequence number and its own fields.
type overflowEntry[E any] struct {
	Seq   int `bson:"seq"`
	Entry E   `bson:",inline"`
}

type overflowDoc[E any] struct {
	ID      string             `bson:"_id"`
	Owner   string             `bson:"owner"`
	Trail   string             `bson:"trail"`
	First   int                `bson:"first"`
	Entries []overflowEntry[E] `bson:"entries"`
}

// spill writes moved, the entries from sequence number from on, to their overflow
// documents of owner's trail. fresh says the owner is new (its documents are
// expected not to exist: they are inserted in batches, falling back to the
// idempotent per-document write where one exists).
func spill[E any](ctx context.Context, coll *mongo.Collection, sp trailSpec, owner string, from int, moved []E, fresh bool) error {
	var docs []overflowDoc[E]
	for i := 0; i < len(moved); {
		n := (from + i) / sp.bucket
		end := min(len(moved), (n+1)*sp.bucket-from)
		d := overflowDoc[E]{ID: sp.overflowID(owner, n), Owner: owner, Trail: sp.name, First: n * sp.bucket}
		for j := i; j < end; j++ {
			d.Entries = append(d.Entries, overflowEntry[E]{Seq: from + j, Entry: moved[j]})
		}
		docs = append(docs, d)
		i = end
	}
	if fresh && len(docs) > 1 {
		const batch = 100
		for len(docs) > 0 {
			part := docs[:min(batch, len(docs))]
			docs = docs[len(part):]
			_, err := coll.InsertMany(ctx, part, options.InsertMany().SetOrdered(false))
			if err == nil {
				continue
			}
			if !mongo.IsDuplicateKeyError(err) {
				return mapErr(err, "insert overflow")
			}
			for _, d := range part {
				if err := addOverflow(ctx, coll, d); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, d := range docs {
		if err := addOverflow(ctx, coll, d); err != nil {
			return err
		}
	}
	return nil
}

// addOverflow adds d's entries to its document, creating it when needed.
func addOverflow[E any](ctx context.Context, coll *mongo.Collection, d overflowDoc[E]) error {
	update := bson.D{
		{Key: "$setOnInsert", Value: bson.D{{Key: "owner", Value: d.Owner}, {Key: "trail", Value: d.Trail}, {Key: "first", Value: d.First}}},
		{Key: "$addToSet", Value: bson.D{{Key: "entries", Value: bson.D{{Key: "$each", Value: d.Entries}}}}},
	}
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		// Two upserts of a missing document may race on MongoDB: the loser gets a
		// duplicate key error and succeeds as an update the second time.
		_, err = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: d.ID}}, update, options.UpdateOne().SetUpsert(true))
		if !mongo.IsDuplicateKeyError(err) {
			break
		}
	}
	return mapErr(err, "write overflow")
}

// readTrail returns the entries with sequence numbers in [lo, hi) of owner's trail,
// oldest first, given the part of it the caller holds: window, whose first entry
// has sequence number from (the owner's inline entries, or any later state of the
// owner: the overflow documents hold every entry below the stored from, which only
// grows). Entries below from come from the overflow documents that hold them, read
// by _id a few at a time and converted with conv; the rest from window.
func readTrail[M, E any](ctx context.Context, coll *mongo.Collection, sp trailSpec, owner string, from int, window []M, lo, hi int, conv func(E) M) ([]M, error) {
	lo, hi = max(lo, 0), min(hi, from+len(window))
	if lo >= hi {
		return []M{}, nil
	}
	out := make([]M, 0, hi-lo)
	if lo < from {
		older, err := readOverflow[E](ctx, coll, sp, owner, lo, min(hi, from))
		if err != nil {
			return nil, err
		}
		for _, e := range older {
			out = append(out, conv(e))
		}
	}
	if hi > from {
		out = append(out, window[max(lo, from)-from:hi-from]...)
	}
	return out, nil
}

// readOverflow returns the entries [lo, hi) of owner's trail from its overflow
// documents, oldest first; every one of them must be there (hi <= the owner's
// stored from). A missing entry is an internal error.
func readOverflow[E any](ctx context.Context, coll *mongo.Collection, sp trailSpec, owner string, lo, hi int) ([]E, error) {
	first, last := lo/sp.bucket, (hi-1)/sp.bucket
	docs := make([][]overflowEntry[E], last-first+1)
	errs := make([]error, len(docs))
	concurrently(len(docs), loadConcurrency, func(i int) {
		docs[i], errs[i] = loadOverflow[E](ctx, coll, sp.overflowID(owner, first+i))
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := make([]E, 0, hi-lo)
	next := lo
	for i, es := range docs {
		sort.SliceStable(es, func(a, b int) bool { return es[a].Seq < es[b].Seq })
		for _, e := range es {
			switch {
			case e.Seq < next || e.Seq >= hi:
				// A duplicate, outside the range, or a surplus copy of an entry the
				// owner still holds.
			case e.Seq > next:
				return nil, missingOverflow(sp.overflowID(owner, first+i), next)
			default:
				out = append(out, e.Entry)
				next++
			}
		}
	}
	if next < hi {
		return nil, missingOverflow(sp.overflowID(owner, next/sp.bucket), next)
	}
	return out, nil
}

func missingOverflow(id string, seq int) error {
	return &model.Error{Kind: model.KindInternal, Message: "database error", Err: fmt.Errorf("overflow document %s misses entry %d", id, seq)}
}

// loadOverflow reads overflow document id's entries; a missing document reads as
// empty (readTrail reports what is missing).
func loadOverflow[E any](ctx context.Context, coll *mongo.Collection, id string) ([]overflowEntry[E], error) {
	var d overflowDoc[E]
	err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, mapErr(err, "get overflow")
	}
	return d.Entries, nil
}
