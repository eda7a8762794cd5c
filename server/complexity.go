package main

import (
	"github.com/artifact-trust/control-plane/graph"
	"github.com/artifact-trust/control-plane/model"
)

// Page sizes assumed for list fields that are not paginated: an artifact's
// embedded lists are bounded in practice but not by the schema.
const embeddedListCost = 10

// complexity gives list fields a cost that multiplies their children by the page
// size asked for, so one query cannot fan out without limit.
func complexity() graph.ComplexityRoot {
	var c graph.ComplexityRoot
	page := func(first *int, def int) int {
		switch {
		case first == nil || *first < 1:
			return def
		case *first > model.MaxPageSize:
			// Refused by the resolver with BAD_USER_INPUT; cost it at the cap.
			return model.MaxPageSize
		}
		return *first
	}
	c.Query.Artifacts = func(child int, _ string, _ *graph.ArtifactFilter, first *int, _ *string) int {
		return 1 + page(first, 20)*child
	}
	c.Query.AuditEvents = func(child int, _ string, _ *graph.AuditFilter, first *int, _ *string) int {
		return 1 + page(first, 50)*child
	}
	c.Query.ChannelStatus = func(child int, _ string) int { return 1 + embeddedListCost*child }
	c.Query.ProjectPolicyHistory = func(child int, _ string) int { return 1 + embeddedListCost*child }
	c.Query.RecentDenials = func(child int, _ string, first *int) int { return 1 + page(first, 20)*child }
	c.Artifact.Audit = func(child int) int { return 1 + embeddedListCost*child }
	c.Artifact.Promotions = func(child int) int { return 1 + embeddedListCost*child }
	c.Artifact.Verification = func(child int) int { return 1 + embeddedListCost*child }
	return c
}
