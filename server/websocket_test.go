package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// wsToken signs a token for sub with roles ("project:role") that expires at exp;
// exp may already be past, which auth.MintHS256 refuses to mint.
func wsToken(t *testing.T, sub string, exp time.Time, roles ...string) string {
	t.Helper()
	claims := map[string]any{"sub": sub, "iat": time.Now().Add(-time.Minute).Unix(), "exp": exp.Unix(), "roles": map[string]any{}}
	for _, r := range roles {
		p, role, _ := strings.Cut(r, ":")
		claims["roles"].(map[string]any)[p] = []string{role}
	}
	return craft(t, map[string]any{"alg": "HS256", "typ": "JWT"}, claims, hmacSHA256([]byte(testSecret)))
}

// acked opens a connection with tok in connection_init and waits for connection_ack.
func acked(t *testing.T, ts *testServer, tok string) (*websocket.Conn, context.Context) {
	t.Helper()
	conn, ctx := dialSubscription(t, ts, map[string]any{"Authorization": "Bearer " + tok})
	var msg wsMessage
	if err := wsjson.Read(ctx, conn, &msg); err != nil || msg.Type != "connection_ack" {
		t.Fatalf("init: %+v %v", msg, err)
	}
	return conn, ctx
}

func subscribe(t *testing.T, ctx context.Context, conn *websocket.Conn, id, project string) {
	t.Helper()
	q := fmt.Sprintf(`subscription { artifactEvents(project: %q) { action digest } }`, project)
	if err := wsjson.Write(ctx, conn, map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": q}}); err != nil {
		t.Fatal(err)
	}
}

// waitLive waits (bounded) until the server has n live subscriptions.
func waitLive(t *testing.T, ts *testServer, n int) {
	t.Helper()
	want := fmt.Sprintf("artifact_trust_live_subscribers %d\n", n)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(scrape(t, ts), want); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("live subscriptions never reached %d", n)
		}
	}
}

// readUntilClose reads messages until the server closes the connection and
// returns them with the close code (-1 when the connection ended otherwise).
func readUntilClose(t *testing.T, ctx context.Context, conn *websocket.Conn) ([]wsMessage, websocket.StatusCode) {
	t.Helper()
	var msgs []wsMessage
	for {
		var msg wsMessage
		if err := wsjson.Read(ctx, conn, &msg); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("the server never closed the connection; got %s", describe(msgs))
			}
			return msgs, websocket.CloseStatus(err)
		}
		msgs = append(msgs, msg)
	}
}

func describe(msgs []wsMessage) string {
	var b strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&b, "[%s %s %s] ", m.ID, m.Type, m.Payload)
	}
	return b.String()
}

func messageTypes(msgs []wsMessage) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Type
	}
	return out
}

// errorCodes returns the extensions.code of an error message's errors.
func errorCodes(t *testing.T, msg wsMessage) []string {
	t.Helper()
	var errs []gqlError
	if err := json.Unmarshal(msg.Payload, &errs); err != nil {
		t.Fatalf("error payload %s: %v", msg.Payload, err)
	}
	var codes []string
	for _, e := range errs {
		codes = append(codes, e.Code())
	}
	return codes
}

func TestWebsocketInitWithARefusedTokenClosesWith4401(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	for name, payload := range map[string]map[string]any{
		"no token":        {},
		"not a jwt":       {"Authorization": "Bearer not-a-jwt"},
		"not bearer":      {"Authorization": "Basic dXNlcjpwYXNz"},
		"expired":         {"Authorization": "Bearer " + wsToken(t, "vic", time.Now().Add(-time.Hour), "payments:viewer")},
		"wrong signature": {"Authorization": "Bearer " + craft(t, map[string]any{"alg": "HS256"}, map[string]any{"sub": "vic", "exp": time.Now().Add(time.Hour).Unix()}, hmacSHA256([]byte("another-secret-of-at-least-32-bytes!!")))},
	} {
		t.Run(name, func(t *testing.T) {
			conn, ctx := dialSubscription(t, ts, payload)
			msgs, code := readUntilClose(t, ctx, conn)
			if code != 4401 || len(msgs) != 0 {
				t.Fatalf("close code %d after %v, want 4401 and no message", code, messageTypes(msgs))
			}
		})
	}
	metrics := scrape(t, ts)
	if !strings.Contains(metrics, `artifact_trust_websocket_auth_closes_total{code="4401"} 5`) {
		t.Error("the 4401 closes are not counted in /metrics")
	}
	// Each refused connection is an UNAUTHENTICATED request, never an OK one: a
	// reconnect storm must not look like traffic that succeeds.
	if !strings.Contains(metrics, `artifact_trust_graphql_operations_total{code="UNAUTHENTICATED",operation="unparsed"} 5`) ||
		strings.Contains(metrics, `artifact_trust_graphql_operations_total{code="OK",operation="unparsed"}`) {
		t.Errorf("refused websocket connections are not counted as UNAUTHENTICATED:\n%s", grepLines(metrics, "graphql_operations_total"))
	}
}

func TestWebsocketSubscriptionToAForbiddenProjectGetsAnErrorThenClose4403(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	conn, ctx := acked(t, ts, token(t, "otto", "billing:viewer"))
	subscribe(t, ctx, conn, "1", "payments")
	msgs, code := readUntilClose(t, ctx, conn)
	if code != 4403 || len(msgs) != 1 || msgs[0].Type != "error" || msgs[0].ID != "1" {
		t.Fatalf("got %v then close %d, want one error message then 4403", messageTypes(msgs), code)
	}
	if codes := errorCodes(t, msgs[0]); len(codes) != 1 || codes[0] != "FORBIDDEN" {
		t.Fatalf("error codes %v, want FORBIDDEN", codes)
	}
}

func TestWebsocketConnectionClosesWith4401WhenTheTokenExpires(t *testing.T) {
	ts := startServer(t, t.TempDir(), func(c *Config) { c.JWTLeeway = 0 })
	c := newCast(t)
	conn, ctx := acked(t, ts, wsToken(t, "vic", time.Now().Add(3*time.Second), "payments:viewer"))
	subscribe(t, ctx, conn, "1", "payments")
	waitLive(t, ts, 1)
	a := ts.register(c.publisher, "payments", 1, nil)
	msgs, code := readUntilClose(t, ctx, conn)
	if code != 4401 {
		t.Fatalf("got %v then close %d, want 4401 at the token's expiry", messageTypes(msgs), code)
	}
	if len(msgs) != 1 || msgs[0].Type != "next" || !strings.Contains(string(msgs[0].Payload), a.Digest) {
		t.Fatalf("messages before the close: %v, want only the event (no complete)", messageTypes(msgs))
	}
	waitLive(t, ts, 0)
}

func TestWebsocketOperationSentAfterTheTokenExpiredNeverRuns(t *testing.T) {
	ts := startServer(t, t.TempDir(), func(c *Config) { c.JWTLeeway = 0 })
	c := newCast(t)
	exp := time.Now().Add(2 * time.Second)
	conn, ctx := acked(t, ts, wsToken(t, "pat", exp, "payments:publisher"))
	time.Sleep(time.Until(exp.Truncate(time.Second).Add(1500 * time.Millisecond))) // past exp (whole seconds)
	in := map[string]any{"project": "payments", "digest": digestN(7), "kind": "OCI_IMAGE", "sourceType": "OCI_REGISTRY", "source": "registry.example.com/payments/app"}
	// The write may already fail: the server closes the connection at exp.
	_ = wsjson.Write(ctx, conn, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
		"query": `mutation($in: RegisterArtifactInput!) { registerArtifact(input: $in) { id } }`, "variables": map[string]any{"in": in}}})
	msgs, code := readUntilClose(t, ctx, conn)
	if code != 4401 {
		t.Fatalf("got %v then close %d, want 4401", messageTypes(msgs), code)
	}
	for _, m := range msgs {
		if m.Type == "next" {
			t.Fatalf("the mutation answered after the token expired: %s", m.Payload)
		}
	}
	var out struct {
		ArtifactByDigest *struct{ ID string } `json:"artifactByDigest"`
	}
	ts.MustDo(c.viewer, `query($d: String!) { artifactByDigest(project: "payments", digest: $d) { id } }`, map[string]any{"d": digestN(7)}, &out)
	if out.ArtifactByDigest != nil {
		t.Fatalf("registerArtifact ran on a connection whose token had expired: %s", out.ArtifactByDigest.ID)
	}
}

func TestWebsocketTokenInsideTheLeewayGetsAWorkingSubscriptionUntilExpPlusLeeway(t *testing.T) {
	ts := startServer(t, t.TempDir(), func(c *Config) { c.JWTLeeway = 4 * time.Second })
	c := newCast(t)
	// Expired a second ago: HTTP accepts it inside the 4 s leeway, and so does the
	// websocket, until exp + leeway.
	tok := wsToken(t, "vic", time.Now().Add(-time.Second), "payments:viewer")
	if r := ts.Do(tok, `{ viewer { subject } }`, nil); len(r.Errors) > 0 {
		t.Fatalf("HTTP refused the token inside the leeway: %+v", r.Errors)
	}
	conn, ctx := acked(t, ts, tok)
	subscribe(t, ctx, conn, "1", "payments")
	waitLive(t, ts, 1)
	a := ts.register(c.publisher, "payments", 1, nil)
	msgs, code := readUntilClose(t, ctx, conn)
	if len(msgs) != 1 || msgs[0].Type != "next" || !strings.Contains(string(msgs[0].Payload), a.Digest) {
		t.Fatalf("messages %v, want the event and no complete", messageTypes(msgs))
	}
	if code != 4401 {
		t.Fatalf("close %d at exp + leeway, want 4401", code)
	}
}

func TestWebsocketSubscriptionLimitsRefuseOverflowWhileExistingSubscriptionsKeepWorking(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir(), func(c *Config) {
		c.WSMaxSubscriptionsPerConnection = 3
		c.WSMaxSubscriptionsPerSubject = 5
	})
	c := newCast(t)
	a, actx := acked(t, ts, c.viewer)
	b, bctx := acked(t, ts, c.viewer) // the same subject on a second connection
	for i := 1; i <= 3; i++ {
		subscribe(t, actx, a, fmt.Sprint(i), "payments")
	}
	waitLive(t, ts, 3)
	subscribe(t, actx, a, "4", "payments") // over the connection's limit
	var msg wsMessage
	if err := wsjson.Read(actx, a, &msg); err != nil || msg.Type != "error" || msg.ID != "4" {
		t.Fatalf("4th subscription on a connection: %s %s %v, want an error message", msg.Type, msg.Payload, err)
	}
	if codes := errorCodes(t, msg); len(codes) != 1 || codes[0] != "BAD_USER_INPUT" || !strings.Contains(string(msg.Payload), "at most 3") {
		t.Fatalf("refusal %s", msg.Payload)
	}
	subscribe(t, bctx, b, "1", "payments")
	subscribe(t, bctx, b, "2", "payments")
	waitLive(t, ts, 5)
	subscribe(t, bctx, b, "3", "payments") // over the subject's limit
	if err := wsjson.Read(bctx, b, &msg); err != nil || msg.Type != "error" || msg.ID != "3" || !strings.Contains(string(msg.Payload), "at most 5") {
		t.Fatalf("6th subscription of the subject: %s %s %v, want an error message", msg.Type, msg.Payload, err)
	}

	// The five accepted subscriptions all still deliver.
	art := ts.register(c.publisher, "payments", 1, nil)
	for name, conn := range map[string]*websocket.Conn{"a": a, "b": b} {
		ctx, n := actx, 3
		if name == "b" {
			ctx, n = bctx, 2
		}
		seen := map[string]bool{}
		for len(seen) < n {
			if err := wsjson.Read(ctx, conn, &msg); err != nil || msg.Type != "next" || !strings.Contains(string(msg.Payload), art.Digest) {
				t.Fatalf("connection %s: %+v %v", name, msg, err)
			}
			seen[msg.ID] = true
		}
	}

	// Completing one frees its slot on the connection and for the subject at
	// once: a subscribe sent right after the complete is accepted.
	if err := wsjson.Write(actx, a, map[string]any{"id": "2", "type": "complete"}); err != nil {
		t.Fatal(err)
	}
	subscribe(t, actx, a, "5", "payments")
	waitLive(t, ts, 5)
	metrics := scrape(t, ts)
	for _, want := range []string{`artifact_trust_websocket_subscriptions_refused_total{limit="connection_limit"} 1`, `artifact_trust_websocket_subscriptions_refused_total{limit="subject_limit"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestAWebsocketConnectionKeepsABoundedListOfErrorCodesForItsLogLine(t *testing.T) {
	t.Parallel()
	// One connection is one request for the access log, however many operations
	// (and refusals) it carries.
	ri := &requestInfo{}
	for i := 0; i < 100000; i++ {
		ri.addCode("BAD_USER_INPUT")
	}
	if n := len(ri.codes); n == 0 || n > 20 {
		t.Fatalf("%d error codes kept for one log line, want 1 to 20", n)
	}
}

// TestWebsocketMessagesAreBoundedByMaxBodyBytes sends a subscribe message larger
// than MAX_BODY_BYTES: the server closes the connection (1009, message too big)
// instead of reading it, as an HTTP body of that size is answered 413.
func TestWebsocketMessagesAreBoundedByMaxBodyBytes(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir(), func(c *Config) { c.MaxBodyBytes = 8 << 10 })
	conn, ctx := acked(t, ts, token(t, "vic", "payments:viewer"))
	q := `subscription { artifactEvents(project: "payments") { action } }` + strings.Repeat(" ", 16<<10)
	if err := wsjson.Write(ctx, conn, map[string]any{"id": "big", "type": "subscribe", "payload": map[string]any{"query": q}}); err != nil {
		t.Fatal(err)
	}
	msgs, code := readUntilClose(t, ctx, conn)
	if code != websocket.StatusMessageTooBig {
		t.Fatalf("close code %d after %v, want %d (message too big)", code, messageTypes(msgs), websocket.StatusMessageTooBig)
	}
}

// TestWebsocketQueryHasTheRequestDeadline runs a query over the websocket on a
// server whose REQUEST_TIMEOUT has passed before anything can run: it is answered
// with an error, as over HTTP, instead of running without a deadline.
func TestWebsocketQueryHasTheRequestDeadline(t *testing.T) {
	ts := startServer(t, t.TempDir(), func(c *Config) { c.RequestTimeout = time.Nanosecond })
	conn, ctx := acked(t, ts, token(t, "vic", "payments:viewer"))
	if err := wsjson.Write(ctx, conn, map[string]any{"id": "q", "type": "subscribe", "payload": map[string]any{"query": `{ artifacts(project: "payments", first: 5) { totalCount } }`}}); err != nil {
		t.Fatal(err)
	}
	for {
		var msg wsMessage
		if err := wsjson.Read(ctx, conn, &msg); err != nil {
			t.Fatal(err)
		}
		switch msg.Type {
		case "next":
			var p struct {
				Data   json.RawMessage `json:"data"`
				Errors []gqlError      `json:"errors"`
			}
			if err := json.Unmarshal(msg.Payload, &p); err != nil {
				t.Fatal(err)
			}
			if len(p.Errors) == 0 {
				t.Fatalf("the query ran past its deadline: %s", msg.Payload)
			}
			return
		case "error":
			return
		case "complete":
			t.Fatal("the query completed without an answer")
		}
	}
}

// TestWebsocketInitWithAPayloadThatIsNotAnObjectIsClosed sends a connection_init
// whose payload is not a JSON object: the connection is closed (4400) instead of
// being left open with nothing serving it, which leaked a socket per attempt.
func TestWebsocketInitWithAPayloadThatIsNotAnObjectIsClosed(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	for _, payload := range []any{"x", []int{1}} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+GraphQLPath, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := wsjson.Write(ctx, conn, map[string]any{"type": "connection_init", "payload": payload}); err != nil {
			t.Fatal(err)
		}
		msgs, code := readUntilClose(t, ctx, conn)
		if code != closeBadRequest {
			t.Errorf("payload %v: close code %d after %v, want %d", payload, code, messageTypes(msgs), closeBadRequest)
		}
		conn.CloseNow()
		cancel()
	}
}

// TestWebsocketMessagesBeforeAuthenticationAreSmall sends a connection_init that
// carries a valid token and 64 KiB of padding: an anonymous connection may not make
// the server read that much (close 1009), whatever MAX_BODY_BYTES allows later.
func TestWebsocketMessagesBeforeAuthenticationAreSmall(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	conn, ctx := dialSubscription(t, ts, map[string]any{"Authorization": "Bearer " + token(t, "vic", "payments:viewer"), "padding": strings.Repeat("x", 64<<10)})
	msgs, code := readUntilClose(t, ctx, conn)
	if code != websocket.StatusMessageTooBig {
		t.Fatalf("close code %d after %v, want %d (message too big)", code, messageTypes(msgs), websocket.StatusMessageTooBig)
	}
	// Once authenticated, MAX_BODY_BYTES applies: a 48 KiB subscribe is read.
	conn2, ctx2 := acked(t, ts, token(t, "vic", "payments:viewer"))
	q := `subscription { artifactEvents(project: "payments") { action } }` + strings.Repeat(" ", 48<<10)
	if err := wsjson.Write(ctx2, conn2, map[string]any{"id": "s", "type": "subscribe", "payload": map[string]any{"query": q}}); err != nil {
		t.Fatal(err)
	}
	waitLive(t, ts, 1)
}

// TestWebsocketSubscribeWithAnIDStillInUseClosesWith4409: graphql-transport-ws
// gives an operation id to one running operation; a subscribe reusing it closes
// the connection with 4409, while an id whose operation ended (the client's
// complete, or the server's complete after a query) may be used again.
func TestWebsocketSubscribeWithAnIDStillInUseClosesWith4409(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	c := newCast(t)

	conn, ctx := acked(t, ts, c.viewer)
	// A query's id is free again once the server completed it.
	for range 2 {
		if err := wsjson.Write(ctx, conn, map[string]any{"id": "q", "type": "subscribe", "payload": map[string]any{"query": "{ __typename }"}}); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"next", "complete"} {
			var msg wsMessage
			if err := wsjson.Read(ctx, conn, &msg); err != nil || msg.Type != want || msg.ID != "q" {
				t.Fatalf("query q: %+v %v, want %s", msg, err, want)
			}
		}
	}
	// A subscription's id is free again once the client completed it.
	subscribe(t, ctx, conn, "s", "payments")
	waitLive(t, ts, 1)
	if err := wsjson.Write(ctx, conn, map[string]any{"id": "s", "type": "complete"}); err != nil {
		t.Fatal(err)
	}
	waitLive(t, ts, 0)
	subscribe(t, ctx, conn, "s", "payments")
	waitLive(t, ts, 1)

	// Reusing the id of the running subscription closes the connection.
	subscribe(t, ctx, conn, "s", "payments")
	msgs, code := readUntilClose(t, ctx, conn)
	if code != closeDuplicateOperation {
		t.Fatalf("close %d after %s, want 4409", code, describe(msgs))
	}
	waitLive(t, ts, 0)
}

// TestWebsocketProtocolViolationsCloseWithTheirGraphQLTransportWSCodes: gqlgen
// closes every protocol violation with 1002; graphql-transport-ws gives each its
// own code, which clients act on (4401 and 4429 are not retried, 4400 reports a
// client bug).
func TestWebsocketProtocolViolationsCloseWithTheirGraphQLTransportWSCodes(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	c := newCast(t)
	auth := map[string]any{"Authorization": "Bearer " + c.viewer}
	query := map[string]any{"query": "{ __typename }"}
	cases := []struct {
		name  string
		init  bool // acknowledged first
		frame any  // a JSON value, or a string sent as a raw text frame
		want  websocket.StatusCode
	}{
		{"subscribe before connection_init", false, map[string]any{"id": "1", "type": "subscribe", "payload": query}, closeUnauthorized},
		{"a second connection_init", true, map[string]any{"type": "connection_init", "payload": auth}, closeTooManyInits},
		{"a message that is not JSON", true, "{not json", closeBadRequest},
		{"an unknown message type", true, map[string]any{"id": "1", "type": "start", "payload": query}, closeBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var conn *websocket.Conn
			var ctx context.Context
			if tc.init {
				conn, ctx = acked(t, ts, c.viewer)
			} else {
				conn, ctx = dialRaw(t, ts)
			}
			var err error
			if raw, ok := tc.frame.(string); ok {
				err = conn.Write(ctx, websocket.MessageText, []byte(raw))
			} else {
				err = wsjson.Write(ctx, conn, tc.frame)
			}
			if err != nil {
				t.Fatal(err)
			}
			if msgs, code := readUntilClose(t, ctx, conn); code != tc.want {
				t.Fatalf("close %d after %s, want %d", code, describe(msgs), tc.want)
			}
		})
	}
}

// recordingConn is a websocket connection that records the close it is sent.
type recordingConn struct {
	transport.WebsocketConn
	code   int
	reason string
}

func (r *recordingConn) Subprotocol() string { return graphqlTransportWS }
func (r *recordingConn) WriteClose(code int, reason string) error {
	r.code, r.reason = code, reason
	return nil
}

// TestWebsocketInitTimeoutClosesWith4408: gqlgen's 1002 for a connection that
// sent no connection_init in time goes out as graphql-transport-ws's 4408 (the
// timeout itself is 10 s, too long to wait for in a test).
func TestWebsocketInitTimeoutClosesWith4408(t *testing.T) {
	rec := &recordingConn{}
	conn := &sessionConn{WebsocketConn: rec}
	if err := conn.WriteClose(websocketProtocol, gqlgenInitTimedOut); err != nil {
		t.Fatal(err)
	}
	if rec.code != closeInitTimeout || rec.reason != "Connection initialisation timeout" {
		t.Fatalf("close %d %q, want 4408", rec.code, rec.reason)
	}
}
