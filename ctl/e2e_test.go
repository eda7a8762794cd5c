package main

// End-to-end tests: the built artifactctl binary against the built server binary
// on a loopback port with the embedded engine in a temporary directory. Tokens
// are minted by the server binary's token subcommand with the same secret.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/artifact-trust/control-plane/internal/testparallel"
)

const e2eSecret = "artifactctl-e2e-secret-at-least-32-bytes!"

// e2e is the shared environment, set up once by TestMain.
var e2e struct {
	dir       string // temporary directory of binaries and data
	ctl       string // artifactctl binary
	server    string // server binary
	url       string // GraphQL endpoint
	base      string // server base URL
	skip      string // why the end-to-end tests are skipped, if they are
	serverLog string
}

// testParallel is how many parallel tests of this package run at once unless
// -test.parallel says otherwise (the default is GOMAXPROCS, 2 on a small CI
// machine): the tests mostly wait on the processes they start (artifactctl, the
// server, node, go run and go build in the walk-through).
const testParallel = 4

func TestMain(m *testing.M) {
	if err := testparallel.Default(testParallel); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if testing.Short() {
		e2e.skip = "end-to-end tests skipped in -short mode"
		os.Exit(m.Run())
	}
	stop, err := setupE2E()
	if err != nil {
		fmt.Fprintln(os.Stderr, "artifactctl e2e setup:", err)
		if stop != nil {
			stop()
		}
		os.Exit(1)
	}
	code := m.Run()
	stop()
	os.Exit(code)
}

// setupE2E builds both binaries, starts the server and returns how to stop it
// and remove the temporary directory.
func setupE2E() (func(), error) {
	dir, err := os.MkdirTemp("", "artifactctl-e2e-")
	if err != nil {
		return nil, err
	}
	e2e.dir = dir
	cleanup := func() { _ = os.RemoveAll(dir) }
	e2e.ctl = filepath.Join(dir, "artifactctl")
	e2e.server = filepath.Join(dir, "server")
	// Both at once: each is mostly a link, and the tests wait for both.
	builds := []struct{ out, pkg string }{{e2e.ctl, "."}, {e2e.server, "../server"}}
	errs := make([]error, len(builds))
	var wg sync.WaitGroup
	for i, b := range builds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := exec.Command("go", "build", "-o", b.out, b.pkg).CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return cleanup, err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		stopServer, err := startServerProcess(filepath.Join(dir, fmt.Sprintf("data-%d", attempt)))
		if err == nil {
			return func() { stopServer(); cleanup() }, nil
		}
		lastErr = err
	}
	return cleanup, lastErr
}

// freeAddr picks a free loopback port: listen on :0, close, reuse the port.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

func startServerProcess(dataDir string) (func(), error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	e2e.serverLog = dataDir + ".log"
	logFile, err := os.Create(e2e.serverLog)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(e2e.server, "-listen-addr", addr, "-data-dir", dataDir, "-log-level", "info", "-log-format", "text")
	cmd.Env = append(cleanEnv(), "JWT_HS256_SECRET="+e2eSecret)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logFile.Close() }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(15 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		})
	}
	base := "http://" + addr
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			log, _ := os.ReadFile(e2e.serverLog)
			return nil, fmt.Errorf("server exited before it was ready: %v\n%s", err, log)
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				e2e.base, e2e.url = base, base+"/query"
				return stop, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	return nil, errors.New("server not ready within 90s")
}

// cleanEnv is the environment without any ARTIFACT_TRUST_ or JWT_ settings.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ARTIFACT_TRUST_") || strings.HasPrefix(kv, "JWT_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func needServer(t *testing.T) {
	t.Helper()
	if e2e.skip != "" {
		t.Skip(e2e.skip)
	}
}

// mint returns a token from the server binary; roles are PROJECT:ROLE.
func mint(t *testing.T, sub string, roles ...string) string {
	t.Helper()
	args := []string{"token", "--sub", sub}
	for _, r := range roles {
		args = append(args, "--role", r)
	}
	cmd := exec.Command(e2e.server, args...)
	cmd.Env = append(cleanEnv(), "JWT_HS256_SECRET="+e2eSecret)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mint token: %v: %s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// ctl runs artifactctl with ARTIFACT_TRUST_URL set and, unless token is "",
// ARTIFACT_TRUST_TOKEN.
func ctl(t *testing.T, token string, args ...string) result {
	t.Helper()
	return ctlEnv(t, []string{"ARTIFACT_TRUST_URL=" + e2e.url}, token, args...)
}

func ctlEnv(t *testing.T, env []string, token string, args ...string) result {
	t.Helper()
	cmd := exec.Command(e2e.ctl, args...)
	cmd.Env = append(cleanEnv(), env...)
	if token != "" {
		cmd.Env = append(cmd.Env, "ARTIFACT_TRUST_TOKEN="+token)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("run artifactctl %v: %v", args, err)
	}
	return r
}

// must runs artifactctl and fails the test unless it exits 0.
func must(t *testing.T, token string, args ...string) result {
	t.Helper()
	r := ctl(t, token, args...)
	if r.code != 0 {
		t.Fatalf("artifactctl %s: %s", strings.Join(args, " "), r)
	}
	return r
}

func expectExit(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("want exit %d, got %s", code, r)
	}
}

func digestN(n int) string { return fmt.Sprintf("sha256:%064x", n) }

// writePolicy writes a policy file that allowlists registry.example.com/<project>/
// and requires SIGNATURE before VERIFIED.
func writePolicy(t *testing.T, project string, extra map[string]any) string {
	t.Helper()
	p := map[string]any{
		"allowedSourceTypes": []string{"OCI_REGISTRY", "OBJECT_STORE", "HTTPS"},
		"allowedSources":     []string{"registry.example.com/" + project + "/"},
		"allowNonOci":        false,
		"requiredChecks":     []string{"SIGNATURE"},
		"strictProgression":  true,
	}
	for k, v := range extra {
		p[k] = v
	}
	b, _ := json.Marshal(p)
	path := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tableRows splits table output into rows of fields (header first).
func tableRows(out string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if strings.TrimSpace(line) != "" {
			rows = append(rows, strings.Fields(line))
		}
	}
	return rows
}

type artifactOut struct {
	ID             string `json:"id"`
	Project        string `json:"project"`
	Digest         string `json:"digest"`
	Kind           string `json:"kind"`
	LifecycleState string `json:"lifecycleState"`
	TrustState     string `json:"trustState"`
	Tags           []string
	Verification   []struct {
		Check  string  `json:"check"`
		Result string  `json:"result"`
		Detail *string `json:"detail"`
	} `json:"verification"`
	Promotions []struct {
		Channel           string  `json:"channel"`
		TargetEnvironment *string `json:"targetEnvironment"`
		PromotedBy        string  `json:"promotedBy"`
		CorrelationID     string  `json:"correlationId"`
	} `json:"promotions"`
}

func decode[T any](t *testing.T, r result) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("stdout is not the expected JSON: %v\n%s", err, r)
	}
	if dec.More() {
		t.Fatalf("stdout has more than one JSON value\n%s", r)
	}
	return v
}

func registerArgs(project, digest string, extra ...string) []string {
	return append([]string{"register", "--project", project, "--digest", digest, "--kind", "OCI_IMAGE",
		"--source-type", "OCI_REGISTRY", "--source", "registry.example.com/" + project + "/api"}, extra...)
}

func TestE2EFullProgression(t *testing.T) {
	needServer(t)
	t.Parallel()
	const project = "e2e-progression"
	admin := mint(t, "alice", project+":project_admin", project+":publisher", project+":verifier")
	ci := mint(t, "ci-pipeline", project+":publisher", project+":verifier", project+":promoter")
	digest := digestN(1)

	// The pipeline claims its results with verify, so PROD counts claims here.
	prodCountsClaims := map[string]any{"channels": []map[string]any{{"channel": "PROD", "requiredTrust": "VERIFIED", "requiredChecks": []string{"ATTESTATION"},
		"promoterRoles": []string{"PROJECT_ADMIN"}, "requireVerifiedEvidence": false}}}
	r := must(t, admin, "policy", "set", "--project", project, "--file", writePolicy(t, project, prodCountsClaims))
	if !strings.Contains(r.stdout, "registry.example.com/"+project+"/") || !strings.Contains(r.stdout, "SIGNATURE") {
		t.Fatalf("policy set output misses the new policy:\n%s", r)
	}

	// Register (json output, to take the id), then retry: same artifact.
	art := decode[artifactOut](t, must(t, ci, append(registerArgs(project, digest, "--tag", "v1.4.2"), "--output", "json")...))
	if art.ID == "" || art.Digest != digest || art.LifecycleState != "PUBLISHED" || art.TrustState != "UNVERIFIED" {
		t.Fatalf("registered artifact: %+v", art)
	}
	again := decode[artifactOut](t, must(t, ci, append(registerArgs(project, digest, "--tag", "v1.4.2"), "-o", "json")...))
	if again.ID != art.ID {
		t.Fatalf("retry registered a different artifact: %s vs %s", again.ID, art.ID)
	}

	// Verify with submitted results; the table shows trust and each record.
	r = must(t, ci, "verify", "--project", project, "--digest", digest,
		"--result", "SIGNATURE=PASSED:cosign verified by ci", "--result", "attestation=passed")
	for _, want := range []string{"VERIFIED", "cosign verified by ci", "ATTESTATION", "SOURCE_ALLOWLISTED"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("verify output misses %q:\n%s", want, r)
		}
	}
	if strings.Contains(r.stdout, "FAILED") {
		t.Errorf("verify output shows a failure:\n%s", r)
	}

	// DEV..STAGING by the CI promoter (by digest), PROD by the admin (by id)
	// with an environment and a chosen correlation id.
	for _, ch := range []string{"DEV", "TEST", "STAGING"} {
		must(t, ci, "promote", "--project", project, "--digest", digest, "--channel", ch, "--reason", "pipeline 42")
	}
	// The CI account is not a PROD promoter: refused by policy, exit 3.
	r = ctl(t, ci, "promote", "--id", art.ID, "--channel", "PROD", "--env", "prod-eu")
	expectExit(t, r, 3)
	if !strings.Contains(r.stderr, "\n- ci-pipeline may not promote into PROD") {
		t.Fatalf("want the promoter reason on its own line:\n%s", r)
	}
	r = must(t, admin, "--correlation-id", "e2e-prod-release-1", "promote", "--id", art.ID, "--channel", "prod", "--env", "prod-eu", "--output", "json")
	prom := decode[artifactOut](t, r)
	if prom.LifecycleState != "PROMOTED" || len(prom.Promotions) != 4 {
		t.Fatalf("after PROD: %+v", prom)
	}
	last := prom.Promotions[3]
	if last.Channel != "PROD" || last.TargetEnvironment == nil || *last.TargetEnvironment != "prod-eu" || last.PromotedBy != "alice" || last.CorrelationID != "e2e-prod-release-1" {
		t.Fatalf("PROD promotion: %+v", last)
	}

	// deployable prints exactly the digest, for $(...).
	r = must(t, ci, "deployable", "--project", project, "--channel", "PROD", "--env", "prod-eu")
	if r.stdout != digest+"\n" || r.stderr != "" {
		t.Fatalf("deployable must print only the digest:\n%s", r)
	}
	r = must(t, ci, "deployable", "--project", project, "--channel", "staging")
	if r.stdout != digest+"\n" {
		t.Fatalf("deployable STAGING:\n%s", r)
	}
	// No environment given, but PROD only has prod-eu: exit 1 with a hint.
	r = ctl(t, ci, "deployable", "--project", project, "--channel", "PROD")
	expectExit(t, r, 1)
	if r.stdout != "" || !strings.Contains(r.stderr, "nothing is deployable") || !strings.Contains(r.stderr, "--env prod-eu") {
		t.Fatalf("deployable without env:\n%s", r)
	}

	// status: one row per channel in progression order.
	r = must(t, ci, "status", "--project", project)
	rows := tableRows(r.stdout)
	wantHeader := []string{"CHANNEL", "ENV", "DIGEST", "PROMOTED_BY", "PROMOTED_AT"}
	if len(rows) != 5 || strings.Join(rows[0][:5], " ") != strings.Join(wantHeader, " ") {
		t.Fatalf("status table:\n%s", r)
	}
	wantRows := [][]string{{"DEV", "-", "ci-pipeline"}, {"TEST", "-", "ci-pipeline"}, {"STAGING", "-", "ci-pipeline"}, {"PROD", "prod-eu", "alice"}}
	for i, w := range wantRows {
		row := rows[i+1]
		if row[0] != w[0] || row[1] != w[1] || row[2] != digest || row[3] != w[2] {
			t.Errorf("status row %d = %v, want %v with digest %s", i+1, row, w, digest)
		}
		if _, err := time.Parse(time.RFC3339, row[4]); err != nil {
			t.Errorf("status row %d PROMOTED_AT %q: %v", i+1, row[4], err)
		}
	}

	// audit: the request's correlation id finds exactly the PROD promotion.
	type auditOut struct {
		Events []struct {
			Action               string  `json:"action"`
			Actor                string  `json:"actor"`
			Digest               string  `json:"digest"`
			PromotionChannel     *string `json:"promotionChannel"`
			PromotionEnvironment *string `json:"promotionEnvironment"`
			CorrelationID        string  `json:"correlationId"`
		} `json:"events"`
		PageInfo struct {
			HasNextPage bool `json:"hasNextPage"`
		} `json:"pageInfo"`
	}
	au := decode[auditOut](t, must(t, ci, "audit", "--project", project, "--correlation-id", "e2e-prod-release-1", "-o", "json"))
	if len(au.Events) != 1 || au.Events[0].Action != "app_artifact.promote" || au.Events[0].Actor != "alice" ||
		au.Events[0].PromotionChannel == nil || *au.Events[0].PromotionChannel != "PROD" || au.Events[0].Digest != digest {
		t.Fatalf("audit by correlation id: %+v", au)
	}
	au = decode[auditOut](t, must(t, ci, "audit", "--project", project, "--action", "promote", "--artifact", digest, "--output", "json"))
	if len(au.Events) != 4 {
		t.Fatalf("want 4 promote events, got %+v", au)
	}
	au = decode[auditOut](t, must(t, ci, "audit", "--project", project, "--first", "2", "-o", "json"))
	if len(au.Events) != 2 || !au.PageInfo.HasNextPage {
		t.Fatalf("audit --first 2: %+v", au)
	}
	r = must(t, ci, "audit", "--project", project, "--first", "2")
	if rows := tableRows(r.stdout); len(rows) != 3 || rows[0][0] != "AT" || !strings.Contains(r.stderr, "--after ") {
		t.Fatalf("audit table with a next page:\n%s", r)
	}

	// Revoke: nothing is deployable any more; status shows why.
	r = must(t, ci, "revoke", "--project", project, "--digest", digest, "--reason", "CVE-2026-0001")
	if !strings.Contains(r.stdout, "REVOKED") {
		t.Fatalf("revoke output:\n%s", r)
	}
	r = ctl(t, ci, "deployable", "--project", project, "--channel", "PROD", "--env", "prod-eu")
	expectExit(t, r, 1)
	if r.stdout != "" {
		t.Fatalf("a revoked artifact must not be printed:\n%s", r)
	}
	r = must(t, ci, "status", "--project", project)
	if !strings.Contains(r.stdout, "REVOKED") {
		t.Fatalf("status should show the revoked trust:\n%s", r)
	}
}

func TestE2EPolicyDenied(t *testing.T) {
	needServer(t)
	t.Parallel()
	const project = "e2e-denied"
	admin := mint(t, "dana", project+":project_admin", project+":publisher")
	digest := digestN(2)
	must(t, admin, registerArgs(project, digest)...)

	// TEST needs VERIFIED and a DEV promotion first: both reasons, one per line.
	r := ctl(t, admin, "promote", "--project", project, "--digest", digest, "--channel", "TEST")
	expectExit(t, r, 3)
	if r.stdout != "" {
		t.Fatalf("nothing on stdout when refused:\n%s", r)
	}
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "POLICY_DENIED") ||
		!strings.HasPrefix(lines[1], "- channel TEST requires a VERIFIED artifact") ||
		!strings.HasPrefix(lines[2], "- project "+project+" uses strict progression") {
		t.Fatalf("want a header and one reason per line:\n%s", r)
	}

	// evaluate: same reasons, exit 3, changes nothing.
	r = ctl(t, admin, "evaluate", "--project", project, "--digest", digest, "--channel", "TEST")
	expectExit(t, r, 3)
	if !strings.Contains(r.stderr, "\n- channel TEST requires a VERIFIED artifact") || !strings.Contains(r.stderr, "\n- project "+project+" uses strict progression") {
		t.Fatalf("evaluate reasons:\n%s", r)
	}
	type decision struct {
		Allowed bool     `json:"allowed"`
		Reasons []string `json:"reasons"`
	}
	r = ctl(t, admin, "evaluate", "--project", project, "--digest", digest, "--channel", "TEST", "-o", "json")
	expectExit(t, r, 3)
	if d := decode[decision](t, r); d.Allowed || len(d.Reasons) != 2 {
		t.Fatalf("evaluate json: %+v", d)
	}
	r = ctl(t, admin, "evaluate", "--project", project, "--digest", digest, "--channel", "DEV", "-o", "json")
	expectExit(t, r, 0)
	if d := decode[decision](t, r); !d.Allowed || len(d.Reasons) != 0 {
		t.Fatalf("evaluate DEV json: %+v", d)
	}
	r = must(t, admin, "evaluate", "--project", project, "--digest", digest, "--channel", "DEV")
	if !strings.HasPrefix(r.stdout, "allowed") {
		t.Fatalf("evaluate DEV table:\n%s", r)
	}

	// A deprecated artifact: promote is an invalid transition (exit 1), while
	// evaluate reports it as a refusal (exit 3).
	must(t, admin, "deprecate", "--project", project, "--digest", digest, "--reason", "superseded")
	r = ctl(t, admin, "promote", "--project", project, "--digest", digest, "--channel", "DEV")
	expectExit(t, r, 1)
	if !strings.Contains(r.stderr, "INVALID_TRANSITION") {
		t.Fatalf("promote deprecated:\n%s", r)
	}
	r = ctl(t, admin, "evaluate", "--project", project, "--digest", digest, "--channel", "DEV")
	expectExit(t, r, 3)
	r = must(t, admin, "retire", "--project", project, "--digest", digest)
	if !strings.Contains(r.stdout, "RETIRED") {
		t.Fatalf("retire:\n%s", r)
	}
	r = ctl(t, admin, "deprecate", "--project", project, "--digest", digest)
	expectExit(t, r, 1)
	if !strings.Contains(r.stderr, "INVALID_TRANSITION") {
		t.Fatalf("deprecate retired:\n%s", r)
	}
}

func TestE2EForbiddenAndUnauthenticated(t *testing.T) {
	needServer(t)
	t.Parallel()
	const project = "e2e-auth"
	viewer := mint(t, "victor", project+":viewer")
	digest := digestN(3)

	r := ctl(t, viewer, registerArgs(project, digest)...)
	expectExit(t, r, 4)
	if r.stdout != "" || !strings.Contains(r.stderr, "FORBIDDEN") {
		t.Fatalf("viewer register:\n%s", r)
	}
	r = ctl(t, viewer, "status", "--project", "another-project")
	expectExit(t, r, 4)

	// No token at all: refused before any request.
	r = ctl(t, "", "status", "--project", project)
	expectExit(t, r, 4)
	if !strings.Contains(r.stderr, "ARTIFACT_TRUST_TOKEN") {
		t.Fatalf("missing token:\n%s", r)
	}
	// A token the server refuses.
	r = ctl(t, "not-a-jwt", "status", "--project", project)
	expectExit(t, r, 4)
	if !strings.Contains(r.stderr, "UNAUTHENTICATED") {
		t.Fatalf("bad token:\n%s", r)
	}
	// --token wins over the environment.
	r = ctl(t, "not-a-jwt", "--token", viewer, "status", "--project", project)
	expectExit(t, r, 0)
}

func TestE2EBadInputAndUsage(t *testing.T) {
	needServer(t)
	t.Parallel()
	const project = "e2e-input"
	admin := mint(t, "ivy", project+":project_admin", project+":publisher")

	upper := "sha256:" + strings.Repeat("A", 64)
	r := ctl(t, admin, registerArgs(project, upper)...)
	expectExit(t, r, 1)
	if r.stdout != "" || !strings.Contains(r.stderr, "BAD_USER_INPUT") {
		t.Fatalf("bad digest:\n%s", r)
	}
	r = ctl(t, admin, registerArgs(project, "sha256:abc")...)
	expectExit(t, r, 1)

	// Same digest, different source: CONFLICT, exit 1.
	must(t, admin, registerArgs(project, digestN(4))...)
	r = ctl(t, admin, "register", "--project", project, "--digest", digestN(4), "--kind", "OCI_IMAGE", "--source-type", "OCI_REGISTRY", "--source", "registry.example.com/elsewhere")
	expectExit(t, r, 1)
	if !strings.Contains(r.stderr, "CONFLICT") {
		t.Fatalf("conflict:\n%s", r)
	}

	// Unknown digest by --digest: not found, exit 1.
	r = ctl(t, admin, "promote", "--project", project, "--digest", digestN(99), "--channel", "DEV")
	expectExit(t, r, 1)
	if !strings.Contains(r.stderr, "NOT_FOUND") {
		t.Fatalf("unknown digest:\n%s", r)
	}

	for _, args := range [][]string{
		{"frobnicate"},
		{"verify", "--id", "x", "--result", "SIGNATURE"},
		{"verify", "--id", "x", "--result", "DIGEST=MAYBE"},
		{"promote", "--id", "x"},
		{"promote", "--id", "x", "--channel", "QA"},
		{"promote", "--id", "x", "--project", project, "--digest", digestN(4), "--channel", "DEV"},
		{"revoke", "--id", "x"},
		{"status", "--project", project, "--output", "yaml"},
		{"register", "--project", project},
	} {
		r := ctl(t, admin, args...)
		if r.code != 1 || r.stdout != "" || r.stderr == "" {
			t.Errorf("artifactctl %v: want exit 1 with a message, got %s", args, r)
		}
	}
	r = ctl(t, admin, "promote", "-h")
	expectExit(t, r, 0)
	if !strings.Contains(r.stdout, "--channel") && !strings.Contains(r.stdout, "-channel") {
		t.Fatalf("help:\n%s", r)
	}

	// The base URL alone is completed with /query.
	r = ctlEnv(t, []string{"ARTIFACT_TRUST_URL=" + e2e.base}, admin, "whoami", "-o", "json")
	expectExit(t, r, 0)
	type viewer struct {
		Subject string `json:"subject"`
	}
	if v := decode[viewer](t, r); v.Subject != "ivy" {
		t.Fatalf("whoami: %+v", v)
	}
	// Nothing listens: exit 1.
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	r = ctlEnv(t, []string{"ARTIFACT_TRUST_URL=http://" + addr + "/query"}, admin, "status", "--project", project)
	expectExit(t, r, 1)
	if !strings.Contains(r.stderr, "cannot reach") {
		t.Fatalf("unreachable server:\n%s", r)
	}
}

func TestE2EJSONOutput(t *testing.T) {
	needServer(t)
	t.Parallel()
	const project = "e2e-json"
	admin := mint(t, "jo", project+":project_admin", project+":publisher", project+":verifier")
	digest := digestN(5)
	must(t, admin, "policy", "set", "--project", project, "--file", writePolicy(t, project, nil))

	// policy get -o json round-trips through policy set --file.
	r := must(t, admin, "policy", "get", "--project", project, "-o", "json")
	path := filepath.Join(t.TempDir(), "roundtrip.json")
	if err := os.WriteFile(path, []byte(r.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	type policy struct {
		Version  int `json:"version"`
		Channels []struct {
			Channel string `json:"channel"`
		} `json:"channels"`
	}
	if p := decode[policy](t, must(t, admin, "policy", "set", "--project", project, "--file", path, "-o", "json")); p.Version != 2 || len(p.Channels) != 4 {
		t.Fatalf("policy round trip: %+v", p)
	}

	art := decode[artifactOut](t, must(t, admin, append(registerArgs(project, digest), "-o", "json")...))
	if art.Kind != "OCI_IMAGE" || art.Project != project {
		t.Fatalf("register json: %+v", art)
	}
	r = ctl(t, admin, "verify", "--id", art.ID, "--result", "SIGNATURE=FAILED:no signature found", "-o", "json")
	expectExit(t, r, 3) // ends FAILED_VERIFICATION; the artifact is still printed
	art = decode[artifactOut](t, r)
	if art.TrustState != "FAILED_VERIFICATION" {
		t.Fatalf("verify json: %+v", art)
	}
	found := false
	for _, v := range art.Verification {
		if v.Check == "SIGNATURE" && v.Result == "FAILED" && v.Detail != nil && *v.Detail == "no signature found" {
			found = true
		}
	}
	if !found {
		t.Fatalf("verification records: %+v", art.Verification)
	}
	got := decode[artifactOut](t, must(t, admin, "get", "--project", project, "--digest", digest, "-o", "json"))
	if got.ID != art.ID || got.TrustState != "FAILED_VERIFICATION" {
		t.Fatalf("get json: %+v", got)
	}
	type statusRow struct {
		Channel string `json:"channel"`
	}
	if rows := decode[[]statusRow](t, must(t, admin, "status", "--project", project, "-o", "json")); len(rows) != 0 {
		t.Fatalf("status json: %+v", rows)
	}
	r = ctl(t, admin, "deployable", "--project", project, "--channel", "DEV", "-o", "json")
	expectExit(t, r, 1)
	if r.stdout != "" {
		t.Fatalf("deployable json with nothing deployable:\n%s", r)
	}
}

// TestE2EVerifyExits3WhenTheArtifactEndsFailedVerification: on a fresh project
// the default policy allows no source, so verify ends FAILED_VERIFICATION: exit
// 3 with the failed check and the command that fixes it on stderr. After
// 'policy allow-source', verify passes the baseline; --require-verified then
// exits 3 while a check the policy requires is missing, and 0 once it passed.
func TestE2EVerifyExits3WhenTheArtifactEndsFailedVerification(t *testing.T) {
	needServer(t)
	t.Parallel()
	const project = "e2e-verify-exit"
	admin := mint(t, "vera", project+":project_admin", project+":publisher", project+":verifier")
	digest := digestN(21)
	must(t, admin, registerArgs(project, digest)...)

	r := ctl(t, admin, "verify", "--project", project, "--digest", digest)
	expectExit(t, r, 3)
	for _, want := range []string{"ends FAILED_VERIFICATION", "\n- SOURCE_ALLOWLISTED: source registry.example.com/" + project + "/api matches no allowedSources prefix",
		"artifactctl policy allow-source --project " + project + " --source registry.example.com/" + project + "/"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr misses %q:\n%s", want, r)
		}
	}
	if !strings.Contains(r.stdout, "FAILED_VERIFICATION") {
		t.Errorf("the artifact is not printed:\n%s", r)
	}

	must(t, admin, "policy", "allow-source", "--project", project, "--source", "registry.example.com/"+project+"/")
	// The default policy requires no check beyond the baseline (PROD's
	// ATTESTATION is a channel requirement, not a trust one): the artifact now
	// ends VERIFIED, so --require-verified exits 0.
	r = must(t, admin, "verify", "--project", project, "--digest", digest, "--require-verified")
	if !strings.Contains(r.stdout, "VERIFIED") || r.stderr != "" {
		t.Fatalf("verify after allow-source:\n%s", r)
	}

	// A policy that requires SIGNATURE: without it the artifact is UNVERIFIED,
	// which exits 0 plainly and 3 with --require-verified, naming the check.
	must(t, admin, "policy", "set", "--project", project, "--file", writePolicy(t, project, nil))
	r = must(t, admin, "verify", "--project", project, "--digest", digest)
	if !strings.Contains(r.stdout, "UNVERIFIED") {
		t.Fatalf("verify under a policy requiring SIGNATURE:\n%s", r)
	}
	r = ctl(t, admin, "verify", "--project", project, "--digest", digest, "--require-verified")
	expectExit(t, r, 3)
	if !strings.Contains(r.stderr, "is UNVERIFIED, not VERIFIED (--require-verified)") || !strings.Contains(r.stderr, "\n- SIGNATURE has not PASSED (required by the policy of project "+project) {
		t.Fatalf("--require-verified on UNVERIFIED:\n%s", r)
	}
	must(t, admin, "verify", "--project", project, "--digest", digest, "--require-verified", "--result", "SIGNATURE=PASSED")
}

// TestE2EPolicyAllowSourceKeepsTheRestOfThePolicy: allow-source adds prefixes to
// allowedSources and changes nothing else (channels included); adding one that
// is there already writes nothing.
func TestE2EPolicyAllowSourceKeepsTheRestOfThePolicy(t *testing.T) {
	needServer(t)
	t.Parallel()
	const project = "e2e-allow-source"
	admin := mint(t, "ada", project+":project_admin")
	promoterOnly := mint(t, "pat", project+":promoter")
	prodChannel := []map[string]any{{"channel": "PROD", "requiredTrust": "VERIFIED", "requiredChecks": []string{"SIGNATURE"}, "promoterRoles": []string{"PROJECT_ADMIN"}, "promoterSubjects": []string{"release-bot"}, "requireVerifiedEvidence": false}}
	provenance := map[string]any{"builderIds": []string{"https://github.com/actions/runner"}, "sourceRepositories": []string{"https://github.com/acme/"}}
	must(t, admin, "policy", "set", "--project", project, "--file", writePolicy(t, project, map[string]any{"channels": prodChannel, "provenance": provenance}))

	type policy struct {
		Version           int      `json:"version"`
		AllowedSources    []string `json:"allowedSources"`
		RequiredChecks    []string `json:"requiredChecks"`
		StrictProgression bool     `json:"strictProgression"`
		Channels          []struct {
			Channel                 string   `json:"channel"`
			PromoterSubjects        []string `json:"promoterSubjects"`
			RequireVerifiedEvidence bool     `json:"requireVerifiedEvidence"`
		} `json:"channels"`
		Provenance *struct {
			SourceRepositories []string `json:"sourceRepositories"`
		} `json:"provenance"`
	}
	r := must(t, admin, "policy", "allow-source", "--project", project, "--source", "ghcr.io/acme/", "--source", "registry.example.com/"+project+"/", "-o", "json")
	p := decode[policy](t, r)
	if p.Version != 2 || strings.Join(p.AllowedSources, " ") != "registry.example.com/"+project+"/ ghcr.io/acme/" ||
		strings.Join(p.RequiredChecks, " ") != "SIGNATURE" || !p.StrictProgression || len(p.Channels) != 4 ||
		p.Channels[3].Channel != "PROD" || strings.Join(p.Channels[3].PromoterSubjects, " ") != "release-bot" ||
		p.Channels[3].RequireVerifiedEvidence || p.Provenance == nil || strings.Join(p.Provenance.SourceRepositories, " ") != "https://github.com/acme/" {
		t.Fatalf("after allow-source: %+v\n%s", p, r)
	}
	if !strings.Contains(r.stderr, "now allows sources starting with ghcr.io/acme/ (policy version 2)") {
		t.Fatalf("stderr: %s", r)
	}
	r = must(t, admin, "policy", "allow-source", "--project", project, "--source", "ghcr.io/acme/", "-o", "json")
	if p := decode[policy](t, r); p.Version != 2 || !strings.Contains(r.stderr, "already allows") {
		t.Fatalf("allowing a known source changed the policy: %+v\n%s", p, r)
	}
	expectExit(t, ctl(t, promoterOnly, "policy", "allow-source", "--project", project, "--source", "x.example/"), 4)
	expectExit(t, ctl(t, admin, "policy", "allow-source", "--project", project), 1)
}
