package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/artifact-trust/control-plane/auth"
)

// gqlClient speaks GraphQL over HTTP to one server with one bearer token.
type gqlClient struct {
	http  *http.Client
	url   string
	token string
}

func newHTTPClient() *http.Client {
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        128,
			MaxIdleConnsPerHost: 128,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// benchToken is a token with every role in every project ("*").
func benchToken() (string, error) {
	return auth.MintHS256([]byte(benchSecret), auth.Claims{
		Subject: "bench", ActorType: "user",
		Roles: map[string][]string{"*": {"viewer", "publisher", "verifier", "promoter", "project_admin"}},
	}, 24*time.Hour)
}

type gqlResp struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

// do posts one operation; any transport error, non-200 status or GraphQL error is
// an error. When out is not nil, data is decoded into it.
func (c *gqlClient) do(ctx context.Context, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %.300s", resp.StatusCode, raw)
	}
	var r gqlResp
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("response is not JSON: %.300s", raw)
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("%s (%v)", r.Errors[0].Message, r.Errors[0].Extensions["code"])
	}
	if string(r.Data) == "null" || len(r.Data) == 0 {
		return fmt.Errorf("no data: %.300s", raw)
	}
	if out != nil {
		return json.Unmarshal(r.Data, out)
	}
	return nil
}

// The operations, with the selections a dashboard or a pipeline asks for.
const (
	qArtifact = `query Artifact($id: ID!) { artifact(id: $id) {
  id project digest kind oci sourceType source tags lifecycleState trustState version createdAt updatedAt
  verification { check result detail recordedBy recordedAt }
  promotions { channel targetEnvironment promotedBy promotedAt reason correlationId }
  audit { action actor actorType fromState toState promotionChannel promotionEnvironment correlationId reason at }
} }`
	qByDigest = `query ByDigest($p: String!, $d: String!) { artifactByDigest(project: $p, digest: $d) {
  id digest kind lifecycleState trustState version promotions { channel targetEnvironment promotedAt }
} }`
	// qArtifacts is a list page of summary fields only (served from the list read
	// model); qArtifactsFull the same page with each artifact's verification and
	// promotions (every artifact of the page is loaded).
	qArtifacts = `query List($p: String!) { artifacts(project: $p, first: 20, filter: {trustState: VERIFIED}) {
  totalCount
  edges { cursor node { id digest kind sourceType source lifecycleState trustState tags version createdAt updatedAt } }
  pageInfo { hasNextPage endCursor }
} }`
	qArtifactsFull = `query ListFull($p: String!) { artifacts(project: $p, first: 20, filter: {trustState: VERIFIED}) {
  totalCount
  edges { cursor node { id digest kind sourceType source lifecycleState trustState tags version createdAt updatedAt
    verification { check result } promotions { channel targetEnvironment promotedAt } } }
  pageInfo { hasNextPage endCursor }
} }`
	qDeployable = `query Deployable($p: String!) { deployable(project: $p, channel: STAGING) {
  channel targetEnvironment digest artifact { id trustState lifecycleState }
} }`
	qChannelStatus = `query ChannelStatus($p: String!) { channelStatus(project: $p) {
  channel targetEnvironment digest promotedAt promotedBy artifact { id trustState lifecycleState }
} }`
	qAuditEvents = `query Audit($p: String!) { auditEvents(project: $p, first: 50) {
  edges { cursor node { action actor actorType artifactId digest fromState toState promotionChannel promotionEnvironment correlationId at } }
  pageInfo { hasNextPage endCursor }
} }`
	mRegister = `mutation Register($in: RegisterArtifactInput!) { registerArtifact(input: $in) { id version lifecycleState trustState } }`
	mVerify   = `mutation Verify($in: VerifyArtifactInput!) { verifyArtifact(input: $in) { id version trustState verification { check result } } }`
	mPromote  = `mutation Promote($in: PromoteArtifactInput!) { promoteArtifact(input: $in) { id version lifecycleState promotions { channel targetEnvironment } } }`
)

// apiOp is one GraphQL operation of the benchmark.
type apiOp struct {
	Name     string
	Mutation bool
	// Floor names the raw driver measurement this operation is compared with;
	// FloorRM, when set, the one on a store with per-project read models.
	Floor   string
	FloorRM string
	Run     func(c *gqlClient, n int, run string) opFunc
}

// spread maps request i onto artifact indexes evenly over the whole collection.
func spread(i, n int) int { return int((uint64(i) * 7919) % uint64(n)) }

// promotableIndex maps request i onto an artifact that can still be verified and
// promoted, walking the collection so successive requests touch different ones.
func promotableIndex(i, n int) int {
	for k := spread(i, n); ; k = (k + 1) % n {
		if promotable(k) {
			return k
		}
	}
}

var apiOps = []apiOp{
	{Name: "artifact(id)", Floor: "raw findArtifact", Run: func(c *gqlClient, n int, _ string) opFunc {
		return func(ctx context.Context, i int) error {
			return c.do(ctx, qArtifact, map[string]any{"id": idOf(spread(i, n))}, nil)
		}
	}},
	{Name: "artifactByDigest", Floor: "raw findArtifact", Run: func(c *gqlClient, n int, _ string) opFunc {
		return func(ctx context.Context, i int) error {
			k := spread(i, n)
			return c.do(ctx, qByDigest, map[string]any{"p": projectOf(k), "d": digestOf(k)}, nil)
		}
	}},
	{Name: "artifacts(first:20,filter)", Floor: "raw findProjectDoc", FloorRM: "raw findListHead", Run: projectQuery(qArtifacts)},
	{Name: "artifacts(first:20,filter,full)", Floor: "raw findProjectDoc", FloorRM: "raw list floor", Run: projectQuery(qArtifactsFull)},
	{Name: "deployable", Floor: "raw deployable floor", FloorRM: "raw deployable floor (read models)", Run: projectQuery(qDeployable)},
	{Name: "channelStatus", Floor: "raw findProjectDoc", FloorRM: "raw channelStatus floor", Run: projectQuery(qChannelStatus)},
	{Name: "auditEvents(first:50)", Floor: "raw findProjectDoc", FloorRM: "raw auditEvents floor", Run: projectQuery(qAuditEvents)},
	{Name: "verifyArtifact", Mutation: true, Floor: "raw mutate floor", Run: func(c *gqlClient, n int, _ string) opFunc {
		return func(ctx context.Context, i int) error {
			in := map[string]any{"artifactId": idOf(promotableIndex(i, n)), "reason": "bench re-verification",
				"results": []map[string]any{{"check": "SIGNATURE", "result": "PASSED", "detail": "cosign ok"}, {"check": "ATTESTATION", "result": "PASSED"}}}
			return c.do(ctx, mVerify, map[string]any{"in": in}, nil)
		}
	}},
	{Name: "promoteArtifact", Mutation: true, Floor: "raw mutate floor", Run: func(c *gqlClient, n int, _ string) opFunc {
		return func(ctx context.Context, i int) error {
			// Every seeded artifact has DEV, so TEST is allowed under strict progression.
			in := map[string]any{"artifactId": idOf(promotableIndex(i+n/2, n)), "channel": "TEST", "targetEnvironment": fmt.Sprintf("qa-%d", i%3), "reason": "bench"}
			return c.do(ctx, mPromote, map[string]any{"in": in}, nil)
		}
	}},
	{Name: "registerArtifact", Mutation: true, Floor: "raw register floor", Run: func(c *gqlClient, n int, run string) opFunc {
		return func(ctx context.Context, i int) error {
			p := projectOf(i)
			in := map[string]any{"project": p, "digest": digestFor(fmt.Sprintf("registered-%s-%d-%d", run, n, i)),
				"kind": "OCI_IMAGE", "sourceType": "OCI_REGISTRY", "source": "registry.example.com/" + p + "/svc-new",
				"tags": []string{"v2.0." + fmt.Sprint(i), "candidate"}}
			return c.do(ctx, mRegister, map[string]any{"in": in}, nil)
		}
	}},
}

// projectQuery is a per-project read over the projects in turn.
func projectQuery(q string) func(c *gqlClient, n int, _ string) opFunc {
	return func(c *gqlClient, n int, _ string) opFunc {
		return func(ctx context.Context, i int) error {
			return c.do(ctx, q, map[string]any{"p": projectOf(i)}, nil)
		}
	}
}
