package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

func openTest(t testing.TB, dir string) *Store {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, Config{DataDir: dir}, testLog(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	if !s.Embedded() {
		t.Fatal("Embedded() = false without MongoURI")
	}
	return s
}

// testLog sends the store's log lines to the test log.
func testLog(t testing.TB) *logrus.Entry {
	l := logrus.New()
	l.SetOutput(testWriter{t})
	return logrus.NewEntry(l)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func digestOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(h[:])
}

var (
	publisher = model.Actor{Subject: "ci-release", Type: model.ActorServiceAccount}
	alice     = model.Actor{Subject: "alice", Type: model.ActorUser}
)

// newArtifact builds a registered artifact of project named by n at time at.
func newArtifact(project, n string, at time.Time) *model.Artifact {
	a := model.NewArtifact(model.RegisterInput{
		Project:    project,
		Digest:     digestOf(project + "/" + n),
		Kind:       model.KindOCIImage,
		SourceType: model.SourceOCIRegistry,
		Source:     "registry.example.com/" + project + "/" + n,
		Tags:       []string{"v-" + n},
	}, publisher, "corr-"+n, at)
	return &a
}

func mustInsert(t testing.TB, s *Store, a *model.Artifact) {
	t.Helper()
	if err := s.InsertArtifact(context.Background(), a); err != nil {
		t.Fatalf("InsertArtifact(%s): %v", a.ID, err)
	}
}

func wantKind(t *testing.T, err error, k model.ErrorKind) {
	t.Helper()
	if !model.IsKind(err, k) {
		t.Fatalf("got error %v (kind %s), want kind %s", err, model.KindOf(err), k)
	}
}

// t0 is a base time with sub-millisecond digits and a non-UTC zone, so tests see
// the store's normalization.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))

func TestInsertDuplicateIsConflict(t *testing.T) {
	t.Parallel()
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	a := newArtifact("payments", "api", t0)
	mustInsert(t, s, a)

	// Same id.
	wantKind(t, s.InsertArtifact(ctx, newArtifact("payments", "api", t0)), model.KindConflict)

	// Different id, same (project, digest): the unique index refuses it.
	b := newArtifact("payments", "api", t0)
	b.ID = "art_other_id"
	err := s.InsertArtifact(ctx, b)
	wantKind(t, err, model.KindConflict)

	// Same digest in another project is another artifact.
	c := newArtifact("payments", "api", t0)
	c.Project = "billing"
	c.ID = model.ArtifactID(c.Project, c.Digest)
	mustInsert(t, s, c)
}

func TestGetRoundTripsEveryField(t *testing.T) {
	t.Parallel()
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	a := &model.Artifact{
		Project:        "payments",
		Digest:         digestOf("full"),
		Kind:           model.KindBinary,
		SourceType:     model.SourceHTTPS,
		Source:         "https://downloads.example.com/tool.tar.gz",
		RuntimeClass:   "vm-large",
		Tags:           []string{"stable", "v1.2.3"},
		LifecycleState: model.LifecyclePromoted,
		TrustState:     model.TrustVerified,
		Verification: []model.VerificationRecord{
			{Check: model.CheckSignature, Result: model.ResultPassed, Detail: "cosign ok", RecordedBy: "verifier-bot", RecordedAt: t0.Add(time.Minute), Basis: model.BasisClaimed},
			{Check: model.CheckAttestation, Result: model.ResultFailed, RecordedBy: "verifier-bot", RecordedAt: t0.Add(2 * time.Minute), Basis: model.BasisVerified, EvidenceID: "ev_1"},
		},
		Evidence: []model.Evidence{{
			ID: "ev_1", Format: model.FormatDSSEInToto, Check: model.CheckAttestation, Result: model.ResultFailed,
			Detail: "verification was attempted and failed: x", PredicateType: "https://slsa.dev/provenance/v1",
			KeyIDs: []string{"k1", "k2"}, EnvelopeSHA256: "abc", SubmittedBy: "verifier-bot", SubmittedAt: t0.Add(2 * time.Minute), PolicyVersion: 3,
		}},
		Promotions: []model.Promotion{
			{Channel: model.ChannelDev, TargetEnvironment: "dev-eu", PromotedBy: "alice", PromotedAt: t0.Add(3 * time.Minute), Reason: "first", CorrelationID: "c-1"},
			{Channel: model.ChannelTest, PromotedBy: "alice", PromotedAt: t0.Add(4 * time.Minute), CorrelationID: "c-2",
				BreakGlass: true, Justification: "CVE fix", Ticket: "INC-1"},
		},
		RegisteredBy: "ci-release",
		TrustEpoch:   3,
		Approvals: []model.Approval{
			{Channel: model.ChannelProd, TargetEnvironment: "eu-1", Decision: model.DecisionApproved, DecidedBy: "erin", DecidedAt: t0.Add(5 * time.Minute),
				Comment: "ok", ExpiresAt: t0.Add(time.Hour), PolicyVersion: 2, CorrelationID: "c-a", TrustKey: "k", TrustEpoch: 3,
				Roles: []model.Role{model.RoleProjectAdmin, model.RolePromoter}},
			{Channel: model.ChannelProd, Decision: model.DecisionRejected, DecidedBy: "frank", DecidedAt: t0.Add(5 * time.Minute), ExpiresAt: t0.Add(time.Hour), CorrelationID: "c-r"},
		},
		Version:   1,
		CreatedAt: t0,
		UpdatedAt: t0.Add(5 * time.Minute),
	}
	a.ID = model.ArtifactID(a.Project, a.Digest)
	ev := a.Event(model.ActionRegister, publisher, "c-0", "", t0)
	ev.ToState = string(model.LifecyclePublished)
	ev2 := a.Event(model.ActionVerify, alice, "c-v", "nightly", t0.Add(time.Minute))
	ev2.FromState, ev2.ToState = string(model.TrustUnverified), string(model.TrustVerified)
	ev2.Verification = a.Verification
	ev3 := a.Event(model.ActionPromote, alice, "c-1", "first", t0.Add(3*time.Minute))
	ev3.PromotionChannel, ev3.PromotionEnvironment = model.ChannelDev, "dev-eu"
	ev3.FromState, ev3.ToState = string(model.LifecyclePublished), string(model.LifecyclePromoted)
	ev4 := a.Event(model.ActionPromote, alice, "c-2", "", t0.Add(4*time.Minute))
	ev4.PromotionChannel, ev4.BreakGlass, ev4.Justification, ev4.Ticket = model.ChannelTest, true, "CVE fix", "INC-1"
	a.Audit = []model.AuditEvent{ev, ev2, ev3, ev4}
	for i := range a.Approvals {
		a.Approvals[i].ArtifactID = a.ID
	}

	mustInsert(t, s, a)
	got, err := s.GetArtifact(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := normalized(a)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, want)
	}
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt location = %v, want UTC", got.CreatedAt.Location())
	}

	// Empty lists come back empty, not nil.
	b := newArtifact("payments", "empty", t0)
	b.Tags = nil
	mustInsert(t, s, b)
	gotB, err := s.GetArtifact(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if gotB.Tags == nil || gotB.Verification == nil || gotB.Promotions == nil || len(gotB.Audit) != 1 {
		t.Fatalf("empty lists: tags %#v verification %#v promotions %#v audit %d", gotB.Tags, gotB.Verification, gotB.Promotions, len(gotB.Audit))
	}

	_, err = s.GetArtifact(ctx, "art_missing")
	wantKind(t, err, model.KindNotFound)
}

// normalized is a as the store returns it: times UTC to the millisecond.
func normalized(a *model.Artifact) *model.Artifact {
	n := *a
	n.CreatedAt, n.UpdatedAt = ms(a.CreatedAt), ms(a.UpdatedAt)
	n.Verification = normVerification(a.Verification)
	n.Promotions = []model.Promotion{}
	for _, p := range a.Promotions {
		p.PromotedAt = ms(p.PromotedAt)
		n.Promotions = append(n.Promotions, p)
	}
	n.Evidence = []model.Evidence{}
	for _, e := range a.Evidence {
		e.SubmittedAt = ms(e.SubmittedAt)
		n.Evidence = append(n.Evidence, e)
	}
	n.Approvals = nil
	for _, ap := range a.Approvals {
		ap.DecidedAt, ap.ExpiresAt = ms(ap.DecidedAt), ms(ap.ExpiresAt)
		n.Approvals = append(n.Approvals, ap)
	}
	n.Audit = nil
	for _, e := range a.Audit {
		e.At = ms(e.At)
		if e.Verification != nil {
			e.Verification = normVerification(e.Verification)
		}
		n.Audit = append(n.Audit, e)
	}
	return &n
}

func normVerification(in []model.VerificationRecord) []model.VerificationRecord {
	out := []model.VerificationRecord{}
	for _, r := range in {
		r.RecordedAt = ms(r.RecordedAt)
		if r.Basis == "" { // stored before bases were recorded
			r.Basis = model.DefaultBasis(r.Check)
		}
		out = append(out, r)
	}
	return out
}

func TestUpdateArtifactAppendsAndBumpsVersion(t *testing.T) {
	t.Parallel()
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	a := newArtifact("payments", "api", t0)
	mustInsert(t, s, a)

	before, err := s.GetArtifact(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	policy := model.DefaultPolicy("payments")
	after, err := model.Promote(*before, &policy, model.Actor{Subject: "alice", Type: model.ActorUser, Roles: map[string][]model.Role{"payments": {model.RolePromoter}}},
		model.PromotionRequest{Channel: model.ChannelDev, TargetEnvironment: "dev", Reason: "try"}, "corr-p", t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	after.Tags = append(after.Tags, "promoted")
	if err := s.UpdateArtifact(ctx, before, &after); err != nil {
		t.Fatal(err)
	}
	if after.Version != 2 {
		t.Errorf("after.Version = %d, want 2", after.Version)
	}
	got, err := s.GetArtifact(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, normalized(&after)) {
		t.Fatalf("after update:\n got %+v\nwant %+v", got, normalized(&after))
	}
	if got.LifecycleState != model.LifecyclePromoted || len(got.Promotions) != 1 || len(got.Audit) != 2 || got.Version != 2 {
		t.Fatalf("unexpected state %s promotions %d audit %d version %d", got.LifecycleState, len(got.Promotions), len(got.Audit), got.Version)
	}

	// A second change on top (verify: trust, verification, one event, no promotion).
	after2, err := model.Verify(*got, &policy, nil, alice, "corr-v", "", t0.Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateArtifact(ctx, got, &after2); err != nil {
		t.Fatal(err)
	}
	got2, err := s.GetArtifact(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got2, normalized(&after2)) {
		t.Fatalf("after verify:\n got %+v\nwant %+v", got2, normalized(&after2))
	}
	if got2.Version != 3 || len(got2.Audit) != 3 || len(got2.Promotions) != 1 {
		t.Fatalf("version %d audit %d promotions %d", got2.Version, len(got2.Audit), len(got2.Promotions))
	}

	// Missing artifact: NOT_FOUND.
	ghost := newArtifact("payments", "ghost", t0)
	ghost2 := *ghost
	wantKind(t, s.UpdateArtifact(ctx, ghost, &ghost2), model.KindNotFound)
}

func TestUpdateArtifactStaleVersionIsConflict(t *testing.T) {
	t.Parallel()
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	a := newArtifact("payments", "api", t0)
	mustInsert(t, s, a)

	// Two requests read version 1.
	r1, _ := s.GetArtifact(ctx, a.ID)
	r2, _ := s.GetArtifact(ctx, a.ID)
	policy := model.DefaultPolicy("payments")

	w1, err := model.Deprecate(*r1, alice, "corr-1", "old", t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateArtifact(ctx, r1, &w1); err != nil {
		t.Fatal(err)
	}
	w2, err := model.Verify(*r2, &policy, nil, alice, "corr-2", "", t0.Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	wantKind(t, s.UpdateArtifact(ctx, r2, &w2), model.KindConflict)
	if w2.Version != 1 {
		t.Errorf("losing write changed after.Version to %d", w2.Version)
	}

	got, _ := s.GetArtifact(ctx, a.ID)
	if got.Version != 2 || got.LifecycleState != model.LifecycleDeprecated || got.TrustState != model.TrustUnverified || len(got.Audit) != 2 || got.Audit[1].Action != model.ActionDeprecate {
		t.Fatalf("stale write leaked: version %d lifecycle %s trust %s audit %d", got.Version, got.LifecycleState, got.TrustState, len(got.Audit))
	}
}

// TestConcurrentUpdates races unserialized writers on one artifact: exactly
// one writer wins each version and no event is lost or doubled.
func TestConcurrentUpdates(t *testing.T) {
	t.Parallel()
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	a := newArtifact("payments", "api", t0)
	mustInsert(t, s, a)

	const writers = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, conflicts := 0, 0
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cur, err := s.GetArtifact(ctx, a.ID)
			if err != nil {
				t.Error(err)
				return
			}
			ev := cur.Event(model.ActionDeprecate, alice, fmt.Sprintf("race-%d", i), "", t0.Add(time.Duration(i+1)*time.Second))
			next := *cur
			next.Audit = append(append([]model.AuditEvent(nil), cur.Audit...), ev)
			err = s.UpdateArtifact(ctx, cur, &next)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case model.IsKind(err, model.KindConflict):
				conflicts++
			default:
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	got, _ := s.GetArtifact(ctx, a.ID)
	if wins < 1 || wins+conflicts != writers || got.Version != 1+wins || len(got.Audit) != 1+wins {
		t.Fatalf("unlocked race: wins %d conflicts %d, stored version %d audit %d", wins, conflicts, got.Version, len(got.Audit))
	}

}

// seedList stores 25 artifacts in "payments" (some sharing createdAt, so the _id
// tiebreak matters) plus noise in "billing", and returns the payments ones newest
// first.
func seedList(t *testing.T, s *Store) []*model.Artifact {
	t.Helper()
	ctx := context.Background()
	policy := model.DefaultPolicy("payments")
	promoter := model.Actor{Subject: "alice", Type: model.ActorUser, Roles: map[string][]model.Role{"payments": {model.RolePromoter}}}
	var all []*model.Artifact
	for i := 0; i < 25; i++ {
		at := t0.Add(time.Duration(i/3) * time.Minute) // three per minute
		a := newArtifact("payments", fmt.Sprintf("svc-%02d", i), at)
		if i%2 == 0 {
			a.Tags = append(a.Tags, "even")
		}
		if i%5 == 0 {
			a.Kind, a.SourceType = model.KindArchive, model.SourceObjectStore
		}
		mustInsert(t, s, a)
		if i%4 == 0 {
			next, err := model.Promote(*a, &policy, promoter, model.PromotionRequest{Channel: model.ChannelDev}, "p", at.Add(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.UpdateArtifact(ctx, a, &next); err != nil {
				t.Fatal(err)
			}
			a = &next
		}
		if i%3 == 0 {
			next, err := model.Revoke(*a, alice, "r", "bad", at.Add(2*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.UpdateArtifact(ctx, a, &next); err != nil {
				t.Fatal(err)
			}
			a = &next
		}
		all = append(all, normalized(a))
	}
	for i := 0; i < 4; i++ {
		mustInsert(t, s, newArtifact("billing", fmt.Sprintf("noise-%d", i), t0.Add(time.Hour)))
	}
	sortNewestFirst(all)
	return all
}

func sortNewestFirst(as []*model.Artifact) {
	for i := 1; i < len(as); i++ {
		for j := i; j > 0; j-- {
			x, y := as[j-1], as[j]
			if x.CreatedAt.After(y.CreatedAt) || (x.CreatedAt.Equal(y.CreatedAt) && x.ID > y.ID) {
				break
			}
			as[j-1], as[j] = y, x
		}
	}
}

func ids(as []*model.Artifact) []string {
	out := []string{}
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}

func pageAll(t *testing.T, s *Store, f service.ArtifactFilter, size int) ([]*model.Artifact, int) {
	t.Helper()
	var out []*model.Artifact
	var after *model.Cursor
	total := -1
	for n := 0; ; n++ {
		if n > 100 {
			t.Fatal("pagination does not end")
		}
		p, err := s.ListArtifacts(context.Background(), service.ArtifactQuery{Project: "payments", Filter: f, First: size, After: after})
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

func TestListArtifactsPaginationAndFilters(t *testing.T) {
	t.Parallel()
	s := openTest(t, t.TempDir())
	all := seedList(t, s)

	got, total := pageAll(t, s, service.ArtifactFilter{}, 10)
	if total != 25 || !reflect.DeepEqual(ids(got), ids(all)) {
		t.Fatalf("total %d, order\n got %v\nwant %v", total, ids(got), ids(all))
	}
	if !reflect.DeepEqual(got, all) {
		for i := range got {
			if !reflect.DeepEqual(got[i], all[i]) {
				t.Fatalf("listed artifact differs from the stored one:\n got %+v\nwant %+v", got[i], all[i])
			}
		}
	}

	filters := []struct {
		name string
		f    service.ArtifactFilter
		keep func(a *model.Artifact) bool
	}{
		{"trust", service.ArtifactFilter{TrustState: model.TrustRevoked}, func(a *model.Artifact) bool { return a.TrustState == model.TrustRevoked }},
		{"lifecycle", service.ArtifactFilter{LifecycleState: model.LifecyclePublished}, func(a *model.Artifact) bool { return a.LifecycleState == model.LifecyclePublished }},
		{"kind", service.ArtifactFilter{Kind: model.KindArchive}, func(a *model.Artifact) bool { return a.Kind == model.KindArchive }},
		{"channel", service.ArtifactFilter{Channel: model.ChannelDev}, func(a *model.Artifact) bool { return a.PromotedInto(model.ChannelDev) }},
		{"tag", service.ArtifactFilter{Tag: "even"}, func(a *model.Artifact) bool { return contains(a.Tags, "even") }},
		{"combined", service.ArtifactFilter{Tag: "even", TrustState: model.TrustRevoked}, func(a *model.Artifact) bool {
			return contains(a.Tags, "even") && a.TrustState == model.TrustRevoked
		}},
		{"none", service.ArtifactFilter{Channel: model.ChannelProd}, func(*model.Artifact) bool { return false }},
	}
	for _, tc := range filters {
		t.Run(tc.name, func(t *testing.T) {
			var want []*model.Artifact
			for _, a := range all {
				if tc.keep(a) {
					want = append(want, a)
				}
			}
			got, total := pageAll(t, s, tc.f, 3)
			if total != len(want) || !reflect.DeepEqual(ids(got), ids(want)) {
				t.Fatalf("total %d want %d\n got %v\nwant %v", total, len(want), ids(got), ids(want))
			}
		})
	}

	p, err := s.ListArtifacts(context.Background(), service.ArtifactQuery{Project: "payments", First: 0})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 0 || p.TotalCount != 25 || !p.HasNext {
		t.Fatalf("first=0: items %d total %d hasNext %v", len(p.Items), p.TotalCount, p.HasNext)
	}
	p, err = s.ListArtifacts(context.Background(), service.ArtifactQuery{Project: "nobody", First: 5})
	if err != nil || p.Items == nil || len(p.Items) != 0 || p.TotalCount != 0 || p.HasNext {
		t.Fatalf("empty project: %+v %v", p, err)
	}
}

// TestPromotedArtifactsOracle checks the in-memory oracle the projection tests
// compare against, on artifacts whose answers are known independently.
func TestPromotedArtifactsOracle(t *testing.T) {
	t.Parallel()
	s := openTest(t, t.TempDir())
	all := seedList(t, s)
	o := loadOracle(t, s)
	var want []*model.Artifact
	for _, a := range all {
		if len(a.Promotions) > 0 {
			want = append(want, a)
		}
	}
	for _, ch := range []model.Channel{"", model.ChannelDev} {
		got := o.promotedArtifacts("payments", ch)
		if len(want) == 0 || !reflect.DeepEqual(ids(got), ids(want)) {
			t.Fatalf("channel %q:\n got %v\nwant %v", ch, ids(got), ids(want))
		}
	}
	if got := o.promotedArtifacts("payments", model.ChannelTest); len(got) != 0 {
		t.Fatalf("TEST: %d", len(got))
	}

	if got := o.find("payments", service.ArtifactFilter{}); !reflect.DeepEqual(got, all) {
		t.Fatalf("every artifact, newest first:\n got %v\nwant %v", ids(got), ids(all))
	}
	if got := o.find("nobody", service.ArtifactFilter{}); got == nil || len(got) != 0 {
		t.Fatalf("empty project: %v", got)
	}
	f := service.ArtifactFilter{Tag: "even", TrustState: model.TrustRevoked, Channel: model.ChannelDev}
	var matching []*model.Artifact
	for _, a := range all {
		if contains(a.Tags, "even") && a.TrustState == model.TrustRevoked && a.PromotedInto(model.ChannelDev) {
			matching = append(matching, a)
		}
	}
	if got := o.find("payments", f); len(matching) < 2 || !reflect.DeepEqual(ids(got), ids(matching)) {
		t.Fatalf("filter %+v:\n got %v\nwant %v", f, ids(got), ids(matching))
	}
	// all[4] shares its createdAt with all[5]: the page after it starts there.
	if !all[4].CreatedAt.Equal(all[5].CreatedAt) {
		t.Fatal("seedList no longer has createdAt ties")
	}
	p := o.listArtifacts(service.ArtifactQuery{Project: "payments", First: 2, After: &model.Cursor{At: all[4].CreatedAt, ID: all[4].ID}})
	if !reflect.DeepEqual(ids(p.Items), ids(all[5:7])) || !p.HasNext || p.TotalCount != len(all) {
		t.Fatalf("page after %s: %v hasNext %v total %d", all[4].ID, ids(p.Items), p.HasNext, p.TotalCount)
	}
	p = o.listArtifacts(service.ArtifactQuery{Project: "payments", First: 5, After: &model.Cursor{At: all[len(all)-3].CreatedAt, ID: all[len(all)-3].ID}})
	if !reflect.DeepEqual(ids(p.Items), ids(all[len(all)-2:])) || p.HasNext {
		t.Fatalf("last page: %v hasNext %v", ids(p.Items), p.HasNext)
	}
}

func TestAuditEvents(t *testing.T) {
	t.Parallel()
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	// Three artifacts whose events share timestamps, so ordering needs all three keys.
	var want []service.AuditEntry
	for i, name := range []string{"a", "b", "c"} {
		a := newArtifact("payments", name, t0)
		mustInsert(t, s, a)
		cur := a
		for k := 0; k < 3; k++ {
			next := *cur
			actor := alice
			if k == 1 {
				actor = publisher
			}
			ev := cur.Event(model.ActionVerify, actor, fmt.Sprintf("corr-%s-%d", name, k), "", t0.Add(time.Duration(k%2)*time.Second))
			next.Audit = append(append([]model.AuditEvent(nil), cur.Audit...), ev)
			if err := s.UpdateArtifact(ctx, cur, &next); err != nil {
				t.Fatal(err)
			}
			cur = &next
		}
		for seq, e := range normalized(cur).Audit {
			want = append(want, service.AuditEntry{Event: e, Seq: seq})
		}
		_ = i
	}
	mustInsert(t, s, newArtifact("billing", "other", t0.Add(time.Hour)))
	// Newest first by (at, artifactId, seq) desc.
	for i := 1; i < len(want); i++ {
		for j := i; j > 0 && auditLess(want[j-1], want[j]); j-- {
			want[j-1], want[j] = want[j], want[j-1]
		}
	}

	all := auditPages(t, s, service.AuditFilter{}, 100)
	if !reflect.DeepEqual(all, want) {
		t.Fatalf("audit feed:\n got %v\nwant %v", keys(all), keys(want))
	}
	for _, size := range []int{1, 4, 5} {
		if got := auditPages(t, s, service.AuditFilter{}, size); !reflect.DeepEqual(got, want) {
			t.Fatalf("pages of %d:\n got %v\nwant %v", size, keys(got), keys(want))
		}
	}

	bID := model.ArtifactID("payments", digestOf("payments/b"))
	filters := []struct {
		f    service.AuditFilter
		keep func(e service.AuditEntry) bool
	}{
		{service.AuditFilter{Action: model.ActionRegister}, func(e service.AuditEntry) bool { return e.Event.Action == model.ActionRegister }},
		{service.AuditFilter{Actor: "ci-release"}, func(e service.AuditEntry) bool { return e.Event.Actor == "ci-release" }},
		{service.AuditFilter{ArtifactID: bID}, func(e service.AuditEntry) bool { return e.Event.ArtifactID == bID }},
		{service.AuditFilter{CorrelationID: "corr-c-2"}, func(e service.AuditEntry) bool { return e.Event.CorrelationID == "corr-c-2" }},
		{service.AuditFilter{Action: model.ActionVerify, Actor: "alice", ArtifactID: bID}, func(e service.AuditEntry) bool {
			return e.Event.Action == model.ActionVerify && e.Event.Actor == "alice" && e.Event.ArtifactID == bID
		}},
		{service.AuditFilter{Action: model.ActionRevoke}, func(service.AuditEntry) bool { return false }},
	}
	for _, tc := range filters {
		var exp []service.AuditEntry
		for _, e := range want {
			if tc.keep(e) {
				exp = append(exp, e)
			}
		}
		got := auditPages(t, s, tc.f, 2)
		if !reflect.DeepEqual(got, exp) {
			t.Fatalf("filter %+v:\n got %v\nwant %v", tc.f, keys(got), keys(exp))
		}
	}
}

func keys(es []service.AuditEntry) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, fmt.Sprintf("%s/%s/%d", e.Event.At.Format("05"), e.Event.ArtifactID[len(e.Event.ArtifactID)-4:], e.Seq))
	}
	return out
}

func auditPages(t *testing.T, s *Store, f service.AuditFilter, size int) []service.AuditEntry {
	t.Helper()
	var out []service.AuditEntry
	var after *model.Cursor
	for n := 0; ; n++ {
		if n > 100 {
			t.Fatal("audit pagination does not end")
		}
		p, err := s.AuditEvents(context.Background(), service.AuditQuery{Project: "payments", Filter: f, First: size, After: after})
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

func TestPolicies(t *testing.T) {
	t.Parallel()
	s := openTest(t, t.TempDir())
	ctx := context.Background()

	p, err := s.GetPolicy(ctx, "payments")
	if p != nil || err != nil {
		t.Fatalf("no policy: %v, %v", p, err)
	}
	changes, err := s.PolicyChanges(ctx, "payments")
	if err != nil || changes == nil || len(changes) != 0 {
		t.Fatalf("no changes: %v, %v", changes, err)
	}

	v1, err := model.NewPolicy("payments", model.PolicyInput{
		AllowedSourceTypes: []model.SourceType{model.SourceOCIRegistry},
		AllowedSources:     []string{"registry.example.com/payments/"},
		RequiredChecks:     []model.Check{model.CheckSignature},
		StrictProgression:  true,
		Channels: []model.ChannelPolicyInput{{
			Channel: model.ChannelProd, RequiredTrust: model.TrustRequireVerified,
			RequiredChecks: []model.Check{model.CheckAttestation}, PromoterSubjects: []string{"release-bot"},
		}},
		Provenance: &model.ProvenancePolicy{BuilderIDs: []string{"https://github.com/actions/runner"}, SourceRepositories: []string{"https://github.com/acme/"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	v1.Version, v1.UpdatedAt, v1.UpdatedBy = 1, t0, "alice"
	change := func(from, to int, at time.Time) model.PolicyChange {
		return model.PolicyChange{Action: model.ActionPolicy, Project: "payments", Actor: "alice", ActorType: model.ActorUser, FromVersion: from, ToVersion: to, CorrelationID: fmt.Sprintf("c%d", to), At: at}
	}
	if err := s.PutPolicy(ctx, &v1, change(0, 1, t0)); err != nil {
		t.Fatal(err)
	}
	wantKind(t, s.PutPolicy(ctx, &v1, change(0, 1, t0)), model.KindConflict)

	got, err := s.GetPolicy(ctx, "payments")
	if err != nil {
		t.Fatal(err)
	}
	want := v1
	want.UpdatedAt = ms(t0)
	if !reflect.DeepEqual(got, &want) {
		t.Fatalf("policy round trip:\n got %+v\nwant %+v", got, &want)
	}

	v2 := v1
	v2.AllowNonOCI, v2.NonOCIRuntimeClasses = true, []string{"vm"}
	v2.Provenance = nil
	v2.Version, v2.UpdatedAt = 2, t0.Add(time.Minute)
	if err := s.PutPolicy(ctx, &v2, change(1, 2, t0.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	wantKind(t, s.PutPolicy(ctx, &v2, change(1, 2, t0.Add(time.Minute))), model.KindConflict) // stale
	v4 := v2
	v4.Version = 4
	wantKind(t, s.PutPolicy(ctx, &v4, change(3, 4, t0)), model.KindConflict) // skips a version
	other := v2
	other.Project = "billing"
	wantKind(t, s.PutPolicy(ctx, &other, change(1, 2, t0)), model.KindConflict) // none stored

	got, _ = s.GetPolicy(ctx, "payments")
	if got.Version != 2 || !got.AllowNonOCI || !reflect.DeepEqual(got.NonOCIRuntimeClasses, []string{"vm"}) || got.Provenance != nil {
		t.Fatalf("v2 not stored: %+v", got)
	}
	changes, err = s.PolicyChanges(ctx, "payments")
	if err != nil {
		t.Fatal(err)
	}
	wantChanges := []model.PolicyChange{change(1, 2, ms(t0.Add(time.Minute))), change(0, 1, ms(t0))}
	if !reflect.DeepEqual(changes, wantChanges) {
		t.Fatalf("changes:\n got %+v\nwant %+v", changes, wantChanges)
	}
}

func TestDataDirLockRefusesSecondOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openTest(t, dir)
	_, err := Open(context.Background(), Config{DataDir: dir}, nil)
	if err == nil || !strings.Contains(err.Error(), "another server is using DATA_DIR") {
		t.Fatalf("second Open on the same DATA_DIR: %v", err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Released on Close.
	s2 := openTest(t, dir)
	if err := s2.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	s := openTest(t, dir)
	a := newArtifact("payments", "api", t0)
	mustInsert(t, s, a)
	p := model.DefaultPolicy("payments")
	p.Version = 1
	if err := s.PutPolicy(ctx, &p, model.PolicyChange{Project: "payments", ToVersion: 1, At: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	s2 := openTest(t, dir)
	got, err := s2.GetArtifact(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, normalized(a)) {
		t.Fatalf("after reopen:\n got %+v\nwant %+v", got, normalized(a))
	}
	if pol, err := s2.GetPolicy(ctx, "payments"); err != nil || pol == nil || pol.Version != 1 {
		t.Fatalf("policy after reopen: %+v, %v", pol, err)
	}
	// The unique index survives too.
	dup := newArtifact("payments", "api", t0)
	dup.ID = "art_other"
	wantKind(t, s2.InsertArtifact(ctx, dup), model.KindConflict)
}

func TestUnavailableErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openTest(t, dir)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, err := s.GetArtifact(context.Background(), "art_x")
	wantKind(t, err, model.KindUnavailable)
	wantKind(t, s.Ping(context.Background()), model.KindUnavailable)

	// Nothing listens on the port: Open fails as UNAVAILABLE within the context.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = Open(ctx, Config{MongoURI: "mongodb://127.0.0.1:1/?connectTimeoutMS=200"}, nil)
	wantKind(t, err, model.KindUnavailable)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Open took %v", d)
	}

	wantKind(t, mapErr(context.DeadlineExceeded, "x"), model.KindUnavailable)
	wantKind(t, mapErr(errors.New("boom"), "x"), model.KindInternal)
	var me *model.Error
	if e := mapErr(errors.New("boom"), "x"); !errors.As(e, &me) || me.Err == nil {
		t.Fatalf("internal error does not wrap its cause: %#v", e)
	}
}

// TestOpenDropsTheUnusedListIndex: nothing reads artifacts in (project, createdAt,
// _id) order since the list read model, so a store creates only the unique
// (project, digest) index, and Open drops the old list index from a database that
// still has it.
func TestOpenDropsTheUnusedListIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	indexNames := func(s *Store) []string {
		t.Helper()
		specs, err := s.artifacts.Indexes().ListSpecifications(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, sp := range specs {
			names = append(names, sp.Name)
		}
		return names
	}
	s := openTest(t, dir)
	if names := indexNames(s); contains(names, staleListIndex) || !contains(names, "project_digest_unique") {
		t.Fatalf("indexes of a new store: %v", names)
	}
	if _, err := s.artifacts.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "project", Value: 1}, {Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}},
		Options: options.Index().SetName(staleListIndex),
	}); err != nil {
		t.Fatal(err)
	}
	if names := indexNames(s); !contains(names, staleListIndex) {
		t.Fatalf("the old list index was not created: %v", names)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	s2 := openTest(t, dir)
	if names := indexNames(s2); contains(names, staleListIndex) || !contains(names, "project_digest_unique") {
		t.Fatalf("indexes after reopening a database with the old list index: %v", names)
	}
}
