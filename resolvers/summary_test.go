package resolvers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/artifact-trust/control-plane/auth"
	"github.com/artifact-trust/control-plane/graph"
	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

// listStore is a service.Store serving one artifact to ListArtifacts, as the store
// does: whole, or its summary when the query asks for summaries. It records the
// queries. Every other method is absent (nil embedded interface).
type listStore struct {
	service.Store
	a       *model.Artifact
	queries []service.ArtifactQuery
}

func (s *listStore) ListArtifacts(_ context.Context, q service.ArtifactQuery) (service.ArtifactPage, error) {
	s.queries = append(s.queries, q)
	a := s.a
	if q.Summary {
		a = a.Summary()
	}
	return service.ArtifactPage{Items: []*model.Artifact{a}, TotalCount: 1}, nil
}

// listArtifact is a registered, verified and promoted artifact.
func listArtifact() *model.Artifact {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	actor := model.Actor{Subject: "ci", Type: model.ActorServiceAccount}
	a := model.NewArtifact(model.RegisterInput{Project: "payments", Digest: "sha256:" + strings.Repeat("ab", 32), Kind: model.KindOCIImage,
		SourceType: model.SourceOCIRegistry, Source: "registry.example.com/payments/api", Tags: []string{"v1"}}, actor, "corr-1", at)
	a.Verification = []model.VerificationRecord{{Check: model.CheckSignature, Result: model.ResultPassed, RecordedBy: "ci", RecordedAt: at}}
	a.Promotions = []model.Promotion{{Channel: model.ChannelDev, PromotedBy: "ci", PromotedAt: at}}
	a.TrustState, a.LifecycleState, a.RuntimeClass = model.TrustVerified, model.LifecyclePromoted, "linux"
	a.Version, a.UpdatedAt = 3, at.Add(time.Hour)
	return &a
}

// list runs query as a viewer of payments and returns the data and whether the
// service asked the store for summaries.
func list(t *testing.T, query string, vars map[string]any) (map[string]any, bool) {
	t.Helper()
	st := &listStore{a: listArtifact()}
	srv := handler.New(graph.NewExecutableSchema(graph.Config{Resolvers: &Resolver{Service: service.New(st)}}))
	srv.AddTransport(transport.POST{})
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	viewer := model.Actor{Subject: "dashboard", Type: model.ActorUser, Roles: map[string][]model.Role{"payments": {model.RoleViewer}}}
	req = req.WithContext(auth.WithActor(req.Context(), viewer))
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	var resp struct {
		Data   map[string]any   `json:"data"`
		Errors []map[string]any `json:"errors"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || len(resp.Errors) > 0 || len(st.queries) != 1 {
		t.Fatalf("%s: %v %v %s", query, err, resp.Errors, rec.Body)
	}
	return resp.Data, st.queries[0].Summary
}

func TestListPagesSelectingOnlySummaryFieldsAskForSummaries(t *testing.T) {
	for _, q := range []string{
		`{ artifacts(project: "payments") { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id digest kind lifecycleState trustState tags createdAt } } } }`,
		`{ artifacts(project: "payments") { __typename edges { __typename node { __typename id project digest kind oci sourceType source runtimeClass tags lifecycleState trustState version createdAt updatedAt } } } }`,
		`{ artifacts(project: "payments") { edges { node { ...Row } } } } fragment Row on Artifact { id d: digest state: trustState }`,
		`{ artifacts(project: "payments") { edges { ... on ArtifactEdge { node { ... on Artifact { id } } } } } }`,
		`query($full: Boolean!) { artifacts(project: "payments") { edges { node { id verification @include(if: $full) { check } promotions @skip(if: true) { channel } } } } }`,
		`{ artifacts(project: "payments") { totalCount } }`,
	} {
		data, summary := list(t, q, map[string]any{"full": false})
		if !summary {
			t.Errorf("asked for full artifacts: %s", q)
		}
		if data["artifacts"] == nil {
			t.Errorf("no page: %s", q)
		}
	}
}

func TestListPageOfEverySummaryFieldEqualsTheFullPage(t *testing.T) {
	var fields []string
	for f := range summaryFields {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	sel := strings.Join(fields, " ")
	sum, summary := list(t, `{ artifacts(project: "payments") { edges { cursor node { `+sel+` } } } }`, nil)
	full, fullSummary := list(t, `{ artifacts(project: "payments") { edges { cursor node { `+sel+` verification { check } } } } }`, nil)
	if !summary || fullSummary {
		t.Fatalf("summaries asked: %v and %v", summary, fullSummary)
	}
	node := full["artifacts"].(map[string]any)["edges"].([]any)[0].(map[string]any)["node"].(map[string]any)
	delete(node, "verification")
	got, _ := json.Marshal(sum)
	want, _ := json.Marshal(full)
	if string(got) != string(want) {
		t.Fatalf("summary page %s\nfull page    %s", got, want)
	}
	for _, f := range fields {
		if !strings.Contains(string(got), `"`+f+`":`) {
			t.Fatalf("%s not served: %s", f, got)
		}
	}
}

func TestListPageMixingASummaryFieldWithAnotherFieldGetsTheFullArtifacts(t *testing.T) {
	for _, q := range []string{
		`{ artifacts(project: "payments") { edges { node { id trustState verification { check result } } } } }`,
		`{ artifacts(project: "payments") { edges { node { id promotions { channel } } } } }`,
		`{ artifacts(project: "payments") { edges { node { id ...More } } } } fragment More on Artifact { audit { action } }`,
		`{ artifacts(project: "payments") { edges { node { id ... on Artifact { evidence { id } } } } } }`,
		`query($full: Boolean!) { artifacts(project: "payments") { edges { node { id verification @include(if: $full) { check } } } } }`,
		`{ artifacts(project: "payments") { edges { node { id a: approvals { channel } } } } }`,
	} {
		data, summary := list(t, q, map[string]any{"full": true})
		if summary {
			t.Errorf("asked for summaries: %s", q)
		}
		node := data["artifacts"].(map[string]any)["edges"].([]any)[0].(map[string]any)["node"].(map[string]any)
		for field, v := range node {
			if arr, ok := v.([]any); ok && len(arr) == 0 && field != "evidence" && field != "a" {
				t.Errorf("%s served empty: %s", field, q)
			}
		}
	}
	// The values themselves: the verification and promotions the store holds.
	data, _ := list(t, `{ artifacts(project: "payments") { edges { node { digest verification { check result } promotions { channel } } } } }`, nil)
	got, _ := json.Marshal(data)
	if want := `{"artifacts":{"edges":[{"node":{"digest":"sha256:` + strings.Repeat("ab", 32) + `","promotions":[{"channel":"DEV"}],"verification":[{"check":"SIGNATURE","result":"PASSED"}]}}]}}`; string(got) != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}
