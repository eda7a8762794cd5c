package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// dialSubscription opens a graphql-transport-ws connection with initPayload.
func dialSubscription(t *testing.T, ts *testServer, initPayload map[string]any) (*websocket.Conn, context.Context) {
	t.Helper()
	conn, ctx := dialRaw(t, ts)
	if err := wsjson.Write(ctx, conn, map[string]any{"type": "connection_init", "payload": initPayload}); err != nil {
		t.Fatal(err)
	}
	return conn, ctx
}

// dialRaw opens a graphql-transport-ws connection and sends nothing.
func dialRaw(t *testing.T, ts *testServer) (*websocket.Conn, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+GraphQLPath, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	return conn, ctx
}

func TestSubscriptionDeliversEachAuditEventOfTheProject(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	c := newCast(t)
	conn, ctx := dialSubscription(t, ts, map[string]any{"Authorization": "Bearer " + c.viewer})
	var msg wsMessage
	if err := wsjson.Read(ctx, conn, &msg); err != nil || msg.Type != "connection_ack" {
		t.Fatalf("init: %+v %v", msg, err)
	}
	sub := map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": `subscription { artifactEvents(project: "payments") { action actor digest project promotionChannel correlationId } }`}}
	if err := wsjson.Write(ctx, conn, sub); err != nil {
		t.Fatal(err)
	}
	// Wait until the subscription is registered before writing.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(scrape(t, ts), "artifact_trust_live_subscribers 1") {
		if time.Now().After(deadline) {
			t.Fatal("subscription never registered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	a := ts.register(c.publisher, "payments", 1, nil)
	ts.promote(c.promoter, a.ID, "DEV", "")
	ts.register(token(t, "x", "billing:publisher"), "billing", 1, nil) // another project: not delivered
	want := []string{"app_artifact.register", "app_artifact.promote"}
	for i, action := range want {
		if err := wsjson.Read(ctx, conn, &msg); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		var p struct {
			Data struct {
				ArtifactEvents struct {
					Action, Actor, Digest, Project string
				} `json:"artifactEvents"`
			} `json:"data"`
		}
		if err := json.Unmarshal(msg.Payload, &p); err != nil || msg.Type != "next" {
			t.Fatalf("event %d: %s %s", i, msg.Type, msg.Payload)
		}
		ev := p.Data.ArtifactEvents
		if ev.Action != action || ev.Project != "payments" || ev.Digest != a.Digest {
			t.Fatalf("event %d = %+v, want %s", i, ev, action)
		}
	}
	readCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := wsjson.Read(readCtx, conn, &msg); err == nil && msg.Type == "next" {
		t.Fatalf("delivered an event of another project: %s", msg.Payload)
	}
}

func TestSubscriptionRefusesConnectionsWithoutAValidToken(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	for name, payload := range map[string]map[string]any{
		"no token":  {},
		"bad token": {"Authorization": "Bearer not-a-jwt"},
	} {
		t.Run(name, func(t *testing.T) {
			conn, ctx := dialSubscription(t, ts, payload)
			var msg wsMessage
			err := wsjson.Read(ctx, conn, &msg)
			if err == nil && msg.Type == "connection_ack" {
				t.Fatal("connection acknowledged without a valid token")
			}
		})
	}
	// A valid actor without a role in the project gets FORBIDDEN on subscribe.
	conn, ctx := dialSubscription(t, ts, map[string]any{"Authorization": "Bearer " + token(t, "otto", "billing:viewer")})
	var msg wsMessage
	if err := wsjson.Read(ctx, conn, &msg); err != nil || msg.Type != "connection_ack" {
		t.Fatalf("init: %+v %v", msg, err)
	}
	_ = wsjson.Write(ctx, conn, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": `subscription { artifactEvents(project: "payments") { action } }`}})
	if err := wsjson.Read(ctx, conn, &msg); err != nil || (msg.Type != "error" && msg.Type != "next") || !strings.Contains(string(msg.Payload), `"code":"FORBIDDEN"`) || strings.Contains(string(msg.Payload), `"action"`) {
		t.Fatalf("subscribe to another project: %s %s %v", msg.Type, msg.Payload, err)
	}
}
