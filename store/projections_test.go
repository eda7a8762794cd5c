package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
	"github.com/artifact-trust/control-plane/store/internal/bucketlog"
)

// tinyCaps roll every projection over to a new bucket after a handful of entries,
// so short histories exercise sealing, ranges and cross-bucket merges.
var tinyCaps = bucketCaps{list: 4, feed: 5, chans: 2}

func openCaps(t testing.TB, dir string, caps bucketCaps) *Store {
	t.Helper()
	s, err := Open(context.Background(), Config{DataDir: dir, caps: caps}, testLog(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

var (
	histEnvs     = []string{"", "eu", "us"}
	histProjects = []string{"payments", "billing", "search"}
)

// history makes a random but realistic artifact history: registrations and every
// kind of change, each with its audit event, at times that mostly move forward but
// sometimes jump back (concurrent writers, skewed clocks).
type history struct {
	rng  *rand.Rand
	now  time.Time
	arts map[string]*model.Artifact // current state by id
	ids  []string
	n    int
}

func newHistory(seed uint64) *history {
	return &history{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), now: t0, arts: map[string]*model.Artifact{}}
}

func (h *history) tick() time.Time {
	switch r := h.rng.IntN(20); {
	case r == 0:
		h.now = h.now.Add(-time.Duration(h.rng.IntN(20)) * time.Second) // back in time
	case r < 4:
		// same millisecond as the previous write: ties need the id/seq tiebreaks
	default:
		h.now = h.now.Add(time.Duration(h.rng.IntN(3000)+1) * time.Millisecond)
	}
	return h.now
}

// register returns a new artifact of project (not stored).
func (h *history) register(project string) *model.Artifact {
	h.n++
	a := newArtifact(project, fmt.Sprintf("svc-%04d", h.n), h.tick())
	if h.rng.IntN(3) == 0 {
		a.Kind, a.SourceType = model.KindArchive, model.SourceObjectStore
	}
	if h.rng.IntN(2) == 0 {
		a.Tags = append(a.Tags, "even")
	}
	return a
}

// change returns a's next state: one random change with its audit event.
func (h *history) change(a *model.Artifact) *model.Artifact {
	next := *a
	next.Audit = append([]model.AuditEvent(nil), a.Audit...)
	next.Promotions = append([]model.Promotion(nil), a.Promotions...)
	next.Verification = append([]model.VerificationRecord(nil), a.Verification...)
	next.Tags = append([]string(nil), a.Tags...)
	at := h.tick()
	actors := []model.Actor{alice, publisher}
	actor := actors[h.rng.IntN(len(actors))]
	corr := fmt.Sprintf("corr-%d", h.rng.IntN(40))
	var ev model.AuditEvent
	switch r := h.rng.IntN(20); {
	case r < 9: // promote
		// Half of them into DEV without an environment, so that list rolls over.
		c, env := model.ChannelDev, ""
		if h.rng.IntN(2) == 0 {
			c, env = model.Channels[h.rng.IntN(len(model.Channels))], histEnvs[h.rng.IntN(len(histEnvs))]
		}
		next.Promotions = append(next.Promotions, model.Promotion{Channel: c, TargetEnvironment: env, PromotedBy: actor.Subject, PromotedAt: at, CorrelationID: corr})
		ev = next.Event(model.ActionPromote, actor, corr, "", at)
		ev.PromotionChannel, ev.PromotionEnvironment = c, env
		if next.LifecycleState == model.LifecyclePublished {
			ev.FromState, ev.ToState = string(model.LifecyclePublished), string(model.LifecyclePromoted)
			next.LifecycleState = model.LifecyclePromoted
		}
	case r < 15: // verify
		to := []model.TrustState{model.TrustVerified, model.TrustVerified, model.TrustUnverified, model.TrustFailedVerification}[h.rng.IntN(4)]
		res := model.ResultPassed
		if h.rng.IntN(3) == 0 {
			res = model.ResultFailed
		}
		next.Verification = model.MergeVerification(next.Verification, []model.VerificationRecord{{Check: model.CheckAttestation, Result: res, RecordedBy: actor.Subject, RecordedAt: at}})
		ev = next.Event(model.ActionVerify, actor, corr, "", at)
		ev.FromState, ev.ToState = string(next.TrustState), string(to)
		ev.Verification = next.Verification
		next.TrustState = to
	case r < 16:
		ev = next.Event(model.ActionRevoke, actor, corr, "bad", at)
		ev.FromState, ev.ToState = string(next.TrustState), string(model.TrustRevoked)
		next.TrustState = model.TrustRevoked
	case r < 17:
		ev = next.Event(model.ActionDeprecate, actor, corr, "old", at)
		ev.FromState, ev.ToState = string(next.LifecycleState), string(model.LifecycleDeprecated)
		next.LifecycleState = model.LifecycleDeprecated
	case r < 18:
		ev = next.Event(model.ActionRetire, actor, corr, "gone", at)
		ev.FromState, ev.ToState = string(next.LifecycleState), string(model.LifecycleRetired)
		next.LifecycleState = model.LifecycleRetired
	default: // a relabel riding on a verification that changes nothing
		if contains(next.Tags, "even") {
			next.Tags = next.Tags[:1]
		} else {
			next.Tags = append(next.Tags, "even")
		}
		ev = next.Event(model.ActionVerify, actor, corr, "", at)
		ev.FromState, ev.ToState = string(next.TrustState), string(next.TrustState)
	}
	next.Audit = append(next.Audit, ev)
	next.UpdatedAt = at
	return &next
}

// run stores registrations and changes across projects through the store's API.
func (h *history) run(t testing.TB, s *Store, registrations, changes int) {
	t.Helper()
	ctx := context.Background()
	for left := registrations + changes; left > 0; left-- {
		if registrations > 0 && (len(h.ids) == 0 || h.rng.IntN(left) < registrations) {
			registrations--
			a := h.register(histProjects[h.rng.IntN(len(histProjects))])
			mustInsert(t, s, a)
			h.arts[a.ID] = a
			h.ids = append(h.ids, a.ID)
			continue
		}
		cur := h.arts[h.ids[h.rng.IntN(len(h.ids))]]
		next := h.change(cur)
		if err := s.UpdateArtifact(ctx, cur, next); err != nil {
			t.Fatalf("UpdateArtifact: %v", err)
		}
		h.arts[next.ID] = next
	}
}

// ---------------------------------------------------------------------------------
// Comparison with the in-memory oracle and the pure model rules.

// listFilters covers no filter, each single-field kind (answered from the counts),
// tags and combinations (answered by scanning the buckets).
var listFilters = []service.ArtifactFilter{
	{}, {Tag: "even"}, {Tag: "even", TrustState: model.TrustVerified}, {Channel: model.ChannelDev, Kind: model.KindArchive},
	{TrustState: model.TrustVerified}, {TrustState: model.TrustRevoked}, {LifecycleState: model.LifecyclePromoted},
	{LifecycleState: model.LifecycleRetired}, {Kind: model.KindArchive}, {Channel: model.ChannelDev}, {Channel: model.ChannelProd},
}

var auditFilters = []service.AuditFilter{
	{}, {Action: model.ActionPromote}, {Actor: "alice"}, {CorrelationID: "corr-7"},
	{Action: model.ActionVerify, Actor: "ci-release"}, {Action: model.ActionRetire},
}

var (
	lightListFilters  = []service.ArtifactFilter{{}, {Tag: "even", TrustState: model.TrustVerified}, {Channel: model.ChannelDev}}
	lightAuditFilters = []service.AuditFilter{{}, {Action: model.ActionPromote}}
)

// checkProjections compares every read served from the projections with the
// oracle over the same data: list pages (every filter, two page sizes), totals,
// audit pages, deployable per (channel, env) and channel status.
func checkProjections(t *testing.T, s *Store) { checkProjectionsWith(t, s, listFilters, auditFilters) }

// checkProjectionsLight is checkProjections with fewer filters.
func checkProjectionsLight(t *testing.T, s *Store) {
	checkProjectionsWith(t, s, lightListFilters, lightAuditFilters)
}

func checkProjectionsWith(t *testing.T, s *Store, listFilters []service.ArtifactFilter, auditFilters []service.AuditFilter) {
	t.Helper()
	ctx := context.Background()
	o := loadOracle(t, s)
	for _, project := range append(histProjects, "nobody") {
		for _, f := range listFilters {
			want := o.find(project, f)
			for _, size := range []int{3, 20} {
				got, total := listPages(t, s, project, f, size)
				if total != len(want) || !reflect.DeepEqual(ids(got), ids(want)) {
					t.Fatalf("%s list %+v by %d: total %d want %d\n got %v\nwant %v", project, f, size, total, len(want), ids(got), ids(want))
				}
				if size == 20 {
					for i := range got {
						if !reflect.DeepEqual(got[i], want[i]) {
							t.Fatalf("%s list %+v: listed artifact differs from the stored one:\n got %+v\nwant %+v", project, f, got[i], want[i])
						}
					}
					checkSummaries(t, s, project, f, got, total)
				}
			}
			// A cursor in the middle, compared page for page with the oracle.
			if len(want) > 2 {
				mid := want[len(want)/2]
				q := service.ArtifactQuery{Project: project, Filter: f, First: 4, After: &model.Cursor{At: mid.CreatedAt, ID: mid.ID}}
				got, err := s.ListArtifacts(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if w := o.listArtifacts(q); !reflect.DeepEqual(got, w) {
					t.Fatalf("%s list %+v after %s:\n got %v %v %d\nwant %v %v %d", project, f, mid.ID, ids(got.Items), got.HasNext, got.TotalCount, ids(w.Items), w.HasNext, w.TotalCount)
				}
			}
			p, err := s.ListArtifacts(ctx, service.ArtifactQuery{Project: project, Filter: f, First: 0})
			if err != nil || len(p.Items) != 0 || p.TotalCount != len(want) || p.HasNext != (len(want) > 0) {
				t.Fatalf("%s first=0 %+v: %+v %v (want total %d)", project, f, p, err, len(want))
			}
		}

		for _, f := range auditFilters {
			want := o.auditEvents(service.AuditQuery{Project: project, Filter: f, First: 1 << 30}).Items
			for _, size := range []int{7, 50} {
				if got := auditPagesOf(t, s, project, f, size); !reflect.DeepEqual(got, want) {
					t.Fatalf("%s audit %+v by %d:\n got %d %v\nwant %d %v", project, f, size, len(got), keys(got), len(want), keys(want))
				}
			}
		}
		// The artifactId filter reads the artifact's own trail.
		newest := o.find(project, service.ArtifactFilter{})
		for _, a := range newest[:min(3, len(newest))] {
			for _, f := range []service.AuditFilter{{ArtifactID: a.ID}, {ArtifactID: a.ID, Action: model.ActionPromote}} {
				want := o.auditEvents(service.AuditQuery{Project: project, Filter: f, First: 1 << 30}).Items
				if got := auditPagesOf(t, s, project, f, 2); !reflect.DeepEqual(got, want) {
					t.Fatalf("%s audit %+v:\n got %v\nwant %v", project, f, keys(got), keys(want))
				}
			}
			other := o.auditEvents(service.AuditQuery{Project: "elsewhere", Filter: service.AuditFilter{ArtifactID: a.ID}, First: 10})
			if got := auditPagesOf(t, s, "elsewhere", service.AuditFilter{ArtifactID: a.ID}, 10); len(got) != 0 || len(other.Items) != 0 {
				t.Fatalf("another project's artifact leaks into the feed: %d", len(got))
			}
		}

		for pi, policy := range deployPolicies(project) {
			for _, c := range model.Channels {
				promoted := o.promotedArtifacts(project, c)
				for _, env := range histEnvs {
					want, wantOK := model.PickDeployable(promoted, policy, c, env)
					got, gotOK := deployable(t, s, project, policy, c, env)
					if gotOK != wantOK || (wantOK && (got.Artifact.ID != want.Artifact.ID || !reflect.DeepEqual(got.Promotion, want.Promotion) || !reflect.DeepEqual(got.Artifact, want.Artifact))) {
						t.Fatalf("%s policy %d deployable %s/%q: got %v %s, want %v %s", project, pi, c, env, gotOK, placement(got), wantOK, placement(want))
					}
					// The candidates are exactly the artifacts promoted into (c, env)
					// that are deployable under the policy (the recorded facts are
					// current), newest first, once; without a policy, all of them.
					var deployableNow []*model.Artifact
					for _, a := range promoted {
						if model.Deployable(a, policy, c) {
							deployableNow = append(deployableNow, a)
						}
					}
					if cands, w := candidates(t, s, project, c, env, policy), candidateOrder(deployableNow, c, env); !reflect.DeepEqual(cands, w) {
						t.Fatalf("%s policy %d candidates %s/%q:\n got %v\nwant %v", project, pi, c, env, cands, w)
					}
					if pi == 0 {
						if cands, w := candidates(t, s, project, c, env, nil), candidateOrder(promoted, c, env); !reflect.DeepEqual(cands, w) {
							t.Fatalf("%s candidates without policy %s/%q:\n got %v\nwant %v", project, c, env, cands, w)
						}
					}
				}
			}
		}
		arts, err := s.ChannelStatusArtifacts(ctx, project)
		if err != nil {
			t.Fatal(err)
		}
		got, want := model.ChannelStatus(arts), model.ChannelStatus(o.promotedArtifacts(project, ""))
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s channel status:\n got %v\nwant %v", project, placements(got), placements(want))
		}
	}
}

// deployPolicies are the policies deployable is checked under: the default, one
// that requires more (VERIFIED and ATTESTATION everywhere) and one that requires
// nothing.
func deployPolicies(project string) []*model.Policy {
	def, strict, loose := model.DefaultPolicy(project), model.DefaultPolicy(project), model.DefaultPolicy(project)
	for i := range strict.Channels {
		strict.Channels[i].RequiredTrust = model.TrustRequireVerified
		strict.Channels[i].RequiredChecks = []model.Check{model.CheckAttestation}
		loose.Channels[i].RequiredTrust = model.TrustAllowUnverified
		loose.Channels[i].RequiredChecks = []model.Check{}
	}
	return []*model.Policy{&def, &strict, &loose}
}

// candidates lists the ids DeployCandidates yields.
func candidates(t *testing.T, s *Store, project string, c model.Channel, env string, p *model.Policy) []string {
	t.Helper()
	var out []string
	for a, err := range s.DeployCandidates(context.Background(), project, c, env, p) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, a.ID)
	}
	return out
}

// deployable is service.Deployable's use of the store.
func deployable(t *testing.T, s *Store, project string, p *model.Policy, c model.Channel, env string) (model.Placement, bool) {
	t.Helper()
	for a, err := range s.DeployCandidates(context.Background(), project, c, env, p) {
		if err != nil {
			t.Fatal(err)
		}
		if pl, ok := model.PickDeployable([]*model.Artifact{a}, p, c, env); ok {
			return pl, true
		}
	}
	return model.Placement{}, false
}

// candidateOrder is the order DeployCandidates must yield: artifacts by their newest
// promotion into (c, env), newest first (promotedAt, then artifact id).
func candidateOrder(arts []*model.Artifact, c model.Channel, env string) []string {
	type cand struct {
		id string
		at time.Time
	}
	var cs []cand
	for _, a := range arts {
		var newest *time.Time
		for _, p := range a.Promotions {
			if p.Channel == c && p.TargetEnvironment == env && (newest == nil || p.PromotedAt.After(*newest)) {
				at := p.PromotedAt
				newest = &at
			}
		}
		if newest != nil {
			cs = append(cs, cand{a.ID, *newest})
		}
	}
	sort.Slice(cs, func(i, j int) bool {
		if !cs[i].at.Equal(cs[j].at) {
			return cs[i].at.After(cs[j].at)
		}
		return cs[i].id > cs[j].id
	})
	var out []string
	for _, c := range cs {
		out = append(out, c.id)
	}
	return out
}

func placement(p model.Placement) string {
	if p.Artifact == nil {
		return "-"
	}
	return fmt.Sprintf("%s@%s", p.Artifact.ID[len(p.Artifact.ID)-6:], p.Promotion.PromotedAt.Format("15:04:05.000"))
}

func placements(ps []model.Placement) []string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%s/%s:%s", p.Promotion.Channel, p.Promotion.TargetEnvironment, placement(p)))
	}
	return out
}

func listPages(t *testing.T, s *Store, project string, f service.ArtifactFilter, size int) ([]*model.Artifact, int) {
	t.Helper()
	var out []*model.Artifact
	var after *model.Cursor
	total := -1
	for n := 0; ; n++ {
		if n > 1000 {
			t.Fatal("pagination does not end")
		}
		p, err := s.ListArtifacts(context.Background(), service.ArtifactQuery{Project: project, Filter: f, First: size, After: after})
		if err != nil {
			t.Fatal(err)
		}
		if total >= 0 && p.TotalCount != total {
			t.Fatalf("totalCount changed between pages: %d then %d", total, p.TotalCount)
		}
		total = p.TotalCount
		if len(p.Items) > size || (p.HasNext && len(p.Items) != size) {
			t.Fatalf("page of %d items, size %d, hasNext %v", len(p.Items), size, p.HasNext)
		}
		out = append(out, p.Items...)
		if !p.HasNext {
			return out, total
		}
		last := p.Items[len(p.Items)-1]
		c, err := model.DecodeCursor(model.Cursor{At: last.CreatedAt, ID: last.ID}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		after = &c
	}
}

func auditPagesOf(t *testing.T, s *Store, project string, f service.AuditFilter, size int) []service.AuditEntry {
	t.Helper()
	var out []service.AuditEntry
	var after *model.Cursor
	for n := 0; ; n++ {
		if n > 5000 {
			t.Fatal("audit pagination does not end")
		}
		p, err := s.AuditEvents(context.Background(), service.AuditQuery{Project: project, Filter: f, First: size, After: after})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Items) > size || (p.HasNext && len(p.Items) != size) {
			t.Fatalf("page of %d, size %d, hasNext %v", len(p.Items), size, p.HasNext)
		}
		for i := range p.Items {
			p.Items[i].Feed = nil // feed positions are checked by the feed walk tests
		}
		out = append(out, p.Items...)
		if !p.HasNext {
			if out == nil {
				out = []service.AuditEntry{}
			}
			return out
		}
		last := p.Items[len(p.Items)-1]
		c, err := model.DecodeCursor(model.Cursor{At: last.Event.At, ID: last.Event.ArtifactID, Seq: last.Seq}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		after = &c
	}
}

// projectionDocs returns every projection document (for idempotency checks).
func projectionDocs(t *testing.T, s *Store) map[string]bson.Raw {
	t.Helper()
	ctx := context.Background()
	cur, err := s.projections.Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []projDoc
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	out := map[string]bson.Raw{}
	for _, d := range docs {
		out[d.ID] = d.Data.Value
	}
	return out
}

// outboxLen counts the outbox entries, once those retired are deleted.
func outboxLen(t *testing.T, s *Store) int64 {
	t.Helper()
	if err := s.flushRetired(context.Background()); err != nil {
		t.Fatal(err)
	}
	n, err := s.outbox.CountDocuments(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func sealedCount(t *testing.T, s *Store, head string) int {
	t.Helper()
	var h struct {
		Sealed []bson.RawValue `bson:"sealed"`
	}
	if _, err := s.loadProj(context.Background(), head, &h); err != nil {
		t.Fatal(err)
	}
	return len(h.Sealed)
}

// The heads of the logs as the store stores them.
type (
	listHead = bucketlog.Head[listEntry, listSummary]
	feedHead = bucketlog.Head[feedEntry, struct{}]
	chanHead = bucketlog.Head[chanEntry, chanSummary]
)

// keyRange is the range of the times of es (not empty).
func keyRange[E any](es []E, key func(*E) logKey) bucketlog.Range {
	lo, hi := key(&es[0]).At, key(&es[0]).At
	for i := range es {
		lo, hi = min(lo, key(&es[i]).At), max(hi, key(&es[i]).At)
	}
	return bucketlog.Range{Min: bson.DateTime(lo), Max: bson.DateTime(hi)}
}

// ---------------------------------------------------------------------------------

// TestProjectionsMatchScans: on a random history (tiny buckets, so every projection
// rolls over many times; times that tie and go backwards), every read answers what
// the scan-based implementation and the pure model rules answer. Applying every
// artifact's projections again changes nothing, and a rebuild gives the same answers.
func TestProjectionsMatchScans(t *testing.T) {
	t.Parallel()
	s := openCaps(t, t.TempDir(), tinyCaps)
	h := newHistory(1)
	h.run(t, s, 45, 160)
	if n := outboxLen(t, s); n != 0 {
		t.Fatalf("%d outbox entries left after successful writes", n)
	}
	chanSealed := 0
	for _, c := range model.Channels {
		for _, env := range histEnvs {
			chanSealed = max(chanSealed, sealedCount(t, s, chanHeadID("payments", c, env)))
		}
	}
	if sealedCount(t, s, listHeadID("payments")) < 2 || sealedCount(t, s, feedHeadID("payments")) < 2 || chanSealed < 2 {
		t.Fatal("the projections did not roll over: the test does not exercise sealed buckets")
	}
	checkProjections(t, s)

	t.Run("idempotent", func(t *testing.T) {
		ctx := context.Background()
		reapply := func() {
			for _, id := range h.ids {
				a, err := s.GetArtifact(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.applyProjections(ctx, a, 0, 0); err != nil {
					t.Fatal(err)
				}
			}
		}
		// The first pass may only record newer bucket versions beside unchanged
		// counts (after count-neutral changes); the answers stay the same, and a
		// second pass changes nothing at all.
		reapply()
		checkProjectionsLight(t, s)
		before := projectionDocs(t, s)
		reapply()
		if after := projectionDocs(t, s); !reflect.DeepEqual(after, before) {
			t.Fatal("applying projections again changed them")
		}
		// A stale state never overwrites a newer one.
		for _, id := range h.ids[:5] {
			a, _ := s.GetArtifact(ctx, id)
			old := *a
			old.Version, old.TrustState = 0, model.TrustRevoked
			if err := s.applyList(ctx, a.Project, listEntryOf(&old)); err != nil {
				t.Fatal(err)
			}
		}
		if after := projectionDocs(t, s); !reflect.DeepEqual(after, before) {
			t.Fatal("an older artifact state overwrote a list entry")
		}
	})

	t.Run("rebuild", func(t *testing.T) {
		ctx := context.Background()
		if err := s.RebuildProjections(ctx, "payments"); err != nil {
			t.Fatal(err)
		}
		checkProjectionsLight(t, s)
		if err := s.RebuildProjections(ctx, ""); err != nil {
			t.Fatal(err)
		}
		checkProjectionsLight(t, s)
		// Writes after a rebuild keep them right.
		h.run(t, s, 5, 40)
		checkProjections(t, s)
	})
}

// TestProjectionsCrashRecovery: writes that "die" right after the artifact write
// (before any projection) leave their outbox entries; reopening replays them and
// the projections match the scans again. An entry whose write never happened is
// dropped without effect.
func TestProjectionsCrashRecovery(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openCaps(t, dir, tinyCaps)
	h := newHistory(2)
	h.run(t, s, 30, 60)

	var crashed int
	s.crashAfterWrite = func(*model.Artifact) bool {
		if h.rng.IntN(3) == 0 {
			crashed++
			return true
		}
		return false
	}
	h.run(t, s, 10, 60)
	s.crashAfterWrite = nil
	if crashed == 0 || outboxLen(t, s) != int64(crashed) {
		t.Fatalf("crashed %d writes, outbox holds %d", crashed, outboxLen(t, s))
	}
	// An entry for a write that never landed (the process died before it).
	ghost := h.arts[h.ids[0]]
	if _, err := s.openOutbox(context.Background(), ghost, int64(ghost.Version)+5, len(ghost.Audit), len(ghost.Promotions)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	s2 := openCaps(t, dir, tinyCaps)
	if n := outboxLen(t, s2); n != 0 {
		t.Fatalf("%d outbox entries left after the replay at Open", n)
	}
	t.Logf("replayed %d interrupted writes", crashed)
	checkProjections(t, s2)
}

// TestProjectionsConcurrentWriters: many goroutines register and change different
// artifacts of one project at once; no list entry, audit event or promotion is lost
// or doubled in the projections.
func TestProjectionsConcurrentWriters(t *testing.T) {
	t.Parallel()
	s := openCaps(t, t.TempDir(), tinyCaps)
	ctx := context.Background()
	const writers, perWriter, changes = 8, 4, 5
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := newHistory(uint64(100 + w))
			h.n = w * 1000
			for i := 0; i < perWriter; i++ {
				a := h.register("payments")
				if err := s.InsertArtifact(ctx, a); err != nil {
					t.Error(err)
					return
				}
				for k := 0; k < changes; k++ {
					next := h.change(a)
					if err := s.UpdateArtifact(ctx, a, next); err != nil {
						t.Error(err)
						return
					}
					a = next
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if n := outboxLen(t, s); n != 0 {
		t.Fatalf("%d outbox entries left", n)
	}
	checkProjections(t, s)
	events := auditPagesOf(t, s, "payments", service.AuditFilter{}, 100)
	if len(events) != writers*perWriter*(1+changes) {
		t.Fatalf("%d audit events in the feed, want %d", len(events), writers*perWriter*(1+changes))
	}
}

// TestInsertArtifactsBulk: artifacts loaded in chunks with InsertArtifactsBulk are
// served exactly as if written one by one, and later writes keep it so.
func TestInsertArtifactsBulk(t *testing.T) {
	t.Parallel()
	s := openCaps(t, t.TempDir(), tinyCaps)
	ctx := context.Background()
	h := newHistory(3)
	var arts []*model.Artifact
	for i := 0; i < 40; i++ {
		a := h.register(histProjects[i%len(histProjects)])
		for k := h.rng.IntN(6); k > 0; k-- {
			a = h.change(a)
		}
		a.Version = len(a.Audit)
		arts = append(arts, a)
		h.arts[a.ID] = a
		h.ids = append(h.ids, a.ID)
	}
	for _, chunk := range [][]*model.Artifact{arts[:7], arts[7:25], arts[25:]} {
		if err := s.InsertArtifactsBulk(ctx, chunk); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetArtifact(ctx, arts[3].ID)
	if err != nil || !reflect.DeepEqual(got, normalized(arts[3])) {
		t.Fatalf("bulk-inserted artifact: %+v %v", got, err)
	}
	checkProjectionsLight(t, s)
	wantKind(t, s.InsertArtifactsBulk(ctx, arts[:1]), model.KindConflict)

	h.run(t, s, 5, 40)
	checkProjections(t, s)
}

// TestProjectionsMigration: a database written before the projections existed
// (artifacts only) gets them built at Open.
func TestProjectionsMigration(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openCaps(t, dir, tinyCaps)
	ctx := context.Background()
	h := newHistory(4)
	var docs []any
	for i := 0; i < 25; i++ {
		a := h.register(histProjects[i%2])
		for k := h.rng.IntN(5); k > 0; k-- {
			a = h.change(a)
		}
		a.Version = len(a.Audit)
		docs = append(docs, toArtifactDoc(a))
	}
	if _, err := s.artifacts.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if _, err := s.projections.DeleteMany(ctx, bson.D{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	s2 := openCaps(t, dir, tinyCaps)
	checkProjectionsLight(t, s2)
}

// TestUpdateConflictLeavesNoOutbox: a refused write removes its outbox entry and
// touches no projection.
func TestUpdateConflictLeavesNoOutbox(t *testing.T) {
	t.Parallel()
	s := openCaps(t, t.TempDir(), tinyCaps)
	ctx := context.Background()
	h := newHistory(5)
	a := h.register("payments")
	mustInsert(t, s, a)
	next := h.change(a)
	if err := s.UpdateArtifact(ctx, a, next); err != nil {
		t.Fatal(err)
	}
	before := projectionDocs(t, s)
	stale := h.change(a)
	wantKind(t, s.UpdateArtifact(ctx, a, stale), model.KindConflict)
	dup := *a
	wantKind(t, s.InsertArtifact(ctx, &dup), model.KindConflict)
	if n := outboxLen(t, s); n != 0 {
		t.Fatalf("%d outbox entries after refused writes", n)
	}
	if after := projectionDocs(t, s); !reflect.DeepEqual(before, after) {
		t.Fatal("a refused write changed the projections")
	}
}

// TestProjectionsMongoPath runs a history through the MongoDB code path (a
// MongoDB URI: version predicates in the update filters instead of the embedded
// engine's locked read-then-write), against a FerretDB started by the test.
func TestProjectionsMongoPath(t *testing.T) {
	t.Parallel()
	e, err := startEmbedded(t.TempDir(), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.stop() })
	ctx := context.Background()
	s, err := Open(ctx, Config{MongoURI: e.uri, caps: tinyCaps}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	if s.Embedded() {
		t.Fatal("a MongoDB URI must not use the embedded path")
	}
	h := newHistory(6)
	h.run(t, s, 20, 50)
	if n := outboxLen(t, s); n != 0 {
		t.Fatalf("%d outbox entries left", n)
	}
	checkProjectionsLight(t, s)
}
