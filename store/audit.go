package store

import (
	"context"
	"sort"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

// auditOnlyDoc is the projection AuditEvents reads.
type auditOnlyDoc struct {
	ID    string     `bson:"_id"`
	Audit []auditDoc `bson:"audit"`
}

// AuditEvents returns one page of a project's artifact audit events, newest first
// by (at desc, artifactId desc, seq desc) -- the cursor's (At, ID, Seq) -- seq being the event's index in its
// artifact's trail, strictly after q.After when set.
//
// It reads the audit trails of the project's artifacts that can hold a matching
// event (the filters and the cursor narrow the documents on the server where it can,
// then every event is checked exactly in Go), and flattens, sorts and pages them in
// Go. That is O(events of the project) per page, on both engines; a per-project
// feed read model is the way out if projects grow large.
func (s *Store) AuditEvents(ctx context.Context, q service.AuditQuery) (service.AuditPage, error) {
	page := service.AuditPage{Items: []service.AuditEntry{}}
	if q.First < 0 {
		return page, model.BadInput("first", "must not be negative")
	}
	f := q.Filter
	filter := bson.D{{Key: "project", Value: q.Project}}
	if f.ArtifactID != "" {
		filter = append(filter, bson.E{Key: "_id", Value: f.ArtifactID})
	}
	if f.Action != "" {
		filter = append(filter, bson.E{Key: "audit.action", Value: f.Action})
	}
	if f.Actor != "" {
		filter = append(filter, bson.E{Key: "audit.actor", Value: f.Actor})
	}
	if f.CorrelationID != "" {
		filter = append(filter, bson.E{Key: "audit.correlationId", Value: f.CorrelationID})
	}
	if q.After != nil {
		filter = append(filter, bson.E{Key: "audit.at", Value: bson.D{{Key: "$lte", Value: q.After.At}}})
	}
	cur, err := s.artifacts.Find(ctx, filter, options.Find().SetProjection(bson.D{{Key: "audit", Value: 1}}))
	if err != nil {
		return page, mapErr(err, "find audit events")
	}
	var docs []auditOnlyDoc
	if err := cur.All(ctx, &docs); err != nil {
		return page, mapErr(err, "read audit events")
	}

	var entries []service.AuditEntry
	for _, d := range docs {
		for seq, ad := range d.Audit {
			e := ad.model()
			if e.ArtifactID == "" {
				e.ArtifactID = d.ID
			}
			if e.Project == "" {
				e.Project = q.Project
			}
			entry := service.AuditEntry{Event: e, Seq: seq}
			if !auditMatches(entry, d.ID, f) || (q.After != nil && !auditAfter(entry, *q.After)) {
				continue
			}
			entries = append(entries, entry)
		}
	}
	sort.Slice(entries, func(i, j int) bool { return auditLess(entries[j], entries[i]) })
	if len(entries) > q.First {
		page.HasNext = true
		entries = entries[:q.First]
	}
	page.Items = append(page.Items, entries...)
	return page, nil
}

func auditMatches(e service.AuditEntry, docID string, f service.AuditFilter) bool {
	return (f.ArtifactID == "" || docID == f.ArtifactID) &&
		(f.Action == "" || e.Event.Action == f.Action) &&
		(f.Actor == "" || e.Event.Actor == f.Actor) &&
		(f.CorrelationID == "" || e.Event.CorrelationID == f.CorrelationID)
}

// auditLess orders entries oldest first by (at, artifactId, seq).
func auditLess(a, b service.AuditEntry) bool {
	if !a.Event.At.Equal(b.Event.At) {
		return a.Event.At.Before(b.Event.At)
	}
	if a.Event.ArtifactID != b.Event.ArtifactID {
		return a.Event.ArtifactID < b.Event.ArtifactID
	}
	return a.Seq < b.Seq
}

// auditAfter reports whether e comes strictly after cursor c in newest-first order.
func auditAfter(e service.AuditEntry, c model.Cursor) bool {
	pos := service.AuditEntry{Event: model.AuditEvent{At: c.At, ArtifactID: c.ID}, Seq: c.Seq}
	return auditLess(e, pos)
}
