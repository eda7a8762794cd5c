package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/artifact-trust/control-plane/ctl/internal/client"
)

// printJSON writes v as indented JSON: the GraphQL field names and shapes.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table writes aligned columns; empty cells print as "-".
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		c = strings.Map(func(r rune) rune {
			if r == '\t' || r == '\n' || r == '\r' {
				return ' '
			}
			return r
		}, c)
		if c == "" {
			c = "-"
		}
		cells[i] = c
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func tsp(t *time.Time) string {
	if t == nil {
		return ""
	}
	return ts(*t)
}

func joinStrings[T ~string](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = string(x)
	}
	return strings.Join(s, ",")
}

// printArtifact shows one artifact: its fields, then its verification records
// and promotions (json: the artifact object).
func (a *app) printArtifact(art client.ArtifactFields) error {
	if a.json() {
		return a.printJSON(art)
	}
	t := newTable(a.stdout)
	t.row("ID", art.Id)
	t.row("PROJECT", art.Project)
	t.row("DIGEST", art.Digest)
	t.row("KIND", string(art.Kind))
	t.row("SOURCE", string(art.SourceType)+" "+art.Source)
	t.row("RUNTIME_CLASS", str(art.RuntimeClass))
	t.row("TAGS", strings.Join(art.Tags, ","))
	t.row("LIFECYCLE", string(art.LifecycleState))
	t.row("TRUST", string(art.TrustState))
	t.row("VERSION", fmt.Sprint(art.Version))
	t.row("CREATED_AT", ts(art.CreatedAt))
	t.row("UPDATED_AT", ts(art.UpdatedAt))
	if err := t.flush(); err != nil {
		return err
	}
	if len(art.Verification) > 0 {
		fmt.Fprintln(a.stdout)
		t := newTable(a.stdout, "CHECK", "RESULT", "BASIS", "RECORDED_BY", "RECORDED_AT", "DETAIL")
		for _, v := range art.Verification {
			t.row(string(v.Check), string(v.Result), string(v.Basis), v.RecordedBy, ts(v.RecordedAt), str(v.Detail))
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	if len(art.Promotions) > 0 {
		fmt.Fprintln(a.stdout)
		t := newTable(a.stdout, "CHANNEL", "ENV", "PROMOTED_BY", "PROMOTED_AT", "CORRELATION_ID", "REASON")
		for _, p := range art.Promotions {
			t.row(string(p.Channel), str(p.TargetEnvironment), p.PromotedBy, ts(p.PromotedAt), p.CorrelationId, str(p.Reason))
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	return nil
}

// printPolicy shows a project policy and its channels.
func (a *app) printPolicy(p client.PolicyFields) error {
	if a.json() {
		return a.printJSON(p)
	}
	t := newTable(a.stdout)
	t.row("PROJECT", p.Project)
	t.row("VERSION", fmt.Sprint(p.Version))
	t.row("UPDATED_BY", str(p.UpdatedBy))
	t.row("UPDATED_AT", tsp(p.UpdatedAt))
	t.row("ALLOWED_SOURCE_TYPES", joinStrings(p.AllowedSourceTypes))
	t.row("ALLOWED_SOURCES", joinStrings(p.AllowedSources))
	t.row("ALLOW_NON_OCI", fmt.Sprint(p.AllowNonOci))
	t.row("NON_OCI_RUNTIME_CLASSES", joinStrings(p.NonOciRuntimeClasses))
	t.row("REQUIRED_CHECKS", joinStrings(p.RequiredChecks))
	t.row("STRICT_PROGRESSION", fmt.Sprint(p.StrictProgression))
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout)
	t = newTable(a.stdout, "CHANNEL", "REQUIRED_TRUST", "REQUIRED_CHECKS", "PROMOTER_ROLES", "PROMOTER_SUBJECTS", "APPROVALS", "APPROVER_ROLES", "SOAK_S", "BREAK_GLASS")
	for _, c := range p.Channels {
		bg := joinStrings(append(joinable(c.BreakGlassRoles), c.BreakGlassSubjects...))
		t.row(string(c.Channel), string(c.RequiredTrust), joinStrings(c.RequiredChecks), joinStrings(c.PromoterRoles), joinStrings(c.PromoterSubjects),
			fmt.Sprint(c.RequiredApprovals), joinStrings(c.ApproverRoles), fmt.Sprint(c.MinSoakSeconds), bg)
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(p.PromotionWindows) > 0 {
		fmt.Fprintln(a.stdout)
		t = newTable(a.stdout, "WINDOW_CHANNELS", "DAYS", "FROM", "TO", "TIME_ZONE")
		for _, w := range p.PromotionWindows {
			t.row(joinStrings(w.Channels), joinStrings(w.Days), w.Start, w.End, w.TimeZone)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	if p.Freeze != nil {
		fmt.Fprintln(a.stdout)
		return a.printFreeze(p)
	}
	return nil
}

// joinable turns enum values into strings.
func joinable[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}
