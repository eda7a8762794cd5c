package store

// Walking the audit feed in the order it was written, for the live subscriptions
// and the webhook deliveries (which, on several replicas, must see every event
// whatever replica wrote it: they poll the feed, the one record every replica's
// writes reach through the outbox).
//
// The feed (audit.go, projections.go) is a head feed:<p> holding the open bucket's
// events in the order they were appended and the ranges of the sealed buckets; a
// bucket is sealed as exactly the entries its head held (sorted by key). So a
// position in the order of writing is (bucket n, the keys of bucket n read so far):
// the events after it are bucket n's other events, every event of the buckets
// sealed after n, and the head's. Reading from a position costs one _id look-up
// (the head) plus one per bucket sealed since. A position names at most one
// bucket's keys (feedBucketCap, a little more when a write appended several events
// at once), so it stays small enough to be persisted (a webhook's cursor).

import (
	"context"

	"github.com/artifact-trust/control-plane/service"
)

// FeedKey, FeedPos and FeedEvent are the service's (service/feed.go).
type (
	FeedKey   = service.FeedKey
	FeedPos   = service.FeedPos
	FeedEvent = service.FeedEvent
)

var _ service.Feed = (*Store)(nil)

// FeedEnd returns the position after every event of project's feed now.
func (s *Store) FeedEnd(ctx context.Context, project string) (FeedPos, error) {
	var h logHead[feedEntry]
	if _, err := s.loadProj(ctx, feedHeadID(project), &h); err != nil {
		return FeedPos{}, err
	}
	pos := FeedPos{Bucket: h.Open, Seen: make([]FeedKey, 0, len(h.Entries))}
	for _, e := range h.Entries {
		pos.Seen = append(pos.Seen, FeedKey{At: e.At, ID: e.ArtifactID, Seq: e.Seq})
	}
	return pos, nil
}

// FeedSince returns up to limit events of project's feed written after pos (limit
// <= 0: all), in the order of writing (within a sealed bucket, by key), and the
// position after them. A position beyond the feed (the feed was rebuilt) is moved
// to the feed's end.
func (s *Store) FeedSince(ctx context.Context, project string, pos FeedPos, limit int) ([]FeedEvent, FeedPos, error) {
	headID := feedHeadID(project)
	var h logHead[feedEntry]
	if _, err := s.loadProj(ctx, headID, &h); err != nil {
		return nil, pos, err
	}
	if pos.Bucket > h.Open {
		s.logFor(ctx).WithField("project", project).Warn("feed position beyond the feed (rebuilt?); continuing from its end")
		end, err := s.FeedEnd(ctx, project)
		return nil, end, err
	}
	var out []FeedEvent
	seen := map[FeedKey]bool{}
	for _, k := range pos.Seen {
		seen[k] = true
	}
	next := FeedPos{Bucket: pos.Bucket, Seen: append([]FeedKey(nil), pos.Seen...)}
	for n := pos.Bucket; n <= h.Open; n++ {
		entries := h.Entries
		if n < h.Open {
			var err error
			if entries, err = loadBucket[feedEntry](ctx, s, bucketID(headID, n)); err != nil {
				return nil, pos, err
			}
		}
		if n != next.Bucket {
			next, seen = FeedPos{Bucket: n}, map[FeedKey]bool{}
		}
		for _, e := range entries {
			k := FeedKey{At: e.At, ID: e.ArtifactID, Seq: e.Seq}
			if seen[k] {
				continue
			}
			if limit > 0 && len(out) >= limit {
				return out, next, nil
			}
			ev, err := e.event()
			if err != nil {
				return nil, pos, err
			}
			out = append(out, FeedEvent{Key: k, Event: ev})
			seen[k] = true
			next.Seen = append(next.Seen, k)
		}
	}
	return out, next, nil
}
