package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	logtest "github.com/sirupsen/logrus/hooks/test"
)

// TestRequestErrorsAreAnsweredAsGraphQLOverHTTPAsks sends documents that do not
// parse, do not validate, or whose variables cannot be coerced, under each Accept
// header: application/json (and no Accept, */*) gets 200, and
// application/graphql-response+json gets 400; neither body has a data entry,
// because execution never started.
func TestRequestErrorsAreAnsweredAsGraphQLOverHTTPAsks(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	auth := "Bearer " + token(t, "alice", "payments:viewer")
	failures := []struct {
		name, query string
		vars        map[string]any
		code        string
	}{
		{"parse failure", "{", nil, "GRAPHQL_PARSE_FAILED"},
		{"validation failure", "{ viewer { nope } }", nil, "GRAPHQL_VALIDATION_FAILED"},
		{"variable coercion failure", `query($n: Int) { artifacts(project: "payments", first: $n) { totalCount } }`, map[string]any{"n": "many"}, "GRAPHQL_VALIDATION_FAILED"},
	}
	accepts := []struct {
		accept, contentType string
		status              int
	}{
		{"", mediaJSON, 200},
		{"application/json", mediaJSON, 200},
		{"*/*", mediaJSON, 200},
		{"application/graphql-response+json", mediaGraphQLResponse, 400},
		{"application/json;q=0.5, application/graphql-response+json", mediaGraphQLResponse, 400},
	}
	for _, f := range failures {
		for _, a := range accepts {
			t.Run(f.name+"/"+a.accept, func(t *testing.T) {
				h := []string{"Content-Type", "application/json", "Authorization", auth}
				if a.accept != "" {
					h = append(h, "Accept", a.accept)
				}
				r := ts.raw("POST", GraphQLPath, gqlBody(f.query, f.vars), h...)
				if r.Status != a.status || r.Header.Get("Content-Type") != a.contentType || r.firstCode() != f.code {
					t.Fatalf("got %d %s %s, want %d %s %s: %s", r.Status, r.Header.Get("Content-Type"), r.firstCode(), a.status, a.contentType, f.code, r.Body)
				}
				if r.Data != nil {
					t.Fatalf("request error has a data entry: %s", r.Body)
				}
			})
		}
		t.Run(f.name+"/GET", func(t *testing.T) {
			q := url.Values{"query": {f.query}}
			if f.vars != nil {
				q.Set("variables", `{"n": "many"}`)
			}
			r := ts.raw("GET", GraphQLPath+"?"+q.Encode(), nil, "Authorization", auth, "Accept", mediaGraphQLResponse)
			if r.Status != 400 || r.Data != nil || r.firstCode() != f.code {
				t.Fatalf("GET: got %d %s: %s", r.Status, r.firstCode(), r.Body)
			}
		})
	}
	// An execution error is no request error: data is there, and the status 200
	// under both media types.
	for _, accept := range []string{mediaJSON, mediaGraphQLResponse} {
		r := ts.raw("POST", GraphQLPath, gqlBody(`{ artifacts(project: "payments", first: 1000) { totalCount } }`, nil),
			"Content-Type", "application/json", "Authorization", auth, "Accept", accept)
		if r.Status != 200 || r.Data == nil || r.firstCode() != "BAD_USER_INPUT" {
			t.Errorf("%s: execution error answered %d, data %s: %s", accept, r.Status, r.Data, r.Body)
		}
	}
}

func TestResponseMediaTypeFollowsAcceptAndItsQValues(t *testing.T) {
	t.Parallel()
	for accept, want := range map[string]string{
		"":                                  mediaJSON,
		"*/*":                               mediaJSON,
		"application/*":                     mediaJSON,
		"application/json":                  mediaJSON,
		"application/graphql-response+json": mediaGraphQLResponse,
		"application/graphql-response+json, application/json":       mediaGraphQLResponse,
		"application/json, application/graphql-response+json":       mediaJSON,
		"application/json;q=0.9, application/graphql-response+json": mediaGraphQLResponse,
		"application/graphql-response+json;q=0, application/json":   mediaJSON,
		"text/html":                   mediaGraphQLResponse,
		"text/html, */*;q=0.1":        mediaJSON,
		"application/json;q=nonsense": mediaGraphQLResponse,
	} {
		if got := responseMediaType(accept); got != want {
			t.Errorf("Accept %q: got %s, want %s", accept, got, want)
		}
	}
}

// TestOperationPastItsDeadlineIsAnsweredAsAnError: when the request's deadline
// has passed before gqlgen produced a response, gqlgen gives none (its own
// transports then write the body "null"); this transport answers INTERNAL,
// retryable, with the deadline message.
func TestOperationPastItsDeadlineIsAnsweredAsAnError(t *testing.T) {
	cfg, err := parseConfig([]string{"-jwt-hs256-secret", testSecret})
	if err != nil {
		t.Fatal(err)
	}
	log, _ := logtest.NewNullLogger()
	gql := newGraphQL(cfg, nil, nil, log, newMetrics())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest(http.MethodPost, GraphQLPath, strings.NewReader(`{"query":"{ __typename }"}`)).WithContext(ctx)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	gql.ServeHTTP(rec, req)
	var body struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 200 || len(body.Errors) != 1 ||
		body.Errors[0].Code() != "INTERNAL" || body.Errors[0].Extensions["retryable"] != true || body.Errors[0].Message != deadlineMessage {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}
