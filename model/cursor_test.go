package model

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func rawCursor(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestCursorEncodeDecodeRoundTrip(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	tests := []struct {
		name string
		c    Cursor
	}{
		{"artifact cursor", Cursor{At: t0, ID: ArtifactID(testProject, testSHA256), Seq: 0}},
		{"audit cursor with seq", Cursor{At: at(5), ID: "art_0123abcd", Seq: 42}},
		{"nanoseconds kept", Cursor{At: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC), ID: "x", Seq: 1}},
		{"non-UTC zone", Cursor{At: time.Date(2026, 1, 2, 3, 4, 5, 0, berlin), ID: "a.b_c-d", Seq: 7}},
		{"unix epoch", Cursor{At: time.Unix(0, 0), ID: "e", Seq: 0}},
		{"id of 128 chars", Cursor{At: t0, ID: strings.Repeat("z", 128), Seq: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.c.Encode()
			if strings.ContainsAny(s, "+/=") {
				t.Errorf("cursor %q is not URL-safe unpadded base64", s)
			}
			got, err := DecodeCursor(s)
			if err != nil {
				t.Fatalf("DecodeCursor(%q) = %v", s, err)
			}
			if !got.At.Equal(tt.c.At) || got.ID != tt.c.ID || got.Seq != tt.c.Seq {
				t.Errorf("round trip %+v -> %+v", tt.c, got)
			}
			if got.At.Location() != time.UTC {
				t.Errorf("decoded time not in UTC: %v", got.At.Location())
			}
		})
	}
}

func TestDecodeCursorRefusesAnythingElseAsBadInput(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"garbage", "not a cursor!"},
		{"standard base64 padding", base64.StdEncoding.EncodeToString([]byte("1|a|0"))},
		{"plain text fields", "1|a|0"},
		{"too long", strings.Repeat("A", 513)},
		{"too long but valid base64", rawCursor("1|" + strings.Repeat("a", 400) + "|0")},
		{"two fields", rawCursor("1|a")},
		{"four fields", rawCursor("1|a|0|9")},
		{"negative time", rawCursor("-1|a|0")},
		{"negative seq", rawCursor("1|a|-1")},
		{"time not a number", rawCursor("x|a|0")},
		{"seq not a number", rawCursor("1|a|x")},
		{"time overflow", rawCursor("99999999999999999999|a|0")},
		{"seq overflow", rawCursor("1|a|99999999999999999999999")},
		{"float time", rawCursor("1.5|a|0")},
		{"empty id", rawCursor("1||0")},
		{"id too long", rawCursor("1|" + strings.Repeat("a", 129) + "|0")},
		{"id with space", rawCursor("1|a b|0")},
		{"id with slash", rawCursor("1|a/b|0")},
		{"id with dollar (injection-ish)", rawCursor("1|$where|0")},
		{"id with unicode", rawCursor("1|é|0")},
		{"id with NUL", rawCursor("1|a\x00|0")},
		{"empty time", rawCursor("|a|0")},
		{"empty seq", rawCursor("1|a|")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := DecodeCursor(tt.in)
			wantBadInput(t, err, "after", "not a cursor")
			if c != (Cursor{}) {
				t.Errorf("refused cursor returned %+v", c)
			}
		})
	}
}

func FuzzDecodeCursor(f *testing.F) {
	for _, s := range []string{
		"", "garbage", Cursor{At: t0, ID: "art_1", Seq: 2}.Encode(), rawCursor("-1|a|0"), rawCursor("1|a|-1"),
		rawCursor("1|a b|0"), rawCursor("1||0"), rawCursor("+1|a|+0"), rawCursor("0001|a|007"), strings.Repeat("A", 600),
		rawCursor("1|a|0") + "\n", rawCursor("9223372036854775807|z|9223372036854775807"),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := DecodeCursor(s)
		if err != nil {
			e, ok := err.(*Error)
			if !ok || e.Kind != KindBadInput || e.Field != "after" {
				t.Fatalf("DecodeCursor(%q) error %#v is not BAD_USER_INPUT on after", s, err)
			}
			return
		}
		if c.ID == "" || c.Seq < 0 || c.At.UnixNano() < 0 {
			t.Fatalf("DecodeCursor(%q) accepted %+v", s, c)
		}
		again, err := DecodeCursor(c.Encode())
		if err != nil {
			t.Fatalf("re-encoded cursor of %+v does not decode: %v", c, err)
		}
		if !again.At.Equal(c.At) || again.ID != c.ID || again.Seq != c.Seq {
			t.Fatalf("round trip changed %+v -> %+v", c, again)
		}
	})
}

func TestPageSize(t *testing.T) {
	ip := func(n int) *int { return &n }
	tests := []struct {
		name  string
		first *int
		def   int
		want  int
		bad   string
	}{
		{"nil gives the default", nil, DefaultPageSize, 20, ""},
		{"nil gives a caller default", nil, 50, 50, ""},
		{"zero", ip(0), 20, 0, ""},
		{"one", ip(1), 20, 1, ""},
		{"max", ip(MaxPageSize), 20, 100, ""},
		{"negative", ip(-1), 20, 0, "must not be negative"},
		{"very negative", ip(-1 << 40), 20, 0, "must not be negative"},
		{"max plus one", ip(MaxPageSize + 1), 20, 0, "at most 100"},
		{"huge", ip(1 << 40), 20, 0, "at most 100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PageSize(tt.first, tt.def)
			if tt.bad != "" {
				wantBadInput(t, err, "first", tt.bad)
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("PageSize = (%d, %v), want (%d, nil)", got, err, tt.want)
			}
		})
	}
}
