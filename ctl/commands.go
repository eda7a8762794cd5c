package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/Khan/genqlient/graphql"

	"github.com/artifact-trust/control-plane/ctl/internal/client"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// parseEnum accepts a value of an enum case-insensitively.
func parseEnum[T ~string](flagName, v string, all []T) (T, error) {
	up := strings.ToUpper(strings.TrimSpace(v))
	for _, x := range all {
		if string(x) == up {
			return x, nil
		}
	}
	if v == "" {
		return "", usageErrorf("--%s is required (one of %s)", flagName, joinStrings(all))
	}
	return "", usageErrorf("--%s must be one of %s, not %q", flagName, joinStrings(all), v)
}

func required(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.TrimSpace(pairs[i+1]) == "" {
			return usageErrorf("--%s is required", pairs[i])
		}
	}
	return nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// target names one artifact: --id, or --project with --digest.
type target struct{ id, project, digest string }

func (t *target) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&t.id, "id", "", "artifact `ID` (or use --project with --digest)")
	fs.StringVar(&t.project, "project", "", "`project` of the artifact named by --digest")
	fs.StringVar(&t.digest, "digest", "", "`digest` of the artifact (sha256:... or sha512:...), with --project")
}

func (t *target) check() error {
	switch {
	case t.id != "" && t.digest != "":
		return usageErrorf("give --id, or --project with --digest, not both")
	case t.id != "":
		return nil
	case t.digest == "":
		return usageErrorf("--id (or --project with --digest) is required")
	case t.project == "":
		return usageErrorf("--digest needs --project")
	}
	return nil
}

// resolve returns the artifact id of t, looking the digest up when needed.
func (t *target) resolve(ctx context.Context, c graphql.Client) (string, error) {
	if t.id != "" {
		return t.id, nil
	}
	resp, err := client.GetArtifactByDigest(ctx, c, t.project, t.digest)
	if err != nil {
		return "", err
	}
	if resp.ArtifactByDigest == nil {
		return "", &cliError{code: exitFailed, msg: fmt.Sprintf("NOT_FOUND: no artifact with digest %s in project %s", t.digest, t.project)}
	}
	return resp.ArtifactByDigest.Id, nil
}

// where describes a channel and optional environment for messages.
func where(ch client.Channel, env string) string {
	if env == "" {
		return string(ch)
	}
	return string(ch) + " (environment " + env + ")"
}

func cmdRegister(ctx context.Context, a *app, args []string) error {
	fs := a.newFlagSet("--project P --digest sha256:... --kind KIND --source-type TYPE --source LOCATOR [--runtime-class C] [--tag T ...]")
	var project, digest, kind, sourceType, source, runtimeClass string
	var tags stringList
	fs.StringVar(&project, "project", "", "`project` to register in (required)")
	fs.StringVar(&digest, "digest", "", "canonical `digest`: sha256:<64 hex> or sha512:<128 hex> (required)")
	fs.StringVar(&kind, "kind", "", "`kind`: "+joinStrings(client.AllArtifactKind)+" (required)")
	fs.StringVar(&sourceType, "source-type", "", "source `type`: "+joinStrings(client.AllSourceType)+" (required)")
	fs.StringVar(&source, "source", "", "source `locator`, e.g. registry.example.com/team/app (required)")
	fs.StringVar(&runtimeClass, "runtime-class", "", "runtime `class` (used by the non-OCI policy)")
	fs.Var(&tags, "tag", "label, repeatable; never used to decide a deployment")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := required("project", project, "digest", digest, "source", source); err != nil {
		return err
	}
	k, err := parseEnum("kind", kind, client.AllArtifactKind)
	if err != nil {
		return err
	}
	st, err := parseEnum("source-type", sourceType, client.AllSourceType)
	if err != nil {
		return err
	}
	c, ctx, cancel, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := client.RegisterArtifact(ctx, c, client.RegisterArtifactInput{
		Project: project, Digest: digest, Kind: k, SourceType: st, Source: source,
		RuntimeClass: optional(runtimeClass), Tags: tags,
	})
	if err != nil {
		return err
	}
	return a.printArtifact(resp.RegisterArtifact)
}

// parseResult parses CHECK=PASSED|FAILED[:detail].
func parseResult(s string) (client.VerificationResultInput, error) {
	check, rest, ok := strings.Cut(s, "=")
	if !ok {
		return client.VerificationResultInput{}, usageErrorf("--result %q: want CHECK=PASSED|FAILED[:detail], e.g. SIGNATURE=PASSED:cosign verified", s)
	}
	result, detail, hasDetail := strings.Cut(rest, ":")
	c, err := parseEnum("result CHECK", check, client.AllVerificationCheck)
	if err != nil {
		return client.VerificationResultInput{}, usageErrorf("--result %q: the check must be one of SIGNATURE, ATTESTATION, BLOB_DIGEST, SOURCE_POLICY", s)
	}
	r, err := parseEnum("result", result, client.AllCheckResult)
	if err != nil {
		return client.VerificationResultInput{}, usageErrorf("--result %q: the result must be PASSED or FAILED", s)
	}
	in := client.VerificationResultInput{Check: c, Result: r}
	if hasDetail {
		in.Detail = &detail
	}
	return in, nil
}

func cmdVerify(ctx context.Context, a *app, args []string) error {
	fs := a.newFlagSet("(--id ID | --project P --digest D) [--result CHECK=PASSED|FAILED[:detail] ...] [--reason R] [--require-verified]")
	var t target
	var results stringList
	var reason string
	var requireVerified bool
	t.addFlags(fs)
	fs.Var(&results, "result", "submitted trust input CHECK=PASSED|FAILED[:detail], repeatable; CHECK is SIGNATURE, ATTESTATION, BLOB_DIGEST or SOURCE_POLICY")
	fs.StringVar(&reason, "reason", "", "why (kept in the audit event)")
	fs.BoolVar(&requireVerified, "require-verified", false, "exit 3 unless the artifact ends VERIFIED (without it, only FAILED_VERIFICATION exits 3)")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := t.check(); err != nil {
		return err
	}
	in := client.VerifyArtifactInput{Reason: optional(reason)}
	for _, r := range results {
		res, err := parseResult(r)
		if err != nil {
			return err
		}
		in.Results = append(in.Results, res)
	}
	c, ctx, cancel, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if in.ArtifactId, err = t.resolve(ctx, c); err != nil {
		return err
	}
	resp, err := client.VerifyArtifact(ctx, c, in)
	if err != nil {
		return err
	}
	if err := a.printArtifact(resp.VerifyArtifact); err != nil {
		return err
	}
	return verifyOutcome(ctx, c, resp.VerifyArtifact, requireVerified)
}

// promotionFlags are the flags of promote and evaluate.
type promotionFlags struct {
	t       target
	channel string
	env     string
	reason  string
	// justification and ticket ask for a break-glass promotion.
	justification string
	ticket        string
}

func (p *promotionFlags) parse(a *app, args []string) (client.PromoteArtifactInput, error) {
	fs := a.newFlagSet("(--id ID | --project P --digest D) --channel DEV|TEST|STAGING|PROD [--env E] [--reason R] [--break-glass-justification J --ticket T]")
	p.t.addFlags(fs)
	fs.StringVar(&p.channel, "channel", "", "target `channel`: "+joinStrings(client.AllChannel)+" (required)")
	fs.StringVar(&p.env, "env", "", "target `environment` within the channel")
	fs.StringVar(&p.reason, "reason", "", "why")
	fs.StringVar(&p.justification, "break-glass-justification", "", "break glass: bypass approvals, soak, windows and freezes (and nothing else) for this `reason`; needs --ticket and the channel's break-glass rights")
	fs.StringVar(&p.ticket, "ticket", "", "the incident or change `ticket` of a break-glass promotion")
	if err := a.parse(fs, args); err != nil {
		return client.PromoteArtifactInput{}, err
	}
	if (p.justification == "") != (p.ticket == "") {
		return client.PromoteArtifactInput{}, usageErrorf("a break-glass promotion needs both --break-glass-justification and --ticket")
	}
	if err := p.t.check(); err != nil {
		return client.PromoteArtifactInput{}, err
	}
	ch, err := parseEnum("channel", p.channel, client.AllChannel)
	if err != nil {
		return client.PromoteArtifactInput{}, err
	}
	in := client.PromoteArtifactInput{Channel: ch, TargetEnvironment: optional(p.env), Reason: optional(p.reason)}
	if p.justification != "" {
		in.BreakGlass = &client.BreakGlassInput{Justification: p.justification, Ticket: p.ticket}
	}
	return in, nil
}

func cmdPromote(ctx context.Context, a *app, args []string) error {
	var p promotionFlags
	in, err := p.parse(a, args)
	if err != nil {
		return err
	}
	c, ctx, cancel, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if in.ArtifactId, err = p.t.resolve(ctx, c); err != nil {
		return err
	}
	resp, err := client.PromoteArtifact(ctx, c, in)
	if err != nil {
		return err
	}
	return a.printArtifact(resp.PromoteArtifact)
}

func cmdEvaluate(ctx context.Context, a *app, args []string) error {
	var p promotionFlags
	in, err := p.parse(a, args)
	if err != nil {
		return err
	}
	c, ctx, cancel, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if in.ArtifactId, err = p.t.resolve(ctx, c); err != nil {
		return err
	}
	resp, err := client.EvaluatePromotion(ctx, c, in)
	if err != nil {
		return err
	}
	d := resp.EvaluatePromotion
	if d.Reasons == nil {
		d.Reasons = []string{}
	}
	if a.json() {
		if err := a.printJSON(d); err != nil {
			return err
		}
	} else if d.Allowed {
		fmt.Fprintf(a.stdout, "allowed: promotion of %s into %s would be accepted\n", in.ArtifactId, where(in.Channel, p.env))
	}
	if !d.Allowed {
		lines := d.Reasons
		if d.EligibleAt != nil {
			lines = append(lines, "eligible at "+ts(*d.EligibleAt)+" if nothing else changes")
		}
		return &cliError{code: exitDenied, msg: fmt.Sprintf("promotion of %s into %s would be refused by policy:", in.ArtifactId, where(in.Channel, p.env)), lines: lines}
	}
	return nil
}

func cmdDeployable(ctx context.Context, a *app, args []string) error {
	fs := a.newFlagSet("--project P --channel DEV|TEST|STAGING|PROD [--env E]")
	var project, channel, env string
	fs.StringVar(&project, "project", "", "`project` (required)")
	fs.StringVar(&channel, "channel", "", "`channel`: "+joinStrings(client.AllChannel)+" (required)")
	fs.StringVar(&env, "env", "", "target `environment`; without it, only promotions that named no environment count")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := required("project", project); err != nil {
		return err
	}
	ch, err := parseEnum("channel", channel, client.AllChannel)
	if err != nil {
		return err
	}
	c, ctx, cancel, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := client.Deployable(ctx, c, project, ch, optional(env))
	if err != nil {
		return err
	}
	d := resp.Deployable
	if d == nil {
		msg := fmt.Sprintf("nothing is deployable to %s in project %s: no promotion there whose artifact is still eligible (not revoked, not failed, not retired, meeting the channel's current trust and checks)", where(ch, env), project)
		if envs := otherEnvironments(ctx, c, project, ch, env); len(envs) > 0 {
			msg += fmt.Sprintf("; %s has promotions for --env %s", ch, strings.Join(envs, ", "))
		}
		return &cliError{code: exitFailed, msg: msg + fmt.Sprintf("; see 'artifactctl status --project %s'", project)}
	}
	if a.json() {
		return a.printJSON(d)
	}
	_, err = fmt.Fprintln(a.stdout, d.Digest)
	return err
}

// otherEnvironments lists the environments of channel ch, other than env, that
// have received promotions: the usual mistake behind an empty deployable answer
// is a missing or misspelt --env. Best effort: errors give no hint.
func otherEnvironments(ctx context.Context, c graphql.Client, project string, ch client.Channel, env string) []string {
	resp, err := client.ChannelStatus(ctx, c, project)
	if err != nil {
		return nil
	}
	var out []string
	for _, r := range resp.ChannelStatus {
		if r.Channel != ch || str(r.TargetEnvironment) == env {
			continue
		}
		if e := str(r.TargetEnvironment); e == "" {
			out = append(out, "(none)")
		} else {
			out = append(out, e)
		}
	}
	sort.Strings(out)
	return out
}

func channelRank(c client.Channel) int {
	for i, x := range client.AllChannel {
		if x == c {
			return i
		}
	}
	return len(client.AllChannel)
}

func cmdStatus(ctx context.Context, a *app, args []string) error {
	fs := a.newFlagSet("--project P")
	var project string
	fs.StringVar(&project, "project", "", "`project` (required)")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := required("project", project); err != nil {
		return err
	}
	c, ctx, cancel, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := client.ChannelStatus(ctx, c, project)
	if err != nil {
		return err
	}
	rows := resp.ChannelStatus
	if rows == nil {
		rows = []client.ChannelStatusRow{}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if ri, rj := channelRank(rows[i].Channel), channelRank(rows[j].Channel); ri != rj {
			return ri < rj
		}
		return str(rows[i].TargetEnvironment) < str(rows[j].TargetEnvironment)
	})
	if a.json() {
		return a.printJSON(rows)
	}
	t := newTable(a.stdout, "CHANNEL", "ENV", "DIGEST", "PROMOTED_BY", "PROMOTED_AT", "TRUST", "LIFECYCLE")
	for _, r := range rows {
		t.row(string(r.Channel), str(r.TargetEnvironment), r.Digest, r.PromotedBy, ts(r.PromotedAt), string(r.Artifact.TrustState), string(r.Artifact.LifecycleState))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(rows) == 0 {
		fmt.Fprintf(a.stderr, "project %s has no promotions yet\n", project)
	}
	return nil
}

func cmdGet(ctx context.Context, a *app, args []string) error {
	fs := a.newFlagSet("--id ID | --project P --digest D")
	var t target
	t.addFlags(fs)
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := t.check(); err != nil {
		return err
	}
	c, ctx, cancel, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	var art *client.ArtifactFields
	if t.id != "" {
		resp, err := client.GetArtifact(ctx, c, t.id)
		if err != nil {
			return err
		}
		art = resp.Artifact
	} else {
		resp, err := client.GetArtifactByDigest(ctx, c, t.project, t.digest)
		if err != nil {
			return err
		}
		art = resp.ArtifactByDigest
	}
	if art == nil {
		return &cliError{code: exitFailed, msg: "NOT_FOUND: no such artifact (or none you may read)"}
	}
	return a.printArtifact(*art)
}

// lifecycleCommand runs revoke, deprecate or retire.
func lifecycleCommand(ctx context.Context, a *app, args []string, reasonRequired bool,
	call func(ctx context.Context, c graphql.Client, id, reason string) (client.ArtifactFields, error)) error {
	fs := a.newFlagSet("(--id ID | --project P --digest D) --reason R")
	var t target
	var reason string
	t.addFlags(fs)
	help := "why (kept in the audit event)"
	if reasonRequired {
		help += " (required)"
	}
	fs.StringVar(&reason, "reason", "", help)
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := t.check(); err != nil {
		return err
	}
	if reasonRequired {
		if err := required("reason", reason); err != nil {
			return err
		}
	}
	c, ctx, cancel, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	id, err := t.resolve(ctx, c)
	if err != nil {
		return err
	}
	art, err := call(ctx, c, id, reason)
	if err != nil {
		return err
	}
	return a.printArtifact(art)
}

func cmdRevoke(ctx context.Context, a *app, args []string) error {
	return lifecycleCommand(ctx, a, args, true, func(ctx context.Context, c graphql.Client, id, reason string) (client.ArtifactFields, error) {
		resp, err := client.RevokeArtifact(ctx, c, id, reason)
		if err != nil {
			return client.ArtifactFields{}, err
		}
		return resp.RevokeArtifact, nil
	})
}

func cmdDeprecate(ctx context.Context, a *app, args []string) error {
	return lifecycleCommand(ctx, a, args, false, func(ctx context.Context, c graphql.Client, id, reason string) (client.ArtifactFields, error) {
		resp, err := client.DeprecateArtifact(ctx, c, id, optional(reason))
		if err != nil {
			return client.ArtifactFields{}, err
		}
		return resp.DeprecateArtifact, nil
	})
}

func cmdRetire(ctx context.Context, a *app, args []string) error {
	return lifecycleCommand(ctx, a, args, false, func(ctx context.Context, c graphql.Client, id, reason string) (client.ArtifactFields, error) {
		resp, err := client.RetireArtifact(ctx, c, id, optional(reason))
		if err != nil {
			return client.ArtifactFields{}, err
		}
		return resp.RetireArtifact, nil
	})
}

func cmdAudit(ctx context.Context, a *app, args []string) error {
	// --correlation-id after "audit" filters the feed; the request's own
	// correlation id can still be given before the command name.
	fs := a.newFlagSet("--project P [--action A] [--actor S] [--artifact ID|DIGEST] [--correlation-id C] [--break-glass] [--first N] [--after CURSOR]", "correlation-id")
	var project, action, actor, artifact, cid, after string
	var first int
	var breakGlass bool
	fs.BoolVar(&breakGlass, "break-glass", false, "only break-glass promotions")
	fs.StringVar(&project, "project", "", "`project` (required)")
	fs.StringVar(&action, "action", "", "only this `action`, e.g. app_artifact.promote (or just promote)")
	fs.StringVar(&actor, "actor", "", "only events of this actor `subject`")
	fs.StringVar(&artifact, "artifact", "", "only events of this artifact (`ID`, or a digest in --project)")
	fs.StringVar(&cid, "correlation-id", "", "only events of this request `ID` (to send a correlation id, put --correlation-id before 'audit')")
	fs.IntVar(&first, "first", 50, "page size `N`")
	fs.StringVar(&after, "after", "", "continue after this `cursor` (printed on stderr when there are more)")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := required("project", project); err != nil {
		return err
	}
	if first <= 0 {
		return usageErrorf("--first must be positive")
	}
	if action != "" && !strings.Contains(action, ".") {
		action = "app_artifact." + action
	}
	c, ctx, cancel, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if strings.Contains(artifact, ":") {
		t := target{project: project, digest: artifact}
		if artifact, err = t.resolve(ctx, c); err != nil {
			return err
		}
	}
	var filter *client.AuditFilter
	if action != "" || actor != "" || artifact != "" || cid != "" || breakGlass {
		filter = &client.AuditFilter{Action: optional(action), Actor: optional(actor), ArtifactId: optional(artifact), CorrelationId: optional(cid)}
		if breakGlass {
			filter.BreakGlass = &breakGlass
		}
	}
	resp, err := client.AuditEvents(ctx, c, project, filter, first, optional(after))
	if err != nil {
		return err
	}
	conn := resp.AuditEvents
	events := make([]client.AuditEvent, 0, len(conn.Edges))
	for _, e := range conn.Edges {
		events = append(events, e.Node)
	}
	if a.json() {
		return a.printJSON(struct {
			Events   []client.AuditEvent `json:"events"`
			PageInfo client.PageInfo     `json:"pageInfo"`
		}{events, conn.PageInfo})
	}
	t := newTable(a.stdout, "AT", "ACTION", "ACTOR", "DIGEST", "FROM", "TO", "TARGET", "CORRELATION_ID", "REASON")
	for _, e := range events {
		target := ""
		if e.PromotionChannel != nil {
			target = string(*e.PromotionChannel)
			if env := str(e.PromotionEnvironment); env != "" {
				target += "/" + env
			}
		}
		t.row(ts(e.At), e.Action, e.Actor, e.Digest, str(e.FromState), str(e.ToState), target, e.CorrelationId, str(e.Reason))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if conn.PageInfo.HasNextPage && conn.PageInfo.EndCursor != nil {
		fmt.Fprintf(a.stderr, "more events: add --after %s\n", *conn.PageInfo.EndCursor)
	}
	return nil
}

func cmdPolicy(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprint(a.stdout, "Usage:\n  artifactctl policy get --project P\n  artifactctl policy set --project P --file POLICY.json   (- for stdin)\n  artifactctl policy allow-source --project P --source PREFIX [--source PREFIX ...]\n")
			return errHelp
		}
		return usageErrorf("want 'policy get', 'policy set' or 'policy allow-source'")
	}
	sub, args := args[0], args[1:]
	a.cmd = "policy " + sub
	switch sub {
	case "get", "show":
		return cmdPolicyGet(ctx, a, args)
	case "set":
		return cmdPolicySet(ctx, a, args)
	case "allow-source":
		return cmdPolicyAllowSource(ctx, a, args)
	}
	return usageErrorf("unknown policy command %q: want get, set or allow-source", sub)
}

func cmdPolicyGet(ctx context.Context, a *app, args []string) error {
	fs := a.newFlagSet("--project P")
	var project string
	fs.StringVar(&project, "project", "", "`project` (required)")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := required("project", project); err != nil {
		return err
	}
	c, ctx, cancel, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := client.ProjectPolicy(ctx, c, project)
	if err != nil {
		return err
	}
	return a.printPolicy(resp.ProjectPolicy)
}

// readOnlyPolicyKeys are fields of 'policy get --output json' that are not
// input, dropped so that its output can be edited and set again.
var readOnlyPolicyKeys = []string{"version", "updatedAt", "updatedBy", "freeze"}

// requiredPolicyKeys must be present in a policy file: a missing boolean would
// silently become false.
var requiredPolicyKeys = []string{"allowedSourceTypes", "allowedSources", "allowNonOci", "strictProgression"}

// parsePolicyFile reads a ProjectPolicyInput as JSON, strictly.
func parsePolicyFile(data []byte, project string) (client.ProjectPolicyInput, error) {
	var in client.ProjectPolicyInput
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return in, usageErrorf("policy file is not a JSON object: %v", err)
	}
	if p, ok := raw["project"]; ok {
		var s string
		if err := json.Unmarshal(p, &s); err != nil || s != project {
			return in, usageErrorf("policy file is for project %s, not --project %s", p, project)
		}
		delete(raw, "project")
	}
	for _, k := range readOnlyPolicyKeys {
		delete(raw, k)
	}
	for _, k := range requiredPolicyKeys {
		if _, ok := raw[k]; !ok {
			return in, usageErrorf("policy file misses %q (required: %s)", k, strings.Join(requiredPolicyKeys, ", "))
		}
	}
	cleaned, _ := json.Marshal(raw)
	dec := json.NewDecoder(strings.NewReader(string(cleaned)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return in, usageErrorf("policy file: %v", err)
	}
	return in, nil
}

func cmdPolicySet(ctx context.Context, a *app, args []string) error {
	fs := a.newFlagSet("--project P --file POLICY.json")
	var project, file string
	fs.StringVar(&project, "project", "", "`project` (required)")
	fs.StringVar(&file, "file", "", "ProjectPolicyInput as JSON (`path`, - for stdin); 'policy get -o json' output is accepted (required)")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := required("project", project, "file", file); err != nil {
		return err
	}
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return &cliError{code: exitFailed, msg: fmt.Sprintf("read policy file: %v", err)}
	}
	in, err := parsePolicyFile(data, project)
	if err != nil {
		return err
	}
	c, ctx, cancel, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := client.SetProjectPolicy(ctx, c, project, in)
	if err != nil {
		return err
	}
	return a.printPolicy(resp.SetProjectPolicy)
}

func cmdWhoami(ctx context.Context, a *app, args []string) error {
	fs := a.newFlagSet("")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	c, ctx, cancel, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := client.Whoami(ctx, c)
	if err != nil {
		return err
	}
	v := resp.Viewer
	if a.json() {
		return a.printJSON(v)
	}
	fmt.Fprintf(a.stdout, "SUBJECT     %s\nACTOR_TYPE  %s\n\n", v.Subject, v.ActorType)
	t := newTable(a.stdout, "PROJECT", "ROLES")
	for _, r := range v.Roles {
		t.row(r.Project, joinStrings(r.Roles))
	}
	return t.flush()
}
