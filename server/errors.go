package main

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/99designs/gqlgen/graphql"
	"github.com/sirupsen/logrus"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/artifact-trust/control-plane/correlation"
	"github.com/artifact-trust/control-plane/model"
)

// errorPresenter maps domain errors onto extensions.code (one-to-one with the
// model's error kinds), masks anything unexpected as INTERNAL, and logs each error
// once with the request's correlation id.
func errorPresenter(log *logrus.Logger, m *metrics) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		cid := correlation.ID(ctx)
		entry := log.WithField("correlation_id", cid).WithField("path", gqlErr.Path.String())
		var me *model.Error
		if errors.As(err, &me) {
			ext := map[string]any{"code": string(me.Kind)}
			msg := me.Message
			switch me.Kind {
			case model.KindInternal:
				m.dbErrors.Inc()
				entry.WithError(err).Error("internal error")
				msg = fmt.Sprintf("internal error; quote correlation id %s when reporting it", cid)
			case model.KindUnavailable:
				m.dbErrors.Inc()
				entry.WithError(err).Warn("database unavailable")
				ext["code"] = string(model.KindInternal)
				ext["retryable"] = true
				msg = "the database is unavailable right now; retry later"
			default:
				entry.WithField("code", me.Kind).WithField("reason", me.Message).Info("request refused")
			}
			if me.Field != "" {
				ext["field"] = me.Field
			}
			if len(me.Reasons) > 0 {
				ext["reasons"] = me.Reasons
			}
			if len(me.Classes) == len(me.Reasons) && len(me.Classes) > 0 {
				ext["reasonClasses"] = me.Classes
			}
			infoFrom(ctx).addCode(ext["code"].(string))
			return &gqlerror.Error{Message: msg, Path: gqlErr.Path, Locations: gqlErr.Locations, Extensions: ext}
		}
		if code, ok := gqlErr.Extensions["code"].(string); ok {
			// gqlgen's own parse and validation errors carry their code already.
			infoFrom(ctx).addCode(code)
			return gqlErr
		}
		if errors.Is(err, context.DeadlineExceeded) {
			entry.WithError(err).Warn("operation deadline exceeded")
			infoFrom(ctx).addCode(string(model.KindInternal))
			return &gqlerror.Error{Message: deadlineMessage, Path: gqlErr.Path,
				Extensions: map[string]any{"code": string(model.KindInternal), "retryable": true}}
		}
		var ge *gqlerror.Error
		if errors.As(err, &ge) && ge.Err == nil {
			// An error gqlgen raised itself while coercing input (for example an
			// argument of the wrong type): the caller's input is at fault.
			infoFrom(ctx).addCode(string(model.KindBadInput))
			gqlErr.Extensions = map[string]any{"code": string(model.KindBadInput)}
			return gqlErr
		}
		entry.WithError(err).Error("unexpected error")
		infoFrom(ctx).addCode(string(model.KindInternal))
		return &gqlerror.Error{Message: fmt.Sprintf("internal error; quote correlation id %s when reporting it", cid), Path: gqlErr.Path,
			Extensions: map[string]any{"code": string(model.KindInternal)}}
	}
}

// recoverFunc turns a panic in a resolver into an error; the error presenter then
// answers it as INTERNAL and logs it once, with the stack and the correlation id.
func recoverFunc() graphql.RecoverFunc {
	return func(_ context.Context, v any) error {
		return fmt.Errorf("panic in resolver: %v\n%s", v, debug.Stack())
	}
}
