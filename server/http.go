package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/rs/cors"
	"github.com/sirupsen/logrus"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/artifact-trust/control-plane/auth"
	"github.com/artifact-trust/control-plane/correlation"
	"github.com/artifact-trust/control-plane/graph"
	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/resolvers"
	"github.com/artifact-trust/control-plane/service"
)

// requestInfo collects what the access log line reports about one request.
type requestInfo struct {
	mu        sync.Mutex
	operation string
	rootField string
	actor     string
	codes     []string
}

type requestInfoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return ri
}

func (ri *requestInfo) setOperation(op string) {
	if ri == nil {
		return
	}
	ri.mu.Lock()
	ri.operation = op
	ri.mu.Unlock()
}

func (ri *requestInfo) setRootField(f string) {
	if ri == nil {
		return
	}
	ri.mu.Lock()
	ri.rootField = f
	ri.mu.Unlock()
}

// rootField names an operation by its type and first root field, a label of
// bounded cardinality (client-chosen operation names are not).
func rootField(oc *graphql.OperationContext) string {
	if oc.Operation == nil {
		return ""
	}
	for _, sel := range oc.Operation.SelectionSet {
		if f, ok := sel.(*ast.Field); ok {
			return string(oc.Operation.Operation) + ":" + f.Name
		}
	}
	return string(oc.Operation.Operation)
}

// maxLoggedCodes bounds the error codes one request keeps for its log line: a
// websocket connection is one request however many operations it carries.
const maxLoggedCodes = 20

func (ri *requestInfo) addCode(code string) {
	if ri == nil {
		return
	}
	ri.mu.Lock()
	if len(ri.codes) < maxLoggedCodes {
		ri.codes = append(ri.codes, code)
	}
	ri.mu.Unlock()
}

// newGraphQL builds the gqlgen server with explicit transports, a query cache,
// limits and the error presenter.
func newGraphQL(cfg Config, svc *service.Service, verifier *auth.Verifier, log *logrus.Logger, m *metrics) *handler.Server {
	pricing := &listPricing{}
	es := graph.NewExecutableSchema(graph.Config{
		Resolvers:  &resolvers.Resolver{Service: svc, PriceList: pricing.price},
		Complexity: complexity(),
	})
	srv := handler.New(es)
	srv.AddTransport(transport.Options{})
	srv.AddTransport(graphQLHTTP{}) // transport.go: GET and POST as GraphQL over HTTP asks
	sessions := newWebsocketSessions(cfg, verifier, m)
	srv.AddTransport(sessions.transport())
	srv.SetQueryCache(newQueryCache(cfg.QueryCacheBytes))
	if cfg.Playground {
		srv.Use(extension.Introspection{})
	} else {
		srv.SetDisableSuggestion(true)
	}
	srv.Use(extension.FixedComplexityLimit(cfg.ComplexityLimit))
	srv.Use(pricing)
	applyLimits(srv) // limits.go: token, depth, alias and selection limits
	srv.SetErrorPresenter(errorPresenter(log, m))
	srv.SetRecoverFunc(recoverFunc())
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		oc := graphql.GetOperationContext(ctx)
		root := rootField(oc)
		name := oc.OperationName
		if name == "" && oc.Operation != nil {
			name = oc.Operation.Name
		}
		if name == "" {
			name = root
		}
		ri := infoFrom(ctx)
		ri.setOperation(name)
		ri.setRootField(root)
		return next(ctx)
	})
	srv.AroundOperations(sessions.aroundOperations) // websocket credential expiry and subscription limits
	return srv
}

// newHandler wires the HTTP routes and middleware.
func newHandler(cfg Config, svc *service.Service, verifier *auth.Verifier, log *logrus.Logger, m *metrics) http.Handler {
	gql := newGraphQL(cfg, svc, verifier, log, m)
	mux := http.NewServeMux()
	// Order matters: what needs only the request line and headers (method, content
	// type, token) is refused first; nothing reads, parses or caches a document for
	// a request without a valid token.
	mux.Handle(cfg.GraphQLPath, withCORS(cfg.CORSAllowedOrigins, withTimeout(cfg.RequestTimeout,
		guardTransport(authenticate(verifier, limitBody(cfg.MaxBodyBytes, refuseBatches(recordActor(gql))))))))
	mux.Handle("GET /metrics", m.handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := svc.Ping(ctx); err != nil {
			log.WithError(err).WithField("correlation_id", correlation.ID(r.Context())).Warn("readiness check failed")
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "database unreachable"})
			return
		}
		// The database answers, but acknowledged writes may be missing from the
		// read models until their repair succeeds: not ready to serve reads.
		if err := svc.Degraded(); err != nil {
			reason := "read models are being repaired"
			var me *model.Error
			if errors.As(err, &me) {
				reason = me.Message
			}
			log.WithError(err).WithField("correlation_id", correlation.ID(r.Context())).Warn("readiness check: degraded")
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "degraded", "reason": reason})
			return
		}
		body := map[string]string{"status": "ready"}
		if m != nil && m.repairs != nil {
			if n := m.repairs().Quarantined; n > 0 {
				// Ready: nothing is gained by keeping this replica out of rotation.
				body["quarantined"] = strconv.Itoa(n) + " outbox entries quarantined (acknowledged writes whose read models could not be updated): see the error log; `server repair` for their project clears them"
			}
		}
		writeJSON(w, http.StatusOK, body)
	})
	mountWeb(mux, cfg, log) // web.go: /assets/, /board, and the playground at /
	return withRecover(log, withCorrelation(withAccessLog(log, m, cfg.GraphQLPath, mux)))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// withCorrelation takes the correlation id from X-Correlation-ID when sane, else
// makes one, and echoes it in the response header.
func withCorrelation(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := correlation.FromHeader(r.Header.Get(correlation.Header))
		w.Header().Set(correlation.Header, id)
		next.ServeHTTP(w, r.WithContext(correlation.With(r.Context(), id)))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// withAccessLog logs one line per request with the correlation id, the actor, the
// operation name, the outcome codes and the duration.
func withAccessLog(log *logrus.Logger, m *metrics, graphQLPath string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &requestInfo{}
		rec := &statusRecorder{ResponseWriter: w}
		ctx := context.WithValue(r.Context(), requestInfoKey{}, ri)
		next.ServeHTTP(rec, r.WithContext(ctx))
		if r.URL.Path != graphQLPath {
			return
		}
		ri.mu.Lock()
		defer ri.mu.Unlock()
		code := ""
		switch {
		case len(ri.codes) > 0:
			code = ri.codes[0]
		case rec.status >= 400:
			// Refused before GraphQL ran (400, 405, 413, 415, ...): counted under
			// the HTTP status, never as OK.
			code = "HTTP_" + strconv.Itoa(rec.status)
		}
		m.observeOperation(ri.rootField, code, time.Since(start))
		fields := logrus.Fields{
			"correlation_id": correlation.ID(ctx),
			"method":         r.Method,
			"path":           r.URL.Path,
			"status":         rec.status,
			"duration_ms":    float64(time.Since(start).Microseconds()) / 1000,
		}
		if ri.operation != "" {
			fields["operation"] = ri.operation
		}
		if len(ri.codes) > 0 {
			fields["error_codes"] = ri.codes
		}
		if ri.actor != "" {
			fields["actor"] = ri.actor
		}
		log.WithFields(fields).Info("request")
	})
}

// authenticate verifies the bearer token of every request to the API and answers
// 401 UNAUTHENTICATED, before the body is read or the document parsed or cached,
// when it does not carry a valid one. CORS preflights pass (they carry no
// credentials), and so do websocket upgrades, which authenticate at
// connection_init (an Authorization header on the upgrade request is verified and
// used when connection_init carries none).
func authenticate(v *auth.Verifier, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := v.Authenticate(r)
		if r.Method == http.MethodOptions || isWebsocketUpgrade(r) {
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		if _, err := auth.Require(ctx); err != nil {
			msg := "a valid bearer token is required"
			var me *model.Error
			if errors.As(err, &me) {
				msg = me.Message
			}
			challenge := `Bearer realm="artifact-trust"`
			if _, present, _ := auth.FromRequest(r); present {
				challenge += `, error="invalid_token"`
			}
			w.Header().Set("WWW-Authenticate", challenge)
			infoFrom(ctx).addCode(string(model.KindUnauthenticated))
			writeJSON(w, http.StatusUnauthorized, graphQLErrorBody(msg, string(model.KindUnauthenticated)))
			return
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// recordActor notes the authenticated actor for the access log.
func recordActor(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if actor, ok := auth.ActorFrom(r.Context()); ok {
			if ri := infoFrom(r.Context()); ri != nil {
				ri.mu.Lock()
				ri.actor = actor.Subject
				ri.mu.Unlock()
			}
		}
		next.ServeHTTP(w, r)
	})
}

// limitBody reads at most max bytes of the body; a larger body is answered 413.
func limitBody(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			writeJSON(w, http.StatusRequestEntityTooLarge, graphQLErrorBody("request body is larger than the limit of the server", "BAD_USER_INPUT"))
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
			if err != nil {
				var tooBig *http.MaxBytesError
				if errors.As(err, &tooBig) {
					writeJSON(w, http.StatusRequestEntityTooLarge, graphQLErrorBody("request body is larger than the limit of the server", "BAD_USER_INPUT"))
					return
				}
				writeJSON(w, http.StatusBadRequest, graphQLErrorBody("request body could not be read", "BAD_USER_INPUT"))
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		next.ServeHTTP(w, r)
	})
}

func graphQLErrorBody(msg, code string) map[string]any {
	return map[string]any{"errors": []map[string]any{{"message": msg, "extensions": map[string]any{"code": code}}}}
}

// withCORS answers cross-origin requests from the allowed browser origins (none:
// no CORS headers at all, so browsers keep the API same-origin).
func withCORS(origins []string, next http.Handler) http.Handler {
	if len(origins) == 0 {
		return next
	}
	return cors.New(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: []string{http.MethodGet, http.MethodPost},
		AllowedHeaders: []string{"Authorization", "Content-Type", "Accept", correlation.Header},
		ExposedHeaders: []string{correlation.Header},
		MaxAge:         600,
	}).Handler(next)
}

// withTimeout bounds each operation.
func withTimeout(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isWebsocketUpgrade(r) {
			// A subscription lives as long as its connection: lift the server's
			// read/write deadlines for it; keep-alive pings detect dead peers.
			rc := http.NewResponseController(w)
			_ = rc.SetReadDeadline(time.Time{})
			_ = rc.SetWriteDeadline(time.Time{})
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// withRecover turns a panic outside gqlgen into a logged 500 with the correlation id.
func withRecover(log *logrus.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.WithField("panic", v).WithField("correlation_id", w.Header().Get(correlation.Header)).Error("panic serving request")
				writeJSON(w, http.StatusInternalServerError, graphQLErrorBody("internal error", "INTERNAL"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}
