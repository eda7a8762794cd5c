package store

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/artifact-trust/control-plane/model"
)

// envelopeDoc keeps one submitted evidence envelope as it was sent (bounded by the
// verifier's size limit), so it can be judged again, addressed by the artifact and
// the envelope's SHA-256: submitting it again overwrites the same document.
type envelopeDoc struct {
	ID             string    `bson:"_id"`
	Project        string    `bson:"project"`
	ArtifactID     string    `bson:"artifactId"`
	EnvelopeSHA256 string    `bson:"envelopeSha256"`
	Format         string    `bson:"format"`
	Raw            []byte    `bson:"raw"`
	At             time.Time `bson:"at"`
}

func envelopeID(artifactID, sha string) string { return artifactID + ":" + sha }

// PutEnvelope keeps the raw envelope of evidence submitted for an artifact. It is
// written before the artifact's evidence; a submission refused after that deletes
// it again (DeleteEnvelope), so only a crash between the two leaves an envelope
// whose evidence was never recorded (a retry overwrites it).
func (s *Store) PutEnvelope(ctx context.Context, a *model.Artifact, format model.EvidenceFormat, sha string, raw []byte, at time.Time) error {
	id := envelopeID(a.ID, sha)
	doc := envelopeDoc{ID: id, Project: a.Project, ArtifactID: a.ID, EnvelopeSHA256: sha, Format: string(format), Raw: raw, At: ms(at)}
	_, err := s.envelopes.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}}, doc, options.Replace().SetUpsert(true))
	return mapErr(err, "put evidence envelope")
}

// DeleteEnvelope removes the envelope with that SHA-256 kept for artifact a unless
// the stored artifact holds evidence from it (a concurrent submission of the same
// envelope may have recorded it).
func (s *Store) DeleteEnvelope(ctx context.Context, a *model.Artifact, sha string) error {
	cur, err := s.GetArtifact(ctx, a.ID)
	if err != nil && !model.IsKind(err, model.KindNotFound) {
		return err
	}
	if cur != nil && len(cur.EvidenceFor(sha)) > 0 {
		return nil
	}
	_, err = s.envelopes.DeleteOne(ctx, bson.D{{Key: "_id", Value: envelopeID(a.ID, sha)}})
	return mapErr(err, "delete evidence envelope")
}

// Envelope returns the raw envelope with that SHA-256 submitted for artifact a.
func (s *Store) Envelope(ctx context.Context, a *model.Artifact, sha string) ([]byte, error) {
	var d envelopeDoc
	err := s.envelopes.FindOne(ctx, bson.D{{Key: "_id", Value: envelopeID(a.ID, sha)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, model.Errorf(model.KindNotFound, "no envelope %s for artifact %s", sha, a.ID)
	}
	if err != nil {
		return nil, mapErr(err, "get evidence envelope")
	}
	return d.Raw, nil
}
