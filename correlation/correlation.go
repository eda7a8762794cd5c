// Package correlation carries a request's correlation id: taken from the
// X-Correlation-ID header when it is a sane token, otherwise generated.
package correlation

import (
	"context"

	"github.com/google/uuid"

	"github.com/artifact-trust/control-plane/model"
)

// Header is the HTTP header that carries the id in and out.
const Header = "X-Correlation-ID"

type key struct{}

// FromHeader returns the header value when it is sane (letters, digits, `._-`, at
// most 128), else a new id.
func FromHeader(v string) string {
	if model.ValidateCorrelationID(Header, v) == nil {
		return v
	}
	return uuid.NewString()
}

// With stores id in ctx.
func With(ctx context.Context, id string) context.Context { return context.WithValue(ctx, key{}, id) }

// ID returns the request's correlation id, or "" outside a request.
func ID(ctx context.Context) string {
	id, _ := ctx.Value(key{}).(string)
	return id
}
