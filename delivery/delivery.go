// Package delivery sends every audit event of a project to the project's webhooks,
// at least once, from any replica.
//
// Design (why the feed is the queue). Every artifact write reaches the project's
// audit feed through the store's outbox (an event is in the feed, or its outbox
// entry is, until a repairer puts it there), so the feed is already a durable,
// crash-safe record of every event, written by whichever replica took the write.
// Each webhook has a delivery queue document holding its position in the feed (in
// the order of writing, store.FeedPos) and the deliveries not sent yet. A sender
// reads the events after the position, sends them, writes their delivery records,
// then moves the position on in one write of the queue document. A crash before
// that write sends the same events again after the restart (same webhook-id, a
// duplicate the receiver can recognize); nothing between the event's write and its
// delivery record can be lost, and the mutation path does no delivery work at all
// (a slow or dead receiver never slows the API). Compared with writing one delivery
// document per webhook with every event, this costs no write in the mutation path
// and one _id look-up of the feed head per poll, which the embedded engine serves
// cheaply.
//
// The project trail (project.policy, project.freeze, project.unfreeze,
// project.key_added, project.key_revoked, project.webhook) is not in the feed: its
// entries are written in the same document write as the changes they record (the
// policy, key and webhook documents, append-only, each entry with a number that never
// changes), so they are already as durable as the feed. Rather than copying them
// into a per-project log (which, without transactions, would need an outbox of its
// own), a sender walks them as a second source (store/trailwalk.go) with a second
// position in the same queue document, moved in the same write as the feed's: the
// same crash discipline, the same stable ids (named after the entry). The trail is
// read once per MinStep/2 for all of a project's senders, with the webhooks as the
// dispatcher last listed them (every DiscoverInterval, at once after a local
// change).
//
// A sender whose queue write fails keeps the step's outcome and records it before
// it sends anything else, so a failing database does not turn the retry loop into
// one attempt per step regardless of the backoff. A webhook that stops sending
// (inactive, disabled by a 410, deleted) leaves no retry queued: its sender (and the
// service, when an admin made the change) makes them DEAD, or deletes a deleted
// webhook's queue and records.
//
// Several replicas: each webhook is sent by the replica holding the lease in its
// queue document (renewed with every write of the queue, taken over when it
// expires), so replicas do not double-send on purpose. Every replica polls the feed
// (PollInterval), so events written through any replica are sent; the replica that
// wrote an event wakes its own senders at once.
package delivery

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
	"github.com/artifact-trust/control-plane/store"
	"github.com/artifact-trust/control-plane/webhook"
)

// Config tunes a Dispatcher; zero fields take the defaults.
type Config struct {
	// RetryFor is how long a delivery is retried before it is DEAD (24 h).
	RetryFor time.Duration
	// RetryMin and RetryMax bound the exponential backoff between attempts (5 s,
	// 1 h); each delay is jittered down by up to half.
	RetryMin, RetryMax time.Duration
	// PollInterval is how often the feed is read for events other replicas wrote
	// (1 s).
	PollInterval time.Duration
	// DiscoverInterval is how often webhooks created elsewhere are looked for (5 s).
	DiscoverInterval time.Duration
	// Lease is how long a sender holds a webhook without renewing (30 s).
	Lease time.Duration
	// Batch is the most events a sender takes from the feed at once (64).
	Batch int
	// MaxPending bounds the deliveries waiting for a retry per webhook; beyond it
	// the sender stops taking new events (they wait in the feed) (1000).
	MaxPending int
	// Concurrency is the most requests in flight per webhook (16).
	Concurrency int
	// MinStep is the least time between two reads of a webhook's queue and feed
	// (500 ms): writes in quick succession are sent together, so senders cost the
	// database a few reads per MinStep, not a few per write.
	MinStep time.Duration
}

func (c *Config) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&c.RetryFor, 24*time.Hour)
	set(&c.RetryMin, 5*time.Second)
	set(&c.RetryMax, time.Hour)
	set(&c.PollInterval, time.Second)
	set(&c.DiscoverInterval, 5*time.Second)
	set(&c.Lease, 30*time.Second)
	set(&c.MinStep, 500*time.Millisecond)
	if c.Batch <= 0 {
		c.Batch = 64
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 1000
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 16
	}
}

// Store is what delivery needs from persistence (*store.Store).
type Store interface {
	Webhooks(ctx context.Context, project string, includeDeleted bool) ([]*model.Webhook, error)
	GetWebhook(ctx context.Context, id string) (*model.Webhook, error)
	PutWebhook(ctx context.Context, w *model.Webhook) error
	LoadQueue(ctx context.Context, webhookID string) (store.DeliveryQueue, error)
	UpdateQueue(ctx context.Context, webhookID, project string, fn func(q *store.DeliveryQueue) (bool, error)) error
	FeedEnd(ctx context.Context, project string) (store.FeedPos, error)
	FeedSince(ctx context.Context, project string, pos store.FeedPos, limit int) ([]store.FeedEvent, store.FeedPos, error)
	TrailHead(ctx context.Context, project string, hooks []*model.Webhook) (*store.TrailHead, error)
	TrailSince(ctx context.Context, h *store.TrailHead, pos store.TrailPos) ([]store.TrailEvent, store.TrailPos, error)
	GetDeliveries(ctx context.Context, webhookID, project string, seqs []int) (map[int]*model.WebhookDelivery, error)
	PutDeliveries(ctx context.Context, webhookID, project string, ds []*model.WebhookDelivery) error
	RecordAttempts(ctx context.Context, webhookID, project string, ds []*model.WebhookDelivery, read []*store.DeliveryState) (map[int]bool, error)
	RetireQueue(ctx context.Context, webhookID, project, reason string) (int, error)
	PurgeDeliveries(ctx context.Context, webhookID string) error
}

var _ Store = (*store.Store)(nil)

// Dispatcher runs one sender per active webhook.
type Dispatcher struct {
	cfg    Config
	store  Store
	client *webhook.Client
	log    *logrus.Entry
	owner  string
	now    func() time.Time

	mu      sync.Mutex
	senders map[string]*sender // by webhook id
	// hooks are every project's webhooks (deleted ones too) as last listed, for
	// the project.webhook entries of the trail; heads caches each project's trail
	// for a moment, read once for all its senders.
	hooks map[string][]*model.Webhook
	heads map[string]cachedHead
	ctx   context.Context
	wg    sync.WaitGroup
	wake  chan struct{}
}

var _ service.Observer = (*Dispatcher)(nil)

// New makes a dispatcher; Run starts it.
func New(st Store, client *webhook.Client, log *logrus.Entry, cfg Config) *Dispatcher {
	cfg.defaults()
	var b [6]byte
	_, _ = crand.Read(b[:])
	return &Dispatcher{
		cfg: cfg, store: st, client: client, log: log.WithField("component", "webhooks"),
		owner: hex.EncodeToString(b[:]), now: time.Now, senders: map[string]*sender{}, wake: make(chan struct{}, 1),
		hooks: map[string][]*model.Webhook{}, heads: map[string]cachedHead{},
	}
}

// RetryFor is the retry period of a delivery.
func (d *Dispatcher) RetryFor() time.Duration { return d.cfg.RetryFor }

// Run discovers webhooks and runs their senders until ctx ends, then waits for
// them to stop.
func (d *Dispatcher) Run(ctx context.Context) {
	d.mu.Lock()
	d.ctx = ctx
	d.mu.Unlock()
	t := time.NewTicker(d.cfg.DiscoverInterval)
	defer t.Stop()
	for {
		d.discover(ctx)
		select {
		case <-ctx.Done():
			d.wg.Wait()
			return
		case <-t.C:
		case <-d.wake:
		}
	}
}

// Changed is told that a webhook changed: its sender starts, stops or wakes.
func (d *Dispatcher) Changed(id string) {
	d.mu.Lock()
	if s := d.senders[id]; s != nil {
		s.stale.Store(true)
		s.poke()
	}
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Committed wakes the senders of the events' project (this replica wrote them).
func (d *Dispatcher) Committed(events []model.AuditEvent) {
	if len(events) == 0 {
		return
	}
	p := events[0].Project
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.senders {
		if s.project == p {
			s.poke()
		}
	}
}

// Denied is ignored.
func (d *Dispatcher) Denied(string, []string) {}

func (d *Dispatcher) discover(ctx context.Context) {
	hooks, err := d.store.Webhooks(ctx, "", true)
	if err != nil {
		if ctx.Err() == nil {
			d.log.WithError(err).Warn("listing webhooks failed; retrying")
		}
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	byProject := map[string][]*model.Webhook{}
	for _, w := range hooks {
		byProject[w.Project] = append(byProject[w.Project], w)
	}
	d.hooks = byProject
	for _, w := range hooks {
		if w.Deleted || !w.Active || d.senders[w.ID] != nil {
			continue
		}
		s := &sender{d: d, id: w.ID, project: w.Project, wake: make(chan struct{}, 1)}
		d.senders[w.ID] = s
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			s.run(ctx)
			d.mu.Lock()
			delete(d.senders, s.id)
			d.mu.Unlock()
		}()
	}
}

type cachedHead struct {
	head *store.TrailHead
	at   time.Time
}

// trailHead returns project's trail, read at most once per MinStep/2 for all the
// project's senders, with the webhooks as last listed.
func (d *Dispatcher) trailHead(ctx context.Context, project string) (*store.TrailHead, error) {
	d.mu.Lock()
	c, ok := d.heads[project]
	hooks := d.hooks[project]
	d.mu.Unlock()
	if ok && time.Since(c.at) < d.cfg.MinStep/2 {
		return c.head, nil
	}
	at := time.Now()
	h, err := d.store.TrailHead(ctx, project, hooks)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.heads[project] = cachedHead{head: h, at: at}
	d.mu.Unlock()
	return h, nil
}

// sender sends one webhook's deliveries.
type sender struct {
	d       *Dispatcher
	id      string
	project string
	wake    chan struct{}

	// hook is the webhook as last read, at hookAt; stale makes the next step read
	// it again (it changed in this replica).
	hook   *model.Webhook
	hookAt time.Time
	stale  atomic.Bool
	// unsaved is the outcome of a step that could not be recorded yet.
	unsaved *outcome
}

// webhook returns the webhook, read again when it changed in this replica or
// every DiscoverInterval (changes made through another replica).
func (s *sender) webhook(ctx context.Context) (*model.Webhook, error) {
	if s.hook != nil && !s.stale.Load() && time.Since(s.hookAt) < s.d.cfg.DiscoverInterval {
		return s.hook, nil
	}
	s.stale.Store(false)
	w, err := s.d.store.GetWebhook(ctx, s.id)
	if err != nil {
		return nil, err
	}
	s.hook, s.hookAt = w, time.Now()
	return w, nil
}

func (s *sender) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// errStop ends a sender: its webhook is gone, inactive or sent by another replica.
var errStop = errors.New("sender stops")

func (s *sender) run(ctx context.Context) {
	log := s.d.log.WithField("webhook_id", s.id)
	failures := 0
	for ctx.Err() == nil {
		started := time.Now()
		next, err := s.step(ctx)
		if errors.Is(err, errStop) {
			return
		}
		wait := s.d.cfg.PollInterval
		switch {
		case err != nil:
			failures++
			if ctx.Err() == nil && failures&(failures-1) == 0 {
				log.WithError(err).WithField("failures", failures).Warn("webhook sender step failed; retrying")
			}
			wait = min(time.Duration(failures)*200*time.Millisecond, 5*time.Second)
		case next.IsZero():
			failures = 0
			continue // more to send at once
		default:
			failures = 0
			if until := time.Until(next); until < wait {
				wait = max(until, 0)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
		if rest := s.d.cfg.MinStep - time.Since(started); rest > 0 {
			t := time.NewTimer(rest)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
}

// step sends what is due and returns when the next thing is due (zero: at once).
func (s *sender) step(ctx context.Context) (time.Time, error) {
	cfg, st := &s.d.cfg, s.d.store
	if s.unsaved != nil {
		if done, err := s.finish(ctx, s.unsaved); done || err != nil {
			return time.Time{}, err
		}
		return time.Time{}, nil // recorded: go on at once
	}
	w, err := s.webhook(ctx)
	if model.IsKind(err, model.KindNotFound) {
		return time.Time{}, errStop
	}
	if err != nil {
		return time.Time{}, err
	}
	if w.Deleted || !w.Active {
		return time.Time{}, s.retire(ctx, w)
	}
	now := s.d.now()
	q, err := st.LoadQueue(ctx, s.id)
	if err != nil {
		return time.Time{}, err
	}
	if q.LeaseOwner != s.d.owner || time.Until(q.LeaseUntil) < cfg.Lease/2 {
		claimed := false
		err := st.UpdateQueue(ctx, s.id, s.project, func(cur *store.DeliveryQueue) (bool, error) {
			if cur.LeaseOwner != s.d.owner && cur.LeaseOwner != "" && now.Before(cur.LeaseUntil) {
				claimed = false
				return false, nil
			}
			if !cur.Started {
				end, err := st.FeedEnd(ctx, s.project)
				if err != nil {
					return false, err
				}
				cur.Pos, cur.Started = end, true
			}
			cur.LeaseOwner, cur.LeaseUntil, claimed = s.d.owner, now.Add(cfg.Lease), true
			return true, nil
		})
		if err != nil {
			return time.Time{}, err
		}
		if !claimed {
			// Another replica sends this webhook: look again when its lease may end.
			return now.Add(cfg.Lease / 2), nil
		}
		if q, err = st.LoadQueue(ctx, s.id); err != nil {
			return time.Time{}, err
		}
	}

	// The events written since the queue's position (the feed's and the trail's),
	// and the retries due.
	var fresh []store.FeedEvent
	var changes []store.TrailEvent
	pos, tpos := q.Pos, q.Trail
	read := len(q.Pending) < cfg.MaxPending
	if read {
		if fresh, pos, err = st.FeedSince(ctx, s.project, q.Pos, cfg.Batch); err != nil {
			return time.Time{}, err
		}
		head, err := s.d.trailHead(ctx, s.project)
		if err != nil {
			return time.Time{}, err
		}
		if !q.TrailStarted {
			// A queue placed before the trail was delivered: from its end on.
			tpos = head.End(store.TrailPos{})
		} else if changes, tpos, err = st.TrailSince(ctx, head, q.Trail); err != nil {
			return time.Time{}, err
		}
	}
	trailMoved := read && (!q.TrailStarted || !tpos.Equal(q.Trail))
	more := len(fresh) == cfg.Batch
	var due []store.DeliveryItem
	var later time.Time
	for _, it := range q.Pending {
		if !it.Next.After(now) {
			due = append(due, it)
		} else if later.IsZero() || it.Next.Before(later) {
			later = it.Next
		}
	}
	sort.Slice(due, func(i, j int) bool { return due[i].Next.Before(due[j].Next) })
	if len(due) > cfg.Batch {
		due, more = due[:cfg.Batch], true
	}

	var sends []*send
	nextSeq := q.NextSeq
	for _, fe := range fresh {
		if !w.Wants(fe.Event.Action) {
			continue
		}
		sends = append(sends, &send{rec: &model.WebhookDelivery{
			ID: store.DeliveryID(s.id, nextSeq), WebhookID: s.id, Project: s.project, Seq: nextSeq,
			EventID: webhook.EventID(fe.Event, fe.Key.Seq), Action: fe.Event.Action, Status: model.DeliveryPending,
			CreatedAt: now, Event: fe.Event,
		}, item: store.DeliveryItem{Seq: nextSeq, Next: now, Until: now.Add(cfg.RetryFor)}})
		nextSeq++
	}
	for _, te := range changes {
		if !w.Wants(te.Change.Action) {
			continue
		}
		c := te.Change
		sends = append(sends, &send{rec: &model.WebhookDelivery{
			ID: store.DeliveryID(s.id, nextSeq), WebhookID: s.id, Project: s.project, Seq: nextSeq,
			EventID: te.ID, Action: c.Action, Status: model.DeliveryPending, CreatedAt: now, Change: &c,
		}, item: store.DeliveryItem{Seq: nextSeq, Next: now, Until: now.Add(cfg.RetryFor)}})
		nextSeq++
	}
	if len(due) > 0 {
		seqs := make([]int, len(due))
		for i, it := range due {
			seqs[i] = it.Seq
		}
		recs, err := st.GetDeliveries(ctx, s.id, s.project, seqs)
		if err != nil {
			return time.Time{}, err
		}
		for _, it := range due {
			r := recs[it.Seq]
			if r == nil {
				continue // lost record: dropped from the queue below
			}
			sends = append(sends, &send{rec: r, item: it, read: store.StateOf(r)})
		}
	}
	if len(sends) == 0 && len(due) == 0 && pos == q.Pos && !trailMoved {
		if later.IsZero() {
			later = now.Add(cfg.PollInterval) // idle: poll the feed again then
		}
		return later, nil
	}

	out := &outcome{sends: sends, due: due, pos: pos, tpos: tpos, read: read, nextSeq: nextSeq}
	out.gone = s.attempt(ctx, w, sends, now)
	if done, err := s.finish(ctx, out); done || err != nil {
		return time.Time{}, err
	}
	if more {
		return time.Time{}, nil
	}
	for _, sd := range sends {
		if sd.rec.Status == model.DeliveryFailed && (later.IsZero() || sd.rec.NextAttemptAt.Before(later)) {
			later = sd.rec.NextAttemptAt
		}
	}
	if later.IsZero() {
		later = now.Add(cfg.PollInterval)
	}
	return later, nil
}

type send struct {
	rec  *model.WebhookDelivery
	item store.DeliveryItem
	// read is the record's state before the attempt (nil: a new delivery); its
	// outcome is recorded only over that state (Store.RecordAttempts).
	read *store.DeliveryState
}

// outcome is what a step sent, to be recorded: the delivery records, then the
// queue (its positions, its next number, the retries still to make).
type outcome struct {
	sends   []*send
	due     []store.DeliveryItem
	pos     store.FeedPos
	tpos    store.TrailPos
	read    bool // the feed and the trail were read (pos, tpos moved)
	nextSeq int
	gone    bool // the receiver answered 410
}

// finish records out; until that succeeds, the sender's next steps only try to
// record it again (they do not send: the attempts made are not sent again before
// their backoff because a database write failed). done reports that the sender
// stops (errStop) or that nothing else is to be done in this step.
func (s *sender) finish(ctx context.Context, out *outcome) (done bool, err error) {
	s.unsaved = out
	lost, err := s.record(ctx, out)
	if err != nil {
		return true, err
	}
	s.unsaved = nil
	if lost {
		return true, errStop
	}
	if out.gone {
		if err := s.disable(ctx, "the receiver answered 410 Gone"); err != nil {
			return true, err
		}
		if _, err := s.d.store.RetireQueue(ctx, s.id, s.project, service.ReasonWebhookGone); err != nil {
			return true, err
		}
		return true, errStop
	}
	return false, nil
}

// record writes the delivery records of out, then its queue (records first: a
// crash in between sends again). An attempt whose record was changed meanwhile
// (made DEAD by a deactivation, queued again by a redelivery) is not recorded, and
// its place in the queue is left as that change made it. lost: another replica
// holds the lease.
func (s *sender) record(ctx context.Context, out *outcome) (lost bool, err error) {
	cfg, st := &s.d.cfg, s.d.store
	recs := make([]*model.WebhookDelivery, len(out.sends))
	read := make([]*store.DeliveryState, len(out.sends))
	for i, sd := range out.sends {
		recs[i], read[i] = sd.rec, sd.read
	}
	var changed map[int]bool
	if len(recs) > 0 {
		if changed, err = st.RecordAttempts(ctx, s.id, s.project, recs, read); err != nil {
			return false, err
		}
	}
	err = st.UpdateQueue(ctx, s.id, s.project, func(cur *store.DeliveryQueue) (bool, error) {
		if cur.LeaseOwner != s.d.owner {
			lost = true
			return false, nil
		}
		lost = false
		cur.Pos, cur.NextSeq = out.pos, max(cur.NextSeq, out.nextSeq)
		if out.read {
			cur.Trail, cur.TrailStarted = out.tpos, true
		}
		done := map[int]bool{}
		for _, it := range out.due {
			done[it.Seq] = !changed[it.Seq]
		}
		cur.Pending = slices.DeleteFunc(cur.Pending, func(it store.DeliveryItem) bool { return done[it.Seq] })
		for _, sd := range out.sends {
			if changed[sd.rec.Seq] {
				continue
			}
			if sd.rec.Status == model.DeliveryFailed || sd.rec.Status == model.DeliveryPending {
				cur.Pending = append(cur.Pending, store.DeliveryItem{Seq: sd.rec.Seq, Next: sd.rec.NextAttemptAt, Until: sd.item.Until})
			}
		}
		cur.LeaseUntil = s.d.now().Add(cfg.Lease)
		return true, nil
	})
	return lost, err
}

// attempt sends each delivery once, a few at a time, and records the outcome in
// its record; it reports whether the receiver answered 410.
func (s *sender) attempt(ctx context.Context, w *model.Webhook, sends []*send, now time.Time) (gone bool) {
	cfg := &s.d.cfg
	secrets := w.Secrets(now)
	sem := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, sd := range sends {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := sd.rec
			body, err := webhook.Body(r)
			var res webhook.Result
			if err != nil {
				res = webhook.Result{Err: errors.New("the event could not be encoded")}
			} else {
				res = s.d.client.Send(ctx, webhook.Message{URL: w.URL, ID: r.EventID, Body: body, Secrets: secrets}, s.d.now())
			}
			at := s.d.now()
			r.Attempts++
			r.LastStatusCode = res.StatusCode
			r.NextAttemptAt = time.Time{}
			switch {
			case res.OK():
				r.Status, r.LastError, r.DeliveredAt = model.DeliveryDelivered, "", at
			case res.StatusCode == 410:
				r.Status, r.LastError = model.DeliveryDead, res.Err.Error()
				mu.Lock()
				gone = true
				mu.Unlock()
			case !at.Before(sd.item.Until):
				r.Status, r.LastError = model.DeliveryDead, res.Err.Error()
			default:
				r.Status, r.LastError = model.DeliveryFailed, res.Err.Error()
				next := at.Add(backoff(r.Attempts, cfg.RetryMin, cfg.RetryMax))
				if next.After(sd.item.Until) {
					next = sd.item.Until // one last attempt at the end of the period
				}
				r.NextAttemptAt = next
			}
		}()
	}
	wg.Wait()
	return gone
}

// backoff is the delay after the n-th failed attempt: min*2^(n-1), at most max,
// less a random part of up to half (jitter, so receivers coming back are not hit
// by every sender at once).
func backoff(n int, lo, hi time.Duration) time.Duration {
	lo, hi = max(lo, time.Millisecond), max(hi, time.Millisecond)
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d - time.Duration(rand.Int64N(int64(d/2)+1))
}

// retire ends what a webhook that no longer sends left queued: a deleted one's
// queue and records are deleted, an inactive one's retries are DEAD. errStop once
// done.
func (s *sender) retire(ctx context.Context, w *model.Webhook) error {
	if w.Deleted {
		if err := s.d.store.PurgeDeliveries(ctx, s.id); err != nil {
			return err
		}
		return errStop
	}
	reason := service.ReasonWebhookDeactivated
	if w.DisabledReason != "" {
		reason = service.ReasonWebhookGone
	}
	if _, err := s.d.store.RetireQueue(ctx, s.id, s.project, reason); err != nil {
		return err
	}
	return errStop
}

// disable marks the webhook inactive with reason.
func (s *sender) disable(ctx context.Context, reason string) error {
	for attempt := 0; attempt < 8; attempt++ {
		w, err := s.d.store.GetWebhook(ctx, s.id)
		if err != nil {
			return err
		}
		if !w.Active || w.Deleted {
			return nil
		}
		w.Active, w.DisabledReason, w.UpdatedAt = false, reason, s.d.now().UTC()
		err = s.d.store.PutWebhook(ctx, w)
		if model.IsKind(err, model.KindConflict) {
			continue
		}
		if err == nil {
			s.d.log.WithField("webhook_id", s.id).WithField("reason", reason).Warn("webhook disabled")
		}
		return err
	}
	return model.Errorf(model.KindConflict, "webhook %s is being changed concurrently", s.id)
}
