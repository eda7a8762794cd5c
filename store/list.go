package store

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

// The artifact list projection (see projections.go): list:<p> holds the open bucket
// inline plus, per sealed bucket list:<p>#<n>, its createdAt range and counts.

// listEntry is what a list needs of an artifact to filter and order it.
type listEntry struct {
	ID        string               `bson:"i"`
	CreatedAt int64                `bson:"c"` // Unix ms
	Trust     model.TrustState     `bson:"t"`
	Lifecycle model.LifecycleState `bson:"l"`
	Kind      model.ArtifactKind   `bson:"k"`
	Tags      []string             `bson:"g,omitempty"`
	// Channels are the channels the artifact was ever promoted into.
	Channels []model.Channel `bson:"h,omitempty"`
	Version  int64           `bson:"v"`
}

func (e listEntry) key() logKey { return logKey{At: e.CreatedAt, ID: e.ID} }

func listEntryOf(a *model.Artifact) listEntry {
	e := listEntry{
		ID: a.ID, CreatedAt: ms(a.CreatedAt).UnixMilli(), Trust: a.TrustState, Lifecycle: a.LifecycleState,
		Kind: a.Kind, Version: int64(a.Version),
	}
	if len(a.Tags) > 0 {
		e.Tags = append([]string(nil), a.Tags...)
	}
	for _, p := range a.Promotions {
		if !contains(e.Channels, p.Channel) {
			e.Channels = append(e.Channels, p.Channel)
		}
	}
	return e
}

func (e *listEntry) matches(f service.ArtifactFilter) bool {
	return (f.TrustState == "" || e.Trust == f.TrustState) &&
		(f.LifecycleState == "" || e.Lifecycle == f.LifecycleState) &&
		(f.Kind == "" || e.Kind == f.Kind) &&
		(f.Channel == "" || contains(e.Channels, f.Channel)) &&
		(f.Tag == "" || contains(e.Tags, f.Tag))
}

func indexOfEntry(es []listEntry, id string) int {
	for i := range es {
		if es[i].ID == id {
			return i
		}
	}
	return -1
}

// listHead is list:<p>.
type listHead struct {
	Open    int          `bson:"o"`
	Entries []listEntry  `bson:"e"`
	Sealed  []listSealed `bson:"s"`
}

// listSealed describes sealed bucket n (Sealed[n]).
type listSealed struct {
	Range logRange `bson:"r"`
	// Ver is the bucket document version Counts were computed from.
	Ver    int64      `bson:"v"`
	Counts listCounts `bson:"n"`
}

// listCounts counts a bucket's entries in total and per value of each single filter.
type listCounts struct {
	N     int32    `bson:"n"`
	Trust [4]int32 `bson:"t"`
	Life  [4]int32 `bson:"l"`
	Kind  [4]int32 `bson:"k"`
	Chan  [4]int32 `bson:"c"`
}

var (
	trustStates     = []model.TrustState{model.TrustUnverified, model.TrustVerified, model.TrustFailedVerification, model.TrustRevoked}
	lifecycleStates = []model.LifecycleState{model.LifecyclePublished, model.LifecyclePromoted, model.LifecycleDeprecated, model.LifecycleRetired}
)

func indexOf[T comparable](xs []T, v T) int {
	for i, x := range xs {
		if x == v {
			return i
		}
	}
	return -1
}

func inc(arr *[4]int32, i int, d int32) {
	if i >= 0 && i < len(arr) {
		arr[i] += d
	}
}

func countsOf(es []listEntry) listCounts {
	var c listCounts
	for i := range es {
		e := &es[i]
		c.N++
		inc(&c.Trust, indexOf(trustStates, e.Trust), 1)
		inc(&c.Life, indexOf(lifecycleStates, e.Lifecycle), 1)
		inc(&c.Kind, indexOf(model.AllArtifactKinds, e.Kind), 1)
		for _, ch := range e.Channels {
			inc(&c.Chan, indexOf(model.Channels, ch), 1)
		}
	}
	return c
}

func (c *listCounts) plus(o listCounts) {
	c.N += o.N
	for i := 0; i < 4; i++ {
		c.Trust[i] += o.Trust[i]
		c.Life[i] += o.Life[i]
		c.Kind[i] += o.Kind[i]
		c.Chan[i] += o.Chan[i]
	}
}

// count answers the number of entries matching f when the counts can: no tag and at
// most one other field set.
func (c *listCounts) count(f service.ArtifactFilter) (int, bool) {
	if f.Tag != "" {
		return 0, false
	}
	type field struct {
		set bool
		arr *[4]int32
		i   int
	}
	fields := []field{
		{f.TrustState != "", &c.Trust, indexOf(trustStates, f.TrustState)},
		{f.LifecycleState != "", &c.Life, indexOf(lifecycleStates, f.LifecycleState)},
		{f.Kind != "", &c.Kind, indexOf(model.AllArtifactKinds, f.Kind)},
		{f.Channel != "", &c.Chan, indexOf(model.Channels, f.Channel)},
	}
	var only *field
	for i := range fields {
		if fields[i].set {
			if only != nil {
				return 0, false
			}
			only = &fields[i]
		}
	}
	switch {
	case only == nil:
		return int(c.N), true
	case only.i < 0:
		return 0, false
	default:
		return int(only.arr[only.i]), true
	}
}

// applyList sets the list entry of an artifact of project from its state e: in
// place where it is (never over a newer version), else appended to the open bucket.
func (s *Store) applyList(ctx context.Context, project string, e listEntry) error {
	headID := listHeadID(project)
	for attempt := 0; attempt < projAttempts; attempt++ {
		var h listHead
		if _, err := s.loadProj(ctx, headID, &h); err != nil {
			return err
		}
		if indexOfEntry(h.Entries, e.ID) < 0 {
			for n := len(h.Sealed) - 1; n >= 0; n-- {
				if !h.Sealed[n].Range.contains(e.CreatedAt) {
					continue
				}
				found, err := s.setSealedListEntry(ctx, project, n, e)
				if err != nil || found {
					return err
				}
			}
		}
		// Inline: the entry is in the open bucket or in no bucket. A seal since the
		// head was read may have moved it: then start over.
		sealed := len(h.Sealed)
		full := false
		_, err := update(ctx, s, headID, project, "list", func(cur *listHead, _ int64) (bool, error) {
			if len(cur.Sealed) != sealed {
				return false, errStale
			}
			i := indexOfEntry(cur.Entries, e.ID)
			switch {
			case i < 0:
				cur.Entries = append(cur.Entries, e)
			case cur.Entries[i].Version >= e.Version:
				full = len(cur.Entries) >= s.caps.list
				return false, nil
			default:
				cur.Entries[i] = e
			}
			full = len(cur.Entries) >= s.caps.list
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
// the head's counts of that bucket up to the bucket's version.
func (s *Store) setSealedListEntry(ctx context.Context, project string, n int, e listEntry) (bool, error) {
	headID := listHeadID(project)
	found := false
	var counts listCounts
	bver, err := update(ctx, s, bucketID(headID, n), project, "list-bucket", func(b *bucketData[listEntry], ver int64) (bool, error) {
		i := indexOfEntry(b.Entries, e.ID)
		if ver == 0 || i < 0 {
			return false, nil
		}
		found = true
		changed := b.Entries[i].Version < e.Version
		if changed {
			b.Entries[i] = e
		}
		counts = countsOf(b.Entries)
		return changed, nil
	})
	if err != nil || !found {
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
	headID := listHeadID(project)
	var h listHead
	ver, err := s.loadProj(ctx, headID, &h)
	if err != nil {
		return err
	}
	if replace {
		if err := s.deleteBuckets(ctx, headID, h.Open); err != nil {
			return err
		}
		h = listHead{}
	}
	if len(entries) == 0 && !replace {
		return nil
	}
	all := append(append([]listEntry{}, h.Entries...), entries...)
	sortByKeyAsc(all)
	var docs []projDoc
	open, sealed := h.Open, h.Sealed
	for len(all) > s.caps.list {
		chunk := all[:s.caps.list]
		all = all[s.caps.list:]
		data, err := bson.Marshal(bucketData[listEntry]{Entries: chunk})
		if err != nil {
			return &model.Error{Kind: model.KindInternal, Message: "database error", Err: err}
		}
		docs = append(docs, projDoc{ID: bucketID(headID, open), Project: project, Type: "list-bucket", Version: 1, From: ver + 1, Data: data})
		sealed = append(sealed, listSealed{Range: rangeOf(chunk), Ver: 1, Counts: countsOf(chunk)})
		open++
	}
	if err := s.insertSealed(ctx, docs); err != nil {
		return err
	}
	_, err = update(ctx, s, headID, project, "list", func(cur *listHead, v int64) (bool, error) {
		if v != ver {
			return false, errStale
		}
		*cur = listHead{Open: open, Entries: all, Sealed: sealed}
		if cur.Entries == nil {
			cur.Entries = []listEntry{}
		}
		return true, nil
	})
	if errors.Is(err, errStale) {
		return model.Errorf(model.KindConflict, "list of project %s changed during a bulk write; nothing may write to a project while it is rebuilt or bulk-loaded", project)
	}
	return err
}

// ListArtifacts returns one page of a project's artifacts, newest first, with the
// total count of artifacts matching the filter, from the list projection: the head
// (one _id look-up) and the sealed buckets the page reaches (usually none or one),
// then the page's artifacts by _id. The total comes from the head's counts when the
// filter has no tag and at most one other field; otherwise every bucket of the
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
	var ids []string
	for len(ids) <= q.First {
		e, ok, err := it.next()
		if err != nil {
			return page, err
		}
		if !ok {
			break
		}
		if e.matches(q.Filter) {
			ids = append(ids, e.ID)
		}
	}
	if len(ids) > q.First {
		page.HasNext = true
		ids = ids[:q.First]
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
