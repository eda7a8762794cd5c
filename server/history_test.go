package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/artifact-trust/control-plane/correlation"
)

// An artifact's audit trail is read a page at a time with auditTrail (newest first,
// through cursors, across the part kept in the trail's buckets), and the whole-trail
// field audit is charged per event against the complexity limit, whatever length
// the query's complexity assumed.
func TestLongAuditTrailIsPagedWithAuditTrailAndAuditIsPricedByItsLength(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir(), func(c *Config) { c.ComplexityLimit = 200 })
	c := newCast(t)
	allowRegistry(t, ts, c, nil)
	register := `mutation($in: RegisterArtifactInput!) { registerArtifact(input: $in) { id } }`
	var reg struct {
		RegisterArtifact struct{ ID string } `json:"registerArtifact"`
	}
	ids := make([]string, 2)
	for i := range ids {
		ts.MustDo(c.publisher, register, map[string]any{"in": map[string]any{"project": "payments", "digest": digestN(900 + i), "kind": "OCI_IMAGE", "sourceType": "OCI_REGISTRY", "source": "registry.example.com/payments/app"}}, &reg)
		ids[i] = reg.RegisterArtifact.ID
	}
	id := ids[0]
	const verifies = 40
	for k := 0; k < verifies; k++ {
		r := ts.Do(c.verifier, `mutation($id: ID!) { verifyArtifact(input: {artifactId: $id}) { id } }`, map[string]any{"id": id}, correlation.Header, fmt.Sprintf("nightly-%02d", k))
		if len(r.Errors) > 0 {
			t.Fatalf("verify %d: %+v", k, r.Errors)
		}
	}

	// The whole trail, within the limit: 41 events of one field.
	var whole struct {
		Artifact struct {
			Audit []struct {
				CorrelationID string `json:"correlationId"`
			} `json:"audit"`
		} `json:"artifact"`
	}
	ts.MustDo(c.viewer, `query($id: ID!) { artifact(id: $id) { id audit { correlationId } } }`, map[string]any{"id": id}, &whole)
	var trail []string
	for _, e := range whole.Artifact.Audit {
		trail = append(trail, e.CorrelationID)
	}
	if len(trail) != verifies+1 || trail[verifies] != fmt.Sprintf("nightly-%02d", verifies-1) {
		t.Fatalf("audit: %d events %v", len(trail), trail)
	}

	// Six fields of 41 events cost more than the limit, although the complexity
	// computed before the query ran (ten events assumed) is below it.
	heavy := `query($id: ID!) { artifact(id: $id) { id audit { action actor actorType correlationId at reason } } }`
	r := ts.Do(c.viewer, heavy, map[string]any{"id": id})
	if len(r.Errors) != 1 || r.Errors[0].Code() != "COMPLEXITY_LIMIT_EXCEEDED" || !strings.Contains(r.Errors[0].Message, "auditTrail") || !strings.Contains(r.Errors[0].Message, "41 entries") {
		t.Fatalf("heavy audit: %+v %s", r.Errors, r.Data)
	}
	if string(r.Data) != `{"artifact":null}` {
		t.Fatalf("heavy audit data: %s", r.Data)
	}

	// A mutation's answer is priced the same way, after the change: the refusal
	// says the change was applied.
	r = ts.Do(c.verifier, `mutation($id: ID!) { verifyArtifact(input: {artifactId: $id}) { id audit { action actor actorType correlationId at reason } } }`, map[string]any{"id": id}, correlation.Header, "nightly-late")
	if len(r.Errors) != 1 || r.Errors[0].Code() != "COMPLEXITY_LIMIT_EXCEEDED" || !strings.Contains(r.Errors[0].Message, "the mutation itself was applied") {
		t.Fatalf("heavy mutation answer: %+v %s", r.Errors, r.Data)
	}
	ts.MustDo(c.viewer, `query($id: ID!) { artifact(id: $id) { id audit { correlationId } } }`, map[string]any{"id": id}, &whole)
	trail = trail[:0]
	for _, e := range whole.Artifact.Audit {
		trail = append(trail, e.CorrelationID)
	}
	if len(trail) != verifies+2 || trail[verifies+1] != "nightly-late" {
		t.Fatalf("audit after the refused answer: %d events %v", len(trail), trail)
	}

	// auditTrail pages it newest first, with no gap and no duplicate.
	page := `query($id: ID!, $after: String) { artifact(id: $id) { auditTrail(first: 10, after: $after) { edges { cursor node { correlationId } } pageInfo { hasNextPage endCursor } } } }`
	type pageJSON struct {
		Artifact struct {
			AuditTrail struct {
				Edges []struct {
					Cursor string `json:"cursor"`
					Node   struct {
						CorrelationID string `json:"correlationId"`
					} `json:"node"`
				} `json:"edges"`
				PageInfo struct {
					HasNextPage bool    `json:"hasNextPage"`
					EndCursor   *string `json:"endCursor"`
				} `json:"pageInfo"`
			} `json:"auditTrail"`
		} `json:"artifact"`
	}
	var paged []string
	vars := map[string]any{"id": id}
	for pages := 1; ; pages++ {
		var p pageJSON
		ts.MustDo(c.viewer, page, vars, &p)
		conn := p.Artifact.AuditTrail
		for _, e := range conn.Edges {
			paged = append(paged, e.Node.CorrelationID)
		}
		if !conn.PageInfo.HasNextPage {
			if pages != 5 { // 42 events
				t.Fatalf("%d pages of 10 for %d events", pages, len(trail))
			}
			break
		}
		if conn.PageInfo.EndCursor == nil || *conn.PageInfo.EndCursor != conn.Edges[len(conn.Edges)-1].Cursor {
			t.Fatalf("page %d: end cursor %v", pages, conn.PageInfo.EndCursor)
		}
		vars["after"] = *conn.PageInfo.EndCursor
	}
	if len(paged) != len(trail) {
		t.Fatalf("auditTrail paged %d events, audit returned %d", len(paged), len(trail))
	}
	for i := range paged {
		if paged[i] != trail[len(trail)-1-i] {
			t.Fatalf("auditTrail position %d: %s, want %s", i, paged[i], trail[len(trail)-1-i])
		}
	}

	// A cursor of another artifact's trail is refused.
	var other pageJSON
	ts.MustDo(c.viewer, page, map[string]any{"id": ids[1]}, &other)
	e := ts.ErrCode(c.viewer, page, map[string]any{"id": id, "after": other.Artifact.AuditTrail.Edges[0].Cursor})
	if e.Code() != "BAD_USER_INPUT" {
		t.Fatalf("foreign cursor: %+v", e)
	}
}
