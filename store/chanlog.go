package store

// The promotion log of one channel and environment, chan:<p>:<c>:<env>, with the
// deploy facts of each promotion's artifact (see projections.go for the other
// projections and the outbox).
//
// Every entry carries, besides the promotion, the model.DeployFacts of its artifact
// (trust state, retired or not, the checks passed and failed and which evidence
// checks passed on verified evidence, all by name, and the SLSA provenance, builder
// id and source repository, SOURCE_POLICY was decided from: storedFacts) and the
// artifact version they were read from. The facts do not depend on any policy, so
// under the policy current at query time deployable decides from them alone which
// promotions cannot be deployable and never loads their artifacts. The head holds
// the open bucket and, per sealed bucket, its time range, the bucket version and
// the distinct facts of its entries (without their provenance: a SOURCE_POLICY
// decided from provenance counts there as possibly passing): a sealed bucket none
// of whose facts can be deployable is never read. A deployable call therefore reads the head, the sealed
// buckets with candidates newer than the answer (usually none), and the artifacts
// of those candidates (usually one), however many ineligible promotions the
// channel holds. The service still decides on the loaded artifact
// (model.PickDeployable): facts only ever skip a promotion, never choose one.
//
// Consistency. Every artifact write brings the facts of all its entries up to date
// through the outbox, like every projection (a write known not to change the
// artifact's facts only adds its new promotions). An entry is set in place under
// its document's write lock, never from an older artifact version than the one it
// holds (see setFacts), so a late or replayed write of an older state never
// overwrites a newer one, and once every write's projections have run each entry
// holds its artifact's current facts. A sealed bucket's summary in the head is
// rewritten after the bucket, never below the bucket version recorded (as the
// list's counts are). Until a write's projections have run, deployable may miss
// that write's effect, as it misses a promotion not yet in the log; it never
// answers with an artifact that is not deployable, because the artifact decides.

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/artifact-trust/control-plane/model"
)

// storedFacts are model.DeployFacts as the list and the chan logs keep them, in a
// canonical order (checks by name, keys sorted) so that equal facts are equal
// values and encode to equal bytes. In a sealed bucket's summary one storedFacts
// stands for every entry of its class (trust, retirement, checks and whether
// SOURCE_POLICY was decided from provenance), and for entries of that class with
// fewer verified checks (covers): Source is the longest common prefix of their
// sources and Verified[i].Keys the union of their keys, or none when an entry's
// check names none (a check verified by no key is never revoked: summarize), so
// what the summary says may be deployable, asked with each subset of its verified
// checks (mayAny), is everything its entries may be, and possibly more.
//
// FromProvenance says SOURCE_POLICY was decided from SLSA provenance, and
// Provenance is that provenance (builder, source repository and the keys that
// verified it), so that its verdict is decided again under the current
// provenance rules from the facts alone. A summary keeps FromProvenance but
// leaves Provenance out: its entries' SOURCE_POLICY is then taken as possibly
// passing (model). Facts naming provenance they do not hold cannot be decided
// again from here (known).
type storedFacts struct {
	Trust          model.TrustState  `bson:"trustState"`
	Retired        bool              `bson:"retired,omitempty"`
	Passed         []model.Check     `bson:"passed,omitempty"`
	Failed         []model.Check     `bson:"failed,omitempty"`
	Verified       []verifiedCheck   `bson:"verified,omitempty"`
	Source         string            `bson:"source,omitempty"`
	FromProvenance bool              `bson:"sourcePolicyFromProvenance,omitempty"`
	Provenance     *storedProvenance `bson:"provenance,omitempty"`
}

// verifiedCheck is an evidence check that passed on verified evidence, with the
// ids of the trusted keys that verified it.
type verifiedCheck struct {
	Check model.Check `bson:"check"`
	Keys  []string    `bson:"keys,omitempty"`
}

func (v verifiedCheck) equal(o verifiedCheck) bool {
	return v.Check == o.Check && slices.Equal(v.Keys, o.Keys)
}

// storedProvenance is model.DeployFacts' Provenance and ProvenanceKeys (sorted).
type storedProvenance struct {
	BuilderID        string   `bson:"builderId"`
	SourceRepository string   `bson:"sourceRepository,omitempty"`
	Keys             []string `bson:"keys,omitempty"`
}

func (p *storedProvenance) equal(o *storedProvenance) bool {
	if p == nil || o == nil {
		return p == o
	}
	return p.BuilderID == o.BuilderID && p.SourceRepository == o.SourceRepository && slices.Equal(p.Keys, o.Keys)
}

func (f storedFacts) equal(o storedFacts) bool {
	return f.sameClass(o) && f.Source == o.Source && slices.EqualFunc(f.Verified, o.Verified, verifiedCheck.equal) &&
		f.Provenance.equal(o.Provenance)
}

// sameClass reports whether f and o differ at most in their source, keys and
// provenance.
func (f storedFacts) sameClass(o storedFacts) bool {
	return f.Trust == o.Trust && f.Retired == o.Retired && slices.Equal(f.Passed, o.Passed) && slices.Equal(f.Failed, o.Failed) &&
		slices.EqualFunc(f.Verified, o.Verified, func(a, b verifiedCheck) bool { return a.Check == b.Check }) &&
		f.FromProvenance == o.FromProvenance
}

// compareClass orders facts by class (see sameClass).
func compareClass(a, b storedFacts) int {
	checks := func(v []verifiedCheck) []model.Check {
		out := make([]model.Check, len(v))
		for i := range v {
			out[i] = v[i].Check
		}
		return out
	}
	return cmp.Or(cmp.Compare(a.Trust, b.Trust), cmp.Compare(fmt.Sprint(a.Retired), fmt.Sprint(b.Retired)),
		slices.Compare(a.Passed, b.Passed), slices.Compare(a.Failed, b.Failed), slices.Compare(checks(a.Verified), checks(b.Verified)),
		cmp.Compare(fmt.Sprint(a.FromProvenance), fmt.Sprint(b.FromProvenance)))
}

// storedFactsOf returns f in its stored form.
func storedFactsOf(f model.DeployFacts) storedFacts {
	out := storedFacts{Trust: f.Trust, Retired: f.Retired, Source: f.Source}
	sorted := func(cs []model.Check) []model.Check {
		if len(cs) == 0 {
			return nil
		}
		return slices.Compact(slices.Sorted(slices.Values(cs)))
	}
	out.Passed, out.Failed = sorted(f.Passed), sorted(f.Failed)
	for j, c := range f.Verified {
		v := verifiedCheck{Check: c}
		if j < len(f.VerifiedKeys) && len(f.VerifiedKeys[j]) > 0 {
			v.Keys = slices.Sorted(slices.Values(f.VerifiedKeys[j]))
		}
		out.Verified = append(out.Verified, v)
	}
	slices.SortStableFunc(out.Verified, func(a, b verifiedCheck) int { return cmp.Compare(a.Check, b.Check) })
	if p := f.Provenance; p != nil {
		out.FromProvenance = true
		out.Provenance = &storedProvenance{BuilderID: p.BuilderID, SourceRepository: p.SourceRepository}
		if len(f.ProvenanceKeys) > 0 {
			out.Provenance.Keys = slices.Sorted(slices.Values(f.ProvenanceKeys))
		}
	}
	return out
}

// model returns f as model.DeployFacts (summary: f summarizes several entries,
// see storedFacts).
func (f storedFacts) model(summary bool) model.DeployFacts {
	out := model.DeployFacts{Trust: f.Trust, Retired: f.Retired, Source: f.Source, SourceIsPrefix: summary,
		Passed: slices.Clone(f.Passed), Failed: slices.Clone(f.Failed)}
	for _, v := range f.Verified {
		out.Verified = append(out.Verified, v.Check)
		out.VerifiedKeys = append(out.VerifiedKeys, slices.Clone(v.Keys))
	}
	if f.FromProvenance {
		if p := f.Provenance; p != nil && !summary {
			out.Provenance = &model.ProvenanceFacts{BuilderID: p.BuilderID, SourceRepository: p.SourceRepository}
			out.ProvenanceKeys = slices.Clone(p.Keys)
		} else {
			mayPassSourcePolicy(&out)
		}
	}
	return out
}

// known reports whether f's verdicts can be decided again from f alone: false
// when SOURCE_POLICY was decided from provenance f does not hold.
func (f storedFacts) known() bool { return !f.FromProvenance || f.Provenance != nil }

// mayPassSourcePolicy widens facts whose SOURCE_POLICY was decided from
// provenance they do not hold (a summary of several entries) to what any
// provenance rules may make of it: SOURCE_POLICY PASSED on verified evidence
// (on the keys the facts hold for it, so a pass resting only on revoked keys
// still counts as none).
func mayPassSourcePolicy(f *model.DeployFacts) {
	sp := model.CheckSourcePolicy
	f.Failed = slices.DeleteFunc(f.Failed, func(c model.Check) bool { return c == sp })
	if !slices.Contains(f.Passed, sp) {
		f.Passed = append(f.Passed, sp)
	}
	if !slices.Contains(f.Verified, sp) {
		f.Verified = append(f.Verified, sp)
		f.VerifiedKeys = append(f.VerifiedKeys, nil)
	}
}

func factsOfArtifact(a *model.Artifact) storedFacts { return storedFactsOf(a.DeployFacts()) }

// deployFilter tells from stored facts whether a promotion's artifact may be
// deployable from channel c under policy p (and the key revocations it carries).
// The facts hold every trust state and check by name, so the answer is the
// model's (model.DeployFacts.Deployable); with no policy every promotion is a
// candidate.
type deployFilter struct {
	p    *model.Policy
	c    model.Channel
	memo map[string]bool
}

func newDeployFilter(p *model.Policy, c model.Channel) *deployFilter {
	return &deployFilter{p: p, c: c, memo: map[string]bool{}}
}

func (f *deployFilter) may(sf storedFacts, summary bool) bool {
	if f.p == nil {
		return true
	}
	// The memo key holds the provenance itself, not its address.
	prov := sf.Provenance
	sf.Provenance = nil
	key := fmt.Sprint(summary, sf, prov)
	sf.Provenance = prov
	ok, seen := f.memo[key]
	if !seen {
		ok = sf.model(summary).Deployable(f.p, f.c)
		f.memo[key] = ok
	}
	return ok
}

func (f *deployFilter) mayAny(summary []storedFacts) bool {
	for _, sf := range summary {
		// A class stands for entries of that class with fewer verified checks
		// too (coversFacts): ask it with each subset of them, the others claimed
		// (still PASSED), all of them first. SOURCE_POLICY decided from
		// provenance is verified in every entry of the class (or FAILED, then
		// not verified in any): it stays in every subset.
		for mask := 1<<len(sf.Verified) - 1; mask >= 0; mask-- {
			v := sf
			v.Verified = nil
			skip := false
			for i, c := range sf.Verified {
				in := mask&(1<<i) != 0
				if sf.FromProvenance && c.Check == model.CheckSourcePolicy && !in {
					skip = true
				}
				if in {
					v.Verified = append(v.Verified, c)
				}
			}
			if skip {
				continue
			}
			if f.may(v, true) {
				return true
			}
		}
	}
	return false
}

// chanSummary is the head's record of a sealed chan log bucket: the distinct facts
// of its entries (summarize).
type chanSummary struct {
	Facts []storedFacts `bson:"deployFacts"`
}

// summarize returns the summary of the facts of es: one storedFacts per class,
// in class order, with the longest common prefix of their sources and the union
// of their keys, and no provenance (see storedFacts).
func summarize(es []chanEntry) []storedFacts {
	out := []storedFacts{}
	type slot struct{ class, check int }
	keyless := map[slot]bool{} // a check some entry of the class names no key for
	for _, e := range es {
		i := slices.IndexFunc(out, e.Facts.sameClass)
		if i < 0 {
			i = len(out)
			out = append(out, storedFacts{Trust: e.Facts.Trust, Retired: e.Facts.Retired, Passed: e.Facts.Passed, Failed: e.Facts.Failed,
				Verified: cloneVerified(e.Facts.Verified), Source: e.Facts.Source, FromProvenance: e.Facts.FromProvenance})
		} else {
			out[i].Source = commonPrefix(out[i].Source, e.Facts.Source)
		}
		for j, v := range e.Facts.Verified {
			if len(v.Keys) == 0 {
				keyless[slot{i, j}] = true
			}
			keys := &out[i].Verified[j].Keys
			for _, k := range v.Keys {
				if !slices.Contains(*keys, k) {
					*keys = append(*keys, k)
				}
			}
			slices.Sort(*keys)
		}
	}
	for at := range keyless {
		out[at.class].Verified[at.check].Keys = nil
	}
	slices.SortFunc(out, compareClass)
	return out
}

func cloneVerified(v []verifiedCheck) []verifiedCheck {
	var out []verifiedCheck
	for _, c := range v {
		out = append(out, verifiedCheck{Check: c.Check, Keys: slices.Clone(c.Keys)})
	}
	return out
}

func commonPrefix(a, b string) string {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return a[:n]
}

// coversFacts reports whether rec, the summary of a sealed bucket in its head,
// says at least as much may be deployable as exact, the summary of what the
// bucket holds now: every class of exact is covered by a class of rec (covers).
// Then the head need not be written: the summary only ever lets deployable skip a
// bucket, and deployable asks a class for every entry it covers (mayAny).
func coversFacts(rec, exact []storedFacts) bool {
	for _, e := range exact {
		if !slices.ContainsFunc(rec, func(r storedFacts) bool { return r.covers(e) }) {
			return false
		}
	}
	return true
}

// covers reports whether r, a class of a summary, covers the facts e: the same
// trust, lifecycle, checks passed and failed and provenance flag, a source r's is
// a prefix of, and verified checks among r's, each with keys among r's keys for
// it. Fewer verified checks are covered (a re-verification whose claimed results
// replace verified evidence leaves the record as it is), because deployable asks
// each class with every subset of its verified checks; the others are not, since
// a claimed check can count where the same check verified by revoked keys does not
// (model.DeployFacts.Derive), and the reverse.
func (r storedFacts) covers(e storedFacts) bool {
	if r.Trust != e.Trust || r.Retired != e.Retired || !slices.Equal(r.Passed, e.Passed) || !slices.Equal(r.Failed, e.Failed) ||
		r.FromProvenance != e.FromProvenance || !strings.HasPrefix(e.Source, r.Source) {
		return false
	}
	for _, v := range e.Verified {
		i := slices.IndexFunc(r.Verified, func(w verifiedCheck) bool { return w.Check == v.Check })
		if i < 0 {
			return false
		}
		if len(r.Verified[i].Keys) > 0 && (len(v.Keys) == 0 || slices.ContainsFunc(v.Keys, func(k string) bool { return !slices.Contains(r.Verified[i].Keys, k) })) {
			return false // r's check may be revoked where e's is not
		}
	}
	return true
}

// priorFactsKey marks the context of a write's projections with the stored facts
// its artifact had before the write (set by UpdateArtifact, which knows them).
type priorFactsKey struct{}

func withPriorFacts(ctx context.Context, before *model.Artifact) context.Context {
	return context.WithValue(ctx, priorFactsKey{}, factsOfArtifact(before))
}

// factsUnchanged reports whether the write whose projections ctx carries is known
// to have left a's facts as they were.
func factsUnchanged(ctx context.Context, a *model.Artifact) bool {
	v, ok := ctx.Value(priorFactsKey{}).(storedFacts)
	return ok && v.equal(factsOfArtifact(a))
}

// applyChanLogs brings the chan logs of a's promotions up to date with a: each
// promotion is added to its log where it is missing, and every entry of a gets a's
// current facts; when the write is known to have left the facts as they were, only
// the promotions from index from are looked at. Idempotent.
func (s *Store) applyChanLogs(ctx context.Context, a *model.Artifact, from int) error {
	force := !factsUnchanged(ctx, a)
	byChan, keys, err := s.chanEntriesOf(ctx, a, from, force)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := s.applyChanLog(ctx, a.Project, k, byChan[k], force); err != nil {
			return err
		}
	}
	return nil
}

// chanEntriesOf returns the chan log entries a write of a sets, by log (keys in
// the order first met): those of its promotions from index from, or with force
// (the write changed a's facts, or may have) those of all its promotions.
func (s *Store) chanEntriesOf(ctx context.Context, a *model.Artifact, from int, force bool) (map[chanKey][]chanEntry, []chanKey, error) {
	from = min(max(from, 0), len(a.Promotions))
	prs := a.Promotions[from:]
	if force {
		// Every entry of a takes the new facts, those of promotions moved to the
		// overflow too: an entry left with old facts saying "may be deployable"
		// would make deployable load a for nothing after a mass revocation of
		// artifacts promoted into the same target again and again (a rollback).
		// Only writes that change a's facts pay this read.
		prs = a.Promotions
		if a.PromotionsFrom > 0 {
			older, err := s.ArtifactPromotions(ctx, a, 0, a.PromotionsFrom)
			if err != nil {
				return nil, nil, err
			}
			prs = append(older, a.Promotions...)
		}
	}
	byChan := map[chanKey][]chanEntry{}
	var keys []chanKey
	for _, p := range prs {
		k := chanKey{p.Channel, p.TargetEnvironment}
		e := chanEntryOf(a, p)
		if _, ok := byChan[k]; !ok {
			keys = append(keys, k)
		}
		if !containsKey(byChan[k], (*chanEntry).key, e.key()) {
			byChan[k] = append(byChan[k], e)
		}
	}
	return byChan, keys, nil
}

// setFacts sets the facts of entry cur from e (both of one promotion; e from the
// write being applied) and reports whether it changed cur. An entry whose facts are
// from a version at least as new as e's is left alone, so an older state never
// overwrites a newer one. An entry with other facts takes e's; one with the same
// facts takes e's version only when force is set (the write changed the facts, or
// may have): the write that last changed an artifact's facts then records its
// version in every entry even where a missed write had left them right by chance,
// and a late write of an older state cannot bring the old facts back.
func setFacts(cur *chanEntry, e chanEntry, force bool) bool {
	if e.V <= cur.V || (e.Facts.equal(cur.Facts) && !force) {
		return false
	}
	cur.Facts, cur.V = e.Facts, e.V
	return true
}

// applyChanLog sets the entries es (promotions of one artifact into the log of
// k) in place where they are (setFacts), and appends the others. An entry in the
// open bucket or a new one costs one read-modify-write of the head; one in a
// sealed bucket a read of the head and one of the bucket (the head's summary of
// that bucket is rewritten only when its distinct facts change).
func (s *Store) applyChanLog(ctx context.Context, project string, k chanKey, es []chanEntry, force bool) error {
	return s.chanLog(project, k.Channel, k.Env).Upsert(ctx, es, func(cur *chanEntry, e chanEntry) bool { return setFacts(cur, e, force) })
}
