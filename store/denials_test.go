package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/artifact-trust/control-plane/model"
)

func TestRecentDenialsKeepsTheNewestHundredNewestFirst(t *testing.T) {
	t.Parallel()
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	if got, err := s.RecentDenials(ctx, "payments", 10); err != nil || len(got) != 0 {
		t.Fatalf("empty project: %v %v", got, err)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = model.MaxRecentDenials + 5
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs <- s.AppendDenial(ctx, model.Denial{
				Project: "payments", Operation: "promoteArtifact", Actor: fmt.Sprintf("a%03d", i), ActorType: model.ActorUser,
				ArtifactID: "art_x", Digest: "sha256:x", Channel: model.ChannelProd, Reasons: []string{"r"}, Classes: []string{model.DenyRole},
				CorrelationID: fmt.Sprint(i), At: base.Add(time.Duration(i) * time.Second),
			})
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.RecentDenials(ctx, "payments", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != model.MaxRecentDenials {
		t.Fatalf("kept %d denials, want %d", len(all), model.MaxRecentDenials)
	}
	if n := s.writeLocks.Len(); n != 0 {
		t.Fatalf("%d write locks left after the appends", n)
	}
	seen := map[string]bool{}
	for _, d := range all {
		if seen[d.Actor] {
			t.Fatalf("denial %s stored twice", d.Actor)
		}
		seen[d.Actor] = true
		if d.Project != "payments" || d.Channel != model.ChannelProd || d.Classes[0] != model.DenyRole {
			t.Fatalf("denial %+v", d)
		}
	}
	// Sequential appends come back newest first.
	for _, actor := range []string{"x1", "x2", "x3"} {
		if err := s.AppendDenial(ctx, model.Denial{Project: "payments", Operation: "registerArtifact", Actor: actor, At: base}); err != nil {
			t.Fatal(err)
		}
	}
	first, _ := s.RecentDenials(ctx, "payments", 3)
	if len(first) != 3 || first[0].Actor != "x3" || first[1].Actor != "x2" || first[2].Actor != "x1" {
		t.Fatalf("first 3 = %+v", first)
	}
}

func TestOneSubjectsRefusalsCannotPushTheOthersOutOfRecentDenials(t *testing.T) {
	t.Parallel()
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := 0
	add := func(actor string, n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			at++
			if err := s.AppendDenial(ctx, model.Denial{Project: "payments", Operation: "promoteArtifact", Actor: actor,
				CorrelationID: fmt.Sprintf("%s-%d", actor, i), At: base.Add(time.Duration(at) * time.Second)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	add("ci-release", 2)
	add("pat", 1)
	add("vic", 100) // a viewer tries 100 promotions
	all, err := s.RecentDenials(ctx, "payments", 1000)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, d := range all {
		count[d.Actor]++
	}
	if count["ci-release"] != 2 || count["pat"] != 1 || count["vic"] != model.MaxRecentDenialsPerSubject || len(all) != 3+model.MaxRecentDenialsPerSubject {
		t.Fatalf("kept %v", count)
	}
	// The viewer's newest are kept, newest first, and the others follow.
	if all[0].CorrelationID != "vic-99" || all[model.MaxRecentDenialsPerSubject-1].CorrelationID != "vic-80" || all[len(all)-1].CorrelationID != "ci-release-0" {
		t.Fatalf("order %s ... %s ... %s", all[0].CorrelationID, all[model.MaxRecentDenialsPerSubject-1].CorrelationID, all[len(all)-1].CorrelationID)
	}
}

// TestAppendDenialWaitsForTheDocumentsWriteLockUntilItsDeadline: an appender holds
// the denials document's own write lock (the one every conditional write of the
// document takes) from its read to its write, so it waits while another writer
// holds it, gives up as CONFLICT when its context ends (the store's locks used to
// wait without a context), and leaves no lock entry behind.
func TestAppendDenialWaitsForTheDocumentsWriteLockUntilItsDeadline(t *testing.T) {
	t.Parallel()
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	d := model.Denial{Project: "payments", Operation: "promoteArtifact", Actor: "mallory", ActorType: model.ActorUser, At: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	unlock, err := s.lockDoc(ctx, denialsCollection, "payments")
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := s.AppendDenial(short, d); !model.IsKind(err, model.KindConflict) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("append while the document is locked: %v", err)
	}
	// Another project's document is not concerned.
	if err := s.AppendDenial(ctx, model.Denial{Project: "billing", Operation: "promoteArtifact", Actor: "mallory", At: d.At}); err != nil {
		t.Fatal(err)
	}
	unlock()
	if err := s.AppendDenial(ctx, d); err != nil {
		t.Fatal(err)
	}
	if got, err := s.RecentDenials(ctx, "payments", 10); err != nil || len(got) != 1 {
		t.Fatalf("recent denials: %v %v", got, err)
	}
	if n := s.writeLocks.Len(); n != 0 {
		t.Fatalf("%d write locks left", n)
	}
}
