// Package scalars holds the GraphQL scalars whose input the service checks itself.
package scalars

import (
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/artifact-trust/control-plane/model"
)

// MarshalTime writes a time in RFC 3339 with nanoseconds (null for the zero time).
func MarshalTime(t time.Time) graphql.Marshaler { return graphql.MarshalTime(t) }

// UnmarshalTime reads an RFC 3339 date-time with an offset. Anything else (a
// number, an empty string, a date alone, an impossible date) is BAD_USER_INPUT
// naming the expected form; gqlgen's own Time answered those as an internal
// error and took "" for the zero time.
func UnmarshalTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, model.BadInput("", "a Time must be a string holding an RFC 3339 date-time, such as 2026-03-11T18:00:00+01:00")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		if len(s) > 64 {
			s = s[:64] + "..."
		}
		return time.Time{}, model.BadInput("", "%q is not an RFC 3339 date-time, such as 2026-03-11T18:00:00+01:00", s)
	}
	return t, nil
}
