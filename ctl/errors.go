package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/Khan/genqlient/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Error codes of the API (errors[].extensions.code) the exit code depends on.
const (
	codeUnauthenticated = "UNAUTHENTICATED"
	codeForbidden       = "FORBIDDEN"
	codePolicyDenied    = "POLICY_DENIED"
)

// cliError is an error the CLI reports itself, with its exit code.
type cliError struct {
	code  int
	msg   string
	lines []string // printed one per line after msg, prefixed "- "
	usage bool     // a mistake in the command line: point at -h
}

func (e *cliError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &cliError{code: exitFailed, msg: fmt.Sprintf(format, args...), usage: true}
}

// errHelp reports that -h was given and usage was printed.
var errHelp = errors.New("help requested")

// exit reports err on stderr and returns the exit code for it.
func (a *app) exit(err error) int {
	if err == nil || errors.Is(err, errHelp) {
		return exitOK
	}
	prefix := "artifactctl"
	if a.cmd != "" {
		prefix += " " + a.cmd
	}
	var ce *cliError
	if errors.As(err, &ce) {
		fmt.Fprintf(a.stderr, "%s: %s\n", prefix, ce.msg)
		for _, l := range ce.lines {
			fmt.Fprintf(a.stderr, "- %s\n", l)
		}
		if ce.usage {
			fmt.Fprintf(a.stderr, "run 'artifactctl %s -h' for usage\n", a.cmd)
		}
		return ce.code
	}
	if errs, status, ok := apiErrors(err); ok {
		return a.reportAPIErrors(prefix, errs, status)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		fmt.Fprintf(a.stderr, "%s: no answer from %s within %s (--timeout)%s\n", prefix, a.g.url, a.g.timeout, a.cid())
		return exitFailed
	case isConnectionError(err):
		fmt.Fprintf(a.stderr, "%s: cannot reach the server at %s (%s): %v\n", prefix, a.g.url, envURL, err)
		return exitFailed
	}
	fmt.Fprintf(a.stderr, "%s: %v%s\n", prefix, err, a.cid())
	return exitFailed
}

// cid is " (correlation id X)" once a request was made, for error lines.
func (a *app) cid() string {
	if a.correlationID == "" {
		return ""
	}
	return " (correlation id " + a.correlationID + ")"
}

// cidSuffix is sep + "correlation id X" once a request was made.
func (a *app) cidSuffix(sep string) string {
	if a.correlationID == "" {
		return ""
	}
	return sep + "correlation id " + a.correlationID
}

// apiErrors extracts the GraphQL errors of a failed call: a gqlerror.List from
// a 200 response, or the errors of a non-200 response (genqlient's HTTPError).
func apiErrors(err error) (gqlerror.List, int, bool) {
	var list gqlerror.List
	if errors.As(err, &list) {
		return list, http.StatusOK, true
	}
	var he *graphql.HTTPError
	if errors.As(err, &he) {
		return he.Response.Errors, he.StatusCode, true
	}
	var one *gqlerror.Error
	if errors.As(err, &one) {
		return gqlerror.List{one}, http.StatusOK, true
	}
	return nil, 0, false
}

// errorCode returns extensions.code of e, or "".
func errorCode(e *gqlerror.Error) string {
	if e == nil || e.Extensions == nil {
		return ""
	}
	s, _ := e.Extensions["code"].(string)
	return s
}

// errorReasons returns extensions.reasons of e.
func errorReasons(e *gqlerror.Error) []string {
	if e == nil || e.Extensions == nil {
		return nil
	}
	var out []string
	switch rs := e.Extensions["reasons"].(type) {
	case []any:
		for _, r := range rs {
			if s, ok := r.(string); ok {
				out = append(out, s)
			}
		}
	case []string:
		out = rs
	}
	return out
}

// exitCodeFor chooses the exit code of a failed call: 4 for authentication and
// authorization, then 3 for policy, else 1.
func exitCodeFor(errs gqlerror.List, status int) int {
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		return exitAuth
	}
	code := exitFailed
	for _, e := range errs {
		switch errorCode(e) {
		case codeUnauthenticated, codeForbidden:
			return exitAuth
		case codePolicyDenied:
			code = exitDenied
		}
	}
	return code
}

func (a *app) reportAPIErrors(prefix string, errs gqlerror.List, status int) int {
	if len(errs) == 0 {
		fmt.Fprintf(a.stderr, "%s: HTTP %d %s from %s%s\n", prefix, status, http.StatusText(status), a.g.url, a.cid())
		return exitCodeFor(errs, status)
	}
	for _, e := range errs {
		code := errorCode(e)
		switch code {
		case codePolicyDenied:
			reasons := errorReasons(e)
			if len(reasons) == 0 {
				reasons = []string{e.Message}
			}
			fmt.Fprintf(a.stderr, "%s: refused by policy (POLICY_DENIED%s):\n", prefix, a.cidSuffix("; "))
			for _, r := range reasons {
				fmt.Fprintf(a.stderr, "- %s\n", r)
			}
			continue
		case "":
			code = "error"
			if status != http.StatusOK {
				code = fmt.Sprintf("HTTP %d", status)
			}
		}
		msg := strings.TrimSpace(e.Message)
		if len(msg) > 500 {
			msg = msg[:500] + "..."
		}
		if f, ok := e.Extensions["field"].(string); ok && f != "" && !strings.Contains(msg, f) {
			msg = f + ": " + msg
		}
		fmt.Fprintf(a.stderr, "%s: %s: %s%s\n", prefix, code, msg, a.cid())
		if code == codeUnauthenticated {
			fmt.Fprintf(a.stderr, "check the token (%s or --token): it must be signed for this server, unexpired, and carry sub and exp\n", envToken)
		}
	}
	return exitCodeFor(errs, status)
}

func isConnectionError(err error) bool {
	var ue *url.Error
	var oe *net.OpError
	return errors.As(err, &ue) || errors.As(err, &oe)
}
