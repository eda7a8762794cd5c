package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

// rawPayload returns the payload of projection id as stored, and its BSON type.
func rawPayload(t *testing.T, s *Store, id string) (bson.Type, bson.Raw) {
	t.Helper()
	var d projDoc
	if err := s.projections.FindOne(context.Background(), bson.D{{Key: "_id", Value: id}}).Decode(&d); err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	if d.Data.Type != bson.TypeBinary {
		return d.Data.Type, d.Data.Document()
	}
	var doc bson.Raw
	_, z, _ := d.Data.BinaryOK()
	if err := inflateBSON(true, z, &doc); err != nil {
		t.Fatalf("%s: inflate: %v", id, err)
	}
	return d.Data.Type, doc
}

// wantField asserts that the value at path of doc has BSON type typ and, when want
// is not nil, the value want.
func wantField(t *testing.T, id string, doc bson.Raw, typ bson.Type, want any, path ...string) {
	t.Helper()
	v, err := doc.LookupErr(path...)
	if err != nil {
		t.Fatalf("%s: no field %v in %s", id, path, doc)
	}
	if v.Type != typ {
		t.Fatalf("%s: %v is of BSON type %v, want %v", id, path, v.Type, typ)
	}
	if want != nil && fmt.Sprint(v.StringValue()) != fmt.Sprint(want) {
		t.Fatalf("%s: %v = %v, want %v", id, path, v, want)
	}
}

// seedReadable stores, with tiny buckets, artifacts of project "payments" that are
// verified and promoted into PROD, enough for every projection to have sealed
// buckets.
func seedReadable(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	for i := range 9 {
		at := t0.Add(time.Duration(i) * time.Minute)
		a := newArtifact("payments", fmt.Sprintf("svc-%d", i), at)
		mustInsert(t, s, a)
		next := *a
		next.Audit = slices.Clone(a.Audit)
		next.TrustState, next.LifecycleState = model.TrustVerified, model.LifecyclePromoted
		next.Verification = []model.VerificationRecord{{Check: model.CheckSignature, Result: model.ResultPassed, RecordedBy: "verifier", RecordedAt: at.Add(time.Second)}}
		next.Promotions = []model.Promotion{{Channel: model.ChannelProd, PromotedBy: "alice", PromotedAt: at.Add(2 * time.Second), CorrelationID: "c"}}
		ev := next.Event(model.ActionPromote, alice, "c", "", at.Add(2*time.Second))
		ev.PromotionChannel = model.ChannelProd
		next.Audit = append(next.Audit, ev)
		if err := s.UpdateArtifact(ctx, a, &next); err != nil {
			t.Fatal(err)
		}
	}
}

// checkReadableShapes asserts the field names and value types of every kind of
// projection document of project "payments".
func checkReadableShapes(t *testing.T, s *Store, wantType bson.Type) {
	t.Helper()
	chanID := chanHeadID("payments", model.ChannelProd, "")
	for _, id := range []string{listHeadID("payments"), bucketID(listHeadID("payments"), 0), feedHeadID("payments"), chanID, bucketID(chanID, 0), statusID("payments")} {
		typ, _ := rawPayload(t, s, id)
		if typ != wantType {
			t.Fatalf("%s: payload of BSON type %v, want %v", id, typ, wantType)
		}
	}
	_, list := rawPayload(t, s, listHeadID("payments"))
	id := "list:payments"
	wantField(t, id, list, bson.TypeString, nil, "entries", "0", "artifactId")
	wantField(t, id, list, bson.TypeDateTime, nil, "entries", "0", "createdAt")
	wantField(t, id, list, bson.TypeString, "VERIFIED", "entries", "0", "trustState")
	wantField(t, id, list, bson.TypeString, "PROMOTED", "entries", "0", "lifecycleState")
	wantField(t, id, list, bson.TypeString, "OCI_IMAGE", "entries", "0", "kind")
	wantField(t, id, list, bson.TypeString, "PROD", "entries", "0", "channels", "0")
	wantField(t, id, list, bson.TypeString, "VERIFIED", "entries", "0", "deployFacts", "trustState")
	wantField(t, id, list, bson.TypeString, "SIGNATURE", "entries", "0", "deployFacts", "passed", "0")
	wantField(t, id, list, bson.TypeString, digestOf("payments/svc-8"), "entries", "0", "digest")
	wantField(t, id, list, bson.TypeString, "OCI_REGISTRY", "entries", "0", "sourceType")
	wantField(t, id, list, bson.TypeDateTime, nil, "entries", "0", "updatedAt")
	wantField(t, id, list, bson.TypeDateTime, nil, "sealed", "0", "range", "min")
	wantField(t, id, list, bson.TypeDateTime, nil, "sealed", "0", "range", "max")
	wantField(t, id, list, bson.TypeInt64, nil, "sealed", "0", "bucketVersion")
	wantField(t, id, list, bson.TypeInt32, nil, "sealed", "0", "counts", "total")
	wantField(t, id, list, bson.TypeInt32, nil, "sealed", "0", "counts", "byTrustState", "VERIFIED")
	wantField(t, id, list, bson.TypeInt32, nil, "sealed", "0", "counts", "byChannel", "PROD")
	_, bucket := rawPayload(t, s, bucketID(listHeadID("payments"), 0))
	wantField(t, "list bucket", bucket, bson.TypeString, "VERIFIED", "entries", "0", "trustState")

	_, feed := rawPayload(t, s, feedHeadID("payments"))
	id = "feed:payments"
	wantField(t, id, feed, bson.TypeInt32, nil, "entries", "0", "seq")
	wantField(t, id, feed, bson.TypeDateTime, nil, "entries", "0", "at")
	wantField(t, id, feed, bson.TypeString, nil, "entries", "0", "artifactId")
	wantField(t, id, feed, bson.TypeString, nil, "entries", "0", "event", "action")
	wantField(t, id, feed, bson.TypeDateTime, nil, "sealed", "0", "range", "min")
	wantField(t, id, feed, bson.TypeInt64, nil, "sealed", "0", "bucketVersion")

	_, ch := rawPayload(t, s, chanID)
	id = chanID
	wantField(t, id, ch, bson.TypeString, nil, "entries", "0", "artifactId")
	wantField(t, id, ch, bson.TypeDateTime, nil, "entries", "0", "promotedAt")
	wantField(t, id, ch, bson.TypeString, "alice", "entries", "0", "promotedBy")
	wantField(t, id, ch, bson.TypeString, "VERIFIED", "entries", "0", "deployFacts", "trustState")
	wantField(t, id, ch, bson.TypeDateTime, nil, "sealed", "0", "range", "min")
	wantField(t, id, ch, bson.TypeString, "VERIFIED", "sealed", "0", "deployFacts", "0", "trustState")

	_, status := rawPayload(t, s, statusID("payments"))
	wantField(t, "status", status, bson.TypeString, "PROD", "latest", "0", "channel")
	wantField(t, "status", status, bson.TypeDateTime, nil, "latest", "0", "promotedAt")
}

// TestProjectionDocumentsReadableOnMongoDB: on MongoDB (the MongoDB code path, a
// FerretDB started by the test), every projection payload is a plain
// sub-document with descriptive field names, enum values as their strings and
// times as dates: what mongosh or Compass shows.
func TestProjectionDocumentsReadableOnMongoDB(t *testing.T) {
	t.Parallel()
	e, err := startEmbedded(t.TempDir(), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.stop() })
	s, err := Open(context.Background(), Config{MongoURI: e.uri, caps: tinyCaps}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	seedReadable(t, s)
	checkReadableShapes(t, s, bson.TypeEmbeddedDocument)
}

// TestEmbeddedProjectionsAreTheReadableDocumentsDeflated: on the embedded engine
// the payloads are one binary value each, and that value inflates to the same
// readable document as on MongoDB; a payload of either form reads back.
func TestEmbeddedProjectionsAreTheReadableDocumentsDeflated(t *testing.T) {
	t.Parallel()
	s := openCaps(t, t.TempDir(), tinyCaps)
	seedReadable(t, s)
	checkReadableShapes(t, s, bson.TypeBinary)

	var deflated listHead
	if _, err := s.loadProj(context.Background(), listHeadID("payments"), &deflated); err != nil {
		t.Fatal(err)
	}
	s.projForm = formDocument
	if _, err := update(context.Background(), s, listHeadID("payments"), "payments", "list", func(*listHead, int64) (bool, error) { return true, nil }); err != nil {
		t.Fatal(err)
	}
	if typ, _ := rawPayload(t, s, listHeadID("payments")); typ != bson.TypeEmbeddedDocument {
		t.Fatalf("payload of BSON type %v after a write in document form", typ)
	}
	var plain listHead
	if _, err := s.loadProj(context.Background(), listHeadID("payments"), &plain); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(plain) != fmt.Sprint(deflated) {
		t.Fatalf("the document form reads\n%+v\nthe deflated form\n%+v", plain, deflated)
	}
}

// Values no model list holds (as a newer model version could add them).
const (
	unseenKind      model.ArtifactKind   = "WASM_MODULE"
	unseenTrust     model.TrustState     = "QUARANTINED"
	unseenLifecycle model.LifecycleState = "ARCHIVED"
	unseenChannel   model.Channel        = "CANARY"
	unseenCheck     model.Check          = "SBOM_PRESENT"
)

// TestListCountsEveryEnumValueTheModelDoesNotList: counts are kept per value, so
// a kind, trust state, lifecycle state or channel the store has never seen is
// counted from the head like the model's own, and filtered exactly, whether its
// entries are inline or in sealed buckets; nothing panics.
func TestListCountsEveryEnumValueTheModelDoesNotList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openCaps(t, t.TempDir(), tinyCaps)
	var all []*model.Artifact
	for i := range 11 {
		at := t0.Add(time.Duration(i) * time.Minute)
		a := newArtifact("payments", fmt.Sprintf("svc-%d", i), at)
		if i%2 == 0 {
			a.Kind = unseenKind
		}
		if i%3 == 0 {
			a.TrustState = unseenTrust
		}
		if i%4 == 0 {
			a.LifecycleState = unseenLifecycle
		}
		if i%5 != 4 {
			c := unseenChannel
			if i%5 == 0 {
				c = model.Channels[i%len(model.Channels)]
			}
			a.Promotions = []model.Promotion{{Channel: c, PromotedBy: "alice", PromotedAt: at, CorrelationID: "c"}}
		}
		mustInsert(t, s, a)
		all = append(all, a)
	}
	if sealedCount(t, s, listHeadID("payments")) == 0 {
		t.Fatal("no sealed list bucket")
	}
	var filters []service.ArtifactFilter
	for _, k := range append(slices.Clone(model.AllArtifactKinds), unseenKind) {
		filters = append(filters, service.ArtifactFilter{Kind: k})
	}
	for _, c := range append(slices.Clone(model.Channels), unseenChannel) {
		filters = append(filters, service.ArtifactFilter{Channel: c})
	}
	filters = append(filters, service.ArtifactFilter{TrustState: unseenTrust}, service.ArtifactFilter{TrustState: model.TrustUnverified},
		service.ArtifactFilter{LifecycleState: unseenLifecycle}, service.ArtifactFilter{LifecycleState: model.LifecyclePublished},
		service.ArtifactFilter{Kind: unseenKind, Channel: unseenChannel})
	var entries []listEntry
	for _, a := range all {
		entries = append(entries, listEntryOf(a))
	}
	counts := countsOf(entries)
	for _, f := range filters {
		want := 0
		for _, a := range all {
			promoted := slices.ContainsFunc(a.Promotions, func(p model.Promotion) bool { return p.Channel == f.Channel })
			if (f.Kind == "" || a.Kind == f.Kind) && (f.TrustState == "" || a.TrustState == f.TrustState) &&
				(f.LifecycleState == "" || a.LifecycleState == f.LifecycleState) && (f.Channel == "" || promoted) {
				want++
			}
		}
		single := f.Kind == "" || f.Channel == ""
		if got, ok := counts.count(f); ok != single || (ok && got != want) {
			t.Fatalf("counts for %+v: %d (from the counts: %v), want %d (from the counts: %v)", f, got, ok, want, single)
		}
		page, err := s.ListArtifacts(ctx, service.ArtifactQuery{Project: "payments", Filter: f, First: 100})
		if err != nil {
			t.Fatal(err)
		}
		if page.TotalCount != want || len(page.Items) != want {
			t.Fatalf("list %+v: total %d, %d items, want %d", f, page.TotalCount, len(page.Items), want)
		}
	}
}

// TestDeployFactsKeepEveryCheckAndTrustState: stored deploy facts keep checks and
// trust states by name, however many there are, so a policy requiring a check no
// bit layout foresaw skips exactly the promotions whose artifacts lack it.
func TestDeployFactsKeepEveryCheckAndTrustState(t *testing.T) {
	t.Parallel()
	var many []model.Check
	for i := range 40 {
		many = append(many, model.Check(fmt.Sprintf("CHECK_%02d", i)))
	}
	f := model.DeployFacts{Trust: unseenTrust, Passed: append(slices.Clone(many), unseenCheck), Failed: []model.Check{"CHECK_99"}}
	got := storedFactsOf(f).model(false)
	if got.Trust != unseenTrust || len(got.Passed) != len(many)+1 || !slices.Contains(got.Passed, unseenCheck) || !slices.Equal(got.Failed, f.Failed) {
		t.Fatalf("round trip: %+v", got)
	}

	ctx := context.Background()
	s := openCaps(t, t.TempDir(), tinyCaps)
	p := model.DefaultPolicy("payments")
	p.AllowedSources = []string{"registry.example.com/"}
	for i := range p.Channels {
		if p.Channels[i].Channel == model.ChannelDev {
			p.Channels[i].RequiredChecks = append(p.Channels[i].RequiredChecks, unseenCheck)
		}
	}
	var with []string
	for i := range 7 {
		at := t0.Add(time.Duration(i) * time.Minute)
		a := newArtifact("payments", fmt.Sprintf("svc-%d", i), at)
		a.TrustState = model.TrustVerified
		for _, c := range model.BaselineChecks {
			a.Verification = append(a.Verification, model.VerificationRecord{Check: c, Result: model.ResultPassed, RecordedBy: "v", RecordedAt: at})
		}
		if i%3 == 1 {
			a.Verification = append(a.Verification, model.VerificationRecord{Check: unseenCheck, Result: model.ResultPassed, RecordedBy: "v", RecordedAt: at})
			with = append(with, a.ID)
		}
		a.Promotions = []model.Promotion{{Channel: model.ChannelDev, PromotedBy: "alice", PromotedAt: at, CorrelationID: "c"}}
		mustInsert(t, s, a)
	}
	var got2 []string
	for a, err := range s.DeployCandidates(ctx, "payments", model.ChannelDev, "", &p) {
		if err != nil {
			t.Fatal(err)
		}
		if !model.Deployable(a, &p, model.ChannelDev) {
			t.Fatalf("candidate %s is not deployable", a.ID)
		}
		got2 = append(got2, a.ID)
	}
	slices.Sort(got2)
	slices.Sort(with)
	if !slices.Equal(got2, with) {
		t.Fatalf("candidates %v, want exactly the artifacts that passed %s: %v", got2, unseenCheck, with)
	}
}

// TestDeployFactsKeepProvenanceByName: the SLSA provenance SOURCE_POLICY was
// decided from is kept in the deploy facts of the list and the chan logs by name
// (sourcePolicyFromProvenance, provenance: {builderId, sourceRepository, keys})
// and comes back as it was stored; a sealed bucket's summary keeps that
// SOURCE_POLICY was decided from provenance but not the provenance itself, so it
// takes SOURCE_POLICY as possibly passing, and list facts naming provenance they do
// not hold are not known.
func TestDeployFactsKeepProvenanceByName(t *testing.T) {
	t.Parallel()
	sp := model.CheckSourcePolicy
	fromA := model.DeployFacts{Trust: model.TrustVerified, Source: "registry.example.com/a", Passed: []model.Check{sp}, Verified: []model.Check{sp},
		VerifiedKeys: [][]string{{"k2", "k1"}}, Provenance: &model.ProvenanceFacts{BuilderID: builderA, SourceRepository: acmeRepo + "a"}, ProvenanceKeys: []string{"k2", "k1"}}
	sf := storedFactsOf(fromA)
	if !sf.FromProvenance || sf.Provenance == nil || sf.Provenance.BuilderID != builderA || !slices.Equal(sf.Provenance.Keys, []string{"k1", "k2"}) || !sf.known() {
		t.Fatalf("stored: %+v %+v", sf, sf.Provenance)
	}
	got := sf.model(false)
	if *got.Provenance != *fromA.Provenance || !slices.Equal(got.ProvenanceKeys, []string{"k1", "k2"}) || !slices.Equal(got.Passed, fromA.Passed) {
		t.Fatalf("round trip: %+v", got)
	}
	raw, err := bson.Marshal(sf)
	if err != nil {
		t.Fatal(err)
	}
	wantField(t, "deployFacts", raw, bson.TypeBoolean, nil, "sourcePolicyFromProvenance")
	wantField(t, "deployFacts", raw, bson.TypeString, builderA, "provenance", "builderId")
	wantField(t, "deployFacts", raw, bson.TypeString, acmeRepo+"a", "provenance", "sourceRepository")
	wantField(t, "deployFacts", raw, bson.TypeString, "k1", "provenance", "keys", "0")

	// Failed from provenance built by B: the same class as A's but for the checks;
	// another builder with A's checks: A's class, other provenance.
	fromB := fromA
	fromB.Provenance = &model.ProvenanceFacts{BuilderID: builderB, SourceRepository: acmeRepo + "b"}
	other := storedFactsOf(fromB)
	if !other.sameClass(sf) || other.equal(sf) {
		t.Fatal("facts differing only in their provenance must be of one class and not equal")
	}
	failed := fromB
	failed.Passed, failed.Failed, failed.Verified, failed.VerifiedKeys = nil, []model.Check{sp}, nil, nil
	sum := summarize([]chanEntry{{Facts: sf}, {Facts: other}, {Facts: storedFactsOf(failed)}})
	if len(sum) != 2 {
		t.Fatalf("summary: %+v", sum)
	}
	for _, f := range sum {
		m := f.model(true)
		if !f.FromProvenance || f.Provenance != nil || m.Provenance != nil || !slices.Contains(m.Passed, sp) || slices.Contains(m.Failed, sp) || !slices.Contains(m.Verified, sp) {
			t.Fatalf("summary facts %+v read as %+v: want SOURCE_POLICY possibly passing and no provenance", f, m)
		}
	}
	held := listEntry{Facts: storedFacts{Trust: model.TrustVerified, FromProvenance: true}}
	if _, known := held.facts(); known {
		t.Fatal("list facts naming provenance they do not hold are known")
	}

	// As stored: the chan log and list entries of an artifact with provenance.
	f := newProvFixture(t)
	for _, id := range []string{chanHeadID(rdProject, model.ChannelDev, "eu"), listHeadID(rdProject)} {
		_, head := rawPayload(t, f.s, id)
		var vals []bson.RawValue
		sealed, err := head.Lookup("sealed").Array().Values()
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		for n := range len(sealed) + 1 {
			doc := head
			if n < len(sealed) {
				_, doc = rawPayload(t, f.s, bucketID(id, n))
			}
			es, err := doc.Lookup("entries").Array().Values()
			if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			vals = append(vals, es...)
		}
		seen := 0
		for _, v := range vals {
			e := v.Document()
			switch e.Lookup("artifactId").StringValue() {
			case f.fromB:
				wantField(t, id, e, bson.TypeBoolean, nil, "deployFacts", "sourcePolicyFromProvenance")
				wantField(t, id, e, bson.TypeString, builderB, "deployFacts", "provenance", "builderId")
				wantField(t, id, e, bson.TypeString, acmeRepo+f.fromB, "deployFacts", "provenance", "sourceRepository")
				seen++
			case f.plain:
				if _, err := e.LookupErr("deployFacts", "provenance"); err == nil {
					t.Fatalf("%s: the artifact without provenance has some: %s", id, e)
				}
				seen++
			}
		}
		if seen != 2 {
			t.Fatalf("%s: found %d of the two artifacts", id, seen)
		}
	}
}

// The buckets of the embedded trails are plain documents with descriptive field
// names on either engine (never deflated): _id "<owner>:<trail>#<n>", the version
// of their writes, owner, trail, first (the sequence number of entries[0]) and the
// entries in the owner's own stored form.
func TestTrailBucketsAreReadableDocuments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	p := model.DefaultPolicy("aged")
	p.AllowedSources = []string{"registry.example.com/"}
	full := promotedOften(t, agedArtifact(t, "aged", "svc", 40, &p), &p, 20)
	if err := s.InsertArtifactsBulk(ctx, []*model.Artifact{full}); err != nil {
		t.Fatal(err)
	}
	putPolicies(t, s, "aged", 3)
	for _, c := range []struct {
		id, owner, trail string
		first            int
		entry            []string // a string field of entries[0] and its value
	}{
		{full.ID + ":audit#1", full.ID, "audit", 8, []string{"action", string(normalized(full).Audit[8].Action)}},
		{full.ID + ":promotions#0", full.ID, "promotions", 0, []string{"channel", string(model.ChannelDev)}},
		{"aged:changes#0", "aged", "changes", 0, []string{"project", "aged"}},
	} {
		raw := rawDoc(t, s, overflowCollection, c.id)
		wantField(t, c.id, raw, bson.TypeInt64, nil, "version")
		wantField(t, c.id, raw, bson.TypeString, c.owner, "owner")
		wantField(t, c.id, raw, bson.TypeString, c.trail, "trail")
		if first, ok := raw.Lookup("first").AsInt64OK(); !ok || int(first) != c.first {
			t.Fatalf("%s: first = %v, want %d", c.id, raw.Lookup("first"), c.first)
		}
		wantField(t, c.id, raw, bson.TypeArray, nil, "entries")
		wantField(t, c.id, raw, bson.TypeString, c.entry[1], "entries", "0", c.entry[0])
	}
}
