package model

import (
	"strings"
	"testing"
)

type validateCase struct {
	name string
	in   string
	bad  string // "" means accepted; otherwise a substring of the message
}

func runValidate(t *testing.T, field string, fn func(string) error, cases []validateCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			err := fn(tt.in)
			if tt.bad == "" {
				if err != nil {
					t.Fatalf("(%q) = %v, want accepted", tt.in, err)
				}
				return
			}
			wantBadInput(t, err, field, tt.bad)
		})
	}
}

func TestValidateProject(t *testing.T) {
	runValidate(t, "project", ValidateProject, []validateCase{
		{"simple", "payments", ""},
		{"mixed", "Team-A_payments.v2", ""},
		{"digit first", "1st", ""},
		{"max length", strings.Repeat("p", MaxProjectLength), ""},
		{"empty", "", "must not be empty"},
		{"too long", strings.Repeat("p", MaxProjectLength+1), "129 bytes long, at most 128"},
		{"star", "*", "may only contain"},
		{"leading dot", ".hidden", "may only contain"},
		{"leading dash", "-x", "may only contain"},
		{"slash", "a/b", "may only contain"},
		{"space", "my project", "may only contain"},
		{"trailing newline", "payments\n", "may only contain"},
		{"control char", "pay\x00ments", "may only contain"},
		{"dollar", "$where", "may only contain"},
		{"unicode", "paymënts", "may only contain"},
	})
}

func TestValidateTag(t *testing.T) {
	runValidate(t, "tags[0]", func(s string) error { return ValidateTag("tags[0]", s) }, []validateCase{
		{"semver", "v1.2.3", ""},
		{"latest", "latest", ""},
		{"underscore first", "_build", ""},
		{"max length", strings.Repeat("t", MaxTagLength), ""},
		{"empty", "", "must not be empty"},
		{"too long", strings.Repeat("t", MaxTagLength+1), "at most 128"},
		{"leading dot", ".x", "not starting with . or -"},
		{"leading dash", "-x", "may only contain"},
		{"colon", "a:b", "may only contain"},
		{"plus", "1.0+build", "may only contain"},
		{"space", "a b", "may only contain"},
		{"tab", "a\tb", "may only contain"},
		{"newline", "a\n", "may only contain"},
	})
}

func TestValidateRuntimeClass(t *testing.T) {
	runValidate(t, "runtimeClass", func(s string) error { return ValidateRuntimeClass("runtimeClass", s) }, []validateCase{
		{"simple", "gvisor", ""},
		{"with dash and digit", "kata-qemu2", ""},
		{"single char", "a", ""},
		{"dotted", "runc.v2", ""},
		{"max length", strings.Repeat("r", MaxRuntimeClassLength), ""},
		{"empty", "", "must not be empty"},
		{"too long", strings.Repeat("r", MaxRuntimeClassLength+1), "at most 63"},
		{"uppercase", "Kata", "lowercase letters"},
		{"leading dash", "-kata", "may only contain"},
		{"trailing dash", "kata-", "may only contain"},
		{"underscore", "kata_qemu", "may only contain"},
		{"space", "kata qemu", "may only contain"},
		{"control char", "kata\x01", "may only contain"},
	})
}

func TestValidateEnvironment(t *testing.T) {
	runValidate(t, "targetEnvironment", ValidateEnvironment, []validateCase{
		{"region", "eu-1", ""},
		{"mixed", "Prod_EU.west-2", ""},
		{"max length", strings.Repeat("e", MaxEnvironmentLength), ""},
		{"empty", "", "must not be empty"},
		{"too long", strings.Repeat("e", MaxEnvironmentLength+1), "at most 63"},
		{"leading dash", "-eu", "may only contain"},
		{"space", "eu 1", "may only contain"},
		{"slash", "eu/1", "may only contain"},
		{"newline", "eu-1\n", "may only contain"},
	})
}

func TestValidateSource(t *testing.T) {
	runValidate(t, "source", ValidateSource, []validateCase{
		{"registry path", "registry.example.com/team/app", ""},
		{"https url", "https://dl.example.com/app-1.0.tar.gz?sig=abc&x=1", ""},
		{"s3 url", "s3://bucket/key", ""},
		{"unicode printable", "registry.example.com/tëam", ""},
		{"max length", strings.Repeat("s", MaxSourceLength), ""},
		{"empty", "", "must not be empty"},
		{"too long", strings.Repeat("s", MaxSourceLength+1), "2049 bytes long, at most 2048"},
		{"space", "registry.example.com/a b", "white-space character (U+0020)"},
		{"leading space", " registry.example.com/a", "white-space"},
		{"tab", "a\tb", "U+0009"},
		{"newline", "a\nb", "U+000A"},
		{"NUL", "a\x00b", "U+0000"},
		{"DEL", "a\x7fb", "U+007F"},
		{"NBSP", "a\u00a0b", "U+00A0"},
		{"invalid utf-8", "a\xffb", "not valid UTF-8"},
	})
}

func TestValidateReason(t *testing.T) {
	runValidate(t, "reason", ValidateReason, []validateCase{
		{"empty is allowed (optional)", "", ""},
		{"sentence with spaces", "Rolling back: CVE-2026-1234 found in base image.", ""},
		{"unicode", "Freigabe für Produktion ✅", ""},
		{"max length", strings.Repeat("r", MaxReasonLength), ""},
		{"too long", strings.Repeat("r", MaxReasonLength+1), "1025 bytes long, at most 1024"},
		{"newline", "line one\nline two", "U+000A"},
		{"carriage return", "a\rb", "U+000D"},
		{"tab", "a\tb", "U+0009"},
		{"escape sequence", "a\x1b[31mred", "U+001B"},
		{"NUL", "a\x00", "U+0000"},
		{"C1 control", "a\u0085b", "U+0085"},
		{"line separator", "a\u2028b", "U+2028"},
		{"invalid utf-8", "\xc3\x28", "not valid UTF-8"},
	})
}

func TestValidateSubjectPrefixAndDetail(t *testing.T) {
	runValidate(t, "promoterSubjects[0]", func(s string) error { return ValidateSubject("promoterSubjects[0]", s) }, []validateCase{
		{"service account", "system:serviceaccount:ci:release", ""},
		{"email", "alice@example.com", ""},
		{"empty", "", "must not be empty"},
		{"tab", "ci\trelease", "white-space"},
		{"too long", strings.Repeat("s", MaxSubjectLength+1), "at most 256"},
		{"inner space", "Alice Example", ""},
		{"leading space", " alice", "must not start or end with a space"},
		{"trailing space", "alice ", "must not start or end with a space"},
		{"right-to-left override", "alice\u202e", "invisible formatting character (U+202E)"},
		{"zero-width space", "ali\u200bce", "invisible formatting character (U+200B)"},
		{"zero-width joiner (kept in free text, not in subjects)", "ali\u200dce", "invisible formatting character (U+200D)"},
		{"line separator", "alice\u2028", "white-space character (U+2028)"},
		{"Hangul filler", "alice\u3164", "invisible formatting character (U+3164)"},
		{"only a Hangul filler", "\u3164", "invisible formatting character (U+3164)"},
		{"halfwidth Hangul filler", "al\uffa0ice", "invisible formatting character (U+FFA0)"},
		{"combining grapheme joiner", "ali\u034fce", "invisible formatting character (U+034F)"},
		{"variation selector", "alice\ufe0f", "invisible formatting character (U+FE0F)"},
		{"blank braille pattern", "alice\u2800", "invisible formatting character (U+2800)"},
		{"letters of other scripts", "Jürgen Ωmega 山田", ""},
		{"private use", "alice\ue000", "not a visible letter"},
		{"unassigned", "alice\u0378", "not a visible letter"},
		{"noncharacter", "alice\uffff", "not a visible letter"},
	})
	runValidate(t, "allowedSources[0]", func(s string) error { return ValidateSourcePrefix("allowedSources[0]", s) }, []validateCase{
		{"prefix", "registry.example.com/", ""},
		{"empty", "", "must not be empty"},
		{"too long", strings.Repeat("s", MaxPrefixLength+1), "at most 512"},
	})
	runValidate(t, "results[0].detail", func(s string) error { return ValidateDetail("results[0].detail", s) }, []validateCase{
		{"empty allowed", "", ""},
		{"sentence", "cosign verify ok (key id 1234)", ""},
		{"too long", strings.Repeat("d", MaxDetailLength+1), "at most 2048"},
		{"newline", "a\nb", "control"},
	})
}

func TestPromotionRequestValidate(t *testing.T) {
	tests := []struct {
		name  string
		req   PromotionRequest
		field string
	}{
		{"dev no env", PromotionRequest{Channel: ChannelDev}, ""},
		{"prod with env and reason", PromotionRequest{Channel: ChannelProd, TargetEnvironment: "eu-1", Reason: "release 1.2"}, ""},
		{"empty channel", PromotionRequest{}, "channel"},
		{"lowercase channel", PromotionRequest{Channel: "dev"}, "channel"},
		{"bad env", PromotionRequest{Channel: ChannelDev, TargetEnvironment: "-x"}, "targetEnvironment"},
		{"reason too long", PromotionRequest{Channel: ChannelDev, Reason: strings.Repeat("r", MaxReasonLength+1)}, "reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.req.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantBadInput(t, err, tt.field)
		})
	}
}
