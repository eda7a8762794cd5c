package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/artifact-trust/control-plane/ctl/internal/client"
)

func TestParseResult(t *testing.T) {
	ok := []struct {
		in     string
		check  client.VerificationCheck
		result client.CheckResult
		detail *string
	}{
		{"SIGNATURE=PASSED", client.VerificationCheckSignature, client.CheckResultPassed, nil},
		{"attestation=failed:no provenance", client.VerificationCheckAttestation, client.CheckResultFailed, ptr("no provenance")},
		{"BLOB_DIGEST=PASSED:a:b=c", client.VerificationCheckBlobDigest, client.CheckResultPassed, ptr("a:b=c")},
		{"SOURCE_POLICY=PASSED:", client.VerificationCheckSourcePolicy, client.CheckResultPassed, ptr("")},
	}
	for _, c := range ok {
		got, err := parseResult(c.in)
		if err != nil {
			t.Errorf("parseResult(%q): %v", c.in, err)
			continue
		}
		if got.Check != c.check || got.Result != c.result || str(got.Detail) != str(c.detail) || (got.Detail == nil) != (c.detail == nil) {
			t.Errorf("parseResult(%q) = %+v", c.in, got)
		}
	}
	for _, in := range []string{"", "SIGNATURE", "SIGNATURE=", "SIGNATURE=OK", "NOPE=PASSED", "=PASSED"} {
		if _, err := parseResult(in); err == nil {
			t.Errorf("parseResult(%q): want an error", in)
		}
	}
}

func ptr(s string) *string { return &s }

func TestExitCodeFor(t *testing.T) {
	e := func(code string) *gqlerror.Error {
		return &gqlerror.Error{Message: "x", Extensions: map[string]any{"code": code}}
	}
	cases := []struct {
		errs   gqlerror.List
		status int
		want   int
	}{
		{gqlerror.List{e("POLICY_DENIED")}, 200, 3},
		{gqlerror.List{e("FORBIDDEN")}, 200, 4},
		{gqlerror.List{e("UNAUTHENTICATED")}, 200, 4},
		{gqlerror.List{e("BAD_USER_INPUT")}, 200, 1},
		{gqlerror.List{e("INVALID_TRANSITION")}, 200, 1},
		{gqlerror.List{e("POLICY_DENIED"), e("FORBIDDEN")}, 200, 4},
		{gqlerror.List{{Message: "no code"}}, 200, 1},
		{nil, http.StatusUnauthorized, 4},
		{nil, http.StatusForbidden, 4},
		{nil, http.StatusBadGateway, 1},
	}
	for i, c := range cases {
		if got := exitCodeFor(c.errs, c.status); got != c.want {
			t.Errorf("case %d: exitCodeFor = %d, want %d", i, got, c.want)
		}
	}
}

func TestNormalizeURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://localhost:8080":           "http://localhost:8080/query",
		"http://localhost:8080/":          "http://localhost:8080/query",
		"https://at.example.com/query":    "https://at.example.com/query",
		"https://at.example.com/api/gql":  "https://at.example.com/api/gql",
		" http://127.0.0.1:1/query ":      "http://127.0.0.1:1/query",
		"http://localhost:8080/query?x=1": "http://localhost:8080/query?x=1",
	} {
		got, err := normalizeURL(in)
		if err != nil || got != want {
			t.Errorf("normalizeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "localhost:8080", "ftp://x/query", "http://"} {
		if _, err := normalizeURL(in); err == nil {
			t.Errorf("normalizeURL(%q): want an error", in)
		}
	}
}

func TestParsePolicyFile(t *testing.T) {
	good := `{"project":"p","version":3,"updatedAt":null,"updatedBy":"x","allowedSourceTypes":["OCI_REGISTRY"],"allowedSources":["r/"],"allowNonOci":false,"strictProgression":true,
	  "channels":[{"channel":"PROD","requiredTrust":"VERIFIED","requiredChecks":["ATTESTATION"],"promoterRoles":["PROJECT_ADMIN"],"promoterSubjects":["svc-release"]}]}`
	in, err := parsePolicyFile([]byte(good), "p")
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Channels) != 1 || in.Channels[0].PromoterSubjects[0] != "svc-release" || !in.StrictProgression {
		t.Fatalf("parsed: %+v", in)
	}
	for name, bad := range map[string]string{
		"other project":   `{"project":"q","allowedSourceTypes":[],"allowedSources":[],"allowNonOci":false,"strictProgression":true}`,
		"missing strict":  `{"allowedSourceTypes":[],"allowedSources":[],"allowNonOci":false}`,
		"unknown field":   `{"allowedSourceTypes":[],"allowedSources":[],"allowNonOci":false,"strictProgresion":true,"strictProgression":true}`,
		"not json object": `[1]`,
	} {
		if _, err := parsePolicyFile([]byte(bad), "p"); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

// runCLI runs artifactctl in process.
func runCLI(env map[string]string, args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr, func(k string) string { return env[k] })
	return code, stdout.String(), stderr.String()
}

func TestHTTPStatusAndHeaders(t *testing.T) {
	var gotAuth, gotCID string
	status := http.StatusUnauthorized
	body := `{"errors":[{"message":"go away"}]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotCID = r.Header.Get("Authorization"), r.Header.Get(correlationHeader)
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	defer srv.Close()
	env := map[string]string{envURL: srv.URL, envToken: "tok"}

	code, _, stderr := runCLI(env, "status", "--project", "p")
	if code != 4 {
		t.Fatalf("HTTP 401: exit %d, stderr %s", code, stderr)
	}
	if gotAuth != "Bearer tok" || !strings.HasPrefix(gotCID, "artifactctl-") {
		t.Fatalf("headers: Authorization %q, X-Correlation-ID %q", gotAuth, gotCID)
	}

	status, body = http.StatusOK, `{"data":null,"errors":[{"message":"refused","extensions":{"code":"POLICY_DENIED","reasons":["first reason","second reason"]}}]}`
	code, stdout, stderr := runCLI(env, "--correlation-id", "req-1", "promote", "--id", "art_1", "--channel", "DEV")
	if code != 3 || stdout != "" || gotCID != "req-1" {
		t.Fatalf("POLICY_DENIED: exit %d, cid %q, stdout %q", code, gotCID, stdout)
	}
	if !strings.Contains(stderr, "\n- first reason\n- second reason\n") {
		t.Fatalf("reasons one per line: %q", stderr)
	}

	status, body = http.StatusUnprocessableEntity, `{"errors":[{"message":"bad query","extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}`
	code, _, stderr = runCLI(env, "status", "--project", "p")
	if code != 1 || !strings.Contains(stderr, "GRAPHQL_VALIDATION_FAILED") {
		t.Fatalf("HTTP 422: exit %d, stderr %s", code, stderr)
	}

	status, body = http.StatusBadGateway, `<html>bad gateway</html>`
	code, _, stderr = runCLI(env, "status", "--project", "p")
	if code != 1 || !strings.Contains(stderr, "bad gateway") {
		t.Fatalf("HTTP 502: exit %d, stderr %s", code, stderr)
	}

	code, _, stderr = runCLI(env, "--correlation-id", "has space", "status", "--project", "p")
	if code != 1 || !strings.Contains(stderr, "--correlation-id") {
		t.Fatalf("bad correlation id: exit %d, stderr %s", code, stderr)
	}
}

func TestHelpDoesNotLeakToken(t *testing.T) {
	code, stdout, _ := runCLI(map[string]string{envToken: "s3cr3t-token"}, "register", "-h")
	if code != 0 || strings.Contains(stdout, "s3cr3t-token") || !strings.Contains(stdout, "-digest") {
		t.Fatalf("help: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = runCLI(nil, "--help")
	if code != 0 || !strings.Contains(stdout, "deployable") {
		t.Fatalf("--help: exit %d\n%s", code, stdout)
	}
}

func TestGlobalFlagsAfterCommand(t *testing.T) {
	var got map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&got)
		if r.Header.Get("Authorization") != "Bearer late-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, `{"data":{"deployable":{"channel":"PROD","targetEnvironment":"eu","digest":"sha256:abc","artifact":{"id":"a","trustState":"VERIFIED","lifecycleState":"PROMOTED"}}}}`)
	}))
	defer srv.Close()
	code, stdout, stderr := runCLI(nil, "deployable", "--url", srv.URL, "--token", "late-token", "--project", "p", "--channel", "prod", "--env", "eu")
	if code != 0 || stdout != "sha256:abc\n" {
		t.Fatalf("exit %d stdout %q stderr %s", code, stdout, stderr)
	}
	vars, _ := got["variables"].(map[string]any)
	if vars["channel"] != "PROD" || vars["targetEnvironment"] != "eu" || vars["project"] != "p" {
		t.Fatalf("variables sent: %v", got["variables"])
	}
}
