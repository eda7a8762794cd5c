package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	logtest "github.com/sirupsen/logrus/hooks/test"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// rawResponse is an HTTP answer of the GraphQL endpoint, decoded when it is JSON.
type rawResponse struct {
	Status int
	Header http.Header
	Body   []byte
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
}

// raw sends one request as is; headers are name, value pairs.
func (ts *testServer) raw(method, target string, body []byte, headers ...string) rawResponse {
	ts.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.URL+target, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	out := rawResponse{Status: resp.StatusCode, Header: resp.Header}
	out.Body, _ = io.ReadAll(resp.Body)
	_ = json.Unmarshal(out.Body, &out)
	return out
}

// firstCode returns the first error's extensions.code.
func (r rawResponse) firstCode() string {
	if len(r.Errors) == 0 {
		return ""
	}
	return r.Errors[0].Code()
}

func gqlBody(query string, vars map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return b
}

// introspectionQuery is graphql-js's getIntrospectionQuery() (v16), which GraphiQL
// and the playground send: it must pass the document limits.
const introspectionQuery = `query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }
}`

func nested(depth int) string {
	return strings.Repeat("{ a ", depth) + strings.Repeat("}", depth)
}

func TestDocumentLimitsMeasureTheExpandedDocument(t *testing.T) {
	t.Parallel()
	l := newDocumentLimits(MaxQueryDepth, MaxAliases, MaxSelections)
	aliases := func(n int) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			fmt.Fprintf(&b, " a%d: viewer { subject }", i)
		}
		return b.String() + " }"
	}
	// fragment F0 spreads F1 twice, F1 spreads F2 twice, ...: 2^20 fields expanded.
	var bomb strings.Builder
	bomb.WriteString("{ viewer { ...F0 } }")
	for i := range 20 {
		fmt.Fprintf(&bomb, " fragment F%d on Viewer { ...F%d ...F%d }", i, i+1, i+1)
	}
	bomb.WriteString(" fragment F20 on Viewer { subject }")
	// The same bomb without any field: only spreads of an unknown fragment.
	var spreadBomb strings.Builder
	spreadBomb.WriteString("{ viewer { ...F0 } }")
	for i := range 30 {
		fmt.Fprintf(&spreadBomb, " fragment F%d on Viewer { ...F%d ...F%d }", i, i+1, i+1)
	}
	tests := []struct {
		name, doc string
		refused   string // "" when accepted, else a word of the message
	}{
		{"depth 12", nested(12), ""},
		{"depth 13", nested(13), "deeper than 12"},
		{"depth through fragments", "{ a { ...F } } fragment F on T { b " + nested(11) + " }", "deeper than 12"},
		{"depth through inline fragments", "{ a { ... on T " + nested(12) + " } }", "deeper than 12"},
		{"30 aliases", aliases(30), ""},
		{"31 aliases", aliases(31), "more than 30 aliases"},
		{"field named as itself is no alias", "{ viewer: viewer { subject: subject } }", ""},
		{"aliases counted in every fragment use", "{ a { ...F ...F ...F ...F } } fragment F on T { " + strings.Repeat("x: y ", 8) + "}", "more than 30 aliases"},
		{"500 selections", "{ " + strings.Repeat("a ", 500) + "}", ""},
		{"501 selections", "{ " + strings.Repeat("a ", 501) + "}", "more than 500 selections"},
		{"fragment bomb", bomb.String(), "more than 500 selections"},
		{"spread bomb without fields", spreadBomb.String(), "more than 500 selections"},
		{"fragment cycle left to the validator", "{ a { ...F } } fragment F on T { b ...G } fragment G on T { ...F }", ""},
		{"every operation counts", "query A { " + strings.Repeat("a ", 300) + "} query B { " + strings.Repeat("a ", 300) + "}", "more than 500 selections"},
		{"introspection query", introspectionQuery, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := parser.ParseQuery(&ast.Source{Input: tt.doc})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			gerr := l.check(doc)
			if d := time.Since(start); d > time.Second {
				t.Errorf("check took %v", d)
			}
			switch {
			case tt.refused == "" && gerr != nil:
				t.Fatalf("refused: %v", gerr)
			case tt.refused != "" && gerr == nil:
				t.Fatal("accepted")
			case gerr != nil && (!strings.Contains(gerr.Message, tt.refused) || gerr.Extensions["code"] != "GRAPHQL_VALIDATION_FAILED"):
				t.Fatalf("got %q %v, want %q", gerr.Message, gerr.Extensions, tt.refused)
			}
		})
	}
}

func TestRequestObjectProblem(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]string{
		`{"query":"{ viewer { subject } }"}`:                  "",
		` {"query":"{ a }","variables":null,"extensions":{}}`: "",
		`{"query":"{ a }","variables":{"x":1}}`:               "",
		``:                                                    "empty",
		`   `:                                                 "empty",
		`[{"query":"{ a }"},{"query":"{ b }"}]`:               "batched",
		` [`:                                                  "batched",
		`"query"`:                                             "not a JSON object",
		`query=%7B+a+%7D`:                                     "not a JSON object",
		`{"query": {"$gt": ""}}`:                              `field "query" must not be a JSON object`,
		`{"query":"{ a }","operationName":5}`:                 `field "operationName" must not be a JSON number`,
		`{"query":"{ a }","variables":"{\"x\":1}"}`:              "variables must be a JSON object",
		`{"query":"{ a }","variables":[1]}`:                      "variables must be a JSON object",
		`{"query":"{ a }"} trailing`:                             "invalid JSON",
		`{"query":"{ a }"`:                                       "invalid JSON",
		`{"variables":{}}`:                                       "no query",
		`{"query":""}`:                                           "no query",
		`{"query":"{ a }","x":"\u0000 secret-looking body"}`:     "",
		`{"query":"{ a }", "query": "mutation { b }", "y": [1]}`: "",
	} {
		got := requestObjectProblem([]byte(body))
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("%s: got %q, want %q", body, got, want)
		}
		if got != "" && len(body) > 8 && strings.Contains(got, body) {
			t.Errorf("%s: message echoes the body", body)
		}
	}
}

// TestGraphQLAbuseIsRefusedWith4xx sends every kind of abusive request of the
// OWASP GraphQL cheat sheet to a real server: each is refused with a 4xx status or
// a GraphQL error, with a clear message and extensions.code, never a 5xx.
func TestGraphQLAbuseIsRefusedWith4xx(t *testing.T) {
	ts := startServer(t, t.TempDir(), func(c *Config) { c.Playground = false }) // as in production
	tok := token(t, "alice", "payments:project_admin")
	auth := "Bearer " + tok
	ts.register(tok, "payments", 1, nil)
	jsonCT := []string{"Content-Type", "application/json", "Authorization", auth}

	var aliases31, deep, bomb strings.Builder
	aliases31.WriteString("{")
	for i := range 31 {
		fmt.Fprintf(&aliases31, " v%d: viewer { subject }", i)
	}
	aliases31.WriteString(" }")
	deep.WriteString("{ viewer " + nested(12) + " }")
	bomb.WriteString("query { viewer { ...F0 } }")
	for i := range 16 {
		fmt.Fprintf(&bomb, " fragment F%d on Viewer { ...F%d ...F%d }", i, i+1, i+1)
	}
	bomb.WriteString(" fragment F16 on Viewer { subject }")
	complexityBomb := `{ ` + strings.Repeat(`a%d: artifacts(project: "payments", first: 100) { edges { node { audit { verification { check } } promotions { channel } } } } `, 5) + `}`
	complexityBomb = fmt.Sprintf(complexityBomb, 1, 2, 3, 4, 5)
	tooManyTokens := "{ viewer { " + strings.Repeat("a ", ParserTokenLimit) + "} }"
	getURL := func(query, opName string) string {
		v := url.Values{"query": {query}}
		if opName != "" {
			v.Set("operationName", opName)
		}
		return GraphQLPath + "?" + v.Encode()
	}
	mutation := `mutation { deprecateArtifact(id: "art_00000000000000000000000000000000") { id } }`

	tests := []struct {
		name     string
		method   string
		target   string
		body     []byte
		headers  []string
		status   int
		code     string
		contains string
	}{
		{"depth limit", "POST", GraphQLPath, gqlBody(deep.String(), nil), jsonCT, 200, "GRAPHQL_VALIDATION_FAILED", "deeper than 12"},
		{"alias limit", "POST", GraphQLPath, gqlBody(aliases31.String(), nil), jsonCT, 200, "GRAPHQL_VALIDATION_FAILED", "more than 30 aliases"},
		{"selection limit", "POST", GraphQLPath, gqlBody("{ viewer { "+strings.Repeat("subject ", 600)+"} }", nil), jsonCT, 200, "GRAPHQL_VALIDATION_FAILED", "more than 500 selections"},
		{"fragment bomb", "POST", GraphQLPath, gqlBody(bomb.String(), nil), jsonCT, 200, "GRAPHQL_VALIDATION_FAILED", "more than 500 selections"},
		{"document size limit", "POST", GraphQLPath, gqlBody("{ viewer { subject } } #"+strings.Repeat("x", MaxQueryBytes), nil), jsonCT, 200, "GRAPHQL_VALIDATION_FAILED", "more than the 65536"},
		{"introspection through a fragment when off", "POST", GraphQLPath, gqlBody("{ ...Q } fragment Q on Query { __type(name: \"Artifact\") { name } }", nil), jsonCT, 200, "GRAPHQL_VALIDATION_FAILED", "introspection"},
		{"parser token limit", "POST", GraphQLPath, gqlBody(tooManyTokens, nil), jsonCT, 200, "GRAPHQL_PARSE_FAILED", "token limit"},
		{"complexity limit", "POST", GraphQLPath, gqlBody(complexityBomb, nil), jsonCT, 200, "COMPLEXITY_LIMIT_EXCEEDED", "exceeds the limit of 5000"},
		{"page size above the cap", "POST", GraphQLPath, gqlBody(`{ artifacts(project: "payments", first: 1000) { totalCount } }`, nil), jsonCT, 200, "BAD_USER_INPUT", "at most 100"},
		{"JSON array batch", "POST", GraphQLPath, []byte(`[{"query":"{ viewer { subject } }"},{"query":"{ viewer { subject } }"}]`), jsonCT, 400, "BAD_USER_INPUT", "batched operations"},
		{"body not JSON", "POST", GraphQLPath, []byte(`{"query": "{ viewer { subject } }"`), jsonCT, 400, "BAD_USER_INPUT", "invalid JSON"},
		{"query of the wrong JSON type", "POST", GraphQLPath, []byte(`{"query": {"$gt": ""}}`), jsonCT, 400, "BAD_USER_INPUT", "must not be a JSON object"},
		{"body over the cap", "POST", GraphQLPath, gqlBody("{ viewer { subject } }", map[string]any{"pad": strings.Repeat("x", 1<<20)}), jsonCT, 413, "BAD_USER_INPUT", "larger than the limit"},
		{"text/plain (no preflight)", "POST", GraphQLPath, gqlBody(mutation, nil), []string{"Content-Type", "text/plain", "Authorization", auth}, 415, "BAD_USER_INPUT", "text/plain"},
		{"form (no preflight)", "POST", GraphQLPath, []byte("query=" + url.QueryEscape(mutation)), []string{"Content-Type", "application/x-www-form-urlencoded", "Authorization", auth}, 415, "BAD_USER_INPUT", "application/x-www-form-urlencoded"},
		{"multipart (no preflight)", "POST", GraphQLPath, []byte("--b\r\n\r\n--b--"), []string{"Content-Type", "multipart/form-data; boundary=b", "Authorization", auth}, 415, "BAD_USER_INPUT", "multipart/form-data"},
		{"application/graphql", "POST", GraphQLPath, []byte(mutation), []string{"Content-Type", "application/graphql", "Authorization", auth}, 415, "BAD_USER_INPUT", "application/json"},
		{"no content type", "POST", GraphQLPath, gqlBody(mutation, nil), []string{"Authorization", auth}, 415, "BAD_USER_INPUT", "no Content-Type"},
		{"unparsable content type", "POST", GraphQLPath, gqlBody(mutation, nil), []string{"Content-Type", "application/json; ;;", "Authorization", auth}, 415, "BAD_USER_INPUT", "cannot be parsed"},
		{"non-UTF-8 charset", "POST", GraphQLPath, gqlBody(mutation, nil), []string{"Content-Type", "application/json; charset=iso-8859-1", "Authorization", auth}, 415, "BAD_USER_INPUT", "UTF-8"},
		{"mutation over GET", "GET", getURL(mutation, ""), nil, []string{"Authorization", auth}, 405, "BAD_USER_INPUT", "only accepted with POST"},
		{"mutation over GET by operationName", "GET", getURL("query Q { viewer { subject } } "+strings.Replace(mutation, "mutation", "mutation M", 1), "M"), nil, []string{"Authorization", auth}, 405, "BAD_USER_INPUT", "only accepted with POST"},
		{"subscription over GET without upgrade", "GET", getURL(`subscription { artifactEvents(project: "payments") { action } }`, ""), nil, []string{"Authorization", auth}, 405, "BAD_USER_INPUT", "subscriptions are served over a websocket"},
		{"subscription over POST", "POST", GraphQLPath, gqlBody(`subscription { artifactEvents(project: "payments") { action } }`, nil), jsonCT, 400, "BAD_USER_INPUT", "subscriptions are served over a websocket"},
		{"PUT", "PUT", GraphQLPath, gqlBody(mutation, nil), jsonCT, 405, "BAD_USER_INPUT", "not allowed"},
		{"DELETE", "DELETE", GraphQLPath, nil, jsonCT, 405, "BAD_USER_INPUT", "not allowed"},
		{"introspection off", "POST", GraphQLPath, gqlBody("{ __schema { types { name } } }", nil), jsonCT, 200, "GRAPHQL_VALIDATION_FAILED", "introspection"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			r := ts.raw(tt.method, tt.target, tt.body, tt.headers...)
			elapsed := time.Since(start)
			if r.Status >= 500 {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			if r.Status != tt.status || r.firstCode() != tt.code || !strings.Contains(strings.ToLower(r.Errors[0].Message), strings.ToLower(tt.contains)) {
				t.Fatalf("got %d %s %s, want %d %s containing %q", r.Status, r.firstCode(), truncateBody(r.Body), tt.status, tt.code, tt.contains)
			}
			if len(r.Data) > 0 && string(r.Data) != "null" && tt.code != "BAD_USER_INPUT" && tt.code != "COMPLEXITY_LIMIT_EXCEEDED" {
				t.Errorf("refused request has data %s", r.Data)
			}
			if strings.HasPrefix(tt.code, "GRAPHQL_") && r.Data != nil {
				t.Errorf("request error carries a data entry (%s); execution never started", r.Data)
			}
			if elapsed > 2*time.Second {
				t.Errorf("refusal took %v", elapsed)
			}
			t.Logf("%d %s: %s", r.Status, r.firstCode(), r.Errors[0].Message)
		})
	}
	// Nothing above changed the artifact.
	var out struct {
		Artifact struct {
			Version        int    `json:"version"`
			LifecycleState string `json:"lifecycleState"`
		} `json:"artifactByDigest"`
	}
	ts.MustDo(tok, `query($d: String!) { artifactByDigest(project: "payments", digest: $d) { version lifecycleState } }`, map[string]any{"d": digestN(1)}, &out)
	if out.Artifact.Version != 1 || out.Artifact.LifecycleState != "PUBLISHED" {
		t.Fatalf("artifact changed: %+v", out.Artifact)
	}
}

func truncateBody(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// TestAcceptedShapesStillWork checks the limits leave ordinary use alone: POST
// with a charset, GET for queries, OPTIONS, the largest allowed documents, and the
// playground's introspection query.
func TestAcceptedShapesStillWork(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir(), func(c *Config) { c.Playground = true })
	tok := token(t, "alice", "payments:viewer")
	auth := "Bearer " + tok
	var aliases30 strings.Builder
	aliases30.WriteString("{")
	for i := range 30 {
		fmt.Fprintf(&aliases30, " v%d: viewer { subject }", i)
	}
	aliases30.WriteString(" }")
	ok := func(name string, r rawResponse) {
		t.Helper()
		if r.Status != 200 || len(r.Errors) > 0 || len(r.Data) == 0 {
			t.Errorf("%s: %d %s", name, r.Status, truncateBody(r.Body))
		}
	}
	ok("charset utf-8", ts.raw("POST", GraphQLPath, gqlBody("{ viewer { subject } }", nil), "Content-Type", "application/json; charset=UTF-8", "Authorization", auth))
	ok("30 aliases", ts.raw("POST", GraphQLPath, gqlBody(aliases30.String(), nil), "Content-Type", "application/json", "Authorization", auth))
	ok("GET query", ts.raw("GET", GraphQLPath+"?query="+url.QueryEscape("{ viewer { subject } }"), nil, "Authorization", auth))
	ok("GET picks the query of a document with a mutation", ts.raw("GET", GraphQLPath+"?"+url.Values{
		"query":         {"query Q { viewer { subject } } mutation M { deprecateArtifact(id: \"x\") { id } }"},
		"operationName": {"Q"},
	}.Encode(), nil, "Authorization", auth))
	ok("introspection query", ts.raw("POST", GraphQLPath, gqlBody(introspectionQuery, nil), "Content-Type", "application/json", "Authorization", auth))
	if r := ts.raw("OPTIONS", GraphQLPath, nil); r.Status != 200 || !strings.Contains(r.Header.Get("Allow"), "POST") {
		t.Errorf("OPTIONS: %d %v", r.Status, r.Header)
	}
}

// TestFieldSuggestionsFollowIntrospection: with introspection off (no playground) a
// misspelt field is refused without "Did you mean", so the schema cannot be
// guessed field by field; with the playground on, suggestions help.
func TestFieldSuggestionsFollowIntrospection(t *testing.T) {
	t.Parallel()
	for _, playground := range []bool{false, true} {
		t.Run(fmt.Sprintf("playground=%v", playground), func(t *testing.T) {
			ts := startServer(t, t.TempDir(), func(c *Config) { c.Playground = playground })
			tok := token(t, "alice", "payments:viewer")
			r := ts.raw("POST", GraphQLPath, gqlBody("{ viewer { subjec } }", nil), "Content-Type", "application/json", "Authorization", "Bearer "+tok)
			if r.Status >= 500 || r.firstCode() != "GRAPHQL_VALIDATION_FAILED" {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			suggests := strings.Contains(r.Errors[0].Message, "Did you mean")
			if suggests != playground {
				t.Fatalf("message %q", r.Errors[0].Message)
			}
		})
	}
}

// TestOperationDeadline: an operation that cannot finish within REQUEST_TIMEOUT
// answers INTERNAL (retryable) promptly, never a 5xx and never a hang.
func TestOperationDeadline(t *testing.T) {
	ts := startServer(t, t.TempDir(), func(c *Config) { c.RequestTimeout = time.Millisecond })
	tok := token(t, "alice", "payments:publisher")
	start := time.Now()
	r := ts.Do(tok, registerMutation, map[string]any{"in": map[string]any{"project": "payments", "digest": digestN(1), "kind": "OCI_IMAGE", "sourceType": "OCI_REGISTRY", "source": "registry.example.com/a"}})
	if r.Status >= 500 || len(r.Errors) == 0 || r.Errors[0].Code() != "INTERNAL" || r.Errors[0].Extensions["retryable"] != true {
		t.Fatalf("%d %+v", r.Status, r.Errors)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
	t.Logf("answered %q in %v", r.Errors[0].Message, time.Since(start))
}

// FuzzDocumentLimits feeds arbitrary documents and request bodies to the checks
// that run before gqlgen: they never panic, and the walk over a document stays
// bounded however its fragments nest.
func FuzzDocumentLimits(f *testing.F) {
	for _, s := range []string{
		"{ viewer { subject } }", nested(13), introspectionQuery,
		"{ a { ...F } } fragment F on T { b ...G } fragment G on T { ...F }",
		"query A { a } query B { b: a } mutation { c }", "{ ...on T { a } }", "fragment F on T { ...F }",
		`[{"query":"{ a }"}]`, `{"query": {"$gt": ""}}`, `{"query":"{ a }","variables":[1]}`,
	} {
		f.Add(s)
	}
	l := newDocumentLimits(MaxQueryDepth, MaxAliases, MaxSelections)
	f.Fuzz(func(t *testing.T, s string) {
		_ = requestObjectProblem([]byte(s))
		doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: s}, ParserTokenLimit)
		if err != nil || doc == nil {
			return
		}
		w := &docWalker{doc: doc, limits: l, visiting: map[string]bool{}}
		for _, op := range doc.Operations {
			w.walk(op.SelectionSet, 0, false)
		}
		if w.err == nil && (w.selections > MaxSelections || w.aliases > MaxAliases) {
			t.Fatalf("accepted %d selections, %d aliases", w.selections, w.aliases)
		}
		if w.err != nil && w.err.Extensions["code"] != "GRAPHQL_VALIDATION_FAILED" {
			t.Fatalf("error %v", w.err)
		}
		for _, op := range doc.Operations {
			_ = introspectionField(doc, op.SelectionSet, map[string]bool{})
		}
	})
}

// TestGETTransportRefusesMutationsOnItsOwn proves the second line of defence:
// even without refuseGetMutations, the GET transport (transport.go) refuses a
// mutation (405, Allow: POST) before any resolver runs (the service here is nil
// and would panic).
func TestGETTransportRefusesMutationsOnItsOwn(t *testing.T) {
	t.Parallel()
	cfg, err := parseConfig([]string{"-jwt-hs256-secret", testSecret})
	if err != nil {
		t.Fatal(err)
	}
	log, _ := logtest.NewNullLogger()
	gql := newGraphQL(cfg, nil, nil, log, newMetrics())
	req := httptest.NewRequest(http.MethodGet, GraphQLPath+"?query="+url.QueryEscape(`mutation { deprecateArtifact(id: "art_1") { id } }`), nil)
	rec := httptest.NewRecorder()
	gql.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "POST" || !strings.Contains(rec.Body.String(), "GET serves queries only") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}
