package model

import (
	"strings"
	"testing"
)

func TestShownURLLeavesOutTheQueryAndUserInformation(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.example.com/in?token=RECEIVER-SECRET-123": "https://hooks.example.com/in?…",
		"https://user:pass@hooks.example.com/in":                 "https://hooks.example.com/in?…",
		"https://hooks.example.com/in#frag":                      "https://hooks.example.com/in?…",
		"https://hooks.example.com:8443/in/path":                 "https://hooks.example.com:8443/in/path",
	} {
		if got := ShownURL(in); got != want || strings.Contains(got, "SECRET") || strings.Contains(got, "pass") {
			t.Errorf("ShownURL(%q) = %q, want %q", in, got, want)
		}
	}
}
