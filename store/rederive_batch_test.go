package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

// The re-derivation decides from the deploy facts the list holds, writes changed
// artifacts in batches (RewriteArtifacts, batch.go) and runs only when the trust
// inputs change (model.Policy.TrustInputs).

// listed counts the artifacts the list read model holds with trust state ts.
func (f *rdFixture) listed(t *testing.T, ts model.TrustState) int {
	t.Helper()
	page, err := f.svc.Artifacts(context.Background(), rdAdmin, rdProject, service.ArtifactFilter{TrustState: ts}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	return page.TotalCount
}

func (f *rdFixture) outboxLen(t *testing.T) int {
	t.Helper()
	if err := f.s.flushRetired(context.Background()); err != nil {
		t.Fatal(err)
	}
	n, err := f.s.outbox.CountDocuments(context.Background(), map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

func TestBatchRewriteStoppedBetweenItsArtifactWritesIsRepairedFromItsOutboxEntry(t *testing.T) {
	t.Parallel()
	set := newRDSet(t, 4)
	f := openRD(t, t.TempDir(), false)
	f.seed(t, set.arts...)
	tight := f.setPolicy(t, "corr-tighten", keepPrefix)
	p := tight.WithKeys(nil)
	writes := 0
	f.s.crashAfterWrite = func(*model.Artifact) bool { writes++; return writes == 2 }
	actor := model.Actor{Subject: "carol", Type: model.ActorUser}
	changes, err := f.s.RewriteArtifacts(context.Background(), rdProject, set.changing, func(a *model.Artifact) (*model.Artifact, bool) {
		after, ok := model.Rederive(*a, p, actor, "corr-tighten", "policy version 2", t0.Add(time.Hour))
		return &after, ok
	})
	if err != nil || len(changes) != len(set.changing) {
		t.Fatalf("%d changes, %v", len(changes), err)
	}
	// Stopped after the second artifact write: two artifacts written, no read
	// model follows yet, the batch's outbox entry stays.
	failed := 0
	for _, id := range set.changing {
		if f.trust(t, id) == model.TrustFailedVerification {
			failed++
		}
	}
	if failed != 2 || f.listed(t, model.TrustFailedVerification) != 0 || len(f.events(t, "corr-tighten")) != 0 || f.outboxLen(t) != 1 {
		t.Fatalf("after the stop: %d written, %d listed, %d with events, %d outbox entries", failed, f.listed(t, model.TrustFailedVerification), len(f.events(t, "corr-tighten")), f.outboxLen(t))
	}
	// The next start repairs it: the read models show exactly what was written.
	f.close()
	f = openRD(t, f.dir, false)
	evs := f.events(t, "corr-tighten")
	if n := f.listed(t, model.TrustFailedVerification); n != 2 || len(evs) != 2 || f.outboxLen(t) != 0 {
		t.Fatalf("after the repair: %d listed FAILED_VERIFICATION, events %v, %d outbox entries", n, evs, f.outboxLen(t))
	}
	for id, e := range evs {
		if f.trust(t, id) != model.TrustFailedVerification || len(e) != 1 || e[0].ToState != "FAILED_VERIFICATION" {
			t.Fatalf("%s: stored %s, events %+v", id, f.trust(t, id), e)
		}
	}
	// Deployable skips them from their chan log facts; the newest kept one is the
	// answer (the unwritten ones are skipped by the decision itself).
	if got := f.deployable(t); got != set.kept[1] {
		t.Fatalf("deployable %q, want %q", got, set.kept[1])
	}
}

func TestBatchRewriteOfAnArtifactWrittenSinceItsLoadIsAConflictAndWritesNothingOverIt(t *testing.T) {
	t.Parallel()
	set := newRDSet(t, 2)
	f := openRD(t, t.TempDir(), false)
	f.seed(t, set.arts...)
	tight := f.setPolicy(t, "corr-tighten", keepPrefix)
	p := tight.WithKeys(nil)
	ctx := context.Background()
	target := set.changing[0]
	changes, err := f.s.RewriteArtifacts(ctx, rdProject, []string{target}, func(a *model.Artifact) (*model.Artifact, bool) {
		// Another write of it lands between the load and the batch's write.
		if _, err := f.svc.Deprecate(ctx, rdAdmin, target, "superseded"); err != nil {
			t.Fatal(err)
		}
		after, ok := model.Rederive(*a, p, model.Actor{Subject: "carol"}, "corr-tighten", "policy version 2", t0.Add(time.Hour))
		return &after, ok
	})
	if !model.IsKind(err, model.KindConflict) || len(changes) != 1 || changes[0].After.Version != changes[0].Before.Version {
		t.Fatalf("got %v, %+v", err, changes)
	}
	a, err := f.s.GetArtifact(ctx, target)
	if err != nil || a.LifecycleState != model.LifecycleDeprecated || a.TrustState != model.TrustVerified {
		t.Fatalf("the other write was overwritten: %+v %v", a, err)
	}
}

func TestReevaluationStoppedInsideABatchResumesWithOneEventPerChangedArtifactAndExactCounts(t *testing.T) {
	t.Parallel()
	set := newRDSet(t, 13)
	dir := t.TempDir()
	f := openRD(t, dir, false)
	f.seed(t, set.arts...)
	ctx, cancel := context.WithCancel(context.Background())
	wait := f.svc.RunReevaluations(ctx)
	f.waitFor(t, "policy version 1")
	// The tightening's third write is the last thing the process does.
	var writes atomic.Int32
	f.s.crashAfterWrite = func(a *model.Artifact) bool {
		if a.Audit[len(a.Audit)-1].CorrelationID == "corr-tighten" && writes.Add(1) == 3 {
			cancel()
			return true
		}
		return writes.Load() > 3
	}
	f.setPolicy(t, "corr-tighten", keepPrefix)
	wait()
	f.s.crashAfterWrite = nil
	r, err := f.svc.TrustReevaluation(context.Background(), rdAdmin, rdProject)
	if err != nil || r.Reason != "policy version 2" || r.FinishedAt != nil {
		t.Fatalf("after the stop: %+v %v", r, err)
	}
	f.close()

	f = openRD(t, dir, true)
	job := f.waitFor(t, "policy version 2")
	if job.Done != len(set.arts) || job.Changed != len(set.changing) {
		t.Fatalf("resumed job %+v, want %d done, %d changed", job, len(set.arts), len(set.changing))
	}
	evs := f.events(t, "corr-tighten")
	for _, id := range set.changing {
		if len(evs[id]) != 1 || f.trust(t, id) != model.TrustFailedVerification {
			t.Fatalf("%s: %d events, stored %s", id, len(evs[id]), f.trust(t, id))
		}
	}
	if len(evs) != len(set.changing) || f.listed(t, model.TrustFailedVerification) != len(set.changing) {
		t.Fatalf("events for %d artifacts, %d listed FAILED_VERIFICATION, want %d", len(evs), f.listed(t, model.TrustFailedVerification), len(set.changing))
	}
}

func TestFreezeAndGovernanceOnlyPolicyChangesStartNoReevaluation(t *testing.T) {
	t.Parallel()
	set := newRDSet(t, 3)
	dir := t.TempDir()
	f := openRD(t, dir, true)
	f.seed(t, set.arts...)
	first := f.waitFor(t, "policy version 1")
	ctx := context.Background()
	if _, err := f.svc.Freeze(ctx, rdAdmin, rdProject, model.FreezeRequest{Reason: "release week"}); err != nil {
		t.Fatal(err)
	}
	in := rdPolicy("registry.example.com/")
	in.Channels[0].PromoterSubjects = []string{"bob"} // governance only
	p, err := f.svc.SetPolicy(ctx, rdAdmin, rdProject, in)
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != 3 {
		t.Fatalf("policy version %d", p.Version)
	}
	// A restart reconciles every project's job with its inputs: still none new.
	f.close()
	f = openRD(t, dir, true)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		r, err := f.svc.TrustReevaluation(ctx, rdAdmin, rdProject)
		if err != nil {
			t.Fatal(err)
		}
		if r.PolicyVersion != 1 || r.Reason != "policy version 1" || !r.StartedAt.Equal(first.StartedAt) || r.FinishedAt == nil {
			t.Fatalf("a change of no trust input started a re-derivation: %+v", r)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A change of an input still does.
	tight := f.setPolicy(t, "corr-tighten", keepPrefix)
	if job := f.waitFor(t, fmt.Sprintf("policy version %d", tight.Version)); job.Changed != len(set.changing) {
		t.Fatalf("tightening after the freeze: %+v", job)
	}
}

// openRDCounting opens a store with caps whose commands counter counts, and a
// service over wrap(store) that runs its re-derivations.
func openRDCounting(t *testing.T, caps bucketCaps, counter *commandCounter, wrap func(*Store) service.Store) *rdFixture {
	t.Helper()
	s, err := Open(context.Background(), Config{DataDir: t.TempDir(), caps: caps, monitor: counter.monitor()}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	f := &rdFixture{s: s, svc: service.New(wrap(s)), stop: func() {}}
	ctx, cancel := context.WithCancel(context.Background())
	wait := f.svc.RunReevaluations(ctx)
	f.stop = func() { cancel(); wait() }
	t.Cleanup(f.close)
	return f
}

func TestReevaluationLoadsOnlyTheArtifactsWhoseTrustChanges(t *testing.T) {
	t.Parallel()
	set := newRDSet(t, 9)
	counter := &commandCounter{}
	f := openRDCounting(t, bucketCaps{list: 4, feed: 16, chans: 4}, counter, func(s *Store) service.Store { return s })
	f.seed(t, set.arts...)
	f.waitFor(t, "policy version 1")

	// Another allowedSources list that still allows every source: a walk that
	// changes nothing reads the list, never an artifact.
	var same *model.Policy
	none := counter.during(func() {
		same = f.setPolicy(t, "corr-same", "registry.example.com/", "quay.io/other/")
		f.waitFor(t, fmt.Sprintf("policy version %d", same.Version))
	})
	if none["find artifacts"] != 0 || none["update artifacts"] != 0 {
		t.Fatalf("a walk that changes nothing sent %v", none)
	}
	// Nor does it save its job after every part (3 of them here): the job is
	// written when started, claimed and finished.
	if n := none["update reevaluations"] + none["insert reevaluations"]; n > 3 {
		t.Fatalf("a walk that changes nothing over 3 parts wrote its job %d times (%v)", n, none)
	}
	// A tightening: each changed artifact read once and written once.
	var tight *model.Policy
	all := counter.during(func() {
		tight = f.setPolicy(t, "corr-tighten", keepPrefix)
		f.waitFor(t, fmt.Sprintf("policy version %d", tight.Version))
	})
	if all["find artifacts"] != len(set.changing) || all["update artifacts"] != len(set.changing) {
		t.Fatalf("the tightening changed %d artifacts with %v", len(set.changing), all)
	}
	if n := f.listed(t, model.TrustFailedVerification); n != len(set.changing) {
		t.Fatalf("%d listed FAILED_VERIFICATION", n)
	}
}

// prefetchWatch records which artifacts the re-derivation prefetched before each
// of its steps (RewriteArtifacts) and which of a step's artifacts the step itself
// read from the engine.
type prefetchWatch struct {
	*Store
	counter    *commandCounter
	mu         sync.Mutex
	prefetched map[string]bool
	sizes      []int // per step: its artifacts
	cold       []int // per step: its artifacts not prefetched before it
	reread     []int // per step: its artifacts it sent a find for
}

func (w *prefetchWatch) PrefetchArtifacts(ctx context.Context, ids []string) {
	w.Store.PrefetchArtifacts(ctx, ids)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range ids {
		w.prefetched[id] = true
	}
}

func (w *prefetchWatch) RewriteArtifacts(ctx context.Context, project string, ids []string, rewrite func(a *model.Artifact) (*model.Artifact, bool)) ([]service.ArtifactChange, error) {
	w.mu.Lock()
	cold := 0
	for _, id := range ids {
		if !w.prefetched[id] {
			cold++
		}
	}
	w.mu.Unlock()
	var changes []service.ArtifactChange
	var err error
	w.counter.during(func() { changes, err = w.Store.RewriteArtifacts(ctx, project, ids, rewrite) })
	found := w.counter.foundIDs(artifactsCollection) // the step's and the next step's prefetch
	reread := 0
	for _, id := range ids {
		if slices.Contains(found, fmt.Sprintf("%q", id)) {
			reread++
		}
	}
	w.mu.Lock()
	w.sizes, w.cold, w.reread = append(w.sizes, len(ids)), append(w.cold, cold), append(w.reread, reread)
	w.mu.Unlock()
	return changes, err
}

// The re-derivation reads each step's artifacts while the step before writes (and
// the first of the next part during a part's last step), so every step but the
// job's first loads its artifacts from memory; the job's result is unchanged.
func TestReevaluationReadsEachStepsArtifactsWhileTheStepBeforeWrites(t *testing.T) {
	t.Parallel()
	set := newRDSet(t, 100)
	counter := &commandCounter{}
	var w *prefetchWatch
	f := openRDCounting(t, bucketCaps{list: 40, feed: 64, chans: 16}, counter, func(s *Store) service.Store {
		w = &prefetchWatch{Store: s, counter: counter, prefetched: map[string]bool{}}
		return w
	})
	f.seed(t, set.arts...)
	f.waitFor(t, "policy version 1")
	w.mu.Lock()
	w.sizes, w.cold, w.reread = nil, nil, nil
	w.mu.Unlock()

	tight := f.setPolicy(t, "corr-tighten", keepPrefix)
	if job := f.waitFor(t, fmt.Sprintf("policy version %d", tight.Version)); job.Changed != len(set.changing) {
		t.Fatalf("the tightening: %+v, want %d changed", job, len(set.changing))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.cold) < 4 {
		t.Fatalf("%d steps: want the job to take several (parts of 40, steps of at most 32)", len(w.cold))
	}
	// A prefetched artifact is read again when a write of a document sharing its
	// cache counter (doccache.go: addresses hash onto cacheGens counters) came
	// since: rare, never most of a step.
	later, reread := 0, 0
	for i := range w.cold {
		if i > 0 {
			later += w.sizes[i]
			reread += w.reread[i]
		}
		if i > 0 && w.cold[i] != 0 {
			t.Fatalf("step %d of %d: %d of its artifacts not prefetched (per step: %v)", i, len(w.cold), w.cold[i], w.cold)
		}
	}
	if reread*8 > later {
		t.Fatalf("the steps after the first read %d of their %d artifacts from the engine (per step: %v of %v)", reread, later, w.reread, w.sizes)
	}
	if n := f.listed(t, model.TrustFailedVerification); n != len(set.changing) {
		t.Fatalf("%d listed FAILED_VERIFICATION, want %d", n, len(set.changing))
	}
}

// An artifact whose write has not reached the list yet is read again with the open
// part, whatever part lists it (its entry may be behind): there it is marked
// Unlisted, so the job loads it without counting it as one more listed artifact
// (a resumed job counted the artifacts of a batch stopped before its read models
// twice: 19 done of 16).
func TestReevaluationBatchMarksPendingArtifactsAddedToTheOpenPartUnlisted(t *testing.T) {
	t.Parallel()
	set := newRDSet(t, 9) // 12 artifacts, list buckets of 4
	f := openRD(t, t.TempDir(), false)
	f.seed(t, set.arts...)
	ctx := context.Background()
	id := set.changing[0] // listed in part 0
	cur := f.s.mustGet(t, id)
	next := *cur
	next.Audit = append(append([]model.AuditEvent(nil), cur.Audit...), cur.Event(model.ActionVerify, alice, "pending", "", cur.UpdatedAt.Add(time.Minute)))
	f.s.crashAfterWrite = func(*model.Artifact) bool { return true } // its read models never applied
	if err := f.s.UpdateArtifact(ctx, cur, &next); err != nil {
		t.Fatal(err)
	}
	f.s.crashAfterWrite = nil
	part0, sealed, total, err := f.s.ReevaluationBatch(ctx, rdProject, 0)
	if err != nil || sealed == 0 {
		t.Fatalf("part 0: %v, %d sealed", err, sealed)
	}
	i := slices.IndexFunc(part0, func(e service.ReevaluationEntry) bool { return e.ID == id })
	if i < 0 || part0[i].Known || part0[i].Unlisted {
		t.Fatalf("part 0 lists %s as %+v, want listed and not Known", id, part0)
	}
	open, _, _, err := f.s.ReevaluationBatch(ctx, rdProject, sealed)
	if err != nil {
		t.Fatal(err)
	}
	listed := 0
	for _, e := range open {
		switch {
		case e.ID == id && !e.Unlisted:
			t.Fatalf("the open part names %s, listed in part 0, as one of its own", id)
		case !e.Unlisted:
			listed++
		}
	}
	if want := total - sealed*4; listed != want {
		t.Fatalf("the open part counts %d listed artifacts, want %d", listed, want)
	}
}
