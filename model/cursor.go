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
}

// Encode makes the opaque cursor string.
func (c Cursor) Encode() string {
	raw := strconv.FormatInt(c.At.UnixNano(), 10) + "|" + c.ID + "|" + strconv.Itoa(c.Seq)
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
	if len(parts) != 3 {
		return Cursor{}, bad
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
	return Cursor{At: time.Unix(0, ns).UTC(), ID: id, Seq: seq}, nil
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
