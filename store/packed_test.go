package store

import (
	"math"
	"reflect"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestPackedTablesRoundTrip(t *testing.T) {
	t.Parallel()
	type heads struct {
		R rangeList     `bson:"r"`
		L listSummaries `bson:"l"`
		E rangeList     `bson:"e"`
	}
	in := heads{
		R: rangeList{{Min: 1700000000000, Max: 1700000005000}, {Min: 1699999999000, Max: 1700000009000}, {Min: 0, Max: math.MaxInt32}},
		L: listSummaries{
			{Range: logRange{Min: 5, Max: 9}, Ver: 12, Counts: listCounts{N: 128, Trust: [4]int32{100, 20, 5, 3}, Chan: [4]int32{128, 0, 0, 1}}},
			{Range: logRange{Min: 3, Max: 4}, Ver: 1},
		},
		E: rangeList{},
	}
	raw, err := bson.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out heads
	if err := bson.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", out, in)
	}
	var missing heads
	if err := bson.Unmarshal([]byte{5, 0, 0, 0, 0}, &missing); err != nil || missing.R != nil {
		t.Fatalf("absent tables: %+v %v", missing, err)
	}
	bad, _ := bson.Marshal(bson.D{{Key: "r", Value: bson.Binary{Data: []byte{0xff}}}})
	if err := bson.Unmarshal(bad, &out); err == nil {
		t.Fatal("a truncated varint decodes")
	}
}
