package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/Khan/genqlient/graphql"

	"github.com/artifact-trust/control-plane/ctl/internal/client"
)

// baselineChecks are the checks verifyArtifact runs itself; an artifact is
// VERIFIED when these and the project's required checks have PASSED.
var baselineChecks = []client.VerificationCheck{
	client.VerificationCheckDigestPresent,
	client.VerificationCheckDigestCanonical,
	client.VerificationCheckKindExplicit,
	client.VerificationCheckSourceTypeExplicit,
	client.VerificationCheckSourceAllowlisted,
}

// verifyOutcome turns the trust state a verification ended in into the exit
// code: 3 with the failed checks when it is FAILED_VERIFICATION, and, with
// requireVerified, 3 with the checks still missing when it is not VERIFIED.
func verifyOutcome(ctx context.Context, c graphql.Client, art client.ArtifactFields, requireVerified bool) error {
	switch {
	case art.TrustState == client.TrustStateFailedVerification:
		var lines []string
		for _, v := range art.Verification {
			if v.Result != client.CheckResultFailed {
				continue
			}
			line := string(v.Check)
			if d := str(v.Detail); d != "" {
				line += ": " + d
			}
			if v.Check == client.VerificationCheckSourceAllowlisted {
				line += fmt.Sprintf(" (a project admin allows it with: artifactctl policy allow-source --project %s --source %s, then verify again)", art.Project, sourcePrefixHint(art.Source))
			}
			lines = append(lines, line)
		}
		return &cliError{code: exitDenied, msg: fmt.Sprintf("%s ends FAILED_VERIFICATION; failed checks:", art.Id), lines: lines}
	case requireVerified && art.TrustState != client.TrustStateVerified:
		lines := []string{fmt.Sprintf("trust state is %s", art.TrustState)}
		if art.TrustState == client.TrustStateUnverified {
			lines = missingChecks(ctx, c, art)
		}
		return &cliError{code: exitDenied, msg: fmt.Sprintf("%s is %s, not VERIFIED (--require-verified):", art.Id, art.TrustState), lines: lines}
	}
	return nil
}

// missingChecks names the baseline and policy-required checks of art that have
// not PASSED. Reading the policy is best effort: without it, the baseline only.
func missingChecks(ctx context.Context, c graphql.Client, art client.ArtifactFields) []string {
	need := slices.Clone(baselineChecks)
	fromPolicy := map[client.VerificationCheck]bool{}
	if resp, err := client.ProjectPolicy(ctx, c, art.Project); err == nil {
		for _, ch := range resp.ProjectPolicy.RequiredChecks {
			fromPolicy[ch] = true
			if !slices.Contains(need, ch) {
				need = append(need, ch)
			}
		}
	}
	passed := map[client.VerificationCheck]bool{}
	for _, v := range art.Verification {
		if v.Result == client.CheckResultPassed {
			passed[v.Check] = true
		}
	}
	var lines []string
	for _, ch := range need {
		if passed[ch] {
			continue
		}
		line := string(ch) + " has not PASSED"
		if fromPolicy[ch] {
			line += fmt.Sprintf(" (required by the policy of project %s; submit it with --result %s=PASSED)", art.Project, ch)
		}
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		lines = []string{"a check the project policy requires has not PASSED"}
	}
	return lines
}

// sourcePrefixHint suggests an allowlist prefix for source: up to and including
// its last slash (registry.example.com/team/app -> registry.example.com/team/).
func sourcePrefixHint(source string) string {
	if i := strings.LastIndex(source, "/"); i > 0 {
		return source[:i+1]
	}
	return source
}

// cmdPolicyAllowSource adds source prefixes to a project's allowedSources,
// keeping the rest of the policy as it is. The change is made against the
// version read, so a concurrent change is never overwritten (it is read again
// and retried).
func cmdPolicyAllowSource(ctx context.Context, a *app, args []string) error {
	fs := a.newFlagSet("--project P --source PREFIX [--source PREFIX ...]")
	var project string
	var sources stringList
	fs.StringVar(&project, "project", "", "`project` (required)")
	fs.Var(&sources, "source", "source `prefix` to allow, repeatable, e.g. registry.example.com/payments/ (a source is allowed when it starts with a prefix)")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := required("project", project); err != nil {
		return err
	}
	if len(sources) == 0 {
		return usageErrorf("--source is required")
	}
	for _, s := range sources {
		if strings.TrimSpace(s) == "" {
			return usageErrorf("--source must not be empty")
		}
	}
	c, ctx, cancel, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	const attempts = 3
	for attempt := 1; ; attempt++ {
		resp, err := client.ProjectPolicy(ctx, c, project)
		if err != nil {
			return err
		}
		p := resp.ProjectPolicy
		var added []string
		for _, s := range sources {
			if !slices.Contains(p.AllowedSources, s) && !slices.Contains(added, s) {
				added = append(added, s)
			}
		}
		if len(added) == 0 {
			fmt.Fprintf(a.stderr, "project %s already allows %s; policy unchanged (version %d)\n", project, strings.Join(sources, ", "), p.Version)
			return a.printPolicy(p)
		}
		in := policyInput(p)
		in.AllowedSources = append(in.AllowedSources, added...)
		set, err := client.SetProjectPolicy(ctx, c, project, in)
		if err != nil {
			if errs, _, ok := apiErrors(err); ok && len(errs) > 0 && errorCode(errs[0]) == "CONFLICT" && attempt < attempts {
				continue // changed by someone else since it was read: read it again
			}
			return err
		}
		fmt.Fprintf(a.stderr, "project %s now allows sources starting with %s (policy version %d)\n", project, strings.Join(added, ", "), set.SetProjectPolicy.Version)
		return a.printPolicy(set.SetProjectPolicy)
	}
}

// policyInput is the input that sets policy p again as it is, guarded by its
// version.
func policyInput(p client.PolicyFields) client.ProjectPolicyInput {
	version := p.Version
	in := client.ProjectPolicyInput{
		AllowedSourceTypes:   p.AllowedSourceTypes,
		AllowedSources:       slices.Clone(p.AllowedSources),
		AllowNonOci:          p.AllowNonOci,
		NonOciRuntimeClasses: p.NonOciRuntimeClasses,
		RequiredChecks:       p.RequiredChecks,
		StrictProgression:    p.StrictProgression,
		ExpectedVersion:      &version,
	}
	for _, ch := range p.Channels {
		in.Channels = append(in.Channels, client.ChannelPolicyInput{
			Channel:                 ch.Channel,
			RequiredTrust:           ch.RequiredTrust,
			RequiredChecks:          ch.RequiredChecks,
			PromoterRoles:           ch.PromoterRoles,
			PromoterSubjects:        ch.PromoterSubjects,
			RequireVerifiedEvidence: &ch.RequireVerifiedEvidence,
			RequiredApprovals:       &ch.RequiredApprovals,
			ApproverRoles:           ch.ApproverRoles,
			ForbidSelfApproval:      &ch.ForbidSelfApproval,
			ApprovalValiditySeconds: &ch.ApprovalValiditySeconds,
			MinSoakSeconds:          &ch.MinSoakSeconds,
			BreakGlassRoles:         ch.BreakGlassRoles,
			BreakGlassSubjects:      ch.BreakGlassSubjects,
		})
	}
	for _, w := range p.PromotionWindows {
		in.PromotionWindows = append(in.PromotionWindows, client.PromotionWindowInput(w))
	}
	if p.Provenance != nil {
		in.Provenance = &client.ProvenancePolicyInput{BuilderIds: p.Provenance.BuilderIds, SourceRepositories: p.Provenance.SourceRepositories}
	}
	return in
}
