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
)

// overflowIDs lists the _id of every overflow document of owner's trail, in order.
func overflowDocs(t testing.TB, s *Store, sp trailSpec, owner string) []overflowDoc[bson.Raw] {
	t.Helper()
	var out []overflowDoc[bson.Raw]
	for n := 0; ; n++ {
		var d struct {
			ID      string     `bson:"_id"`
			Owner   string     `bson:"owner"`
			Trail   string     `bson:"trail"`
			First   int        `bson:"first"`
			Entries []bson.Raw `bson:"entries"`
		}
		err := s.overflow.FindOne(context.Background(), bson.D{{Key: "_id", Value: sp.overflowID(owner, n)}}).Decode(&d)
		if err != nil {
			return out
		}
		out = append(out, overflowDoc[bson.Raw]{ID: d.ID, Owner: d.Owner, Trail: d.Trail, First: d.First, Entries: mapSlice(d.Entries, func(r bson.Raw) overflowEntry[bson.Raw] {
			return overflowEntry[bson.Raw]{Seq: int(r.Lookup("seq").AsInt64()), Entry: r}
		})})
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
	const n = 100
	full := agedArtifact(t, "aged", "svc", n, &p)
	// More promotions than the artifact keeps inline, spread over the history.
	admin := model.Actor{Subject: "alice", Type: model.ActorUser, Roles: map[string][]model.Role{"aged": {model.RoleProjectAdmin}}}
	for k := 0; k < 40; k++ {
		next, err := model.Promote(*full, &p, admin, model.PromotionRequest{Channel: model.ChannelProd, TargetEnvironment: fmt.Sprintf("r%d", k%3)}, fmt.Sprintf("p-%d", k), ms(t0.Add(time.Duration(n+k)*time.Hour)))
		if err != nil {
			t.Fatal(err)
		}
		full = &next
	}

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
	for _, sp := range []trailSpec{auditTrail, promotionTrail} {
		da, db := overflowDocs(t, whole, sp, full.ID), overflowDocs(t, stepwise, sp, full.ID)
		if len(da) == 0 || !reflect.DeepEqual(da, db) {
			t.Fatalf("%s overflow documents differ: %d whole, %d stepwise", sp.name, len(da), len(db))
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
		if len(raw) > maxArtifactDocBytes || len(a.Audit) >= auditTrail.keep+auditTrail.step || len(a.Promotions) >= promotionTrail.keep+promotionTrail.step {
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
	for v := 1; v <= n; v++ {
		p, err := model.NewPolicy(project, agePolicy(project, v%2 == 0))
		if err != nil {
			t.Fatal(err)
		}
		p.Version, p.UpdatedAt, p.UpdatedBy = v, t0.Add(time.Duration(v)*time.Minute), "ada"
		change := model.PolicyChange{Project: project, Actor: "ada", ActorType: model.ActorUser, FromVersion: v - 1, ToVersion: v, CorrelationID: fmt.Sprintf("c-%d", v), At: p.UpdatedAt}
		if err := s.PutPolicy(ctx, &p, change); err != nil {
			t.Fatalf("version %d: %v", v, err)
		}
	}
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
	full := agedArtifact(t, "payments", "svc", auditTrail.keep+auditTrail.step, &p)
	cut := *full
	cut.Audit = full.Audit[:len(full.Audit)-1]
	cut.Promotions = full.Promotions
	if err := s.InsertArtifactsBulk(ctx, []*model.Artifact{&cut}); err != nil {
		t.Fatal(err)
	}
	cur := s.mustGet(t, full.ID)
	if cur.AuditFrom != 0 || len(cur.Audit) != auditTrail.keep+auditTrail.step-1 {
		t.Fatalf("setup: %d inline from %d", len(cur.Audit), cur.AuditFrom)
	}
	next := *cur
	next.Audit = append(slices.Clone(cur.Audit), full.Audit[len(full.Audit)-1])

	// A writer holding a stale version spills, then loses the race.
	stale := *cur
	stale.Version--
	wantKind(t, s.UpdateArtifact(ctx, &stale, &next), model.KindConflict)
	if docs := overflowDocs(t, s, auditTrail, full.ID); len(docs) != 1 || len(docs[0].Entries) != auditTrail.step {
		t.Fatalf("the losing writer left %d overflow documents", len(docs))
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
	if a.AuditFrom != auditTrail.step || len(a.Audit) != auditTrail.keep {
		t.Fatalf("after the write: %d inline from %d", len(a.Audit), a.AuditFrom)
	}
	docs := overflowDocs(t, s, auditTrail, full.ID)
	if len(docs) != 1 || len(docs[0].Entries) != auditTrail.step {
		t.Fatalf("overflow after the write: %d documents, first holds %d entries", len(docs), len(docs[0].Entries))
	}
	for i, e := range docs[0].Entries {
		if e.Seq != i {
			t.Fatalf("overflow entry %d has seq %d", i, e.Seq)
		}
	}
	events, err = s.ArtifactAudit(ctx, a, 0, a.AuditLen())
	if err != nil || !reflect.DeepEqual(events, normalized(full).Audit) {
		t.Fatalf("trail after the write: %v, %d events", err, len(events))
	}

	// A surplus copy beyond what the artifact let go of (a crash right after a
	// spill) is ignored by readers.
	if err := spill(ctx, s.overflow, auditTrail, a.ID, a.AuditFrom, mapSlice(a.Audit[:3], toAuditDoc), false); err != nil {
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
	for k := 0; k < 3*auditTrail.step; k++ {
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
	for _, o := range overflowDocs(t, s, auditTrail, full.ID) {
		for _, e := range o.Entries {
			stored = append(stored, e.Entry)
		}
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
