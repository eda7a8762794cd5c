package store

import (
	"context"
	"sort"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

// The audit feed projection (see projections.go): feed:<p> holds the newest events
// inline and the at-range of every sealed bucket feed:<p>#<n>.

// feedEntry is one audit event of the feed with its index in its artifact's trail:
// its key decoded, the event itself kept as BSON (an auditDoc), so appending to a
// feed bucket copies the events already there instead of decoding them; a reader
// decodes only the events it returns.
type feedEntry struct {
	Seq        int      `bson:"q"`
	At         int64    `bson:"t"` // Unix ms
	ArtifactID string   `bson:"a"`
	Event      bson.Raw `bson:"e"`
}

func (e feedEntry) key() logKey { return logKey{At: e.At, ID: e.ArtifactID, Seq: e.Seq} }

func (e feedEntry) event() (model.AuditEvent, error) {
	var d auditDoc
	if err := bson.Unmarshal(e.Event, &d); err != nil {
		return model.AuditEvent{}, &model.Error{Kind: model.KindInternal, Message: "database error", Err: err}
	}
	return d.model(), nil
}

// feedEntriesOf returns a's audit events from index from as feed entries.
func feedEntriesOf(a *model.Artifact, from int) ([]feedEntry, error) {
	out := make([]feedEntry, 0, len(a.Audit)-from)
	for seq := from; seq < len(a.Audit); seq++ {
		ev := auditOf(a, seq)
		raw, err := bson.Marshal(toAuditDoc(ev))
		if err != nil {
			return nil, &model.Error{Kind: model.KindInternal, Message: "database error", Err: err}
		}
		out = append(out, feedEntry{Seq: seq, At: ms(ev.At).UnixMilli(), ArtifactID: ev.ArtifactID, Event: raw})
	}
	return out, nil
}

// auditOf returns event seq of a with its artifact and project filled in.
func auditOf(a *model.Artifact, seq int) model.AuditEvent {
	e := a.Audit[seq]
	if e.ArtifactID == "" {
		e.ArtifactID = a.ID
	}
	if e.Project == "" {
		e.Project = a.Project
	}
	return e
}

// AuditEvents returns one page of a project's artifact audit events, newest first
// by (at desc, artifactId desc, seq desc) -- the cursor's (At, ID, Seq) -- seq being
// the event's index in its artifact's trail, strictly after q.After when set.
//
// It reads the feed projection: the head (one _id look-up, holding the newest events)
// and the sealed buckets the page reaches. With an artifactId filter it reads that
// artifact's trail instead (one _id look-up). Filters that match few events read
// more buckets, up to every bucket of the project.
func (s *Store) AuditEvents(ctx context.Context, q service.AuditQuery) (service.AuditPage, error) {
	page := service.AuditPage{Items: []service.AuditEntry{}}
	if q.First < 0 {
		return page, model.BadInput("first", "must not be negative")
	}
	if q.Filter.ArtifactID != "" {
		return s.artifactAudit(ctx, q)
	}
	headID := feedHeadID(q.Project)
	var h logHead[feedEntry]
	ver, err := s.loadProj(ctx, headID, &h)
	if err != nil || ver == 0 {
		return page, err
	}
	load := func(n int) ([]feedEntry, error) { return loadBucket[feedEntry](ctx, s, bucketID(headID, n)) }
	it := newNewestIter(h.Entries, h.Sealed, load, feedBelow(q.After))
	for len(page.Items) <= q.First {
		e, ok, err := it.next()
		if err != nil {
			return page, err
		}
		if !ok {
			break
		}
		ev, err := e.event()
		if err != nil {
			return page, err
		}
		entry := service.AuditEntry{Event: ev, Seq: e.Seq}
		if auditMatches(entry, entry.Event.ArtifactID, q.Filter) {
			page.Items = append(page.Items, entry)
		}
	}
	if len(page.Items) > q.First {
		page.HasNext = true
		page.Items = page.Items[:q.First]
	}
	return page, nil
}

// feedBelow is the feed key strictly below which entries come after cursor c. Event
// times are whole milliseconds; a cursor time with a remainder lies between two.
func feedBelow(c *model.Cursor) *logKey {
	if c == nil {
		return nil
	}
	at := c.At.UnixMilli()
	if c.At.UnixNano()%int64(time.Millisecond) != 0 {
		return &logKey{At: at + 1}
	}
	return &logKey{At: at, ID: c.ID, Seq: c.Seq}
}

// artifactAudit is the audit feed filtered on one artifact: its own trail.
func (s *Store) artifactAudit(ctx context.Context, q service.AuditQuery) (service.AuditPage, error) {
	page := service.AuditPage{Items: []service.AuditEntry{}}
	a, err := s.GetArtifact(ctx, q.Filter.ArtifactID)
	if model.IsKind(err, model.KindNotFound) {
		return page, nil
	}
	if err != nil {
		return page, err
	}
	if a.Project != q.Project {
		return page, nil
	}
	var entries []service.AuditEntry
	for seq := range a.Audit {
		entry := service.AuditEntry{Event: auditOf(a, seq), Seq: seq}
		if !auditMatches(entry, a.ID, q.Filter) || (q.After != nil && !auditAfter(entry, *q.After)) {
			continue
		}
		entries = append(entries, entry)
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
