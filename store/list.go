package store

import (
	"context"
	"errors"
	"time"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

// The artifact list projection (see projections.go): list:<p> holds the open bucket
// inline plus, per sealed bucket list:<p>#<n>, its createdAt range and counts.

// listEntry is what a list needs of an artifact to filter and order it, packed:
// Codes holds the trust state, lifecycle state and kind as 1 + their index in the
// model's lists (bits 0-3, 4-7, 8-11; 0: not one of them, the value is then in
// T, L or K) and the channels the artifact was ever promoted into as bits 12-15
// (model.Channels order; others in XChannels). Half the bytes and a third of the
// decoding work of the plain struct, on every list read and write.
//
// F, Src and Keys are the artifact's deploy facts (storedFacts, chanlog.go): the
// trust re-derivation tells from them, a bucket at a time, which artifacts'
// trust differs under the current policy and loads only those.
//
// With Digest, SourceType, RuntimeClass and UpdatedAt (and Src, the artifact's
// source) an entry holds every summary field of its artifact (summary), so a list
// page asking for no other field is served without loading an artifact.
type listEntry struct {
	ID        string          `bson:"i"`
	CreatedAt int64           `bson:"c"` // Unix ms
	Codes     int32           `bson:"s"`
	Tags      []string        `bson:"g,omitempty"`
	Version   int64           `bson:"v"`
	T         string          `bson:"t,omitempty"`
	L         string          `bson:"l,omitempty"`
	K         string          `bson:"k,omitempty"`
	XChannels []model.Channel `bson:"x,omitempty"`
	F         int64           `bson:"f"`
	Src       string          `bson:"o,omitempty"`
	Keys      [][]string      `bson:"y,omitempty"`
	// Prov: see storedFacts.P.
	Prov *storedProvenance `bson:"pv,omitempty"`

	Digest       string           `bson:"digest"`
	SourceType   model.SourceType `bson:"sourceType"`
	RuntimeClass string           `bson:"runtimeClass,omitempty"`
	UpdatedAt    int64            `bson:"updatedAt"` // Unix ms
}

// summary returns the artifact of project e describes with its summary fields set
// (service.ArtifactQuery.Summary) and every other field zero.
func (e *listEntry) summary(project string) *model.Artifact {
	return &model.Artifact{
		ID: e.ID, Project: project, Digest: e.Digest, Kind: e.kind(), SourceType: e.SourceType, Source: e.Src,
		RuntimeClass: e.RuntimeClass, Tags: append([]string{}, e.Tags...), LifecycleState: e.lifecycle(), TrustState: e.trust(),
		Version: int(e.Version), CreatedAt: time.UnixMilli(e.CreatedAt).UTC(), UpdatedAt: time.UnixMilli(e.UpdatedAt).UTC(),
	}
}

// facts returns the deploy facts e holds; false when they cannot be told from it.
func (e *listEntry) facts() (model.DeployFacts, bool) {
	f, ok := unpackFacts(storedFacts{F: e.F, S: e.Src, K: e.Keys, P: e.Prov}, false)
	// Provenance named but not held: the verdict cannot be decided again from here.
	return f, ok && (e.F&factsProvenance == 0 || e.Prov != nil)
}

func (e listEntry) key() logKey { return logKey{At: e.CreatedAt, ID: e.ID} }

const (
	trustShift, lifecycleShift, kindShift, channelShift = 0, 4, 8, 12
)

func code[T comparable](values []T, v T) int32 { return int32(indexOf(values, v) + 1) }

func decode[T any](values []T, codes int32, shift int, other string, conv func(string) T) T {
	if c := (codes >> shift) & 0xF; c > 0 && int(c) <= len(values) {
		return values[c-1]
	}
	return conv(other)
}

func listEntryOf(a *model.Artifact) listEntry {
	e := listEntry{ID: a.ID, CreatedAt: ms(a.CreatedAt).UnixMilli(), Version: int64(a.Version),
		Digest: a.Digest, SourceType: a.SourceType, RuntimeClass: a.RuntimeClass, UpdatedAt: ms(a.UpdatedAt).UnixMilli()}
	e.Codes = code(trustStates, a.TrustState)<<trustShift | code(lifecycleStates, a.LifecycleState)<<lifecycleShift | code(model.AllArtifactKinds, a.Kind)<<kindShift
	if e.Codes&(0xF<<trustShift) == 0 {
		e.T = string(a.TrustState)
	}
	if e.Codes&(0xF<<lifecycleShift) == 0 {
		e.L = string(a.LifecycleState)
	}
	if e.Codes&(0xF<<kindShift) == 0 {
		e.K = string(a.Kind)
	}
	if len(a.Tags) > 0 {
		e.Tags = append([]string(nil), a.Tags...)
	}
	f := factsOfArtifact(a)
	e.F, e.Src, e.Keys, e.Prov = f.F, f.S, f.K, f.P
	for _, p := range a.NewestPromotions() {
		if i := indexOf(model.Channels, p.Channel); i >= 0 && i < 4 {
			e.Codes |= 1 << (channelShift + i)
		} else if !contains(e.XChannels, p.Channel) {
			e.XChannels = append(e.XChannels, p.Channel)
		}
	}
	return e
}

func (e *listEntry) trust() model.TrustState {
	return decode(trustStates, e.Codes, trustShift, e.T, func(s string) model.TrustState { return model.TrustState(s) })
}

func (e *listEntry) lifecycle() model.LifecycleState {
	return decode(lifecycleStates, e.Codes, lifecycleShift, e.L, func(s string) model.LifecycleState { return model.LifecycleState(s) })
}

func (e *listEntry) kind() model.ArtifactKind {
	return decode(model.AllArtifactKinds, e.Codes, kindShift, e.K, func(s string) model.ArtifactKind { return model.ArtifactKind(s) })
}

func (e *listEntry) promotedInto(c model.Channel) bool {
	if i := indexOf(model.Channels, c); i >= 0 && i < 4 {
		return e.Codes&(1<<(channelShift+i)) != 0
	}
	return contains(e.XChannels, c)
}

func (e *listEntry) matches(f service.ArtifactFilter) bool {
	return (f.TrustState == "" || e.trust() == f.TrustState) &&
		(f.LifecycleState == "" || e.lifecycle() == f.LifecycleState) &&
		(f.Kind == "" || e.kind() == f.Kind) &&
		(f.Channel == "" || e.promotedInto(f.Channel)) &&
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
	Open    int           `bson:"o"`
	Entries []listEntry   `bson:"e"`
	Sealed  listSummaries `bson:"s"`
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
		inc(&c.Trust, int((e.Codes>>trustShift)&0xF)-1, 1)
		inc(&c.Life, int((e.Codes>>lifecycleShift)&0xF)-1, 1)
		inc(&c.Kind, int((e.Codes>>kindShift)&0xF)-1, 1)
		for i := 0; i < 4; i++ {
			if e.Codes&(1<<(channelShift+i)) != 0 {
				c.Chan[i]++
			}
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
			if candidates = holding(h.Sealed, e.CreatedAt); len(candidates) > 0 {
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
			neutral = countsOf([]listEntry{old}) == countsOf([]listEntry{e})
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
