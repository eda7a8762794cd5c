package store

import (
	"context"
	"slices"
	"sort"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

// The oracle the projections are compared with: what the scan-based implementations
// they replaced answered, computed in memory from every stored artifact, read by one
// scan of the artifacts collection. Its filters are plain Go over the stored fields,
// written independently of the projections' code (a scan per answer costs
// O(collection) on the embedded engine, and a check asks hundreds of questions).

// oracle is a snapshot of the artifacts collection.
type oracle struct {
	// arts holds every artifact as stored (the document's inline part), in list
	// order: newest first by createdAt, then _id descending.
	arts []*model.Artifact
	// full holds each artifact with its whole audit and promotion trails.
	full map[string]*model.Artifact
}

// loadOracle reads every artifact once, with the buckets of its trails.
func loadOracle(t testing.TB, s *Store) *oracle {
	t.Helper()
	ctx := context.Background()
	cur, err := s.artifacts.Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []artifactDoc
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	o := &oracle{full: make(map[string]*model.Artifact, len(docs))}
	for i := range docs {
		a := docs[i].model()
		full, err := s.withHistory(ctx, a, 0, 0) // the whole trail
		if err != nil {
			t.Fatal(err)
		}
		o.arts = append(o.arts, a)
		o.full[a.ID] = full
	}
	sort.Slice(o.arts, func(i, j int) bool { return listedBefore(o.arts[i], o.arts[j]) })
	return o
}

// listedBefore reports whether x comes before y in the artifact list order
// (createdAt desc, _id desc; createdAt compared as stored, to the millisecond).
func listedBefore(x, y *model.Artifact) bool {
	if xa, ya := x.CreatedAt.UnixMilli(), y.CreatedAt.UnixMilli(); xa != ya {
		return xa > ya
	}
	return x.ID > y.ID
}

// promotedInto reports whether a was promoted into c: a promotion held inline, or
// the newest promotion of a (channel, environment) no longer inline.
func promotedInto(a *model.Artifact, c model.Channel) bool {
	for _, ps := range [][]model.Promotion{a.Promotions, a.PromotionTargets} {
		for _, p := range ps {
			if p.Channel == c {
				return true
			}
		}
	}
	return false
}

// matches is the old list query: the project and every set field of f.
func (f oracleFilter) matches(a *model.Artifact) bool {
	return a.Project == f.project &&
		(f.TrustState == "" || a.TrustState == f.TrustState) &&
		(f.LifecycleState == "" || a.LifecycleState == f.LifecycleState) &&
		(f.Kind == "" || a.Kind == f.Kind) &&
		(f.Channel == "" || promotedInto(a, f.Channel)) &&
		(f.Tag == "" || slices.Contains(a.Tags, f.Tag))
}

type oracleFilter struct {
	project string
	service.ArtifactFilter
}

// find returns the artifacts of project matching f, newest first (never nil).
func (o *oracle) find(project string, f service.ArtifactFilter) []*model.Artifact {
	out := []*model.Artifact{}
	for _, a := range o.arts {
		if (oracleFilter{project, f}).matches(a) {
			out = append(out, a)
		}
	}
	return out
}

// listArtifacts is the old ListArtifacts.
func (o *oracle) listArtifacts(q service.ArtifactQuery) service.ArtifactPage {
	all := o.find(q.Project, q.Filter)
	page := service.ArtifactPage{Items: []*model.Artifact{}, TotalCount: len(all)}
	items := all
	if q.After != nil {
		at := q.After.At.UnixMilli()
		items = nil
		for _, a := range all {
			if c := a.CreatedAt.UnixMilli(); c < at || (c == at && a.ID < q.After.ID) {
				items = append(items, a)
			}
		}
	}
	if len(items) > q.First {
		page.HasNext = true
		items = items[:q.First]
	}
	page.Items = append(page.Items, items...)
	return page
}

// promotedArtifacts is the old PromotedArtifacts: every artifact of project with at
// least one promotion (into channel, when set), newest first.
func (o *oracle) promotedArtifacts(project string, channel model.Channel) []*model.Artifact {
	out := []*model.Artifact{}
	for _, a := range o.arts {
		if a.Project == project && ((channel == "" && len(a.Promotions) > 0) || (channel != "" && promotedInto(a, channel))) {
			out = append(out, a)
		}
	}
	return out
}

// auditEvents is the old AuditEvents: every event of the project, flattened,
// filtered, sorted and paged in Go.
func (o *oracle) auditEvents(q service.AuditQuery) service.AuditPage {
	page := service.AuditPage{Items: []service.AuditEntry{}}
	var entries []service.AuditEntry
	for _, stored := range o.arts {
		if stored.Project != q.Project {
			continue
		}
		a := o.full[stored.ID]
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
