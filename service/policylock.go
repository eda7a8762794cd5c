package service

import (
	"context"
	"sync"

	"golang.org/x/sync/semaphore"

	"github.com/artifact-trust/control-plane/model"
)

// policyLocks hold each project's policy stable from the moment a decision reads it
// to the moment the decision's write lands. Decisions (register, verify, promote and
// every other artifact mutation) hold their project's lock shared; a policy change
// holds it exclusively. So inside one process no decision taken under version v is
// written after version v+1 was stored, let alone acknowledged.
//
// Lock order: an artifact's lock (keyedLocks) before its project's policy lock;
// nothing takes an artifact lock while holding a policy lock. The semaphore serves
// waiters in arrival order, so a waiting policy change is not starved by a stream of
// decisions: decisions that arrive after it wait for it and decide under the new
// version. Every wait ends with its request's context.
type policyLocks struct {
	mu    sync.Mutex
	locks map[string]*policyLock
}

type policyLock struct {
	sem  *semaphore.Weighted
	refs int
}

// policyLockWeight is the weight of the exclusive holder: more than the number of
// decisions that can ever run at once.
const policyLockWeight = 1 << 40

func newPolicyLocks() *policyLocks { return &policyLocks{locks: map[string]*policyLock{}} }

// share holds project's policy for one decision until unlock is called.
func (l *policyLocks) share(ctx context.Context, project string) (unlock func(), err error) {
	return l.acquire(ctx, project, 1)
}

// exclusive holds project's policy for a change until unlock is called.
func (l *policyLocks) exclusive(ctx context.Context, project string) (unlock func(), err error) {
	return l.acquire(ctx, project, policyLockWeight)
}

func (l *policyLocks) acquire(ctx context.Context, project string, weight int64) (func(), error) {
	l.mu.Lock()
	pl := l.locks[project]
	if pl == nil {
		pl = &policyLock{sem: semaphore.NewWeighted(policyLockWeight)}
		l.locks[project] = pl
	}
	pl.refs++
	l.mu.Unlock()
	if err := pl.sem.Acquire(ctx, weight); err != nil {
		l.release(project, pl)
		return nil, &model.Error{Kind: model.KindConflict, Message: "a change to the policy of project " + project + " did not finish in time; retry", Err: err}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			pl.sem.Release(weight)
			l.release(project, pl)
		})
	}, nil
}

func (l *policyLocks) release(project string, pl *policyLock) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if pl.refs--; pl.refs == 0 {
		delete(l.locks, project)
	}
}
