package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/artifact-trust/control-plane/model"
)

// Response media types of the GraphQL-over-HTTP specification.
const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
)

// graphQLHTTP serves queries and mutations over HTTP GET and POST as the
// GraphQL-over-HTTP specification asks, where gqlgen's own GET and POST
// transports differ from it:
//
//   - a request error (the document does not parse, does not validate, its
//     variables cannot be coerced, or a limit refuses it) is answered 200 when the
//     client accepts application/json, and 400 when it accepts
//     application/graphql-response+json (gqlgen answers 422 to the former);
//   - the body of a request error has no "data" entry, since execution never
//     started (gqlgen sends "data": null);
//   - the Accept header is negotiated with its q-values; without one, and for
//     */* or application/*, the answer is application/json.
//
// What is refused before GraphQL runs (methods, content types, batches, body size,
// tokens) is refused by the middleware in front of the handler (http.go, limits.go).
type graphQLHTTP struct{}

var _ graphql.Transport = graphQLHTTP{}

// Supports accepts GET, and POST with Content-Type application/json; websocket
// upgrades go to the websocket transport.
func (graphQLHTTP) Supports(r *http.Request) bool {
	if r.Header.Get("Upgrade") != "" {
		return false
	}
	switch r.Method {
	case http.MethodGet:
		return true
	case http.MethodPost:
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		return err == nil && mt == mediaJSON
	}
	return false
}

// Do reads the request parameters, runs the operation and writes the response.
func (graphQLHTTP) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ctx := r.Context()
	media := responseMediaType(r.Header.Get("Accept"))
	w.Header().Set("Content-Type", media)

	params := &graphql.RawParams{Headers: r.Header}
	params.ReadTime.Start = graphql.Now()
	if msg := readParams(r, params); msg != "" {
		writeGraphQLJSON(w, http.StatusBadRequest, requestErrorBody{Errors: gqlerror.List{{Message: msg, Extensions: map[string]any{"code": "BAD_USER_INPUT"}}}})
		return
	}
	params.ReadTime.End = graphql.Now()

	oc, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, oc), errs)
		status := http.StatusOK
		if media == mediaGraphQLResponse {
			status = http.StatusBadRequest
		}
		writeGraphQLJSON(w, status, requestErrorBody{Errors: resp.Errors, Extensions: resp.Extensions})
		return
	}
	if r.Method == http.MethodGet {
		// Mutations change state and must not be triggered by a link or a
		// prefetch: refused before anything runs.
		if op := oc.Doc.Operations.ForName(oc.OperationName); op == nil || op.Operation != ast.Query {
			msg := "GET serves queries only; send other operations with POST"
			switch {
			case op != nil && op.Operation == ast.Subscription:
				msg = "GET serves queries only; subscriptions are served over a websocket (graphql-transport-ws) at this path"
			case op != nil:
				msg = "a " + string(op.Operation) + " is only accepted with POST; GET serves queries only"
			}
			w.Header().Set("Allow", http.MethodPost)
			writeGraphQLJSON(w, http.StatusMethodNotAllowed, requestErrorBody{Errors: gqlerror.List{{Message: msg, Extensions: map[string]any{"code": "BAD_USER_INPUT"}}}})
			return
		}
	}
	if op := oc.Doc.Operations.ForName(oc.OperationName); op != nil && op.Operation == ast.Subscription {
		// A subscription lives on a websocket, where its limits and the token's
		// expiry are enforced; over HTTP it would hold the request open.
		writeGraphQLJSON(w, http.StatusBadRequest, requestErrorBody{Errors: gqlerror.List{{
			Message:    "subscriptions are served over a websocket (graphql-transport-ws) at this path, not over HTTP " + r.Method,
			Extensions: map[string]any{"code": "BAD_USER_INPUT"},
		}}})
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, oc)
	resp := responses(ctx)
	if resp == nil {
		// gqlgen gives no response at all when the request's context ended
		// before it produced one (the body would be "null"): the deadline
		// passed, which is answered as the error presenter answers a deadline
		// met inside a resolver.
		resp = deadlineResponse(ctx)
	}
	writeGraphQLJSON(w, http.StatusOK, resp)
}

// deadlineMessage answers an operation that did not finish within
// REQUEST_TIMEOUT.
const deadlineMessage = "the operation took longer than the server allows"

// readParams fills params from the query string (GET) or the JSON body (POST) and
// returns why the request is malformed, or "".
func readParams(r *http.Request, params *graphql.RawParams) string {
	if r.Method == http.MethodGet {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return "the query string cannot be parsed"
		}
		params.Query = q.Get("query")
		params.OperationName = q.Get("operationName")
		if v := q.Get("variables"); v != "" {
			if decodeJSON(strings.NewReader(v), &params.Variables) != nil {
				return "variables must be a JSON object"
			}
		}
		if v := q.Get("extensions"); v != "" {
			if decodeJSON(strings.NewReader(v), &params.Extensions) != nil {
				return "extensions must be a JSON object"
			}
		}
		return ""
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return "the request body could not be read"
	}
	if decodeJSON(bytes.NewReader(body), params) != nil {
		// refuseBatches has checked the shape already; this names no input.
		return "the request body is not a GraphQL request object"
	}
	return ""
}

func decodeJSON(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	return dec.Decode(v)
}

// requestErrorBody is the response to a request error: errors, no data entry.
type requestErrorBody struct {
	Errors     gqlerror.List  `json:"errors"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

func writeGraphQLJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Resolved values are plain data; a value that cannot be encoded is a
		// bug, answered as an internal error rather than a half-written body.
		status = http.StatusInternalServerError
		b, _ = json.Marshal(graphQLErrorBody("internal error: the response could not be encoded", "INTERNAL"))
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// responseMediaType picks the response media type from an Accept header: the
// supported type with the highest q-value, the first listed on a tie. No header,
// */* and application/* mean application/json (the specification's legacy
// default); a header naming neither supported type gets
// application/graphql-response+json.
func responseMediaType(accept string) string {
	if strings.TrimSpace(accept) == "" {
		return mediaJSON
	}
	best, bestQ := "", 0.0
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if s, ok := params["q"]; ok {
			if q, err = strconv.ParseFloat(s, 64); err != nil {
				continue
			}
		}
		var candidate string
		switch mt {
		case mediaGraphQLResponse:
			candidate = mediaGraphQLResponse
		case mediaJSON, "application/*", "*/*":
			candidate = mediaJSON
		default:
			continue
		}
		if q > bestQ {
			best, bestQ = candidate, q
		}
	}
	if best == "" {
		return mediaGraphQLResponse
	}
	return best
}

// deadlineResponse answers an operation that produced nothing before its deadline,
// as the error presenter answers a deadline met inside a resolver.
func deadlineResponse(ctx context.Context) *graphql.Response {
	infoFrom(ctx).addCode(string(model.KindInternal))
	return &graphql.Response{Data: json.RawMessage("null"), Errors: gqlerror.List{{
		Message:    deadlineMessage,
		Extensions: map[string]any{"code": string(model.KindInternal), "retryable": true},
	}}}
}
