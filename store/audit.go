package store

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

// The audit feed projection (see projections.go): a bucketed log (bucketlog)
// feed:<p> of the project's audit events in the order they were appended.

// feedEntry is one audit event of the feed with its index in its artifact's trail:
// its key decoded, the event itself kept as BSON (an auditDoc, feedEvent), so
// appending to a feed bucket copies the events already there instead of decoding
// them; a reader decodes only the events it returns.
type feedEntry struct {
	Seq        int           `bson:"seq"`
	At         bson.DateTime `bson:"at"`
	ArtifactID string        `bson:"artifactId"`
	Event      feedEvent     `bson:"event"`
}

func (e feedEntry) key() logKey { return logKey{At: int64(e.At), ID: e.ArtifactID, Seq: e.Seq} }

func (e feedEntry) event() (model.AuditEvent, error) {
	d, err := e.Event.doc()
	if err != nil {
		return model.AuditEvent{}, &model.Error{Kind: model.KindInternal, Message: "database error", Err: err}
	}
	return d.model(), nil
}

// feedEvent is a feed entry's event as stored: the BSON of an auditDoc, decoded
// when first asked for and then kept, so the readers of a feed document shared
// among them (docs.View: audit pages, the webhook senders' walks) decode each
// event once, not once per request.
type feedEvent struct {
	raw  bson.Raw
	memo *eventMemo // set when read from storage
}

type eventMemo struct {
	once sync.Once
	doc  auditDoc
	err  error
}

func (e feedEvent) doc() (*auditDoc, error) {
	if e.memo == nil {
		var d auditDoc
		return &d, bson.Unmarshal(e.raw, &d)
	}
	e.memo.once.Do(func() { e.memo.err = bson.Unmarshal(e.raw, &e.memo.doc) })
	return &e.memo.doc, e.memo.err
}

func (e feedEvent) MarshalBSONValue() (byte, []byte, error) {
	return byte(bson.TypeEmbeddedDocument), e.raw, nil
}

func (e *feedEvent) UnmarshalBSONValue(typ byte, data []byte) error {
	if bson.Type(typ) != bson.TypeEmbeddedDocument {
		return fmt.Errorf("feed event: a BSON %s, want a document", bson.Type(typ))
	}
	// A copy: the decoder's buffer is not ours to keep.
	*e = feedEvent{raw: bson.Raw(append([]byte(nil), data...)), memo: &eventMemo{}}
	return nil
}

// feedEntriesOf returns a's audit events from sequence number from (at least
// a.AuditFrom: the events a holds) as feed entries.
func feedEntriesOf(a *model.Artifact, from int) ([]feedEntry, error) {
	from = max(from, a.AuditFrom)
	out := make([]feedEntry, 0, max(0, a.AuditLen()-from))
	for seq := from; seq < a.AuditLen(); seq++ {
		ev := auditOf(a, seq)
		raw, err := bson.Marshal(toAuditDoc(ev))
		if err != nil {
			return nil, &model.Error{Kind: model.KindInternal, Message: "database error", Err: err}
		}
		out = append(out, feedEntry{Seq: seq, At: bson.DateTime(ms(ev.At).UnixMilli()), ArtifactID: ev.ArtifactID, Event: feedEvent{raw: raw}})
	}
	return out, nil
}

// auditOf returns event seq of a (one a holds) with its artifact and project
// filled in.
func auditOf(a *model.Artifact, seq int) model.AuditEvent {
	return withOwner(a, a.Audit[seq-a.AuditFrom])
}

// withOwner returns e, an event of a, with its artifact and project filled in.
func withOwner(a *model.Artifact, e model.AuditEvent) model.AuditEvent {
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
	lg := s.feedLog(q.Project)
	h, ver, err := lg.Head(ctx)
	if err != nil || ver == 0 {
		return page, err
	}
	it := lg.Newest(ctx, h, feedBelow(q.After), nil, nil, nil)
	for len(page.Items) <= q.First {
		p, ok, err := it.Next()
		if err != nil {
			return page, err
		}
		if !ok {
			break
		}
		ev, err := p.Entry.event()
		if err != nil {
			return page, err
		}
		entry := service.AuditEntry{Event: ev, Seq: p.Entry.Seq, Feed: &model.FeedPosition{Bucket: p.Bucket, Index: p.Index}}
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

// artifactAudit is the audit feed filtered on one artifact: its own trail. A trail
// is normally in time order (each event is stamped as it is appended), and then it
// is read newest first a chunk at a time (the artifact, then the trail's buckets the
// page reaches), so a page costs the same whatever the trail's length. A trail
// the artifact holds whole, or one marked out of time order (auditUnordered), is
// read whole and sorted.
func (s *Store) artifactAudit(ctx context.Context, q service.AuditQuery) (service.AuditPage, error) {
	page := service.AuditPage{Items: []service.AuditEntry{}}
	d, err := s.getArtifactDoc(ctx, q.Filter.ArtifactID)
	if model.IsKind(err, model.KindNotFound) {
		return page, nil
	}
	if err != nil {
		return page, err
	}
	a := d.model()
	if a.Project != q.Project {
		return page, nil
	}
	keep := func(seq int, ev model.AuditEvent) bool {
		entry := service.AuditEntry{Event: withOwner(a, ev), Seq: seq}
		if !auditMatches(entry, a.ID, q.Filter) || (q.After != nil && !auditAfter(entry, *q.After)) {
			return false
		}
		page.Items = append(page.Items, entry)
		return true
	}
	if d.AuditUnordered || a.AuditFrom == 0 {
		events, err := s.ArtifactAudit(ctx, a, 0, a.AuditLen())
		if err != nil {
			return page, err
		}
		for seq, ev := range events {
			keep(seq, ev)
		}
		sort.Slice(page.Items, func(i, j int) bool { return auditLess(page.Items[j], page.Items[i]) })
	} else {
		hi := a.AuditLen()
		if q.After != nil && q.After.ID == a.ID {
			hi = min(hi, q.After.Seq) // a cursor in this trail: start right below it
		}
		for hi > 0 && len(page.Items) <= q.First {
			lo := max(0, hi-max(auditTrail.Cap, q.First+1))
			if hi > a.AuditFrom {
				lo = max(lo, a.AuditFrom) // first what the artifact holds
			}
			events, err := s.ArtifactAudit(ctx, a, lo, hi)
			if err != nil {
				return page, err
			}
			for i := len(events) - 1; i >= 0 && len(page.Items) <= q.First; i-- {
				keep(lo+i, events[i])
			}
			hi = lo
		}
	}
	if len(page.Items) > q.First {
		page.HasNext = true
		page.Items = page.Items[:q.First]
	}
	return page, nil
}

func auditMatches(e service.AuditEntry, docID string, f service.AuditFilter) bool {
	return (f.ArtifactID == "" || docID == f.ArtifactID) &&
		(f.Action == "" || e.Event.Action == f.Action) &&
		(f.Actor == "" || e.Event.Actor == f.Actor) &&
		(f.CorrelationID == "" || e.Event.CorrelationID == f.CorrelationID) &&
		(f.BreakGlass == nil || e.Event.BreakGlass == *f.BreakGlass)
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
