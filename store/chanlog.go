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
	"context"
	"encoding/binary"
	"errors"
	"slices"

	"github.com/artifact-trust/control-plane/model"
)

// deployChecks are the checks whose PASSED state the packed facts record, bit i
// for deployChecks[i]: every check a policy can require.
var deployChecks = append(append([]model.Check(nil), model.BaselineChecks...), model.ReservedChecks...)

const (
	factsTrustMask  = 0xF    // 1 + index in trustStates; 0: another value
	factsRetired    = 1 << 4 // lifecycle RETIRED
	factsCheckShift = 8
	// Bit factsVerifiedShift+i: model.EvidenceChecks[i] PASSED with basis
	// VERIFIED (DeployFacts.Verified).
	factsVerifiedShift = 24
	maxFactsChecks     = factsVerifiedShift - factsCheckShift
)

// packFacts packs f. A trust state or check the packing does not know is left out
// (a trust code of 0 makes the entry a candidate under every policy).
func packFacts(f model.DeployFacts) int32 {
	v := code(trustStates, f.Trust)
	if f.Retired {
		v |= factsRetired
	}
	for _, c := range f.Passed {
		if i := indexOf(deployChecks, c); i >= 0 && i < maxFactsChecks {
			v |= 1 << (factsCheckShift + i)
		}
	}
	for _, c := range f.Verified {
		if i := indexOf(model.EvidenceChecks, c); i >= 0 {
			v |= 1 << (factsVerifiedShift + i)
		}
	}
	return v
}

// unpackFacts unpacks v; false when its trust state is not one packFacts knows.
func unpackFacts(v int32) (model.DeployFacts, bool) {
	t := int(v & factsTrustMask)
	if t == 0 || t > len(trustStates) {
		return model.DeployFacts{}, false
	}
	f := model.DeployFacts{Trust: trustStates[t-1], Retired: v&factsRetired != 0}
	for i, c := range deployChecks[:min(len(deployChecks), maxFactsChecks)] {
		if v&(1<<(factsCheckShift+i)) != 0 {
			f.Passed = append(f.Passed, c)
		}
	}
	for i, c := range model.EvidenceChecks {
		if v&(1<<(factsVerifiedShift+i)) != 0 {
			f.Verified = append(f.Verified, c)
		}
	}
	return f, true
}

func factsOfArtifact(a *model.Artifact) int32 { return packFacts(a.DeployFacts()) }

// deployFilter tells from packed facts whether a promotion's artifact may be
// deployable from channel c under policy p. It errs only towards "may": facts it
// cannot unpack, a policy requiring a check the packing does not record, or no
// policy at all make every promotion a candidate.
type deployFilter struct {
	p    *model.Policy
	c    model.Channel
	all  bool
	memo map[int32]bool
}

func newDeployFilter(p *model.Policy, c model.Channel) *deployFilter {
	f := &deployFilter{p: p, c: c, all: p == nil, memo: map[int32]bool{}}
	if p != nil {
		for _, chk := range p.Channel(c).RequiredChecks {
			if i := indexOf(deployChecks, chk); i < 0 || i >= maxFactsChecks {
				f.all = true
			}
		}
	}
	return f
}

func (f *deployFilter) may(v int32) bool {
	if f.all {
		return true
	}
	ok, seen := f.memo[v]
	if !seen {
		facts, known := unpackFacts(v)
		ok = !known || facts.Deployable(f.p, f.c)
		f.memo[v] = ok
	}
	return ok
}

func (f *deployFilter) mayAny(vs []int32) bool {
	for _, v := range vs {
		if f.may(v) {
			return true
		}
	}
	return false
}

func (f *deployFilter) keep(es []chanEntry) []chanEntry {
	out := make([]chanEntry, 0, len(es))
	for _, e := range es {
		if f.may(e.F) {
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
	// Facts are the distinct facts of the bucket's entries, ascending.
	Facts []int32
}

// factsOf returns the distinct facts of es, ascending.
func factsOf(es []chanEntry) []int32 {
	out := []int32{}
	for _, e := range es {
		if !slices.Contains(out, e.F) {
			out = append(out, e.F)
		}
	}
	slices.Sort(out)
	return out
}

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
	v, ok := ctx.Value(priorFactsKey{}).(int32)
	return ok && v == factsOfArtifact(a)
}

// applyChanLogs brings the chan logs of a's promotions up to date with a: each
// promotion is added to its log where it is missing, and every entry of a gets a's
// current facts; when the write is known to have left the facts as they were, only
// the promotions from index from are looked at. Idempotent.
func (s *Store) applyChanLogs(ctx context.Context, a *model.Artifact, from int) error {
	force := !factsUnchanged(ctx, a)
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
				return err
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
	for _, k := range keys {
		if err := s.applyChanLog(ctx, a.Project, chanHeadID(a.Project, k.Channel, k.Env), byChan[k], force); err != nil {
			return err
		}
	}
	return nil
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
	if e.V <= cur.V || (e.F == cur.F && !force) {
		return false
	}
	cur.F, cur.V = e.F, e.V
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
				var in []int
				for n := len(h.Sealed) - 1; n >= 0; n-- {
					if h.Sealed[n].Range.contains(e.At) {
						in = append(in, n)
					}
				}
				if len(in) > 0 {
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
		var missing []chanEntry
	next:
		for _, p := range look {
			for _, n := range p.buckets {
				found, err := s.setSealedChanEntry(ctx, project, headID, n, p.e, force, seen[n])
				if err != nil {
					return err
				}
				if found {
					continue next
				}
			}
			missing = append(missing, p.e)
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

// setSealedChanEntry sets e in sealed bucket n of the log headed by headID if it is
// there, and then brings the head's summary of that bucket up to the bucket's
// version (seen: the version the head recorded when the caller read it), unless
// this change left the bucket's distinct facts as they were: then the summary of
// the last version that changed them is still right (every writer that changes
// them and every replay writes it, never below the version already recorded).
func (s *Store) setSealedChanEntry(ctx context.Context, project, headID string, n int, e chanEntry, force bool, seen int64) (bool, error) {
	found, neutral := false, false
	var facts []int32
	bver, err := update(ctx, s, bucketID(headID, n), project, "chan-bucket", func(b *bucketData[chanEntry], ver int64) (bool, error) {
		found, neutral = false, false
		i := indexOfChanEntry(b.Entries, e.key())
		if ver == 0 || i < 0 {
			return false, nil
		}
		found = true
		before, old := factsOf(b.Entries), b.Entries[i].F
		changed := setFacts(&b.Entries[i], e, force)
		facts = factsOf(b.Entries)
		// A change of facts that leaves the distinct facts alone is neutral; a
		// version recorded alone (force) is not, so that the head follows at once
		// and applying the same state again changes nothing.
		neutral = changed && b.Entries[i].F != old && slices.Equal(before, facts)
		return changed, nil
	})
	if err != nil || !found || neutral || bver <= seen {
		return found, err
	}
	_, err = update(ctx, s, headID, project, "chan", func(h *chanHead, _ int64) (bool, error) {
		if n >= len(h.Sealed) || h.Sealed[n].Ver >= bver {
			return false, nil
		}
		h.Sealed[n].Ver, h.Sealed[n].Facts = bver, facts
		return true, nil
	})
	return true, err
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
		sum := chanSealed{Range: rangeOf(h.Entries), Ver: bver, Facts: factsOf(h.Entries)}
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
			return chanSealed{Range: rangeOf(chunk), Ver: 1, Facts: factsOf(chunk)}
		})
}

func (h *chanHead) parts() (int, []chanEntry, []chanSealed) { return h.Open, h.Entries, h.Sealed }
func (h *chanHead) set(open int, es []chanEntry, sl []chanSealed) {
	*h = chanHead{Open: open, Entries: es, Sealed: sl}
}

// chanSummaries is the head's table of sealed buckets stored as one binary value
// of varints (see packed.go): per bucket its range (times as deltas), the bucket
// version, and its distinct facts (count, then values).
type chanSummaries []chanSealed

func (l chanSummaries) MarshalBSONValue() (byte, []byte, error) {
	body := make([]byte, 0, 8+len(l)*12)
	prev := int64(0)
	for _, s := range l {
		body, prev = appendRange(body, prev, s.Range)
		body = binary.AppendVarint(body, s.Ver)
		body = binary.AppendVarint(body, int64(len(s.Facts)))
		for _, f := range s.Facts {
			body = binary.AppendVarint(body, int64(f))
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
		var d, k int64
		if s.Range, body, err = readRange(body, prev); err != nil {
			return err
		}
		prev = s.Range.Max
		if s.Ver, body, err = varint(body); err != nil {
			return err
		}
		if k, body, err = varint(body); err != nil {
			return err
		}
		if k < 0 || k > int64(len(body)) {
			return errPacked
		}
		s.Facts = make([]int32, 0, k)
		for ; k > 0; k-- {
			if d, body, err = varint(body); err != nil {
				return err
			}
			s.Facts = append(s.Facts, int32(d))
		}
		out = append(out, s)
	}
	*l = out
	return nil
}
