package keylock

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/artifact-trust/control-plane/model"
)

// bound is a context that only bounds a failing test (a wait that never ends).
func bound(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// refs reports how many goroutines hold or wait for key.
func (l *Locks) refs(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.entries[key]; e != nil {
		return e.refs
	}
	return 0
}

// awaitRefs yields until key has n holders and waiters.
func awaitRefs(t *testing.T, l *Locks, key string, n int) {
	t.Helper()
	for i := 0; l.refs(key) != n; i++ {
		if i > 1e7 {
			t.Fatalf("key %s: %d holders and waiters, want %d", key, l.refs(key), n)
		}
		runtime.Gosched()
	}
}

// awaitQueued yields until a waiter is queued on key, which shared holders (if
// any) hold: a shared acquisition then fails without waiting, as the semaphore
// serves waiters in order.
func awaitQueued(t *testing.T, l *Locks, key string) {
	t.Helper()
	for i := 0; ; i++ {
		l.mu.Lock()
		e := l.entries[key]
		l.mu.Unlock()
		if e != nil {
			if !e.sem.TryAcquire(1) {
				return
			}
			e.sem.Release(1)
		}
		if i > 1e7 {
			t.Fatalf("no waiter queued on %s", key)
		}
		runtime.Gosched()
	}
}

func TestLockAdmitsOneHolderOfAKeyAtATime(t *testing.T) {
	l := New(nil)
	ctx := bound(t)
	var inside, most atomic.Int32
	counter := 0 // unsynchronized but for the lock: -race reports a lapse
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				unlock, err := l.Lock(ctx, "art_1")
				if err != nil {
					t.Error(err)
					return
				}
				n := inside.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				counter++
				inside.Add(-1)
				unlock()
			}
		}()
	}
	wg.Wait()
	if counter != 16*500 || most.Load() != 1 {
		t.Fatalf("counter %d (want %d), at most %d holders at once (want 1)", counter, 16*500, most.Load())
	}
	if n := l.Len(); n != 0 {
		t.Fatalf("%d entries left", n)
	}
}

func TestDifferentKeysNeverWaitForEachOther(t *testing.T) {
	l := New(nil)
	ctx := bound(t)
	var held []func()
	for i := 0; i < 1000; i++ {
		unlock, err := l.Lock(ctx, fmt.Sprintf("k%d", i))
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, unlock)
	}
	if n := l.Len(); n != 1000 {
		t.Fatalf("%d entries for 1000 held keys", n)
	}
	for _, unlock := range held {
		unlock()
	}
	if n := l.Len(); n != 0 {
		t.Fatalf("%d entries left", n)
	}
}

func TestAWaitCancelledEndsAsConflictAndLeavesNothingBehind(t *testing.T) {
	l := New(func(key string) string { return "the policy of project " + key })
	unlock, err := l.RLock(bound(t), "payments")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() {
		_, err := l.Lock(ctx, "payments")
		got <- err
	}()
	awaitQueued(t, l, "payments") // the waiter waits
	cancel()
	err = <-got
	var me *model.Error
	if !errors.As(err, &me) || me.Kind != model.KindConflict || !errors.Is(err, context.Canceled) ||
		me.Message != "another change to the policy of project payments did not finish in time; retry" {
		t.Fatalf("cancelled wait: %v", err)
	}
	if n := l.refs("payments"); n != 1 {
		t.Fatalf("%d holders and waiters after the waiter gave up, want the holder", n)
	}
	unlock()
	unlock() // a second call changes nothing
	if n := l.Len(); n != 0 {
		t.Fatalf("%d entries left", n)
	}
	// The key is free again, for anybody.
	again, err := l.Lock(bound(t), "payments")
	if err != nil {
		t.Fatal(err)
	}
	again()

	// A context already done gets a free key (nobody holds it: no conflict to
	// report), and fails at once on a held one, as a conflict that tells the
	// deadline apart.
	done, cancelDone := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancelDone()
	free, err := l.Lock(done, "billing")
	if err != nil {
		t.Fatalf("free key with an expired context: %v", err)
	}
	if _, err := l.Lock(done, "billing"); !model.IsKind(err, model.KindConflict) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("held key with an expired context: %v", err)
	}
	free()
	if n := l.Len(); n != 0 {
		t.Fatalf("%d entries left after a failed lock", n)
	}
}

func TestSharedHoldersShareAndAWaitingExclusiveIsNotOvertaken(t *testing.T) {
	l := New(nil)
	ctx := bound(t)
	r1, err := l.RLock(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := l.RLock(ctx, "p") // shared holders do not wait for each other
	if err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 2)
	exclusiveUnlock := make(chan func(), 1)
	go func() {
		unlock, err := l.Lock(ctx, "p")
		if err != nil {
			t.Error(err)
		}
		order <- "exclusive"
		exclusiveUnlock <- unlock
	}()
	awaitQueued(t, l, "p")
	go func() {
		unlock, err := l.RLock(ctx, "p")
		if err != nil {
			t.Error(err)
			return
		}
		order <- "shared after"
		unlock()
	}()
	awaitRefs(t, l, "p", 4)
	select {
	case who := <-order:
		t.Fatalf("%s got the key while two shared holders held it", who)
	default:
	}
	r1()
	r2()
	if who := <-order; who != "exclusive" {
		t.Fatalf("%s went first; the waiting exclusive holder was overtaken", who)
	}
	// The later shared holder waits for the exclusive one.
	awaitRefs(t, l, "p", 2)
	select {
	case who := <-order:
		t.Fatalf("%s got the key while it was held exclusively", who)
	default:
	}
	(<-exclusiveUnlock)()
	if who := <-order; who != "shared after" {
		t.Fatal(who)
	}
	awaitRefs(t, l, "p", 0)
	if n := l.Len(); n != 0 {
		t.Fatalf("%d entries left", n)
	}
}

func TestManyKeysUnderContentionLeaveNoEntries(t *testing.T) {
	l := New(nil)
	ctx := bound(t)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 5000; i++ {
				key := fmt.Sprintf("k%d", (i*7+g)%997) // keys shared between goroutines
				lock := l.Lock
				if i%3 == 0 {
					lock = l.RLock
				}
				unlock, err := lock(ctx, key)
				if err != nil {
					t.Error(err)
					return
				}
				unlock()
				// and an already expired context: a give-up when the key is
				// held, the key when it is free
				short, cancel := context.WithCancel(ctx)
				cancel()
				if unlock, err := l.Lock(short, key); err == nil {
					unlock()
				} else if !errors.Is(err, context.Canceled) {
					t.Error(err)
				}
			}
		}(g)
	}
	wg.Wait()
	if n := l.Len(); n != 0 {
		t.Fatalf("%d entries left after 40,000 locks of 997 keys", n)
	}
}
