package store

// Embedded trails: append-only logs that live in an owner document (an artifact's
// audit events and promotions, a policy's changes) and stay bounded there whatever
// their length. They are bucketlog trails (store/internal/bucketlog, whose contract
// says how they are laid out, spilled and read): the owner holds the newest entries
// inline in its array field <name> and in <name>Overflow the number `from` of those
// moved out; the older ones are in the "overflow" collection, bucket n of a trail
// being document "<owner>:<name>#<n>":
//
//	{_id, version, owner, trail: <name>, first: n*cap, entries: [...]}
//
// entry i holding sequence number first+i, each in the owner's own stored form
// (plain field names, readable in mongosh). This file holds the kinds of trail,
// the collection as bucketlog.Storage and the migration of the layout before it.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/store/internal/bucketlog"
)

// overflowCollection holds the buckets of every embedded trail.
const overflowCollection = "overflow"

// The trails. The audit trail's inline part bounds what every read and write of an
// artifact decodes (the embedded engine's cost grows with each value it decodes):
// 8 to 15 events, moved 8 at a time into buckets of 8. Promotions are smaller. A
// policy keeps only the change that made its current version, so its trail moves
// one change per write into buckets of 32, filled in place.
var (
	auditTrail     = &bucketlog.TrailSpec{Name: "audit", Keep: 8, Step: 8, Cap: 8}
	promotionTrail = &bucketlog.TrailSpec{Name: "promotions", Keep: 8, Step: 16, Cap: 16}
	policyTrail    = &bucketlog.TrailSpec{Name: "changes", Keep: 1, Step: 1, Cap: 32}
)

// trailOf is owner's trail of kind sp, its entries stored as E.
func trailOf[E any](s *Store, sp *bucketlog.TrailSpec, owner string) bucketlog.Trail[E] {
	return bucketlog.Trail[E]{Spec: sp, St: overflowStore{s}, Owner: owner}
}

// overflowStore is the overflow collection as bucketlog.Storage: a document is
// {_id, version, <the payload's fields>}, plain BSON on either engine (buckets are
// read far less often than artifacts, and only a few at a time).
type overflowStore struct{ s *Store }

func (o overflowStore) Lock(ctx context.Context, id string) (func(), error) {
	return o.s.lockDoc(ctx, overflowCollection, id)
}

func (o overflowStore) Get(ctx context.Context, id string, into any) (int64, error) {
	raw, err := o.s.overflow.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, mapErr(err, "get overflow")
	}
	ver, ok := raw.Lookup("version").AsInt64OK()
	if !ok || ver < 1 {
		return 0, &model.Error{Kind: model.KindInternal, Message: "database error", Err: fmt.Errorf("overflow document %s has no version (a layout before schema %d)", id, overflowSchema)}
	}
	if err := bson.Unmarshal(raw, into); err != nil {
		return 0, &model.Error{Kind: model.KindInternal, Message: "database error", Err: fmt.Errorf("decode overflow %s: %w", id, err)}
	}
	return ver, nil
}

// Put writes payload as document id at version ver+1 if its version is ver (0:
// absent). The caller holds the document's lock (bucketlog.Update); on the
// embedded engine that makes the write atomic and the filter must be exactly
// {_id} to use the SQLite index, on MongoDB the version predicate does.
func (o overflowStore) Put(ctx context.Context, id string, payload any, ver int64) (bool, error) {
	raw, err := bson.Marshal(payload)
	if err != nil {
		return false, &model.Error{Kind: model.KindInternal, Message: "database error", Err: fmt.Errorf("encode overflow %s: %w", id, err)}
	}
	elems, err := bson.Raw(raw).Elements()
	if err != nil {
		return false, &model.Error{Kind: model.KindInternal, Message: "database error", Err: fmt.Errorf("encode overflow %s: %w", id, err)}
	}
	doc := make(bson.D, 0, len(elems)+2)
	doc = append(doc, bson.E{Key: "_id", Value: id}, bson.E{Key: "version", Value: ver + 1})
	for _, e := range elems {
		doc = append(doc, bson.E{Key: e.Key(), Value: e.Value()})
	}
	if ver == 0 {
		_, err := o.s.overflow.InsertOne(ctx, doc)
		if mongo.IsDuplicateKeyError(err) {
			return false, nil
		}
		return err == nil, mapErr(err, "insert overflow")
	}
	filter := bson.D{{Key: "_id", Value: id}}
	if !o.s.Exclusive() {
		filter = append(filter, bson.E{Key: "version", Value: ver})
	}
	res, err := o.s.overflow.ReplaceOne(ctx, filter, doc)
	if err != nil {
		return false, mapErr(err, "write overflow")
	}
	return res.MatchedCount == 1, nil
}

func (o overflowStore) Delete(ctx context.Context, id string) error {
	_, err := o.s.overflow.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	return mapErr(err, "delete overflow")
}

// ---------------------------------------------------------------------------------
// The layout before schema 2.
//
// Until overflowSchema 2 a trail kept its own mechanism: document n of owner's
// trail <name> was "<owner>:<name>:<n>", {owner, trail, first, entries: [{seq,
// <the entry's fields>}]}, without a version, written with $addToSet upserts (so
// it could hold an entry twice, or a surplus beyond the owner's from). The owners'
// fields (<name>Overflow) and the sequence numbers are the same in both layouts:
// only the buckets move. Open moves every old document into its bucket and then
// deletes it (migrateOverflow); meta:overflow records that it is done.

// overflowSchema is the layout of the overflow collection.
const overflowSchema = 2

// overflowMetaID is the overflow collection's record of its layout.
const overflowMetaID = "meta:overflow"

type overflowMeta struct {
	Schema int `bson:"schema"`
}

// legacyOverflow is a document of the layout before schema 2.
type legacyOverflow struct {
	ID      string     `bson:"_id"`
	Owner   string     `bson:"owner"`
	Trail   string     `bson:"trail"`
	First   int        `bson:"first"`
	Entries []bson.Raw `bson:"entries"`
}

// migrateOverflow moves the documents of the old layout into their buckets, once
// (meta:overflow). Each is copied into its bucket (bucketlog.Trail.Spill: an
// insert, or a merge that keeps the slots the bucket holds) and only then deleted,
// so a crash anywhere leaves every entry readable and the next Open finishes the
// move without copying anything twice. It scans the collection once (O(collection)
// on the embedded engine), when the record is missing or older; documents it
// cannot move leave the record unwritten, so every start tries them again.
func (s *Store) migrateOverflow(ctx context.Context) error {
	st := overflowStore{s}
	var meta overflowMeta
	if _, err := st.Get(ctx, overflowMetaID, &meta); err != nil || meta.Schema >= overflowSchema {
		return err
	}
	start := time.Now()
	cur, err := s.overflow.Find(ctx, bson.D{{Key: "version", Value: bson.D{{Key: "$exists", Value: false}}}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return mapErr(err, "find old overflow")
	}
	var ids []string
	for cur.Next(ctx) {
		id, ok := cur.Current.Lookup("_id").StringValueOK()
		if ok {
			ids = append(ids, id)
		}
	}
	if err := cur.Err(); err != nil {
		_ = cur.Close(ctx)
		return mapErr(err, "find old overflow")
	}
	_ = cur.Close(ctx)
	var kept []string
	for _, id := range ids {
		done, err := s.migrateLegacyOverflow(ctx, id)
		if err != nil {
			return fmt.Errorf("migrate overflow document %s: %w", id, err)
		}
		if !done {
			kept = append(kept, id)
		}
	}
	if len(kept) > 0 {
		// Their entries stay where they are and the move is not recorded as done:
		// the next start tries them again, after an operator repaired or removed
		// them. Until then their owners' trails cannot be read past them.
		s.log.WithFields(map[string]any{"documents": len(kept), "ids": kept[:min(len(kept), 20)]}).
			Error("overflow documents of the old layout could not be moved (an entry missing or unreadable, or an unknown trail); they are kept and tried again at the next start")
		return nil
	}
	if _, err := bucketlog.Update(ctx, st, overflowMetaID, func(m *overflowMeta, _ int64) (bool, error) {
		m.Schema = overflowSchema
		return true, nil
	}); err != nil {
		return err
	}
	if len(ids) > 0 {
		s.log.WithFields(map[string]any{"documents": len(ids), "took": time.Since(start).Round(time.Millisecond).String()}).Info("overflow documents moved to the bucket layout")
	}
	return nil
}

// legacyTrails are the kinds of trail by name.
var legacyTrails = map[string]*bucketlog.TrailSpec{auditTrail.Name: auditTrail, promotionTrail.Name: promotionTrail, policyTrail.Name: policyTrail}

// migrateLegacyOverflow moves old document id into its bucket and deletes it, and
// reports whether it did: a document whose entries do not run without a gap from
// its first sequence number, one with an entry that cannot be read, or one of an
// unknown trail, is left as it is.
func (s *Store) migrateLegacyOverflow(ctx context.Context, id string) (bool, error) {
	var d legacyOverflow
	err := s.overflow.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return true, nil
	}
	if err != nil {
		return false, mapErr(err, "get old overflow")
	}
	sp := legacyTrails[d.Trail]
	if sp == nil || d.First%sp.Cap != 0 {
		return false, nil
	}
	type seqEntry struct {
		seq int
		e   bson.D
	}
	var es []seqEntry
	for _, raw := range d.Entries {
		var e bson.D
		if err := bson.Unmarshal(raw, &e); err != nil {
			return false, nil
		}
		seq, ok := raw.Lookup("seq").AsInt64OK()
		if !ok {
			return false, nil
		}
		e = slices.DeleteFunc(e, func(x bson.E) bool { return x.Key == "seq" })
		es = append(es, seqEntry{int(seq), e})
	}
	slices.SortStableFunc(es, func(a, b seqEntry) int { return a.seq - b.seq })
	var run []bson.D // the entries from first on, each once
	for _, e := range es {
		switch next := d.First + len(run); {
		case e.seq < next: // a copy $addToSet did not recognize
		case e.seq == next && e.seq < d.First+sp.Cap:
			run = append(run, e.e)
		default:
			return false, nil // a gap, or an entry of another document
		}
	}
	if len(run) > 0 {
		if err := trailOf[bson.D](s, sp, d.Owner).Spill(ctx, d.First, run); err != nil {
			return false, err
		}
	}
	return true, overflowStore{s}.Delete(ctx, id)
}
