package model

import (
	"sort"
	"strings"
	"time"
)

// ActorType distinguishes people from automation.
type ActorType string

const (
	ActorUser           ActorType = "USER"
	ActorServiceAccount ActorType = "SERVICE_ACCOUNT"
)

// Role is a project role. A higher role does not imply a lower one.
type Role string

const (
	RoleViewer       Role = "VIEWER"
	RolePublisher    Role = "PUBLISHER"
	RoleVerifier     Role = "VERIFIER"
	RolePromoter     Role = "PROMOTER"
	RoleProjectAdmin Role = "PROJECT_ADMIN"
)

// AllRoles lists every role.
var AllRoles = []Role{RoleViewer, RolePublisher, RoleVerifier, RolePromoter, RoleProjectAdmin}

// ParseRole maps a token claim value ("project_admin") to a Role.
func ParseRole(s string) (Role, bool) {
	r := Role(strings.ToUpper(s))
	return r, r.Valid()
}

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	for _, x := range AllRoles {
		if x == r {
			return true
		}
	}
	return false
}

// AllProjects is the roles key that applies to every project.
const AllProjects = "*"

// Actor is the authenticated caller of a request.
type Actor struct {
	Subject string
	Type    ActorType
	// Roles maps a project name, or "*", to the roles held there.
	Roles map[string][]Role
	// ExpiresAt is when the actor's credential expires (zero: unknown). Long-lived
	// streams end then.
	ExpiresAt time.Time
}

// RolesIn returns the roles the actor holds in project, including "*" roles.
func (a Actor) RolesIn(project string) []Role {
	out := append([]Role(nil), a.Roles[project]...)
	if project != AllProjects {
		out = append(out, a.Roles[AllProjects]...)
	}
	return out
}

// HasAnyRole reports whether the actor holds one of roles in project.
func (a Actor) HasAnyRole(project string, roles ...Role) bool {
	for _, held := range a.RolesIn(project) {
		for _, want := range roles {
			if held == want {
				return true
			}
		}
	}
	return false
}

// CanRead reports whether the actor holds any role in project.
func (a Actor) CanRead(project string) bool { return len(a.RolesIn(project)) > 0 }

// Projects lists the role keys in a stable order.
func (a Actor) Projects() []string {
	out := make([]string, 0, len(a.Roles))
	for p := range a.Roles {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Operations and the roles they need in a project (promotion is decided by the
// channel policy instead).
var (
	RegisterRoles  = []Role{RolePublisher, RoleProjectAdmin}
	VerifyRoles    = []Role{RoleVerifier, RoleProjectAdmin}
	LifecycleRoles = []Role{RolePublisher, RoleProjectAdmin}
	RevokeRoles    = []Role{RoleVerifier, RoleProjectAdmin}
	PolicyRoles    = []Role{RoleProjectAdmin}
)
