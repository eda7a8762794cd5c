package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/Khan/genqlient/graphql"
)

// correlationHeader carries the correlation id in both directions.
const correlationHeader = "X-Correlation-ID"

// saneCorrelationID is what the server accepts from X-Correlation-ID; it
// silently replaces anything else, so the CLI refuses it up front.
var saneCorrelationID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// headerTransport adds the bearer token, the correlation id and a User-Agent to
// every request.
type headerTransport struct {
	base          http.RoundTripper
	token         string
	correlationID string
}

func (t *headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if t.token != "" {
		r.Header.Set("Authorization", "Bearer "+t.token)
	}
	r.Header.Set(correlationHeader, t.correlationID)
	r.Header.Set("User-Agent", "artifactctl")
	r.Header.Set("Accept", "application/json")
	return t.base.RoundTrip(r)
}

// client returns the GraphQL client for the command and ctx bounded by
// --timeout. It refuses (exit 4) when no token is configured.
func (a *app) client(ctx context.Context) (graphql.Client, context.Context, context.CancelFunc, error) {
	token := strings.TrimSpace(a.g.token)
	if token == "" {
		return nil, nil, nil, &cliError{code: exitAuth, msg: "no token: set " + envToken + " or pass --token (mint a development one with: go run ./server token --sub NAME --role PROJECT:ROLE)"}
	}
	endpoint, err := normalizeURL(a.g.url)
	if err != nil {
		return nil, nil, nil, err
	}
	cid := a.g.correlationID
	if cid == "" {
		cid = newCorrelationID()
	} else if !saneCorrelationID.MatchString(cid) {
		return nil, nil, nil, usageErrorf("--correlation-id must be 1 to 128 letters, digits, '.', '_' or '-', not %q", cid)
	}
	a.correlationID = cid
	hc := &http.Client{Transport: &headerTransport{base: http.DefaultTransport, token: token, correlationID: cid}}
	ctx, cancel := context.WithTimeout(ctx, a.g.timeout)
	return graphql.NewClient(endpoint, hc), ctx, cancel, nil
}

// normalizeURL checks the endpoint and adds /query to a URL without a path.
func normalizeURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", usageErrorf("--url (%s) must be an http:// or https:// URL such as %s, not %q", envURL, defaultURL, raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/query"
	}
	return u.String(), nil
}

// newCorrelationID makes an id the server accepts and a person can grep for.
func newCorrelationID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "artifactctl-" + hex.EncodeToString(b)
}
