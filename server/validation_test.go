package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// hostileStrings are sent to every string argument of the API.
var hostileStrings = map[string]string{
	"NUL":                "pay\x00ments",
	"control character":  "pay\x1bments",
	"newline":            "payments\nlevel=error msg=forged",
	"10 KB":              strings.Repeat("a", 10<<10),
	"$where":             "$where",
	`{"$gt": ""}`:        `{"$gt": ""}`,
	"RTL override":       "exe.\u202egpj",
	"zero-width space":   "pay\u200bments",
	"byte order mark":    "\ufeffpayments",
	"line separator":     "pay\u2028ments",
	"non-breaking space": "pay\u00a0ments",
}

// freeText lists the hostile values a free-text or locator field legitimately takes:
// they are stored as they are, never interpreted.
var (
	acceptsDollar    = map[string]bool{"$where": true}
	acceptsFreeText  = map[string]bool{"$where": true, `{"$gt": ""}`: true}
	acceptsNothingOf = map[string]bool{}
)

// argumentCase is one string argument of the schema.
type argumentCase struct {
	arg string // the argument, as a path in the operation
	// field is the extensions.field a refusal must name.
	field string
	// accepts names the hostile values that are valid for this argument.
	accepts map[string]bool
	// op builds the operation with v in the argument.
	op func(v string) (string, map[string]any)
}

// TestEveryStringArgumentRefusesHostileInput walks every string argument of
// schema.graphqls with NUL, control characters, 10 KB, Mongo operators as strings,
// bidi overrides and invisible characters: each is refused with BAD_USER_INPUT
// naming the field and why, or, where the value is a valid free text or locator,
// accepted as plain data.
func TestEveryStringArgumentRefusesHostileInput(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	tok := token(t, "alice", "payments:project_admin", "payments:publisher", "payments:verifier", "payments:promoter")
	n := 0
	fresh := func() string {
		n++
		return ts.register(tok, "payments", 1000+n, nil).ID
	}
	const artifactOut = `{ id }`
	reg := func(field string, v any) (string, map[string]any) {
		in := map[string]any{"project": "payments", "digest": digestN(5000 + n), "kind": "OCI_IMAGE", "sourceType": "OCI_REGISTRY", "source": "registry.example.com/payments/app"}
		n++
		in[field] = v
		return `mutation($in: RegisterArtifactInput!) { registerArtifact(input: $in) { id } }`, map[string]any{"in": in}
	}
	policy := func(mod func(in map[string]any)) (string, map[string]any) {
		in := map[string]any{"allowedSourceTypes": []string{"OCI_REGISTRY"}, "allowedSources": []string{"registry.example.com/"}, "allowNonOci": true, "strictProgression": false}
		mod(in)
		return `mutation($p: String!, $in: ProjectPolicyInput!) { setProjectPolicy(project: $p, input: $in) { version } }`, map[string]any{"p": "payments", "in": in}
	}
	cases := []argumentCase{
		{"artifact(id)", "id", acceptsNothingOf, func(v string) (string, map[string]any) {
			return `query($v: ID!) { artifact(id: $v) { id } }`, map[string]any{"v": v}
		}},
		{"artifactByDigest(project)", "project", acceptsNothingOf, func(v string) (string, map[string]any) {
			return `query($v: String!) { artifactByDigest(project: $v, digest: "` + digestN(1) + `") { id } }`, map[string]any{"v": v}
		}},
		{"artifactByDigest(digest)", "digest", acceptsNothingOf, func(v string) (string, map[string]any) {
			return `query($v: String!) { artifactByDigest(project: "payments", digest: $v) { id } }`, map[string]any{"v": v}
		}},
		{"artifacts(project)", "project", acceptsNothingOf, func(v string) (string, map[string]any) {
			return `query($v: String!) { artifacts(project: $v) { totalCount } }`, map[string]any{"v": v}
		}},
		{"artifacts(filter.tag)", "filter.tag", acceptsNothingOf, func(v string) (string, map[string]any) {
			return `query($v: String) { artifacts(project: "payments", filter: {tag: $v}) { totalCount } }`, map[string]any{"v": v}
		}},
		{"artifacts(after)", "after", acceptsNothingOf, func(v string) (string, map[string]any) {
			return `query($v: String) { artifacts(project: "payments", after: $v) { totalCount } }`, map[string]any{"v": v}
		}},
		{"channelStatus(project)", "project", acceptsNothingOf, func(v string) (string, map[string]any) {
			return `query($v: String!) { channelStatus(project: $v) { digest } }`, map[string]any{"v": v}
		}},
		{"deployable(project)", "project", acceptsNothingOf, func(v string) (string, map[string]any) {
			return `query($v: String!) { deployable(project: $v, channel: DEV) { digest } }`, map[string]any{"v": v}
		}},
		{"deployable(targetEnvironment)", "targetEnvironment", acceptsNothingOf, func(v string) (string, map[string]any) {
			return `query($v: String) { deployable(project: "payments", channel: DEV, targetEnvironment: $v) { digest } }`, map[string]any{"v": v}
		}},
		{"evaluatePromotion(input.artifactId)", "artifactId", acceptsNothingOf, func(v string) (string, map[string]any) {
			return `query($v: ID!) { evaluatePromotion(input: {artifactId: $v, channel: DEV}) { allowed } }`, map[string]any{"v": v}
		}},
		{"evaluatePromotion(input.targetEnvironment)", "targetEnvironment", acceptsNothingOf, func(v string) (string, map[string]any) {
			return `query($id: ID!, $v: String) { evaluatePromotion(input: {artifactId: $id, channel: DEV, targetEnvironment: $v}) { allowed } }`, map[string]any{"id": fresh(), "v": v}
		}},
		{"evaluatePromotion(input.reason)", "reason", acceptsFreeText, func(v string) (string, map[string]any) {
			return `query($id: ID!, $v: String) { evaluatePromotion(input: {artifactId: $id, channel: DEV, reason: $v}) { allowed } }`, map[string]any{"id": fresh(), "v": v}
		}},
		{"auditEvents(project)", "project", acceptsNothingOf, func(v string) (string, map[string]any) {
			return `query($v: String!) { auditEvents(project: $v) { edges { cursor } } }`, map[string]any{"v": v}
		}},
		{"auditEvents(filter.action)", "filter.action", acceptsNothingOf, func(v string) (string, map[string]any) {
			return `query($v: String) { auditEvents(project: "payments", filter: {action: $v}) { edges { cursor } } }`, map[string]any{"v": v}
		}},
		{"auditEvents(filter.actor)", "filter.actor", acceptsFreeText, func(v string) (string, map[string]any) {
			return `query($v: String) { auditEvents(project: "payments", filter: {actor: $v}) { edges { cursor } } }`, map[string]any{"v": v}
		}},
		{"auditEvents(filter.artifactId)", "filter.artifactId", acceptsNothingOf, func(v string) (string, map[string]any) {
			return `query($v: ID) { auditEvents(project: "payments", filter: {artifactId: $v}) { edges { cursor } } }`, map[string]any{"v": v}
		}},
		{"auditEvents(filter.correlationId)", "filter.correlationId", acceptsNothingOf, func(v string) (string, map[string]any) {
			return `query($v: String) { auditEvents(project: "payments", filter: {correlationId: $v}) { edges { cursor } } }`, map[string]any{"v": v}
		}},
		{"auditEvents(after)", "after", acceptsNothingOf, func(v string) (string, map[string]any) {
			return `query($v: String) { auditEvents(project: "payments", after: $v) { edges { cursor } } }`, map[string]any{"v": v}
		}},
		{"projectPolicy(project)", "project", acceptsNothingOf, func(v string) (string, map[string]any) {
			return `query($v: String!) { projectPolicy(project: $v) { version } }`, map[string]any{"v": v}
		}},
		{"projectPolicyHistory(project)", "project", acceptsNothingOf, func(v string) (string, map[string]any) {
			return `query($v: String!) { projectPolicyHistory(project: $v) { toVersion } }`, map[string]any{"v": v}
		}},
		{"recentDenials(project)", "project", acceptsNothingOf, func(v string) (string, map[string]any) {
			return `query($v: String!) { recentDenials(project: $v) { operation } }`, map[string]any{"v": v}
		}},
		{"registerArtifact(input.project)", "project", acceptsNothingOf, func(v string) (string, map[string]any) { return reg("project", v) }},
		{"registerArtifact(input.digest)", "digest", acceptsNothingOf, func(v string) (string, map[string]any) { return reg("digest", v) }},
		{"registerArtifact(input.source)", "source", acceptsDollar, func(v string) (string, map[string]any) { return reg("source", v) }},
		{"registerArtifact(input.runtimeClass)", "runtimeClass", acceptsNothingOf, func(v string) (string, map[string]any) { return reg("runtimeClass", v) }},
		{"registerArtifact(input.tags)", "tags[1]", acceptsNothingOf, func(v string) (string, map[string]any) { return reg("tags", []string{"v1", v}) }},
		{"verifyArtifact(input.artifactId)", "artifactId", acceptsNothingOf, func(v string) (string, map[string]any) {
			return `mutation($v: ID!) { verifyArtifact(input: {artifactId: $v}) ` + artifactOut + ` }`, map[string]any{"v": v}
		}},
		{"verifyArtifact(input.results.detail)", "results[0].detail", acceptsFreeText, func(v string) (string, map[string]any) {
			return `mutation($id: ID!, $v: String) { verifyArtifact(input: {artifactId: $id, results: [{check: SIGNATURE, result: PASSED, detail: $v}]}) ` + artifactOut + ` }`, map[string]any{"id": fresh(), "v": v}
		}},
		{"verifyArtifact(input.reason)", "reason", acceptsFreeText, func(v string) (string, map[string]any) {
			return `mutation($id: ID!, $v: String) { verifyArtifact(input: {artifactId: $id, reason: $v}) ` + artifactOut + ` }`, map[string]any{"id": fresh(), "v": v}
		}},
		{"promoteArtifact(input.artifactId)", "artifactId", acceptsNothingOf, func(v string) (string, map[string]any) {
			return `mutation($v: ID!) { promoteArtifact(input: {artifactId: $v, channel: DEV}) ` + artifactOut + ` }`, map[string]any{"v": v}
		}},
		{"promoteArtifact(input.targetEnvironment)", "targetEnvironment", acceptsNothingOf, func(v string) (string, map[string]any) {
			return `mutation($id: ID!, $v: String) { promoteArtifact(input: {artifactId: $id, channel: DEV, targetEnvironment: $v}) ` + artifactOut + ` }`, map[string]any{"id": fresh(), "v": v}
		}},
		{"promoteArtifact(input.reason)", "reason", acceptsFreeText, func(v string) (string, map[string]any) {
			return `mutation($id: ID!, $v: String) { promoteArtifact(input: {artifactId: $id, channel: DEV, reason: $v}) ` + artifactOut + ` }`, map[string]any{"id": fresh(), "v": v}
		}},
		{"deprecateArtifact(id)", "id", acceptsNothingOf, func(v string) (string, map[string]any) {
			return `mutation($v: ID!) { deprecateArtifact(id: $v) ` + artifactOut + ` }`, map[string]any{"v": v}
		}},
		{"deprecateArtifact(reason)", "reason", acceptsFreeText, func(v string) (string, map[string]any) {
			return `mutation($id: ID!, $v: String) { deprecateArtifact(id: $id, reason: $v) ` + artifactOut + ` }`, map[string]any{"id": fresh(), "v": v}
		}},
		{"retireArtifact(id)", "id", acceptsNothingOf, func(v string) (string, map[string]any) {
			return `mutation($v: ID!) { retireArtifact(id: $v) ` + artifactOut + ` }`, map[string]any{"v": v}
		}},
		{"retireArtifact(reason)", "reason", acceptsFreeText, func(v string) (string, map[string]any) {
			return `mutation($id: ID!, $v: String) { retireArtifact(id: $id, reason: $v) ` + artifactOut + ` }`, map[string]any{"id": fresh(), "v": v}
		}},
		{"revokeArtifact(id)", "id", acceptsNothingOf, func(v string) (string, map[string]any) {
			return `mutation($v: ID!) { revokeArtifact(id: $v, reason: "compromised") ` + artifactOut + ` }`, map[string]any{"v": v}
		}},
		{"revokeArtifact(reason)", "reason", acceptsFreeText, func(v string) (string, map[string]any) {
			return `mutation($id: ID!, $v: String!) { revokeArtifact(id: $id, reason: $v) ` + artifactOut + ` }`, map[string]any{"id": fresh(), "v": v}
		}},
		{"setProjectPolicy(project)", "project", acceptsNothingOf, func(v string) (string, map[string]any) {
			q, vars := policy(func(map[string]any) {})
			vars["p"] = v
			return q, vars
		}},
		{"setProjectPolicy(input.allowedSources)", "allowedSources[1]", acceptsDollar, func(v string) (string, map[string]any) {
			return policy(func(in map[string]any) { in["allowedSources"] = []string{"registry.example.com/", v} })
		}},
		{"setProjectPolicy(input.nonOciRuntimeClasses)", "nonOciRuntimeClasses[0]", acceptsNothingOf, func(v string) (string, map[string]any) {
			return policy(func(in map[string]any) { in["nonOciRuntimeClasses"] = []string{v} })
		}},
		{"setProjectPolicy(input.channels.promoterSubjects)", "channels[0].promoterSubjects[0]", acceptsFreeText, func(v string) (string, map[string]any) {
			return policy(func(in map[string]any) {
				in["channels"] = []map[string]any{{"channel": "DEV", "requiredTrust": "ALLOW_UNVERIFIED", "promoterSubjects": []string{v}}}
			})
		}},
	}
	refused, accepted := 0, 0
	for _, c := range cases {
		t.Run(c.arg, func(t *testing.T) {
			for name, v := range hostileStrings {
				q, vars := c.op(v)
				r := ts.Do(tok, q, vars)
				if r.Status >= 500 {
					t.Fatalf("%s: status %d", name, r.Status)
				}
				if c.accepts[name] {
					if len(r.Errors) > 0 {
						t.Errorf("%s: refused a valid value: %+v", name, r.Errors)
					}
					accepted++
					continue
				}
				if len(r.Errors) == 0 {
					t.Errorf("%s: accepted: %s", name, r.Data)
					continue
				}
				e := r.Errors[0]
				if e.Code() != "BAD_USER_INPUT" || e.Extensions["field"] != c.field || !strings.HasPrefix(e.Message, c.field+": ") || len(e.Message) > 400 {
					t.Errorf("%s: got %s field=%v %q, want BAD_USER_INPUT on %s", name, e.Code(), e.Extensions["field"], e.Message, c.field)
				}
				if len(v) > 100 && strings.Contains(e.Message, v) {
					t.Errorf("%s: message echoes the whole value", name)
				}
				refused++
			}
		})
	}
	t.Logf("%d arguments x %d hostile strings: %d refused with BAD_USER_INPUT and the field, %d accepted as plain data", len(cases), len(hostileStrings), refused, accepted)
}

// TestOperatorsInInputAreData: strings that look like MongoDB operators are stored
// and matched as plain strings, and a JSON object where a string belongs never
// reaches the service.
func TestOperatorsInInputAreData(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	tok := token(t, "alice", "payments:project_admin", "payments:publisher", "payments:verifier")
	a := ts.register(tok, "payments", 1, map[string]any{"source": "$where"})
	if a.Source != "$where" {
		t.Fatalf("source = %q", a.Source)
	}
	var out struct {
		DeprecateArtifact artifactJSON `json:"deprecateArtifact"`
	}
	ts.MustDo(tok, `mutation($id: ID!, $r: String) { deprecateArtifact(id: $id, reason: $r) { `+artifactFields+` } }`, map[string]any{"id": a.ID, "r": `{"$gt": ""}`}, &out)
	if ev := out.DeprecateArtifact.Audit[1]; ev.Reason == nil || *ev.Reason != `{"$gt": ""}` {
		t.Fatalf("audit reason = %v", ev.Reason)
	}
	// An operator-looking actor filter matches nobody instead of everybody.
	var feed struct {
		AuditEvents struct {
			Edges []json.RawMessage `json:"edges"`
		} `json:"auditEvents"`
	}
	for _, actor := range []string{`{"$gt": ""}`, `{"$ne": null}`, "$where", `alice" || "1"=="1`} {
		ts.MustDo(tok, `query($a: String) { auditEvents(project: "payments", filter: {actor: $a}) { edges { cursor } } }`, map[string]any{"a": actor}, &feed)
		if len(feed.AuditEvents.Edges) != 0 {
			t.Fatalf("actor filter %q matched %d events", actor, len(feed.AuditEvents.Edges))
		}
	}
	ts.MustDo(tok, `query($a: String) { auditEvents(project: "payments", filter: {actor: $a}) { edges { cursor } } }`, map[string]any{"a": "alice"}, &feed)
	if len(feed.AuditEvents.Edges) != 2 {
		t.Fatalf("actor alice matched %d events, want 2", len(feed.AuditEvents.Edges))
	}
	// JSON objects and arrays where the schema wants a string are refused by the
	// GraphQL layer: the service never sees them.
	for _, v := range []any{map[string]any{"$gt": ""}, map[string]any{"$where": "sleep(1000)"}, []any{"payments"}} {
		r := ts.Do(tok, `query($p: String!) { artifacts(project: $p) { totalCount } }`, map[string]any{"p": v})
		if r.Status >= 500 || len(r.Errors) == 0 || r.Errors[0].Code() != "GRAPHQL_VALIDATION_FAILED" {
			t.Fatalf("%v: %d %+v", v, r.Status, r.Errors)
		}
	}
	// The same in an input object field and in a literal.
	r := ts.Do(tok, `mutation($in: RegisterArtifactInput!) { registerArtifact(input: $in) { id } }`, map[string]any{"in": map[string]any{
		"project": map[string]any{"$ne": ""}, "digest": digestN(2), "kind": "OCI_IMAGE", "sourceType": "OCI_REGISTRY", "source": "r/x",
	}})
	if r.Status >= 500 || len(r.Errors) == 0 || r.Errors[0].Code() != "GRAPHQL_VALIDATION_FAILED" {
		t.Fatalf("input object: %d %+v", r.Status, r.Errors)
	}
	r = ts.Do(tok, `{ artifacts(project: {gt: ""}) { totalCount } }`, nil)
	if r.Status >= 500 || len(r.Errors) == 0 || r.Errors[0].Code() != "GRAPHQL_VALIDATION_FAILED" {
		t.Fatalf("literal: %d %+v", r.Status, r.Errors)
	}
	// Page sizes out of range.
	for _, first := range []int{-1, 101, 1 << 30} {
		e := ts.ErrCode(tok, `query($f: Int) { artifacts(project: "payments", first: $f) { totalCount } }`, map[string]any{"f": first})
		if e.Code() != "BAD_USER_INPUT" || e.Extensions["field"] != "first" {
			t.Fatalf("first=%d: %s %v %q", first, e.Code(), e.Extensions, e.Message)
		}
	}
}
