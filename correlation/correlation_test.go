package correlation

import (
	"context"
	"strings"
	"testing"

	"github.com/artifact-trust/control-plane/model"
)

func TestFromHeaderKeepsSaneTokensAndReplacesOthers(t *testing.T) {
	keep := []string{"abc", "req-1.2_3", strings.Repeat("a", 128)}
	for _, v := range keep {
		if got := FromHeader(v); got != v {
			t.Errorf("FromHeader(%q) = %q, want it kept", v, got)
		}
	}
	replace := []string{"", "has space", "semi;colon", strings.Repeat("a", 129), "new\nline", "ünï"}
	for _, v := range replace {
		got := FromHeader(v)
		if got == v || model.ValidateCorrelationID(Header, got) != nil {
			t.Errorf("FromHeader(%q) = %q, want a fresh sane id", v, got)
		}
	}
}

func TestContextRoundTrip(t *testing.T) {
	ctx := With(context.Background(), "cid-1")
	if ID(ctx) != "cid-1" {
		t.Fatalf("ID = %q", ID(ctx))
	}
	if ID(context.Background()) != "" {
		t.Fatal("empty context should have no id")
	}
}
