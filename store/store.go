// Package store persists artifacts and project policies in MongoDB through the
// official driver (go.mongodb.org/mongo-driver/v2). Without a MongoDB URI it starts an
// embedded FerretDB v1 (SQLite handler, files in DataDir) inside the process and
// speaks to it with the same driver code.
//
// Collections (every hot path addresses its documents by _id, the only look-up the
// embedded engine makes cheap):
//
//	artifacts           one per artifact, _id = model.ArtifactID(project, digest),
//	                    with the newest part of its audit trail and promotions
//	                    embedded, so every change lands with its event in one
//	                    single-document write
//	policies            one per project (_id the project), with the change that made
//	                    its current version embedded
//	overflow            the older parts of those trails, in buckets of a fixed number
//	                    of entries numbered by sequence, so no document grows with
//	                    age: {_id "<owner>:<trail>#<n>", version, owner, trail,
//	                    first, entries} (trail.go, store/internal/bucketlog)
//	projections         the per-project read models: artifact list, audit feed,
//	                    channel logs and channel status, in buckets; each payload a
//	                    document with descriptive field names and enum values as
//	                    strings, plain on MongoDB and deflated into one binary
//	                    value on the embedded engine (projections.go)
//	outbox              an entry per artifact write until its projections are applied
//	                    (outbox.go)
//	denials             a project's most recent refusals, _id the project (denials.go)
//	keys                a project's trusted keys, _id the project (keys.go)
//	envelopes           the evidence envelopes submitted for an artifact, by artifact
//	                    and SHA-256 (evidence.go)
//	reevaluations       a project's trust re-derivation job, _id the project
//	                    (reevaluations.go)
//	webhooks            one per webhook (webhooks.go)
//	webhook_deliveries  each webhook's delivery queue and delivery records
//	                    (webhooks.go)
package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/artifact-trust/control-plane/correlation"
	"github.com/artifact-trust/control-plane/internal/keylock"
	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

// DefaultDatabase is the database name used when Config.Database is empty.
const DefaultDatabase = "artifact_trust"

// DefaultDataDir is the embedded engine's directory when Config.DataDir is empty.
const DefaultDataDir = "data"

// Collection names.
const (
	artifactsCollection   = "artifacts"
	policiesCollection    = "policies"
	denialsCollection     = "denials"
	projectionsCollection = "projections"
	outboxCollection      = "outbox"
	keysCollection        = "keys"
	envelopesCollection   = "envelopes"
)

// collections are created at start (with their _id indexes on the embedded engine).
var collections = []string{artifactsCollection, policiesCollection, denialsCollection, projectionsCollection, outboxCollection, overflowCollection, keysCollection, envelopesCollection, reevaluationsCollection, webhooksCollection, deliveriesCollection}

// staleListIndex is the artifacts index the scan-based lists used.
const staleListIndex = "project_createdAt_id"

// isIndexNotFound reports the server's IndexNotFound (code 27): the index is gone.
func isIndexNotFound(err error) bool {
	var se mongo.ServerError
	return errors.As(err, &se) && se.HasErrorCode(27)
}

// Driver time bounds: an unreachable database fails fast as UNAVAILABLE instead of
// hanging a request.
const (
	serverSelectionTimeout = 5 * time.Second
	connectTimeout         = 5 * time.Second
)

// Config selects the database.
type Config struct {
	// MongoURI is a MongoDB connection string; empty starts the embedded engine.
	MongoURI string
	// Database is the database name (default artifact_trust).
	Database string
	// DataDir holds the embedded engine's files (default ./data); unused with MongoURI.
	DataDir string
	// SharedEngine lets other processes use the embedded engine through EngineURI
	// (tests of several replicas on one database). This process is then no longer
	// its only writer: it keeps no document cache (doccache.go) and reports
	// Exclusive false. Unused with MongoURI.
	SharedEngine bool
	// CacheBytes bounds the embedded engine's document cache (doccache.go; 0:
	// 128 MiB). Unused with MongoURI or SharedEngine.
	CacheBytes int

	// Clock is the outbox repairer's clock (nil: time.Now); tests drive the
	// quarantine of entries whose repair keeps failing with it (outbox.go).
	Clock func() time.Time

	// caps overrides the projection bucket capacities (tests).
	caps bucketCaps
	// monitor, when set, sees every command the store sends (tests count them).
	monitor *event.CommandMonitor
}

// Store implements service.Store on MongoDB or the embedded FerretDB.
type Store struct {
	client    *mongo.Client
	db        *mongo.Database
	artifacts *mongo.Collection
	policies  *mongo.Collection
	denials   *mongo.Collection
	// projections holds the per-project read models and outbox the writes whose
	// projections are not applied yet (projections.go).
	projections *mongo.Collection
	outbox      *mongo.Collection
	// overflow holds the buckets of the embedded trails (trail.go).
	overflow *mongo.Collection
	// keys holds one document per project (_id: the project) with its trusted keys.
	keys *mongo.Collection
	// envelopes holds the raw evidence submitted (evidence.go).
	envelopes *mongo.Collection
	// reevaluations holds one trust re-derivation job per project (reevaluations.go).
	reevaluations *mongo.Collection
	// webhookDocs and deliveries hold the webhooks and their delivery state (webhooks.go).
	webhookDocs *mongo.Collection
	deliveries  *mongo.Collection
	log         *logrus.Entry

	// embedded is set when the store runs its own FerretDB; shared when other
	// processes may use it too (Config.SharedEngine).
	embedded *embeddedEngine
	shared   bool

	// writeLocks make each conditional write atomic inside the process (the
	// embedded engine's conditional update is read-then-write), one key per
	// document (lockDoc). Callers that need read-modify-write serialization of
	// artifacts (the service) hold their own locks first. No code path holds two
	// of them at once.
	writeLocks *keylock.Locks
	// cache keeps the documents of artifacts, projections, policies and keys
	// this process read or wrote, with the generations that tell whether they
	// are still current (doccache.go; artifacts.go, artifactGen). Embedded engine
	// only, unshared; nil otherwise.
	cache *docCache

	// projMu: projection writers share it; RebuildProjections and InsertArtifactsBulk
	// hold it exclusively.
	projMu sync.RWMutex
	caps   bucketCaps
	logs   logSpecs // the kinds of log, with caps (projections.go)
	// projForm overrides the form of projection payloads (benchmarks; "": the
	// engine's, see payloadForm).
	projForm string
	// crashAfterWrite, when set (tests), is called after an artifact write; true
	// stops the write there, as if the process died before the projections.
	crashAfterWrite func(a *model.Artifact) bool
	// repairs holds the outbox entries whose projections are to be applied again
	// (outbox.go). stopReplay ends its loop; replayDone closes when it has.
	repairs    *repairer
	stopReplay context.CancelFunc
	replayDone chan struct{}
	// retired holds the outbox entries whose projections are applied, waiting for
	// the retire loop to delete them (retire.go); while a sweep reads the outbox,
	// deletedInSweep holds those deleted since it began (sweeps counts them).
	retireMu       sync.Mutex
	retired        map[string]struct{}
	sweeps         int
	deletedInSweep map[string]struct{}
	retireWake     chan struct{}
	stopRetire     context.CancelFunc
	retireLoopDone chan struct{}

	closeOnce sync.Once
	closeErr  error
}

var _ service.Store = (*Store)(nil)

// Open connects to cfg.MongoURI, or, when it is empty, locks cfg.DataDir and starts
// the embedded engine there. It creates the collections and indexes it needs.
func Open(ctx context.Context, cfg Config, log *logrus.Entry) (*Store, error) {
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = logrus.NewEntry(l)
	}
	if cfg.Database == "" {
		cfg.Database = DefaultDatabase
	}
	s := &Store{log: log.WithField("component", "store"), caps: defaultCaps, repairs: newRepairer(cfg.Clock), writeLocks: keylock.New(nil)}
	if cfg.caps != (bucketCaps{}) {
		s.caps = cfg.caps
	}
	s.logs = newLogSpecs(s.caps)

	uri := cfg.MongoURI
	if uri == "" {
		if cfg.DataDir == "" {
			cfg.DataDir = DefaultDataDir
		}
		e, err := startEmbedded(cfg.DataDir, s.log)
		if err != nil {
			return nil, err
		}
		s.embedded, s.shared = e, cfg.SharedEngine
		if !s.shared {
			s.cache = newDocCache(cmp.Or(cfg.CacheBytes, defaultCacheBytes))
		}
		uri = e.uri
	}

	opts := options.Client().
		ApplyURI(uri).
		SetAppName("artifact-trust-control-plane").
		SetServerSelectionTimeout(serverSelectionTimeout).
		SetConnectTimeout(connectTimeout)
	if s.embedded != nil {
		// FerretDB listens on loopback for this process only.
		opts.SetDirect(true)
	}
	if cfg.monitor != nil {
		opts.SetMonitor(cfg.monitor)
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		s.stopEmbedded()
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	s.client = client
	s.db = client.Database(cfg.Database)
	s.artifacts = s.db.Collection(artifactsCollection)
	s.policies = s.db.Collection(policiesCollection)
	s.denials = s.db.Collection(denialsCollection)
	s.projections = s.db.Collection(projectionsCollection)
	s.outbox = s.db.Collection(outboxCollection)
	s.overflow = s.db.Collection(overflowCollection)
	s.keys = s.db.Collection(keysCollection)
	s.envelopes = s.db.Collection(envelopesCollection)
	s.reevaluations = s.db.Collection(reevaluationsCollection)
	s.webhookDocs = s.db.Collection(webhooksCollection)
	s.deliveries = s.db.Collection(deliveriesCollection)

	if err := s.setup(ctx, cfg.Database); err != nil {
		_ = s.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	if err := s.startProjections(ctx); err != nil {
		_ = s.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	if s.embedded != nil {
		s.log.WithField("data_dir", s.embedded.dir).Info("embedded FerretDB (SQLite) started")
	} else {
		s.log.WithField("database", cfg.Database).Info("connected to MongoDB")
	}
	return s, nil
}

// setup creates the collections and indexes, and on the embedded engine the SQLite
// _id expression indexes.
func (s *Store) setup(ctx context.Context, database string) error {
	if err := s.client.Ping(ctx, nil); err != nil {
		return fmt.Errorf("store: ping: %w", mapErr(err, "ping"))
	}
	existing, err := s.db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("store: list collections: %w", mapErr(err, "list collections"))
	}
	for _, name := range collections {
		if contains(existing, name) {
			continue
		}
		if err := s.db.CreateCollection(ctx, name); err != nil {
			return fmt.Errorf("store: create collection %s: %w", name, mapErr(err, "create collection"))
		}
	}
	// One createIndexes call per index: FerretDB v1.24.2 panics (and drops the
	// connection) when one call names two indexes that already exist
	// (validateIndexesForCreation deletes from the slice it is ranging over).
	if _, err := s.artifacts.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "project", Value: 1}, {Key: "digest", Value: 1}},
		Options: options.Index().SetName("project_digest_unique").SetUnique(true),
	}); err != nil {
		return fmt.Errorf("store: create index: %w", mapErr(err, "create index"))
	}
	// Lists were once read by scanning artifacts in (project, createdAt, _id) order;
	// the list read model replaced that, and nothing queries by it any more, so the
	// index only cost every artifact write. Databases created before keep it: drop it.
	if err := s.artifacts.Indexes().DropOne(ctx, staleListIndex); err != nil && !isIndexNotFound(err) {
		return fmt.Errorf("store: drop index %s: %w", staleListIndex, mapErr(err, "drop index"))
	}
	if s.embedded != nil {
		if err := s.embedded.createIDIndexes(ctx, database, collections); err != nil {
			return fmt.Errorf("store: embedded _id indexes: %w", err)
		}
	}
	return nil
}

// startProjections moves the trails' buckets of an older layout (trail.go), builds
// the projections of a database that has none, replays the outbox and starts the
// repair loop. On the embedded engine this process is the only writer, so every
// outbox entry is replayed; on MongoDB only those older than outboxGrace (other
// replicas may be in the middle of theirs). Entries that cannot be replayed yet do
// not stop the start: the repair loop keeps trying them, and Degraded reports them
// meanwhile.
func (s *Store) startProjections(ctx context.Context) error {
	// The trails first: a rebuild and the outbox replay read them.
	if err := s.migrateOverflow(ctx); err != nil {
		return fmt.Errorf("store: overflow: %w", err)
	}
	if err := s.migrateProjections(ctx); err != nil {
		return fmt.Errorf("store: projections: %w", err)
	}
	grace := outboxGrace
	if s.Exclusive() {
		grace = 0
	}
	if _, err := s.replayOutbox(ctx, grace); err != nil {
		s.log.WithError(err).Error("outbox replay failed; starting degraded (readiness reports it) and repairing in the background")
	}
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.stopReplay, s.replayDone = cancel, make(chan struct{})
	go s.repairLoop(loopCtx, s.replayDone)
	retireCtx, stopRetire := context.WithCancel(context.WithoutCancel(ctx))
	s.retireMu.Lock()
	s.retired, s.retireWake = map[string]struct{}{}, make(chan struct{}, 1)
	s.stopRetire, s.retireLoopDone = stopRetire, make(chan struct{})
	s.retireMu.Unlock()
	go s.retireLoop(retireCtx, s.retireLoopDone)
	return nil
}

// logFor is the store's logger for work done on behalf of ctx's request: every line
// carries the request's correlation id.
func (s *Store) logFor(ctx context.Context) *logrus.Entry {
	if id := correlation.ID(ctx); id != "" {
		return s.log.WithField("correlation_id", id)
	}
	return s.log
}

// Embedded reports whether the store runs the embedded engine.
func (s *Store) Embedded() bool { return s.embedded != nil }

// Exclusive reports whether this process is the only writer of the database: on
// the embedded engine, whose DATA_DIR it locks, unless it shares it
// (Config.SharedEngine).
func (s *Store) Exclusive() bool { return s.embedded != nil && !s.shared }

// Close disconnects, stops the embedded engine and releases the DATA_DIR lock. It is
// safe to call more than once.
func (s *Store) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		if s.stopReplay != nil {
			s.stopReplay()
			<-s.replayDone
		}
		s.retireMu.Lock()
		stopRetire, retireDone := s.stopRetire, s.retireLoopDone
		s.retireMu.Unlock()
		if stopRetire != nil {
			stopRetire()
			<-retireDone
		}
		var errs []error
		if s.client != nil {
			if err := s.client.Disconnect(ctx); err != nil {
				errs = append(errs, fmt.Errorf("store: disconnect: %w", err))
			}
		}
		if err := s.stopEmbedded(); err != nil {
			errs = append(errs, err)
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

func (s *Store) stopEmbedded() error {
	if s.embedded == nil {
		return nil
	}
	return s.embedded.stop()
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return mapErr(s.client.Ping(ctx, nil), "ping")
}

// lockDoc takes the write lock of document id of collection coll (writeLocks)
// until unlock, or fails when ctx ends first (KindConflict).
func (s *Store) lockDoc(ctx context.Context, coll, id string) (unlock func(), err error) {
	return s.writeLocks.Lock(ctx, coll+"\x00"+id)
}

// mapErr maps a driver error onto a model error. Errors are matched by type, code
// and label, never by text.
func mapErr(err error, op string) error {
	if err == nil {
		return nil
	}
	var me *model.Error
	switch {
	case errors.As(err, &me):
		return err
	case errors.Is(err, mongo.ErrNoDocuments):
		return &model.Error{Kind: model.KindNotFound, Message: "not found", Err: err}
	case mongo.IsDuplicateKeyError(err):
		return &model.Error{Kind: model.KindConflict, Message: "already exists", Err: err}
	case unavailable(err):
		return &model.Error{Kind: model.KindUnavailable, Message: "database unavailable", Err: fmt.Errorf("%s: %w", op, err)}
	default:
		return &model.Error{Kind: model.KindInternal, Message: "database error", Err: fmt.Errorf("%s: %w", op, err)}
	}
}

func unavailable(err error) bool {
	var sse topology.ServerSelectionError
	return mongo.IsNetworkError(err) ||
		mongo.IsTimeout(err) ||
		errors.As(err, &sse) ||
		errors.Is(err, mongo.ErrClientDisconnected) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled)
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
