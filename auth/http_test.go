package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/artifact-trust/control-plane/model"
)

func TestFromRequestParsesBearerHeader(t *testing.T) {
	const jwtish = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"
	tests := []struct {
		name        string
		headers     []string // Authorization values; nil means none
		wantToken   string
		wantPresent bool
		wantErr     string // empty: no error
	}{
		{"no header: absent, no error", nil, "", false, ""},
		{"Bearer token", []string{"Bearer " + jwtish}, jwtish, true, ""},
		{"scheme is case-insensitive (lower)", []string{"bearer " + jwtish}, jwtish, true, ""},
		{"scheme is case-insensitive (upper)", []string{"BEARER " + jwtish}, jwtish, true, ""},
		{"extra spaces around the token are tolerated", []string{"  Bearer   " + jwtish + "  "}, jwtish, true, ""},
		{"b64token padding and ~+/ are allowed", []string{"Bearer ab~+/c=="}, "ab~+/c==", true, ""},
		{"empty header value", []string{""}, "", true, "empty Authorization header"},
		{"blank header value", []string{"   "}, "", true, "empty Authorization header"},
		{"Basic scheme", []string{"Basic dXNlcjpwYXNz"}, "", true, "Bearer scheme"},
		{"token without scheme", []string{jwtish}, "", true, "Bearer scheme"},
		{"scheme glued to token", []string{"Bearer" + jwtish}, "", true, "Bearer scheme"},
		{"scheme without token", []string{"Bearer"}, "", true, "empty bearer token"},
		{"scheme and spaces only", []string{"Bearer    "}, "", true, "empty bearer token"},
		{"two tokens", []string{"Bearer " + jwtish + " " + jwtish}, "", true, "malformed bearer token"},
		{"forbidden character", []string{"Bearer abc,def"}, "", true, "malformed bearer token"},
		{"only padding", []string{"Bearer ==="}, "", true, "malformed bearer token"},
		{"padding in the middle", []string{"Bearer ab=cd"}, "", true, "malformed bearer token"},
		{"oversized token", []string{"Bearer " + strings.Repeat("a", MaxTokenBytes+1)}, "", true, "too large"},
		{"two Authorization headers", []string{"Bearer " + jwtish, "Bearer " + jwtish}, "", true, "more than one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/query", nil)
			for _, h := range tt.headers {
				r.Header.Add("Authorization", h)
			}
			token, present, err := FromRequest(r)
			if present != tt.wantPresent {
				t.Fatalf("present = %v, want %v", present, tt.wantPresent)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if token != tt.wantToken {
					t.Fatalf("token = %q, want %q", token, tt.wantToken)
				}
				return
			}
			if token != "" {
				t.Fatalf("token = %q alongside an error", token)
			}
			wantUnauthenticated(t, err, tt.wantErr, "")
		})
	}
}

func TestContextHoldsEitherActorOrAuthError(t *testing.T) {
	alice := model.Actor{Subject: "alice", Type: model.ActorUser, Roles: map[string][]model.Role{"p": {model.RoleViewer}}}
	refused := unauthenticated("token expired", nil)
	tests := []struct {
		name      string
		ctx       context.Context
		wantActor bool
		wantErr   string // Require's error; empty: success
	}{
		{"empty context: no actor, no bearer token", context.Background(), false, "no bearer token"},
		{"actor stored", WithActor(context.Background(), alice), true, ""},
		{"auth error stored", WithAuthError(context.Background(), refused), false, "token expired"},
		{"nil auth error still refuses", WithAuthError(context.Background(), nil), false, "invalid credentials"},
		{"later actor replaces an error", WithActor(WithAuthError(context.Background(), refused), alice), true, ""},
		{"later error replaces an actor", WithAuthError(WithActor(context.Background(), alice), refused), false, "token expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, ok := ActorFrom(tt.ctx)
			if ok != tt.wantActor {
				t.Fatalf("ActorFrom ok = %v, want %v", ok, tt.wantActor)
			}
			if ok && a.Subject != "alice" {
				t.Fatalf("ActorFrom = %+v", a)
			}
			got, err := Require(tt.ctx)
			if tt.wantErr == "" {
				if err != nil || got.Subject != "alice" {
					t.Fatalf("Require = %+v, %v", got, err)
				}
				if AuthErrorFrom(tt.ctx) != nil {
					t.Fatalf("AuthErrorFrom = %v next to an actor", AuthErrorFrom(tt.ctx))
				}
				return
			}
			wantUnauthenticated(t, err, tt.wantErr, "")
			if tt.wantErr != "no bearer token" && AuthErrorFrom(tt.ctx) == nil {
				t.Fatal("AuthErrorFrom = nil, want the stored error")
			}
		})
	}
}

func TestMiddlewareStoresActorOrReasonAndAlwaysCallsNext(t *testing.T) {
	v := hsVerifier(t)
	valid := hs(t, claims(map[string]any{"roles": map[string]any{"payments": []string{"publisher"}}}))
	expired := hs(t, claims(map[string]any{"exp": int64(1)}))
	tests := []struct {
		name    string
		header  string // empty: no header
		wantSub string // empty: Require fails
		wantErr string
	}{
		{"no header: unauthenticated, no bearer token", "", "", "no bearer token"},
		{"valid token: actor in context", "Bearer " + valid, "alice", ""},
		{"expired token: reason in context", "Bearer " + expired, "", "token expired"},
		{"malformed header: reason in context", "Token " + valid, "", "Bearer scheme"},
		{"garbage token: reason in context", "Bearer a.b.c", "", "malformed token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			h := authenticated(v, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				called = true
				a, err := Require(r.Context())
				if tt.wantSub != "" {
					if err != nil || a.Subject != tt.wantSub || !a.HasAnyRole("payments", model.RolePublisher) {
						t.Errorf("Require = %+v, %v", a, err)
					}
					return
				}
				wantUnauthenticated(t, err, tt.wantErr, valid)
			}))
			r := httptest.NewRequest(http.MethodPost, "/query", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if !called {
				t.Fatal("next handler not called")
			}
			if w.Code != http.StatusOK {
				t.Fatalf("middleware answered %d by itself", w.Code)
			}
		})
	}
}
