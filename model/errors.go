// Package model holds the domain of the artifact trust service: digests, artifact
// kinds and sources, the lifecycle and trust state machines, project policy and its
// evaluation, actors and audit events. It is pure: no database, transport or logging.
package model

import (
	"errors"
	"fmt"
	"strings"
)

// ErrorKind is the small fixed set of failure classes. Each maps one-to-one onto a
// GraphQL extensions.code.
type ErrorKind string

const (
	KindUnauthenticated   ErrorKind = "UNAUTHENTICATED"
	KindForbidden         ErrorKind = "FORBIDDEN"
	KindNotFound          ErrorKind = "NOT_FOUND"
	KindBadInput          ErrorKind = "BAD_USER_INPUT"
	KindConflict          ErrorKind = "CONFLICT"
	KindPolicyDenied      ErrorKind = "POLICY_DENIED"
	KindInvalidTransition ErrorKind = "INVALID_TRANSITION"
	KindUnavailable       ErrorKind = "UNAVAILABLE"
	KindInternal          ErrorKind = "INTERNAL"
)

// Error is a domain error with a kind, a message a person can act on, and, for
// POLICY_DENIED, every reason for the refusal.
type Error struct {
	Kind    ErrorKind
	Message string
	// Field names the input field at fault, for BAD_USER_INPUT.
	Field string
	// Reasons lists every reason of a POLICY_DENIED refusal.
	Reasons []string
	// Classes holds the class of each reason (Deny* constants), index for index.
	Classes []string
	// Err is an underlying cause, never shown to clients.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Kind, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Kind, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an Error of the given kind.
func Errorf(kind ErrorKind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// BadInput reports an invalid input field.
func BadInput(field, format string, args ...any) *Error {
	return &Error{Kind: KindBadInput, Field: field, Message: field + ": " + fmt.Sprintf(format, args...)}
}

// Denied reports a policy refusal with every reason.
func Denied(reasons []string) *Error {
	return &Error{Kind: KindPolicyDenied, Message: "refused by policy: " + strings.Join(reasons, "; "), Reasons: reasons}
}

// DeniedFor reports a policy refusal with every reason and its class.
func DeniedFor(reasons, classes []string) *Error {
	e := Denied(reasons)
	e.Classes = classes
	return e
}

// KindOf returns the kind of err, or KindInternal when err is not a domain error.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// IsKind reports whether err is a domain error of kind k.
func IsKind(err error, k ErrorKind) bool { return err != nil && KindOf(err) == k }
