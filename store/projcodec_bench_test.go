package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/store/internal/bucketlog"
)

// BenchmarkProjectionForms reads and rewrites (update: FindOne, decode, encode,
// ReplaceOne) full head documents of one project on the embedded engine: the list
// head (127 inline entries), the feed head (63 inline events) and a chan log head
// (31 inline promotions), each with the sealed buckets of a project of 2,500
// artifacts (the 50,000-artifact benchmark's 20 projects) or of 25,000. It runs
// every projection form the codec can write (projForms), so the numbers decide
// which the embedded engine uses (the table in projections.go):
//
//	go test ./store/ -run '^$' -bench ProjectionForms -benchtime 200x
func BenchmarkProjectionForms(b *testing.B) {
	for _, form := range projForms {
		for _, perProject := range []int{2500, 25000} {
			b.Run(fmt.Sprintf("%s/artifacts=%d", form, perProject), func(b *testing.B) {
				benchProjectionForm(b, form, perProject)
			})
		}
	}
}

// benchHeads builds the list, feed and chan heads of a project of perProject
// artifacts, their open buckets one entry short of full: one bucket's worth of
// entries of each log (plus the open bucket's) from the benchmark's artifacts,
// and sealed rows summarizing copies of it shifted in time.
func benchHeads(b *testing.B, perProject int) (*listHead, *feedHead, *chanHead) {
	var list []listEntry
	var feed []feedEntry
	var chans []chanEntry
	for i := 0; len(list) < 2*listBucketCap || len(feed) < 2*feedBucketCap || len(chans) < 2*chanBucketCap; i++ {
		a := benchArtifact(i*benchProjects, t0.Add(time.Duration(i)*10*time.Second))
		list = append(list, listEntryOf(a))
		es, err := feedEntriesOf(a, 0)
		if err != nil {
			b.Fatal(err)
		}
		feed = append(feed, es...)
		for _, p := range a.Promotions {
			if p.Channel == model.ChannelProd {
				chans = append(chans, chanEntryOf(a, p))
			}
		}
	}
	shift := func(r bucketlog.Range) bucketlog.Range {
		return bucketlog.Range{Min: r.Max + 1, Max: r.Max + 1 + (r.Max - r.Min)}
	}
	var lh listHead
	lh.Entries = list[listBucketCap : 2*listBucketCap-1]
	r, counts := keyRange(list[:listBucketCap], (*listEntry).key), countsOf(list[:listBucketCap])
	for n := 0; n < perProject/listBucketCap; n++ {
		lh.Sealed.Append(bucketlog.Sealed[listSummary]{Range: r, Version: 3, Summary: listSummary{counts}})
		r = shift(r)
	}
	var fh feedHead
	fh.Entries = feed[feedBucketCap : 2*feedBucketCap-1]
	r = keyRange(feed[:feedBucketCap], (*feedEntry).key)
	for n := 0; n < perProject*8/feedBucketCap; n++ {
		fh.Sealed.Append(bucketlog.Sealed[struct{}]{Range: r})
		r = shift(r)
	}
	var ch chanHead
	ch.Entries = chans[chanBucketCap : 2*chanBucketCap-1]
	r, facts := keyRange(chans[:chanBucketCap], (*chanEntry).key), summarize(chans[:chanBucketCap])
	for n := 0; n < perProject/chanBucketCap; n++ {
		ch.Sealed.Append(bucketlog.Sealed[chanSummary]{Range: r, Version: 3, Summary: chanSummary{facts}})
		r = shift(r)
	}
	return &lh, &fh, &ch
}

func benchProjectionForm(b *testing.B, form string, perProject int) {
	s := openCaps(b, b.TempDir(), defaultCaps)
	s.projForm = form
	s.cache = nil // every read goes to the engine (doccache.go would answer them)
	ctx := context.Background()
	const project = "proj-00"
	lh, fh, ch := benchHeads(b, perProject)
	chanID := chanHeadID(project, model.ChannelProd, "")
	set := func(id, typ string, payload any) {
		unlock, err := s.projLock(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		defer unlock()
		if ok, err := s.putProjLocked(ctx, id, project, typ, payload, 0); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
	set(listHeadID(project), "list", lh)
	set(feedHeadID(project), "feed", fh)
	set(chanID, "chan", ch)
	run := func(b *testing.B, fn func() (int64, error)) {
		for b.Loop() {
			if _, err := fn(); err != nil {
				b.Fatal(err)
			}
		}
	}
	yes := func(any, int64) (bool, error) { return true, nil }
	b.Run("list/read", func(b *testing.B) {
		run(b, func() (int64, error) { var h listHead; return s.loadProj(ctx, listHeadID(project), &h) })
	})
	b.Run("list/update", func(b *testing.B) {
		run(b, func() (int64, error) {
			return update(ctx, s, listHeadID(project), project, "list", func(h *listHead, v int64) (bool, error) { return yes(h, v) })
		})
	})
	b.Run("feed/read", func(b *testing.B) {
		run(b, func() (int64, error) { var h feedHead; return s.loadProj(ctx, feedHeadID(project), &h) })
	})
	b.Run("feed/update", func(b *testing.B) {
		run(b, func() (int64, error) {
			return update(ctx, s, feedHeadID(project), project, "feed", func(h *feedHead, v int64) (bool, error) { return yes(h, v) })
		})
	})
	b.Run("chan/read", func(b *testing.B) {
		run(b, func() (int64, error) { var h chanHead; return s.loadProj(ctx, chanID, &h) })
	})
	b.Run("chan/update", func(b *testing.B) {
		run(b, func() (int64, error) {
			return update(ctx, s, chanID, project, "chan", func(h *chanHead, v int64) (bool, error) { return yes(h, v) })
		})
	})
}

// BenchmarkProjectionCodec is the in-process part of BenchmarkProjectionForms:
// encoding and decoding the same heads in each form, without the engine.
func BenchmarkProjectionCodec(b *testing.B) {
	for _, form := range projForms {
		for _, perProject := range []int{2500, 25000} {
			lh, fh, ch := benchHeads(b, perProject)
			s := &Store{}
			s.projForm = form
			for _, c := range []struct {
				name    string
				payload any
				into    func() any
			}{
				{"list", lh, func() any { return &listHead{} }},
				{"feed", fh, func() any { return &feedHead{} }},
				{"chan", ch, func() any { return &chanHead{} }},
			} {
				b.Run(fmt.Sprintf("%s/artifacts=%d/%s", form, perProject, c.name), func(b *testing.B) {
					v, err := s.encodeProj(c.payload)
					if err != nil {
						b.Fatal(err)
					}
					for b.Loop() {
						v, err := s.encodeProj(c.payload)
						if err != nil {
							b.Fatal(err)
						}
						if err := decodeProj(v, c.into()); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(len(v.Value)), "stored-B")
				})
			}
		}
	}
}
