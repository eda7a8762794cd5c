package model

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"testing"
)

func TestActorRolesInIncludesStarRoles(t *testing.T) {
	a := Actor{Subject: "x", Roles: map[string][]Role{
		"payments":  {RolePublisher, RoleVerifier},
		AllProjects: {RoleViewer},
		"billing":   {RoleProjectAdmin},
	}}
	sorted := func(rs []Role) []Role {
		out := append([]Role(nil), rs...)
		sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
		return out
	}
	tests := []struct {
		project string
		want    []Role
	}{
		{"payments", []Role{RolePublisher, RoleVerifier, RoleViewer}},
		{"billing", []Role{RoleProjectAdmin, RoleViewer}},
		{"unknown", []Role{RoleViewer}},
		{AllProjects, []Role{RoleViewer}}, // "*" counted once
	}
	for _, tt := range tests {
		t.Run(tt.project, func(t *testing.T) {
			if got := a.RolesIn(tt.project); !reflect.DeepEqual(sorted(got), sorted(tt.want)) {
				t.Errorf("RolesIn = %v, want %v", got, tt.want)
			}
			if !a.CanRead(tt.project) {
				t.Error("CanRead = false with a star role")
			}
		})
	}
	// RolesIn returns a copy.
	got := a.RolesIn("payments")
	got[0] = RoleProjectAdmin
	if a.Roles["payments"][0] != RolePublisher {
		t.Error("RolesIn exposes the actor's slice")
	}
}

func TestActorHasAnyRole(t *testing.T) {
	perProject := Actor{Subject: "p", Roles: map[string][]Role{"payments": {RolePublisher}}}
	star := Actor{Subject: "s", Roles: map[string][]Role{AllProjects: {RoleVerifier}}}
	none := Actor{Subject: "n"}
	tests := []struct {
		name    string
		a       Actor
		project string
		roles   []Role
		want    bool
	}{
		{"per-project role held", perProject, "payments", RegisterRoles, true},
		{"per-project role in another project", perProject, "billing", RegisterRoles, false},
		{"higher role not implied", perProject, "payments", []Role{RoleViewer}, false},
		{"publisher cannot verify", perProject, "payments", VerifyRoles, false},
		{"star role in any project", star, "billing", VerifyRoles, true},
		{"star role, other role asked", star, "billing", PolicyRoles, false},
		{"no roles", none, "payments", AllRoles, false},
		{"no roles asked", perProject, "payments", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.HasAnyRole(tt.project, tt.roles...); got != tt.want {
				t.Errorf("HasAnyRole = %v, want %v", got, tt.want)
			}
		})
	}
	if none.CanRead("payments") || perProject.CanRead("billing") || !perProject.CanRead("payments") {
		t.Error("CanRead wrong")
	}
}

func TestOperationRolesMatchDomain(t *testing.T) {
	tests := []struct {
		name string
		got  []Role
		want []Role
	}{
		{"register", RegisterRoles, []Role{RolePublisher, RoleProjectAdmin}},
		{"verify", VerifyRoles, []Role{RoleVerifier, RoleProjectAdmin}},
		{"deprecate/retire", LifecycleRoles, []Role{RolePublisher, RoleProjectAdmin}},
		{"revoke", RevokeRoles, []Role{RoleVerifier, RoleProjectAdmin}},
		{"set policy", PolicyRoles, []Role{RoleProjectAdmin}},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s roles = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestParseRole(t *testing.T) {
	tests := []struct {
		in   string
		want Role
		ok   bool
	}{
		{"viewer", RoleViewer, true},
		{"publisher", RolePublisher, true},
		{"verifier", RoleVerifier, true},
		{"promoter", RolePromoter, true},
		{"project_admin", RoleProjectAdmin, true},
		{"PROJECT_ADMIN", RoleProjectAdmin, true},
		{"admin", "", false},
		{"owner", "", false},
		{"", "", false},
		{"project-admin", "", false},
		{" viewer", "", false},
		{"*", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := ParseRole(tt.in)
			if ok != tt.ok || (ok && got != tt.want) {
				t.Errorf("ParseRole(%q) = (%q, %v), want (%q, %v)", tt.in, got, ok, tt.want, tt.ok)
			}
			if ok != got.Valid() {
				t.Errorf("Valid disagrees with ParseRole for %q", tt.in)
			}
		})
	}
}

func TestActorProjectsSorted(t *testing.T) {
	a := Actor{Roles: map[string][]Role{"zeta": nil, "*": nil, "alpha": nil}}
	if got := a.Projects(); !reflect.DeepEqual(got, []string{"*", "alpha", "zeta"}) {
		t.Errorf("Projects = %v", got)
	}
	if got := (Actor{}).Projects(); got == nil || len(got) != 0 {
		t.Errorf("Projects of no roles = %#v", got)
	}
}

func TestErrorKindsAndHelpers(t *testing.T) {
	cause := errors.New("disk on fire")
	tests := []struct {
		name string
		err  error
		kind ErrorKind
		text string
	}{
		{"bad input", BadInput("project", "must not be %s", "empty"), KindBadInput, "BAD_USER_INPUT: project: must not be empty"},
		{"denied", Denied([]string{"r1", "r2"}), KindPolicyDenied, "POLICY_DENIED: refused by policy: r1; r2"},
		{"errorf", Errorf(KindNotFound, "no artifact %s", "x"), KindNotFound, "NOT_FOUND: no artifact x"},
		{"with cause", &Error{Kind: KindInternal, Message: "store failed", Err: cause}, KindInternal, "INTERNAL: store failed: disk on fire"},
		{"wrapped", fmt.Errorf("ctx: %w", Errorf(KindConflict, "raced")), KindConflict, "ctx: CONFLICT: raced"},
		{"plain error is internal", cause, KindInternal, "disk on fire"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KindOf(tt.err); got != tt.kind {
				t.Errorf("KindOf = %s, want %s", got, tt.kind)
			}
			if !IsKind(tt.err, tt.kind) {
				t.Errorf("IsKind(%s) = false", tt.kind)
			}
			if tt.err.Error() != tt.text {
				t.Errorf("Error() = %q, want %q", tt.err.Error(), tt.text)
			}
		})
	}
	if IsKind(nil, KindInternal) {
		t.Error("IsKind(nil) = true")
	}
	if e := Denied([]string{"a"}); !reflect.DeepEqual(e.Reasons, []string{"a"}) {
		t.Error("Denied lost reasons")
	}
	if !errors.Is(&Error{Kind: KindInternal, Err: cause}, cause) {
		t.Error("Unwrap does not expose the cause")
	}
}
