package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/artifact-trust/control-plane/auth"
	"github.com/artifact-trust/control-plane/model"
)

// Close codes of the graphql-transport-ws protocol for refused credentials. The
// graphql-ws client never reconnects after 4401; after 4403 it retries at most its
// retryAttempts times with a growing randomised backoff. A 1000 close, by contrast,
// makes it reconnect at once while it has subscriptions to serve.
const (
	closeBadRequest   = 4400
	closeUnauthorized = 4401
	closeForbidden    = 4403
)

// expirySlack is how close to the credential's end a subscription stream may end
// and still be taken as ended by it.
const expirySlack = time.Second

// Subscription limits used when the configuration leaves them unset.
const (
	defaultWSMaxSubscriptionsPerConnection = 100
	defaultWSMaxSubscriptionsPerSubject    = 500
)

// websocketSessions serves subscriptions over graphql-transport-ws (and the older
// graphql-ws protocol) and holds every connection to the credential that opened it:
//
//   - the actor is authenticated at connection_init from the payload's
//     Authorization entry (or, when absent, from the upgrade request's
//     Authorization header); a refused credential closes the connection with 4401;
//   - the connection is closed with 4401 when the token expires (exp plus
//     JWT_LEEWAY), and every operation on it is checked against that expiry first;
//   - a subscription refused FORBIDDEN (no role in the project) closes the
//     connection with 4403, one refused UNAUTHENTICATED with 4401, after the
//     operation's error message;
//   - each connection holds at most perConn live subscriptions and each token
//     subject at most perSubject on this replica; a subscription over either limit
//     is refused with an error message and the connection stays open. A
//     subscription the client completed frees its slot at once: gqlgen cancels
//     its context before it reads the next message, and a subscribe counts only
//     the slots whose operation context is still live.
//
// It plugs into gqlgen's websocket transport (InitFunc, a WebsocketImplementation
// that wraps the default one, and an operation interceptor) without forking it.
type websocketSessions struct {
	leeway     time.Duration
	timeout    time.Duration // deadline of one query or mutation (REQUEST_TIMEOUT)
	readLimit  int64         // largest message read from a client (MAX_BODY_BYTES)
	perConn    int
	perSubject int
	verifier   *auth.Verifier
	m          *metrics

	mu        sync.Mutex
	bySubject map[string]map[*wsSlot]struct{}
	pending   *pendingGate // connections waiting for their connection_init
}

func newWebsocketSessions(cfg Config, verifier *auth.Verifier, m *metrics) *websocketSessions {
	ws := &websocketSessions{
		leeway:     cfg.JWTLeeway,
		timeout:    cfg.RequestTimeout,
		readLimit:  cfg.MaxBodyBytes,
		perConn:    cfg.WSMaxSubscriptionsPerConnection,
		perSubject: cfg.WSMaxSubscriptionsPerSubject,
		verifier:   verifier,
		m:          m,
		bySubject:  map[string]map[*wsSlot]struct{}{},
		pending:    newPendingGate(wsMaxPendingConnections),
	}
	if ws.perConn <= 0 {
		ws.perConn = defaultWSMaxSubscriptionsPerConnection
	}
	if ws.perSubject <= 0 {
		ws.perSubject = defaultWSMaxSubscriptionsPerSubject
	}
	return ws
}

// transport is the gqlgen transport for websocket upgrades.
func (ws *websocketSessions) transport() graphql.Transport {
	return sessionTransport{
		sessions: ws,
		Websocket: transport.Websocket{
			Implementation:        sessionImplementation{inner: transport.CoderWebsocketImplementation{}},
			InitTimeout:           wsInitTimeout,
			KeepAlivePingInterval: 15 * time.Second,
			PayloadReadLimit:      &ws.readLimit,
			InitFunc:              ws.init,
		},
	}
}

// sessionTransport gives every websocket connection a wsSession in its context
// before gqlgen's transport takes it over.
type sessionTransport struct {
	transport.Websocket
	sessions *websocketSessions
}

func (t sessionTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	if !t.sessions.pending.enter() {
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, graphQLErrorBody("too many websocket connections are waiting for their connection_init; retry later", string(model.KindInternal)))
		return
	}
	s := &wsSession{owner: t.sessions, guard: newWSGuard(t.sessions.pending)}
	defer s.end()
	defer s.guard.done()
	t.Websocket.Do(guardedWriter{ResponseWriter: w, guard: s.guard}, r.WithContext(context.WithValue(r.Context(), wsSessionKey{}, s)), exec)
	// gqlgen returns without a close frame for a connection_init whose payload
	// is not a JSON object: close it as a bad request (a no-op when the
	// connection is closing already); the guard closes the socket after the
	// handshake's grace.
	s.mu.Lock()
	conn := s.conn
	s.mu.Unlock()
	if conn != nil {
		_ = conn.WriteClose(closeBadRequest, "bad request: connection_init payload must be a JSON object")
	}
}

// sessionImplementation accepts connections with gqlgen's default implementation
// and hands the connection to the request's session, so the session can close it
// with a code of its choosing.
type sessionImplementation struct {
	inner transport.WebsocketImplementation
}

func (i sessionImplementation) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	c, err := i.inner.Accept(w, r, opts)
	if err != nil {
		return nil, err
	}
	sc := &sessionConn{WebsocketConn: c}
	if s := sessionFrom(r.Context()); s != nil {
		s.mu.Lock()
		s.conn = sc
		s.mu.Unlock()
	}
	return sc, nil
}

// sessionConn sends at most one close frame: the first close code written wins,
// so gqlgen's own 1000 after the session closed with 4401 or 4403 is dropped.
type sessionConn struct {
	transport.WebsocketConn
	mu      sync.Mutex
	closing bool
	limit   int64 // the read limit once authenticated; until then wsPreInitReadLimit
	authed  bool
	ops     operationIDs // graphql-transport-ws operation ids in use (wsids.go)
}

var (
	_ transport.WebsocketReadLimiter   = (*sessionConn)(nil)
	_ transport.WebsocketReadDeadliner = (*sessionConn)(nil)
)

// WriteJSON sends a message unless the connection is closing: once the session
// decided to close (4401 at the token's expiry, say), gqlgen's "complete" for the
// streams that end with it must not reach the client before the close frame.
func (c *sessionConn) WriteJSON(v any) error {
	c.mu.Lock()
	closing := c.closing
	c.mu.Unlock()
	if closing {
		return nil
	}
	if c.Subprotocol() != graphqlTransportWS {
		return c.WebsocketConn.WriteJSON(v)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.ops.sent(data)
	return c.WebsocketConn.WriteJSON(json.RawMessage(data))
}

func (c *sessionConn) WriteClose(code int, reason string) error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return nil
	}
	c.closing = true
	c.mu.Unlock()
	code, reason = c.protocolClose(code, reason)
	return c.WebsocketConn.WriteClose(code, closeReason(reason))
}

// SetReadLimit sets the read limit of an authenticated connection; before that,
// messages are limited to wsPreInitReadLimit.
func (c *sessionConn) SetReadLimit(limit int64) {
	c.mu.Lock()
	c.limit = limit
	if !c.authed && (limit <= 0 || limit > wsPreInitReadLimit) {
		limit = wsPreInitReadLimit
	}
	c.mu.Unlock()
	if l, ok := c.WebsocketConn.(transport.WebsocketReadLimiter); ok {
		l.SetReadLimit(limit)
	}
}

// authenticated lifts the read limit to the one set for the connection.
func (c *sessionConn) authenticated() {
	c.mu.Lock()
	c.authed = true
	limit := c.limit
	c.mu.Unlock()
	if l, ok := c.WebsocketConn.(transport.WebsocketReadLimiter); ok && limit > 0 {
		l.SetReadLimit(limit)
	}
}

func (c *sessionConn) SetReadDeadline(t time.Time) error {
	if d, ok := c.WebsocketConn.(transport.WebsocketReadDeadliner); ok {
		return d.SetReadDeadline(t)
	}
	return nil
}

// closeReason fits reason into a close frame (at most 123 bytes).
func closeReason(reason string) string {
	const max = 123
	if len(reason) <= max {
		return reason
	}
	reason = reason[:max]
	for !utf8.ValidString(reason) {
		reason = reason[:len(reason)-1]
	}
	return reason
}

// wsSession is one websocket connection.
type wsSession struct {
	owner *websocketSessions
	guard *wsGuard // the anonymous phase (wsguard.go)

	mu      sync.Mutex
	conn    *sessionConn
	cancel  context.CancelFunc // ends the connection's context (gqlgen then closes it)
	subject string
	ends    time.Time // the credential's expiry plus the leeway; zero: none
	timer   *time.Timer
	closed  bool
	active  map[*wsSlot]struct{} // live subscriptions; guarded by owner.mu
}

// wsSlot is a subscription's place in its connection's and its subject's limits,
// held until the subscription ends or its operation context is cancelled.
type wsSlot struct {
	s   *wsSession
	ctx context.Context
}

type wsSessionKey struct{}

func sessionFrom(ctx context.Context) *wsSession {
	s, _ := ctx.Value(wsSessionKey{}).(*wsSession)
	return s
}

// init authenticates connection_init. A refusal closes the connection with 4401
// (gqlgen's InitFunc close code and reason); an accepted credential arms a timer
// that closes the connection with 4401 when it expires.
func (ws *websocketSessions) init(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	actor, err := ws.authenticate(ctx, payload)
	if err == nil && !actor.ExpiresAt.IsZero() && !time.Now().Before(actor.ExpiresAt.Add(ws.leeway)) {
		err = model.Errorf(model.KindUnauthenticated, "token expired")
	}
	if err != nil {
		msg := clientMessage(err)
		infoFrom(ctx).addCode(string(model.KindUnauthenticated))
		ws.m.observeWebsocketClose(closeUnauthorized)
		ctx = transport.WithWebsocketCloseCode(ctx, closeUnauthorized)
		ctx = transport.AppendCloseReason(ctx, closeReason(msg))
		return ctx, nil, errors.New(msg)
	}
	ctx = auth.WithActor(ctx, actor)
	s := sessionFrom(ctx)
	if s == nil {
		return ctx, nil, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	s.guard.authenticated()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		s.conn.authenticated()
	}
	s.cancel = cancel
	s.subject = actor.Subject
	if !actor.ExpiresAt.IsZero() {
		s.ends = actor.ExpiresAt.Add(ws.leeway)
		s.timer = time.AfterFunc(time.Until(s.ends), func() { s.close(closeUnauthorized, "token expired") })
	}
	return ctx, nil, nil
}

func (ws *websocketSessions) authenticate(ctx context.Context, payload transport.InitPayload) (model.Actor, error) {
	raw := payload.Authorization()
	if raw == "" {
		return auth.Require(ctx) // the upgrade request's Authorization header, if any
	}
	tok, ok := strings.CutPrefix(raw, "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(raw, "bearer ")
	}
	if !ok {
		return model.Actor{}, model.Errorf(model.KindUnauthenticated, "connection_init Authorization must be 'Bearer <jwt>'")
	}
	if ws.verifier == nil {
		return model.Actor{}, model.Errorf(model.KindUnauthenticated, "tokens are not accepted by this server")
	}
	return ws.verifier.VerifyContext(ctx, strings.TrimSpace(tok))
}

// clientMessage is what a client may read of err: a domain error's message, never
// its underlying cause.
func clientMessage(err error) string {
	var me *model.Error
	if errors.As(err, &me) {
		return me.Message
	}
	return "invalid credentials"
}

// expired reports whether the connection's credential has expired at now.
func (s *wsSession) expired(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.ends.IsZero() && !now.Before(s.ends)
}

func (s *wsSession) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// close sends the close frame with code and ends the connection's context, which
// makes gqlgen stop its operations and close the socket. Only the first call acts.
func (s *wsSession) close(code int, reason string) {
	s.mu.Lock()
	if s.closed || s.conn == nil {
		s.mu.Unlock()
		return
	}
	s.closed = true
	conn, cancel, timer := s.conn, s.cancel, s.timer
	s.mu.Unlock()
	if timer != nil {
		timer.Stop()
	}
	s.owner.m.observeWebsocketClose(code)
	_ = conn.WriteClose(code, reason)
	if cancel != nil {
		cancel()
	}
}

// end releases the session once gqlgen is done with the connection.
func (s *wsSession) end() {
	s.mu.Lock()
	s.closed = true
	cancel, timer := s.cancel, s.timer
	s.mu.Unlock()
	if timer != nil {
		timer.Stop()
	}
	if cancel != nil {
		cancel()
	}
}

// acquire takes a subscription slot of the connection and of its subject for the
// operation of ctx. The slots of the subject's operations whose context is done
// (the client completed them, or their connection closed) are freed first.
func (s *wsSession) acquire(ctx context.Context) (release func(), refusal *gqlerror.Error) {
	o := s.owner
	o.mu.Lock()
	defer o.mu.Unlock()
	for sl := range o.bySubject[s.subject] {
		if sl.ctx.Err() != nil {
			o.free(sl)
		}
	}
	switch {
	case len(s.active) >= o.perConn:
		o.m.observeSubscriptionRefused("connection_limit")
		return nil, limitRefusal(o.perConn, "too many subscriptions on this connection: at most %d may be open at once; complete one before starting another", o.perConn)
	case len(o.bySubject[s.subject]) >= o.perSubject:
		o.m.observeSubscriptionRefused("subject_limit")
		return nil, limitRefusal(o.perSubject, "too many subscriptions for this token subject: at most %d may be open at once on this server, over all its connections; complete one before starting another", o.perSubject)
	}
	sl := &wsSlot{s: s, ctx: ctx}
	if s.active == nil {
		s.active = map[*wsSlot]struct{}{}
	}
	s.active[sl] = struct{}{}
	if o.bySubject[s.subject] == nil {
		o.bySubject[s.subject] = map[*wsSlot]struct{}{}
	}
	o.bySubject[s.subject][sl] = struct{}{}
	return func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.free(sl)
	}, nil
}

// free gives sl back (once; again does nothing). The caller holds o.mu.
func (o *websocketSessions) free(sl *wsSlot) {
	delete(sl.s.active, sl)
	if subj := o.bySubject[sl.s.subject]; subj != nil {
		if delete(subj, sl); len(subj) == 0 {
			delete(o.bySubject, sl.s.subject)
		}
	}
}

func limitRefusal(limit int, format string, args ...any) *gqlerror.Error {
	return &gqlerror.Error{Message: fmt.Sprintf(format, args...), Extensions: map[string]any{"code": string(model.KindBadInput), "limit": limit}}
}

// noResponse ends an operation without a response; gqlgen then sends the errors
// recorded with transport.AddSubscriptionError as the operation's error message.
func noResponse(context.Context) *graphql.Response { return nil }

// aroundOperations checks every operation of a websocket connection: after the
// credential's expiry nothing runs and the connection closes with 4401; a
// subscription needs a free slot of its connection and subject, holds it until it
// ends, and closes the connection with 4403 (4401) when it is refused FORBIDDEN
// (UNAUTHENTICATED). Operations over HTTP pass through.
func (ws *websocketSessions) aroundOperations(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	s := sessionFrom(ctx)
	if s == nil {
		return next(ctx)
	}
	if s.isClosed() {
		return noResponse // the connection is closing: nothing more runs on it
	}
	if s.expired(time.Now()) {
		transport.AddSubscriptionError(ctx, &gqlerror.Error{Message: "token expired", Extensions: map[string]any{"code": string(model.KindUnauthenticated)}})
		closeAfter(ctx, s, closeUnauthorized, "token expired")
		return noResponse
	}
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation == nil || oc.Operation.Operation != ast.Subscription {
		if ws.timeout <= 0 {
			return next(ctx)
		}
		// A query or a mutation has the same deadline as over HTTP.
		deadline := time.Now().Add(ws.timeout)
		ctx, cancel := context.WithDeadline(ctx, deadline)
		responses := next(ctx)
		answered := false
		return func(rctx context.Context) *graphql.Response {
			defer cancel()
			rctx, rcancel := context.WithDeadline(rctx, deadline)
			defer rcancel()
			resp := responses(rctx)
			if resp == nil && !answered && rctx.Err() != nil {
				// Nothing was produced before the deadline: answer it as the
				// HTTP transport does, not with a bare completion.
				resp = deadlineResponse(ctx)
			}
			answered = answered || resp != nil
			return resp
		}
	}
	release, refusal := s.acquire(ctx)
	if refusal != nil {
		transport.AddSubscriptionError(ctx, refusal)
		return noResponse
	}
	responses := next(ctx)
	first := true
	return func(ctx context.Context) *graphql.Response {
		resp := responses(ctx)
		if resp == nil {
			release()
			// The stream ended with the credential: close with 4401 before gqlgen
			// would report a normal completion. The service ends the stream by a
			// timer of its own set for the same instant, which may fire a moment
			// before this session's clock reads that instant (each timer measures
			// its own duration from the wall clock), hence the slack: the
			// connection closes then anyway.
			if s.expired(time.Now().Add(expirySlack)) {
				s.close(closeUnauthorized, "token expired")
			}
			return nil
		}
		if first {
			first = false
			if code := refusalClose(resp); code != 0 {
				release()
				for _, e := range resp.Errors {
					transport.AddSubscriptionError(ctx, e)
				}
				closeAfter(ctx, s, code, resp.Errors[0].Message)
				return nil
			}
		}
		return resp
	}
}

// closeAfter closes the connection with code once the operation of ctx has ended,
// that is after gqlgen has sent the operation's error message.
func closeAfter(ctx context.Context, s *wsSession, code int, reason string) {
	context.AfterFunc(ctx, func() { s.close(code, reason) })
}

// refusalClose is the close code for a subscription refused outright: 4403 for
// FORBIDDEN, 4401 for UNAUTHENTICATED, 0 otherwise.
func refusalClose(resp *graphql.Response) int {
	if len(resp.Errors) == 0 || (len(resp.Data) > 0 && string(resp.Data) != "null") {
		return 0
	}
	for _, e := range resp.Errors {
		switch e.Extensions["code"] {
		case string(model.KindUnauthenticated):
			return closeUnauthorized
		case string(model.KindForbidden):
			return closeForbidden
		}
	}
	return 0
}

// isWebsocketUpgrade reports whether r asks for a websocket: a GET with Upgrade:
// websocket (RFC 6455). Another method with that header is an ordinary request.
func isWebsocketUpgrade(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}
