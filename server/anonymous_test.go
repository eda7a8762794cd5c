package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/artifact-trust/control-plane/auth"
)

// countingBody records whether anything read the request body.
type countingBody struct {
	r    io.Reader
	read int
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read += n
	return n, err
}

func (b *countingBody) Close() error { return nil }

// TestRequestWithoutValidTokenIsRefusedBeforeTheBodyIsRead proves the order of the
// middleware: a request without a valid token is answered 401 before anything
// reads its body (so its document is neither parsed nor cached), while CORS
// preflights and websocket upgrades pass on to be handled (upgrades authenticate at
// connection_init).
func TestRequestWithoutValidTokenIsRefusedBeforeTheBodyIsRead(t *testing.T) {
	v, err := auth.NewVerifier(auth.Config{HS256Secret: []byte(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, method, authz string
		upgrade             bool
		wantNext            bool
	}{
		{name: "no Authorization header", method: http.MethodPost},
		{name: "forged token", method: http.MethodPost, authz: "Bearer a.b.c"},
		{name: "Basic scheme", method: http.MethodPost, authz: "Basic YTpi"},
		{name: "GET without a token", method: http.MethodGet},
		{name: "valid token", method: http.MethodPost, authz: "Bearer " + token(t, "alice"), wantNext: true},
		{name: "CORS preflight", method: http.MethodOptions, wantNext: true},
		{name: "websocket upgrade", method: http.MethodGet, upgrade: true, wantNext: true},
		{name: "POST carrying Upgrade: websocket", method: http.MethodPost, upgrade: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := &countingBody{r: strings.NewReader(`{"query":"mutation { ` + strings.Repeat(`a: b `, 1000) + `}"}`)}
			called := false
			h := authenticate(v, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true }))
			req := httptest.NewRequest(tc.method, "/query", body)
			if tc.authz != "" {
				req.Header.Set("Authorization", tc.authz)
			}
			if tc.upgrade {
				req.Header.Set("Upgrade", "websocket")
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if called != tc.wantNext {
				t.Fatalf("next handler called = %v, want %v (status %d %s)", called, tc.wantNext, w.Code, w.Body)
			}
			if !tc.wantNext {
				if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), `"UNAUTHENTICATED"`) {
					t.Fatalf("got %d %s, want 401 UNAUTHENTICATED", w.Code, w.Body)
				}
				if body.read != 0 {
					t.Fatalf("%d bytes of the body were read before the refusal", body.read)
				}
			}
		})
	}
}

// TestAnonymousDocumentsAreNotParsed sends, without a token, documents that the
// parser or the GET check would refuse: the answer is UNAUTHENTICATED, never a
// parse or validation error, which shows the document was not looked at.
func TestAnonymousDocumentsAreNotParsed(t *testing.T) {
	ts := startServer(t, t.TempDir())
	for name, r := range map[string]rawResponse{
		"unparsable POST":      ts.raw("POST", GraphQLPath, gqlBody(`mutation { oops(`, nil), "Content-Type", "application/json"),
		"over the token limit": ts.raw("POST", GraphQLPath, gqlBody(`{ a(x: [`+strings.Repeat(`1,`, ParserTokenLimit)+`]) }`, nil), "Content-Type", "application/json"),
		"mutation over GET":    ts.raw("GET", GraphQLPath+"?query="+url.QueryEscape(`mutation { revokeArtifact(id: "x", reason: "r") { id } }`), nil),
	} {
		if r.Status != http.StatusUnauthorized || r.firstCode() != "UNAUTHENTICATED" {
			t.Errorf("%s: got %d %s, want 401 UNAUTHENTICATED", name, r.Status, truncateBody(r.Body))
		}
	}
	// With a token the same documents reach the parser and the GET check.
	tok := "Bearer " + token(t, "alice", "payments:viewer")
	if r := ts.raw("POST", GraphQLPath, gqlBody(`mutation { oops(`, nil), "Content-Type", "application/json", "Authorization", tok); r.firstCode() != "GRAPHQL_PARSE_FAILED" {
		t.Errorf("authenticated unparsable document: got %d %s", r.Status, truncateBody(r.Body))
	}
	if r := ts.raw("GET", GraphQLPath+"?query="+url.QueryEscape(`mutation { revokeArtifact(id: "x", reason: "r") { id } }`), nil, "Authorization", tok); r.Status != http.StatusMethodNotAllowed {
		t.Errorf("authenticated mutation over GET: got %d %s, want 405", r.Status, truncateBody(r.Body))
	}
}

// hostileDocument is a mutation of n string literals in one list: small as text,
// large once parsed (every literal is a node with its own position).
func hostileDocument(i, n int) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, `mutation H%d { registerArtifact(input: {project: "p", digest: "d", kind: OCI_IMAGE, sourceType: OCI_REGISTRY, source: "s", tags: [`, i)
	for j := 0; j < n; j++ {
		fmt.Fprintf(&b, `"%d",`, j)
	}
	b.WriteString(`]}) { id } }`)
	return b.String()
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestDocumentWeightIsNotBelowTheHeapItHolds checks the cache's estimate against the
// heap a parsed document really holds, for documents of literals, of objects and of
// selections: the byte bound of the cache is only a bound if the estimate never
// undercounts.
func TestDocumentWeightIsNotBelowTheHeapItHolds(t *testing.T) {
	docs := map[string]func(i int) string{
		"string literals": func(i int) string { return hostileDocument(i, 9000) },
		"int literals": func(i int) string {
			return fmt.Sprintf(`query Q%d { a(x: [%s]) }`, i, strings.Repeat("1,", 9000))
		},
		"objects": func(i int) string {
			return fmt.Sprintf(`query Q%d { a(x: [%s]) }`, i, strings.Repeat(`{a: 1, b: "x"},`, 1500))
		},
		"selections": func(i int) string {
			return fmt.Sprintf(`query Q%d { %s }`, i, strings.Repeat(`artifact(id: "x") { id digest trustState } `, 400))
		},
		"small query": func(i int) string { return fmt.Sprintf(`query Q%d { viewer { subject roles { project roles } } }`, i) },
	}
	for name, gen := range docs {
		t.Run(name, func(t *testing.T) {
			const n = 16
			keep := make([]*ast.QueryDocument, n)
			var weight uint64
			before := heapInUse()
			for i := range keep {
				q := gen(i)
				doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: q}, 4*ParserTokenLimit)
				if err != nil {
					t.Fatal(err)
				}
				keep[i] = doc
				weight += uint64(docWeight(q, doc))
			}
			held := heapInUse() - before
			runtime.KeepAlive(keep)
			t.Logf("held %d bytes per document, estimated %d", held/n, weight/n)
			if held > weight {
				t.Fatalf("documents hold %d bytes, the cache would count %d", held, weight)
			}
		})
	}
}

// TestQueryCacheIsBoundedInBytes fills a 4 MiB cache with hostile documents of
// about 2 MiB each (1,000 of them would pin gigabytes in a cache bounded by count)
// and checks that what it holds stays within its budget.
func TestQueryCacheIsBoundedInBytes(t *testing.T) {
	const budget = 4 << 20
	c := newQueryCache(budget)
	ctx := t.Context()
	for i := 0; i < 100; i++ {
		q := hostileDocument(i, 9000)
		doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: q}, ParserTokenLimit)
		if err != nil {
			t.Fatal(err)
		}
		c.Add(ctx, q, doc)
	}
	if got := c.weightedSize(); got > budget {
		t.Fatalf("cache holds %d estimated bytes, budget %d", got, budget)
	}
	// Small documents still get cached and found.
	small := `query { viewer { subject } }`
	doc, _ := parser.ParseQuery(&ast.Source{Input: small})
	c.Add(ctx, small, doc)
	c.c.CleanUp()
	if _, ok := c.Get(ctx, small); !ok {
		t.Fatal("a small document was not kept")
	}
}
