package store

import (
	"context"
	"sort"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

// The scan-based implementations the projections replaced, kept as test oracles:
// they query the artifacts collection directly (O(collection) on the embedded engine).

// oracleNewestFirst is the artifact list order: createdAt desc, _id desc.
var oracleNewestFirst = bson.D{{Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}}

func oracleArtifactFilter(project string, f service.ArtifactFilter) bson.D {
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
		q = append(q, oracleChannel(f.Channel))
	}
	if f.Tag != "" {
		q = append(q, bson.E{Key: "tags", Value: f.Tag})
	}
	return q
}

func oracleFind(t testing.TB, s *Store, filter bson.D, limit int64) []*model.Artifact {
	t.Helper()
	ctx := context.Background()
	opts := options.Find().SetSort(oracleNewestFirst)
	if limit > 0 {
		opts.SetLimit(limit)
	}
	cur, err := s.artifacts.Find(ctx, filter, opts)
	if err != nil {
		t.Fatal(err)
	}
	var docs []artifactDoc
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	out := make([]*model.Artifact, len(docs))
	for i := range docs {
		out[i] = docs[i].model()
	}
	return out
}

// oracleChannel matches artifacts promoted into c: a promotion held inline, or the
// newest promotion of a (channel, environment) no longer inline.
func oracleChannel(c model.Channel) bson.E {
	return bson.E{Key: "$and", Value: bson.A{bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: "promotions.channel", Value: c}},
		bson.D{{Key: "promotionTargets.channel", Value: c}},
	}}}}}
}

// oracleListArtifacts is the old ListArtifacts.
func oracleListArtifacts(t testing.TB, s *Store, q service.ArtifactQuery) service.ArtifactPage {
	t.Helper()
	page := service.ArtifactPage{Items: []*model.Artifact{}}
	filter := oracleArtifactFilter(q.Project, q.Filter)
	total, err := s.artifacts.CountDocuments(context.Background(), filter)
	if err != nil {
		t.Fatal(err)
	}
	page.TotalCount = int(total)
	if q.After != nil {
		at := q.After.At
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "createdAt", Value: bson.D{{Key: "$lt", Value: at}}}},
			bson.D{{Key: "createdAt", Value: at}, {Key: "_id", Value: bson.D{{Key: "$lt", Value: q.After.ID}}}},
		}})
	}
	docs := oracleFind(t, s, filter, int64(q.First)+1)
	if len(docs) > q.First {
		page.HasNext = true
		docs = docs[:q.First]
	}
	page.Items = docs
	return page
}

// oraclePromotedArtifacts is the old PromotedArtifacts: every artifact of project
// with at least one promotion (into channel, when set), newest first.
func oraclePromotedArtifacts(t testing.TB, s *Store, project string, channel model.Channel) []*model.Artifact {
	t.Helper()
	filter := bson.D{{Key: "project", Value: project}}
	if channel != "" {
		filter = append(filter, oracleChannel(channel))
	} else {
		filter = append(filter, bson.E{Key: "promotions.0", Value: bson.D{{Key: "$exists", Value: true}}})
	}
	return oracleFind(t, s, filter, 0)
}

// oracleAuditEvents is the old AuditEvents: every event of the project, flattened,
// filtered, sorted and paged in Go.
func oracleAuditEvents(t testing.TB, s *Store, q service.AuditQuery) service.AuditPage {
	t.Helper()
	page := service.AuditPage{Items: []service.AuditEntry{}}
	var entries []service.AuditEntry
	for _, a := range oracleFind(t, s, bson.D{{Key: "project", Value: q.Project}}, 0) {
		a, err := s.withHistory(context.Background(), a, 0, 0) // the whole trail
		if err != nil {
			t.Fatal(err)
		}
		for seq := range a.Audit {
			entry := service.AuditEntry{Event: auditOf(a, seq), Seq: seq}
			if !auditMatches(entry, a.ID, q.Filter) || (q.After != nil && !auditAfter(entry, *q.After)) {
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
	return page
}
