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
// written (see store/feedwalk.go): the bucket being read and the keys of its
// events already read.
type FeedPos struct {
	Bucket int       `bson:"n"`
	Seen   []FeedKey `bson:"s"`
}

// FeedEvent is one event of the feed with its key.
type FeedEvent struct {
	Key   FeedKey
	Event model.AuditEvent
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
