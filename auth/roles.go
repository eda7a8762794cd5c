package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/artifact-trust/control-plane/model"
)

var errRolesShape = errors.New("malformed roles claim (want an object from project to a list of role names)")

// parseRoles decodes the roles claim: {"project" | "*": ["viewer", ...], ...}.
// Absent or null means no roles. Duplicate project keys, unknown role names,
// invalid project names and more than MaxRoleProjects projects are refused.
func parseRoles(raw json.RawMessage) (map[string][]model.Role, error) {
	out := map[string][]model.Role{}
	if len(raw) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return out, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errRolesShape
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errRolesShape
		}
		project, ok := tok.(string)
		if !ok {
			return nil, errRolesShape
		}
		if seen[project] {
			return nil, fmt.Errorf("roles claim lists project %.64q twice", project)
		}
		seen[project] = true
		if len(seen) > MaxRoleProjects {
			return nil, fmt.Errorf("roles claim names more than %d projects", MaxRoleProjects)
		}
		if project != model.AllProjects && model.ValidateProject(project) != nil {
			return nil, fmt.Errorf("roles claim has an invalid project name %.64q", project)
		}
		var names *[]string
		if err := dec.Decode(&names); err != nil || names == nil {
			return nil, errRolesShape
		}
		var roles []model.Role
		for _, name := range *names {
			role, ok := parseRoleName(name)
			if !ok {
				return nil, fmt.Errorf("unknown role %.64q in roles claim (want viewer, publisher, verifier, promoter or project_admin)", name)
			}
			if !containsRole(roles, role) {
				roles = append(roles, role)
			}
		}
		if len(roles) > 0 {
			out[project] = roles
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, errRolesShape
	}
	return out, nil
}

// parseRoleName accepts exactly the lowercase claim spelling ("project_admin").
func parseRoleName(s string) (model.Role, bool) {
	role, ok := model.ParseRole(s)
	if !ok || s != strings.ToLower(string(role)) {
		return "", false
	}
	return role, true
}

func containsRole(rs []model.Role, r model.Role) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// ParseRoleFlag parses "project:role" (or "*:role"), as given to the token
// subcommand, into a project key and the lowercase role claim value.
func ParseRoleFlag(s string) (project string, role string, err error) {
	project, role, ok := strings.Cut(s, ":")
	if !ok || strings.Contains(role, ":") {
		return "", "", fmt.Errorf("role %q: want project:role, e.g. payments:publisher or *:viewer", s)
	}
	if project != model.AllProjects {
		if err := model.ValidateProject(project); err != nil {
			return "", "", fmt.Errorf("role %q: %w", s, err)
		}
	}
	role = strings.ToLower(role)
	if _, ok := parseRoleName(role); !ok {
		return "", "", fmt.Errorf("role %q: unknown role %q (want viewer, publisher, verifier, promoter or project_admin)", s, role)
	}
	return project, role, nil
}
