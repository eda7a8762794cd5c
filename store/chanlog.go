package store

// The promotion log of one channel and environment, chan:<p>:<c>:<env>, with the
// deploy facts of each promotion's artifact (see projections.go for the other
// projections and the outbox).
//
// Every entry carries, besides the promotion, the model.DeployFacts of its artifact
// (trust state, retired or not, the checks passed and which evidence checks passed
// on verified evidence; packed into one int32) and the
// artifact version they were read from. The facts do not depend on any policy, so
// under the policy current at query time deployable decides from them alone which
// promotions cannot be deployable and never loads their artifacts. The head holds
// the open bucket and, per sealed bucket, its time range, the bucket version and
// the distinct facts of its entries: a sealed bucket none of whose facts can be
// deployable is never read. A deployable call therefore reads the head, the sealed
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
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/artifact-trust/control-plane/model"
)

// deployChecks are the checks whose PASSED and FAILED states the packed facts
// record, bit i for deployChecks[i]: every check a policy can require.
var deployChecks = append(append([]model.Check(nil), model.BaselineChecks...), model.ReservedChecks...)

const (
	factsTrustMask  = 0xF    // 1 + index in trustStates; 0: another value
	factsRetired    = 1 << 4 // lifecycle RETIRED
	factsCheckShift = 8      // bit factsCheckShift+i: deployChecks[i] PASSED
	// Bit factsVerifiedShift+i: model.EvidenceChecks[i] PASSED with basis
	// VERIFIED (DeployFacts.Verified).
	factsVerifiedShift = 24
	maxFactsChecks     = factsVerifiedShift - factsCheckShift
	// Bit factsFailedShift+i: deployChecks[i] FAILED.
	factsFailedShift = 32
)

// factsProvenance: SOURCE_POLICY was decided from SLSA provenance
// (DeployFacts.Provenance, kept in storedFacts.P).
const factsProvenance = 1 << 5

// storedFacts are model.DeployFacts as the chan logs keep them: trust, lifecycle
// and checks packed into F (packFacts), the artifact's source, and in K[i] the ids
// of the keys that verified the evidence behind model.EvidenceChecks[i] (trailing
// empty slots left out). In a sealed bucket's summary one storedFacts stands for
// every entry with its F: S is the longest common prefix of their sources and K
// the union of their keys (summarize), so what the summary says may be deployable
// is everything its entries may be, and possibly more.
//
// P is the provenance SOURCE_POLICY was decided from (its facts bit
// factsProvenance), so that its verdict is decided again under the current
// provenance rules from the facts alone. A summary leaves P out: its entries'
// SOURCE_POLICY is then taken as possibly passing (unpackFacts).
type storedFacts struct {
	F int64
	S string
	K [][]string
	P *storedProvenance
}

// storedProvenance is model.DeployFacts' Provenance and ProvenanceKeys.
type storedProvenance struct {
	B string   `bson:"b"`
	R string   `bson:"r,omitempty"`
	K []string `bson:"k,omitempty"`
}

func (p *storedProvenance) equal(o *storedProvenance) bool {
	if p == nil || o == nil {
		return p == o
	}
	return p.B == o.B && p.R == o.R && slices.Equal(p.K, o.K)
}

func (f storedFacts) equal(o storedFacts) bool {
	return f.F == o.F && f.S == o.S && slices.EqualFunc(f.K, o.K, slices.Equal[[]string]) && f.P.equal(o.P)
}

// packFacts packs f. A trust state or check the packing does not know is left out
// (a trust code of 0 makes the entry a candidate under every policy).
func packFacts(f model.DeployFacts) storedFacts {
	v := int64(code(trustStates, f.Trust))
	if f.Retired {
		v |= factsRetired
	}
	for _, c := range f.Passed {
		if i := indexOf(deployChecks, c); i >= 0 && i < maxFactsChecks {
			v |= 1 << (factsCheckShift + i)
		}
	}
	for _, c := range f.Failed {
		if i := indexOf(deployChecks, c); i >= 0 && i < maxFactsChecks {
			v |= 1 << (factsFailedShift + i)
		}
	}
	out := storedFacts{S: f.Source}
	for j, c := range f.Verified {
		i := indexOf(model.EvidenceChecks, c)
		if i < 0 {
			continue
		}
		v |= 1 << (factsVerifiedShift + i)
		if j < len(f.VerifiedKeys) && len(f.VerifiedKeys[j]) > 0 {
			for len(out.K) <= i {
				out.K = append(out.K, nil)
			}
			out.K[i] = slices.Sorted(slices.Values(f.VerifiedKeys[j]))
		}
	}
	if f.Provenance != nil {
		v |= factsProvenance
		out.P = &storedProvenance{B: f.Provenance.BuilderID, R: f.Provenance.SourceRepository, K: slices.Sorted(slices.Values(f.ProvenanceKeys))}
	}
	out.F = v
	return out
}

// unpackFacts unpacks f (summary: f summarizes several entries, see storedFacts);
// false when its trust state is not one packFacts knows.
func unpackFacts(f storedFacts, summary bool) (model.DeployFacts, bool) {
	v := f.F
	t := int(v & factsTrustMask)
	if t == 0 || t > len(trustStates) {
		return model.DeployFacts{}, false
	}
	out := model.DeployFacts{Trust: trustStates[t-1], Retired: v&factsRetired != 0, Source: f.S, SourceIsPrefix: summary}
	for i, c := range deployChecks[:min(len(deployChecks), maxFactsChecks)] {
		if v&(1<<(factsCheckShift+i)) != 0 {
			out.Passed = append(out.Passed, c)
		}
		if v&(1<<(factsFailedShift+i)) != 0 {
			out.Failed = append(out.Failed, c)
		}
	}
	for i, c := range model.EvidenceChecks {
		if v&(1<<(factsVerifiedShift+i)) != 0 {
			out.Verified = append(out.Verified, c)
			var keys []string
			if i < len(f.K) {
				keys = f.K[i]
			}
			out.VerifiedKeys = append(out.VerifiedKeys, keys)
		}
	}
	if v&factsProvenance != 0 {
		if f.P != nil && !summary {
			out.Provenance = &model.ProvenanceFacts{BuilderID: f.P.B, SourceRepository: f.P.R}
			out.ProvenanceKeys = f.P.K
		} else {
			mayPassSourcePolicy(&out)
		}
	}
	return out, true
}

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

func factsOfArtifact(a *model.Artifact) storedFacts { return packFacts(a.DeployFacts()) }

// deployFilter tells from stored facts whether a promotion's artifact may be
// deployable from channel c under policy p (and the key revocations it carries).
// It errs only towards "may": facts it cannot unpack, a policy requiring a check
// the packing does not record, or no policy at all make every promotion a
// candidate.
type deployFilter struct {
	p    *model.Policy
	c    model.Channel
	all  bool
	memo map[string]bool
}

func newDeployFilter(p *model.Policy, c model.Channel) *deployFilter {
	f := &deployFilter{p: p, c: c, all: p == nil, memo: map[string]bool{}}
	if p != nil {
		for _, chk := range append(p.Channel(c).RequiredChecks, p.RequiredChecks...) {
			if i := indexOf(deployChecks, chk); i < 0 || i >= maxFactsChecks {
				f.all = true
			}
		}
	}
	return f
}

func (f *deployFilter) may(sf storedFacts, summary bool) bool {
	if f.all {
		return true
	}
	key := fmt.Sprint(sf.F, summary, sf.S, sf.K, sf.P)
	ok, seen := f.memo[key]
	if !seen {
		facts, known := unpackFacts(sf, summary)
		ok = !known || facts.Deployable(f.p, f.c)
		f.memo[key] = ok
	}
	return ok
}

func (f *deployFilter) mayAny(summary []storedFacts) bool {
	for _, sf := range summary {
		if f.may(sf, true) {
			return true
		}
	}
	return false
}

func (f *deployFilter) keep(es []chanEntry) []chanEntry {
	out := make([]chanEntry, 0, len(es))
	for _, e := range es {
		if f.may(e.facts(), false) {
			out = append(out, e)
		}
	}
	return out
}

// chanHead is chan:<p>:<c>:<env>: the open bucket inline and a summary per sealed
// bucket (Sealed[n] is bucket n; len(Sealed) == Open).
type chanHead struct {
	Open    int           `bson:"o"`
	Entries []chanEntry   `bson:"e"`
	Sealed  chanSummaries `bson:"g"`
}

// chanSealed summarizes sealed bucket n.
type chanSealed struct {
	Range logRange
	// Ver is the bucket document version Facts were computed from.
	Ver int64
	// Facts summarize the bucket's entries (summarize).
	Facts []storedFacts
}

// summarize returns the summary of the facts of es: one storedFacts per distinct
// F, ascending, with the longest common prefix of their sources and the union of
// their keys (see storedFacts).
func summarize(es []chanEntry) []storedFacts {
	out := []storedFacts{}
	for _, e := range es {
		i := slices.IndexFunc(out, func(sf storedFacts) bool { return sf.F == e.F })
		if i < 0 {
			out = append(out, storedFacts{F: e.F, S: e.S, K: cloneKeys(e.K)})
			continue
		}
		out[i].S = commonPrefix(out[i].S, e.S)
		for j, ks := range e.K {
			for len(out[i].K) <= j {
				out[i].K = append(out[i].K, nil)
			}
			for _, k := range ks {
				if !slices.Contains(out[i].K[j], k) {
					out[i].K[j] = append(out[i].K[j], k)
				}
			}
			slices.Sort(out[i].K[j])
		}
	}
	slices.SortFunc(out, func(a, b storedFacts) int { return cmp.Compare(a.F, b.F) })
	return out
}

func cloneKeys(k [][]string) [][]string {
	var out [][]string
	for _, ks := range k {
		out = append(out, slices.Clone(ks))
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

func equalSummaries(a, b []storedFacts) bool { return slices.EqualFunc(a, b, storedFacts.equal) }

func indexOfChanEntry(es []chanEntry, k logKey) int {
	for i := range es {
		if es[i].key() == k {
			return i
		}
	}
	return -1
}

// priorFactsKey marks the context of a write's projections with the packed facts
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
		if err := s.applyChanLog(ctx, a.Project, chanHeadID(a.Project, k.Channel, k.Env), byChan[k], force); err != nil {
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
		if !containsKey(byChan[k], e.key()) {
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
	if e.V <= cur.V || (e.facts().equal(cur.facts()) && !force) {
		return false
	}
	cur.F, cur.S, cur.K, cur.P, cur.V = e.F, e.S, e.K, e.P, e.V
	return true
}

// applyChanLog sets the entries es (promotions of one artifact into the log headed
// by headID) in place where they are, and appends the others to the open bucket.
// An entry in the open bucket or a new one costs one read-modify-write of the
// head; one in a sealed bucket a read of the head and one of the bucket (the head's
// summary of that bucket is rewritten only when its distinct facts change).
func (s *Store) applyChanLog(ctx context.Context, project, headID string, es []chanEntry, force bool) error {
	type pending struct {
		e       chanEntry
		buckets []int // sealed buckets whose range holds e, newest first
	}
	for attempt := 0; attempt < projAttempts; attempt++ {
		var look []pending
		var seen []int64 // the head's recorded version of each sealed bucket
		sealed, full := 0, false
		_, err := update(ctx, s, headID, project, "chan", func(h *chanHead, _ int64) (bool, error) {
			look, seen, sealed = nil, nil, len(h.Sealed)
			for _, b := range h.Sealed {
				seen = append(seen, b.Ver)
			}
			changed := false
			for _, e := range es {
				if i := indexOfChanEntry(h.Entries, e.key()); i >= 0 {
					changed = setFacts(&h.Entries[i], e, force) || changed
					continue
				}
				if in := holding(h.Sealed, e.At); len(in) > 0 {
					look = append(look, pending{e, in}) // look there first, outside this lock
					continue
				}
				h.Entries = append(h.Entries, e)
				changed = true
			}
			full = len(h.Entries) >= s.caps.chans
			return changed, nil
		})
		if err != nil {
			return err
		}
		// The sealed buckets that may hold them, newest first, each read and
		// written once for all the entries it may hold.
		var lists [][]int
		for _, p := range look {
			lists = append(lists, p.buckets)
		}
		buckets := newestFirst(lists...)
		located := map[logKey]bool{}
		for _, n := range buckets {
			var in []chanEntry
			for _, p := range look {
				if !located[p.e.key()] && slices.Contains(p.buckets, n) {
					in = append(in, p.e)
				}
			}
			if len(in) == 0 {
				continue
			}
			found, err := s.setSealedChanEntries(ctx, project, headID, n, in, force, seen[n])
			if err != nil {
				return err
			}
			for k := range found {
				located[k] = true
			}
		}
		var missing []chanEntry
		for _, p := range look {
			if !located[p.e.key()] {
				missing = append(missing, p.e)
			}
		}
		if len(missing) > 0 {
			// In no sealed bucket: append them, unless a seal since moved things (then
			// look again).
			_, err = update(ctx, s, headID, project, "chan", func(h *chanHead, _ int64) (bool, error) {
				if len(h.Sealed) != sealed {
					return false, errStale
				}
				changed := false
				for _, e := range missing {
					if i := indexOfChanEntry(h.Entries, e.key()); i >= 0 {
						changed = setFacts(&h.Entries[i], e, force) || changed
						continue
					}
					h.Entries = append(h.Entries, e)
					changed = true
				}
				full = len(h.Entries) >= s.caps.chans
				return changed, nil
			})
			if errors.Is(err, errStale) {
				continue
			}
			if err != nil {
				return err
			}
		}
		if full {
			return s.sealChanLog(ctx, project, headID)
		}
		return nil
	}
	return model.Errorf(model.KindConflict, "projection %s is being written concurrently", headID)
}

// setSealedChanEntries sets those of es that are in sealed bucket n of the log
// headed by headID (in one write of the bucket) and returns their keys; then it
// brings the head's summary of that bucket up to the bucket's version (seen: the
// version the head recorded when the caller read it), unless this change left the
// bucket's distinct facts as they were: then the summary of the last version that
// changed them is still right (every writer that changes them and every replay
// writes it, never below the version already recorded).
func (s *Store) setSealedChanEntries(ctx context.Context, project, headID string, n int, es []chanEntry, force bool, seen int64) (map[logKey]bool, error) {
	var found map[logKey]bool
	neutral := false
	var facts []storedFacts
	bver, err := update(ctx, s, bucketID(headID, n), project, "chan-bucket", func(b *bucketData[chanEntry], ver int64) (bool, error) {
		found, neutral = map[logKey]bool{}, false
		if ver == 0 {
			return false, nil
		}
		before := summarize(b.Entries)
		changed, versionOnly := false, false
		for _, e := range es {
			i := indexOfChanEntry(b.Entries, e.key())
			if i < 0 {
				continue
			}
			found[e.key()] = true
			old := b.Entries[i].facts()
			if setFacts(&b.Entries[i], e, force) {
				changed = true
				versionOnly = versionOnly || b.Entries[i].facts().equal(old)
			}
		}
		facts = summarize(b.Entries)
		// A change of facts that leaves the distinct facts alone is neutral; a
		// version recorded alone (force) is not, so that the head follows at once
		// and applying the same state again changes nothing.
		neutral = changed && !versionOnly && equalSummaries(before, facts)
		return changed, nil
	})
	if err != nil || len(found) == 0 || neutral || bver <= seen {
		return found, err
	}
	_, err = update(ctx, s, headID, project, "chan", func(h *chanHead, _ int64) (bool, error) {
		if n >= len(h.Sealed) || h.Sealed[n].Ver >= bver {
			return false, nil
		}
		h.Sealed[n].Ver, h.Sealed[n].Facts = bver, facts
		return true, nil
	})
	return found, err
}

// sealChanLog moves a full open bucket into sealed bucket Open (see sealLog).
func (s *Store) sealChanLog(ctx context.Context, project, headID string) error {
	for attempt := 0; attempt < projAttempts; attempt++ {
		var h chanHead
		ver, err := s.loadProj(ctx, headID, &h)
		if err != nil || ver == 0 || len(h.Entries) < s.caps.chans {
			return err
		}
		n := h.Open
		sortByKeyAsc(h.Entries)
		bver, err := s.writeSealed(ctx, bucketID(headID, n), project, "chan-bucket", bucketData[chanEntry]{Entries: h.Entries}, ver)
		if err != nil {
			return err
		}
		sum := chanSealed{Range: rangeOf(h.Entries), Ver: bver, Facts: summarize(h.Entries)}
		_, err = update(ctx, s, headID, project, "chan", func(cur *chanHead, v int64) (bool, error) {
			if v != ver {
				return false, errStale
			}
			cur.Open, cur.Entries, cur.Sealed = n+1, []chanEntry{}, append(cur.Sealed, sum)
			return true, nil
		})
		if !errors.Is(err, errStale) {
			return err
		}
	}
	return model.Errorf(model.KindConflict, "projection %s is being sealed concurrently", headID)
}

// bulkChanLog appends entries (not in the log yet) to the log headed by headID in a
// few writes: full buckets are inserted sealed, the rest stays inline. With
// replace, the log's previous content is dropped first.
func (s *Store) bulkChanLog(ctx context.Context, project, headID string, entries []chanEntry, replace bool) error {
	return bulkAppend[chanEntry, chanSealed, chanHead](ctx, s, headID, project, "chan", s.caps.chans, entries, replace,
		func(chunk []chanEntry) chanSealed {
			return chanSealed{Range: rangeOf(chunk), Ver: 1, Facts: summarize(chunk)}
		})
}

func (h *chanHead) parts() (int, []chanEntry, []chanSealed) { return h.Open, h.Entries, h.Sealed }
func (h *chanHead) set(open int, es []chanEntry, sl []chanSealed) {
	*h = chanHead{Open: open, Entries: es, Sealed: sl}
}

// chanSummaries is the head's table of sealed buckets stored as one binary value
// of varints (see packed.go): per bucket its range (times as deltas), the bucket
// version, and its summary: the count of facts, then per facts F, S (length, then
// bytes) and K (slot count, then per slot the key count and each key as length
// and bytes).
type chanSummaries []chanSealed

func appendString(b []byte, s string) []byte {
	b = binary.AppendVarint(b, int64(len(s)))
	return append(b, s...)
}

func readString(b []byte) (string, []byte, error) {
	n, b, err := varint(b)
	if err != nil {
		return "", nil, err
	}
	if n < 0 || n > int64(len(b)) {
		return "", nil, errPacked
	}
	return string(b[:n]), b[n:], nil
}

// readCount reads a count of items each taking at least one byte of b.
func readCount(b []byte) (int64, []byte, error) {
	n, b, err := varint(b)
	if err == nil && (n < 0 || n > int64(len(b))) {
		err = errPacked
	}
	return n, b, err
}

func (l chanSummaries) MarshalBSONValue() (byte, []byte, error) {
	body := make([]byte, 0, 8+len(l)*12)
	prev := int64(0)
	for _, s := range l {
		body, prev = appendRange(body, prev, s.Range)
		body = binary.AppendVarint(body, s.Ver)
		body = binary.AppendVarint(body, int64(len(s.Facts)))
		for _, f := range s.Facts {
			body = binary.AppendVarint(body, f.F)
			body = appendString(body, f.S)
			body = binary.AppendVarint(body, int64(len(f.K)))
			for _, ks := range f.K {
				body = binary.AppendVarint(body, int64(len(ks)))
				for _, k := range ks {
					body = appendString(body, k)
				}
			}
		}
	}
	return binaryValue(body)
}

func (l *chanSummaries) UnmarshalBSONValue(typ byte, data []byte) error {
	body, err := binaryBody(typ, data)
	if err != nil || body == nil {
		*l = nil
		return err
	}
	out := chanSummaries{}
	prev := int64(0)
	for len(body) > 0 {
		var s chanSealed
		var n int64
		if s.Range, body, err = readRange(body, prev); err != nil {
			return err
		}
		prev = s.Range.Max
		if s.Ver, body, err = varint(body); err != nil {
			return err
		}
		if n, body, err = readCount(body); err != nil {
			return err
		}
		s.Facts = make([]storedFacts, 0, n)
		for ; n > 0; n-- {
			var f storedFacts
			var slots int64
			if f.F, body, err = varint(body); err != nil {
				return err
			}
			if f.S, body, err = readString(body); err != nil {
				return err
			}
			if slots, body, err = readCount(body); err != nil {
				return err
			}
			for ; slots > 0; slots-- {
				var keys int64
				if keys, body, err = readCount(body); err != nil {
					return err
				}
				var ks []string
				for ; keys > 0; keys-- {
					var k string
					if k, body, err = readString(body); err != nil {
						return err
					}
					ks = append(ks, k)
				}
				f.K = append(f.K, ks)
			}
			s.Facts = append(s.Facts, f)
		}
		out = append(out, s)
	}
	*l = out
	return nil
}
