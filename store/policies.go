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

// GetPolicy loads a project's stored policy; (nil, nil) when none is stored.
func (s *Store) GetPolicy(ctx context.Context, project string) (*model.Policy, error) {
	var d policyDoc
	var err error
	if s.cache != nil {
		// The whole document (it holds one change) as the cache keeps it.
		var raw bson.Raw
		if raw, err = s.findCached(ctx, s.policies, project); err == nil {
			err = bson.Unmarshal(raw, &d)
		}
	} else {
		err = s.policies.FindOne(ctx, bson.D{{Key: "_id", Value: project}},
			options.FindOne().SetProjection(bson.D{{Key: "changes", Value: 0}})).Decode(&d)
	}
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, mapErr(err, "get policy")
	}
	return d.model(), nil
}

// PutPolicy stores p as version p.Version if the stored version is still
// p.Version-1 (none stored when p.Version is 1), appending change to the policy's
// trail in the same write; otherwise model.KindConflict. The policy document keeps
// only the newest change; the one it held moves to the trail's bucket first
// (trail.go).
func (s *Store) PutPolicy(ctx context.Context, p *model.Policy, change model.PolicyChange) error {
	if p == nil || p.Project == "" || p.Version < 1 {
		return &model.Error{Kind: model.KindInternal, Message: "store: PutPolicy needs a policy with a project and a version >= 1"}
	}
	conflict := func(err error) error {
		return &model.Error{
			Kind:    model.KindConflict,
			Message: fmt.Sprintf("the policy of project %s was changed by another request (version %d is no longer current); reload it and try again", p.Project, p.Version-1),
			Err:     err,
		}
	}
	doc := toPolicyDoc(p)
	ch := toPolicyChangeDoc(change)
	if p.Version == 1 {
		doc.Changes = []policyChangeDoc{ch}
		_, err := s.policies.InsertOne(ctx, doc)
		s.cacheWritten(s.policies, p.Project)
		if err != nil {
			if mongo.IsDuplicateKeyError(err) {
				return conflict(err)
			}
			return mapErr(err, "insert policy")
		}
		return nil
	}
	cur, err := s.policyTrail(ctx, p.Project)
	switch {
	case err != nil:
		return err
	case cur == nil || cur.Version != int64(p.Version-1):
		return conflict(nil)
	}
	changes := append(cur.Changes, ch)
	from := cur.ChangesOverflow
	// Only the changes the document held (committed) may move out.
	if k := min(policyTrail.Plan(from, len(changes)), len(cur.Changes)); k > 0 {
		if err := trailOf[policyChangeDoc](s, policyTrail, p.Project).Spill(ctx, from, changes[:k]); err != nil {
			return err
		}
		changes, from = changes[k:], from+k
	}
	set := bson.D{
		{Key: "project", Value: doc.Project},
		{Key: "allowedSourceTypes", Value: doc.AllowedSourceTypes},
		{Key: "allowedSources", Value: doc.AllowedSources},
		{Key: "allowNonOci", Value: doc.AllowNonOCI},
		{Key: "nonOciRuntimeClasses", Value: doc.NonOCIRuntimeClasses},
		{Key: "requiredChecks", Value: doc.RequiredChecks},
		{Key: "strictProgression", Value: doc.StrictProgression},
		{Key: "channels", Value: doc.Channels},
		{Key: "provenance", Value: doc.Provenance},
		{Key: "promotionWindows", Value: nonNil(doc.PromotionWindows)},
		{Key: "freeze", Value: doc.Freeze},
		{Key: "version", Value: doc.Version},
		{Key: "updatedAt", Value: doc.UpdatedAt},
		{Key: "updatedBy", Value: doc.UpdatedBy},
		{Key: "changes", Value: changes},
	}
	if from > 0 {
		set = append(set, bson.E{Key: "changesOverflow", Value: from})
	}
	matched, err := s.conditionalUpdate(ctx, s.policies, p.Project, int64(p.Version-1), bson.D{{Key: "$set", Value: set}})
	if err != nil {
		return mapErr(err, "update policy")
	}
	if !matched {
		return conflict(nil)
	}
	return nil
}

// policyTrail reads the version and the change trail's inline part of project's
// policy document; nil when there is none.
func (s *Store) policyTrail(ctx context.Context, project string) (*policyDoc, error) {
	var d policyDoc
	err := s.policies.FindOne(ctx, bson.D{{Key: "_id", Value: project}},
		options.FindOne().SetProjection(bson.D{{Key: "version", Value: 1}, {Key: "changes", Value: 1}, {Key: "changesOverflow", Value: 1}})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, mapErr(err, "get policy changes")
	}
	return &d, nil
}

// PolicyChangeCount returns the length of a project's policy audit trail.
// Key changes count too (see PolicyChanges).
func (s *Store) PolicyChangeCount(ctx context.Context, project string) (int, error) {
	keys, _, err := s.TrustedKeys(ctx, project)
	if err != nil {
		return 0, err
	}
	hooks, err := s.webhookChanges(ctx, project)
	if err != nil {
		return 0, err
	}
	n := len(model.KeyChanges(keys)) + len(hooks)
	d, err := s.policyTrail(ctx, project)
	if d == nil || err != nil {
		return n, err
	}
	return n + d.ChangesOverflow + len(d.Changes), nil
}

// PolicyChanges returns a project's policy audit trail, newest first: the policy
// document's newest change and the older ones from the trail's buckets.
//
// The trusted key changes (project.key_added, project.key_revoked) are read from
// the project's key document (keys.go) and merged in by time; of equal times,
// policy changes come first among the older entries. The webhook changes
// (project.webhook) are read from the project's webhooks (webhooks.go) the same way.
func (s *Store) PolicyChanges(ctx context.Context, project string) ([]model.PolicyChange, error) {
	keys, _, err := s.TrustedKeys(ctx, project)
	if err != nil {
		return nil, err
	}
	all := []model.PolicyChange{}
	d, err := s.policyTrail(ctx, project)
	if err != nil {
		return nil, err
	}
	if d != nil {
		inline := mapSlice(d.Changes, policyChangeDoc.model)
		if all, err = bucketlog.ReadTrail(ctx, trailOf[policyChangeDoc](s, policyTrail, project), d.ChangesOverflow, inline, 0, d.ChangesOverflow+len(inline), policyChangeDoc.model); err != nil {
			return nil, err
		}
	}
	all = append(all, model.KeyChanges(keys)...)
	hooks, err := s.webhookChanges(ctx, project)
	if err != nil {
		return nil, err
	}
	all = append(all, hooks...)
	// Oldest first, stable, then reversed: newest first.
	slices.SortStableFunc(all, func(a, b model.PolicyChange) int { return a.At.Compare(b.At) })
	slices.Reverse(all)
	return all, nil
}

// Policies returns every stored policy (without change trails). It reads the
// whole collection: for the start-up check against the policy floor, not for a
// request path.
func (s *Store) Policies(ctx context.Context) ([]*model.Policy, error) {
	cur, err := s.policies.Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "changes", Value: 0}}))
	if err != nil {
		return nil, mapErr(err, "list policies")
	}
	defer cur.Close(ctx)
	var out []*model.Policy
	for cur.Next(ctx) {
		var d policyDoc
		if err := cur.Decode(&d); err != nil {
			return nil, mapErr(err, "decode policy")
		}
		out = append(out, d.model())
	}
	if err := cur.Err(); err != nil {
		return nil, mapErr(err, "list policies")
	}
	return out, nil
}
