package store

// Retiring outbox entries. Once the projections of a write are applied its outbox
// entry has done its work, and deleting it need not hold up the request: the
// writer hands the entry's id to the retirer, whose loop deletes the entries handed
// to it in batches (one DeleteMany by _id) as soon as it can.
//
// An entry retired but not deleted yet is still in the outbox: the sweep skips it,
// and if the process stops before the loop deleted it (Close deletes what is left;
// a crash cannot), the next start replays it like any entry a crash left, which
// applies the same projections again and changes nothing. When the engine refuses
// the deletes the loop retries with the repairer's backoff; past maxRetired entries
// waiting, writers delete their own entries again.

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

const (
	// retireBatch bounds the entries one DeleteMany names.
	retireBatch = 256
	// maxRetired bounds the entries waiting for deletion.
	maxRetired = 10_000
)

// retire hands the outbox entry id, whose projections are applied, to the retire
// loop; it reports false when too many wait already (the caller deletes it).
func (s *Store) retire(id string) bool {
	s.retireMu.Lock()
	defer s.retireMu.Unlock()
	if s.retireLoopDone == nil || len(s.retired) >= maxRetired {
		return false
	}
	s.retired[id] = struct{}{}
	select {
	case s.retireWake <- struct{}{}:
	default:
	}
	return true
}

// retiredPending reports whether outbox entry id waits for deletion by the loop,
// or was deleted by it since the oldest running sweep began: a sweep's read may
// return an entry the loop deletes before the sweep looks at it, and without the
// record the sweep would take that entry for one a crash left.
func (s *Store) retiredPending(id string) bool {
	s.retireMu.Lock()
	defer s.retireMu.Unlock()
	_, ok := s.retired[id]
	if !ok {
		_, ok = s.deletedInSweep[id]
	}
	return ok
}

// sweepStarted is called before a sweep reads the outbox; the func it returns,
// when the sweep is done. While any sweep runs the loop records what it deletes.
func (s *Store) sweepStarted() (done func()) {
	s.retireMu.Lock()
	defer s.retireMu.Unlock()
	s.sweeps++
	return func() {
		s.retireMu.Lock()
		defer s.retireMu.Unlock()
		if s.sweeps--; s.sweeps == 0 {
			s.deletedInSweep = nil
		}
	}
}

// deleteRetired deletes up to retireBatch of the waiting entries and reports how
// many are left waiting.
func (s *Store) deleteRetired(ctx context.Context) (int, error) {
	s.retireMu.Lock()
	ids := make([]string, 0, min(len(s.retired), retireBatch))
	for id := range s.retired {
		if len(ids) == retireBatch {
			break
		}
		ids = append(ids, id)
	}
	s.retireMu.Unlock()
	if len(ids) == 0 {
		return 0, nil
	}
	_, err := s.outbox.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
	s.retireMu.Lock()
	defer s.retireMu.Unlock()
	if err != nil {
		return len(s.retired), mapErr(err, "delete outbox")
	}
	if s.sweeps > 0 && s.deletedInSweep == nil {
		s.deletedInSweep = map[string]struct{}{}
	}
	for _, id := range ids {
		delete(s.retired, id)
		if s.sweeps > 0 {
			s.deletedInSweep[id] = struct{}{}
		}
	}
	return len(s.retired), nil
}

// flushRetired deletes every entry waiting for deletion.
func (s *Store) flushRetired(ctx context.Context) error {
	for {
		left, err := s.deleteRetired(ctx)
		if err != nil || left == 0 {
			return err
		}
	}
}

// retireLoop deletes the retired entries until ctx ends, then what is left.
func (s *Store) retireLoop(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	failures := 0
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := s.flushRetired(fctx); err != nil {
				s.log.WithError(err).Warn("outbox entries left for the next start to replay")
			}
			cancel()
			return
		case <-s.retireWake:
		}
		left, err := s.deleteRetired(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			failures++
			s.log.WithError(err).WithField("waiting", left).Warn("could not delete retired outbox entries; retrying")
			if sleepCtx(ctx, retryAfter(failures)) != nil {
				continue
			}
		case err == nil:
			failures = 0
		}
		if left > 0 {
			select {
			case s.retireWake <- struct{}{}:
			default:
			}
		}
	}
}
