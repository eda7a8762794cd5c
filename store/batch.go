package store

// Batches of artifact writes (the trust re-derivation, service/rederive.go): many
// artifacts of one project written one after the other, each with its version
// predicate, under one outbox entry for the batch, and then the read models of
// the whole batch applied together: one read-modify-write of each list bucket,
// feed head and chan log bucket the batch touches instead of one per artifact.
//
// The outbox entry lists every write of the batch ({artifact, version, fromSeq,
// fromPromotion}) and is inserted before the first artifact write. Repairing it
// (outbox.go) applies the read models of each listed artifact that reached its
// version from its current state, like the entry of a single write; a crash or a
// failure anywhere between the first write and the deletion of the entry is
// repaired that way.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

// batchWrite is one artifact write of a batch whose read models are to be applied:
// the artifact's new state, where its new audit events and promotions start, and
// whether its deploy facts changed (or may have).
type batchWrite struct {
	a                      *model.Artifact
	fromSeq, fromPromotion int
	force                  bool
}

// RewriteArtifacts loads the artifacts ids of project and writes a batch of the new
// states rewrite returns for them (see service.Store and the top of this file).
// Each write is conditional on the version loaded; on the embedded engine the
// artifact's generation read before the load stands for the version read
// (conditionalUpdateSince), so an artifact is read once, not twice.
func (s *Store) RewriteArtifacts(ctx context.Context, project string, ids []string, rewrite func(a *model.Artifact) (*model.Artifact, bool)) ([]service.ArtifactChange, error) {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	gens := make([]uint64, len(ids))
	for i, id := range ids {
		gens[i] = s.artifactGen(id)
	}
	arts := make([]*model.Artifact, len(ids))
	errs := make([]error, len(ids))
	concurrently(len(ids), loadConcurrency, func(i int) {
		a, err := s.GetArtifact(ctx, ids[i])
		if !model.IsKind(err, model.KindNotFound) {
			arts[i], errs[i] = a, err
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var changes []service.ArtifactChange
	var since []uint64
	for i, a := range arts {
		if a == nil {
			continue
		}
		if a.Project != project {
			return nil, &model.Error{Kind: model.KindInternal, Message: fmt.Sprintf("store: RewriteArtifacts: artifact %s is not of project %s", a.ID, project)}
		}
		after, ok := rewrite(a)
		if !ok {
			continue
		}
		switch {
		case after == nil || after.ID != a.ID || after.Project != a.Project:
			return nil, &model.Error{Kind: model.KindInternal, Message: "store: RewriteArtifacts needs a new state of the same artifact"}
		case after.AuditFrom != a.AuditFrom || after.PromotionsFrom != a.PromotionsFrom || len(after.Audit) < len(a.Audit) || len(after.Promotions) < len(a.Promotions):
			return nil, &model.Error{Kind: model.KindInternal, Message: "store: RewriteArtifacts cannot remove audit events or promotions"}
		}
		changes = append(changes, service.ArtifactChange{Before: a, After: after})
		since = append(since, gens[i])
	}
	if len(changes) == 0 {
		return nil, nil
	}
	return changes, s.writeBatch(ctx, project, changes, since)
}

// PrefetchArtifacts reads the artifacts ids into the document cache, when the store
// has one (see service.Store), a few at a time; errors are left for the load that
// follows to meet.
func (s *Store) PrefetchArtifacts(ctx context.Context, ids []string) {
	if s.cache == nil {
		return
	}
	concurrently(len(ids), prefetchConcurrency, func(i int) { _, _ = s.findCached(ctx, s.artifacts, ids[i]) })
}

// concurrently calls f(0), ..., f(n-1), at most limit at a time, and returns when
// every call has.
func concurrently(n, limit int, f func(i int)) {
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f(i)
		}()
	}
	wg.Wait()
}

// prefetchConcurrency bounds the parallel look-ups of PrefetchArtifacts: it runs
// beside a batch's writes, and one more core is what it has to use.
const prefetchConcurrency = 2

// writeBatch writes changes (of project; since[i]: the generation changes[i].Before
// was loaded at) under one outbox entry, then applies their read models together.
func (s *Store) writeBatch(ctx context.Context, project string, changes []service.ArtifactChange, since []uint64) error {
	items := make([]outboxItem, 0, len(changes))
	for _, c := range changes {
		items = append(items, outboxItem{ArtifactID: c.Before.ID, Version: int64(c.Before.Version + 1), FromSeq: c.Before.AuditLen(), FromPromotion: c.Before.PromotionsLen()})
	}
	e, err := s.openBatchOutbox(ctx, project, items)
	if err != nil {
		return err
	}
	// Each write is conditional on the version loaded (conditionalUpdateSince:
	// the generation read before the load, moved on by this batch's own earlier
	// writes of the same counter, stands for it).
	own := map[uint32]uint64{}
	var written []batchWrite
	var stale []*model.Artifact
	for i, c := range changes {
		k := artifactGenIndex(c.Before.ID)
		gen := since[i] + own[k]
		matched, err := s.writeArtifactSince(ctx, c.Before, c.After, &gen)
		own[k]++
		var laid *layOutError
		if errors.As(err, &laid) && len(written) == 0 {
			s.closeOutbox(ctx, e.ID) // nothing written
			return laid.err
		}
		if err != nil {
			// The writes before landed, and this one may have: their read models are
			// applied now, and the entry stays for the sweep, which applies whatever
			// landed once no write of it can be in flight any more.
			if perr := s.applyBatchProjections(context.WithoutCancel(ctx), project, written); perr != nil {
				s.logFor(ctx).WithError(perr).WithField("outbox", e.ID).Error("projections of a failed batch not updated; the outbox sweep repairs them")
			}
			if laid != nil {
				return laid.err
			}
			return err
		}
		if !matched {
			stale = append(stale, c.Before)
			continue
		}
		c.After.Version = c.Before.Version + 1
		written = append(written, batchWrite{a: c.After, fromSeq: c.Before.AuditLen(), fromPromotion: c.Before.PromotionsLen(),
			force: !factsOfArtifact(c.Before).equal(factsOfArtifact(c.After))})
		if s.crashAfterWrite != nil && s.crashAfterWrite(c.After) {
			return nil // as if the process died here: the outbox entry stays
		}
	}
	if len(written) == 0 {
		s.closeOutbox(ctx, e.ID)
	} else {
		s.projectBatch(ctx, project, written, *e)
	}
	if len(stale) > 0 {
		if err := s.staleVersion(ctx, stale[0]); len(stale) == 1 || !model.IsKind(err, model.KindConflict) {
			return err
		}
		return model.Errorf(model.KindConflict, "%d artifacts of the batch (%s, ...) were changed by other requests; reload them and try again", len(stale), stale[0].ID)
	}
	return nil
}

// openBatchOutbox records that the writes items of project are about to happen.
func (s *Store) openBatchOutbox(ctx context.Context, project string, items []outboxItem) (*outboxDoc, error) {
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	e := &outboxDoc{ID: "batch:" + project + ":" + hex.EncodeToString(nonce[:]), Project: project, Items: items,
		At: time.Now().UTC().Truncate(time.Millisecond)}
	if _, err := s.outbox.InsertOne(ctx, e); err != nil {
		return nil, mapErr(err, "insert outbox")
	}
	return e, nil
}

// projectBatch applies the read models of a batch's writes and deletes its outbox
// entry e; a failure hands e to the repairer (the writes themselves succeeded).
func (s *Store) projectBatch(ctx context.Context, project string, written []batchWrite, e outboxDoc) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), projectTimeout)
	defer cancel()
	log := s.logFor(ctx).WithField("outbox", e.ID).WithField("artifacts", len(written))
	if err := s.applyBatchProjections(ctx, project, written); err != nil {
		log.WithError(err).Error("projections of a batch not updated; repairing them in the background")
		s.repairs.add(e, err)
		return
	}
	s.finishOutbox(ctx, e, log)
}

// repairBatch applies the read models of every artifact of batch entry e that
// reached the version e records for it, from its current state.
func (s *Store) repairBatch(ctx context.Context, e outboxDoc) error {
	arts, err := s.getArtifacts(ctx, e.artifactIDs())
	if err != nil {
		return err
	}
	byID := map[string]*model.Artifact{}
	for _, a := range arts {
		byID[a.ID] = a
	}
	var ws []batchWrite
	for _, it := range e.Items {
		if a := byID[it.ArtifactID]; a != nil && int64(a.Version) >= it.Version {
			ws = append(ws, batchWrite{a: a, fromSeq: it.FromSeq, fromPromotion: it.FromPromotion, force: true})
		}
	}
	return s.applyBatchProjections(ctx, e.Project, ws)
}

// applyBatchProjections brings the read models of project up to date with the
// writes ws, as applyProjections does for each, grouped: the list entries in one
// pass over the buckets holding them, the new audit events in one, the chan log
// entries one log at a time. Idempotent.
func (s *Store) applyBatchProjections(ctx context.Context, project string, ws []batchWrite) error {
	if len(ws) == 0 {
		return nil
	}
	s.projMu.RLock()
	defer s.projMu.RUnlock()
	entries := make([]listEntry, len(ws))
	for i, w := range ws {
		entries[i] = listEntryOf(w.a)
	}
	if err := s.applyList(ctx, project, entries...); err != nil {
		return err
	}
	type chanSet struct{ forced, plain []chanEntry }
	chans := map[chanKey]*chanSet{}
	var keys []chanKey
	var events []feedEntry
	var rows []statusRow
	for _, w := range ws {
		a, err := s.withHistory(ctx, w.a, w.fromSeq, w.fromPromotion)
		if err != nil {
			return err
		}
		if fromSeq := min(max(w.fromSeq, a.AuditFrom), a.AuditLen()); fromSeq < a.AuditLen() {
			evs, err := feedEntriesOf(a, fromSeq)
			if err != nil {
				return err
			}
			events = append(events, evs...)
		}
		from := w.fromPromotion - a.PromotionsFrom
		byChan, ks, err := s.chanEntriesOf(ctx, a, from, w.force)
		if err != nil {
			return err
		}
		for _, k := range ks {
			set := chans[k]
			if set == nil {
				set = &chanSet{}
				chans[k] = set
				keys = append(keys, k)
			}
			if w.force {
				set.forced = append(set.forced, byChan[k]...)
			} else {
				set.plain = append(set.plain, byChan[k]...)
			}
		}
		for _, p := range a.Promotions[min(max(from, 0), len(a.Promotions)):] {
			rows = append(rows, statusRowOf(a, p))
		}
	}
	if err := s.feedLog(project).Upsert(ctx, events, nil); err != nil {
		return err
	}
	for _, k := range keys {
		for _, part := range []struct {
			es    []chanEntry
			force bool
		}{{chans[k].forced, true}, {chans[k].plain, false}} {
			if len(part.es) == 0 {
				continue
			}
			if err := s.applyChanLog(ctx, project, k, part.es, part.force); err != nil {
				return err
			}
		}
	}
	if len(rows) == 0 {
		return nil
	}
	_, err := update(ctx, s, statusID(project), project, "status", func(d *statusDoc, _ int64) (bool, error) {
		changed := false
		for _, row := range rows {
			if d.set(row) {
				changed = true
			}
		}
		return changed, nil
	})
	return err
}

// pendingWrites returns the artifacts of project with an outbox entry: writes that
// may have landed without their read models (a scan of the outbox, which holds
// only writes in flight, and the retired entries not deleted yet, which are
// skipped: their read models are applied).
func (s *Store) pendingWrites(ctx context.Context, project string) (map[string]bool, error) {
	cur, err := s.outbox.Find(ctx, bson.D{})
	if err != nil {
		return nil, mapErr(err, "find outbox")
	}
	defer cur.Close(ctx)
	out := map[string]bool{}
	for cur.Next(ctx) {
		var e outboxDoc
		if err := cur.Decode(&e); err != nil {
			return nil, &model.Error{Kind: model.KindInternal, Message: "database error", Err: fmt.Errorf("decode outbox: %w", err)}
		}
		if e.Project == project && !s.retiredPending(e.ID) {
			for _, id := range e.artifactIDs() {
				out[id] = true
			}
		}
	}
	return out, mapErr(cur.Err(), "read outbox")
}
