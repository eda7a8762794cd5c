package model

import (
	"errors"
	"strings"
	"testing"
)

func TestFreeTextRefusesInvisibleFormatting(t *testing.T) {
	tests := []struct {
		name, s string
		field   string // "" when valid
	}{
		{"plain reason", "rollback after incident #42", ""},
		{"operator-looking text is data", `{"$gt": ""} $where`, ""},
		{"emoji with zero-width joiner", "ship it 👩\u200d💻", ""},
		{"RTL override", "approved \u202e", "reason"},
		{"LTR isolate", "a\u2066b", "reason"},
		{"zero-width space", "a\u200bb", "reason"},
		{"byte order mark", "\ufeffa", "reason"},
		{"soft hyphen", "a\u00adb", "reason"},
		{"NUL", "a\x00b", "reason"},
		{"DEL", "a\x7fb", "reason"},
		{"C1 control", "a\u0085b", "reason"},
		{"line separator", "a\u2028b", "reason"},
		{"invalid UTF-8", "a\xffb", "reason"},
		{"too long", strings.Repeat("a", MaxReasonLength+1), "reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateReason(tt.s)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindBadInput || e.Field != tt.field {
				t.Fatalf("got %v", err)
			}
		})
	}
	// Locators and subjects take no joiners either.
	if err := ValidateSource("registry.example.com/a\u200db"); !IsKind(err, KindBadInput) {
		t.Fatalf("source with a joiner: %v", err)
	}
	if err := ValidateSubject("subjects[0]", "ci\u202erelease"); !IsKind(err, KindBadInput) {
		t.Fatalf("subject with an override: %v", err)
	}
}

func TestAuditFilterValidators(t *testing.T) {
	for _, a := range AuditActions {
		if err := ValidateAuditAction("filter.action", a); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
	for _, bad := range []string{"app_artifact.*", "APP_ARTIFACT.REGISTER", "$where", "register", strings.Repeat("a", 1000)} {
		err := ValidateAuditAction("filter.action", bad)
		if !IsKind(err, KindBadInput) || !strings.Contains(err.Error(), ActionPromote) || len(err.Error()) > 400 {
			t.Errorf("%.40q: %v", bad, err)
		}
	}
	for s, ok := range map[string]bool{"alice": true, "Alice Smith": true, "ci-release@example.com": true, "": false, "a\nb": false, "a\u202eb": false, strings.Repeat("a", MaxSubjectLength+1): false} {
		if err := ValidateSubject("filter.actor", s); (err == nil) != ok {
			t.Errorf("actor %.40q: %v", s, err)
		}
	}
	for s, ok := range map[string]bool{"req-1.a_b": true, "6aca61ef-256d-47f8-8706-ceb689c8048f": true, "": false, "a b": false, "$where": false, strings.Repeat("a", 129): false} {
		if err := ValidateCorrelationID("filter.correlationId", s); (err == nil) != ok {
			t.Errorf("correlation id %.40q: %v", s, err)
		}
	}
}
