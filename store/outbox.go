package store

// The outbox (see the top of projections.go) and the repair of writes whose
// projections could not be applied: the engine refused the projection writes (disk
// full, an outage) after it had accepted the artifact write, so the write is
// acknowledged but lists, the audit feed, channel status and deployable do not show it
// yet.
//
// Who repairs what, and when:
//
//   - The writer knows when its own write is finished. When applying its projections
//     (or deleting its outbox entry) fails, it hands the entry to the store's repairer,
//     which applies it again at once and then after repairRetryMin, doubling up to
//     repairRetryMax, until it succeeds: a repair lands within repairRetryMax of the
//     engine accepting writes again. No grace period is needed for these: the writer
//     is done with the entry, the artifact is at (or past) the entry's version, and
//     applying projections is idempotent and serialized per projection document, so
//     the repairer racing a later write of the same artifact (the service serializes
//     writes per artifact, but not with the repairer) only applies the same entries
//     twice.
//   - Open repairs every entry before it returns (on the embedded engine this process
//     is the only writer, so no entry can be in flight; on MongoDB only those older
//     than outboxGrace, see below). When some cannot be repaired yet, Open does not
//     fail: they stay with the repairer, and Degraded reports them until they are.
//   - Every outboxInterval the repairer sweeps the outbox for entries older than
//     outboxGrace that no writer handed to it: left by a process that died between
//     its artifact write and its projections, or, on MongoDB, by another replica. An
//     entry younger than that may belong to a write still in flight in another
//     replica (its artifact not written yet: repairing it would delete the entry the
//     writer still relies on), and a replica does not hear of the other replicas'
//     failed writes: those are repaired by their own replica at once, or by any
//     replica's sweep after outboxGrace when that replica died meanwhile.
//
// An entry that keeps failing does not hold up the others: every due entry is tried
// in each pass, those that failed least first, and a pass stops early only after
// repairStreak failures in a row with no success (the engine refuses every write; the
// rest wait for the next attempt).
//
// Nor does it hold up readiness for ever. An entry that has failed quarantineAttempts
// times over at least quarantineAfter is quarantined: it is kept (in the outbox and
// in the repairer: nothing is lost), logged at error level with its id and error,
// marked in its outbox document (quarantined, error: a restart knows it at once),
// counted in RepairStatus.Quarantined and listed by Quarantine, and retried every
// quarantineRetry; Degraded no longer reports it. An entry that cannot even be
// decoded (malformed) is quarantined as soon as a sweep finds it. A quarantined entry
// leaves when a retry succeeds, or when an operator rebuilds its project's read
// models (`server repair`, RebuildProjections), which deletes the outbox entries the
// rebuild covers. While the engine refuses every write for longer than the bound,
// every entry ends up quarantined and the replica ready: a replica kept out of
// rotation would not serve better than its peers, which share the engine, and the
// quarantined entries are repaired at the slow cadence once writes are accepted.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/artifact-trust/control-plane/model"
)

// Outbox timing.
const (
	// outboxInterval is how often the repairer sweeps the outbox for entries no
	// writer of this process handed to it.
	outboxInterval = 30 * time.Second
	// outboxGrace is how old such an entry must be before it is repaired: until then
	// its write may still be in flight in another replica.
	outboxGrace = time.Minute
	// projectTimeout bounds applying the projections of one write.
	projectTimeout = 30 * time.Second
	// repairRetryMin and repairRetryMax bound the backoff between repair attempts.
	repairRetryMin = 100 * time.Millisecond
	repairRetryMax = 2 * time.Second
	// repairStreak failures in a row, with no success, end a repair pass early.
	repairStreak = 8
	// An entry that failed quarantineAttempts times over at least quarantineAfter is
	// quarantined (see above) and then retried every quarantineRetry.
	quarantineAttempts = 5
	quarantineAfter    = 5 * time.Minute
	quarantineRetry    = time.Minute
)

type outboxDoc struct {
	ID            string    `bson:"_id"`
	Project       string    `bson:"project"`
	ArtifactID    string    `bson:"artifactId"`
	Version       int64     `bson:"version"`
	FromSeq       int       `bson:"fromSeq"`
	FromPromotion int       `bson:"fromPromotion"`
	At            time.Time `bson:"at"`
	// Items, set instead of ArtifactID, are the writes of a batch of artifacts
	// of Project (UpdateArtifacts, batch.go).
	Items []outboxItem `bson:"items,omitempty"`
	// Quarantined is when the repair of the entry was given up on as a cause of
	// unreadiness (see the top of this file), and Error its latest failure then.
	Quarantined *time.Time `bson:"quarantined,omitempty"`
	Error       string     `bson:"error,omitempty"`
}

// outboxItem is one artifact write of a batch outbox entry.
type outboxItem struct {
	ArtifactID    string `bson:"a"`
	Version       int64  `bson:"v"`
	FromSeq       int    `bson:"s"`
	FromPromotion int    `bson:"p"`
}

// artifactIDs returns the artifacts whose writes e records.
func (e *outboxDoc) artifactIDs() []string {
	if len(e.Items) == 0 {
		return []string{e.ArtifactID}
	}
	out := make([]string, len(e.Items))
	for i, it := range e.Items {
		out[i] = it.ArtifactID
	}
	return out
}

// openOutbox records that the artifact is about to be written at version (with
// audit events from fromSeq and promotions from fromPromotion being new).
func (s *Store) openOutbox(ctx context.Context, a *model.Artifact, version int64, fromSeq, fromPromotion int) (string, error) {
	var nonce [6]byte
	_, _ = rand.Read(nonce[:])
	id := a.ID + ":" + strconv.FormatInt(version, 10) + ":" + hex.EncodeToString(nonce[:])
	_, err := s.outbox.InsertOne(ctx, outboxDoc{
		ID: id, Project: a.Project, ArtifactID: a.ID, Version: version,
		FromSeq: fromSeq, FromPromotion: fromPromotion, At: time.Now().UTC().Truncate(time.Millisecond),
	})
	if err != nil {
		return "", mapErr(err, "insert outbox")
	}
	return id, nil
}

// closeOutbox deletes the entry of a write that did not happen (refused); if that
// fails, the sweep drops it after outboxGrace.
func (s *Store) closeOutbox(ctx context.Context, id string) {
	if _, err := s.outbox.DeleteOne(context.WithoutCancel(ctx), bson.D{{Key: "_id", Value: id}}); err != nil {
		s.logFor(ctx).WithError(err).WithField("outbox", id).Warn("could not delete an outbox entry; it will be replayed")
	}
}

// project applies the projections of a write that landed and deletes its outbox
// entry. A failure hands the entry to the repairer: the artifact write itself
// succeeded.
func (s *Store) project(ctx context.Context, a *model.Artifact, fromSeq, fromPromotion int, outboxID string) {
	// The write happened: finish its projections even if the request is gone.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), projectTimeout)
	defer cancel()
	e := outboxDoc{
		ID: outboxID, Project: a.Project, ArtifactID: a.ID, Version: int64(a.Version),
		FromSeq: fromSeq, FromPromotion: fromPromotion, At: time.Now().UTC(),
	}
	log := s.logFor(ctx).WithField("artifact_id", a.ID).WithField("outbox", outboxID)
	if err := s.applyProjections(ctx, a, fromSeq, fromPromotion); err != nil {
		log.WithError(err).Error("projections not updated; repairing them in the background")
		s.repairs.add(e, err)
		return
	}
	s.finishOutbox(ctx, e, log)
}

// finishOutbox ends entry e, whose projections are applied: the retire loop deletes
// it off the request's path (retire.go), or, when that cannot take it, the caller
// now; a failure to delete hands e to the repairer.
func (s *Store) finishOutbox(ctx context.Context, e outboxDoc, log *logrus.Entry) {
	if s.retire(e.ID) {
		return
	}
	if _, err := s.outbox.DeleteOne(ctx, bson.D{{Key: "_id", Value: e.ID}}); err != nil {
		log.WithError(err).Warn("could not delete an outbox entry; repairing it in the background")
		s.repairs.add(e, mapErr(err, "delete outbox"))
	}
}

// RepairStatus is what this process knows of the writes whose projections are not
// applied yet.
type RepairStatus struct {
	// Backlog counts the outbox entries waiting for repair: handed over by this
	// process's writers, found at Open or by a sweep.
	Backlog int
	// Failing counts those whose latest attempt failed, but for the quarantined.
	Failing int
	// Quarantined counts the entries whose repair kept failing past the bound
	// (Quarantine lists them): still kept and retried, no longer a cause of
	// unreadiness.
	Quarantined int
	// ScanFailing is set while the outbox cannot be read (at Open, or by a sweep):
	// there may be entries to repair that this process does not know of.
	ScanFailing bool
	// Since is when the oldest of those failures began.
	Since time.Time
	// Err is the latest failure.
	Err error
}

// Repairs reports the outbox backlog and how its repair goes.
func (s *Store) Repairs() RepairStatus { return s.repairs.status() }

// QuarantinedEntry is an outbox entry whose repair kept failing (see the top of
// outbox.go).
type QuarantinedEntry struct {
	// ID is the outbox entry's _id; Project and ArtifactIDs what it is about
	// (empty when the entry cannot be decoded).
	ID          string
	Project     string
	ArtifactIDs []string
	// Attempts counts the failed attempts, Since is the first failure and
	// Quarantined when it was quarantined.
	Attempts    int
	Since       time.Time
	Quarantined time.Time
	// Err is the latest failure.
	Err error
}

// Quarantine lists the quarantined outbox entries, oldest quarantine first.
func (s *Store) Quarantine() []QuarantinedEntry { return s.repairs.quarantine() }

// Degraded returns a KindUnavailable error naming the pending repair while some
// acknowledged writes are missing from the projections and their repair is failing
// (the store answers, but lists, the feed, channel status and deployable may omit
// them); nil otherwise.
func (s *Store) Degraded() error {
	st := s.Repairs()
	var what string
	switch {
	case st.Failing > 0:
		what = fmt.Sprintf("%d acknowledged write(s) not yet applied to the read models (lists, audit feed, channel status, deployable)", st.Backlog)
	case st.ScanFailing:
		what = "the outbox of writes not yet applied to the read models cannot be read"
	default:
		return nil
	}
	return &model.Error{
		Kind:    model.KindUnavailable,
		Message: fmt.Sprintf("outbox repair pending: %s, failing since %s; retrying", what, st.Since.UTC().Format(time.RFC3339)),
		Err:     st.Err,
	}
}

// repairer holds the outbox entries to repair and when to try each again.
type repairer struct {
	// now is the repairer's clock (time.Now; tests drive the quarantine with it).
	now   func() time.Time
	mu    sync.Mutex
	items map[string]*repairItem
	// scanAt is when to sweep the outbox next (the zero time: now), for entries
	// older than scanGrace; scanErr is set while sweeps fail.
	scanAt    time.Time
	scanGrace time.Duration
	scanErr   error
	scanSince time.Time
	scanTries int
	lastErr   error
	wake      chan struct{}
	passMu    sync.Mutex // one repair pass at a time
}

type repairItem struct {
	e        outboxDoc
	attempts int // failed attempts, the writer's included
	next     time.Time
	err      error     // the latest failure; nil before the first one
	since    time.Time // the first failure
	// quarantined is when the item was quarantined; zero while it is not.
	quarantined time.Time
	// malformed is set for an entry that could not be decoded: its _id, with
	// which a retry reads it again.
	malformed *bson.RawValue
}

func newRepairer(now func() time.Time) *repairer {
	if now == nil {
		now = time.Now
	}
	return &repairer{now: now, items: map[string]*repairItem{}, wake: make(chan struct{}, 1), scanAt: now().Add(outboxInterval), scanGrace: outboxGrace}
}

// retryAfter is the backoff after n failed attempts.
func retryAfter(n int) time.Duration {
	if n <= 1 {
		return repairRetryMin
	}
	if n > 16 {
		return repairRetryMax
	}
	return min(repairRetryMin<<(n-1), repairRetryMax)
}

func (r *repairer) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// add queues an entry whose write is finished; err is why its projections are not
// applied (nil for one found by a sweep). It is tried at once. An entry marked
// quarantined in its document stays quarantined; add reports whether it queued such
// an entry (the caller logs it).
func (r *repairer) add(e outboxDoc, err error) (quarantined bool) {
	now := r.now()
	r.mu.Lock()
	if _, ok := r.items[e.ID]; !ok {
		it := &repairItem{e: e, next: now}
		switch {
		case e.Quarantined != nil:
			it.attempts, it.since, it.quarantined = quarantineAttempts, *e.Quarantined, *e.Quarantined
			it.err = fmt.Errorf("quarantined by an earlier attempt: %s", e.Error)
			quarantined = true
		case err != nil:
			it.attempts, it.err, it.since, r.lastErr = 1, err, now, err
		}
		r.items[e.ID] = it
	}
	r.mu.Unlock()
	r.signal()
	return quarantined
}

// addMalformed quarantines an outbox entry that cannot be decoded (err), found by
// a sweep, and reports whether it is new.
func (r *repairer) addMalformed(id string, rawID bson.RawValue, project string, err error) bool {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.items[id]; ok {
		return false
	}
	r.items[id] = &repairItem{e: outboxDoc{ID: id, Project: project}, attempts: 1, err: err, since: now,
		quarantined: now, next: now.Add(quarantineRetry), malformed: &rawID}
	return true
}

// forget drops the entries ids (deleted from the outbox).
func (r *repairer) forget(ids []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		delete(r.items, id)
	}
}

func (r *repairer) quarantine() []QuarantinedEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []QuarantinedEntry
	for _, it := range r.items {
		if it.quarantined.IsZero() {
			continue
		}
		q := QuarantinedEntry{ID: it.e.ID, Project: it.e.Project, Attempts: it.attempts, Since: it.since, Quarantined: it.quarantined, Err: it.err}
		if it.malformed == nil {
			q.ArtifactIDs = it.e.artifactIDs()
		}
		out = append(out, q)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Quarantined.Equal(out[j].Quarantined) {
			return out[i].Quarantined.Before(out[j].Quarantined)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func (r *repairer) status() RepairStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := RepairStatus{Backlog: len(r.items), Err: r.lastErr, ScanFailing: r.scanErr != nil}
	since := func(t time.Time) {
		if st.Since.IsZero() || t.Before(st.Since) {
			st.Since = t
		}
	}
	for _, it := range r.items {
		switch {
		case !it.quarantined.IsZero():
			st.Quarantined++
		case it.err != nil:
			st.Failing++
			since(it.since)
		}
	}
	if st.ScanFailing {
		since(r.scanSince)
	}
	if st.Failing == 0 && !st.ScanFailing {
		st.Err = nil
	}
	return st
}

// due returns the entries to try now (all of them with force), the quarantined
// last, those that failed least first, then oldest first.
func (r *repairer) due(now time.Time, force bool) []*repairItem {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*repairItem
	for _, it := range r.items {
		if force || !it.next.After(now) {
			out = append(out, it)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if qa, qb := !a.quarantined.IsZero(), !b.quarantined.IsZero(); qa != qb {
			return qb
		}
		if a.attempts != b.attempts {
			return a.attempts < b.attempts
		}
		if !a.e.At.Equal(b.e.At) {
			return a.e.At.Before(b.e.At)
		}
		return a.e.ID < b.e.ID
	})
	return out
}

// settle records the outcome of an attempt at it and reports whether to log it,
// and whether this failure quarantined it.
func (r *repairer) settle(it *repairItem, err error) (log, quarantined bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.items[it.e.ID] != it {
		return false, false // no longer queued
	}
	if err == nil {
		delete(r.items, it.e.ID)
		return it.err != nil, false
	}
	now := r.now()
	it.attempts++
	if it.err == nil {
		it.since = now
	}
	it.err = err
	if it.quarantined.IsZero() && it.attempts >= quarantineAttempts && now.Sub(it.since) >= quarantineAfter {
		it.quarantined, quarantined = now, true
	}
	if !it.quarantined.IsZero() {
		it.next = now.Add(quarantineRetry)
		return false, quarantined
	}
	r.lastErr = err
	it.next = now.Add(retryAfter(it.attempts))
	return bits.OnesCount(uint(it.attempts)) == 1, false // 1, 2, 4, 8, ... attempts
}

// postpone pushes the next attempt of items back by d (a pass ended early).
func (r *repairer) postpone(items []*repairItem, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := r.now().Add(d)
	for _, it := range items {
		if it.next.Before(next) {
			it.next = next
		}
	}
}

// nextWake is when the loop has something to do.
func (r *repairer) nextWake() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	at := r.scanAt
	for _, it := range r.items {
		if it.next.Before(at) {
			at = it.next
		}
	}
	return at
}

// scanDue returns whether a sweep is due, and for entries older than what.
func (r *repairer) scanDue(now time.Time) (bool, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.scanAt.After(now), r.scanGrace
}

// scanned records the outcome of a sweep for entries older than grace.
func (r *repairer) scanned(grace time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if err == nil {
		r.scanErr, r.scanTries = nil, 0
		r.scanAt, r.scanGrace = now.Add(outboxInterval), outboxGrace
		return
	}
	if r.scanErr == nil {
		r.scanSince = now
	}
	r.scanErr, r.lastErr = err, err
	r.scanTries++
	r.scanAt, r.scanGrace = now.Add(retryAfter(r.scanTries)), grace
}

// sweep queues every outbox entry older than olderThan (0: every entry). An entry
// that cannot be decoded is quarantined (logged once).
func (s *Store) sweep(ctx context.Context, olderThan time.Duration) error {
	defer s.sweepStarted()()
	cur, err := s.outbox.Find(ctx, bson.D{})
	if err != nil {
		return mapErr(err, "find outbox")
	}
	defer cur.Close(ctx)
	cutoff := time.Now().Add(-olderThan)
	for cur.Next(ctx) {
		var e outboxDoc
		if err := cur.Decode(&e); err != nil {
			rawID := cur.Current.Lookup("_id")
			rawID.Value = bytes.Clone(rawID.Value) // Current is only valid until Next
			id, ok := rawID.StringValueOK()
			if !ok {
				id = rawID.String()
			}
			project, _ := cur.Current.Lookup("project").StringValueOK()
			if s.repairs.addMalformed(id, rawID, project, err) {
				s.log.WithError(err).WithField("outbox", id).WithField("project", project).
					Error("outbox entry cannot be decoded: quarantined; run `server repair` (for its project) to rebuild the read models and clear it")
			}
			continue
		}
		if (olderThan > 0 && e.At.After(cutoff)) || s.retiredPending(e.ID) {
			continue
		}
		if s.repairs.add(e, nil) {
			s.log.WithField("outbox", e.ID).WithField("artifact_id", e.ArtifactID).WithField("project", e.Project).
				WithField("quarantined", e.Quarantined.UTC().Format(time.RFC3339)).WithField("error", e.Error).
				Error("outbox entry quarantined: its read models could not be updated; retrying every minute; run `server repair` for its project to rebuild them and clear it")
		}
	}
	return mapErr(cur.Err(), "read outbox")
}

// repairEntry applies the projections of e's artifact from its current state when
// it reached e's version (else the write never happened) and deletes e. Only entries
// whose write cannot be in flight any more are repaired (see the top of this file).
func (s *Store) repairEntry(ctx context.Context, e outboxDoc) error {
	if len(e.Items) > 0 {
		if err := s.repairBatch(ctx, e); err != nil {
			return err
		}
		_, err := s.outbox.DeleteOne(ctx, bson.D{{Key: "_id", Value: e.ID}})
		return mapErr(err, "delete outbox")
	}
	a, err := s.GetArtifact(ctx, e.ArtifactID)
	switch {
	case model.IsKind(err, model.KindNotFound):
	case err != nil:
		return err
	case int64(a.Version) >= e.Version:
		if err := s.applyProjections(ctx, a, e.FromSeq, e.FromPromotion); err != nil {
			return err
		}
	}
	if _, err := s.outbox.DeleteOne(ctx, bson.D{{Key: "_id", Value: e.ID}}); err != nil {
		return mapErr(err, "delete outbox")
	}
	return nil
}

// clearOutbox deletes the outbox entries of project ("": of every project) written
// before before, and those that cannot be decoded, and drops them from the
// repairer: RebuildProjections, whose rebuild covers them, calls it.
func (s *Store) clearOutbox(ctx context.Context, project string, before time.Time) error {
	cur, err := s.outbox.Find(ctx, bson.D{})
	if err != nil {
		return mapErr(err, "find outbox")
	}
	defer cur.Close(ctx)
	var ids []string
	for cur.Next(ctx) {
		raw := cur.Current
		if p, _ := raw.Lookup("project").StringValueOK(); project != "" && p != project {
			continue
		}
		var e outboxDoc
		if err := bson.Unmarshal(raw, &e); err == nil && !e.At.Before(before) {
			continue // a write after the rebuild read the artifacts
		}
		rawID := raw.Lookup("_id")
		if _, err := s.outbox.DeleteOne(ctx, bson.D{{Key: "_id", Value: rawID}}); err != nil {
			return mapErr(err, "delete outbox")
		}
		id, ok := rawID.StringValueOK()
		if !ok {
			id = rawID.String()
		}
		ids = append(ids, id)
	}
	if err := cur.Err(); err != nil {
		return mapErr(err, "read outbox")
	}
	s.repairs.forget(ids)
	if len(ids) > 0 {
		s.log.WithField("entries", len(ids)).WithField("project", project).Info("outbox entries covered by the rebuild of the read models cleared")
	}
	return nil
}

// repairMalformed tries an entry that could not be decoded again: repaired when it
// is gone (an operator deleted it) or decodes now and repairs.
func (s *Store) repairMalformed(ctx context.Context, id bson.RawValue) error {
	var e outboxDoc
	err := s.outbox.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&e)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return nil
	case err != nil:
		return mapErr(err, "read outbox entry")
	}
	return s.repairEntry(ctx, e)
}

// markQuarantined records in entry id's document that it is quarantined, so that
// a restart knows at once (best effort: the repairer knows it anyway).
func (s *Store) markQuarantined(ctx context.Context, id string, cause error) {
	now := s.repairs.now().UTC().Truncate(time.Millisecond)
	_, err := s.outbox.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "quarantined", Value: now}, {Key: "error", Value: cause.Error()}}}})
	if err != nil {
		s.log.WithError(err).WithField("outbox", id).Warn("could not mark an outbox entry quarantined")
	}
}

// repairPass tries the entries that are due (every queued entry with force) once
// each, and returns how many it repaired and the failures.
func (s *Store) repairPass(ctx context.Context, force bool) (int, error) {
	s.repairs.passMu.Lock()
	defer s.repairs.passMu.Unlock()
	items := s.repairs.due(s.repairs.now(), force)
	var errs []error
	done, streak := 0, 0
	for i, it := range items {
		if ctx.Err() != nil {
			break
		}
		if streak >= repairStreak {
			// The engine refuses every write: the rest wait as long as the last one.
			s.repairs.postpone(items[i:], retryAfter(it.attempts+1))
			break
		}
		actx, cancel := context.WithTimeout(ctx, projectTimeout)
		var err error
		if it.malformed != nil {
			err = s.repairMalformed(actx, *it.malformed)
		} else {
			err = s.repairEntry(actx, it.e)
		}
		cancel()
		log := s.log.WithField("artifact_id", it.e.ArtifactID).WithField("outbox", it.e.ID)
		if err != nil {
			streak++
			errs = append(errs, fmt.Errorf("outbox entry %s: %w", it.e.ID, err))
			logIt, quarantined := s.repairs.settle(it, err)
			switch {
			case ctx.Err() != nil:
			case quarantined:
				log.WithError(err).WithField("project", it.e.Project).WithField("attempts", it.attempts).
					WithField("failing_since", it.since.UTC().Format(time.RFC3339)).
					Error("outbox entry quarantined: its read models could not be updated; it no longer holds up readiness and is retried every minute; run `server repair` for its project to rebuild them and clear it")
				s.markQuarantined(ctx, it.e.ID, err)
			case logIt:
				log.WithError(err).WithField("attempts", it.attempts).Warn("outbox entry not repaired yet; retrying")
			}
			continue
		}
		streak = 0
		done++
		if logIt, _ := s.repairs.settle(it, nil); logIt {
			log.WithField("attempts", it.attempts+1).WithField("stale_for", s.repairs.now().Sub(it.since).Round(time.Millisecond).String()).
				Info("outbox entry repaired: its write is visible in the read models again")
		}
	}
	return done, errors.Join(errs...)
}

// replayOutbox re-applies the projections of every outbox entry older than olderThan
// (0: every entry; only entries whose write cannot be in flight any more may be
// replayed) and deletes it: when the artifact reached the entry's version the write
// happened (and its projections are applied again, idempotently, from the artifact's
// current state); otherwise it never will. It tries every entry, whatever the others
// do, and returns how many it repaired and every failure; the entries that failed stay
// with the repairer, which keeps trying.
func (s *Store) replayOutbox(ctx context.Context, olderThan time.Duration) (int, error) {
	err := s.sweep(ctx, olderThan)
	s.repairs.scanned(olderThan, err)
	if err != nil {
		return 0, err
	}
	done, err := s.repairPass(ctx, true)
	if done > 0 {
		s.log.WithField("entries", done).Info("outbox replayed")
	}
	return done, err
}

// repairLoop repairs the queued entries when they are due and sweeps the outbox
// every outboxInterval, until ctx ends.
func (s *Store) repairLoop(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	timer := time.NewTimer(s.repairs.nextWake().Sub(s.repairs.now()))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.repairs.wake:
		case <-timer.C:
		}
		if due, grace := s.repairs.scanDue(s.repairs.now()); due {
			err := s.sweep(ctx, grace)
			if ctx.Err() != nil {
				return
			}
			s.repairs.scanned(grace, err)
			if err != nil {
				s.log.WithError(err).Warn("outbox sweep failed; retrying")
			}
		}
		_, _ = s.repairPass(ctx, false)
		timer.Reset(max(s.repairs.nextWake().Sub(s.repairs.now()), 0))
	}
}
