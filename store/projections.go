package store

// Per-project read models ("projections") and the outbox that keeps them consistent
// with the artifact documents without transactions.
//
// Exported for the benchmark seeder and for operators (everything else is internal):
//
//	func (s *Store) Database() *mongo.Database   // the database ("artifacts", "projections", ...)
//	func (s *Store) InsertArtifactsBulk(ctx, []*model.Artifact) error
//	    InsertMany of new artifacts (each keeps its Version, 0 becomes 1), then appends
//	    their list entries, audit events and promotions to their projects' projections
//	    in bulk (a few InsertMany of bucket documents per project, no per-artifact
//	    round trips). Call it in chunks of any size; the artifacts must not exist yet
//	    and hold their whole trails (long ones are laid out as trail.go describes).
//	    On an error the projections of the projects involved may be incomplete:
//	    call RebuildProjections for them.
//	func (s *Store) RebuildProjections(ctx, project string) error
//	    Recomputes every projection of project ("" = every project) from a full scan
//	    of the artifacts (O(collection) on the embedded engine), then deletes the
//	    outbox entries of project written before it began, quarantined or not, and
//	    those that cannot be decoded: the rebuild covers their writes (outbox.go).
//	    Run by the server's repair subcommand (`go run ./server repair`) and tests.
//	    Run it while nothing writes to those projects (it excludes this process's
//	    writers, not other replicas').
//	func (s *Store) Repairs() RepairStatus
//	func (s *Store) Quarantine() []QuarantinedEntry
//	func (s *Store) Degraded() error
//	    The writes whose projections are not applied yet and how their repair goes
//	    (outbox.go); Degraded says it as an error while a repair fails (readiness),
//	    but for the quarantined entries, whose repair kept failing past a bound.
//
// Collections: "projections" and "outbox", both addressed only by _id (on the embedded
// engine only {_id: x} filters are pushed down to SQLite, see ARCHITECTURE.md).
//
// Projection documents are {_id, project, type, version, data}. version is bumped
// by every write and is the predicate of the next one (read-modify-write; see
// update). data is the payload: one set of Go types with descriptive field names,
// enum values (trust, lifecycle, kind, channel, checks) as their strings and times
// as dates, stored as a plain sub-document on MongoDB and as the same document
// deflated into one binary value on the embedded engine (the projection codec,
// encodeProj, decides, with the measurements behind it).
//
// The list, the feed and the chan logs are bucketed logs (store/internal/bucketlog,
// whose contract says how they are laid out, sealed and read; nothing else in this
// package knows): a head <id> {entries: the open bucket, sealed: a record per
// sealed bucket {range: {min, max} of the entry times, bucketVersion, and the
// log's summary of it}} and sealed buckets <id>#<n> {entries}, bucket n holding
// the log's entries n*cap to (n+1)*cap-1 in the order they were appended. The
// payloads:
//
//	list:<p>          the artifact list, an entry per artifact {artifactId,
//	                  createdAt, trustState, lifecycleState, kind, tags, channels
//	                  (ever promoted into), version, deployFacts, and the other
//	                  summary fields: digest, sourceType, runtimeClass, updatedAt}
//	                  (listEntry); deployFacts: {trustState, retired, passed,
//	                  failed, verified: [{check, keys}], source,
//	                  sourcePolicyFromProvenance, provenance: {builderId,
//	                  sourceRepository, keys}} (storedFacts, chanlog.go); a
//	                  sealed bucket's summary: counts: {total, byTrustState:
//	                  {VERIFIED: n, ...}, byLifecycleState, byKind, byChannel}
//	                  (listSummary). Entries are updated in place (an artifact's
//	                  state changes); listBucketCap per bucket.
//	feed:<p>          the audit feed: {seq (the index in the artifact's trail), at,
//	                  artifactId, event (the audit event as the artifact stores
//	                  it)}, immutable; no summary; feedBucketCap per bucket.
//	chan:<p>:<c>:<e>  every promotion into exactly channel c and environment e:
//	                  {artifactId, promotedAt, promotedBy, deployFacts of the
//	                  artifact and the artifact version they are from}; a sealed
//	                  bucket's summary: deployFacts, the distinct facts of its
//	                  entries without their provenance (chanSummary);
//	                  chanBucketCap per bucket. Facts are kept current in place,
//	                  so deployable skips what cannot be deployable under the
//	                  current policy without reading it (chanlog.go).
//	status:<p>        {latest: the latest promotion per (channel, environment)}.
//	meta:projections  {schema}; when it is missing or older at Open (a database
//	                  written before projections existed or in older shapes) every
//	                  projection is rebuilt.
//
// Every read of a hot path is a few _id look-ups: a list page is list:<p> (and at
// most a sealed bucket or two) plus the page's artifacts; an audit page feed:<p> (and
// a sealed bucket or two); deployable the policy, chan:<p>:<c>:<e> and usually one
// artifact, however many promotions there are no longer deployable; channel status
// status:<p> and its artifacts. Their cost does not depend on the size of the
// collection, nor (but for the row per sealed bucket of the heads' tables) on the
// size of the project. Exceptions, O(project): the total of a
// list filter with a tag or with more than one field, and pages of filters that
// match few artifacts or events (the buckets are read until the page is full).
//
// Entries are appended in write order, which is close to but not exactly time order
// (concurrent writers, clock skew, replays, bulk loads), so readers never assume it:
// they merge buckets newest first and read a sealed bucket only when its range may
// hold the next entry (bucketlog.Iter).
//
// Consistency without transactions (an outbox). A write of an artifact:
//  1. inserts outbox {_id: artifactId:newVersion:nonce, project, artifactId, version,
//     fromSeq, fromPromotion}; failing here writes nothing;
//  2. writes the artifact (insert, or the version-predicate update); if that is refused
//     (duplicate, stale version) it deletes the outbox entry; an ambiguous error (the
//     write may have landed) leaves it;
//  3. applies the projections from the artifact's new state: the list entry is set
//     from the state (never over a newer version), feed events are deduplicated by
//     (artifactId, seq) and promotions by (artifactId, promotedAt) against the
//     bucket that may hold them (bucketlog.Log.Upsert), so applying twice changes
//     nothing;
//  4. deletes the outbox entry. If 3 fails the write still succeeds (the artifact is
//     the source of truth): the entry stays and the writer hands it to the store's
//     repairer, which applies it again at once and then with a short backoff until
//     the engine accepts the writes (outbox.go).
//
// Repairing an entry loads the artifact by _id and, when its version reached the
// entry's, applies its projections again from its current state; then it deletes the
// entry. Open repairs every entry (the collection holds only writes in flight, so
// scanning it is cheap on either engine) and starts even when some cannot be repaired
// yet: they stay with the repairer and Degraded reports them. The repairer also
// sweeps the outbox every outboxInterval for entries older than outboxGrace (left by
// a process that died, or by another replica on MongoDB). The nonce keeps two racing
// writers of one version (two replicas, two registrations of one digest) from
// refusing each other at step 1.
//
// Writers of a projection document are serialized in the process by the store's
// writeLocks (one lock per document, keylock; a wait ends with the writer's context)
// and, across replicas on MongoDB, by the version predicate with a few retries. A
// log's head lock may be held while one of its buckets' is taken, never the other
// way round (store/internal/bucketlog), so they cannot deadlock.

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/store/internal/bucketlog"
)

// Bucket capacities (entries per bucket). A head document carries its open bucket
// inline, so it is read by every reader and rewritten by every write of its kind:
// the capacities keep a payload within ~30 KB of BSON (~3 KB deflated). The list's
// entries carry the summary fields and readable field names (~545 B each; digests
// do not deflate) and its head a record of counts per sealed bucket (~250 B), so
// a head of n artifacts is about 545*cap + 250*n/cap bytes: 32 keeps it near its
// smallest from 1,000 to 5,000 artifacts a project (25 KB at 1,000, where 128 made
// it 72 KB) and no larger than 128 did up to 10,000. In the store bench at 10,000
// artifacts (50 projects) 32 against 128 took an insert from 4.35 to 3.4 ms, a
// promotion from 8.0 to 6.4 ms and a re-verification from 7.1 to 5.5 ms.
const (
	listBucketCap = 32 // ~545 B of BSON per entry (~94 B deflated)
	feedBucketCap = 64 // ~460 B per audit event (more with verification records)
	chanBucketCap = 32 // ~265 B per promotion (~25 B deflated)
)

// bucketCaps are the capacities a store uses (tests shrink them to roll buckets
// over often).
type bucketCaps struct{ list, feed, chans int }

var defaultCaps = bucketCaps{list: listBucketCap, feed: feedBucketCap, chans: chanBucketCap}

// projAttempts bounds the retries of a projection write that lost a version race
// (possible only between replicas on MongoDB).
const projAttempts = 16

// loadConcurrency bounds the parallel _id look-ups of one read (a list page).
const loadConcurrency = 4

const metaID = "meta:projections"

// projectionSchema is bumped when the shape of a projection changes; Open rebuilds.
const projectionSchema = 12

// projDoc is the stored form of every projection document.
type projDoc struct {
	ID      string `bson:"_id"`
	Project string `bson:"project"`
	Type    string `bson:"type"`
	Version int64  `bson:"version"`
	// Data is the payload, in the form the projection codec chose (payloadForm).
	Data bson.RawValue `bson:"data"`
}

// The projection codec: the one place that decides how a payload is stored. Every
// payload is one set of Go types with descriptive BSON field names and enum values
// as their strings; it is stored
//
//	document  as a plain sub-document: on MongoDB, where people read the documents
//	          in mongosh or Compass and the engine compresses on disk;
//	deflated  as the same BSON document deflated into one binary value: on the
//	          embedded engine, where FerretDB decodes a stored document value by
//	          value (and SQLite stores its JSON form uncompressed), so a structured
//	          head costs several times the same bytes as one binary.
//
// Measured on the embedded engine (BenchmarkProjectionForms, ms per operation, the
// best of 2-3 runs on a shared 2-core machine; a head with its open bucket one
// entry short of full and the sealed rows of a project of 2,500 artifacts, as in
// the 50,000-artifact benchmark, or of 25,000; update = read, decode, encode and
// write back):
//
//	                 2,500 artifacts        25,000 artifacts
//	                 document  deflated     document  deflated
//	list   read         26.2      2.3          65.5      4.3
//	list   update       70.4      4.9         199.2     10.8
//	feed   read         26.2      1.2         126.1      5.6
//	feed   update       52.5      3.2         228.4     12.3
//	chan   read         16.7      1.1         527.4      6.2
//	chan   update       43.5      2.7        1084.3     16.2
//
// so the embedded engine keeps the deflated form. Its cost is now mostly the Go
// BSON codec, one call per value: the sealed-bucket tables of schema 7 were packed
// varints (0.5-1.0 ms per read at 2,500 artifacts, 1.0-1.5 ms at 25,000), the
// readable tables grow with the number of sealed buckets.
//
// Readers decode either form, whatever the engine, so a database written in one
// form reads in the other.
const (
	formDocument = "document"
	formDeflated = "deflated"
)

// projForms are the payload forms (BenchmarkProjectionForms runs each).
var projForms = []string{formDocument, formDeflated}

// payloadForm is the form s writes payloads in: s.projForm when set (benchmarks),
// else deflated on the embedded engine and a plain document on MongoDB.
func (s *Store) payloadForm() string {
	switch {
	case s.projForm != "":
		return s.projForm
	case s.embedded != nil:
		return formDeflated
	default:
		return formDocument
	}
}

var (
	deflaters = sync.Pool{New: func() any {
		w, _ := flate.NewWriter(nil, flate.BestSpeed)
		return w
	}}
	inflaters = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(nil)) }}
)

// encodeProj encodes a projection payload in s's form.
func (s *Store) encodeProj(payload any) (bson.RawValue, error) {
	raw, err := bson.Marshal(payload)
	if err != nil {
		return bson.RawValue{}, &model.Error{Kind: model.KindInternal, Message: "database error", Err: fmt.Errorf("encode projection: %w", err)}
	}
	if s.payloadForm() == formDocument {
		return bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: raw}, nil
	}
	z, err := deflate(raw)
	if err != nil {
		return bson.RawValue{}, err
	}
	return bson.RawValue{Type: bson.TypeBinary, Value: bsoncore.AppendBinary(nil, bson.TypeBinaryGeneric, z)}, nil
}

// decodeProj decodes a payload of either form into into.
func decodeProj(v bson.RawValue, into any) error {
	_, err := decodeProjSized(v, into)
	return err
}

// decodeProjSized is decodeProj that also returns the length of the payload's BSON
// (inflated).
func decodeProjSized(v bson.RawValue, into any) (int, error) {
	switch v.Type {
	case bson.TypeEmbeddedDocument:
		return len(v.Value), bson.Unmarshal(v.Value, into)
	case bson.TypeBinary:
		_, z, ok := v.BinaryOK()
		if !ok {
			return 0, errors.New("malformed binary projection payload")
		}
		raw, err := inflate(z)
		if err != nil {
			return 0, err
		}
		return len(raw), bson.Unmarshal(raw, into)
	default:
		return 0, fmt.Errorf("projection payload of BSON type %v", v.Type)
	}
}

func deflate(raw []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(raw)/4 + 64)
	w := deflaters.Get().(*flate.Writer)
	defer func() {
		w.Reset(io.Discard) // do not keep buf alive in the pool
		deflaters.Put(w)
	}()
	w.Reset(&buf)
	if _, err := w.Write(raw); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// deflateBSON is payload as BSON, deflated (the delivery queues' documents,
// webhooks.go).
func deflateBSON(payload any) ([]byte, error) {
	raw, err := bson.Marshal(payload)
	if err != nil {
		return nil, &model.Error{Kind: model.KindInternal, Message: "database error", Err: fmt.Errorf("encode: %w", err)}
	}
	return deflate(raw)
}

// inflateBSON decodes data, BSON deflated when z is set, into into.
func inflateBSON(z bool, data []byte, into any) error {
	raw := data
	if z {
		var err error
		if raw, err = inflate(data); err != nil {
			return err
		}
	}
	return bson.Unmarshal(raw, into)
}

// inflate returns the bytes deflated in z.
func inflate(z []byte) ([]byte, error) {
	r := inflaters.Get().(io.ReadCloser)
	defer inflaters.Put(r)
	if err := r.(flate.Resetter).Reset(bytes.NewReader(z), nil); err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func listHeadID(project string) string { return "list:" + project }
func feedHeadID(project string) string { return "feed:" + project }
func statusID(project string) string   { return "status:" + project }
func chanHeadID(project string, c model.Channel, env string) string {
	return "chan:" + project + ":" + string(c) + ":" + env
}

// bucketID names sealed bucket n of the projection whose head is head. Neither
// projects nor environments may contain '#' or ':' (model.ValidateProject and
// ValidateEnvironment), so ids never collide.
var bucketID = bucketlog.BucketID

// Database returns the store's database.
func (s *Store) Database() *mongo.Database { return s.db }

// loadProj decodes projection id into into and returns its version (0: absent).
func (s *Store) loadProj(ctx context.Context, id string, into any) (int64, error) {
	ver, _, err := s.loadProjSized(ctx, id, into)
	return ver, err
}

// loadProjSized is loadProj that also returns the length of the payload's BSON.
func (s *Store) loadProjSized(ctx context.Context, id string, into any) (int64, int, error) {
	var d projDoc
	raw, err := s.findCached(ctx, s.projections, id)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, mapErr(err, "get projection")
	}
	if err := bson.Unmarshal(raw, &d); err != nil {
		return 0, 0, &model.Error{Kind: model.KindInternal, Message: "database error", Err: fmt.Errorf("decode projection %s: %w", id, err)}
	}
	size, err := decodeProjSized(d.Data, into)
	if err != nil {
		return 0, 0, &model.Error{Kind: model.KindInternal, Message: "database error", Err: fmt.Errorf("decode projection %s: %w", id, err)}
	}
	return d.Version, size, nil
}

// putProjLocked writes payload as projection id at version ver+1 if its stored
// version is still ver (0: absent), and reports whether it did. The caller holds the
// document's write lock and read ver under it. On MongoDB the version predicate makes
// the write atomic against other replicas; on the embedded engine the lock does (the
// DATA_DIR lock makes this process the only writer), and the filter must be exactly
// {_id} to use the SQLite index.
func (s *Store) putProjLocked(ctx context.Context, id, project, typ string, payload any, ver int64) (bool, error) {
	data, err := s.encodeProj(payload)
	if err != nil {
		return false, err
	}
	return s.putDocLocked(ctx, projDoc{ID: id, Project: project, Type: typ, Version: ver + 1, Data: data}, ver)
}

// putDocLocked is putProjLocked of an encoded document (doc.Version is ver+1).
func (s *Store) putDocLocked(ctx context.Context, doc projDoc, ver int64) (ok bool, err error) {
	id := doc.ID
	if s.cache != nil {
		defer func() { s.cachePut(doc, ok && err == nil) }()
	}
	if ver == 0 {
		_, err := s.projections.InsertOne(ctx, doc)
		if mongo.IsDuplicateKeyError(err) {
			return false, nil
		}
		return err == nil, mapErr(err, "insert projection")
	}
	filter := bson.D{{Key: "_id", Value: id}}
	if !s.Exclusive() {
		filter = append(filter, bson.E{Key: "version", Value: ver})
	}
	res, err := s.projections.ReplaceOne(ctx, filter, doc)
	if err != nil {
		return false, mapErr(err, "write projection")
	}
	return res.MatchedCount == 1, nil
}

// cachePut records a write of projection document doc in the document cache: the
// document itself when the write stored it, else only that it was written.
func (s *Store) cachePut(doc projDoc, stored bool) {
	k := cacheKey{projectionsCollection, doc.ID}
	if !stored {
		s.cache.written(k)
		return
	}
	raw, err := bson.Marshal(doc)
	if err != nil {
		s.cache.written(k)
		return
	}
	s.cache.store(k, raw)
}

func (s *Store) projLock(ctx context.Context, id string) (unlock func(), err error) {
	return s.lockDoc(ctx, projectionsCollection, id)
}

// docs is the projections collection as bucketlog.Storage, for documents of
// project of type typ (a bucket document's type is typ+"-bucket").
type docs struct {
	s            *Store
	project, typ string
}

func (s *Store) docs(project, typ string) docs { return docs{s, project, typ} }

func (d docs) Lock(ctx context.Context, id string) (func(), error) { return d.s.projLock(ctx, id) }

func (d docs) Get(ctx context.Context, id string, into any) (int64, error) {
	return d.s.loadProj(ctx, id, into)
}

// View returns projection id decoded, from the document cache's decoded copy when
// it holds one of the current version (bucketlog.Viewer): list pages, audit pages
// and deployable read the same heads over and over, and decoding them was most of
// their cost.
func (d docs) View(ctx context.Context, id string, fresh func() any) (any, int64, error) {
	s := d.s
	if s.cache == nil {
		v := fresh()
		ver, err := s.loadProj(ctx, id, v)
		return v, ver, err
	}
	k := cacheKey{projectionsCollection, id}
	if v, ver, ok := s.cache.view(k); ok {
		return v, ver, nil
	}
	gen := s.cache.gen(k)
	v := fresh()
	ver, size, err := s.loadProjSized(ctx, id, v)
	if err != nil {
		return nil, 0, err
	}
	s.cache.keepView(k, gen, v, ver, viewCost*size)
	return v, ver, nil
}

func (d docs) Put(ctx context.Context, id string, payload any, ver int64) (bool, error) {
	typ := d.typ
	if strings.Contains(id, "#") {
		typ += "-bucket"
	}
	return d.s.putProjLocked(ctx, id, d.project, typ, payload, ver)
}

func (d docs) Delete(ctx context.Context, id string) error {
	_, err := d.s.projections.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	d.s.cacheWritten(d.s.projections, id)
	return mapErr(err, "delete projection")
}

// update is the read-modify-write of one projection document (bucketlog.Update):
// under the document's write lock it loads the payload (zero T and version 0 when
// absent), lets fn change it, and writes it back with a version predicate when fn
// reports a change. It returns the document's version afterwards. It retries when
// another replica won the race; an error from fn is returned as is.
func update[T any](ctx context.Context, s *Store, id, project, typ string, fn func(cur *T, ver int64) (bool, error)) (int64, error) {
	return bucketlog.Update(ctx, s.docs(project, typ), id, fn)
}

// ---------------------------------------------------------------------------------
// The bucketed logs: the list, the feed and the chan logs (store/internal/bucketlog
// lays them out).

// logKey orders log entries: a time in Unix milliseconds, an artifact id and, for
// audit events, the index in the artifact's trail.
type logKey = bucketlog.Key

// The kinds of log. Their capacities are the store's (tests shrink them).
type logSpecs struct {
	list  *bucketlog.Spec[listEntry, listSummary]
	feed  *bucketlog.Spec[feedEntry, struct{}]
	chans *bucketlog.Spec[chanEntry, chanSummary]
}

func newLogSpecs(c bucketCaps) logSpecs {
	return logSpecs{
		list: &bucketlog.Spec[listEntry, listSummary]{Cap: c.list, Key: (*listEntry).key,
			Newer:     func(cur, next *listEntry) bool { return next.Version > cur.Version },
			Summarize: func(es []listEntry) listSummary { return listSummary{countsOf(es)} },
			Covers:    func(rec, exact listSummary) bool { return rec.Counts.equal(exact.Counts) }},
		feed: &bucketlog.Spec[feedEntry, struct{}]{Cap: c.feed, Key: (*feedEntry).key},
		chans: &bucketlog.Spec[chanEntry, chanSummary]{Cap: c.chans, Key: (*chanEntry).key,
			Newer:     func(cur, next *chanEntry) bool { return next.V > cur.V },
			Summarize: func(es []chanEntry) chanSummary { return chanSummary{summarize(es)} },
			Covers:    func(rec, exact chanSummary) bool { return coversFacts(rec.Facts, exact.Facts) }},
	}
}

func (s *Store) listLog(project string) bucketlog.Log[listEntry, listSummary] {
	return bucketlog.Log[listEntry, listSummary]{Spec: s.logs.list, St: s.docs(project, "list"), ID: listHeadID(project)}
}

func (s *Store) feedLog(project string) bucketlog.Log[feedEntry, struct{}] {
	return bucketlog.Log[feedEntry, struct{}]{Spec: s.logs.feed, St: s.docs(project, "feed"), ID: feedHeadID(project)}
}

func (s *Store) chanLog(project string, c model.Channel, env string) bucketlog.Log[chanEntry, chanSummary] {
	return bucketlog.Log[chanEntry, chanSummary]{Spec: s.logs.chans, St: s.docs(project, "chan"), ID: chanHeadID(project, c, env)}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func containsKey[E any](es []E, key func(*E) logKey, k logKey) bool {
	for i := range es {
		if key(&es[i]) == k {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------------
// ---------------------------------------------------------------------------------
// Applying an artifact's state to the projections.

// applyProjections brings every projection of a's project up to date with a: its list
// entry, its audit events from sequence number fromSeq and its promotions from
// fromPromotion (read from the trails' buckets when a no longer holds them).
// Idempotent.
func (s *Store) applyProjections(ctx context.Context, a *model.Artifact, fromSeq, fromPromotion int) error {
	s.projMu.RLock()
	defer s.projMu.RUnlock()
	if err := s.applyList(ctx, a.Project, listEntryOf(a)); err != nil {
		return err
	}
	a, err := s.withHistory(ctx, a, fromSeq, fromPromotion)
	if err != nil {
		return err
	}
	if fromSeq = min(max(fromSeq, a.AuditFrom), a.AuditLen()); fromSeq < a.AuditLen() {
		events, err := feedEntriesOf(a, fromSeq)
		if err != nil {
			return err
		}
		if err := s.feedLog(a.Project).Upsert(ctx, events, nil); err != nil {
			return err
		}
	}
	// a.Promotions[i] is promotion a.PromotionsFrom+i of the artifact (withHistory
	// loaded the older ones this write needs).
	return s.applyPromotions(ctx, a, fromPromotion-a.PromotionsFrom)
}

// ---------------------------------------------------------------------------------
// Rebuild and bulk load.

// migrateProjections rebuilds every projection when the database has none yet (or
// an older schema), and records the schema.
func (s *Store) migrateProjections(ctx context.Context) error {
	var meta struct {
		Schema int `bson:"schema"`
	}
	ver, err := s.loadProj(ctx, metaID, &meta)
	if err != nil {
		return err
	}
	if ver > 0 && meta.Schema == projectionSchema {
		return nil
	}
	start := time.Now()
	if err := s.RebuildProjections(ctx, ""); err != nil {
		return err
	}
	_, err = update(ctx, s, metaID, "", "meta", func(m *struct {
		Schema int `bson:"schema"`
	}, _ int64) (bool, error) {
		m.Schema = projectionSchema
		return true, nil
	})
	s.log.WithField("took", time.Since(start).Round(time.Millisecond).String()).Info("projections built")
	return err
}

// projBuild accumulates the projections of a set of artifacts of one project.
type projBuild struct {
	list   []listEntry
	feed   []feedEntry
	chans  map[chanKey][]chanEntry
	status map[chanKey]statusRow
}

type chanKey struct {
	Channel model.Channel
	Env     string
}

func newProjBuild() *projBuild {
	return &projBuild{chans: map[chanKey][]chanEntry{}, status: map[chanKey]statusRow{}}
}

func (b *projBuild) add(a *model.Artifact) error {
	b.list = append(b.list, listEntryOf(a))
	events, err := feedEntriesOf(a, 0)
	if err != nil {
		return err
	}
	b.feed = append(b.feed, events...)
	for _, pr := range a.Promotions {
		k := chanKey{pr.Channel, pr.TargetEnvironment}
		e := chanEntryOf(a, pr)
		if !containsKey(b.chans[k], (*chanEntry).key, e.key()) {
			b.chans[k] = append(b.chans[k], e)
		}
		row := statusRowOf(a, pr)
		if cur, ok := b.status[k]; !ok || row.newer(cur) {
			b.status[k] = row
		}
	}
	return nil
}

// RebuildProjections recomputes the projections of project ("" = every project)
// from a scan of its artifacts. See the comment at the top of this file.
func (s *Store) RebuildProjections(ctx context.Context, project string) error {
	s.projMu.Lock()
	defer s.projMu.Unlock()
	start := time.Now()
	filter := bson.D{}
	if project != "" {
		filter = bson.D{{Key: "project", Value: project}}
	}
	cur, err := s.artifacts.Find(ctx, filter)
	if err != nil {
		return mapErr(err, "find artifacts")
	}
	defer cur.Close(ctx)
	builds := map[string]*projBuild{}
	if project != "" {
		builds[project] = newProjBuild()
	}
	for cur.Next(ctx) {
		var d artifactDoc
		if err := cur.Decode(&d); err != nil {
			return mapErr(err, "read artifacts")
		}
		b := builds[d.Project]
		if b == nil {
			b = newProjBuild()
			builds[d.Project] = b
		}
		a, err := s.withHistory(ctx, d.model(), 0, 0)
		if err != nil {
			return err
		}
		if err := b.add(a); err != nil {
			return err
		}
	}
	if err := cur.Err(); err != nil {
		return mapErr(err, "read artifacts")
	}
	for _, p := range sortedKeys(builds) {
		if err := s.writeBuild(ctx, p, builds[p], true); err != nil {
			return fmt.Errorf("store: rebuild projections of %s: %w", p, err)
		}
	}
	// The rebuild covers every write that landed before it read the artifacts: their
	// outbox entries, quarantined ones included, have nothing left to repair.
	return s.clearOutbox(ctx, project, start)
}

// InsertArtifactsBulk inserts new artifacts with InsertMany and appends them to their
// projects' projections in bulk. See the comment at the top of this file.
func (s *Store) InsertArtifactsBulk(ctx context.Context, arts []*model.Artifact) error {
	s.projMu.Lock()
	defer s.projMu.Unlock()
	const batch = 500
	docs := make([]any, 0, batch)
	builds := map[string]*projBuild{}
	for i, a := range arts {
		if a == nil || a.ID == "" || a.Project == "" || a.AuditFrom != 0 || a.PromotionsFrom != 0 {
			return &model.Error{Kind: model.KindInternal, Message: "store: InsertArtifactsBulk needs artifacts with an id, a project and their whole trails"}
		}
		if a.Version < 1 {
			a.Version = 1
		}
		doc, err := s.layOut(ctx, a, a.AuditLen(), a.PromotionsLen())
		if err != nil {
			return err
		}
		docs = append(docs, doc)
		b := builds[a.Project]
		if b == nil {
			b = newProjBuild()
			builds[a.Project] = b
		}
		if err := b.add(a); err != nil {
			return err
		}
		if len(docs) == batch || i == len(arts)-1 {
			_, err := s.artifacts.InsertMany(ctx, docs)
			for _, d := range docs {
				s.artifactWritten(d.(artifactDoc).ID)
			}
			if err != nil {
				if mongo.IsDuplicateKeyError(err) {
					return &model.Error{Kind: model.KindConflict, Message: "an artifact of the bulk is already stored", Err: err}
				}
				return mapErr(err, "insert artifacts")
			}
			docs = docs[:0]
		}
	}
	for _, p := range sortedKeys(builds) {
		if err := s.writeBuild(ctx, p, builds[p], false); err != nil {
			return fmt.Errorf("store: bulk projections of %s: %w", p, err)
		}
	}
	return nil
}

// writeBuild writes the projections accumulated in b for project: appended to the
// existing ones, or, with replace, instead of them.
func (s *Store) writeBuild(ctx context.Context, project string, b *projBuild, replace bool) error {
	busy := func(err error) error {
		if errors.Is(err, bucketlog.ErrBusy) {
			return model.Errorf(model.KindConflict, "the projections of %s changed during a bulk write; nothing may write to a project while it is rebuilt or bulk-loaded", project)
		}
		return err
	}
	if err := s.listLog(project).Bulk(ctx, b.list, replace); err != nil {
		return busy(err)
	}
	if err := s.feedLog(project).Bulk(ctx, b.feed, replace); err != nil {
		return busy(err)
	}
	var old statusDoc
	if _, err := s.loadProj(ctx, statusID(project), &old); err != nil {
		return err
	}
	keys := map[chanKey]bool{}
	for k := range b.chans {
		keys[k] = true
	}
	if replace {
		for _, r := range old.Rows {
			keys[chanKey{r.Channel, r.Env}] = true
		}
	}
	for k := range keys {
		if err := s.chanLog(project, k.Channel, k.Env).Bulk(ctx, b.chans[k], replace); err != nil {
			return busy(err)
		}
	}
	if len(b.status) == 0 && !replace {
		return nil
	}
	_, err := update(ctx, s, statusID(project), project, "status", func(st *statusDoc, _ int64) (bool, error) {
		if replace {
			st.Rows = nil
		}
		for _, row := range b.status {
			st.set(row)
		}
		if st.Rows == nil {
			st.Rows = []statusRow{}
		}
		return true, nil
	})
	return err
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ---------------------------------------------------------------------------------
// Parallel _id look-ups.

// getArtifacts loads the artifacts ids by _id, a few at a time, in order; one that
// does not exist is left out.
func (s *Store) getArtifacts(ctx context.Context, ids []string) ([]*model.Artifact, error) {
	out := make([]*model.Artifact, len(ids))
	errs := make([]error, len(ids))
	concurrently(len(ids), loadConcurrency, func(i int) {
		a, err := s.GetArtifact(ctx, ids[i])
		if model.IsKind(err, model.KindNotFound) {
			s.logFor(ctx).WithField("artifact_id", ids[i]).Warn("projection names a missing artifact")
			return
		}
		out[i], errs[i] = a, err
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	kept := out[:0]
	for _, a := range out {
		if a != nil {
			kept = append(kept, a)
		}
	}
	return kept, nil
}
