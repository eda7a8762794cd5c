package bucketlog

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Records are a head's records of its sealed buckets, record n being bucket n's,
// stored as the head's array field of Sealed documents.
//
// Their number grows with the log (a project of 1,000 artifacts has some 30 list
// buckets and 125 feed buckets), while most writes of a head only append to its
// open bucket. So records stay the BSON they were read as: every record's range is
// read from it at once (a write locates the entries it sets by ranges), the records
// are decoded whole only when one is asked for (At, All), and a record that was not
// set since it was read is written back as read. A write that appends neither
// decodes nor encodes them.
//
// A head shared by readers (Viewer) is decoded at most once, whichever reader asks
// first; readers never set or append.
type Records[S any] struct{ p *records[S] }

type records[S any] struct {
	raw    []bson.Raw // the records as read, in order
	ranges []Range    // every record's range (read, set or appended)

	once   sync.Once
	err    error
	recs   []Sealed[S] // raw decoded (after once), then the appended ones
	extra  []Sealed[S] // appended before a decode
	setRaw []bool      // raw record n was set since it was read: encode recs[n]
}

// Len is the number of records (of sealed buckets).
func (r Records[S]) Len() int {
	if r.p == nil {
		return 0
	}
	return len(r.p.ranges)
}

// Range is record n's range of entry times.
func (r Records[S]) Range(n int) Range { return r.p.ranges[n] }

// decode decodes the records as read, once; the ones appended before are kept
// after them.
func (p *records[S]) decode() error {
	p.once.Do(func() {
		recs := make([]Sealed[S], len(p.raw), len(p.raw)+len(p.extra))
		for n, raw := range p.raw {
			if err := bson.Unmarshal(raw, &recs[n]); err != nil {
				p.err = fmt.Errorf("decode the record of sealed bucket %d: %w", n, err)
				return
			}
		}
		p.recs, p.extra = append(recs, p.extra...), nil
	})
	return p.err
}

// At returns record n, for reading only (a shared head's records are shared).
func (r Records[S]) At(n int) (*Sealed[S], error) {
	if err := r.p.decode(); err != nil {
		return nil, err
	}
	return &r.p.recs[n], nil
}

// All returns every record, in order, for reading only.
func (r Records[S]) All() ([]Sealed[S], error) {
	if r.p == nil {
		return nil, nil
	}
	if err := r.p.decode(); err != nil {
		return nil, err
	}
	return r.p.recs, nil
}

// Append adds the record of the next sealed bucket (a writer's own head only).
func (r *Records[S]) Append(rec Sealed[S]) {
	if r.p == nil {
		r.p = &records[S]{}
	}
	p := r.p
	p.ranges = append(p.ranges, rec.Range)
	if p.recs != nil || len(p.raw) == 0 {
		// Decoded (or nothing to decode): the records are all in recs.
		_ = p.decode()
		p.recs = append(p.recs, rec)
		return
	}
	p.extra = append(p.extra, rec)
}

// Set replaces record n (a writer's own head only).
func (r *Records[S]) Set(n int, rec Sealed[S]) error {
	p := r.p
	if err := p.decode(); err != nil {
		return err
	}
	p.recs[n], p.ranges[n] = rec, rec.Range
	if n < len(p.raw) {
		if p.setRaw == nil {
			p.setRaw = make([]bool, len(p.raw))
		}
		p.setRaw[n] = true
	}
	return nil
}

// MarshalBSONValue writes the records as an array of Sealed documents: those not
// set since they were read as they were read.
func (r Records[S]) MarshalBSONValue() (byte, []byte, error) {
	size := 5
	if p := r.p; p != nil {
		for i, raw := range p.raw {
			size += len(raw) + 3 + len(strconv.Itoa(i))
		}
		size += 128 * (len(p.ranges) - len(p.raw)) // set or appended ones, roughly
	}
	out := make([]byte, 4, size)
	n := 0
	elem := func(doc []byte) {
		out = append(out, byte(bson.TypeEmbeddedDocument))
		out = strconv.AppendInt(out, int64(n), 10)
		out = append(out, 0)
		out = append(out, doc...)
		n++
	}
	if p := r.p; p != nil {
		for i, raw := range p.raw {
			if p.setRaw == nil || !p.setRaw[i] {
				elem(raw)
				continue
			}
			doc, err := bson.Marshal(&p.recs[i])
			if err != nil {
				return 0, nil, err
			}
			elem(doc)
		}
		rest := p.extra
		if p.recs != nil {
			rest = p.recs[len(p.raw):]
		}
		for i := range rest {
			doc, err := bson.Marshal(&rest[i])
			if err != nil {
				return 0, nil, err
			}
			elem(doc)
		}
	}
	out = append(out, 0)
	binary.LittleEndian.PutUint32(out, uint32(len(out)))
	return byte(bson.TypeArray), out, nil
}

// UnmarshalBSONValue reads the records: each one's range now, the rest when asked
// for (decode).
func (r *Records[S]) UnmarshalBSONValue(typ byte, data []byte) error {
	r.p = nil
	switch bson.Type(typ) {
	case bson.TypeNull, bson.TypeUndefined:
		return nil
	case bson.TypeArray:
	default:
		return fmt.Errorf("sealed bucket records: a BSON %s, want an array", bson.Type(typ))
	}
	// One copy of the whole array, which the records then slice: the decoder's
	// buffer is not ours to keep.
	elems, err := bson.Raw(append([]byte(nil), data...)).Elements()
	if err != nil {
		return fmt.Errorf("sealed bucket records: %w", err)
	}
	if len(elems) == 0 {
		return nil
	}
	p := &records[S]{raw: make([]bson.Raw, len(elems)), ranges: make([]Range, len(elems))}
	for n, e := range elems {
		doc, ok := e.Value().DocumentOK()
		if !ok {
			return fmt.Errorf("sealed bucket record %d: a BSON %s, want a document", n, e.Value().Type)
		}
		rng, ok := doc.Lookup("range").DocumentOK()
		if !ok {
			return fmt.Errorf("sealed bucket record %d has no range", n)
		}
		lo, okLo := rng.Lookup("min").DateTimeOK()
		hi, okHi := rng.Lookup("max").DateTimeOK()
		if !okLo || !okHi {
			return fmt.Errorf("sealed bucket record %d: its range is not two dates", n)
		}
		p.raw[n], p.ranges[n] = doc, Range{Min: bson.DateTime(lo), Max: bson.DateTime(hi)}
	}
	r.p = p
	return nil
}

// String prints the records decoded (for logs and test failures).
func (r Records[S]) String() string {
	recs, err := r.All()
	if err != nil {
		return fmt.Sprintf("<records: %v>", err)
	}
	return fmt.Sprintf("%+v", recs)
}
