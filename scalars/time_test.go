package scalars

import (
	"testing"
	"time"

	"github.com/artifact-trust/control-plane/model"
)

func TestUnmarshalTimeReadsRFC3339AndRefusesAnythingElseAsBadInput(t *testing.T) {
	for in, want := range map[string]time.Time{
		"2026-03-11T18:00:00+01:00":      time.Date(2026, 3, 11, 17, 0, 0, 0, time.UTC),
		"2026-03-11T17:00:00.123456789Z": time.Date(2026, 3, 11, 17, 0, 0, 123456789, time.UTC),
	} {
		got, err := UnmarshalTime(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	for _, in := range []any{"tomorrow", "", "2026-13-01T00:00:00Z", "+275760-09-13T00:00:00Z", "2026-03-11", "2026-03-11 18:00:00", 5, 1.5, true, map[string]any{}} {
		if _, err := UnmarshalTime(in); !model.IsKind(err, model.KindBadInput) {
			t.Errorf("%#v: %v, want BAD_USER_INPUT", in, err)
		}
	}
}
