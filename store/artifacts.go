package store

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/store/internal/bucketlog"
)

// InsertArtifact stores a new artifact as version 1 (a.Version is set to 1). An
// existing artifact with the same id or (project, digest) is model.KindConflict.
// The write goes through the outbox and then updates the projections (see
// projections.go). An artifact inserted with a long history (imports, seeding) is
// laid out as the write path would have left it: the older entries of its trails
// go to their buckets first (trail.go).
func (s *Store) InsertArtifact(ctx context.Context, a *model.Artifact) error {
	if a == nil || a.ID == "" {
		return &model.Error{Kind: model.KindInternal, Message: "store: InsertArtifact needs an artifact with an id"}
	}
	conflict := func(err error) error {
		return &model.Error{Kind: model.KindConflict, Message: fmt.Sprintf("artifact %s is already registered in project %s", a.Digest, a.Project), Err: err}
	}
	if auditTrail.Plan(a.AuditFrom, len(a.Audit)) > 0 || promotionTrail.Plan(a.PromotionsFrom, len(a.Promotions)) > 0 {
		// Trail buckets are addressed by the artifact's id: never write into those
		// of an artifact that exists.
		switch _, err := s.GetArtifact(ctx, a.ID); {
		case err == nil:
			return conflict(nil)
		case !model.IsKind(err, model.KindNotFound):
			return err
		}
	}
	outboxID, err := s.openOutbox(ctx, a, 1, a.AuditFrom, a.PromotionsFrom)
	if err != nil {
		return err
	}
	doc, err := s.layOut(ctx, a, a.AuditLen(), a.PromotionsLen())
	if err != nil {
		s.closeOutbox(ctx, outboxID)
		return err
	}
	doc.Version = 1
	_, err = s.artifacts.InsertOne(ctx, doc)
	s.artifactWritten(a.ID)
	if err != nil {
		if mongo.IsDuplicateKeyError(err) {
			s.closeOutbox(ctx, outboxID)
			return conflict(err)
		}
		return mapErr(err, "insert artifact") // it may have landed: the outbox entry stays
	}
	a.Version = 1
	if s.crashAfterWrite != nil && s.crashAfterWrite(a) {
		return nil
	}
	s.project(ctx, a, a.AuditFrom, a.PromotionsFrom, outboxID)
	return nil
}

// layOut returns the document that stores a: its trails bounded as trail.go
// describes. The entries it moves out of the document, among the first
// auditCommitted audit events and promotionsCommitted promotions (by sequence
// number: those already stored, or all of a new artifact), are written to their
// buckets before it returns (bucketlog.Trail.Spill).
func (s *Store) layOut(ctx context.Context, a *model.Artifact, auditCommitted, promotionsCommitted int) (artifactDoc, error) {
	doc := toArtifactDoc(a)
	for i := 1; i < len(a.Audit); i++ {
		doc.AuditUnordered = doc.AuditUnordered || a.Audit[i].At.Before(a.Audit[i-1].At)
	}
	if k := min(auditTrail.Plan(a.AuditFrom, len(doc.Audit)), auditCommitted-a.AuditFrom); k > 0 {
		if err := trailOf[auditDoc](s, auditTrail, a.ID).Spill(ctx, a.AuditFrom, doc.Audit[:k]); err != nil {
			return doc, err
		}
		doc.Audit, doc.AuditOverflow = doc.Audit[k:], a.AuditFrom+k
	}
	if k := min(promotionTrail.Plan(a.PromotionsFrom, len(doc.Promotions)), promotionsCommitted-a.PromotionsFrom); k > 0 {
		if err := trailOf[promotionDoc](s, promotionTrail, a.ID).Spill(ctx, a.PromotionsFrom, doc.Promotions[:k]); err != nil {
			return doc, err
		}
		doc.Promotions, doc.PromotionsOverflow = doc.Promotions[k:], a.PromotionsFrom+k
	}
	// The newest promotion of every (channel, environment) stays with the
	// artifact: inline, or else in promotionTargets.
	inline := a.Promotions[doc.PromotionsOverflow-a.PromotionsFrom:]
	doc.PromotionTargets = nil
	for _, p := range a.NewestPromotions() {
		if !slices.ContainsFunc(inline, func(q model.Promotion) bool { return samePromotion(p, q) }) {
			doc.PromotionTargets = append(doc.PromotionTargets, toPromotionDoc(p))
		}
	}
	return doc, nil
}

func samePromotion(p, q model.Promotion) bool {
	return p.Channel == q.Channel && p.TargetEnvironment == q.TargetEnvironment && p.PromotedAt.Equal(q.PromotedAt) &&
		p.PromotedBy == q.PromotedBy && p.CorrelationID == q.CorrelationID && p.Reason == q.Reason
}

// GetArtifact loads one artifact by id.
func (s *Store) GetArtifact(ctx context.Context, id string) (*model.Artifact, error) {
	d, err := s.getArtifactDoc(ctx, id)
	if err != nil {
		return nil, err
	}
	return d.model(), nil
}

func (s *Store) getArtifactDoc(ctx context.Context, id string) (*artifactDoc, error) {
	var d artifactDoc
	raw, err := s.findCached(ctx, s.artifacts, id)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, &model.Error{Kind: model.KindNotFound, Message: fmt.Sprintf("artifact %s not found", id), Err: err}
	}
	if err != nil {
		return nil, mapErr(err, "get artifact")
	}
	if err := bson.Unmarshal(raw, &d); err != nil {
		return nil, mapErr(err, "decode artifact")
	}
	return &d, nil
}

// cachedCollections are the collections whose documents the document cache keeps
// (doccache.go): every write of theirs tells the cache.
var cachedCollections = map[string]bool{artifactsCollection: true, projectionsCollection: true, policiesCollection: true, keysCollection: true}

// findCached reads document id of coll by _id, from the document cache when the
// store has one (doccache.go) and it holds the document current.
func (s *Store) findCached(ctx context.Context, coll *mongo.Collection, id string) (bson.Raw, error) {
	if s.cache == nil {
		return coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
	}
	k := cacheKey{coll.Name(), id}
	if raw, ok := s.cache.get(k); ok {
		if raw == nil {
			return nil, mongo.ErrNoDocuments
		}
		return raw, nil
	}
	gen := s.cache.gen(k)
	raw, err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		s.cache.fill(k, nil, gen)
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	raw = slices.Clone(raw)
	s.cache.fill(k, raw, gen)
	return raw, nil
}

// UpdateArtifact writes after over before in one single-document conditional write
// (see service.Store). On success after.Version is set to before.Version+1. The write
// goes through the outbox and then updates the projections (see projections.go).
// Audit events and promotions that no longer fit in the document are written to
// their trails' buckets before it (trail.go); after itself is left as it is.
func (s *Store) UpdateArtifact(ctx context.Context, before, after *model.Artifact) error {
	switch {
	case before == nil || after == nil || before.ID == "" || before.ID != after.ID:
		return &model.Error{Kind: model.KindInternal, Message: "store: UpdateArtifact needs before and after of the same artifact"}
	case after.AuditFrom != before.AuditFrom || after.PromotionsFrom != before.PromotionsFrom ||
		len(after.Audit) < len(before.Audit) || len(after.Promotions) < len(before.Promotions):
		return &model.Error{Kind: model.KindInternal, Message: "store: UpdateArtifact cannot remove audit events or promotions"}
	}
	next := before.Version + 1
	outboxID, err := s.openOutbox(ctx, after, int64(next), before.AuditLen(), before.PromotionsLen())
	if err != nil {
		return err
	}
	matched, err := s.writeArtifact(ctx, before, after)
	var laid *layOutError
	switch {
	case errors.As(err, &laid):
		s.closeOutbox(ctx, outboxID)
		return laid.err
	case err != nil:
		return err // it may have landed: the outbox entry stays
	case !matched:
		s.closeOutbox(ctx, outboxID)
		return s.staleVersion(ctx, before)
	}
	after.Version = next
	if s.crashAfterWrite != nil && s.crashAfterWrite(after) {
		return nil
	}
	s.project(withPriorFacts(ctx, before), after, before.AuditLen(), before.PromotionsLen(), outboxID)
	return nil
}

// layOutError: the artifact write did not start (the buckets of the entries it
// moves out could not be written).
type layOutError struct{ err error }

func (e *layOutError) Error() string { return e.err.Error() }

// staleVersion is the error of a conditional write of before that matched nothing:
// NOT_FOUND, the database failing, or a conflict.
func (s *Store) staleVersion(ctx context.Context, before *model.Artifact) error {
	if _, err := s.GetArtifact(ctx, before.ID); err != nil {
		return err // NOT_FOUND, or the database failing
	}
	return model.Errorf(model.KindConflict, "artifact %s was changed by another request (version %d is no longer current); reload it and try again", before.ID, before.Version)
}

// writeArtifact writes after over before (version before.Version+1) with the
// version predicate, and reports whether it matched. Its outbox entry is the
// caller's. A *layOutError says nothing was written; any other error that the
// write may have landed.
func (s *Store) writeArtifact(ctx context.Context, before, after *model.Artifact) (bool, error) {
	return s.writeArtifactSince(ctx, before, after, nil)
}

// writeArtifactSince is writeArtifact of a before loaded at generation *since
// (conditionalUpdateSince).
func (s *Store) writeArtifactSince(ctx context.Context, before, after *model.Artifact, since *uint64) (bool, error) {
	next := before.Version + 1
	// Only entries before holds (stored, so committed) may move out.
	doc, err := s.layOut(ctx, after, before.AuditLen(), before.PromotionsLen())
	if err != nil {
		return false, &layOutError{err}
	}
	set := bson.D{
		{Key: "lifecycleState", Value: after.LifecycleState},
		{Key: "trustState", Value: after.TrustState},
		{Key: "verification", Value: mapSlice(after.Verification, toVerificationDoc)},
		{Key: "evidence", Value: mapSlice(after.Evidence, toEvidenceDoc)},
		{Key: "approvals", Value: mapSlice(after.Approvals, toApprovalDoc)},
		{Key: "trustEpoch", Value: int64(after.TrustEpoch)},
		{Key: "updatedAt", Value: ms(after.UpdatedAt)},
		{Key: "version", Value: int64(next)},
		{Key: "tags", Value: nonNil(after.Tags)},
		{Key: "audit", Value: doc.Audit},
		{Key: "promotions", Value: doc.Promotions},
	}
	var unset bson.D
	if doc.AuditUnordered { // never unset: the trail holds every pair of neighbours once
		set = append(set, bson.E{Key: "auditUnordered", Value: true})
	}
	if doc.AuditOverflow > 0 {
		set = append(set, bson.E{Key: "auditOverflow", Value: doc.AuditOverflow})
	}
	if doc.PromotionsOverflow > 0 {
		set = append(set, bson.E{Key: "promotionsOverflow", Value: doc.PromotionsOverflow})
	}
	switch {
	case len(doc.PromotionTargets) > 0:
		set = append(set, bson.E{Key: "promotionTargets", Value: doc.PromotionTargets})
	case len(before.PromotionTargets) > 0:
		unset = append(unset, bson.E{Key: "promotionTargets", Value: ""})
	}
	update := bson.D{{Key: "$set", Value: set}}
	if len(unset) > 0 {
		update = append(update, bson.E{Key: "$unset", Value: unset})
	}
	matched, err := s.conditionalUpdateSince(ctx, s.artifacts, before.ID, int64(before.Version), update, since)
	return matched, mapErr(err, "update artifact")
}

// ArtifactAudit returns the events of a's audit trail with sequence numbers in
// [from, to), oldest first: the older ones from the trail's buckets, the rest from
// a.
func (s *Store) ArtifactAudit(ctx context.Context, a *model.Artifact, from, to int) ([]model.AuditEvent, error) {
	return bucketlog.ReadTrail(ctx, trailOf[auditDoc](s, auditTrail, a.ID), a.AuditFrom, a.Audit, from, to, func(d auditDoc) model.AuditEvent { return ownedAudit(a, d) })
}

// ArtifactPromotions returns promotions [from, to) of a, oldest first.
func (s *Store) ArtifactPromotions(ctx context.Context, a *model.Artifact, from, to int) ([]model.Promotion, error) {
	return bucketlog.ReadTrail(ctx, trailOf[promotionDoc](s, promotionTrail, a.ID), a.PromotionsFrom, a.Promotions, from, to, promotionDoc.model)
}

// withHistory returns a, or when its audit trail starts after auditFrom or its
// promotions after promotionsFrom, a copy holding them from there.
func (s *Store) withHistory(ctx context.Context, a *model.Artifact, auditFrom, promotionsFrom int) (*model.Artifact, error) {
	auditFrom, promotionsFrom = max(auditFrom, 0), max(promotionsFrom, 0)
	if auditFrom >= a.AuditFrom && promotionsFrom >= a.PromotionsFrom {
		return a, nil
	}
	full := *a
	if auditFrom < a.AuditFrom {
		events, err := s.ArtifactAudit(ctx, a, auditFrom, a.AuditLen())
		if err != nil {
			return nil, err
		}
		full.Audit, full.AuditFrom = events, auditFrom
	}
	if promotionsFrom < a.PromotionsFrom {
		prs, err := s.ArtifactPromotions(ctx, a, promotionsFrom, a.PromotionsLen())
		if err != nil {
			return nil, err
		}
		full.Promotions, full.PromotionsFrom = prs, promotionsFrom
	}
	return &full, nil
}

// conditionalUpdate applies update to the document {_id: id} only if its version is
// still version, and reports whether it matched. It holds the write lock of that
// document for the duration, so inside this process no two conditional writes on
// one document interleave.
//
// On MongoDB it is one UpdateOne({_id, version}): the server evaluates the predicate
// and the write atomically.
//
// On the embedded engine FerretDB evaluates {_id, version} by reading the document
// and then writing it, without atomicity between the two, and it only pushes a filter
// down to SQLite (where our _id index applies) when the filter is exactly {_id: x};
// {_id, version} reads and decodes every document of the collection. So there it
// reads the version by _id and writes by _id, both indexed, under the write lock.
// This is atomic because the DATA_DIR lock ensures this process is the only writer.
func (s *Store) conditionalUpdate(ctx context.Context, coll *mongo.Collection, id string, version int64, update bson.D) (bool, error) {
	return s.conditionalUpdateSince(ctx, coll, id, version, update, nil)
}

// conditionalUpdateSince is conditionalUpdate of an artifact loaded by this process
// when the generation of its id was *since (artifactGen): on the embedded engine,
// when no artifact of that generation was written since, the document is still the
// one loaded, at version, and the version is not read again.
func (s *Store) conditionalUpdateSince(ctx context.Context, coll *mongo.Collection, id string, version int64, update bson.D, since *uint64) (bool, error) {
	unlock, err := s.lockDoc(ctx, coll.Name(), id)
	if err != nil {
		return false, err
	}
	defer unlock()
	return s.conditionalUpdateHeld(ctx, coll, id, version, update, since)
}

// conditionalUpdateHeld is conditionalUpdateSince for a caller that holds the
// document's write lock (lockDoc) around a read-modify-write of its own.
func (s *Store) conditionalUpdateHeld(ctx context.Context, coll *mongo.Collection, id string, version int64, update bson.D, since *uint64) (bool, error) {
	defer s.cacheWritten(coll, id)
	byID := bson.D{{Key: "_id", Value: id}}
	if !s.Exclusive() { // another process may write it too: the version decides
		res, err := coll.UpdateOne(ctx, append(byID, bson.E{Key: "version", Value: version}), update)
		if err != nil {
			return false, err
		}
		return res.MatchedCount == 1, nil
	}
	if since != nil && coll == s.artifacts && s.cache != nil && *since == s.artifactGen(id) {
		res, err := coll.UpdateOne(ctx, byID, update)
		if err != nil {
			return false, err
		}
		return res.MatchedCount == 1, nil
	}
	var cur struct {
		Version int64 `bson:"version"`
	}
	var err error
	if cachedCollections[coll.Name()] {
		// The document as last read, when no write of it came since (doccache.go),
		// is the document now.
		var raw bson.Raw
		if raw, err = s.findCached(ctx, coll, id); err == nil {
			err = bson.Unmarshal(raw, &cur)
		}
	} else {
		err = coll.FindOne(ctx, byID, options.FindOne().SetProjection(bson.D{{Key: "version", Value: 1}})).Decode(&cur)
	}
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return false, nil
	case err != nil:
		return false, err
	case cur.Version != version:
		return false, nil
	}
	res, err := coll.UpdateOne(ctx, byID, update)
	if err != nil {
		return false, err
	}
	return res.MatchedCount == 1, nil
}

// Artifact generations. On the embedded engine this process is the only writer,
// and every write of an existing artifact document goes through
// conditionalUpdateSince, which moves the generation of the document's id (the
// document cache's counter of its address, doccache.go) after it. So an artifact loaded after reading
// its generation g is still as loaded, at the version loaded, as long as its
// generation is still g: its conditional write needs no second read of the
// version (a batch of re-derived artifacts saves one find per artifact). Another
// write hashing to the same counter only makes the write read the version again.
func artifactGenIndex(id string) uint32 { return genIndex(cacheKey{artifactsCollection, id}) }

// artifactGen is the generation of id (see above); 0 on MongoDB, where it is not
// used.
func (s *Store) artifactGen(id string) uint64 {
	if s.cache == nil {
		return 0
	}
	return s.cache.gen(cacheKey{artifactsCollection, id})
}

// artifactWritten moves the generation of id on (after a write of it).
func (s *Store) artifactWritten(id string) { s.cacheWritten(s.artifacts, id) }

// cacheWritten tells the document cache, if any, that document id of coll was
// written (or may have been).
func (s *Store) cacheWritten(coll *mongo.Collection, id string) {
	if s.cache != nil {
		s.cache.written(cacheKey{coll.Name(), id})
	}
}
