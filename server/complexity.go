package main

import (
	"context"
	"sync/atomic"

	gqlcomplexity "github.com/99designs/gqlgen/complexity"
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/artifact-trust/control-plane/graph"
	"github.com/artifact-trust/control-plane/model"
)

// Page sizes assumed for list fields that are not paginated, when the query's
// complexity is computed before it runs: an artifact's embedded lists and a policy's
// history have no length in the query. Lists longer than that are charged the
// difference when they are resolved (listPricing).
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
	embedded := func(child int) int { return 1 + embeddedListCost*child }
	c.Query.Artifacts = func(child int, _ string, _ *graph.ArtifactFilter, first *int, _ *string) int {
		return 1 + page(first, 20)*child
	}
	c.Query.AuditEvents = func(child int, _ string, _ *graph.AuditFilter, first *int, _ *string) int {
		return 1 + page(first, 50)*child
	}
	c.Query.ChannelStatus = func(child int, _ string) int { return embedded(child) }
	c.Query.ProjectPolicyHistory = func(child int, _ string) int { return embedded(child) }
	c.Query.TrustedKeys = func(child int, _ string, _ *bool) int { return embedded(child) }
	c.Query.RecentDenials = func(child int, _ string, first *int) int { return 1 + page(first, 20)*child }
	c.Artifact.Audit = func(child int) int { return embedded(child) }
	c.Artifact.AuditTrail = func(child int, first *int, _ *string) int { return 1 + page(first, 50)*child }
	c.Artifact.Promotions = func(child int) int { return embedded(child) }
	c.Artifact.Verification = func(child int) int { return embedded(child) }
	c.Artifact.Evidence = func(child int) int { return embedded(child) }
	c.Artifact.Approvals = func(child int) int { return embedded(child) }
	return c
}

// listPricing charges whole-list fields by their real length: Artifact.audit,
// Artifact.promotions and Query.projectPolicyHistory return every entry, however
// many, and the complexity computed before the operation ran assumed
// embeddedListCost of them. Before such a list is loaded, its resolver tells
// price its length; the entries beyond embeddedListCost cost what their selection
// costs each, added to the operation's complexity, and a list that takes the
// operation over the complexity limit is refused with COMPLEXITY_LIMIT_EXCEEDED
// (the rest of the operation is still answered).
type listPricing struct {
	es graphql.ExecutableSchema
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = (*listPricing)(nil)

const listPricingExtension = "ListPricing"

func (*listPricing) ExtensionName() string { return listPricingExtension }

func (p *listPricing) Validate(es graphql.ExecutableSchema) error {
	p.es = es
	return nil
}

// MutateOperationContext gives the operation its running total of list charges.
func (*listPricing) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	oc.Stats.SetExtension(listPricingExtension, new(atomic.Int64))
	return nil
}

// listHints says how to read a refused list another way.
var listHints = map[string]string{
	"Artifact.audit": "page the trail with auditTrail instead",
}

// price charges the list of n entries being resolved in ctx.
func (p *listPricing) price(ctx context.Context, n int) error {
	if n <= embeddedListCost {
		return nil
	}
	oc, fc := graphql.GetOperationContext(ctx), graphql.GetFieldContext(ctx)
	stats := extension.GetComplexityStats(ctx)
	charges, _ := oc.Stats.GetExtension(listPricingExtension).(*atomic.Int64)
	if fc == nil || fc.Field.Field == nil || stats == nil || charges == nil {
		return nil
	}
	child := gqlcomplexity.Calculate(ctx, p.es, &ast.OperationDefinition{SelectionSet: fc.Field.SelectionSet}, oc.Variables)
	extra := int64(n-embeddedListCost) * int64(max(child, 1))
	total := int64(stats.Complexity) + charges.Add(extra)
	if total <= int64(stats.ComplexityLimit) {
		return nil
	}
	charges.Add(-extra)
	field := fc.Object + "." + fc.Field.Name
	hint := listHints[field]
	if hint == "" {
		hint = "select fewer fields of it"
	}
	if oc.Operation != nil && oc.Operation.Operation == ast.Mutation {
		// The list is read after the change: say so, lest the caller retry it.
		hint += " (the mutation itself was applied)"
	}
	err := gqlerror.Errorf("%s holds %d entries; with all of them the operation's complexity is %d, which exceeds the limit of %d: %s",
		field, n, total, stats.ComplexityLimit, hint)
	err.Extensions = map[string]any{"code": "COMPLEXITY_LIMIT_EXCEEDED"}
	return err
}
