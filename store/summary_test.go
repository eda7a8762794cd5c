package store

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

// Summary list pages (service.ArtifactQuery.Summary) are made from the list read
// model alone.

// summaryPages pages through project's artifacts matching f, size at a time, with
// Summary set, and returns the items and the total.
func summaryPages(t *testing.T, s *Store, project string, f service.ArtifactFilter, size int) ([]*model.Artifact, int) {
	t.Helper()
	var out []*model.Artifact
	var after *model.Cursor
	for n := 0; ; n++ {
		if n > 1000 {
			t.Fatal("pagination does not end")
		}
		p, err := s.ListArtifacts(context.Background(), service.ArtifactQuery{Project: project, Filter: f, First: size, After: after, Summary: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Items) > size || (p.HasNext && len(p.Items) != size) {
			t.Fatalf("summary page of %d items, size %d, hasNext %v", len(p.Items), size, p.HasNext)
		}
		out = append(out, p.Items...)
		if !p.HasNext {
			return out, p.TotalCount
		}
		last := p.Items[len(p.Items)-1]
		c, err := model.DecodeCursor(model.Cursor{At: last.CreatedAt, ID: last.ID}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		after = &c
	}
}

// checkSummaries compares the summary pages of project under f with full, the
// artifacts the full path lists (newest first) and their total: the same
// artifacts in the same order, each exactly the summary of the listed artifact.
func checkSummaries(t *testing.T, s *Store, project string, f service.ArtifactFilter, full []*model.Artifact, total int) {
	t.Helper()
	got, gotTotal := summaryPages(t, s, project, f, 3)
	if gotTotal != total || len(got) != len(full) {
		t.Fatalf("%s summaries %+v: %d of total %d, full path %d of total %d", project, f, len(got), gotTotal, len(full), total)
	}
	for i := range got {
		if want := full[i].Summary(); !reflect.DeepEqual(got[i], want) {
			t.Fatalf("%s summaries %+v, item %d:\n got %+v\nwant %+v", project, f, i, got[i], want)
		}
	}
}

// checkSummariesLikeFull lists project under each filter both ways and compares them.
func checkSummariesLikeFull(t *testing.T, s *Store, project string, filters ...service.ArtifactFilter) {
	t.Helper()
	for _, f := range filters {
		full, total := listPages(t, s, project, f, 20)
		checkSummaries(t, s, project, f, full, total)
	}
}

func TestSummaryListPagesReadNoArtifactDocumentAndEqualTheSummariesOfTheFullPages(t *testing.T) {
	t.Parallel()
	counter := &commandCounter{}
	// Without the document cache (a shared engine), so the commands counted are
	// the reads each page needs.
	s, err := Open(context.Background(), Config{DataDir: t.TempDir(), caps: tinyCaps, monitor: counter.monitor(), SharedEngine: true}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	h := newHistory(14)
	// Registrations, then promotions, verifications, revocations, deprecations,
	// retirements and relabels (tags added and removed), twice over.
	for round := 0; round < 2; round++ {
		h.run(t, s, 15, 60)
		for _, project := range histProjects {
			checkSummariesLikeFull(t, s, project, listFilters...)
		}
	}
	// A runtime class, which the history never sets, goes into the list too.
	a := h.register("payments")
	a.Kind, a.SourceType, a.Source, a.RuntimeClass = model.KindBinary, model.SourceHTTPS, "https://downloads.example.com/tool", "wasm"
	mustInsert(t, s, a)
	checkSummariesLikeFull(t, s, a.Project, service.ArtifactFilter{}, service.ArtifactFilter{Kind: model.KindBinary})

	for _, project := range histProjects {
		for _, f := range listFilters {
			var sum, full service.ArtifactPage
			sumCmds := counter.during(func() {
				if sum, err = s.ListArtifacts(context.Background(), service.ArtifactQuery{Project: project, Filter: f, First: 20, Summary: true}); err != nil {
					t.Fatal(err)
				}
			})
			fullCmds := counter.during(func() {
				if full, err = s.ListArtifacts(context.Background(), service.ArtifactQuery{Project: project, Filter: f, First: 20}); err != nil {
					t.Fatal(err)
				}
			})
			if sumCmds["find artifacts"] != 0 || sumCmds["find projections"] == 0 || len(sumCmds) != 1 {
				t.Fatalf("%s %+v: a summary page sent %v; want projection look-ups only", project, f, sumCmds)
			}
			if len(full.Items) > 0 && fullCmds["find artifacts"] == 0 {
				t.Fatalf("%s %+v: the full page of %d artifacts sent %v", project, f, len(full.Items), fullCmds)
			}
			if sum.TotalCount != full.TotalCount || sum.HasNext != full.HasNext || len(sum.Items) != len(full.Items) {
				t.Fatalf("%s %+v: summary page %d/%d/%v, full page %d/%d/%v", project, f,
					len(sum.Items), sum.TotalCount, sum.HasNext, len(full.Items), full.TotalCount, full.HasNext)
			}
		}
	}
}

func TestSummaryListPagesFollowTrustReDerivation(t *testing.T) {
	t.Parallel()
	set := newRDSet(t, 6)
	f := openRD(t, t.TempDir(), true)
	f.seed(t, set.arts...)
	f.waitFor(t, "policy version 1")
	tight := f.setPolicy(t, "corr-tighten", keepPrefix)
	f.waitFor(t, fmt.Sprintf("policy version %d", tight.Version))
	checkSummariesLikeFull(t, f.s, rdProject, service.ArtifactFilter{}, service.ArtifactFilter{TrustState: model.TrustFailedVerification},
		service.ArtifactFilter{TrustState: model.TrustVerified})
	failed, _ := summaryPages(t, f.s, rdProject, service.ArtifactFilter{TrustState: model.TrustFailedVerification}, 20)
	if len(failed) != len(set.changing) {
		t.Fatalf("%d summaries FAILED_VERIFICATION after the re-derivation, want %d", len(failed), len(set.changing))
	}
	for _, a := range failed {
		if a.TrustState != model.TrustFailedVerification || a.Version < 2 {
			t.Fatalf("summary %+v", a)
		}
	}
}

// TestAFeedEventReadFromStorageIsDecodedOnceForEveryReader: the readers of a feed
// document shared among them (docs.View) ask its events at once; each event is
// decoded once and the same decoded event serves them all, and the event still
// writes back as the bytes it was read as.
func TestAFeedEventReadFromStorageIsDecodedOnceForEveryReader(t *testing.T) {
	t.Parallel()
	a := newArtifact("payments", "svc", t0)
	written, err := feedEntriesOf(a, 0)
	if err != nil || len(written) != 1 {
		t.Fatal(len(written), err)
	}
	raw, err := bson.Marshal(&feedHead{Entries: written})
	if err != nil {
		t.Fatal(err)
	}
	var shared feedHead
	if err := bson.Unmarshal(raw, &shared); err != nil {
		t.Fatal(err)
	}
	docs := make([]*auditDoc, 8)
	var wg sync.WaitGroup
	for i := range docs {
		wg.Go(func() {
			d, err := shared.Entries[0].Event.doc()
			if err != nil {
				t.Error(err)
			}
			docs[i] = d
		})
	}
	wg.Wait()
	for i, d := range docs {
		if d != docs[0] {
			t.Fatalf("reader %d decoded the event again", i)
		}
	}
	ev, err := shared.Entries[0].event()
	if err != nil || ev.CorrelationID != a.Audit[0].CorrelationID || ev.Action != a.Audit[0].Action {
		t.Fatalf("the event read back: %+v, %v", ev, err)
	}
	again, err := bson.Marshal(&shared)
	if err != nil || !bytes.Equal(again, raw) {
		t.Fatalf("the feed document written back differs from what was read (%v)", err)
	}
}
