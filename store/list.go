package store

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

// The artifact list projection (see projections.go): list:<p> holds the open bucket
// inline plus, per sealed bucket list:<p>#<n>, its createdAt range and counts.

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

// countedAs reports whether e and o add to the same counts.
func (e *listEntry) countedAs(o *listEntry) bool {
	return e.TrustState == o.TrustState && e.LifecycleState == o.LifecycleState && e.Kind == o.Kind && slices.Equal(e.Channels, o.Channels)
}

func indexOfEntry(es []listEntry, id string) int {
	for i := range es {
		if es[i].ID == id {
			return i
		}
	}
	return -1
}

// listHead is list:<p>: the open bucket inline and a summary per sealed bucket
// (Sealed[n] is bucket n; len(Sealed) == Open).
type listHead struct {
	Open    int          `bson:"openBucket"`
	Entries []listEntry  `bson:"entries"`
	Sealed  []listSealed `bson:"sealed"`
}

// listSealed summarizes sealed bucket n.
type listSealed struct {
	Range logRange `bson:"range"`
	// Ver is the bucket document version Counts were computed from.
	Ver    int64      `bson:"bucketVersion"`
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

// applyList sets the list entry of an artifact of project from its state e: in
// place where it is (never over a newer version), else appended to the open bucket.
// An entry in the open bucket or a new one costs one read-modify-write of the head;
// one in a sealed bucket a read of the head and one of the bucket (the head's counts
// of that bucket are rewritten only when the change moves a count).
func (s *Store) applyList(ctx context.Context, project string, e listEntry) error {
	headID := listHeadID(project)
	for attempt := 0; attempt < projAttempts; attempt++ {
		full := false
		var candidates []int
		sealed := 0
		_, err := update(ctx, s, headID, project, "list", func(h *listHead, _ int64) (bool, error) {
			full, candidates, sealed = false, nil, len(h.Sealed)
			if i := indexOfEntry(h.Entries, e.ID); i >= 0 {
				full = len(h.Entries) >= s.caps.list
				if h.Entries[i].Version >= e.Version {
					return false, nil
				}
				h.Entries[i] = e
				return true, nil
			}
			// A sealed bucket whose createdAt range holds e may hold it: look there
			// first (outside this lock). A new artifact is newer than every sealed
			// bucket, so it is appended right away.
			if candidates = holding(h.Sealed, int64(e.CreatedAt)); len(candidates) > 0 {
				return false, nil
			}
			h.Entries = append(h.Entries, e)
			full = len(h.Entries) >= s.caps.list
			return true, nil
		})
		if err != nil {
			return err
		}
		if len(candidates) == 0 {
			if full {
				return s.sealList(ctx, project)
			}
			return nil
		}
		for _, n := range candidates {
			if found, err := s.setSealedListEntry(ctx, project, n, e); err != nil || found {
				return err
			}
		}
		// In no sealed bucket: append it, unless a seal since moved things (then
		// look again).
		_, err = update(ctx, s, headID, project, "list", func(h *listHead, _ int64) (bool, error) {
			if len(h.Sealed) != sealed {
				return false, errStale
			}
			full = false
			if i := indexOfEntry(h.Entries, e.ID); i >= 0 {
				if h.Entries[i].Version >= e.Version {
					return false, nil
				}
				h.Entries[i] = e
			} else {
				h.Entries = append(h.Entries, e)
			}
			full = len(h.Entries) >= s.caps.list
			return true, nil
		})
		if errors.Is(err, errStale) {
			continue
		}
		if err != nil || !full {
			return err
		}
		return s.sealList(ctx, project)
	}
	return model.Errorf(model.KindConflict, "list of project %s is being written concurrently", project)
}

// setSealedListEntry sets e in sealed list bucket n if it is there, and then brings
// the head's counts of that bucket up to the bucket's version, unless this change
// moved no count: then the counts of the last count-moving version are still right
// (every count-moving writer and every replay writes them, never below the version
// already recorded).
func (s *Store) setSealedListEntry(ctx context.Context, project string, n int, e listEntry) (bool, error) {
	headID := listHeadID(project)
	found, neutral := false, false
	var counts listCounts
	bver, err := update(ctx, s, bucketID(headID, n), project, "list-bucket", func(b *bucketData[listEntry], ver int64) (bool, error) {
		i := indexOfEntry(b.Entries, e.ID)
		if ver == 0 || i < 0 {
			return false, nil
		}
		found = true
		old := b.Entries[i]
		changed := old.Version < e.Version
		if changed {
			b.Entries[i] = e
			neutral = old.countedAs(&e)
		}
		counts = countsOf(b.Entries)
		return changed, nil
	})
	if err != nil || !found || neutral {
		return found, err
	}
	_, err = update(ctx, s, headID, project, "list", func(h *listHead, _ int64) (bool, error) {
		if n >= len(h.Sealed) || h.Sealed[n].Ver >= bver {
			return false, nil
		}
		h.Sealed[n].Ver, h.Sealed[n].Counts = bver, counts
		return true, nil
	})
	return true, err
}

// sealList moves a full open list bucket into sealed bucket Open (see sealLog).
func (s *Store) sealList(ctx context.Context, project string) error {
	headID := listHeadID(project)
	for attempt := 0; attempt < projAttempts; attempt++ {
		var h listHead
		ver, err := s.loadProj(ctx, headID, &h)
		if err != nil || ver == 0 || len(h.Entries) < s.caps.list {
			return err
		}
		n := h.Open
		sortByKeyAsc(h.Entries)
		bver, err := s.writeSealed(ctx, bucketID(headID, n), project, "list-bucket", bucketData[listEntry]{Entries: h.Entries}, ver)
		if err != nil {
			return err
		}
		sum := listSealed{Range: rangeOf(h.Entries), Ver: bver, Counts: countsOf(h.Entries)}
		_, err = update(ctx, s, headID, project, "list", func(cur *listHead, v int64) (bool, error) {
			if v != ver {
				return false, errStale
			}
			cur.Open, cur.Entries, cur.Sealed = n+1, []listEntry{}, append(cur.Sealed, sum)
			return true, nil
		})
		if !errors.Is(err, errStale) {
			return err
		}
	}
	return model.Errorf(model.KindConflict, "list of project %s is being sealed concurrently", project)
}

// bulkList appends entries (not in the list yet) in a few writes; with replace the
// list's previous content is dropped first.
func (s *Store) bulkList(ctx context.Context, project string, entries []listEntry, replace bool) error {
	return bulkAppend[listEntry, listSealed, listHead](ctx, s, listHeadID(project), project, "list", s.caps.list, entries, replace,
		func(chunk []listEntry) listSealed {
			return listSealed{Range: rangeOf(chunk), Ver: 1, Counts: countsOf(chunk)}
		})
}

func (h *listHead) parts() (int, []listEntry, []listSealed) { return h.Open, h.Entries, h.Sealed }
func (h *listHead) set(open int, es []listEntry, sl []listSealed) {
	*h = listHead{Open: open, Entries: es, Sealed: sl}
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
	headID := listHeadID(q.Project)
	var h listHead
	ver, err := s.loadProj(ctx, headID, &h)
	if err != nil || ver == 0 {
		return page, err
	}
	cache := map[int][]listEntry{}
	load := func(n int) ([]listEntry, error) {
		if es, ok := cache[n]; ok {
			return es, nil
		}
		es, err := loadBucket[listEntry](ctx, s, bucketID(headID, n))
		if err == nil {
			cache[n] = es
		}
		return es, err
	}

	counts := countsOf(h.Entries)
	ranges := make([]logRange, len(h.Sealed))
	for n, b := range h.Sealed {
		counts.plus(b.Counts)
		ranges[n] = b.Range
	}
	if total, ok := counts.count(q.Filter); ok {
		page.TotalCount = total
	} else {
		total := countMatches(h.Entries, q.Filter)
		for n := range h.Sealed {
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
	it := newNewestIter(h.Entries, ranges, load, below)
	var hits []listEntry
	for len(hits) <= q.First {
		e, ok, err := it.next()
		if err != nil {
			return page, err
		}
		if !ok {
			break
		}
		if e.matches(q.Filter) {
			hits = append(hits, e)
		}
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
