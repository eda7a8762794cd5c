package store

// Walking the audit feed in the order it was written, for the live subscriptions
// and the webhook deliveries (which, on several replicas, must see every event
// whatever replica wrote it: they poll the feed, the one record every replica's
// writes reach through the outbox).
//
// The feed (audit.go, projections.go) is a bucketed log (bucketlog) feed:<p>: every
// event has a sequence number in the order it was appended, and event n*cap+i is
// entry i of bucket n. So an event's position in the order of writing is (bucket
// n, index i), and it never changes; the events after a position are the rest of
// its bucket, the buckets sealed after it and the head's. Reading from a position
// costs one _id look-up (the head) plus one per bucket sealed since.
//
// A rebuild or a bulk load (RebuildProjections, InsertArtifactsBulk) lays the feed
// out again in time order: positions taken before it may then name other events
// (a webhook may receive some events again or miss some; the position of a
// subscription is re-read when it resumes). Neither runs while the server serves.

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
	h, _, err := s.feedLog(project).Head(ctx)
	if err != nil {
		return FeedPos{}, err
	}
	return FeedPos{Bucket: h.Open(), Index: len(h.Entries)}, nil
}

// FeedSince returns up to limit events of project's feed from position pos on
// (limit <= 0: all), in the order of writing, and the position after them. A
// position beyond the feed (the feed was rebuilt) is moved to the feed's end.
func (s *Store) FeedSince(ctx context.Context, project string, pos FeedPos, limit int) ([]FeedEvent, FeedPos, error) {
	lg := s.feedLog(project)
	h, _, err := lg.Head(ctx)
	if err != nil {
		return nil, pos, err
	}
	// A position is a sequence number, Bucket*cap+Index: the head may hold more
	// than a bucket's worth (they are sealed by the next write), so a position
	// taken there may name an index past cap, and the same entry may later be
	// named (Bucket+1, Index-cap).
	capacity := s.logs.feed.Cap
	seq, open := pos.Bucket*capacity+pos.Index, h.Open()*capacity
	end := open + len(h.Entries)
	if pos.Bucket < 0 || pos.Index < 0 || seq > end {
		s.logFor(ctx).WithField("project", project).Warn("feed position beyond the feed (rebuilt?); continuing from its end")
		return nil, FeedPos{Bucket: h.Open(), Index: len(h.Entries)}, nil
	}
	var out []FeedEvent
	next := pos
	for seq < end {
		n, entries, base := seq/capacity, h.Entries, open
		if n < h.Open() {
			var err error
			if entries, err = lg.Bucket(ctx, n); err != nil {
				return nil, pos, err
			}
			base = n * capacity
		} else {
			n = h.Open()
		}
		for i := seq - base; i < len(entries); i++ {
			if limit > 0 && len(out) >= limit {
				return out, next, nil
			}
			e := entries[i]
			ev, err := e.event()
			if err != nil {
				return nil, pos, err
			}
			out = append(out, FeedEvent{Key: FeedKey{At: int64(e.At), ID: e.ArtifactID, Seq: e.Seq}, Pos: FeedPos{Bucket: n, Index: i}, Event: ev})
			next = FeedPos{Bucket: n, Index: i + 1}
			seq++
		}
		if n < h.Open() && seq < base+capacity {
			seq = base + capacity // a bucket short of cap (it cannot be): on to the next
		}
	}
	return out, next, nil
}

// EngineURI is the MongoDB URI of the embedded engine when it is shared
// (Config.SharedEngine; "" otherwise and on MongoDB): another server process may
// use it as its MONGODB_URI to share this database (tests of several replicas).
func (s *Store) EngineURI() string {
	if s.embedded == nil || !s.shared {
		return ""
	}
	return s.embedded.uri
}
