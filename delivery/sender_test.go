package delivery

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
	"github.com/artifact-trust/control-plane/store"
	"github.com/artifact-trust/control-plane/webhook"
)

// faultyStore fails the queue writes it is told to fail.
type faultyStore struct {
	*store.Store
	failQueue atomic.Int32 // queue writes still to fail
	failed    atomic.Int32
	savedMu   sync.Mutex
	saved     int // queue writes that succeeded after a failure
}

func (f *faultyStore) UpdateQueue(ctx context.Context, id, project string, fn func(q *store.DeliveryQueue) (bool, error)) error {
	if f.failQueue.Load() > 0 {
		f.failQueue.Add(-1)
		f.failed.Add(1)
		return errors.New("injected: the queue write failed")
	}
	err := f.Store.UpdateQueue(ctx, id, project, fn)
	if err == nil && f.failed.Load() > 0 {
		f.savedMu.Lock()
		f.saved++
		f.savedMu.Unlock()
	}
	return err
}

func (f *faultyStore) savedAfterFailures() int {
	f.savedMu.Lock()
	defer f.savedMu.Unlock()
	return f.saved
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	return st
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not reached: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestASenderWhoseQueueWriteFailsDoesNotSendAgainBeforeTheBackoff: a step sends
// an event (the receiver answers 500, the next attempt is an hour away) and then
// cannot write its queue several times in a row; the steps that follow record
// that attempt (records, then the queue) before anything else, instead of sending
// the event again at every step with no regard for its backoff.
func TestASenderWhoseQueueWriteFailsDoesNotSendAgainBeforeTheBackoff(t *testing.T) {
	st := &faultyStore{Store: openStore(t)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var requests atomic.Int32
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			st.failQueue.Store(5) // the step that sent it cannot record it, 5 times
		}
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer rc.Close()

	now := time.Now().UTC()
	hook := &model.Webhook{ID: "wh_test", Project: "p", URL: rc.URL + "/hook", Active: true, Secret: model.NewWebhookSecret(), CreatedAt: now, UpdatedAt: now}
	if err := st.InsertWebhook(ctx, hook); err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetLevel(logrus.ErrorLevel)
	d := New(st, webhook.NewClient(webhook.NewGuard([]string{"127.0.0.1"})), logrus.NewEntry(log), Config{
		RetryMin: time.Hour, RetryMax: time.Hour, PollInterval: 10 * time.Millisecond, DiscoverInterval: 20 * time.Millisecond, MinStep: 10 * time.Millisecond,
	})
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// One project trail event to send.
	change := model.PolicyChange{Action: model.ActionPolicy, Project: "p", Actor: "ada", ActorType: model.ActorUser, ToVersion: 1, CorrelationID: "c1", At: now}
	if err := st.PutPolicy(ctx, &model.Policy{Project: "p", Version: 1, UpdatedAt: now, UpdatedBy: "ada"}, change); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the attempt recorded after the failed queue writes", func() bool { return st.savedAfterFailures() > 0 })
	if n := st.failed.Load(); n != 5 {
		t.Fatalf("%d queue writes failed, want 5", n)
	}
	if n := requests.Load(); n != 1 {
		t.Fatalf("the receiver got %d requests while the queue write failed, want 1 (the next attempt is due in an hour)", n)
	}
	q, err := st.LoadQueue(ctx, hook.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(q.Pending) != 1 || q.Pending[0].Next.Before(now.Add(30*time.Minute)) {
		t.Fatalf("queue pending %+v, want the failed delivery due in about an hour", q.Pending)
	}
	recs, err := st.GetDeliveries(ctx, hook.ID, "p", []int{q.Pending[0].Seq})
	if err != nil {
		t.Fatal(err)
	}
	if r := recs[q.Pending[0].Seq]; r == nil || r.Attempts != 1 || r.Status != model.DeliveryFailed || r.Change == nil || r.EventID != "project/p/policy/0" {
		t.Fatalf("delivery record %+v, want one FAILED attempt of the policy change", r)
	}
}

// TestTheSenderOfADeletedWebhookDeletesItsQueueAndRecords: records and a queued
// retry written after the webhook was deleted (by a sender still running, here or
// on another replica) are deleted by that sender once it sees the deletion.
func TestTheSenderOfADeletedWebhookDeletesItsQueueAndRecords(t *testing.T) {
	st := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer rc.Close()
	now := time.Now().UTC()
	hook := &model.Webhook{ID: "wh_del", Project: "p", URL: rc.URL + "/hook", Active: true, Secret: model.NewWebhookSecret(), CreatedAt: now, UpdatedAt: now}
	if err := st.InsertWebhook(ctx, hook); err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetLevel(logrus.ErrorLevel)
	d := New(st, webhook.NewClient(webhook.NewGuard([]string{"127.0.0.1"})), logrus.NewEntry(log), Config{
		PollInterval: 10 * time.Millisecond, DiscoverInterval: time.Hour, MinStep: 10 * time.Millisecond,
	})
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "the sender to hold the lease", func() bool {
		q, err := st.LoadQueue(ctx, hook.ID)
		return err == nil && q.LeaseOwner != ""
	})

	// Records (two buckets) and a retry, then the deletion.
	var recs []*model.WebhookDelivery
	for _, n := range []int{0, 1, 70} {
		recs = append(recs, &model.WebhookDelivery{ID: store.DeliveryID(hook.ID, n), WebhookID: hook.ID, Project: "p", Seq: n, EventID: "e", Action: "app_artifact.register", Status: model.DeliveryFailed, CreatedAt: now})
	}
	if err := st.PutDeliveries(ctx, hook.ID, "p", recs); err != nil {
		t.Fatal(err)
	}
	if err := st.UpdateQueue(ctx, hook.ID, "p", func(q *store.DeliveryQueue) (bool, error) {
		q.NextSeq = 71
		q.Pending = append(q.Pending, store.DeliveryItem{Seq: 70, Next: now.Add(time.Hour), Until: now.Add(2 * time.Hour)})
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	hook.Deleted, hook.Active = true, false
	if err := st.PutWebhook(ctx, hook); err != nil {
		t.Fatal(err)
	}
	d.Changed(hook.ID)
	waitFor(t, "the queue deleted", func() bool {
		q, err := st.LoadQueue(ctx, hook.ID)
		return err == nil && q.Version == 0
	})
	left, err := st.GetDeliveries(ctx, hook.ID, "p", []int{0, 1, 70})
	if err != nil || len(left) != 0 {
		t.Fatalf("records left: %v %v", left, err)
	}
}

// queueWatch calls after, once armed, with the first queue write that follows.
type queueWatch struct {
	*store.Store
	armed atomic.Bool
	after func()
}

func (w *queueWatch) UpdateQueue(ctx context.Context, id, project string, fn func(q *store.DeliveryQueue) (bool, error)) error {
	err := w.Store.UpdateQueue(ctx, id, project, fn)
	if w.armed.CompareAndSwap(true, false) {
		w.after()
	}
	return err
}

// TestARetryInFlightWhenTheWebhookIsDeactivatedLeavesItsDeliveryDead: a retry is
// being sent when the webhook is deactivated (which makes its queued deliveries
// DEAD); the attempt's outcome, recorded after, does not bring the delivery back
// as FAILED with a retry queued: it stays DEAD, naming the deactivation.
func TestARetryInFlightWhenTheWebhookIsDeactivatedLeavesItsDeliveryDead(t *testing.T) {
	w := &queueWatch{Store: openStore(t)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var requests atomic.Int32
	inFlight, release := make(chan struct{}), make(chan struct{})
	rc := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 2 {
			close(inFlight)
			<-release
		}
		rw.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer rc.Close()
	now := time.Now().UTC()
	hook := &model.Webhook{ID: "wh_off", Project: "p", URL: rc.URL + "/hook", Active: true, Secret: model.NewWebhookSecret(), CreatedAt: now, UpdatedAt: now}
	if err := w.InsertWebhook(ctx, hook); err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetLevel(logrus.ErrorLevel)
	d := New(w, webhook.NewClient(webhook.NewGuard([]string{"127.0.0.1"})), logrus.NewEntry(log), Config{
		RetryMin: 20 * time.Millisecond, RetryMax: 20 * time.Millisecond, RetryFor: time.Hour,
		PollInterval: 10 * time.Millisecond, DiscoverInterval: 20 * time.Millisecond, MinStep: 10 * time.Millisecond,
	})
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	change := model.PolicyChange{Action: model.ActionPolicy, Project: "p", Actor: "ada", ActorType: model.ActorUser, ToVersion: 1, CorrelationID: "c1", At: now}
	if err := w.PutPolicy(ctx, &model.Policy{Project: "p", Version: 1, UpdatedAt: now, UpdatedBy: "ada"}, change); err != nil {
		t.Fatal(err)
	}
	select {
	case <-inFlight:
	case <-time.After(30 * time.Second):
		t.Fatal("the retry was not sent")
	}
	// The deactivation, as the service makes it, while the retry is in flight.
	hook.Active, hook.UpdatedAt = false, time.Now().UTC()
	if err := w.PutWebhook(ctx, hook); err != nil {
		t.Fatal(err)
	}
	if n, err := w.RetireQueue(ctx, hook.ID, "p", service.ReasonWebhookDeactivated); err != nil || n != 1 {
		t.Fatalf("the deactivation made %d deliveries DEAD (%v), want 1", n, err)
	}
	type seen struct {
		rec     *model.WebhookDelivery
		pending []store.DeliveryItem
	}
	recorded := make(chan seen, 1)
	w.after = func() {
		recs, _ := w.GetDeliveries(context.Background(), hook.ID, "p", []int{0})
		q, _ := w.LoadQueue(context.Background(), hook.ID)
		recorded <- seen{recs[0], q.Pending}
	}
	w.armed.Store(true)
	close(release)
	var got seen
	select {
	case got = <-recorded:
	case <-time.After(30 * time.Second):
		t.Fatal("the attempt in flight was not recorded")
	}
	if got.rec == nil || got.rec.Status != model.DeliveryDead || !strings.Contains(got.rec.LastError, "deactivated") || got.rec.Attempts != 1 || len(got.pending) != 0 {
		t.Fatalf("after the attempt in flight was recorded: %+v, queued %v; want DEAD naming the deactivation, 1 attempt, nothing queued", got.rec, got.pending)
	}
}
