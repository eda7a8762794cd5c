package store

import (
	"runtime"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// BenchmarkViewHeap measures, for the list, feed and chan heads of the codec
// benchmark (2,500 artifacts a project), the heap a decoded view takes against
// what the document cache charges for it (viewCost times its inflated BSON).
// go test ./store -run '^$' -bench ViewHeap -benchtime 1x
func BenchmarkViewHeap(b *testing.B) {
	lh, fh, ch := benchHeads(b, 2500)
	for _, c := range []struct {
		name  string
		v     any
		fresh func() any
	}{{"list", lh, func() any { return new(listHead) }}, {"feed", fh, func() any { return new(feedHead) }}, {"chan", ch, func() any { return new(chanHead) }}} {
		raw, err := bson.Marshal(c.v)
		if err != nil {
			b.Fatal(err)
		}
		z, err := deflate(raw)
		if err != nil {
			b.Fatal(err)
		}
		data := bson.RawValue{Type: bson.TypeBinary, Value: bsoncore.AppendBinary(nil, bson.TypeBinaryGeneric, z)}
		const n = 50
		keep := make([]any, n)
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		size := 0
		for i := range keep {
			v := c.fresh()
			if size, err = decodeProjSized(data, v); err != nil {
				b.Fatal(err)
			}
			// What readers decode later goes on the same view: the sealed
			// buckets' records, the feed's events.
			switch h := v.(type) {
			case *listHead:
				_, err = h.Sealed.All()
			case *chanHead:
				_, err = h.Sealed.All()
			case *feedHead:
				_, err = h.Sealed.All()
				for _, e := range h.Entries {
					if _, err := e.event(); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err != nil {
				b.Fatal(err)
			}
			keep[i] = v
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		per := float64(m1.HeapAlloc-m0.HeapAlloc) / n
		b.Logf("%s head: %d B deflated, %d B of BSON, charged %d B; decoded view %.0f B on the heap (%.2f of the charge)", c.name, len(z), size, viewCost*size, per, per/float64(viewCost*size))
		runtime.KeepAlive(keep)
	}
}
