package model

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Page size limits for connections.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
	maxCursorLength = 512
)

// Cursor is a position in a newest-first list: the time of the item, its id and,
// for audit events, its position in the artifact's trail.
type Cursor struct {
	At  time.Time
	ID  string
	Seq int
	// Feed is, for an audit event read from its project's feed, its position
	// there in the order of writing (artifactEvents resumes right after it).
	Feed *FeedPosition
}

// FeedPosition is an event's place in its project's audit feed: its bucket and
// its index there.
type FeedPosition struct {
	Bucket int
	Index  int
}

// Encode makes the opaque cursor string.
func (c Cursor) Encode() string {
	raw := strconv.FormatInt(c.At.UnixNano(), 10) + "|" + c.ID + "|" + strconv.Itoa(c.Seq)
	if c.Feed != nil {
		raw += "|" + strconv.Itoa(c.Feed.Bucket) + "|" + strconv.Itoa(c.Feed.Index)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// DecodeCursor parses a cursor made by Encode; anything else is BAD_USER_INPUT.
func DecodeCursor(s string) (Cursor, error) {
	bad := BadInput("after", "is not a cursor returned by this API")
	if s == "" || len(s) > maxCursorLength {
		return Cursor{}, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, bad
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 3 && len(parts) != 5 {
		return Cursor{}, bad
	}
	var feed *FeedPosition
	if len(parts) == 5 {
		b, err1 := strconv.Atoi(parts[3])
		i, err2 := strconv.Atoi(parts[4])
		if err1 != nil || err2 != nil || b < 0 || i < 0 {
			return Cursor{}, bad
		}
		feed = &FeedPosition{Bucket: b, Index: i}
	}
	ns, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || ns < 0 {
		return Cursor{}, bad
	}
	seq, err := strconv.Atoi(parts[2])
	if err != nil || seq < 0 {
		return Cursor{}, bad
	}
	id := parts[1]
	if id == "" || len(id) > 128 {
		return Cursor{}, bad
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return Cursor{}, bad
		}
	}
	return Cursor{At: time.Unix(0, ns).UTC(), ID: id, Seq: seq, Feed: feed}, nil
}

// PageSize validates a requested page size: nil means the default, negative is
// BAD_USER_INPUT, larger than MaxPageSize is BAD_USER_INPUT.
func PageSize(first *int, def int) (int, error) {
	if first == nil {
		return def, nil
	}
	switch {
	case *first < 0:
		return 0, BadInput("first", "must not be negative")
	case *first > MaxPageSize:
		return 0, BadInput("first", "must be at most %d", MaxPageSize)
	}
	return *first, nil
}
