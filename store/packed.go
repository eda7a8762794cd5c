package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// The sealed-bucket tables of the head documents grow by one row per sealed bucket
// (per 64 audit events of a project, per 128 artifacts), and every write of a head
// decodes and re-encodes them. As BSON arrays of sub-documents they cost a decoder
// call per value; packed into one binary value of varints (times as deltas) they
// cost a few bytes per row and one pass.

var errPacked = errors.New("malformed packed projection table")

// appendRange appends r as two varints: its start as a delta from prev (the end of
// the range before it, 0 for the first), then its length. It returns the new prev.
func appendRange(body []byte, prev int64, r logRange) ([]byte, int64) {
	body = binary.AppendVarint(body, r.Min-prev)
	body = binary.AppendVarint(body, r.Max-r.Min)
	return body, r.Max
}

// readRange reads a range appended by appendRange after prev.
func readRange(body []byte, prev int64) (logRange, []byte, error) {
	var r logRange
	d, body, err := varint(body)
	if err != nil {
		return r, body, err
	}
	r.Min = prev + d
	if d, body, err = varint(body); err != nil {
		return r, body, err
	}
	r.Max = r.Min + d
	return r, body, nil
}

// rangeList is a table of sealed-bucket ranges stored as one binary value.
type rangeList []logRange

func (l rangeList) MarshalBSONValue() (byte, []byte, error) {
	body := make([]byte, 0, 8+len(l)*4)
	prev := int64(0)
	for _, r := range l {
		body, prev = appendRange(body, prev, r)
	}
	return binaryValue(body)
}

func (l *rangeList) UnmarshalBSONValue(typ byte, data []byte) error {
	body, err := binaryBody(typ, data)
	if err != nil || body == nil {
		*l = nil
		return err
	}
	out := rangeList{}
	prev := int64(0)
	for len(body) > 0 {
		var r logRange
		if r, body, err = readRange(body, prev); err != nil {
			return err
		}
		prev = r.Max
		out = append(out, r)
	}
	*l = out
	return nil
}

// listSummaries is the list head's table of sealed buckets stored as one binary
// value: per bucket its range, the bucket version its counts come from and the 17
// counts.
type listSummaries []listSealed

func (l listSummaries) MarshalBSONValue() (byte, []byte, error) {
	body := make([]byte, 0, 8+len(l)*28)
	prev := int64(0)
	for _, s := range l {
		body, prev = appendRange(body, prev, s.Range)
		body = binary.AppendVarint(body, s.Ver)
		for _, c := range s.Counts.values() {
			body = binary.AppendVarint(body, int64(*c))
		}
	}
	return binaryValue(body)
}

func (l *listSummaries) UnmarshalBSONValue(typ byte, data []byte) error {
	body, err := binaryBody(typ, data)
	if err != nil || body == nil {
		*l = nil
		return err
	}
	out := listSummaries{}
	prev := int64(0)
	for len(body) > 0 {
		var s listSealed
		var d int64
		if s.Range, body, err = readRange(body, prev); err != nil {
			return err
		}
		prev = s.Range.Max
		if s.Ver, body, err = varint(body); err != nil {
			return err
		}
		for _, c := range s.Counts.values() {
			if d, body, err = varint(body); err != nil {
				return err
			}
			*c = int32(d)
		}
		out = append(out, s)
	}
	*l = out
	return nil
}

// values lists the counts in their packed order.
func (c *listCounts) values() []*int32 {
	out := []*int32{&c.N}
	for _, arr := range []*[4]int32{&c.Trust, &c.Life, &c.Kind, &c.Chan} {
		for i := range arr {
			out = append(out, &arr[i])
		}
	}
	return out
}

// binaryValue is body as a BSON binary value (generic subtype).
func binaryValue(body []byte) (byte, []byte, error) {
	data := make([]byte, 0, 5+len(body))
	data = binary.LittleEndian.AppendUint32(data, uint32(len(body)))
	data = append(data, 0x00)
	return byte(bson.TypeBinary), append(data, body...), nil
}

// binaryBody is the bytes of a BSON binary value; nil for null.
func binaryBody(typ byte, data []byte) ([]byte, error) {
	switch bson.Type(typ) {
	case bson.TypeNull, bson.TypeUndefined:
		return nil, nil
	case bson.TypeBinary:
	default:
		return nil, fmt.Errorf("%w: BSON type %v", errPacked, bson.Type(typ))
	}
	if len(data) < 5 {
		return nil, errPacked
	}
	n := int(binary.LittleEndian.Uint32(data))
	if n < 0 || len(data) < 5+n {
		return nil, errPacked
	}
	return data[5 : 5+n : 5+n], nil
}

func varint(b []byte) (int64, []byte, error) {
	v, n := binary.Varint(b)
	if n <= 0 {
		return 0, nil, errPacked
	}
	return v, b[n:], nil
}
