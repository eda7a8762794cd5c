package auth

import (
	"context"
	"net/http"
	"strings"

	"github.com/artifact-trust/control-plane/model"
)

// FromRequest extracts the bearer token of r's Authorization header.
//
// No header: "", false, nil. A header that is not exactly "Bearer <token>"
// (scheme case-insensitive, token in the RFC 6750 b64token alphabet), or more
// than one Authorization header: present is true and err is an UNAUTHENTICATED
// *model.Error.
func FromRequest(r *http.Request) (token string, present bool, err error) {
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return "", false, nil
	case 1:
	default:
		return "", true, unauthenticated("more than one Authorization header", nil)
	}
	v := strings.TrimSpace(values[0])
	if v == "" {
		return "", true, unauthenticated("empty Authorization header", nil)
	}
	scheme, rest, _ := strings.Cut(v, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", true, unauthenticated("Authorization header must use the Bearer scheme", nil)
	}
	token = strings.TrimLeft(rest, " ")
	switch {
	case token == "":
		return "", true, unauthenticated("empty bearer token", nil)
	case len(token) > MaxTokenBytes:
		return "", true, unauthenticated("token too large", nil)
	case !isB64Token(token):
		return "", true, unauthenticated("malformed bearer token", nil)
	}
	return token, true, nil
}

// isB64Token reports whether s matches RFC 6750's
// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}

type ctxKey struct{}

// authState is what the request context knows about the caller: an actor, or
// the reason the presented credentials were refused. Setting one clears the other.
type authState struct {
	actor model.Actor
	err   error
}

// WithActor returns ctx carrying the authenticated actor.
func WithActor(ctx context.Context, a model.Actor) context.Context {
	return context.WithValue(ctx, ctxKey{}, &authState{actor: a})
}

// WithAuthError returns ctx recording that the request presented credentials
// that were refused; err should be an UNAUTHENTICATED *model.Error.
func WithAuthError(ctx context.Context, err error) context.Context {
	if err == nil {
		err = unauthenticated("invalid credentials", nil)
	}
	return context.WithValue(ctx, ctxKey{}, &authState{err: err})
}

// ActorFrom returns the authenticated actor of ctx, if any.
func ActorFrom(ctx context.Context) (model.Actor, bool) {
	s, _ := ctx.Value(ctxKey{}).(*authState)
	if s == nil || s.err != nil {
		return model.Actor{}, false
	}
	return s.actor, true
}

// AuthErrorFrom returns why the request's credentials were refused, if they were.
func AuthErrorFrom(ctx context.Context) error {
	s, _ := ctx.Value(ctxKey{}).(*authState)
	if s == nil {
		return nil
	}
	return s.err
}

// Require returns the actor of ctx, or the UNAUTHENTICATED error recorded for the
// request, or an UNAUTHENTICATED "no bearer token" error.
func Require(ctx context.Context) (model.Actor, error) {
	s, _ := ctx.Value(ctxKey{}).(*authState)
	switch {
	case s == nil:
		return model.Actor{}, unauthenticated("no bearer token", nil)
	case s.err != nil:
		return model.Actor{}, s.err
	default:
		return s.actor, nil
	}
}

// Authenticate reads r's bearer token and returns r's context with either the
// actor (valid token), the refusal (bad header or token), or nothing (no header).
func (v *Verifier) Authenticate(r *http.Request) context.Context {
	ctx := r.Context()
	token, present, err := FromRequest(r)
	switch {
	case !present:
		return ctx
	case err != nil:
		return WithAuthError(ctx, err)
	}
	actor, err := v.VerifyContext(ctx, token)
	if err != nil {
		return WithAuthError(ctx, err)
	}
	return WithActor(ctx, actor)
}
