package resolvers

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
)

// summaryFields are the fields of Artifact that model.Artifact.Summary keeps (and
// __typename). A list page selecting no other field of its artifacts is served
// from the store's list without loading them (service.ArtifactSummaries).
var summaryFields = map[string]bool{
	"__typename": true, "id": true, "project": true, "digest": true, "kind": true, "oci": true,
	"sourceType": true, "source": true, "runtimeClass": true, "tags": true, "lifecycleState": true,
	"trustState": true, "version": true, "createdAt": true, "updatedAt": true,
}

// connectionFields and edgeFields are the fields of ArtifactConnection and
// ArtifactEdge that are not artifacts (node is checked field by field). A field not
// listed, on any level, makes the page a full one.
var (
	connectionFields = map[string]bool{"__typename": true, "totalCount": true, "pageInfo": true}
	edgeFields       = map[string]bool{"__typename": true, "cursor": true}
)

// selectsOnlySummaries reports whether the ArtifactConnection being resolved in ctx
// selects only summary fields of its artifacts (fragments, aliases and @skip /
// @include resolved as gqlgen executes them). False when ctx is not a field's.
func selectsOnlySummaries(ctx context.Context) bool {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Field.Field == nil || !graphql.HasOperationContext(ctx) {
		return false
	}
	op := graphql.GetOperationContext(ctx)
	for _, f := range graphql.CollectFields(op, fc.Field.Selections, []string{"ArtifactConnection"}) {
		if connectionFields[f.Name] {
			continue
		}
		if f.Name != "edges" {
			return false
		}
		for _, ef := range graphql.CollectFields(op, f.Selections, []string{"ArtifactEdge"}) {
			if edgeFields[ef.Name] {
				continue
			}
			if ef.Name != "node" {
				return false
			}
			for _, af := range graphql.CollectFields(op, ef.Selections, []string{"Artifact"}) {
				if !summaryFields[af.Name] {
					return false
				}
			}
		}
	}
	return true
}
