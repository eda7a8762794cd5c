package store

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
	"github.com/artifact-trust/control-plane/store/internal/bucketlog"
)

func decodeAudit(t testing.TB, raw bson.Raw) auditDoc {
	t.Helper()
	var d auditDoc
	if err := bson.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// trailBucket is a bucket document of a trail as stored (trail.go).
type trailBucket struct {
	ID      string     `bson:"_id"`
	Owner   string     `bson:"owner"`
	Trail   string     `bson:"trail"`
	First   int        `bson:"first"`
	Entries []bson.Raw `bson:"entries"`
}

// trailBuckets reads every bucket document of owner's trail, in order.
func trailBuckets(t testing.TB, s *Store, sp *bucketlog.TrailSpec, owner string) []trailBucket {
	t.Helper()
	var out []trailBucket
	for n := 0; ; n++ {
		var d trailBucket
		err := s.overflow.FindOne(context.Background(), bson.D{{Key: "_id", Value: trailOf[bson.Raw](s, sp, owner).BucketID(n)}}).Decode(&d)
		if err != nil {
			return out
		}
		out = append(out, d)
	}
}

// The layout the write path leaves (an artifact written one event at a time) is the
// one an insert of the whole history makes, document for document, so an artifact
// seeded in one insert is what years of writes would have produced.
func TestTrailWrittenOneEventAtATimeIsLaidOutAsAWholeInsert(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := model.DefaultPolicy("aged")
	p.AllowedSources = []string{"registry.example.com/"}
	full := promotedOften(t, agedArtifact(t, "aged", "svc", 100, &p), &p, 40)

	whole := openTest(t, t.TempDir())
	if err := whole.InsertArtifactsBulk(ctx, []*model.Artifact{full}); err != nil {
		t.Fatal(err)
	}

	stepwise := openTest(t, t.TempDir())
	first := *full
	first.Audit, first.Promotions, first.Version = full.Audit[:1], []model.Promotion{}, 1
	mustInsert(t, stepwise, &first)
	promotions := 0
	for k := 1; k < len(full.Audit); k++ {
		before, err := stepwise.GetArtifact(ctx, full.ID)
		if err != nil {
			t.Fatal(err)
		}
		after := *full
		after.AuditFrom, after.PromotionsFrom, after.PromotionTargets = before.AuditFrom, before.PromotionsFrom, before.PromotionTargets
		after.Audit = append(slices.Clone(before.Audit), full.Audit[k])
		after.Promotions = before.Promotions
		if full.Audit[k].Action == model.ActionPromote {
			after.Promotions = append(slices.Clone(before.Promotions), full.Promotions[promotions])
			promotions++
		}
		if err := stepwise.UpdateArtifact(ctx, before, &after); err != nil {
			t.Fatalf("event %d: %v", k, err)
		}
	}

	a, b := whole.mustGet(t, full.ID), stepwise.mustGet(t, full.ID)
	if a.AuditFrom == 0 || a.PromotionsFrom == 0 || len(a.PromotionTargets) == 0 {
		t.Fatalf("a history of %d events and %d promotions was not moved out: audit from %d, promotions from %d, targets %d", len(full.Audit), len(full.Promotions), a.AuditFrom, a.PromotionsFrom, len(a.PromotionTargets))
	}
	a.Version, a.UpdatedAt = b.Version, b.UpdatedAt
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("stored artifacts differ:\n whole    %+v\n stepwise %+v", a, b)
	}
	for _, sp := range []*bucketlog.TrailSpec{auditTrail, promotionTrail} {
		da, db := trailBuckets(t, whole, sp, full.ID), trailBuckets(t, stepwise, sp, full.ID)
		if len(da) == 0 || !reflect.DeepEqual(da, db) {
			t.Fatalf("%s buckets differ: %d whole, %d stepwise", sp.Name, len(da), len(db))
		}
	}
	// Both hold the whole history, in order.
	for _, s := range []*Store{whole, stepwise} {
		events, err := s.ArtifactAudit(ctx, s.mustGet(t, full.ID), 0, len(full.Audit))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(events, normalized(full).Audit) {
			t.Fatal("the audit trail read back differs from the one written")
		}
		prs, err := s.ArtifactPromotions(ctx, s.mustGet(t, full.ID), 0, len(full.Promotions))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(prs, normalized(full).Promotions) {
			t.Fatal("the promotions read back differ from the ones written")
		}
	}
}

// promotedOften is a promoted k more times into PROD (three environments in
// turn), an hour apart after its last event: more promotions than an artifact
// keeps inline, spread over its history.
func promotedOften(t testing.TB, a *model.Artifact, p *model.Policy, k int) *model.Artifact {
	t.Helper()
	admin := model.Actor{Subject: "alice", Type: model.ActorUser, Roles: map[string][]model.Role{a.Project: {model.RoleProjectAdmin}}}
	for i := 0; i < k; i++ {
		next, err := model.Promote(*a, p, admin, model.PromotionRequest{Channel: model.ChannelProd, TargetEnvironment: fmt.Sprintf("r%d", i%3)}, fmt.Sprintf("p-%d", i), a.Audit[len(a.Audit)-1].At.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		a = &next
	}
	return a
}

func (s *Store) mustGet(t testing.TB, id string) *model.Artifact {
	t.Helper()
	a, err := s.GetArtifact(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// An artifact with thousands of audit events (nightly re-verification for years) is
// read, verified and promoted from a document of bounded size; audit still returns
// every event in order, auditTrail pages them newest first without gaps or
// duplicates, and the promotion rules (strict progression), deployable, channel
// status and list filters still see promotions made thousands of events ago.
// 2,000 events fill 250 overflow documents and 21 pages of auditTrail: every
// property holds at any length past the inline bound (keep+step), and reading the
// whole trail costs one _id look-up per overflow document, so the test reads 2,000
// rather than 10,000. That the cost of a read, a verification and a promotion does
// not grow with the trail up to 10,000 events is BenchmarkArtifactAge's to show.
func TestArtifactWithThousandsOfEventsIsReadVerifiedAndPromotedFromABoundedDocument(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	svc := service.New(s, service.WithClock(steppingClock(t0.Add(20000*time.Hour))))
	rq := service.Request{Actor: ageActor, CorrelationID: "test"}
	const project = "aged"
	p, err := svc.SetPolicy(ctx, rq, project, agePolicy(project, true))
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	old := agedArtifact(t, project, "old", n, p)
	if err := s.InsertArtifactsBulk(ctx, []*model.Artifact{old}); err != nil {
		t.Fatal(err)
	}
	history := normalized(old).Audit

	checkDoc := func(when string) {
		t.Helper()
		raw := rawDoc(t, s, artifactsCollection, old.ID)
		a := s.mustGet(t, old.ID)
		if len(raw) > maxArtifactDocBytes || len(a.Audit) >= auditTrail.Keep+auditTrail.Step || len(a.Promotions) >= promotionTrail.Keep+promotionTrail.Step {
			t.Fatalf("%s: the artifact document holds %d bytes, %d events and %d promotions (bound %d bytes)", when, len(raw), len(a.Audit), len(a.Promotions), maxArtifactDocBytes)
		}
	}
	checkDoc("seeded")
	if got, err := svc.Artifact(ctx, rq, old.ID); err != nil || got.TrustState != model.TrustVerified || got.AuditLen() != n {
		t.Fatalf("read: %v %+v", err, got)
	}

	// Nightly re-verifications and many promotions, through the service.
	for k := 0; k < 20; k++ {
		a, err := svc.Verify(ctx, rq, old.ID, []model.VerificationRecord{{Check: model.CheckSignature, Result: model.ResultPassed, Detail: "cosign"}}, "nightly")
		if err != nil {
			t.Fatal(err)
		}
		history = append(history, a.Audit[len(a.Audit)-1])
	}
	for k := 0; k < 40; k++ {
		env := []string{"eu", "us"}[k%2]
		a, err := svc.Promote(ctx, rq, old.ID, model.PromotionRequest{Channel: model.ChannelProd, TargetEnvironment: env})
		if err != nil {
			t.Fatalf("promotion %d into PROD/%s: %v", k, env, err)
		}
		history = append(history, a.Audit[len(a.Audit)-1])
	}
	checkDoc("after 60 writes")
	a := s.mustGet(t, old.ID)
	if a.AuditLen() != len(history) || a.PromotionsLen() != 44 || a.PromotionsFrom == 0 || !a.PromotedInto(model.ChannelStaging) {
		t.Fatalf("after the writes: %d events, %d promotions (from %d), staging %v", a.AuditLen(), a.PromotionsLen(), a.PromotionsFrom, a.PromotedInto(model.ChannelStaging))
	}
	if slices.ContainsFunc(a.Promotions, func(p model.Promotion) bool { return p.Channel == model.ChannelStaging }) {
		t.Fatal("the STAGING promotion is still inline: the test does not reach the overflow")
	}

	// Rules that need old promotions: strict progression into TEST and STAGING needs
	// DEV and TEST, promoted at events 2 and 3.
	for _, c := range []model.Channel{model.ChannelTest, model.ChannelStaging} {
		d, err := svc.EvaluatePromotion(ctx, rq, old.ID, model.PromotionRequest{Channel: c, TargetEnvironment: "eu"})
		if err != nil || !d.Allowed() {
			t.Fatalf("evaluate %s: %v %v", c, err, d.Reasons)
		}
	}
	// The newest (and only) STAGING/eu and TEST/eu promotions are 2,000 events old.
	for _, c := range []model.Channel{model.ChannelDev, model.ChannelTest, model.ChannelStaging} {
		env := "eu"
		if c == model.ChannelDev {
			env = ""
		}
		pl, ok, err := svc.Deployable(ctx, rq, project, c, env)
		if err != nil || !ok || pl.Artifact.ID != old.ID {
			t.Fatalf("deployable %s/%s: %v %v", c, env, ok, err)
		}
		if want := normalized(old).Promotions[c.Rank()]; !reflect.DeepEqual(pl.Promotion, want) {
			t.Fatalf("deployable %s/%s: promotion %+v, want %+v", c, env, pl.Promotion, want)
		}
	}
	rows, err := svc.ChannelStatus(ctx, rq, project)
	if err != nil || len(rows) != 5 {
		t.Fatalf("channel status: %v %d rows", err, len(rows))
	}
	page, err := s.ListArtifacts(ctx, service.ArtifactQuery{Project: project, First: 10, Filter: service.ArtifactFilter{Channel: model.ChannelStaging}})
	if err != nil || page.TotalCount != 1 {
		t.Fatalf("list filtered on STAGING: %v total %d", err, page.TotalCount)
	}

	// audit: the whole trail, in order.
	all, err := svc.ArtifactAudit(ctx, rq, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(history) || !reflect.DeepEqual(all[:n], history[:n]) || !reflect.DeepEqual(all[n:], history[n:]) {
		t.Fatalf("audit returned %d events, want the %d written, in order", len(all), len(history))
	}

	// auditTrail: newest first, page by page through the cursors, no gap, no
	// duplicate.
	var seqs []int
	after := ""
	for pages := 0; ; pages++ {
		first := model.MaxPageSize
		pg, err := svc.AuditTrail(ctx, rq, a, &first, after)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range pg.Items {
			if !reflect.DeepEqual(e.Event, all[e.Seq]) {
				t.Fatalf("auditTrail event %d differs from audit's", e.Seq)
			}
			seqs = append(seqs, e.Seq)
		}
		if !pg.HasNext {
			break
		}
		last := pg.Items[len(pg.Items)-1]
		after = model.Cursor{At: last.Event.At, ID: last.Event.ArtifactID, Seq: last.Seq}.Encode()
	}
	for i, seq := range seqs {
		if seq != len(all)-1-i {
			t.Fatalf("auditTrail position %d holds event %d, want %d (%d events paged)", i, seq, len(all)-1-i, len(seqs))
		}
	}
	if len(seqs) != len(all) {
		t.Fatalf("auditTrail paged %d events, want %d", len(seqs), len(all))
	}

	// The project feed filtered on the artifact pages its trail the same way.
	q := service.AuditQuery{Project: project, First: 30, Filter: service.AuditFilter{ArtifactID: old.ID}}
	for k := 0; k < 3; k++ {
		fp, err := s.AuditEvents(ctx, q)
		if err != nil || len(fp.Items) != 30 || !fp.HasNext {
			t.Fatalf("feed page %d: %v %d", k, err, len(fp.Items))
		}
		for i, e := range fp.Items {
			if want := len(all) - 1 - 30*k - i; e.Seq != want || !reflect.DeepEqual(e.Event, all[want]) {
				t.Fatalf("feed page %d item %d: event %d, want %d", k, i, e.Seq, want)
			}
		}
		last := fp.Items[29]
		q.After = &model.Cursor{At: last.Event.At, ID: last.Event.ArtifactID, Seq: last.Seq}
	}
}

// A policy applied hundreds of times keeps a document the size of one policy: its
// change trail moves to overflow documents, and projectPolicyHistory still returns
// every change, newest first. 300 changes, each through the write path, fill ten
// overflow documents (32 changes each) and move the trail on every write: the
// document stays bounded at any count past the first; that the cost of a write does
// not grow with the trail up to 1,000 changes is BenchmarkPolicyAge's to show.
func TestPolicyAppliedHundredsOfTimesKeepsItsDocumentSmall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	const project, n = "governed", 300
	putPolicies(t, s, project, n)
	if size := len(rawDoc(t, s, policiesCollection, project)); size > 2<<10 {
		t.Fatalf("the policy document holds %d bytes after %d changes", size, n)
	}
	p, err := s.GetPolicy(ctx, project)
	if err != nil || p.Version != n {
		t.Fatalf("policy: %v %+v", err, p)
	}
	count, err := s.PolicyChangeCount(ctx, project)
	if err != nil || count != n {
		t.Fatalf("change count %d %v", count, err)
	}
	changes, err := s.PolicyChanges(ctx, project)
	if err != nil || len(changes) != n {
		t.Fatalf("changes: %v %d", err, len(changes))
	}
	for i, c := range changes {
		v := n - i
		if c.ToVersion != v || c.FromVersion != v-1 || c.CorrelationID != fmt.Sprintf("c-%d", v) || !c.At.Equal(ms(t0.Add(time.Duration(v)*time.Minute))) {
			t.Fatalf("change %d: %+v, want version %d", i, c, v)
		}
	}
	// A stale writer is still refused.
	stale, _ := model.NewPolicy(project, agePolicy(project, true))
	stale.Version = n
	wantKind(t, s.PutPolicy(ctx, &stale, model.PolicyChange{Project: project, FromVersion: n - 1, ToVersion: n}), model.KindConflict)
}

// putPolicies stores versions 1 to n of project's policy, a change a minute (the
// change of version v made at t0+v minutes, correlation id c-<v>).
func putPolicies(t testing.TB, s *Store, project string, n int) {
	t.Helper()
	for v := 1; v <= n; v++ {
		p, change := policyVersion(t, project, v)
		if err := s.PutPolicy(context.Background(), &p, change); err != nil {
			t.Fatalf("version %d: %v", v, err)
		}
	}
}

// policyVersion is version v of project's policy as putPolicies stores it, and
// the change that made it.
func policyVersion(t testing.TB, project string, v int) (model.Policy, model.PolicyChange) {
	t.Helper()
	p, err := model.NewPolicy(project, agePolicy(project, v%2 == 0))
	if err != nil {
		t.Fatal(err)
	}
	p.Version, p.UpdatedAt, p.UpdatedBy = v, t0.Add(time.Duration(v)*time.Minute), "ada"
	return p, model.PolicyChange{Project: project, Actor: "ada", ActorType: model.ActorUser, FromVersion: v - 1, ToVersion: v, CorrelationID: fmt.Sprintf("c-%d", v), At: p.UpdatedAt}
}

// A write that moved events to an overflow document and then lost its version race
// (or died before its artifact write) leaves a copy the artifact still holds:
// readers see every event once, and the next write fills the same slots without
// duplicating anything.
func TestSpillWithoutItsArtifactWriteLosesAndDuplicatesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	p, err := model.NewPolicy("payments", agePolicy("payments", true))
	if err != nil {
		t.Fatal(err)
	}
	full := agedArtifact(t, "payments", "svc", auditTrail.Keep+auditTrail.Step, &p)
	cut := *full
	cut.Audit = full.Audit[:len(full.Audit)-1]
	cut.Promotions = full.Promotions
	if err := s.InsertArtifactsBulk(ctx, []*model.Artifact{&cut}); err != nil {
		t.Fatal(err)
	}
	cur := s.mustGet(t, full.ID)
	if cur.AuditFrom != 0 || len(cur.Audit) != auditTrail.Keep+auditTrail.Step-1 {
		t.Fatalf("setup: %d inline from %d", len(cur.Audit), cur.AuditFrom)
	}
	next := *cur
	next.Audit = append(slices.Clone(cur.Audit), full.Audit[len(full.Audit)-1])

	// A writer holding a stale version spills, then loses the race.
	stale := *cur
	stale.Version--
	wantKind(t, s.UpdateArtifact(ctx, &stale, &next), model.KindConflict)
	if docs := trailBuckets(t, s, auditTrail, full.ID); len(docs) != 1 || len(docs[0].Entries) != auditTrail.Step {
		t.Fatalf("the losing writer left %d buckets", len(docs))
	}
	if a := s.mustGet(t, full.ID); a.AuditFrom != 0 || len(a.Audit) != len(cur.Audit) {
		t.Fatalf("the losing write changed the artifact: %d inline from %d", len(a.Audit), a.AuditFrom)
	}
	events, err := s.ArtifactAudit(ctx, cur, 0, cur.AuditLen())
	if err != nil || !reflect.DeepEqual(events, normalized(&cut).Audit) {
		t.Fatalf("trail after the lost race: %v, %d events", err, len(events))
	}

	// The next write moves the same events into the same slot.
	if err := s.UpdateArtifact(ctx, cur, &next); err != nil {
		t.Fatal(err)
	}
	a := s.mustGet(t, full.ID)
	if a.AuditFrom != auditTrail.Step || len(a.Audit) != auditTrail.Keep {
		t.Fatalf("after the write: %d inline from %d", len(a.Audit), a.AuditFrom)
	}
	docs := trailBuckets(t, s, auditTrail, full.ID)
	if len(docs) != 1 || len(docs[0].Entries) != auditTrail.Step || docs[0].First != 0 {
		t.Fatalf("buckets after the write: %d documents, first holds %d entries", len(docs), len(docs[0].Entries))
	}
	for i, e := range docs[0].Entries {
		if got := ownedAudit(full, decodeAudit(t, e)); !reflect.DeepEqual(got, normalized(full).Audit[i]) {
			t.Fatalf("bucket 0 slot %d holds %+v", i, got)
		}
	}
	events, err = s.ArtifactAudit(ctx, a, 0, a.AuditLen())
	if err != nil || !reflect.DeepEqual(events, normalized(full).Audit) {
		t.Fatalf("trail after the write: %v, %d events", err, len(events))
	}

	// A surplus copy beyond what the artifact let go of (a crash right after a
	// spill) is ignored by readers.
	if err := trailOf[auditDoc](s, auditTrail, a.ID).Spill(ctx, a.AuditFrom, mapSlice(a.Audit[:3], toAuditDoc)); err != nil {
		t.Fatal(err)
	}
	events, err = s.ArtifactAudit(ctx, a, 0, a.AuditLen())
	if err != nil || !reflect.DeepEqual(events, normalized(full).Audit) {
		t.Fatalf("trail with a surplus copy: %v, %d events", err, len(events))
	}
}

// The outbox replay of a write whose projections were lost finds the write's
// events in the overflow documents when later writes moved them out of the
// artifact.
func TestOutboxReplayReadsEventsMovedOutSince(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	svc := service.New(s, service.WithClock(steppingClock(t0)))
	rq := service.Request{Actor: ageActor, CorrelationID: "test"}
	a, err := svc.Register(ctx, rq, model.RegisterInput{Project: "payments", Digest: digestOf("replayed"), Kind: model.KindOCIImage, SourceType: model.SourceOCIRegistry, Source: "registry.example.com/payments/api"})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(corr string) {
		t.Helper()
		if _, err := svc.Verify(ctx, service.Request{Actor: ageActor, CorrelationID: corr}, a.ID, nil, ""); err != nil {
			t.Fatal(err)
		}
	}
	s.crashAfterWrite = func(*model.Artifact) bool { return true } // projections of this write are lost
	verify("lost")
	s.crashAfterWrite = nil
	for k := 0; k < 3*auditTrail.Step; k++ {
		verify(fmt.Sprintf("later-%d", k))
	}
	if cur := s.mustGet(t, a.ID); cur.AuditFrom < 2 {
		t.Fatalf("the lost write's event is still inline (audit from %d)", cur.AuditFrom)
	}
	if n, err := s.replayOutbox(ctx, 0); err != nil || n != 1 {
		t.Fatalf("replay: %d %v", n, err)
	}
	page, err := s.AuditEvents(ctx, service.AuditQuery{Project: "payments", First: 100, Filter: service.AuditFilter{CorrelationID: "lost"}})
	if err != nil || len(page.Items) != 1 || page.Items[0].Seq != 1 {
		t.Fatalf("the lost write's event in the feed: %v %+v", err, page.Items)
	}
}

// Documents written before trails were bounded hold every entry inline: they read
// as they are, and the next write moves their older entries out.
func TestDocumentsWrittenWhollyInlineAreBoundedByTheirNextWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	svc := service.New(s, service.WithClock(steppingClock(t0.Add(1000*time.Hour))))
	rq := service.Request{Actor: ageActor, CorrelationID: "test"}
	const project = "legacy"
	p, err := model.NewPolicy(project, agePolicy(project, true))
	if err != nil {
		t.Fatal(err)
	}
	// The old layouts, written with the raw driver.
	a := agedArtifact(t, project, "svc", 300, &p)
	if _, err := s.artifacts.InsertOne(ctx, toArtifactDoc(a)); err != nil {
		t.Fatal(err)
	}
	if err := s.RebuildProjections(ctx, project); err != nil {
		t.Fatal(err)
	}
	pd := toPolicyDoc(&p)
	for v := 1; v <= 40; v++ {
		pd.Changes = append(pd.Changes, toPolicyChangeDoc(model.PolicyChange{Project: project, Actor: "ada", ActorType: model.ActorUser, FromVersion: v - 1, ToVersion: v, CorrelationID: fmt.Sprintf("c-%d", v), At: t0}))
	}
	pd.Version = 40
	if _, err := s.policies.InsertOne(ctx, pd); err != nil {
		t.Fatal(err)
	}
	s.cacheWritten(s.policies, project) // written behind the store's back
	before := len(rawDoc(t, s, artifactsCollection, a.ID))
	if got := s.mustGet(t, a.ID); got.AuditFrom != 0 || len(got.Audit) != 300 {
		t.Fatalf("legacy document reads as %d events from %d", len(got.Audit), got.AuditFrom)
	}

	v, err := svc.Verify(ctx, rq, a.ID, nil, "first write since")
	if err != nil {
		t.Fatal(err)
	}
	if size := len(rawDoc(t, s, artifactsCollection, a.ID)); size > maxArtifactDocBytes || size*10 > before {
		t.Fatalf("the artifact document holds %d bytes after its next write (%d before)", size, before)
	}
	events, err := svc.ArtifactAudit(ctx, rq, s.mustGet(t, a.ID), nil)
	if err != nil || len(events) != 301 || !reflect.DeepEqual(events[:300], normalized(a).Audit) || !reflect.DeepEqual(events[300], v.Audit[300]) {
		t.Fatalf("the trail after the first write: %v, %d events", err, len(events))
	}

	if _, err := svc.SetPolicy(ctx, rq, project, agePolicy(project, false)); err != nil {
		t.Fatal(err)
	}
	if size := len(rawDoc(t, s, policiesCollection, project)); size > 2<<10 {
		t.Fatalf("the policy document holds %d bytes after its next write", size)
	}
	changes, err := svc.PolicyHistory(ctx, rq, project, nil)
	if err != nil || len(changes) != 41 || changes[0].ToVersion != 41 || changes[40].ToVersion != 1 {
		t.Fatalf("policy history after the first write: %v %d", err, len(changes))
	}
}

// The events an artifact document and its overflow documents hold leave out what
// they share with the artifact (project, id, digest, kind, source type), and every
// read (the artifact, its whole trail, the audit feed) gives them back whole.
func TestStoredEventsLeaveOutTheirArtifactsFieldsAndReadBackWhole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := model.DefaultPolicy("aged")
	p.AllowedSources = []string{"registry.example.com/"}
	full := agedArtifact(t, "aged", "svc", 40, &p)
	s := openTest(t, t.TempDir())
	if err := s.InsertArtifactsBulk(ctx, []*model.Artifact{full}); err != nil {
		t.Fatal(err)
	}
	owned := []string{"project", "artifactId", "digest", "kind", "sourceType"}
	var doc struct {
		Audit []bson.Raw `bson:"audit"`
	}
	if err := s.artifacts.FindOne(ctx, bson.D{{Key: "_id", Value: full.ID}}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	stored := doc.Audit
	for _, o := range trailBuckets(t, s, auditTrail, full.ID) {
		stored = append(stored, o.Entries...)
	}
	if len(stored) != len(full.Audit) {
		t.Fatalf("%d events stored, want %d", len(stored), len(full.Audit))
	}
	for i, raw := range stored {
		for _, f := range owned {
			if _, err := raw.LookupErr(f); err == nil {
				t.Fatalf("stored event %d repeats its artifact's %s", i, f)
			}
		}
	}
	a := s.mustGet(t, full.ID)
	events, err := s.ArtifactAudit(ctx, a, 0, a.AuditLen())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(events, normalized(full).Audit) {
		t.Fatal("the trail read back differs from the one written")
	}
	for _, e := range events {
		if e.Project != full.Project || e.ArtifactID != full.ID || e.Digest != full.Digest || e.Kind != full.Kind || e.SourceType != full.SourceType {
			t.Fatalf("event read back without its artifact's fields: %+v", e)
		}
	}
	page, err := s.AuditEvents(ctx, service.AuditQuery{Project: full.Project, First: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 5 {
		t.Fatalf("feed page of %d events, want 5", len(page.Items))
	}
	for _, it := range page.Items {
		if it.Event.Digest != full.Digest || it.Event.Kind != full.Kind || it.Event.SourceType != full.SourceType || it.Event.ArtifactID != full.ID {
			t.Fatalf("feed event without its artifact's fields: %+v", it.Event)
		}
	}
}

// toLegacyOverflow rewrites the buckets of owner's trail sp into the layout
// before overflowSchema 2, behind the store's back: document "<owner>:<name>:<n>"
// {owner, trail, first, entries: [{seq, <fields>}]}, no version, its entries out
// of order and one twice (as $addToSet upserts could leave them). The owner's
// fields are the same in both layouts.
func toLegacyOverflow(t *testing.T, s *Store, sp *bucketlog.TrailSpec, owner string, keepNew bool) int {
	t.Helper()
	ctx := context.Background()
	buckets := trailBuckets(t, s, sp, owner)
	for n, b := range buckets {
		var entries []bson.D
		for i, raw := range b.Entries {
			var e bson.D
			if err := bson.Unmarshal(raw, &e); err != nil {
				t.Fatal(err)
			}
			entries = append(entries, append(bson.D{{Key: "seq", Value: b.First + i}}, e...))
		}
		slices.Reverse(entries)
		entries = append(entries, entries[0])
		old := bson.D{{Key: "_id", Value: fmt.Sprintf("%s:%s:%d", owner, sp.Name, n)}, {Key: "owner", Value: owner}, {Key: "trail", Value: sp.Name}, {Key: "first", Value: b.First}, {Key: "entries", Value: entries}}
		if _, err := s.overflow.InsertOne(ctx, old); err != nil {
			t.Fatal(err)
		}
		if keepNew && n == 0 {
			continue // as a move interrupted after its copy, before its delete
		}
		if _, err := s.overflow.DeleteOne(ctx, bson.D{{Key: "_id", Value: b.ID}}); err != nil {
			t.Fatal(err)
		}
	}
	return len(buckets)
}

// Overflow documents of the layout before buckets (their own mechanism, with
// $addToSet and no version) are moved into the bucket layout when the store
// opens, once: the whole audit trail, the promotions and the policy's change
// trail read back intact (a copy already moved by an interrupted migration, a
// duplicate entry and a surplus beyond the owner's from included), and later
// writes append to them.
func TestOverflowOfTheOldLayoutIsMovedIntoBucketsAtOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	const project = "legacy"
	p, err := model.NewPolicy(project, agePolicy(project, false))
	if err != nil {
		t.Fatal(err)
	}
	full := promotedOften(t, agedArtifact(t, project, "svc", 60, &p), &p, 40)
	if err := s.InsertArtifactsBulk(ctx, []*model.Artifact{full}); err != nil {
		t.Fatal(err)
	}
	putPolicies(t, s, project, 40)
	stored := s.mustGet(t, full.ID)
	// A surplus: a spill of the artifact's oldest inline events whose artifact
	// write never landed.
	if err := trailOf[auditDoc](s, auditTrail, full.ID).Spill(ctx, stored.AuditFrom, mapSlice(stored.Audit[:3], toAuditDoc)); err != nil {
		t.Fatal(err)
	}
	moved := toLegacyOverflow(t, s, auditTrail, full.ID, true) + toLegacyOverflow(t, s, promotionTrail, full.ID, false) + toLegacyOverflow(t, s, policyTrail, project, false)
	if _, err := s.overflow.DeleteOne(ctx, bson.D{{Key: "_id", Value: overflowMetaID}}); err != nil {
		t.Fatal(err)
	}
	// The engine refuses the write of the first promotions bucket: the start
	// fails, and since an old document is deleted only once its entries are in
	// their bucket, the next start, with the engine accepting it again, finishes
	// the move with nothing lost (checked below).
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	firstPromotions := trailOf[promotionDoc](s, promotionTrail, full.ID).BucketID(0)
	accept := refuseWrites(t, dir, overflowCollection, "move", fmt.Sprintf(`json_extract(NEW._ferretdb_sjson, '$._id') = '%s'`, firstPromotions))
	if broken, err := Open(ctx, Config{DataDir: dir}, testLog(t)); err == nil {
		_ = broken.Close(ctx)
		t.Fatal("the store opened although a bucket of the move could not be written")
	}
	accept()

	s = openTest(t, dir)
	n, err := s.overflow.CountDocuments(ctx, bson.D{{Key: "version", Value: bson.D{{Key: "$exists", Value: false}}}})
	if err != nil || n != 0 {
		t.Fatalf("%d documents of the old layout left (%v)", n, err)
	}
	// The move is recorded: the next start reads the record and nothing else of
	// the collection.
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	counter := &commandCounter{}
	counter.during(func() {
		reopened, err := Open(ctx, Config{DataDir: dir, monitor: counter.monitor()}, testLog(t))
		if err != nil {
			t.Fatal(err)
		}
		s = reopened
	})
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	if finds, ids := counter.n["find "+overflowCollection], counter.foundIDs(overflowCollection); finds != 1 || len(ids) != 1 || ids[0] != fmt.Sprintf("%q", overflowMetaID) {
		t.Fatalf("a start after the move sent %d finds to the overflow collection (%v), want the record's alone", finds, ids)
	}
	if got := len(trailBuckets(t, s, auditTrail, full.ID)) + len(trailBuckets(t, s, promotionTrail, full.ID)) + len(trailBuckets(t, s, policyTrail, project)); got != moved {
		t.Fatalf("%d buckets after the move, want %d", got, moved)
	}
	check := func(when string, audit []model.AuditEvent, promotions []model.Promotion, changes int) {
		t.Helper()
		a := s.mustGet(t, full.ID)
		events, err := s.ArtifactAudit(ctx, a, 0, a.AuditLen())
		if err != nil || !reflect.DeepEqual(events, audit) {
			t.Fatalf("%s: audit trail read back: %v, %d events, want %d", when, err, len(events), len(audit))
		}
		prs, err := s.ArtifactPromotions(ctx, a, 0, a.PromotionsLen())
		if err != nil || !reflect.DeepEqual(prs, promotions) {
			t.Fatalf("%s: promotions read back: %v, %d, want %d", when, err, len(prs), len(promotions))
		}
		cs, err := s.PolicyChanges(ctx, project)
		if err != nil || len(cs) != changes {
			t.Fatalf("%s: policy changes: %v %d, want %d", when, err, len(cs), changes)
		}
		for i, c := range cs {
			if c.ToVersion != changes-i {
				t.Fatalf("%s: policy change %d is version %d", when, i, c.ToVersion)
			}
		}
	}
	check("after the move", normalized(full).Audit, normalized(full).Promotions, 40)

	// Later writes append to the moved trails (and spill into their buckets).
	svc := service.New(s, service.WithClock(steppingClock(t0.Add(1000*time.Hour))))
	rq := service.Request{Actor: ageActor, CorrelationID: "after"}
	audit, promotions := normalized(full).Audit, normalized(full).Promotions
	for k := 0; k < 20; k++ {
		a, err := svc.Promote(ctx, rq, full.ID, model.PromotionRequest{Channel: model.ChannelProd, TargetEnvironment: "eu"})
		if err != nil {
			t.Fatalf("promotion %d: %v", k, err)
		}
		audit, promotions = append(audit, a.Audit[len(a.Audit)-1]), append(promotions, a.Promotions[len(a.Promotions)-1])
	}
	for k := 0; k < 5; k++ {
		if _, err := svc.SetPolicy(ctx, rq, project, agePolicy(project, k%2 == 0)); err != nil {
			t.Fatal(err)
		}
	}
	if a := s.mustGet(t, full.ID); a.AuditFrom <= stored.AuditFrom || a.PromotionsFrom <= stored.PromotionsFrom {
		t.Fatalf("the writes moved nothing out: audit from %d (was %d), promotions from %d (was %d)", a.AuditFrom, stored.AuditFrom, a.PromotionsFrom, stored.PromotionsFrom)
	}
	check("after more writes", audit, promotions, 45)
}

// An old-layout overflow document the move cannot take whole (here: an entry
// missing at its start) is kept as it is, and the move is not recorded as done:
// every start tries it again, until an operator repaired or removed it.
func TestOverflowOfTheOldLayoutThatCannotBeMovedIsKeptAndTriedAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	const broken = "art_x:audit:0"
	gap := bson.D{{Key: "_id", Value: broken}, {Key: "owner", Value: "art_x"}, {Key: "trail", Value: "audit"}, {Key: "first", Value: 0},
		{Key: "entries", Value: bson.A{bson.D{{Key: "seq", Value: 1}, {Key: "action", Value: "VERIFY"}}}}}
	if _, err := s.overflow.InsertOne(ctx, gap); err != nil {
		t.Fatal(err)
	}
	if _, err := s.overflow.DeleteOne(ctx, bson.D{{Key: "_id", Value: overflowMetaID}}); err != nil {
		t.Fatal(err)
	}
	recorded := func(s *Store) bool {
		n, err := s.overflow.CountDocuments(ctx, bson.D{{Key: "_id", Value: overflowMetaID}})
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	for start := 1; start <= 2; start++ {
		if err := s.Close(ctx); err != nil {
			t.Fatal(err)
		}
		s = openTest(t, dir)
		if n, err := s.overflow.CountDocuments(ctx, bson.D{{Key: "_id", Value: broken}}); err != nil || n != 1 {
			t.Fatalf("start %d: the document that cannot be moved: %d left (%v), want it kept", start, n, err)
		}
		if recorded(s) {
			t.Fatalf("start %d: the move is recorded as done with a document of the old layout left", start)
		}
	}
	if _, err := s.overflow.DeleteOne(ctx, bson.D{{Key: "_id", Value: broken}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s = openTest(t, dir); !recorded(s) {
		t.Fatal("the move is not recorded once nothing of the old layout is left")
	}
}
