package main

import (
	"os"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// TestEverySchemaTypeAndFieldHasADescription keeps the API self-documenting for
// portal developers browsing it in the playground or generating clients.
func TestEverySchemaTypeAndFieldHasADescription(t *testing.T) {
	src, err := os.ReadFile("../schema.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	schema, gerr := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphqls", Input: string(src)})
	if gerr != nil {
		t.Fatal(gerr)
	}
	for name, def := range schema.Types {
		if def.BuiltIn {
			continue
		}
		if def.Description == "" && name != "Query" && name != "Mutation" && name != "Subscription" {
			t.Errorf("type %s has no description", name)
		}
		for _, f := range def.Fields {
			if len(f.Name) > 1 && f.Name[:2] == "__" {
				continue
			}
			if f.Description == "" {
				t.Errorf("field %s.%s has no description", name, f.Name)
			}
		}
	}
}
