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

// GetPolicy loads a project's stored policy; (nil, nil) when none is stored.
func (s *Store) GetPolicy(ctx context.Context, project string) (*model.Policy, error) {
	var d policyDoc
	err := s.policies.FindOne(ctx, bson.D{{Key: "_id", Value: project}},
		options.FindOne().SetProjection(bson.D{{Key: "changes", Value: 0}})).Decode(&d)
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
// trail in the same write; otherwise model.KindConflict.
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
		if _, err := s.policies.InsertOne(ctx, doc); err != nil {
			if mongo.IsDuplicateKeyError(err) {
				return conflict(err)
			}
			return mapErr(err, "insert policy")
		}
		return nil
	}
	update := bson.D{
		{Key: "$set", Value: bson.D{
			{Key: "project", Value: doc.Project},
			{Key: "allowedSourceTypes", Value: doc.AllowedSourceTypes},
			{Key: "allowedSources", Value: doc.AllowedSources},
			{Key: "allowNonOci", Value: doc.AllowNonOCI},
			{Key: "nonOciRuntimeClasses", Value: doc.NonOCIRuntimeClasses},
			{Key: "requiredChecks", Value: doc.RequiredChecks},
			{Key: "strictProgression", Value: doc.StrictProgression},
			{Key: "channels", Value: doc.Channels},
			{Key: "version", Value: doc.Version},
			{Key: "updatedAt", Value: doc.UpdatedAt},
			{Key: "updatedBy", Value: doc.UpdatedBy},
		}},
		{Key: "$push", Value: bson.D{{Key: "changes", Value: ch}}},
	}
	matched, err := s.conditionalUpdate(ctx, s.policies, p.Project, int64(p.Version-1), update)
	if err != nil {
		return mapErr(err, "update policy")
	}
	if !matched {
		return conflict(nil)
	}
	return nil
}

// PolicyChanges returns a project's policy audit trail, newest first.
func (s *Store) PolicyChanges(ctx context.Context, project string) ([]model.PolicyChange, error) {
	var d struct {
		Changes []policyChangeDoc `bson:"changes"`
	}
	err := s.policies.FindOne(ctx, bson.D{{Key: "_id", Value: project}},
		options.FindOne().SetProjection(bson.D{{Key: "changes", Value: 1}})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return []model.PolicyChange{}, nil
	}
	if err != nil {
		return nil, mapErr(err, "get policy changes")
	}
	out := make([]model.PolicyChange, 0, len(d.Changes))
	for i := len(d.Changes) - 1; i >= 0; i-- {
		out = append(out, d.Changes[i].model())
	}
	return out, nil
}
