package service

// Background trust re-derivation (DOMAIN-2 "Trust follows the current policy").
//
// Decisions derive trust under the current policy and keys at decision time
// (model/trust.go), so a policy change or a key revocation takes effect at once.
// The stored trust states, and the read models built from them, catch up here:
// after setProjectPolicy and revokeTrustedKey the service records a job for the
// project (one document, "reevaluations"), and a runner walks the project's
// artifacts a list bucket at a time. Every artifact (not REVOKED) whose trust
// derived under the current inputs differs from its stored trust state gets the
// derived records and trust and one app_artifact.verify event with the actor,
// correlation id and reason of the change, through conditional artifact writes
// (so trail, audit feed, lists, channel logs and outbox follow).
//
//   - Cheap where nothing changes: the list entries hold each artifact's deploy
//     facts, so the trust derived under the job's inputs is compared with the
//     stored one from the bucket alone; only the artifacts whose trust differs
//     (and those with a write whose read models are not applied yet) are loaded,
//     reevaluationBatch at a time, and written in one batch
//     (Store.RewriteArtifacts: one read and one conditional write per artifact,
//     one outbox entry and grouped read-model writes per batch).
//   - Keyed on the inputs: a job is for a fingerprint of what trust depends on
//     (model.Policy.TrustInputs), so a freeze or a governance-only policy change
//     starts none.
//   - Resumable: the job's cursor is the next list bucket; it is saved after every
//     bucket the job wrote in, and at least every second while it walks buckets
//     that change nothing, so a restart redoes at most one bucket that it wrote
//     in, or a second of reading (a redone artifact is up to date already and
//     changes nothing, so no event is written twice). The
//     artifacts of a bucket about to be written are recorded in the job first
//     (Pending), so the redo counts those the stopped run changed.
//   - Superseded: a later change replaces the job (new inputs, cursor 0); the
//     runner notices at its next checkpoint (the job's version moved) and starts
//     over under the newer inputs. A runner only writes while the inputs it reads
//     under the policy lock are exactly the job's, so every event names the change
//     that made it.
//   - Leased: a runner claims the job for reevaluationLease and renews the claim at
//     every checkpoint; another process (replica) takes it over only after the
//     lease ran out (at once on the embedded engine, where no other process can
//     hold it: its lease is left over from a process that died).
//   - Not lost: a process that stored a change and died before recording its job
//     is caught up by the sweep, which compares each project's trust inputs with
//     its job's (at start and every reevaluationSweep).

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/artifact-trust/control-plane/model"
)

// Re-derivation timing.
const (
	// reevaluationLease is how long a runner's claim on a job lasts without a
	// checkpoint.
	reevaluationLease = 30 * time.Second
	// reevaluationCheckpointEvery is the longest a run goes without saving its
	// job while it walks parts that change nothing.
	reevaluationCheckpointEvery = time.Second
	// reevaluationSweep is how often unfinished jobs and changes without a job are
	// looked for.
	reevaluationSweep = 30 * time.Second
	// reevaluationRetry is the pause after a failed run before the next sweep may
	// try it again.
	reevaluationRetry = time.Second
)

var (
	// errSuperseded: the job changed under the runner (a newer change).
	errSuperseded = errors.New("trust re-derivation superseded by a newer change")
	// errInputsMoved: the policy or keys moved past the job's inputs; the job for
	// them is being recorded.
	errInputsMoved = errors.New("trust inputs moved past the re-derivation's")
	// errStopped: a checkpoint hook stopped the run (tests: a crash).
	errStopped = errors.New("trust re-derivation stopped")
)

// reevaluator runs the re-derivation jobs of this process.
type reevaluator struct {
	owner string
	kick  chan struct{}
	mu    sync.Mutex
	// running holds the projects whose job a goroutine of this process runs.
	running map[string]bool
	// checkpoint, when set, is called after each checkpoint; true stops the run.
	checkpoint func(model.Reevaluation) bool
}

func newReevaluator() *reevaluator {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &reevaluator{owner: hex.EncodeToString(b[:]), kick: make(chan struct{}, 1), running: map[string]bool{}}
}

// WithReevaluationCheckpoint calls f after each saved checkpoint of a trust
// re-derivation, with the job as saved; when f returns true the run stops there,
// as if the process had died (tests of resumption).
func WithReevaluationCheckpoint(f func(model.Reevaluation) bool) Option {
	return func(s *Service) { s.reeval.checkpoint = f }
}

func (r *reevaluator) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// TrustReevaluation returns the latest trust re-derivation of project (nil when
// none ever ran). Any role in the project may read it.
func (s *Service) TrustReevaluation(ctx context.Context, rq Request, project string) (*model.Reevaluation, error) {
	if err := requireRead(rq.Actor, project); err != nil {
		return nil, err
	}
	st, err := s.store.Reevaluation(ctx, project)
	if st == nil || err != nil {
		return nil, err
	}
	return &st.Job, nil
}

// RunReevaluations runs trust re-derivations in the background until ctx ends:
// the unfinished jobs (resumed from their cursor), the changes recorded without a
// job, and every job started from now on. It returns at once; wait, when called,
// returns once every run of this process has stopped.
func (s *Service) RunReevaluations(ctx context.Context) (wait func()) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(reevaluationSweep)
		defer tick.Stop()
		s.reconcileReevaluations(ctx)
		for {
			s.sweepReevaluations(ctx, &wg)
			select {
			case <-ctx.Done():
				return
			case <-s.reeval.kick:
			case <-tick.C:
				s.reconcileReevaluations(ctx)
			}
		}
	}()
	return wg.Wait
}

// sweepReevaluations starts a run for every unfinished job this process does not
// run yet.
func (s *Service) sweepReevaluations(ctx context.Context, wg *sync.WaitGroup) {
	jobs, err := s.store.UnfinishedReevaluations(ctx)
	if err != nil {
		return // the next sweep tries again
	}
	for _, st := range jobs {
		project := st.Job.Project
		s.reeval.mu.Lock()
		busy := s.reeval.running[project]
		s.reeval.running[project] = true
		s.reeval.mu.Unlock()
		if busy {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.runReevaluation(ctx, project)
			s.reeval.mu.Lock()
			delete(s.reeval.running, project)
			s.reeval.mu.Unlock()
			if err != nil && ctx.Err() == nil && !errors.Is(err, errStopped) {
				// Let the next sweep try again, after a pause.
				time.AfterFunc(reevaluationRetry, s.reeval.wake)
			}
		}()
	}
}

// reconcileReevaluations records the job of every project whose policy version or
// revoked keys moved past its job without one being recorded (the process that
// stored the change died first), and of projects that never had one.
func (s *Service) reconcileReevaluations(ctx context.Context) {
	projects, err := s.store.TrustInputProjects(ctx)
	if err != nil {
		return
	}
	for _, project := range projects {
		if ctx.Err() != nil {
			return
		}
		_ = s.reconcileReevaluation(ctx, project)
	}
}

func (s *Service) reconcileReevaluation(ctx context.Context, project string) error {
	p, err := s.decisionPolicy(ctx, project)
	if err != nil {
		return err
	}
	want := model.Reevaluation{Project: project, PolicyVersion: p.Version, RevokedKeys: len(p.RevokedKeys), Inputs: p.TrustInputs()}
	cur, err := s.store.Reevaluation(ctx, project)
	if err == nil && cur != nil && cur.Job.FinishedAt == nil && cur.Job.Inputs != "" && cur.Job.Inputs != want.Inputs &&
		cur.Job.PolicyVersion == want.PolicyVersion && cur.Job.RevokedKeys == want.RevokedKeys {
		return s.refingerprint(ctx, cur, want.Inputs)
	}
	if err != nil || (cur != nil && !want.Supersedes(&cur.Job)) || (cur == nil && p.Version == 0 && len(p.RevokedKeys) == 0) {
		return err
	}
	changes, err := s.store.PolicyChanges(ctx, project)
	if err != nil {
		return err
	}
	// The newest change that alters the inputs names the job.
	for _, c := range changes {
		switch c.Action {
		case model.ActionPolicy:
			want.Reason = model.PolicyReason(c.ToVersion)
		case model.ActionKeyRevoked:
			want.Reason = model.KeyRevokedReason(c.KeyID)
		default:
			continue
		}
		want.Actor, want.CorrelationID = model.Actor{Subject: c.Actor, Type: c.ActorType}, c.CorrelationID
		break
	}
	want.StartedAt = s.clock()
	return s.startReevaluation(ctx, want)
}

// refingerprint restarts the unfinished job st, whose change is the current one
// (same policy version and revoked keys) but whose fingerprint differs from the
// current inputs': it was computed before the fingerprint counted all it counts
// now (the provenance rules), or the effective policy moved without a new
// version (a changed floor). Its runner would otherwise take it for another
// change's forever. It walks again from the start under inputs, for the same
// change (reason, actor, correlation id); artifacts a stopped run changed are
// up to date and not counted again (Pending still counts those of its last step).
func (s *Service) refingerprint(ctx context.Context, st *ReevaluationState, inputs string) error {
	next := *st
	next.Job.Inputs, next.Job.Cursor, next.Job.Total, next.Job.Done, next.Job.Changed = inputs, 0, 0, 0, 0
	err := s.store.PutReevaluation(ctx, &next)
	if err == nil {
		s.reeval.wake()
	}
	return err
}

// startReevaluation records job as its project's re-derivation unless the stored
// one is for the same or newer inputs, and wakes the runner. A job it replaces is
// superseded: its runner starts over under job's inputs.
func (s *Service) startReevaluation(ctx context.Context, job model.Reevaluation) error {
	for attempt := 0; attempt < s.maxAttempts; attempt++ {
		cur, err := s.store.Reevaluation(ctx, job.Project)
		if err != nil {
			return err
		}
		if cur != nil && !job.Supersedes(&cur.Job) {
			return nil
		}
		st := &ReevaluationState{Job: job}
		if cur != nil {
			st.Version, st.LeaseOwner, st.LeaseUntil = cur.Version, cur.LeaseOwner, cur.LeaseUntil
		}
		err = s.store.PutReevaluation(ctx, st)
		if model.IsKind(err, model.KindConflict) && ctx.Err() == nil {
			continue
		}
		if err == nil {
			s.reeval.wake()
		}
		return err
	}
	return model.Errorf(model.KindConflict, "the trust re-derivation of project %s is being changed concurrently", job.Project)
}

// trustInputsChanged records the re-derivation a change of project's trust inputs
// needs (called by setProjectPolicy and revokeTrustedKey under the policy lock,
// after their write, with the decision policy that results: Policy.WithKeys).
// A change that leaves the inputs as the current job's (Policy.TrustInputs)
// records none. A failure to record it is caught up by the next sweep.
func (s *Service) trustInputsChanged(ctx context.Context, rq Request, project string, p *model.Policy, reason string) {
	_ = s.startReevaluation(context.WithoutCancel(ctx), model.Reevaluation{
		Project: project, PolicyVersion: p.Version, RevokedKeys: len(p.RevokedKeys), Inputs: p.TrustInputs(), Reason: reason,
		Actor: model.Actor{Subject: rq.Actor.Subject, Type: rq.Actor.Type}, CorrelationID: rq.CorrelationID,
		StartedAt: s.clock(),
	})
}

// runReevaluation claims project's job and runs it to its end, starting over when
// it is superseded.
func (s *Service) runReevaluation(ctx context.Context, project string) error {
	for ctx.Err() == nil {
		st, err := s.store.Reevaluation(ctx, project)
		if err != nil || st == nil || st.Job.FinishedAt != nil {
			return err
		}
		now := time.Now()
		if st.LeaseOwner != "" && st.LeaseOwner != s.reeval.owner && st.LeaseUntil.After(now) && !s.store.Exclusive() {
			return nil // another process runs it; the sweep looks again
		}
		st.LeaseOwner, st.LeaseUntil = s.reeval.owner, now.Add(reevaluationLease)
		if err := s.store.PutReevaluation(ctx, st); err != nil {
			if model.IsKind(err, model.KindConflict) {
				continue
			}
			return err
		}
		err = s.reevaluate(ctx, st)
		if errors.Is(err, errSuperseded) {
			continue
		}
		return err
	}
	return ctx.Err()
}

// reevaluate walks the job's project from its cursor, a list bucket at a time,
// saving a checkpoint (and renewing the lease) after each. It decides from the
// deploy facts the list holds which artifacts' trust differs under the job's
// inputs and loads and writes only those (and those whose facts the list may not
// hold yet), a few at a time (reevaluateSome).
func (s *Service) reevaluate(ctx context.Context, st *ReevaluationState) error {
	job := &st.Job
	saved := time.Now()
	for {
		p, err := s.decisionPolicy(ctx, job.Project)
		if err != nil {
			return err
		}
		if !job.For(p) {
			return errInputsMoved
		}
		entries, sealed, total, err := s.store.ReevaluationBatch(ctx, job.Project, job.Cursor)
		if err != nil {
			return err
		}
		// A run of this part that stopped before its checkpoint wrote some of
		// Pending: they are loaded again and counted when the job wrote them.
		recount := map[string]bool{}
		for _, id := range st.Pending {
			recount[id] = true
		}
		load := toReevaluate(entries, p, st.Pending)
		// The first artifacts of the next part are read during this part's last
		// step (a hint: that part is read again when its turn comes).
		var upcoming []string
		if len(load) > 0 && job.Cursor < sealed {
			if next, _, _, err := s.store.ReevaluationBatch(ctx, job.Project, job.Cursor+1); err == nil {
				upcoming = toReevaluate(next, p, nil)
				upcoming = upcoming[:min(len(upcoming), reevaluationBatch)]
			}
		}
		changed, err := s.reevaluateAll(ctx, st, load, recount, upcoming)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if !e.Unlisted {
				job.Done++
			}
		}
		job.Changed += changed
		job.Total = max(total, job.Done)
		last := job.Cursor >= sealed
		if last {
			at := s.clock()
			job.FinishedAt, job.Total = &at, job.Done
		} else {
			job.Cursor++
		}
		// A part that wrote nothing needs no checkpoint of its own: redoing it
		// after a crash changes nothing. The job is saved after every part that
		// wrote, at the end, and at least every reevaluationCheckpointEvery
		// (progress, and the lease).
		if len(load) == 0 && !last && time.Since(saved) < reevaluationCheckpointEvery {
			continue
		}
		st.Pending = nil
		st.LeaseUntil = time.Now().Add(reevaluationLease)
		saved = time.Now()
		if err := s.store.PutReevaluation(ctx, st); err != nil {
			if model.IsKind(err, model.KindConflict) {
				return errSuperseded
			}
			return err
		}
		if s.reeval.checkpoint != nil && s.reeval.checkpoint(*job) {
			return errStopped
		}
		if last {
			return nil
		}
	}
}

// toReevaluate returns the artifacts of entries to load under p: those whose
// recorded facts derive another trust under p, those whose facts the list may not
// hold yet, and pending (written by a run of the job that stopped before its
// checkpoint), in the list's order, then the pending ones the list does not hold.
func toReevaluate(entries []ReevaluationEntry, p *model.Policy, pending []string) []string {
	left := map[string]bool{}
	for _, id := range pending {
		left[id] = true
	}
	var load []string
	for _, e := range entries {
		switch {
		case left[e.ID] || !e.Known:
		case e.Facts.Trust == model.TrustRevoked:
			continue
		case e.Facts.Derive(p).Trust == e.Facts.Trust:
			continue
		}
		load = append(load, e.ID)
		delete(left, e.ID)
	}
	for _, id := range pending {
		if left[id] {
			load = append(load, id)
		}
	}
	return load
}

// reevaluationBatch is how many artifacts one step of a re-derivation locks,
// loads and writes together: the locks are held, and mutations of those
// artifacts and policy changes of the project wait, for one step only. (Steps
// run one at a time: on the embedded engine two at once took as long, the
// engine's work per artifact being the bound, and made the API wait longer.)
const reevaluationBatch = 32

// reevaluateAll brings the artifacts ids of the part at the job's cursor up to
// date with the job's inputs, reevaluationBatch at a time, and returns how many
// changed. They are recorded in the job first (Pending): a run resumed after a
// crash between the writes and the next checkpoint counts those it finds written
// by the job. Each step's artifacts are read while the step before writes
// (Store.PrefetchArtifacts): the engine writes one document at a time, and a read
// beside it uses a core the step leaves idle. upcoming are read during the last.
func (s *Service) reevaluateAll(ctx context.Context, st *ReevaluationState, ids []string, recount map[string]bool, upcoming []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	for _, id := range ids {
		if !slices.Contains(st.Pending, id) {
			st.Pending = append(st.Pending, id)
		}
	}
	st.LeaseUntil = time.Now().Add(reevaluationLease)
	if err := s.store.PutReevaluation(ctx, st); err != nil {
		if model.IsKind(err, model.KindConflict) {
			return 0, errSuperseded
		}
		return 0, err
	}
	changed := 0
	for len(ids) > 0 {
		n := min(reevaluationBatch, len(ids))
		next := ids[n:min(n+reevaluationBatch, len(ids))]
		if len(next) == 0 {
			next = upcoming
		}
		prefetched := make(chan struct{})
		go func() {
			defer close(prefetched)
			s.store.PrefetchArtifacts(ctx, next)
		}()
		c, err := s.reevaluateSome(ctx, &st.Job, ids[:n], recount)
		<-prefetched
		changed += c
		if err != nil {
			return changed, err
		}
		ids = ids[n:]
	}
	return changed, nil
}

// reevaluateSome brings the artifacts ids up to date with the job's inputs and
// returns how many changed (and, of those in recount, how many a stopped run of
// the job had changed). It holds their locks and then the project's policy shared
// (the order every mutation takes them in), so no decision and no policy or key
// change interleaves with its writes, and writes only when the inputs read under
// that lock are the job's. The artifacts it is about to write are recorded in
// the job first (Pending), then written in one batch (Store.UpdateArtifacts).
func (s *Service) reevaluateSome(ctx context.Context, job *model.Reevaluation, ids []string, recount map[string]bool) (int, error) {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for _, id := range ids {
		unlock, err := s.locks.Lock(ctx, id)
		if err != nil {
			return 0, err
		}
		defer unlock()
	}
	unlockPolicy, err := s.policyLocks.RLock(ctx, job.Project)
	if err != nil {
		return 0, err
	}
	defer unlockPolicy()
	p, err := s.decisionPolicy(ctx, job.Project)
	if err != nil {
		return 0, err
	}
	if !job.For(p) {
		return 0, errInputsMoved
	}
	// The inputs are those of the job's change: its events name that version
	// (a later version with the same inputs, a freeze, changed nothing of them).
	under := *p
	under.Version = job.PolicyVersion
	now := s.clock()
	changed := 0
	changes, err := s.store.RewriteArtifacts(ctx, job.Project, ids, func(a *model.Artifact) (*model.Artifact, bool) {
		after, ok := model.Rederive(*a, &under, job.Actor, job.CorrelationID, job.Reason, now)
		if !ok && recount[a.ID] && changedBy(a, job) {
			changed++ // by this job, before a restart: counted once more here
		}
		return &after, ok
	})
	for _, c := range changes {
		if c.After.Version == c.Before.Version+1 {
			s.committed(c.Before, c.After)
			changed++
		}
	}
	return changed, err
}

// changedBy reports whether a's newest event is job's (written by a run of it that
// stopped before its checkpoint).
func changedBy(a *model.Artifact, job *model.Reevaluation) bool {
	if len(a.Audit) == 0 {
		return false
	}
	ev := a.Audit[len(a.Audit)-1]
	return ev.Action == model.ActionVerify && ev.CorrelationID == job.CorrelationID && ev.Reason == job.Reason &&
		ev.PolicyVersion != nil && *ev.PolicyVersion == job.PolicyVersion && ev.Actor == job.Actor.Subject
}
