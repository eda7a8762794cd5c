package store

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

// refuseWrites makes the embedded engine in dir refuse every insert and update of
// collection's documents for which cond holds (an SQL condition on NEW, the row
// FerretDB writes; "1" for every row) with SQLite's disk-full message, as a full
// disk refuses the writes that need new pages. It installs SQLite triggers named
// after name on the collection's table, through a connection of its own beside the
// engine's; they live in the database file, so they outlive a restart. The returned
// func drops them: the engine accepts those writes again.
func refuseWrites(t testing.TB, dir, collection, name, cond string) (accept func()) {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	db, err := (&embeddedEngine{dir: abs}).openSQLite(DefaultDatabase)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	tables, err := collectionTables(ctx, db, []string{collection})
	if err != nil {
		t.Fatal(err)
	}
	var triggers []string
	for _, op := range []string{"INSERT", "UPDATE"} {
		trigger := fmt.Sprintf("refuse_%s_%s", name, strings.ToLower(op))
		q := fmt.Sprintf(`CREATE TRIGGER %q BEFORE %s ON %q WHEN %s BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`,
			trigger, op, tables[collection], cond)
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		triggers = append(triggers, trigger)
	}
	return func() {
		t.Helper()
		db, err := (&embeddedEngine{dir: abs}).openSQLite(DefaultDatabase)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for _, tr := range triggers {
			if _, err := db.ExecContext(ctx, fmt.Sprintf(`DROP TRIGGER %q`, tr)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// ofProject is a refuseWrites condition: documents of project.
func ofProject(project string) string {
	return fmt.Sprintf(`json_extract(NEW._ferretdb_sjson, '$.project') = '%s'`, project)
}

// promoteDev stores a's promotion into DEV (with its audit event) and returns the
// new state. The write is acknowledged whatever happens to the projections.
func promoteDev(t *testing.T, s *Store, a *model.Artifact) *model.Artifact {
	t.Helper()
	next := *a
	next.Audit = slices.Clone(a.Audit)
	next.Promotions = slices.Clone(a.Promotions)
	at := a.UpdatedAt.Add(time.Second)
	next.Promotions = append(next.Promotions, model.Promotion{Channel: model.ChannelDev, PromotedBy: alice.Subject, PromotedAt: at, CorrelationID: "corr-promote"})
	ev := next.Event(model.ActionPromote, alice, "corr-promote", "", at)
	ev.PromotionChannel = model.ChannelDev
	ev.FromState, ev.ToState = string(model.LifecyclePublished), string(model.LifecyclePromoted)
	next.LifecycleState = model.LifecyclePromoted
	next.Audit = append(next.Audit, ev)
	next.UpdatedAt = at
	if err := s.UpdateArtifact(context.Background(), a, &next); err != nil {
		t.Fatalf("promote %s: %v", a.ID, err)
	}
	return &next
}

// promotionVisible reports whether a's DEV promotion shows in the read models that
// serve it: deployable's candidates, the audit feed and, when it is the newest
// promotion into DEV of its project, channel status.
func promotionVisible(t *testing.T, s *Store, a *model.Artifact, newest bool) bool {
	t.Helper()
	ctx := context.Background()
	status, err := s.ChannelStatusArtifacts(ctx, a.Project)
	if err != nil {
		t.Fatal(err)
	}
	inStatus := !newest || slices.ContainsFunc(status, func(x *model.Artifact) bool { return x.ID == a.ID })
	var candidate bool
	for c, err := range s.DeployCandidates(ctx, a.Project, model.ChannelDev, "", nil) {
		if err != nil {
			t.Fatal(err)
		}
		if c.ID == a.ID {
			candidate = true
			break
		}
	}
	feed, err := s.AuditEvents(ctx, service.AuditQuery{Project: a.Project, Filter: service.AuditFilter{ArtifactID: a.ID, Action: model.ActionPromote}, First: 10})
	if err != nil {
		t.Fatal(err)
	}
	return inStatus && candidate && len(feed.Items) == 1
}

// waitFor polls cond every 50 ms until it holds or limit passes, and returns how
// long it took. limit is generous: it only bounds a failing test.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// TestOutboxRepairsAsSoonAsWritesAreAcceptedAndPoisonedEntriesBlockNoOther: the
// engine accepts promotions but refuses their projection writes (a full disk); they
// are acknowledged, missing from the read models, and reported by Degraded. Once the
// engine accepts writes again the last one is repaired within seconds although the
// earlier ones, more than a repair pass tries in a row while nothing succeeds, keep
// failing (their project's writes are still refused); a restart in that state
// starts, still degraded; and when the last refusal ends the store repairs them by
// itself and is healthy again.
func TestOutboxRepairsAsSoonAsWritesAreAcceptedAndPoisonedEntriesBlockNoOther(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openTest(t, dir)
	var poisoned []*model.Artifact
	for i := range repairStreak + 1 {
		a := newArtifact("vault", fmt.Sprintf("keys-%d", i), t0.Add(time.Duration(i)*time.Second))
		mustInsert(t, s, a)
		poisoned = append(poisoned, a)
	}
	good := newArtifact("payments", "api", t0.Add(time.Minute))
	mustInsert(t, s, good)
	if err := s.Degraded(); err != nil {
		t.Fatalf("healthy store degraded: %v", err)
	}

	acceptAll := refuseWrites(t, dir, projectionsCollection, "all", "1")
	acceptVault := refuseWrites(t, dir, projectionsCollection, "vault", ofProject("vault"))
	for i, a := range poisoned { // first, so they are ahead of the good one
		poisoned[i] = promoteDev(t, s, a)
	}
	good = promoteDev(t, s, good)
	anyPoisonedVisible := func(s *Store) bool {
		return slices.ContainsFunc(poisoned, func(a *model.Artifact) bool { return promotionVisible(t, s, a, false) })
	}
	if promotionVisible(t, s, good, true) || anyPoisonedVisible(s) {
		t.Fatal("a promotion reached the read models while the engine refused their writes")
	}
	n := len(poisoned) + 1
	if st := s.Repairs(); st.Backlog != n || st.Failing != n {
		t.Fatalf("repairs while writes are refused: %+v", st)
	}
	if err := s.Degraded(); !model.IsKind(err, model.KindUnavailable) || !strings.Contains(err.Error(), fmt.Sprintf("outbox repair pending: %d acknowledged write(s)", n)) {
		t.Fatalf("Degraded while writes are refused: %v", err)
	}

	acceptAll()
	took := waitFor(t, 10*time.Second, "the last promotion repaired while the earlier ones are poisoned", func() bool { return promotionVisible(t, s, good, true) })
	t.Logf("promotion visible %v after the engine accepted writes again", took.Round(time.Millisecond))
	if anyPoisonedVisible(s) {
		t.Fatal("a poisoned promotion was applied although its writes are still refused")
	}
	// The promotion is visible once its read models are written, a moment before
	// the repairer settles its entry.
	waitFor(t, 10*time.Second, "the repaired entry settled", func() bool { return s.Repairs().Backlog == n-1 })
	if st := s.Repairs(); st.Backlog != n-1 || st.Failing != n-1 {
		t.Fatalf("repairs with the poisoned entries left: %+v", st)
	}
	if err := s.Degraded(); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%d acknowledged write(s)", n-1)) {
		t.Fatalf("Degraded with the poisoned entries left: %v", err)
	}

	// A restart while the entry still cannot be repaired starts, degraded.
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(context.Background(), Config{DataDir: dir}, testLog(t))
	if err != nil {
		t.Fatalf("Open with an outbox entry that cannot be replayed: %v", err)
	}
	t.Cleanup(func() { _ = s2.Close(context.Background()) })
	// (A pass stops after repairStreak failures in a row: the last entry waits.)
	if st := s2.Repairs(); st.Backlog != n-1 || st.Failing == 0 {
		t.Fatalf("repairs after the restart: %+v", st)
	}
	if err := s2.Degraded(); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%d acknowledged write(s)", n-1)) {
		t.Fatalf("Degraded after the restart: %v", err)
	}
	if !promotionVisible(t, s2, good, true) || anyPoisonedVisible(s2) {
		t.Fatal("read models after the restart")
	}

	acceptVault()
	waitFor(t, 10*time.Second, "the poisoned promotions repaired", func() bool { return s2.Degraded() == nil })
	for i, a := range append(poisoned, good) {
		if !promotionVisible(t, s2, a, i >= len(poisoned)-1) {
			t.Fatalf("promotion of %s missing after the repair", a.ID)
		}
	}
	if st := s2.Repairs(); st != (RepairStatus{}) {
		t.Fatalf("repairs after the last repair: %+v", st)
	}
	if n := outboxLen(t, s2); n != 0 {
		t.Fatalf("%d outbox entries left", n)
	}
}

// A write whose projections are applied does not wait for the deletion of its
// outbox entry: the retire loop deletes it (in a batch with others) right after,
// and Close deletes whatever is left, so a clean restart replays nothing.
func TestAppliedWriteLeavesTheDeletionOfItsOutboxEntryToTheRetireLoop(t *testing.T) {
	t.Parallel()
	counter := &commandCounter{}
	dir := t.TempDir()
	s, err := Open(context.Background(), Config{DataDir: dir, monitor: counter.monitor()}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h := newHistory(21)
	a := h.register("retire")
	n := counter.during(func() { mustInsert(t, s, a) })
	if n["insert outbox"] != 1 || n["delete outbox"] != 0 {
		t.Fatalf("a registration sent %v: want its outbox entry inserted and not deleted on its path", n)
	}
	waitFor(t, 10*time.Second, "the retired entry deleted", func() bool {
		c, err := s.outbox.CountDocuments(ctx, bson.D{})
		return err == nil && c == 0
	})
	// Entries retired just before Close are deleted by it.
	for i := 0; i < 20; i++ {
		mustInsert(t, s, h.register("retire"))
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	s2 := openTest(t, dir)
	if c, err := s2.outbox.CountDocuments(ctx, bson.D{}); err != nil || c != 0 {
		t.Fatalf("outbox after a clean restart: %d entries, %v", c, err)
	}
}
