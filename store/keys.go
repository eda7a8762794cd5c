package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/artifact-trust/control-plane/model"
)

// keysDoc holds every trusted key a project ever had (at most model.MaxKeys), so
// reading a project's keys is one _id look-up. The key changes of the project trail
// (project.key_added, project.key_revoked) are read from it too: each key keeps who
// added and revoked it, when, and under which correlation id.
type keysDoc struct {
	ID      string   `bson:"_id"`
	Project string   `bson:"project"`
	Version int64    `bson:"version"`
	Keys    []keyDoc `bson:"keys"`
}

type keyDoc struct {
	ID                   string          `bson:"id"`
	Name                 string          `bson:"name,omitempty"`
	PublicKeyPEM         string          `bson:"publicKeyPem"`
	Algorithm            string          `bson:"algorithm"`
	Checks               []model.Check   `bson:"checks"`
	PredicateTypes       []string        `bson:"predicateTypes"`
	AddedBy              string          `bson:"addedBy"`
	AddedByType          model.ActorType `bson:"addedByType"`
	AddedAt              time.Time       `bson:"addedAt"`
	AddedCorrelationID   string          `bson:"addedCorrelationId"`
	AddedPolicyVersion   int64           `bson:"addedPolicyVersion"`
	RevokedAt            *time.Time      `bson:"revokedAt,omitempty"`
	RevokedBy            string          `bson:"revokedBy,omitempty"`
	RevokedByType        model.ActorType `bson:"revokedByType,omitempty"`
	RevokeReason         string          `bson:"revokeReason,omitempty"`
	RevokedCorrelationID string          `bson:"revokedCorrelationId,omitempty"`
	RevokedPolicyVersion int64           `bson:"revokedPolicyVersion,omitempty"`
}

func toKeyDoc(k model.TrustedKey) keyDoc {
	d := keyDoc{
		ID: k.ID, Name: k.Name, PublicKeyPEM: k.PublicKeyPEM, Algorithm: string(k.Algorithm),
		Checks: nonNil(k.Checks), PredicateTypes: nonNil(k.PredicateTypes),
		AddedBy: k.AddedBy, AddedByType: k.AddedByType, AddedAt: ms(k.AddedAt),
		AddedCorrelationID: k.AddedCorrelationID, AddedPolicyVersion: int64(k.AddedPolicyVersion),
		RevokedBy: k.RevokedBy, RevokedByType: k.RevokedByType, RevokeReason: k.RevokeReason,
		RevokedCorrelationID: k.RevokedCorrelationID, RevokedPolicyVersion: int64(k.RevokedPolicyVersion),
	}
	if k.RevokedAt != nil {
		t := ms(*k.RevokedAt)
		d.RevokedAt = &t
	}
	return d
}

func (d keyDoc) model(project string) (model.TrustedKey, error) {
	k := model.TrustedKey{
		ID: d.ID, Project: project, Name: d.Name, PublicKeyPEM: d.PublicKeyPEM, Algorithm: model.KeyAlgorithm(d.Algorithm),
		Checks: nonNil(d.Checks), PredicateTypes: nonNil(d.PredicateTypes),
		AddedBy: d.AddedBy, AddedByType: d.AddedByType, AddedAt: d.AddedAt.UTC(),
		AddedCorrelationID: d.AddedCorrelationID, AddedPolicyVersion: int(d.AddedPolicyVersion),
		RevokedBy: d.RevokedBy, RevokedByType: d.RevokedByType, RevokeReason: d.RevokeReason,
		RevokedCorrelationID: d.RevokedCorrelationID, RevokedPolicyVersion: int(d.RevokedPolicyVersion),
	}
	if d.RevokedAt != nil {
		t := d.RevokedAt.UTC()
		k.RevokedAt = &t
	}
	pk, err := model.ParsePublicKeyPEM("publicKeyPem", d.PublicKeyPEM)
	if err != nil || pk.ID != d.ID {
		return k, &model.Error{Kind: model.KindInternal, Message: fmt.Sprintf("store: trusted key %s of project %s is stored damaged", d.ID, project), Err: err}
	}
	k.Public = pk.Public
	return k, nil
}

// TrustedKeys returns every key project ever trusted (revoked ones included), in
// the order they were added, and the version of the project's key document (0: none).
func (s *Store) TrustedKeys(ctx context.Context, project string) ([]model.TrustedKey, int, error) {
	var d keysDoc
	raw, err := s.findCached(ctx, s.keys, project)
	if err == nil {
		err = bson.Unmarshal(raw, &d)
	}
	if errors.Is(err, mongo.ErrNoDocuments) {
		return []model.TrustedKey{}, 0, nil
	}
	if err != nil {
		return nil, 0, mapErr(err, "get trusted keys")
	}
	out := make([]model.TrustedKey, 0, len(d.Keys))
	for _, kd := range d.Keys {
		k, err := kd.model(project)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, k)
	}
	return out, int(d.Version), nil
}

// PutTrustedKeys stores keys as version+1 of project's key document if it is still
// at version (0: none stored yet); otherwise model.KindConflict.
func (s *Store) PutTrustedKeys(ctx context.Context, project string, version int, keys []model.TrustedKey) error {
	if len(keys) > model.MaxKeys {
		return &model.Error{Kind: model.KindInternal, Message: fmt.Sprintf("store: %d trusted keys exceed the bound of %d", len(keys), model.MaxKeys)}
	}
	conflict := func(err error) error {
		return &model.Error{Kind: model.KindConflict, Message: fmt.Sprintf("the trusted keys of project %s were changed by another request; try again", project), Err: err}
	}
	docs := mapSlice(keys, toKeyDoc)
	if version == 0 {
		_, err := s.keys.InsertOne(ctx, keysDoc{ID: project, Project: project, Version: 1, Keys: docs})
		s.cacheWritten(s.keys, project)
		if mongo.IsDuplicateKeyError(err) {
			return conflict(err)
		}
		return mapErr(err, "insert trusted keys")
	}
	matched, err := s.conditionalUpdate(ctx, s.keys, project, int64(version), bson.D{{Key: "$set", Value: bson.D{
		{Key: "keys", Value: docs},
		{Key: "version", Value: int64(version + 1)},
	}}})
	if err != nil {
		return mapErr(err, "update trusted keys")
	}
	if !matched {
		return conflict(nil)
	}
	return nil
}
