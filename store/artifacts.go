package store

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

// newestFirst is the artifact list order: createdAt desc, _id desc.
var newestFirst = bson.D{{Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}}

// InsertArtifact stores a new artifact as version 1 (a.Version is set to 1). An
// existing artifact with the same id or (project, digest) is model.KindConflict.
func (s *Store) InsertArtifact(ctx context.Context, a *model.Artifact) error {
	if a == nil || a.ID == "" {
		return &model.Error{Kind: model.KindInternal, Message: "store: InsertArtifact needs an artifact with an id"}
	}
	doc := toArtifactDoc(a)
	doc.Version = 1
	if _, err := s.artifacts.InsertOne(ctx, doc); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return &model.Error{Kind: model.KindConflict, Message: fmt.Sprintf("artifact %s is already registered in project %s", a.Digest, a.Project), Err: err}
		}
		return mapErr(err, "insert artifact")
	}
	a.Version = 1
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
// (see service.Store). On success after.Version is set to before.Version+1.
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

	matched, err := s.conditionalUpdate(ctx, s.artifacts, before.ID, int64(before.Version), update)
	if err != nil {
		return mapErr(err, "update artifact")
	}
	if !matched {
		if _, err := s.GetArtifact(ctx, before.ID); err != nil {
			return err // NOT_FOUND, or the database failing
		}
		return model.Errorf(model.KindConflict, "artifact %s was changed by another request (version %d is no longer current); reload it and try again", before.ID, before.Version)
	}
	after.Version = next
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

// artifactFilter is the query of an artifact list without its cursor.
func artifactFilter(project string, f service.ArtifactFilter) bson.D {
	q := bson.D{{Key: "project", Value: project}}
	if f.TrustState != "" {
		q = append(q, bson.E{Key: "trustState", Value: f.TrustState})
	}
	if f.LifecycleState != "" {
		q = append(q, bson.E{Key: "lifecycleState", Value: f.LifecycleState})
	}
	if f.Kind != "" {
		q = append(q, bson.E{Key: "kind", Value: f.Kind})
	}
	if f.Channel != "" {
		q = append(q, bson.E{Key: "promotions.channel", Value: f.Channel})
	}
	if f.Tag != "" {
		q = append(q, bson.E{Key: "tags", Value: f.Tag})
	}
	return q
}

// ListArtifacts returns one page of a project's artifacts, newest first, with the
// total count of artifacts matching the filter. On the embedded engine every
// artifact of the collection is read and filtered in Go (FerretDB pushes down only
// _id equality), so this is O(collection) there.
func (s *Store) ListArtifacts(ctx context.Context, q service.ArtifactQuery) (service.ArtifactPage, error) {
	page := service.ArtifactPage{Items: []*model.Artifact{}}
	if q.First < 0 {
		return page, model.BadInput("first", "must not be negative")
	}
	filter := artifactFilter(q.Project, q.Filter)
	total, err := s.artifacts.CountDocuments(ctx, filter)
	if err != nil {
		return page, mapErr(err, "count artifacts")
	}
	page.TotalCount = int(total)
	if q.After != nil {
		at := q.After.At
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "createdAt", Value: bson.D{{Key: "$lt", Value: at}}}},
			bson.D{{Key: "createdAt", Value: at}, {Key: "_id", Value: bson.D{{Key: "$lt", Value: q.After.ID}}}},
		}})
	}
	docs, err := s.findArtifacts(ctx, filter, int64(q.First)+1)
	if err != nil {
		return page, err
	}
	if len(docs) > q.First {
		page.HasNext = true
		docs = docs[:q.First]
	}
	page.Items = docs
	return page, nil
}

// PromotedArtifacts returns every artifact of project with at least one promotion
// (into channel, when set), newest first.
func (s *Store) PromotedArtifacts(ctx context.Context, project string, channel model.Channel) ([]*model.Artifact, error) {
	filter := bson.D{{Key: "project", Value: project}}
	if channel != "" {
		filter = append(filter, bson.E{Key: "promotions.channel", Value: channel})
	} else {
		filter = append(filter, bson.E{Key: "promotions.0", Value: bson.D{{Key: "$exists", Value: true}}})
	}
	return s.findArtifacts(ctx, filter, 0)
}

// findArtifacts runs filter newest first; limit 0 means no limit.
func (s *Store) findArtifacts(ctx context.Context, filter bson.D, limit int64) ([]*model.Artifact, error) {
	opts := options.Find().SetSort(newestFirst)
	if limit > 0 {
		opts.SetLimit(limit)
	}
	cur, err := s.artifacts.Find(ctx, filter, opts)
	if err != nil {
		return nil, mapErr(err, "find artifacts")
	}
	var docs []artifactDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, mapErr(err, "read artifacts")
	}
	out := make([]*model.Artifact, len(docs))
	for i := range docs {
		out[i] = docs[i].model()
	}
	return out, nil
}
