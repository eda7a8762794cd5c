package store

import (
	"cmp"
	"context"
	"maps"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

// The artifact list projection (see projections.go): a bucketed log (bucketlog)
// list:<p> of an entry per artifact, with the counts of each sealed bucket.

// listEntry is what a list needs of an artifact to filter and order it: its
// states and kind as their enum strings, its tags, the channels it was ever
// promoted into, and its deploy facts (storedFacts, chanlog.go, provenance
// included), from which the trust re-derivation tells, a bucket at a time, which
// artifacts' trust differs under the current policy and loads only those.
//
// With Digest, SourceType, RuntimeClass and UpdatedAt (and the source in its
// facts) an entry holds every summary field of its artifact (summary), so a list
// page asking for no other field is served without loading an artifact.
type listEntry struct {
	ID             string               `bson:"artifactId"`
	CreatedAt      bson.DateTime        `bson:"createdAt"`
	TrustState     model.TrustState     `bson:"trustState"`
	LifecycleState model.LifecycleState `bson:"lifecycleState"`
	Kind           model.ArtifactKind   `bson:"kind"`
	Tags           []string             `bson:"tags,omitempty"`
	// Channels are in model.Channels order, others after them by name.
	Channels []model.Channel `bson:"channels,omitempty"`
	Version  int64           `bson:"version"`
	Facts    storedFacts     `bson:"deployFacts"`

	Digest       string           `bson:"digest"`
	SourceType   model.SourceType `bson:"sourceType"`
	RuntimeClass string           `bson:"runtimeClass,omitempty"`
	UpdatedAt    bson.DateTime    `bson:"updatedAt"`
}

// summary returns the artifact of project e describes with its summary fields set
// (service.ArtifactQuery.Summary) and every other field zero.
func (e *listEntry) summary(project string) *model.Artifact {
	return &model.Artifact{
		ID: e.ID, Project: project, Digest: e.Digest, Kind: e.Kind, SourceType: e.SourceType, Source: e.Facts.Source,
		RuntimeClass: e.RuntimeClass, Tags: append([]string{}, e.Tags...), LifecycleState: e.LifecycleState, TrustState: e.TrustState,
		Version: int(e.Version), CreatedAt: e.CreatedAt.Time().UTC(), UpdatedAt: e.UpdatedAt.Time().UTC(),
	}
}

// facts returns the deploy facts e holds; false when they cannot be told from it.
func (e *listEntry) facts() (model.DeployFacts, bool) {
	// Provenance named but not held: the verdict cannot be decided again from here.
	return e.Facts.model(false), e.Facts.known()
}

func (e listEntry) key() logKey { return logKey{At: int64(e.CreatedAt), ID: e.ID} }

func listEntryOf(a *model.Artifact) listEntry {
	e := listEntry{ID: a.ID, CreatedAt: bson.DateTime(ms(a.CreatedAt).UnixMilli()), Version: int64(a.Version),
		TrustState: a.TrustState, LifecycleState: a.LifecycleState, Kind: a.Kind, Facts: factsOfArtifact(a),
		Digest: a.Digest, SourceType: a.SourceType, RuntimeClass: a.RuntimeClass, UpdatedAt: bson.DateTime(ms(a.UpdatedAt).UnixMilli())}
	if len(a.Tags) > 0 {
		e.Tags = append([]string(nil), a.Tags...)
	}
	for _, p := range a.NewestPromotions() {
		if !contains(e.Channels, p.Channel) {
			e.Channels = append(e.Channels, p.Channel)
		}
	}
	slices.SortFunc(e.Channels, func(x, y model.Channel) int {
		return cmp.Or(cmp.Compare(uint(x.Rank()), uint(y.Rank())), cmp.Compare(x, y)) // unknown (-1) last
	})
	return e
}

func (e *listEntry) matches(f service.ArtifactFilter) bool {
	return (f.TrustState == "" || e.TrustState == f.TrustState) &&
		(f.LifecycleState == "" || e.LifecycleState == f.LifecycleState) &&
		(f.Kind == "" || e.Kind == f.Kind) &&
		(f.Channel == "" || contains(e.Channels, f.Channel)) &&
		(f.Tag == "" || contains(e.Tags, f.Tag))
}

// listSummary is the head's record of a sealed list bucket: its counts.
type listSummary struct {
	Counts listCounts `bson:"counts"`
}

// listCounts counts a bucket's entries in total and per value of each single
// filter, keyed by the values themselves: whatever values the model has (or an
// older or newer one stored), each is counted.
type listCounts struct {
	Total            int32                            `bson:"total"`
	ByTrustState     enumCounts[model.TrustState]     `bson:"byTrustState,omitempty"`
	ByLifecycleState enumCounts[model.LifecycleState] `bson:"byLifecycleState,omitempty"`
	ByKind           enumCounts[model.ArtifactKind]   `bson:"byKind,omitempty"`
	ByChannel        enumCounts[model.Channel]        `bson:"byChannel,omitempty"`
}

// enumCounts counts entries per value of an enumeration, stored as a sub-document
// {VALUE: n} with the values in order (so equal counts encode to equal bytes).
type enumCounts[K ~string] map[K]int32

func (c enumCounts[K]) MarshalBSON() ([]byte, error) {
	d := make(bson.D, 0, len(c))
	for _, k := range slices.Sorted(maps.Keys(c)) {
		d = append(d, bson.E{Key: string(k), Value: c[k]})
	}
	return bson.Marshal(d)
}

func (c *enumCounts[K]) add(k K, n int32) {
	if *c == nil {
		*c = enumCounts[K]{}
	}
	(*c)[k] += n
}

func (c *enumCounts[K]) plus(o enumCounts[K]) {
	for k, n := range o {
		c.add(k, n)
	}
}

func countsOf(es []listEntry) listCounts {
	var c listCounts
	for i := range es {
		e := &es[i]
		c.Total++
		c.ByTrustState.add(e.TrustState, 1)
		c.ByLifecycleState.add(e.LifecycleState, 1)
		c.ByKind.add(e.Kind, 1)
		for _, ch := range e.Channels {
			c.ByChannel.add(ch, 1)
		}
	}
	return c
}

func (c listCounts) equal(o listCounts) bool {
	return c.Total == o.Total && maps.Equal(c.ByTrustState, o.ByTrustState) && maps.Equal(c.ByLifecycleState, o.ByLifecycleState) &&
		maps.Equal(c.ByKind, o.ByKind) && maps.Equal(c.ByChannel, o.ByChannel)
}

func (c *listCounts) plus(o listCounts) {
	c.Total += o.Total
	c.ByTrustState.plus(o.ByTrustState)
	c.ByLifecycleState.plus(o.ByLifecycleState)
	c.ByKind.plus(o.ByKind)
	c.ByChannel.plus(o.ByChannel)
}

// count answers the number of entries matching f when the counts can: no tag and at
// most one other field set.
func (c *listCounts) count(f service.ArtifactFilter) (int, bool) {
	if f.Tag != "" {
		return 0, false
	}
	n, set := c.Total, 0
	if f.TrustState != "" {
		n, set = c.ByTrustState[f.TrustState], set+1
	}
	if f.LifecycleState != "" {
		n, set = c.ByLifecycleState[f.LifecycleState], set+1
	}
	if f.Kind != "" {
		n, set = c.ByKind[f.Kind], set+1
	}
	if f.Channel != "" {
		n, set = c.ByChannel[f.Channel], set+1
	}
	if set > 1 {
		return 0, false
	}
	return int(n), true
}

// applyList sets the list entries es of artifacts of project from their states:
// each in place where it is (never over a newer version), else appended. An entry
// in the open bucket or a new one costs one read-modify-write of the head; one in a
// sealed bucket a read of the head and one of the bucket (the head's counts of that
// bucket are rewritten only when the change moves a count).
func (s *Store) applyList(ctx context.Context, project string, es ...listEntry) error {
	return s.listLog(project).Upsert(ctx, es, setListEntry)
}

// setListEntry sets cur from e unless cur is of the same or a newer version.
func setListEntry(cur *listEntry, e listEntry) bool {
	if cur.Version >= e.Version {
		return false
	}
	*cur = e
	return true
}

// ListArtifacts returns one page of a project's artifacts, newest first, with the
// total count of artifacts matching the filter, from the list projection: the head
// (one _id look-up) and the sealed buckets the page reaches (usually none or one),
// then the page's artifacts by _id (with q.Summary none: the items are made from
// the list entries, see listEntry.summary). The total comes from the head's counts
// when the filter has no tag and at most one other field; otherwise every bucket of the
// project is read (O(project), never O(collection)). So is a page of a filter that
// matches few artifacts.
func (s *Store) ListArtifacts(ctx context.Context, q service.ArtifactQuery) (service.ArtifactPage, error) {
	page := service.ArtifactPage{Items: []*model.Artifact{}}
	if q.First < 0 {
		return page, model.BadInput("first", "must not be negative")
	}
	lg := s.listLog(q.Project)
	h, ver, err := lg.Head(ctx)
	if err != nil || ver == 0 {
		return page, err
	}
	cache := map[int][]listEntry{}
	load := func(n int) ([]listEntry, error) {
		if es, ok := cache[n]; ok {
			return es, nil
		}
		es, err := lg.BucketOf(ctx, h, n)
		if err == nil {
			cache[n] = es
		}
		return es, err
	}

	recs, err := lg.Records(h)
	if err != nil {
		return page, err
	}
	counts := countsOf(h.Entries)
	for n := range recs {
		counts.plus(recs[n].Summary.Counts)
	}
	if total, ok := counts.count(q.Filter); ok {
		page.TotalCount = total
	} else {
		total := countMatches(h.Entries, q.Filter)
		for n := range recs {
			es, err := load(n)
			if err != nil {
				return page, err
			}
			total += countMatches(es, q.Filter)
		}
		page.TotalCount = total
	}

	var below *logKey
	if q.After != nil {
		// As MongoDB compares a BSON date: the cursor time truncated to milliseconds.
		below = &logKey{At: q.After.At.UnixMilli(), ID: q.After.ID}
	}
	it := lg.Newest(ctx, h, below, nil, func(e *listEntry) bool { return e.matches(q.Filter) }, load)
	var hits []listEntry
	for len(hits) <= q.First {
		p, ok, err := it.Next()
		if err != nil {
			return page, err
		}
		if !ok {
			break
		}
		hits = append(hits, p.Entry)
	}
	if len(hits) > q.First {
		page.HasNext = true
		hits = hits[:q.First]
	}
	if q.Summary {
		for i := range hits {
			page.Items = append(page.Items, hits[i].summary(q.Project))
		}
		return page, nil
	}
	ids := make([]string, len(hits))
	for i, e := range hits {
		ids[i] = e.ID
	}
	arts, err := s.getArtifacts(ctx, ids)
	if err != nil {
		return page, err
	}
	page.Items = append(page.Items, arts...)
	return page, nil
}

func countMatches(es []listEntry, f service.ArtifactFilter) int {
	n := 0
	for i := range es {
		if es[i].matches(f) {
			n++
		}
	}
	return n
}
