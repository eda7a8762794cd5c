// Package keylock serializes work on one object inside the process: a lock per
// string key, taken exclusively (Lock) or shared (RLock), waited for until the
// caller's context ends.
//
// Contract:
//
//   - Mutual exclusion per key: while Lock(k) is held nobody else holds k, shared or
//     exclusively; RLock(k) holders share k with each other. Different keys never
//     wait for each other (there is no hashing of keys onto a fixed set of locks).
//   - Waiters are served in arrival order: a waiting Lock is not overtaken by later
//     RLocks, so a stream of shared holders cannot starve an exclusive one.
//   - A wait ends with ctx: it then returns a *model.Error of kind
//     model.KindConflict (the object is busy; retry) that wraps ctx.Err(), so
//     errors.Is(err, context.DeadlineExceeded) tells a deadline. A free key is
//     taken without waiting whatever ctx says: the object is not busy, and an
//     operation whose own deadline has passed is told so by its next step, not
//     answered with a conflict that never happened.
//   - Memory is bounded by what is in use: a key's entry exists only while somebody
//     holds or waits for it, and is dropped by the last unlock or give-up (Len).
//   - unlock is idempotent: calling it again changes nothing.
//   - Locks are not reentrant: taking a key its goroutine already holds waits until
//     ctx ends. Code that holds two keys at once must take them in one global order
//     (see the callers' lock-order notes).
package keylock

import (
	"context"
	"sync"

	"golang.org/x/sync/semaphore"

	"github.com/artifact-trust/control-plane/model"
)

// Locks is a set of per-key locks. Use New; the zero value is not usable.
type Locks struct {
	mu      sync.Mutex
	entries map[string]*entry
	what    func(key string) string
}

type entry struct {
	sem  *semaphore.Weighted
	refs int // holders and waiters
}

// exclusiveWeight is the weight of an exclusive holder: more than the number of
// shared holders there can ever be at once.
const exclusiveWeight = 1 << 40

// New returns an empty set of locks. what names the object a key stands for in the
// error of a wait that ended ("the policy of project p"); nil says "the same
// object".
func New(what func(key string) string) *Locks {
	return &Locks{entries: map[string]*entry{}, what: what}
}

// Lock takes key exclusively, waiting until ctx ends.
func (l *Locks) Lock(ctx context.Context, key string) (unlock func(), err error) {
	return l.acquire(ctx, key, exclusiveWeight)
}

// RLock takes key shared with other RLock holders, waiting until ctx ends.
func (l *Locks) RLock(ctx context.Context, key string) (unlock func(), err error) {
	return l.acquire(ctx, key, 1)
}

// Len is the number of keys held or waited for.
func (l *Locks) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

func (l *Locks) acquire(ctx context.Context, key string, weight int64) (func(), error) {
	l.mu.Lock()
	e := l.entries[key]
	if e == nil {
		e = &entry{sem: semaphore.NewWeighted(exclusiveWeight)}
		l.entries[key] = e
	}
	e.refs++
	l.mu.Unlock()
	if e.sem.TryAcquire(weight) {
		return l.unlocker(key, e, weight), nil
	}
	if err := e.sem.Acquire(ctx, weight); err != nil {
		l.release(key, e)
		what := "the same object"
		if l.what != nil {
			what = l.what(key)
		}
		return nil, &model.Error{Kind: model.KindConflict, Message: "another change to " + what + " did not finish in time; retry", Err: err}
	}
	return l.unlocker(key, e, weight), nil
}

// unlocker is the unlock of a holder of key's entry e with weight.
func (l *Locks) unlocker(key string, e *entry, weight int64) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			e.sem.Release(weight)
			l.release(key, e)
		})
	}
}

func (l *Locks) release(key string, e *entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.refs--; e.refs == 0 {
		delete(l.entries, key)
	}
}
