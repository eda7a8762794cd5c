package service

import (
	"context"

	"github.com/artifact-trust/control-plane/model"
)

// FeedKey identifies an event of a project's audit feed: its time (Unix ms), its
// artifact and its index in the artifact's trail.
type FeedKey struct {
	At  int64  `bson:"t"`
	ID  string `bson:"a"`
	Seq int    `bson:"q"`
}

// FeedPos is a position in a project's audit feed in the order the events were
// written (see store/feedwalk.go): every event of the buckets before Bucket and the
// first Index events of bucket Bucket come before it.
type FeedPos struct {
	Bucket int `bson:"n"`
	Index  int `bson:"i"`
}

// next is the position right after the event at p.
func (p FeedPos) next() FeedPos { return FeedPos{Bucket: p.Bucket, Index: p.Index + 1} }

// FeedEvent is one event of the feed with its key and its position.
type FeedEvent struct {
	Key   FeedKey
	Pos   FeedPos
	Event model.AuditEvent
}

// Cursor is the event's cursor: its key (auditEvents order) and its position in
// the feed (artifactEvents resumes right after it).
func (e FeedEvent) Cursor() model.Cursor {
	return model.Cursor{At: e.Event.At, ID: e.Key.ID, Seq: e.Key.Seq, Feed: &model.FeedPosition{Bucket: e.Pos.Bucket, Index: e.Pos.Index}}
}

// Feed reads a project's audit feed in the order of writing: the record every
// replica's writes reach, so a reader sees every event whatever replica wrote it.
type Feed interface {
	// FeedEnd is the position after every event written so far.
	FeedEnd(ctx context.Context, project string) (FeedPos, error)
	// FeedSince returns up to limit (<= 0: all) events written after pos, and the
	// position after them.
	FeedSince(ctx context.Context, project string, pos FeedPos, limit int) ([]FeedEvent, FeedPos, error)
}

func keyOf(c model.Cursor) FeedKey {
	return FeedKey{At: c.At.UnixMilli(), ID: c.ID, Seq: c.Seq}
}

// after reports whether k comes after c in the feed's key order (at, id, seq).
func (k FeedKey) after(c FeedKey) bool {
	if k.At != c.At {
		return k.At > c.At
	}
	if k.ID != c.ID {
		return k.ID > c.ID
	}
	return k.Seq > c.Seq
}
