package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
)

// Limits on one GraphQL document (OWASP GraphQL cheat sheet). Together with the
// complexity limit (complexity.go), the body cap (limitBody) and the operation
// deadline (withTimeout) they bound the work one request can cause.
const (
	// ParserTokenLimit caps the tokens of one document; the parser stops there.
	ParserTokenLimit = 10000
	// MaxQueryBytes caps the document text (variables are bounded by the body cap
	// only). The cache of validated documents (querycache.go) is keyed by their
	// text and bounded in bytes (QUERY_CACHE_BYTES), the text counted in.
	MaxQueryBytes = 64 << 10
	// MaxQueryDepth caps field nesting, fragments expanded. Introspection subtrees
	// (__schema, __type) are bounded by gqlparser's own MaxIntrospectionDepth rule
	// instead, so the playground's introspection query (depth 13) still works.
	MaxQueryDepth = 12
	// MaxAliases caps aliased fields in a document, fragments expanded.
	MaxAliases = 30
	// MaxSelections caps the selections (fields, fragment spreads and inline
	// fragments) of a document, fragments expanded at every use.
	MaxSelections = 500
)

// applyLimits installs the document limits on srv.
func applyLimits(srv *handler.Server) {
	srv.SetParserTokenLimit(ParserTokenLimit)
	srv.Use(newDocumentLimits(MaxQueryDepth, MaxAliases, MaxSelections))
}

// documentLimits refuses documents that nest too deep, use too many aliases or
// select too much. It runs before gqlgen parses and validates the document, so a
// hostile document never reaches the validator (whose overlapping-fields rule is
// quadratic in the number of fields); documents that passed are remembered.
type documentLimits struct {
	maxDepth, maxAliases, maxSelections int
	passed                              graphql.Cache[struct{}]
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
	graphql.OperationContextMutator
} = (*documentLimits)(nil)

func newDocumentLimits(maxDepth, maxAliases, maxSelections int) *documentLimits {
	return &documentLimits{maxDepth: maxDepth, maxAliases: maxAliases, maxSelections: maxSelections, passed: lru.New[struct{}](1000)}
}

func (*documentLimits) ExtensionName() string { return "DocumentLimits" }

func (*documentLimits) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationParameters checks the raw document. A document that does not
// parse is left to gqlgen, which reports the parse error (or the token limit).
func (l *documentLimits) MutateOperationParameters(ctx context.Context, rp *graphql.RawParams) *gqlerror.Error {
	if rp.Query == "" {
		return nil
	}
	if len(rp.Query) > MaxQueryBytes {
		return limitError(MaxQueryBytes, "the document is %d bytes long, more than the %d this server accepts", len(rp.Query), MaxQueryBytes)
	}
	sum := sha256.Sum256([]byte(rp.Query))
	key := string(sum[:])
	if _, ok := l.passed.Get(ctx, key); ok {
		return nil
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: rp.Query}, ParserTokenLimit)
	if err != nil || doc == nil {
		return nil
	}
	if gerr := l.check(doc); gerr != nil {
		return gerr
	}
	l.passed.Add(ctx, key, struct{}{})
	return nil
}

// MutateOperationContext refuses __schema and __type when introspection is off
// (no playground): gqlgen would otherwise run the operation and fail the field with
// a plain error, which the error presenter can only mask as INTERNAL. It runs after
// extension.Introspection, which newGraphQL installs first when the playground is on.
func (l *documentLimits) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if !oc.DisableIntrospection || oc.Operation == nil {
		return nil
	}
	if f := introspectionField(oc.Doc, oc.Operation.SelectionSet, map[string]bool{}); f != nil {
		e := gqlerror.ErrorPosf(f.Position, "introspection is disabled on this server")
		errcode.Set(e, errcode.ValidationFailed)
		return e
	}
	return nil
}

// introspectionField returns the first root field __schema or __type of ss.
func introspectionField(doc *ast.QueryDocument, ss ast.SelectionSet, seen map[string]bool) *ast.Field {
	for _, sel := range ss {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Name == "__schema" || s.Name == "__type" {
				return s
			}
		case *ast.InlineFragment:
			if f := introspectionField(doc, s.SelectionSet, seen); f != nil {
				return f
			}
		case *ast.FragmentSpread:
			if fr := doc.Fragments.ForName(s.Name); fr != nil && !seen[s.Name] {
				seen[s.Name] = true
				if f := introspectionField(doc, fr.SelectionSet, seen); f != nil {
					return f
				}
			}
		}
	}
	return nil
}

// check measures every operation of doc, fragments expanded.
func (l *documentLimits) check(doc *ast.QueryDocument) *gqlerror.Error {
	w := &docWalker{doc: doc, limits: l, visiting: map[string]bool{}}
	for _, op := range doc.Operations {
		if w.walk(op.SelectionSet, 0, false); w.err != nil {
			return w.err
		}
	}
	return nil
}

// limitError is a refusal of the document, reported like gqlgen's own validation
// errors (extensions.code GRAPHQL_VALIDATION_FAILED; HTTP 200 for application/json,
// 400 for application/graphql-response+json).
func limitError(limit int, format string, args ...any) *gqlerror.Error {
	e := gqlerror.Errorf(format, args...)
	errcode.Set(e, errcode.ValidationFailed)
	e.Extensions["limit"] = limit
	return e
}

type docWalker struct {
	doc        *ast.QueryDocument
	limits     *documentLimits
	visiting   map[string]bool
	selections int
	aliases    int
	err        *gqlerror.Error
}

// walk visits ss at depth (the depth of its parent field). Every visit counts
// against the selection limit, so the walk stops after at most maxSelections+1
// steps however the fragments are nested.
func (w *docWalker) walk(ss ast.SelectionSet, depth int, introspection bool) {
	for _, sel := range ss {
		if w.err != nil {
			return
		}
		w.selections++
		if w.selections > w.limits.maxSelections {
			w.err = limitError(w.limits.maxSelections, "the document has more than %d selections (fields, fragment spreads and inline fragments, counted with fragments expanded)", w.limits.maxSelections)
			return
		}
		switch s := sel.(type) {
		case *ast.Field:
			if s.Alias != "" && s.Alias != s.Name {
				w.aliases++
				if w.aliases > w.limits.maxAliases {
					w.err = limitError(w.limits.maxAliases, "the document uses more than %d aliases", w.limits.maxAliases)
					return
				}
			}
			intro := introspection || s.Name == "__schema" || s.Name == "__type"
			if !intro && depth+1 > w.limits.maxDepth {
				w.err = limitError(w.limits.maxDepth, "the document nests fields deeper than %d levels", w.limits.maxDepth)
				return
			}
			w.walk(s.SelectionSet, depth+1, intro)
		case *ast.InlineFragment:
			w.walk(s.SelectionSet, depth, introspection)
		case *ast.FragmentSpread:
			f := w.doc.Fragments.ForName(s.Name)
			if f == nil || w.visiting[s.Name] {
				continue // unknown fragment or a cycle: the validator reports it
			}
			w.visiting[s.Name] = true
			w.walk(f.SelectionSet, depth, introspection)
			delete(w.visiting, s.Name)
		}
	}
}

// guardTransport refuses, before anything else reads the request, what the GraphQL
// endpoint does not serve:
//   - methods other than GET, POST, OPTIONS and HEAD: 405;
//   - POST without Content-Type application/json (UTF-8): 415. Browsers send
//     text/plain, application/x-www-form-urlencoded and multipart/form-data
//     cross-origin without a CORS preflight; refusing them keeps every cross-origin
//     POST preflighted (and this server answers no preflight with CORS headers).
//
// WebSocket upgrades (GET with Upgrade) pass through untouched. A GET selecting a
// mutation is answered 405 by the transport (transport.go), after the token.
func guardTransport(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			if msg := jsonContentType(r.Header.Get("Content-Type")); msg != "" {
				w.Header().Set("Accept-Post", "application/json")
				writeJSON(w, http.StatusUnsupportedMediaType, graphQLErrorBody(msg, "BAD_USER_INPUT"))
				return
			}
		case http.MethodGet, http.MethodOptions, http.MethodHead:
		default:
			w.Header().Set("Allow", "GET, POST, OPTIONS")
			writeJSON(w, http.StatusMethodNotAllowed, graphQLErrorBody("method "+r.Method+" is not allowed; use POST (or GET for queries)", "BAD_USER_INPUT"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// jsonContentType returns why ct is not an accepted request content type, or "".
func jsonContentType(ct string) string {
	const want = "send the operation as Content-Type: application/json"
	if ct == "" {
		return "the request has no Content-Type; " + want
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "the request's Content-Type cannot be parsed; " + want
	}
	if mt != "application/json" {
		return fmt.Sprintf("Content-Type %s is not accepted; %s", truncateForMessage(mt, 64), want)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return fmt.Sprintf("charset %s is not accepted; send UTF-8", truncateForMessage(cs, 32))
	}
	return ""
}

// refuseBatches answers 400 for a POST body that is not one GraphQL request object:
// a JSON array (a batch, which this server does not execute), or anything that is
// not a JSON object with a string query. gqlgen would answer a body it cannot
// decode with the whole body echoed in the message; this answers without echo. It
// runs after limitBody, so the body is already in memory and bounded.
func refuseBatches(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Body == nil {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, graphQLErrorBody("request body could not be read", "BAD_USER_INPUT"))
			return
		}
		if msg := requestObjectProblem(body); msg != "" {
			writeJSON(w, http.StatusBadRequest, graphQLErrorBody(msg, "BAD_USER_INPUT"))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// requestObjectProblem returns why body is not one GraphQL-over-HTTP request
// object, or "".
func requestObjectProblem(body []byte) string {
	const want = `send one JSON object {"query": "...", "operationName": "...", "variables": {...}}`
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	switch {
	case len(trimmed) == 0:
		return "the request body is empty; " + want
	case trimmed[0] == '[':
		return "batched operations (a JSON array) are not supported; " + want + " per request"
	case trimmed[0] != '{':
		return "the request body is not a JSON object; " + want
	}
	var p struct {
		Query         *string         `json:"query"`
		OperationName *string         `json:"operationName"`
		Variables     json.RawMessage `json:"variables"`
		Extensions    json.RawMessage `json:"extensions"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return "the request body is not a valid GraphQL request: " + jsonProblem(err) + "; " + want
	}
	if p.Query == nil || *p.Query == "" {
		return "the request has no query; " + want
	}
	for name, raw := range map[string]json.RawMessage{"variables": p.Variables, "extensions": p.Extensions} {
		if v := bytes.TrimSpace(raw); len(v) > 0 && v[0] != '{' && !bytes.Equal(v, []byte("null")) {
			return name + " must be a JSON object; " + want
		}
	}
	return ""
}

// jsonProblem describes a decoding error without quoting the input.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return fmt.Sprintf("field %s must not be a JSON %s", truncateForMessage(te.Field, 64), te.Value)
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	default:
		return "invalid JSON"
	}
}

func truncateForMessage(s string, n int) string {
	if len(s) <= n {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q…", s[:n])
}
