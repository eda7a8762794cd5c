package main

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/artifact-trust/control-plane/auth"
	"github.com/artifact-trust/control-plane/model"
)

// websocketTransport serves subscriptions over graphql-transport-ws. The actor is
// authenticated at connection_init from the payload's Authorization entry (or, when
// absent, from the upgrade request's Authorization header); a connection without a
// valid token is refused.
func websocketTransport(verifier *auth.Verifier) transport.Websocket {
	return transport.Websocket{
		InitTimeout:           10 * time.Second,
		KeepAlivePingInterval: 15 * time.Second,
		InitFunc: func(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			if raw := payload.Authorization(); raw != "" {
				tok, ok := strings.CutPrefix(raw, "Bearer ")
				if !ok {
					tok, ok = strings.CutPrefix(raw, "bearer ")
				}
				if !ok {
					return ctx, nil, errUnauthenticated("connection_init Authorization must be 'Bearer <jwt>'")
				}
				actor, err := verifier.VerifyContext(ctx, strings.TrimSpace(tok))
				if err != nil {
					return ctx, nil, err
				}
				return auth.WithActor(ctx, actor), nil, nil
			}
			if _, err := auth.Require(ctx); err != nil {
				return ctx, nil, err
			}
			return ctx, nil, nil
		},
	}
}

func errUnauthenticated(msg string) error { return model.Errorf(model.KindUnauthenticated, "%s", msg) }

// isWebsocketUpgrade reports whether r asks for a websocket.
func isWebsocketUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}
