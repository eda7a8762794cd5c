package store

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/artifact-trust/control-plane/model"
)

// InsertArtifact stores a new artifact as version 1 (a.Version is set to 1). An
// existing artifact with the same id or (project, digest) is model.KindConflict.
// The write goes through the outbox and then updates the projections (see
// projections.go).
func (s *Store) InsertArtifact(ctx context.Context, a *model.Artifact) error {
	if a == nil || a.ID == "" {
		return &model.Error{Kind: model.KindInternal, Message: "store: InsertArtifact needs an artifact with an id"}
	}
	doc := toArtifactDoc(a)
	doc.Version = 1
	outboxID, err := s.openOutbox(ctx, a, 1, 0, 0)
	if err != nil {
		return err
	}
	if _, err := s.artifacts.InsertOne(ctx, doc); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			s.closeOutbox(ctx, outboxID)
			return &model.Error{Kind: model.KindConflict, Message: fmt.Sprintf("artifact %s is already registered in project %s", a.Digest, a.Project), Err: err}
		}
		return mapErr(err, "insert artifact") // it may have landed: the outbox entry stays
	}
	a.Version = 1
	if s.crashAfterWrite != nil && s.crashAfterWrite(a) {
		return nil
	}
	s.project(ctx, a, 0, 0, outboxID)
	return nil
}

// GetArtifact loads one artifact by id.
func (s *Store) GetArtifact(ctx context.Context, id string) (*model.Artifact, error) {
	var d artifactDoc
	err := s.artifacts.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, &model.Error{Kind: model.KindNotFound, Message: fmt.Sprintf("artifact %s not found", id), Err: err}
	}
	if err != nil {
		return nil, mapErr(err, "get artifact")
	}
	return d.model(), nil
}

// UpdateArtifact writes after over before in one single-document conditional write
// (see service.Store). On success after.Version is set to before.Version+1. The write
// goes through the outbox and then updates the projections (see projections.go).
func (s *Store) UpdateArtifact(ctx context.Context, before, after *model.Artifact) error {
	switch {
	case before == nil || after == nil || before.ID == "" || before.ID != after.ID:
		return &model.Error{Kind: model.KindInternal, Message: "store: UpdateArtifact needs before and after of the same artifact"}
	case len(after.Audit) < len(before.Audit) || len(after.Promotions) < len(before.Promotions):
		return &model.Error{Kind: model.KindInternal, Message: "store: UpdateArtifact cannot remove audit events or promotions"}
	}
	next := before.Version + 1
	update := bson.D{{Key: "$set", Value: bson.D{
		{Key: "lifecycleState", Value: after.LifecycleState},
		{Key: "trustState", Value: after.TrustState},
		{Key: "verification", Value: mapSlice(after.Verification, toVerificationDoc)},
		{Key: "updatedAt", Value: ms(after.UpdatedAt)},
		{Key: "version", Value: int64(next)},
		{Key: "tags", Value: nonNil(after.Tags)},
	}}}
	var push bson.D
	if ev := after.Audit[len(before.Audit):]; len(ev) > 0 {
		push = append(push, bson.E{Key: "audit", Value: bson.D{{Key: "$each", Value: mapSlice(ev, toAuditDoc)}}})
	}
	if pr := after.Promotions[len(before.Promotions):]; len(pr) > 0 {
		push = append(push, bson.E{Key: "promotions", Value: bson.D{{Key: "$each", Value: mapSlice(pr, toPromotionDoc)}}})
	}
	if len(push) > 0 {
		update = append(update, bson.E{Key: "$push", Value: push})
	}

	outboxID, err := s.openOutbox(ctx, after, int64(next), len(before.Audit), len(before.Promotions))
	if err != nil {
		return err
	}
	matched, err := s.conditionalUpdate(ctx, s.artifacts, before.ID, int64(before.Version), update)
	if err != nil {
		return mapErr(err, "update artifact") // it may have landed: the outbox entry stays
	}
	if !matched {
		s.closeOutbox(ctx, outboxID)
		if _, err := s.GetArtifact(ctx, before.ID); err != nil {
			return err // NOT_FOUND, or the database failing
		}
		return model.Errorf(model.KindConflict, "artifact %s was changed by another request (version %d is no longer current); reload it and try again", before.ID, before.Version)
	}
	after.Version = next
	if s.crashAfterWrite != nil && s.crashAfterWrite(after) {
		return nil
	}
	s.project(withPriorFacts(ctx, before), after, len(before.Audit), len(before.Promotions), outboxID)
	return nil
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
	unlock := s.writeLocks.lock(coll.Name() + "\x00" + id)
	defer unlock()
	byID := bson.D{{Key: "_id", Value: id}}
	if s.embedded == nil {
		res, err := coll.UpdateOne(ctx, append(byID, bson.E{Key: "version", Value: version}), update)
		if err != nil {
			return false, err
		}
		return res.MatchedCount == 1, nil
	}
	var cur struct {
		Version int64 `bson:"version"`
	}
	err := coll.FindOne(ctx, byID, options.FindOne().SetProjection(bson.D{{Key: "version", Value: 1}})).Decode(&cur)
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
