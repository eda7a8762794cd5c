package store

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/artifact-trust/control-plane/model"
)

// denialsDoc keeps a project's most recent refusals, oldest first, in one document
// addressed by _id (the project), so reading and appending are _id look-ups.
type denialsDoc struct {
	ID      string      `bson:"_id"`
	Version int         `bson:"version"`
	Entries []denialDoc `bson:"entries"`
}

type denialDoc struct {
	Operation         string    `bson:"operation"`
	Actor             string    `bson:"actor"`
	ActorType         string    `bson:"actorType"`
	ArtifactID        string    `bson:"artifactId,omitempty"`
	Digest            string    `bson:"digest,omitempty"`
	Channel           string    `bson:"channel,omitempty"`
	TargetEnvironment string    `bson:"targetEnvironment,omitempty"`
	Reasons           []string  `bson:"reasons"`
	Classes           []string  `bson:"classes"`
	CorrelationID     string    `bson:"correlationId"`
	At                time.Time `bson:"at"`
}

func toDenialDoc(d model.Denial) denialDoc {
	return denialDoc{
		Operation: d.Operation, Actor: d.Actor, ActorType: string(d.ActorType), ArtifactID: d.ArtifactID, Digest: d.Digest,
		Channel: string(d.Channel), TargetEnvironment: d.TargetEnvironment, Reasons: nonNil(d.Reasons), Classes: nonNil(d.Classes),
		CorrelationID: d.CorrelationID, At: d.At.UTC().Truncate(time.Millisecond),
	}
}

func (d denialDoc) model(project string) model.Denial {
	return model.Denial{
		Project: project, Operation: d.Operation, Actor: d.Actor, ActorType: model.ActorType(d.ActorType), ArtifactID: d.ArtifactID,
		Digest: d.Digest, Channel: model.Channel(d.Channel), TargetEnvironment: d.TargetEnvironment, Reasons: nonNil(d.Reasons),
		Classes: nonNil(d.Classes), CorrelationID: d.CorrelationID, At: d.At.UTC(),
	}
}

// AppendDenial records a refusal in its project's recent-denials document, keeping
// what model.KeepRecentDenials keeps (the newest model.MaxRecentDenials, at most
// model.MaxRecentDenialsPerSubject of one subject). Appenders of one project are
// serialized in the process by the document's write lock, held from the read to
// the write; the write is the store's conditional update on the document's
// version (conditionalUpdateHeld), so an appender of another process that won the
// race makes this one read again.
func (s *Store) AppendDenial(ctx context.Context, d model.Denial) error {
	unlock, err := s.lockDoc(ctx, denialsCollection, d.Project)
	if err != nil {
		return err
	}
	defer unlock()
	for attempt := 0; attempt < 3; attempt++ {
		var cur denialsDoc
		err := s.denials.FindOne(ctx, bson.D{{Key: "_id", Value: d.Project}}).Decode(&cur)
		switch {
		case errors.Is(err, mongo.ErrNoDocuments):
			_, err = s.denials.InsertOne(ctx, denialsDoc{ID: d.Project, Version: 1, Entries: []denialDoc{toDenialDoc(d)}})
			if mongo.IsDuplicateKeyError(err) {
				continue
			}
			return mapErr(err, "insert denials")
		case err != nil:
			return mapErr(err, "get denials")
		}
		entries := model.KeepRecentDenials(append(cur.Entries, toDenialDoc(d)), func(e denialDoc) string { return e.Actor })
		matched, err := s.conditionalUpdateHeld(ctx, s.denials, d.Project, int64(cur.Version),
			bson.D{{Key: "$set", Value: bson.D{{Key: "entries", Value: entries}, {Key: "version", Value: cur.Version + 1}}}}, nil)
		if err != nil {
			return mapErr(err, "update denials")
		}
		if matched {
			return nil
		}
	}
	return &model.Error{Kind: model.KindConflict, Message: "recent denials of project " + d.Project + " are being written concurrently"}
}

// RecentDenials returns up to n of a project's most recent refusals, newest first.
func (s *Store) RecentDenials(ctx context.Context, project string, n int) ([]model.Denial, error) {
	var cur denialsDoc
	err := s.denials.FindOne(ctx, bson.D{{Key: "_id", Value: project}}).Decode(&cur)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return []model.Denial{}, nil
	}
	if err != nil {
		return nil, mapErr(err, "get denials")
	}
	out := make([]model.Denial, 0, min(n, len(cur.Entries)))
	for i := len(cur.Entries) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, cur.Entries[i].model(project))
	}
	return out, nil
}
