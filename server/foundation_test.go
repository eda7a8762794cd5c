package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestViewerReflectsTheToken(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	tok := tokenAs(t, "ci-release", "service_account", "payments:publisher", "payments:verifier", "*:viewer")
	var out struct {
		Viewer struct {
			Subject   string `json:"subject"`
			ActorType string `json:"actorType"`
			Roles     []struct {
				Project string   `json:"project"`
				Roles   []string `json:"roles"`
			} `json:"roles"`
		} `json:"viewer"`
	}
	ts.MustDo(tok, `{ viewer { subject actorType roles { project roles } } }`, nil, &out)
	v := out.Viewer
	if v.Subject != "ci-release" || v.ActorType != "SERVICE_ACCOUNT" {
		t.Fatalf("viewer = %+v", v)
	}
	if len(v.Roles) != 2 || v.Roles[0].Project != "*" || v.Roles[1].Project != "payments" ||
		strings.Join(v.Roles[1].Roles, ",") != "PUBLISHER,VERIFIER" || v.Roles[0].Roles[0] != "VIEWER" {
		t.Fatalf("roles = %+v", v.Roles)
	}
}

func TestRequestsWithoutAValidTokenAreUnauthenticated(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	cases := map[string]string{
		"no token":      "",
		"garbage token": "not.a.jwt",
		"wrong secret":  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ4IiwiZXhwIjo5OTk5OTk5OTk5fQ.c2lnbmF0dXJlLWRvZXMtbm90LW1hdGNo",
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			for _, q := range []string{`{ viewer { subject } }`, `mutation { deprecateArtifact(id: "art_x") { id } }`} {
				r := ts.Do(tok, q, nil)
				if r.Status >= 500 {
					t.Fatalf("status %d", r.Status)
				}
				if len(r.Errors) == 0 || r.Errors[0].Code() != "UNAUTHENTICATED" {
					t.Fatalf("%s: errors = %+v", q, r.Errors)
				}
			}
		})
	}
}

func TestRegisterValidatesInputWithClearErrors(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	tok := token(t, "alice", "payments:publisher")
	base := map[string]any{"project": "payments", "digest": digestN(1), "kind": "OCI_IMAGE", "sourceType": "OCI_REGISTRY", "source": "registry.example.com/payments/api"}
	cases := []struct {
		name, field, value, code, contains string
	}{
		{"uppercase hex", "digest", "sha256:" + strings.Repeat("A", 64), "BAD_USER_INPUT", "lowercase"},
		{"short digest", "digest", "sha256:abc", "BAD_USER_INPUT", "64 hex"},
		{"md5", "digest", "md5:" + strings.Repeat("a", 32), "BAD_USER_INPUT", "not allowed"},
		{"whitespace", "digest", " " + digestN(1), "BAD_USER_INPUT", "whitespace"},
		{"empty digest", "digest", "", "BAD_USER_INPUT", "empty"},
		{"oci kind from object store", "sourceType", "OBJECT_STORE", "BAD_USER_INPUT", "OCI_REGISTRY"},
		{"bad project", "project", "pay ments", "BAD_USER_INPUT", "project"},
		{"source with space", "source", "a b", "BAD_USER_INPUT", "source"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := map[string]any{}
			for k, v := range base {
				in[k] = v
			}
			in[c.field] = c.value
			e := ts.ErrCode(tok, registerMutation, map[string]any{"in": in})
			if e.Code() != c.code || !strings.Contains(e.Message, c.contains) {
				t.Fatalf("got %s %q, want %s containing %q", e.Code(), e.Message, c.code, c.contains)
			}
		})
	}
}

func TestRegisterAppliesTheDefaultPolicyToNonOCIArtifacts(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	tok := token(t, "alice", "payments:publisher")
	in := map[string]any{"project": "payments", "digest": digestN(1), "kind": "ARCHIVE", "sourceType": "OBJECT_STORE", "source": "s3://bucket/app.tgz"}
	e := ts.ErrCode(tok, registerMutation, map[string]any{"in": in})
	if e.Code() != "POLICY_DENIED" || len(e.Reasons()) != 1 || !strings.Contains(e.Reasons()[0], "non-OCI") {
		t.Fatalf("got %s %v", e.Code(), e.Reasons())
	}
}

func TestRegisterIsIdempotentForRetriesAndConflictsOnDifferentValues(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	tok := token(t, "alice", "payments:publisher")
	first := ts.register(tok, "payments", 1, map[string]any{"tags": []string{"v1", "latest"}})
	if first.LifecycleState != "PUBLISHED" || first.TrustState != "UNVERIFIED" || first.Version != 1 || !first.OCI {
		t.Fatalf("new artifact = %+v", first)
	}
	if len(first.Audit) != 1 || first.Audit[0].Action != "app_artifact.register" || *first.Audit[0].ToState != "PUBLISHED" {
		t.Fatalf("audit = %+v", first.Audit)
	}
	again := ts.register(tok, "payments", 1, map[string]any{"tags": []string{"v1", "latest"}})
	if again.ID != first.ID || again.Version != 1 || len(again.Audit) != 1 || again.CreatedAt != first.CreatedAt {
		t.Fatalf("retry changed the artifact: %+v", again)
	}
	in := map[string]any{"project": "payments", "digest": digestN(1), "kind": "OCI_IMAGE", "sourceType": "OCI_REGISTRY", "source": "registry.example.com/other/app"}
	if e := ts.ErrCode(tok, registerMutation, map[string]any{"in": in}); e.Code() != "CONFLICT" {
		t.Fatalf("different source: got %s %s", e.Code(), e.Message)
	}
	// The same digest in another project is another artifact.
	tok2 := token(t, "alice", "payments:publisher", "billing:publisher")
	other := ts.register(tok2, "billing", 1, nil)
	if other.ID == first.ID {
		t.Fatal("same digest in two projects must be two artifacts")
	}
}

func TestRolesAreCheckedPerOperationAndProject(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	pub := token(t, "alice", "payments:publisher")
	a := ts.register(pub, "payments", 1, nil)
	viewer := token(t, "victor", "payments:viewer")
	in := map[string]any{"project": "payments", "digest": digestN(2), "kind": "OCI_IMAGE", "sourceType": "OCI_REGISTRY", "source": "registry.example.com/x"}
	if e := ts.ErrCode(viewer, registerMutation, map[string]any{"in": in}); e.Code() != "FORBIDDEN" {
		t.Fatalf("viewer registering: %s", e.Code())
	}
	if e := ts.ErrCode(pub, `mutation($id: ID!) { revokeArtifact(id: $id, reason: "x") { id } }`, map[string]any{"id": a.ID}); e.Code() != "FORBIDDEN" {
		t.Fatalf("publisher revoking: %s", e.Code())
	}
	// A reader of the project sees it; a member of another project sees nothing.
	var got struct {
		Artifact *artifactJSON `json:"artifact"`
	}
	ts.MustDo(viewer, `query($id: ID!) { artifact(id: $id) { id digest } }`, map[string]any{"id": a.ID}, &got)
	if got.Artifact == nil || got.Artifact.Digest != digestN(1) {
		t.Fatalf("viewer read: %+v", got.Artifact)
	}
	outsider := token(t, "mallory", "billing:project_admin")
	ts.MustDo(outsider, `query($id: ID!) { artifact(id: $id) { id digest } }`, map[string]any{"id": a.ID}, &got)
	if got.Artifact != nil {
		t.Fatalf("outsider read another project's artifact: %+v", got.Artifact)
	}
	if e := ts.ErrCode(outsider, `mutation($id: ID!) { deprecateArtifact(id: $id) { id } }`, map[string]any{"id": a.ID}); e.Code() != "NOT_FOUND" {
		t.Fatalf("outsider mutating another project's artifact: %s", e.Code())
	}
	if e := ts.ErrCode(outsider, `query { artifacts(project: "payments") { totalCount } }`, nil); e.Code() != "FORBIDDEN" {
		t.Fatalf("outsider listing: %s", e.Code())
	}
	if e := ts.ErrCode(outsider, `query($d: String!) { artifactByDigest(project: "payments", digest: $d) { id } }`, map[string]any{"d": digestN(1)}); e.Code() != "FORBIDDEN" {
		t.Fatalf("outsider by digest: %s", e.Code())
	}
	// "*" roles apply to every project.
	global := token(t, "root", "*:viewer")
	ts.MustDo(global, `query($id: ID!) { artifact(id: $id) { id digest } }`, map[string]any{"id": a.ID}, &got)
	if got.Artifact == nil {
		t.Fatal("* viewer could not read")
	}
}

type pageJSON struct {
	Artifacts struct {
		TotalCount int `json:"totalCount"`
		Edges      []struct {
			Cursor string `json:"cursor"`
			Node   struct {
				ID     string `json:"id"`
				Digest string `json:"digest"`
			} `json:"node"`
		} `json:"edges"`
		PageInfo struct {
			HasNextPage bool    `json:"hasNextPage"`
			EndCursor   *string `json:"endCursor"`
		} `json:"pageInfo"`
	} `json:"artifacts"`
}

const listQuery = `query($p: String!, $f: ArtifactFilter, $first: Int, $after: String) {
	artifacts(project: $p, filter: $f, first: $first, after: $after) {
		totalCount edges { cursor node { id digest } } pageInfo { hasNextPage endCursor } } }`

func TestArtifactsPaginatesNewestFirstWithCursors(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	tok := token(t, "alice", "payments:publisher")
	const n = 27
	for i := 0; i < n; i++ {
		tags := []string{"build"}
		if i%3 == 0 {
			tags = append(tags, "nightly")
		}
		ts.register(tok, "payments", i, map[string]any{"tags": tags})
		time.Sleep(2 * time.Millisecond) // distinct createdAt at millisecond precision
	}
	var seen []string
	var after any
	for page := 0; ; page++ {
		var out pageJSON
		ts.MustDo(tok, listQuery, map[string]any{"p": "payments", "first": 10, "after": after}, &out)
		if out.Artifacts.TotalCount != n {
			t.Fatalf("totalCount = %d", out.Artifacts.TotalCount)
		}
		for _, e := range out.Artifacts.Edges {
			seen = append(seen, e.Node.Digest)
		}
		if !out.Artifacts.PageInfo.HasNextPage {
			break
		}
		after = *out.Artifacts.PageInfo.EndCursor
		if page > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if len(seen) != n {
		t.Fatalf("saw %d artifacts, want %d", len(seen), n)
	}
	for i, d := range seen {
		if want := digestN(n - 1 - i); d != want {
			t.Fatalf("position %d: %s, want %s (newest first)", i, d, want)
		}
	}
	var tagged pageJSON
	ts.MustDo(tok, listQuery, map[string]any{"p": "payments", "first": 100, "f": map[string]any{"tag": "nightly", "trustState": "UNVERIFIED", "kind": "OCI_IMAGE"}}, &tagged)
	if tagged.Artifacts.TotalCount != 9 || len(tagged.Artifacts.Edges) != 9 {
		t.Fatalf("tag filter: total %d, edges %d", tagged.Artifacts.TotalCount, len(tagged.Artifacts.Edges))
	}
	var none pageJSON
	ts.MustDo(tok, listQuery, map[string]any{"p": "payments", "f": map[string]any{"channel": "DEV"}}, &none)
	if none.Artifacts.TotalCount != 0 || len(none.Artifacts.Edges) != 0 {
		t.Fatalf("channel filter matched unpromoted artifacts")
	}
	for name, vars := range map[string]map[string]any{
		"negative first": {"p": "payments", "first": -1},
		"huge first":     {"p": "payments", "first": 1000},
		"bad cursor":     {"p": "payments", "after": "not-a-cursor"},
	} {
		if e := ts.ErrCode(tok, listQuery, vars); e.Code() != "BAD_USER_INPUT" {
			t.Errorf("%s: got %s %s", name, e.Code(), e.Message)
		}
	}
}

func TestProjectPolicyDefaultsMatchTheDomain(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	var out struct {
		ProjectPolicy struct {
			AllowedSourceTypes []string `json:"allowedSourceTypes"`
			AllowedSources     []string `json:"allowedSources"`
			AllowNonOci        bool     `json:"allowNonOci"`
			StrictProgression  bool     `json:"strictProgression"`
			Version            int      `json:"version"`
			UpdatedAt          *string  `json:"updatedAt"`
			Channels           []struct {
				Channel        string   `json:"channel"`
				RequiredTrust  string   `json:"requiredTrust"`
				RequiredChecks []string `json:"requiredChecks"`
				PromoterRoles  []string `json:"promoterRoles"`
			} `json:"channels"`
		} `json:"projectPolicy"`
	}
	ts.MustDo(token(t, "v", "payments:viewer"), `{ projectPolicy(project: "payments") { allowedSourceTypes allowedSources allowNonOci strictProgression version updatedAt
		channels { channel requiredTrust requiredChecks promoterRoles } } }`, nil, &out)
	p := out.ProjectPolicy
	if len(p.AllowedSourceTypes) != 3 || len(p.AllowedSources) != 0 || p.AllowNonOci || !p.StrictProgression || p.Version != 0 || p.UpdatedAt != nil {
		t.Fatalf("policy = %+v", p)
	}
	want := []string{"DEV ALLOW_UNVERIFIED  PROMOTER,PROJECT_ADMIN", "TEST VERIFIED  PROMOTER,PROJECT_ADMIN", "STAGING VERIFIED  PROMOTER,PROJECT_ADMIN", "PROD VERIFIED ATTESTATION PROJECT_ADMIN"}
	for i, c := range p.Channels {
		got := c.Channel + " " + c.RequiredTrust + " " + strings.Join(c.RequiredChecks, ",") + " " + strings.Join(c.PromoterRoles, ",")
		if got != want[i] {
			t.Errorf("channel %d = %q, want %q", i, got, want[i])
		}
	}
}

func TestRestartKeepsData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ts := startServer(t, dir)
	tok := token(t, "alice", "payments:publisher")
	a := ts.register(tok, "payments", 7, nil)
	ts.Stop()
	ts2 := startServer(t, dir)
	var got struct {
		Artifact *artifactJSON `json:"artifact"`
	}
	ts2.MustDo(tok, `query($id: ID!) { artifact(id: $id) { `+artifactFields+` } }`, map[string]any{"id": a.ID}, &got)
	if got.Artifact == nil || got.Artifact.Digest != a.Digest || len(got.Artifact.Audit) != 1 || got.Artifact.CreatedAt != a.CreatedAt {
		t.Fatalf("after restart: %+v", got.Artifact)
	}
}

func TestCorrelationIDIsEchoedAndRecordedInAudit(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	tok := token(t, "alice", "payments:publisher")
	in := map[string]any{"project": "payments", "digest": digestN(3), "kind": "OCI_IMAGE", "sourceType": "OCI_REGISTRY", "source": "registry.example.com/a"}
	r := ts.Do(tok, registerMutation, map[string]any{"in": in}, "X-Correlation-ID", "pipeline-42.run_7")
	if r.Header.Get("X-Correlation-ID") != "pipeline-42.run_7" || !strings.Contains(string(r.Data), `"correlationId":"pipeline-42.run_7"`) {
		t.Fatalf("header %q data %s", r.Header.Get("X-Correlation-ID"), r.Data)
	}
	r = ts.Do(tok, `{ viewer { subject } }`, nil, "X-Correlation-ID", "bad id with spaces")
	if got := r.Header.Get("X-Correlation-ID"); got == "" || strings.Contains(got, " ") {
		t.Fatalf("insane id was not replaced: %q", got)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(ts.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
	}
}

func TestSecondServerOnTheSameDataDirIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	startServer(t, dir)
	cfg, _ := parseConfig([]string{"-listen-addr", "127.0.0.1:0", "-data-dir", dir, "-jwt-hs256-secret", testSecret})
	err := run(t.Context(), cfg, newLogger(cfg), nil)
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second server: %v", err)
	}
}
