package main

import (
	"encoding/json"
	"reflect"
	"testing"
)

const (
	summaryNode = `id project digest kind oci sourceType source runtimeClass tags lifecycleState trustState version createdAt updatedAt`
	listSummary = `query($after: String) { artifacts(project: "payments", first: 2, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { cursor node { ` + summaryNode + ` } } } }`
	listMixed = `query($after: String) { artifacts(project: "payments", first: 2, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { cursor node { ` + summaryNode + ` verification { check result } promotions { channel } } } } }`
)

type listPageJSON struct {
	Artifacts struct {
		TotalCount int `json:"totalCount"`
		PageInfo   struct {
			HasNextPage bool    `json:"hasNextPage"`
			EndCursor   *string `json:"endCursor"`
		} `json:"pageInfo"`
		Edges []struct {
			Cursor string         `json:"cursor"`
			Node   map[string]any `json:"node"`
		} `json:"edges"`
	} `json:"artifacts"`
}

// listAll pages through payments with query and returns the pages.
func (ts *testServer) listAll(tok, query string) []listPageJSON {
	ts.t.Helper()
	var pages []listPageJSON
	vars := map[string]any{"after": nil}
	for len(pages) < 10 {
		var p listPageJSON
		ts.MustDo(tok, query, vars, &p)
		pages = append(pages, p)
		if !p.Artifacts.PageInfo.HasNextPage {
			return pages
		}
		vars["after"] = *p.Artifacts.PageInfo.EndCursor
	}
	ts.t.Fatal("pagination does not end")
	return nil
}

func TestArtifactListOfSummaryFieldsAnswersAsTheFullListAndAMixedSelectionGetsTheFullArtifacts(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	c := newCast(t)
	allowRegistry(t, ts, c, map[string]any{"allowNonOci": true, "allowedSources": []string{"registry.example.com/payments/", "https://downloads.example.com/"}})
	a := ts.register(c.publisher, "payments", 1, map[string]any{"tags": []string{"v1", "candidate"}})
	ts.register(c.publisher, "payments", 2, nil)
	ts.register(c.publisher, "payments", 3, map[string]any{"kind": "ARCHIVE", "sourceType": "HTTPS", "source": "https://downloads.example.com/tool.tgz", "runtimeClass": "jvm"})
	ts.verify(c.verifier, a.ID, "SIGNATURE=PASSED", "ATTESTATION=PASSED")
	ts.promote(c.promoter, a.ID, "DEV", "")

	summary, mixed := ts.listAll(c.viewer, listSummary), ts.listAll(c.viewer, listMixed)
	if len(summary) != 2 || len(mixed) != 2 || summary[0].Artifacts.TotalCount != 3 {
		t.Fatalf("%d and %d pages, total %d", len(summary), len(mixed), summary[0].Artifacts.TotalCount)
	}
	sawA := false
	for i := range mixed {
		for _, e := range mixed[i].Artifacts.Edges {
			if e.Node["id"] != a.ID {
				continue
			}
			sawA = true
			// The fields outside the summary are served whole.
			if got, _ := json.Marshal([]any{e.Node["verification"], e.Node["promotions"]}); len(e.Node["verification"].([]any)) < 2 || len(e.Node["promotions"].([]any)) != 1 {
				t.Fatalf("the mixed page served verification and promotions %s", got)
			}
		}
		for _, e := range mixed[i].Artifacts.Edges {
			delete(e.Node, "verification")
			delete(e.Node, "promotions")
		}
	}
	if !sawA {
		t.Fatal("the verified artifact is not listed")
	}
	// Without them, the pages are the same: cursors, totals and every summary field.
	if !reflect.DeepEqual(summary, mixed) {
		got, _ := json.Marshal(summary)
		want, _ := json.Marshal(mixed)
		t.Fatalf("summary pages %s\nfull pages    %s", got, want)
	}
	archive := summary[0].Artifacts.Edges[0].Node
	if archive["runtimeClass"] != "jvm" || archive["oci"] != false || archive["kind"] != "ARCHIVE" {
		t.Fatalf("newest artifact %v", archive)
	}
}
