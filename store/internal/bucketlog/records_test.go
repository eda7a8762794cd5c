package bucketlog

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// spoilRecord makes record n of the log's head undecodable as a summary (its tags
// a string) while its range stays readable, behind the log's back.
func spoilRecord(t *testing.T, st *memory, id string, n int) {
	t.Helper()
	st.mu.Lock()
	defer st.mu.Unlock()
	var h struct {
		Entries bson.RawValue `bson:"entries"`
		Sealed  []bson.D      `bson:"sealed"`
	}
	d := st.docs[id]
	if err := bson.Unmarshal(d.raw, &h); err != nil {
		t.Fatal(err)
	}
	for i, e := range h.Sealed[n] {
		if e.Key == "tags" {
			h.Sealed[n][i].Value = "not a map"
		}
	}
	raw, err := bson.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	st.docs[id] = memDoc{d.ver, raw}
}

// TestAWriteThatAppendsNeitherDecodesNorEncodesTheRecords: a write that only
// appends to the open bucket reads no record but the ranges, and writes every
// record back byte for byte: with a record whose summary cannot be decoded it
// still succeeds and leaves the record as it was. A write that sets an entry in a
// sealed bucket, and a reader that skips buckets by their records, decode them
// and report the damage.
func TestAWriteThatAppendsNeitherDecodesNorEncodesTheRecords(t *testing.T) {
	ctx := context.Background()
	st := newMemory()
	l := Log[ent, tags]{Spec: testSpec(2), St: st, ID: "log"}
	for i := range 6 {
		if err := l.Upsert(ctx, []ent{{At: int64(i), ID: fmt.Sprint("e", i), V: 1, Tag: "x"}}, setNewer); err != nil {
			t.Fatal(err)
		}
	}
	spoilRecord(t, st, "log", 0)
	sealedBytes := func() bson.Raw {
		st.mu.Lock()
		defer st.mu.Unlock()
		return bson.Raw(st.docs["log"].raw.Lookup("sealed").Array())
	}
	before := sealedBytes()
	for i := 6; i < 10; i++ { // appends, and seals a bucket on the way
		if err := l.Upsert(ctx, []ent{{At: int64(i), ID: fmt.Sprint("e", i), V: 1, Tag: "y"}}, setNewer); err != nil {
			t.Fatalf("append %d to a log with an undecodable record: %v", i, err)
		}
	}
	after := sealedBytes()
	if !bytes.HasPrefix(after[4:], before[4:len(before)-1]) {
		t.Fatal("the records as read were not written back byte for byte")
	}
	h, _, err := l.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.Open() != 4 || h.Sealed.Range(3) != (Range{Min: 6, Max: 7}) {
		t.Fatalf("after the appends: %d sealed buckets, the last of range %+v", h.Open(), h.Sealed.Range(h.Open()-1))
	}
	if err := l.Upsert(ctx, []ent{{At: 1, ID: "e1", V: 2, Tag: "z"}}, setNewer); err == nil {
		t.Fatal("a write into a sealed bucket decoded a damaged record without an error")
	}
	it := l.Newest(ctx, h, nil, func(s *Sealed[tags]) bool { return s.Summary.Tags["x"] == 0 }, nil, nil)
	if _, _, err := it.Next(); err == nil {
		t.Fatal("a reader skipping buckets by their records read a damaged record without an error")
	}
}

// TestRecordsRoundTrip: records read, set and appended are written as one array,
// in order, each record as it now is.
func TestRecordsRoundTrip(t *testing.T) {
	rec := func(n int, tag string) Sealed[tags] {
		return Sealed[tags]{Range: Range{Min: bson.DateTime(10 * n), Max: bson.DateTime(10*n + 9)}, Version: int64(n + 1), Summary: tags{Tags: map[string]int32{tag: int32(n)}}}
	}
	var h0 Head[ent, tags]
	for n := range 3 {
		h0.Sealed.Append(rec(n, "a"))
	}
	raw, err := bson.Marshal(&h0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		edit func(*Records[tags]) error
		want []Sealed[tags]
	}{
		{"as read", func(*Records[tags]) error { return nil }, []Sealed[tags]{rec(0, "a"), rec(1, "a"), rec(2, "a")}},
		{"appended", func(r *Records[tags]) error { r.Append(rec(3, "b")); return nil }, []Sealed[tags]{rec(0, "a"), rec(1, "a"), rec(2, "a"), rec(3, "b")}},
		{"set", func(r *Records[tags]) error { return r.Set(1, rec(1, "c")) }, []Sealed[tags]{rec(0, "a"), rec(1, "c"), rec(2, "a")}},
		{"appended then set", func(r *Records[tags]) error { r.Append(rec(3, "b")); return r.Set(3, rec(3, "d")) }, []Sealed[tags]{rec(0, "a"), rec(1, "a"), rec(2, "a"), rec(3, "d")}},
		{"set then appended", func(r *Records[tags]) error {
			if err := r.Set(0, rec(0, "e")); err != nil {
				return err
			}
			r.Append(rec(3, "b"))
			return nil
		}, []Sealed[tags]{rec(0, "e"), rec(1, "a"), rec(2, "a"), rec(3, "b")}},
	} {
		var h Head[ent, tags]
		if err := bson.Unmarshal(raw, &h); err != nil {
			t.Fatal(err)
		}
		if err := c.edit(&h.Sealed); err != nil {
			t.Fatal(err)
		}
		out, err := bson.Marshal(&h)
		if err != nil {
			t.Fatal(err)
		}
		var back struct {
			Sealed []Sealed[tags] `bson:"sealed"`
		}
		if err := bson.Unmarshal(out, &back); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(back.Sealed) != len(c.want) {
			t.Fatalf("%s: %d records written, want %d", c.name, len(back.Sealed), len(c.want))
		}
		for n := range c.want {
			got, want := back.Sealed[n], c.want[n]
			if got.Range != want.Range || got.Version != want.Version || !maps.Equal(got.Summary.Tags, want.Summary.Tags) {
				t.Fatalf("%s: record %d written as %+v, want %+v", c.name, n, got, want)
			}
		}
	}
}

// TestRecordsOfASharedHeadDecodeOnceForConcurrentReaders: readers of a head shared
// through a Viewer ask for its records at once; they are decoded once, and every
// reader sees all of them (run with -race).
func TestRecordsOfASharedHeadDecodeOnceForConcurrentReaders(t *testing.T) {
	var h0 Head[ent, tags]
	for n := range 50 {
		h0.Sealed.Append(Sealed[tags]{Range: Range{Min: bson.DateTime(n), Max: bson.DateTime(n)}, Summary: tags{Tags: map[string]int32{"x": int32(n)}}})
	}
	raw, err := bson.Marshal(&h0)
	if err != nil {
		t.Fatal(err)
	}
	var shared Head[ent, tags]
	if err := bson.Unmarshal(raw, &shared); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for n := range 50 {
				k := (n + g*7) % 50
				rec, err := shared.Sealed.At(k)
				if err != nil || rec.Summary.Tags["x"] != int32(k) {
					t.Errorf("reader %d: record %d: %+v, %v", g, k, rec, err)
				}
			}
		})
	}
	wg.Wait()
}
