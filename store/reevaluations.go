package store

// The trust re-derivation jobs (service/rederive.go): one document per project in
// "reevaluations" (_id: the project), read and written by _id only, with a version
// predicate on every write. The artifacts a job walks are enumerated from the
// project's list read model, a sealed bucket at a time (ReevaluationBatch).

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

const reevaluationsCollection = "reevaluations"

type reevaluationDoc struct {
	ID            string          `bson:"_id"`
	Version       int64           `bson:"version"`
	PolicyVersion int64           `bson:"policyVersion"`
	RevokedKeys   int64           `bson:"revokedKeys"`
	Reason        string          `bson:"reason"`
	Actor         string          `bson:"actor"`
	ActorType     model.ActorType `bson:"actorType"`
	CorrelationID string          `bson:"correlationId"`
	StartedAt     time.Time       `bson:"startedAt"`
	FinishedAt    *time.Time      `bson:"finishedAt,omitempty"`
	Cursor        int64           `bson:"cursor"`
	Total         int64           `bson:"total"`
	Done          int64           `bson:"done"`
	Changed       int64           `bson:"changed"`
	LeaseOwner    string          `bson:"leaseOwner,omitempty"`
	LeaseUntil    time.Time       `bson:"leaseUntil"`
	Inputs        string          `bson:"inputs,omitempty"`
	Pending       []string        `bson:"pending,omitempty"`
}

func toReevaluationDoc(st *service.ReevaluationState) reevaluationDoc {
	r := &st.Job
	d := reevaluationDoc{
		ID: r.Project, PolicyVersion: int64(r.PolicyVersion), RevokedKeys: int64(r.RevokedKeys), Reason: r.Reason,
		Actor: r.Actor.Subject, ActorType: r.Actor.Type, CorrelationID: r.CorrelationID, StartedAt: ms(r.StartedAt),
		Cursor: int64(r.Cursor), Total: int64(r.Total), Done: int64(r.Done), Changed: int64(r.Changed),
		LeaseOwner: st.LeaseOwner, LeaseUntil: ms(st.LeaseUntil), Inputs: r.Inputs, Pending: st.Pending,
	}
	if r.FinishedAt != nil {
		t := ms(*r.FinishedAt)
		d.FinishedAt = &t
	}
	return d
}

func (d *reevaluationDoc) state() *service.ReevaluationState {
	st := &service.ReevaluationState{
		Job: model.Reevaluation{
			Project: d.ID, PolicyVersion: int(d.PolicyVersion), RevokedKeys: int(d.RevokedKeys), Reason: d.Reason,
			Actor: model.Actor{Subject: d.Actor, Type: d.ActorType}, CorrelationID: d.CorrelationID, StartedAt: d.StartedAt.UTC(),
			Cursor: int(d.Cursor), Total: int(d.Total), Done: int(d.Done), Changed: int(d.Changed), Inputs: d.Inputs,
		},
		LeaseOwner: d.LeaseOwner, LeaseUntil: d.LeaseUntil.UTC(), Version: d.Version, Pending: d.Pending,
	}
	if d.FinishedAt != nil {
		t := d.FinishedAt.UTC()
		st.Job.FinishedAt = &t
	}
	return st
}

// Reevaluation returns project's re-derivation job; nil when none ever ran.
func (s *Store) Reevaluation(ctx context.Context, project string) (*service.ReevaluationState, error) {
	var d reevaluationDoc
	err := s.reevaluations.FindOne(ctx, bson.D{{Key: "_id", Value: project}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, mapErr(err, "get reevaluation")
	}
	return d.state(), nil
}

// PutReevaluation writes st as the next version of its project's job if the stored
// one is still at st.Version (0: none stored), and sets st.Version; otherwise
// model.KindConflict.
func (s *Store) PutReevaluation(ctx context.Context, st *service.ReevaluationState) error {
	doc := toReevaluationDoc(st)
	doc.Version = st.Version + 1
	conflict := func(err error) error {
		return &model.Error{Kind: model.KindConflict, Message: fmt.Sprintf("the trust re-derivation of project %s was changed concurrently", st.Job.Project), Err: err}
	}
	if st.Version == 0 {
		if _, err := s.reevaluations.InsertOne(ctx, doc); err != nil {
			if mongo.IsDuplicateKeyError(err) {
				return conflict(err)
			}
			return mapErr(err, "insert reevaluation")
		}
		st.Version = doc.Version
		return nil
	}
	set := bson.D{}
	raw, err := bson.Marshal(doc)
	if err != nil {
		return mapErr(err, "encode reevaluation")
	}
	var fields bson.D
	if err := bson.Unmarshal(raw, &fields); err != nil {
		return mapErr(err, "encode reevaluation")
	}
	var unset bson.D
	for _, f := range fields {
		if f.Key != "_id" {
			set = append(set, f)
		}
	}
	if doc.FinishedAt == nil {
		unset = append(unset, bson.E{Key: "finishedAt", Value: ""})
	}
	if doc.Inputs == "" {
		unset = append(unset, bson.E{Key: "inputs", Value: ""})
	}
	if len(doc.Pending) == 0 {
		unset = append(unset, bson.E{Key: "pending", Value: ""})
	}
	update := bson.D{{Key: "$set", Value: set}}
	if len(unset) > 0 {
		update = append(update, bson.E{Key: "$unset", Value: unset})
	}
	matched, err := s.conditionalUpdate(ctx, s.reevaluations, st.Job.Project, st.Version, update)
	if err != nil {
		return mapErr(err, "update reevaluation")
	}
	if !matched {
		return conflict(nil)
	}
	st.Version = doc.Version
	return nil
}

// UnfinishedReevaluations returns the jobs not finished yet (a scan of the
// collection, which holds one small document per project).
func (s *Store) UnfinishedReevaluations(ctx context.Context) ([]*service.ReevaluationState, error) {
	cur, err := s.reevaluations.Find(ctx, bson.D{})
	if err != nil {
		return nil, mapErr(err, "find reevaluations")
	}
	defer cur.Close(ctx)
	var out []*service.ReevaluationState
	for cur.Next(ctx) {
		var d reevaluationDoc
		if err := cur.Decode(&d); err != nil {
			return nil, mapErr(err, "read reevaluations")
		}
		if d.FinishedAt == nil {
			out = append(out, d.state())
		}
	}
	return out, mapErr(cur.Err(), "read reevaluations")
}

// TrustInputProjects returns the projects with a stored policy or trusted keys
// (scans of those two collections, one small document per project).
func (s *Store) TrustInputProjects(ctx context.Context) ([]string, error) {
	var out []string
	for _, c := range []*mongo.Collection{s.policies, s.keys} {
		cur, err := c.Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			return nil, mapErr(err, "find projects")
		}
		for cur.Next(ctx) {
			var d struct {
				ID string `bson:"_id"`
			}
			if err := cur.Decode(&d); err != nil {
				_ = cur.Close(ctx)
				return nil, mapErr(err, "read projects")
			}
			if !contains(out, d.ID) {
				out = append(out, d.ID)
			}
		}
		err = cur.Err()
		_ = cur.Close(ctx)
		if err != nil {
			return nil, mapErr(err, "read projects")
		}
	}
	return out, nil
}

// ReevaluationBatch returns the artifacts in part `part` of project's artifact list
// with the deploy facts their entries hold (part n < sealed is sealed list bucket
// n; part sealed is the open bucket), the number of sealed parts, and the
// artifacts the list holds in all. Sealed buckets only ever grow in number, and an
// artifact's entry never leaves its bucket, so walking parts 0, 1, ... until the
// open one meets every artifact listed when the walk began at least once.
//
// An entry is behind its artifact only while a write of it has not reached the
// read models, and every such write has an outbox entry from before its artifact
// write until after its read models are applied. The outbox is read first, so an
// artifact whose entry is behind when the list is read is among those it names:
// they are returned not Known (the job loads them), and with the open part also
// those not in it (a registration not in the list yet).
func (s *Store) ReevaluationBatch(ctx context.Context, project string, part int) (entries []service.ReevaluationEntry, sealed, total int, err error) {
	pending, err := s.pendingWrites(ctx, project)
	if err != nil {
		return nil, 0, 0, err
	}
	lg := s.listLog(project)
	h, _, err := lg.Head(ctx)
	if err != nil {
		return nil, 0, 0, err
	}
	recs, err := lg.Records(h)
	if err != nil {
		return nil, 0, 0, err
	}
	total = len(h.Entries)
	for _, b := range recs {
		total += int(b.Summary.Counts.Total)
	}
	es := h.Entries
	if part < h.Open() {
		if es, err = lg.Bucket(ctx, part); err != nil {
			return nil, 0, 0, err
		}
	}
	for i := range es {
		e := &es[i]
		out := service.ReevaluationEntry{ID: e.ID}
		if !pending[e.ID] {
			out.Facts, out.Known = e.facts()
		}
		delete(pending, e.ID)
		entries = append(entries, out)
	}
	if part >= h.Open() {
		for _, id := range sortedKeys(pending) {
			entries = append(entries, service.ReevaluationEntry{ID: id, Unlisted: true})
		}
	}
	return entries, h.Open(), total, nil
}
