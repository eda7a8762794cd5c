package main

import (
	"context"
	"math"

	"github.com/99designs/gqlgen/graphql"
	"github.com/maypok86/otter/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// Parsed and validated documents are kept in a cache bounded by an estimate of the
// memory they hold, not by their number: a parsed document costs about 30 to 100
// times its text (every literal, argument and selection is a node with its own
// position), so a cache of 1000 entries could pin gigabytes of hostile documents.
const (
	// DefaultQueryCacheBytes is the default budget of the parsed-document cache.
	DefaultQueryCacheBytes = 32 << 20
	// astNodeBytes is the estimated heap cost of one AST node (a field, fragment,
	// argument, directive, variable definition or value) once validated: measured
	// at 80 to 225 bytes per node on gqlparser v2.5 documents of literals, objects
	// and selections, rounded up.
	astNodeBytes = 320
)

// queryCache is a graphql.Cache of validated documents bounded in bytes (see
// docWeight). Eviction is by weight and recency (W-TinyLFU, from otter).
type queryCache struct {
	c *otter.Cache[string, *ast.QueryDocument]
}

var _ graphql.Cache[*ast.QueryDocument] = (*queryCache)(nil)

// newQueryCache builds a cache of at most maxBytes estimated bytes.
func newQueryCache(maxBytes int64) *queryCache {
	return &queryCache{c: otter.Must(&otter.Options[string, *ast.QueryDocument]{
		MaximumWeight: uint64(maxBytes),
		Weigher:       docWeight,
	})}
}

func (q *queryCache) Get(_ context.Context, key string) (*ast.QueryDocument, bool) {
	return q.c.GetIfPresent(key)
}

func (q *queryCache) Add(_ context.Context, key string, doc *ast.QueryDocument) {
	q.c.Set(key, doc)
}

// weightedSize is the estimated bytes held now (after pending evictions).
func (q *queryCache) weightedSize() uint64 {
	q.c.CleanUp()
	return q.c.WeightedSize()
}

// docWeight estimates the bytes a cached document holds: its key and source text
// (the cache key is the document text, which the AST's positions also reference),
// plus astNodeBytes per node.
func docWeight(key string, doc *ast.QueryDocument) uint32 {
	w := uint64(2*len(key)) + astNodeBytes*uint64(countNodes(doc))
	return uint32(min(w, math.MaxUint32))
}

// countNodes counts the nodes of doc: operations, fragments, selections, arguments,
// directives, variable definitions and every value (list items and object fields
// included).
func countNodes(doc *ast.QueryDocument) int {
	if doc == nil {
		return 0
	}
	n := 0
	var values func(v *ast.Value)
	values = func(v *ast.Value) {
		if v == nil {
			return
		}
		n++
		for _, c := range v.Children {
			n++
			values(c.Value)
		}
	}
	directives := func(ds ast.DirectiveList) {
		for _, d := range ds {
			n++
			for _, a := range d.Arguments {
				n++
				values(a.Value)
			}
		}
	}
	var selections func(ss ast.SelectionSet)
	selections = func(ss ast.SelectionSet) {
		for _, sel := range ss {
			n++
			switch s := sel.(type) {
			case *ast.Field:
				for _, a := range s.Arguments {
					n++
					values(a.Value)
				}
				directives(s.Directives)
				selections(s.SelectionSet)
			case *ast.InlineFragment:
				directives(s.Directives)
				selections(s.SelectionSet)
			case *ast.FragmentSpread:
				directives(s.Directives)
			}
		}
	}
	for _, op := range doc.Operations {
		n++
		for _, v := range op.VariableDefinitions {
			n++
			values(v.DefaultValue)
			directives(v.Directives)
		}
		directives(op.Directives)
		selections(op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		n++
		directives(f.Directives)
		selections(f.SelectionSet)
	}
	return n
}
