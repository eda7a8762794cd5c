package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/artifact-trust/control-plane/ctl/internal/client"
)

// cmdApprove and cmdReject record an approver's decision on a promotion.
func cmdApprove(ctx context.Context, a *app, args []string) error { return decide(ctx, a, args, true) }
func cmdReject(ctx context.Context, a *app, args []string) error  { return decide(ctx, a, args, false) }

func decide(ctx context.Context, a *app, args []string, approve bool) error {
	fs := a.newFlagSet("(--id ID | --project P --digest D) --channel DEV|TEST|STAGING|PROD [--env E] [--comment C]")
	var t target
	var channel, env, comment string
	t.addFlags(fs)
	fs.StringVar(&channel, "channel", "", "`channel` the promotion goes into: "+joinStrings(client.AllChannel)+" (required)")
	fs.StringVar(&env, "env", "", "target `environment` the promotion goes into (an approval counts for exactly that one)")
	fs.StringVar(&comment, "comment", "", "why")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := t.check(); err != nil {
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
	in := client.ApprovalInput{Channel: ch, TargetEnvironment: optional(env), Comment: optional(comment)}
	if in.ArtifactId, err = t.resolve(ctx, c); err != nil {
		return err
	}
	var ap client.ApprovalFields
	if approve {
		resp, err := client.ApprovePromotion(ctx, c, in)
		if err != nil {
			return err
		}
		ap = resp.ApprovePromotion
	} else {
		resp, err := client.RejectPromotion(ctx, c, in)
		if err != nil {
			return err
		}
		ap = resp.RejectPromotion
	}
	if a.json() {
		return a.printJSON(ap)
	}
	tb := newTable(a.stdout)
	tb.row("ARTIFACT", ap.ArtifactId)
	tb.row("TARGET", where(ap.Channel, str(ap.TargetEnvironment)))
	tb.row("DECISION", string(ap.Decision))
	tb.row("DECIDED_BY", ap.DecidedBy)
	tb.row("DECIDED_AT", ts(ap.DecidedAt))
	if ap.Decision == client.ApprovalDecisionApproved {
		tb.row("EXPIRES_AT", ts(ap.ExpiresAt))
	}
	tb.row("POLICY_VERSION", fmt.Sprint(ap.PolicyVersion))
	return tb.flush()
}

func cmdFreeze(ctx context.Context, a *app, args []string) error {
	fs := a.newFlagSet("--project P --reason R [--channel C ...] [--until RFC3339 | --for DURATION]")
	var project, reason, until string
	var dur time.Duration
	var channels stringList
	fs.StringVar(&project, "project", "", "`project` (required)")
	fs.StringVar(&reason, "reason", "", "why (required)")
	fs.Var(&channels, "channel", "freeze only this `channel` (repeatable; none: every channel)")
	fs.StringVar(&until, "until", "", "end of the freeze, RFC 3339 `time` (none: until unfreeze)")
	fs.DurationVar(&dur, "for", 0, "end of the freeze as a `duration` from now, e.g. 4h")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := required("project", project, "reason", reason); err != nil {
		return err
	}
	var end *time.Time
	switch {
	case until != "" && dur != 0:
		return usageErrorf("give --until or --for, not both")
	case until != "":
		u, err := time.Parse(time.RFC3339, until)
		if err != nil {
			return usageErrorf("--until must be an RFC 3339 time such as 2026-03-11T18:00:00+01:00: %v", err)
		}
		end = &u
	case dur < 0:
		return usageErrorf("--for must be positive")
	case dur > 0:
		u := time.Now().Add(dur)
		end = &u
	}
	var chans []client.Channel
	for _, s := range channels {
		ch, err := parseEnum("channel", s, client.AllChannel)
		if err != nil {
			return err
		}
		chans = append(chans, ch)
	}
	c, ctx, cancel, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := client.FreezePromotions(ctx, c, project, chans, reason, end)
	if err != nil {
		return err
	}
	return a.printFreeze(resp.FreezePromotions)
}

func cmdUnfreeze(ctx context.Context, a *app, args []string) error {
	fs := a.newFlagSet("--project P --reason R")
	var project, reason string
	fs.StringVar(&project, "project", "", "`project` (required)")
	fs.StringVar(&reason, "reason", "", "why (required)")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := required("project", project, "reason", reason); err != nil {
		return err
	}
	c, ctx, cancel, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := client.UnfreezePromotions(ctx, c, project, reason)
	if err != nil {
		return err
	}
	return a.printFreeze(resp.UnfreezePromotions)
}

func (a *app) printFreeze(p client.PolicyFields) error {
	if a.json() {
		return a.printJSON(p)
	}
	f := p.Freeze
	if f == nil {
		_, err := fmt.Fprintf(a.stdout, "promotions in project %s are not frozen (policy version %d)\n", p.Project, p.Version)
		return err
	}
	scope := "every channel"
	if len(f.Channels) > 0 {
		scope = joinStrings(f.Channels)
	}
	end := "until unfrozen"
	if f.Until != nil {
		end = "until " + ts(*f.Until)
	}
	_, err := fmt.Fprintf(a.stdout, "promotions into %s of project %s are frozen %s (by %s at %s: %s; policy version %d)\n", scope, p.Project, end, f.FrozenBy, ts(f.FrozenAt), f.Reason, p.Version)
	return err
}

func cmdDiff(ctx context.Context, a *app, args []string) error {
	fs := a.newFlagSet("--project P --from CHANNEL[/ENV] --to CHANNEL[/ENV]")
	var project, from, to string
	fs.StringVar(&project, "project", "", "`project` (required)")
	fs.StringVar(&from, "from", "", "first `CHANNEL[/ENV]`, e.g. STAGING/eu-1 (required)")
	fs.StringVar(&to, "to", "", "second `CHANNEL[/ENV]`, e.g. PROD/eu-1 (required)")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := required("project", project, "from", from, "to", to); err != nil {
		return err
	}
	fromIn, err := environmentArg("from", from)
	if err != nil {
		return err
	}
	toIn, err := environmentArg("to", to)
	if err != nil {
		return err
	}
	c, ctx, cancel, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := client.EnvironmentDiff(ctx, c, project, fromIn, toIn)
	if err != nil {
		return err
	}
	d := resp.EnvironmentDiff
	if a.json() {
		return a.printJSON(d)
	}
	tb := newTable(a.stdout, "", strings.ToUpper(from), strings.ToUpper(to))
	side := func(s *client.DiffSide, f func(*client.DiffSide) string) string {
		if s == nil {
			return "-"
		}
		return f(s)
	}
	rows := []struct {
		name string
		f    func(*client.DiffSide) string
	}{
		{"DIGEST", func(s *client.DiffSide) string { return s.Digest }},
		{"ARTIFACT", func(s *client.DiffSide) string { return s.Artifact.Id }},
		{"TRUST", func(s *client.DiffSide) string { return string(s.Artifact.TrustState) }},
		{"LIFECYCLE", func(s *client.DiffSide) string { return string(s.Artifact.LifecycleState) }},
		{"CHECKS_PASSED", func(s *client.DiffSide) string {
			var passed []string
			for _, v := range s.Artifact.Verification {
				if v.Result == client.CheckResultPassed {
					passed = append(passed, string(v.Check))
				}
			}
			return strings.Join(passed, ",")
		}},
		{"PROMOTED_AT", func(s *client.DiffSide) string { return ts(s.PromotedAt) }},
		{"PROMOTED_BY", func(s *client.DiffSide) string { return s.PromotedBy }},
		{"BREAK_GLASS", func(s *client.DiffSide) string { return fmt.Sprint(s.BreakGlass) }},
	}
	for _, r := range rows {
		tb.row(r.name, side(d.From, r.f), side(d.To, r.f))
	}
	if err := tb.flush(); err != nil {
		return err
	}
	if d.Same {
		_, err = fmt.Fprintln(a.stdout, "\nsame digest on both sides")
	} else {
		_, err = fmt.Fprintln(a.stdout, "\nthe two sides differ")
	}
	return err
}

// environmentArg parses CHANNEL[/ENV].
func environmentArg(flagName, s string) (client.EnvironmentInput, error) {
	chName, env, _ := strings.Cut(s, "/")
	ch, err := parseEnum(flagName, strings.ToUpper(chName), client.AllChannel)
	if err != nil {
		return client.EnvironmentInput{}, err
	}
	return client.EnvironmentInput{Channel: ch, TargetEnvironment: optional(env)}, nil
}
