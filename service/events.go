package service

import (
	"context"
	"sync"
	"time"

	"github.com/artifact-trust/control-plane/model"
)

// subscriberBuffer is how many events a subscriber may lag behind before it is
// disconnected (its channel closed) rather than slowing down writers.
const subscriberBuffer = 256

// MaxReplay bounds the events a subscription replays from its cursor; a cursor
// older than that is refused (catch up with auditEvents first).
const MaxReplay = 10000

// Broker fans audit events out to live subscribers of their project. It is an
// Observer: writers never block on it.
//
// With a Feed (NewFeedBroker), the events come from the project's audit feed,
// which every replica's writes reach: one poller per project with subscribers in
// this replica (never one per subscriber) reads the feed from where it last read,
// every poll interval and at once when this replica commits an event of the
// project, and hands what it read to every subscriber of the project. So every
// subscriber sees every event whatever replica wrote it. Without a Feed (NewBroker)
// the broker only passes on the events this process commits.
type Broker struct {
	feed Feed
	poll time.Duration

	mu       sync.Mutex
	projects map[string]*projectFeed
}

type projectFeed struct {
	subs map[*subscriber]struct{}
	// pollMu serializes the reads of the feed; pos is where the last one ended.
	pollMu sync.Mutex
	pos    FeedPos
	wake   chan struct{}
	stop   context.CancelFunc
}

type subscriber struct {
	ch     chan FeedEvent
	closed bool
}

var _ Observer = (*Broker)(nil)

// NewBroker makes a broker that passes on the events this process commits.
func NewBroker() *Broker { return &Broker{projects: map[string]*projectFeed{}} }

// NewFeedBroker makes a broker that reads feed every poll interval (and at once
// after a local commit).
func NewFeedBroker(feed Feed, poll time.Duration) *Broker {
	return &Broker{feed: feed, poll: poll, projects: map[string]*projectFeed{}}
}

// Committed delivers each event to the subscribers of its project (without a
// feed), or wakes the project's poller. A subscriber whose buffer is full is
// dropped: its channel is closed so the client learns it missed events and can
// resume from the last cursor it received.
func (b *Broker) Committed(events []model.AuditEvent) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.feed != nil {
		if len(events) > 0 {
			if pf := b.projects[events[0].Project]; pf != nil {
				select {
				case pf.wake <- struct{}{}:
				default:
				}
			}
		}
		return
	}
	for i := range events {
		ev := events[i]
		b.fanOutLocked(ev.Project, []FeedEvent{{Key: FeedKey{At: ev.At.UnixMilli(), ID: ev.ArtifactID, Seq: -1}, Event: ev}})
	}
}

func (b *Broker) fanOutLocked(project string, events []FeedEvent) {
	pf := b.projects[project]
	if pf == nil {
		return
	}
	for _, ev := range events {
		for sub := range pf.subs {
			select {
			case sub.ch <- ev:
			default:
				b.removeLocked(project, sub)
			}
		}
	}
}

// Denied is ignored: refusals are not artifact events.
func (b *Broker) Denied(string, []string) {}

// add registers a subscriber of project. With a feed, it first reads the feed so
// that the subscriber receives exactly the events written after it registered.
func (b *Broker) add(ctx context.Context, project string) (*subscriber, error) {
	sub := &subscriber{ch: make(chan FeedEvent, subscriberBuffer)}
	if b.feed == nil {
		b.mu.Lock()
		b.projectLocked(project).subs[sub] = struct{}{}
		b.mu.Unlock()
		return sub, nil
	}
	for {
		b.mu.Lock()
		pf := b.projects[project]
		if pf == nil {
			// The first subscriber: start the poller at the feed's end.
			b.mu.Unlock()
			end, err := b.feed.FeedEnd(ctx, project)
			if err != nil {
				return nil, err
			}
			b.mu.Lock()
			if b.projects[project] != nil {
				b.mu.Unlock()
				continue // another subscriber started it meanwhile
			}
			pf = b.projectLocked(project)
			pf.pos = end
			pf.subs[sub] = struct{}{}
			pctx, cancel := context.WithCancel(context.Background())
			pf.stop = cancel
			go b.pollLoop(pctx, project, pf)
			b.mu.Unlock()
			return sub, nil
		}
		b.mu.Unlock()
		pf.pollMu.Lock()
		err := b.pollOnce(ctx, project, pf)
		b.mu.Lock()
		if b.projects[project] != pf {
			// The poller stopped meanwhile (its last subscriber left): start over.
			b.mu.Unlock()
			pf.pollMu.Unlock()
			continue
		}
		if err == nil {
			pf.subs[sub] = struct{}{}
		}
		b.mu.Unlock()
		pf.pollMu.Unlock()
		if err != nil {
			return nil, err
		}
		return sub, nil
	}
}

func (b *Broker) projectLocked(project string) *projectFeed {
	pf := b.projects[project]
	if pf == nil {
		pf = &projectFeed{subs: map[*subscriber]struct{}{}, wake: make(chan struct{}, 1)}
		b.projects[project] = pf
	}
	return pf
}

// pollOnce reads the feed after pf.pos and hands the events to the subscribers;
// the caller holds pf.pollMu.
func (b *Broker) pollOnce(ctx context.Context, project string, pf *projectFeed) error {
	events, next, err := b.feed.FeedSince(ctx, project, pf.pos, 0)
	if err != nil {
		return err
	}
	pf.pos = next
	if len(events) > 0 {
		b.mu.Lock()
		if b.projects[project] == pf {
			b.fanOutLocked(project, events)
		}
		b.mu.Unlock()
	}
	return nil
}

func (b *Broker) pollLoop(ctx context.Context, project string, pf *projectFeed) {
	t := time.NewTimer(b.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-pf.wake:
		case <-t.C:
		}
		pf.pollMu.Lock()
		// A failed read is tried again at the next poll: the position stays.
		_ = b.pollOnce(ctx, project, pf)
		pf.pollMu.Unlock()
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(b.poll)
	}
}

func (b *Broker) remove(project string, sub *subscriber) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.removeLocked(project, sub)
}

func (b *Broker) removeLocked(project string, sub *subscriber) {
	if sub.closed {
		return
	}
	sub.closed = true
	close(sub.ch)
	pf := b.projects[project]
	if pf == nil {
		return
	}
	delete(pf.subs, sub)
	if len(pf.subs) == 0 {
		if pf.stop != nil {
			pf.stop()
		}
		delete(b.projects, project)
	}
}

// Total counts every live subscriber.
func (b *Broker) Total() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, pf := range b.projects {
		n += len(pf.subs)
	}
	return n
}

// WithBroker makes the service publish committed events to b and serve
// SubscribeEvents from it.
func WithBroker(b *Broker) Option {
	return func(s *Service) {
		s.broker = b
		s.observers = append(s.observers, b)
	}
}

// WithTokenLeeway makes live streams honour a credential until d past its expiry,
// the clock skew the token verifier tolerates (JWT_LEEWAY): a token the verifier
// accepted inside that leeway gets a working stream, not one that ends at once.
func WithTokenLeeway(d time.Duration) Option {
	return func(s *Service) { s.tokenLeeway = d }
}

// SubscribeEvents streams every audit event of project written from now on, until
// ctx ends or the actor's credential expires (exp plus the token leeway). With
// after (an auditEvents cursor) it first replays every event after that one,
// oldest first, then goes live with no gap and no duplicate: it registers for the
// live events first, then reads the replay, and drops the live events the replay
// held. The actor needs a role in the project; a credential already past its
// expiry is UNAUTHENTICATED.
func (s *Service) SubscribeEvents(ctx context.Context, rq Request, project, after string) (<-chan *model.AuditEvent, error) {
	var ends time.Time
	if !rq.Actor.ExpiresAt.IsZero() {
		ends = rq.Actor.ExpiresAt.Add(s.tokenLeeway)
		if !time.Now().Before(ends) {
			return nil, model.Errorf(model.KindUnauthenticated, "token expired")
		}
	}
	if err := requireRead(rq.Actor, project); err != nil {
		return nil, err
	}
	var cursor *model.Cursor
	if after != "" {
		c, err := model.DecodeCursor(after)
		if err != nil {
			return nil, err
		}
		cursor = &c
	}
	if s.broker == nil {
		return nil, model.Errorf(model.KindInternal, "live events are not enabled on this server")
	}
	if cursor != nil && s.broker.feed == nil {
		return nil, model.Errorf(model.KindInternal, "resuming live events is not enabled on this server")
	}
	sub, err := s.broker.add(ctx, project)
	if err != nil {
		return nil, err
	}
	var replay []FeedEvent
	if cursor != nil {
		if cursor.Feed != nil {
			// Everything written after the cursor's event, in the order of writing.
			replay, _, err = s.broker.feed.FeedSince(ctx, project, FeedPos{Bucket: cursor.Feed.Bucket, Index: cursor.Feed.Index}.next(), MaxReplay+1)
			if err == nil && len(replay) > MaxReplay {
				err = model.BadInput("after", "more than %d events were written after this cursor; read them with auditEvents and subscribe with a newer cursor", MaxReplay)
			}
		} else {
			// A cursor without a feed position: the events after it in auditEvents
			// order.
			replay, err = s.replay(ctx, project, *cursor)
		}
		if err != nil {
			s.broker.remove(project, sub)
			return nil, err
		}
	}
	out := make(chan *model.AuditEvent)
	// The stream ends with the request, or when the actor's credential expires: a
	// subscription never outlives the credential that opened it.
	go func() {
		defer close(out)
		defer s.broker.remove(project, sub)
		var expired <-chan time.Time
		if !ends.IsZero() {
			timer := time.NewTimer(time.Until(ends))
			defer timer.Stop()
			expired = timer.C
		}
		emit := func(ev *model.AuditEvent) bool {
			select {
			case out <- ev:
				return true
			case <-ctx.Done():
			case <-expired:
			}
			return false
		}
		replayed := make(map[FeedKey]bool, len(replay))
		for i := range replay {
			replayed[replay[i].Key] = true
			ev := withCursor(replay[i])
			if !emit(&ev) {
				return
			}
		}
		for {
			select {
			case ev, open := <-sub.ch:
				if !open {
					return
				}
				if replayed[ev.Key] {
					continue
				}
				live := withCursor(ev)
				if !emit(&live) {
					return
				}
			case <-ctx.Done():
				return
			case <-expired:
				return
			}
		}
	}()
	return out, nil
}

// withCursor is the event of e with its cursor (when e was read from the feed).
func withCursor(e FeedEvent) model.AuditEvent {
	ev := e.Event
	if e.Key.Seq >= 0 {
		ev.Cursor = e.Cursor().Encode()
	}
	return ev
}

// replay returns the project's feed events after cursor c, oldest first.
func (s *Service) replay(ctx context.Context, project string, c model.Cursor) ([]FeedEvent, error) {
	from := keyOf(c)
	var out []FeedEvent
	var after *model.Cursor
	for {
		page, err := s.store.AuditEvents(ctx, AuditQuery{Project: project, First: model.MaxPageSize, After: after})
		if err != nil {
			return nil, err
		}
		done := !page.HasNext
		for _, it := range page.Items {
			k := FeedKey{At: it.Event.At.UnixMilli(), ID: it.Event.ArtifactID, Seq: it.Seq}
			if !k.after(from) {
				done = true
				break
			}
			fe := FeedEvent{Key: k, Event: it.Event}
			if it.Feed != nil {
				fe.Pos = FeedPos{Bucket: it.Feed.Bucket, Index: it.Feed.Index}
			}
			out = append(out, fe)
			if len(out) > MaxReplay {
				return nil, model.BadInput("after", "more than %d events were written after this cursor; read them with auditEvents and subscribe with a newer cursor", MaxReplay)
			}
		}
		if done || len(page.Items) == 0 {
			break
		}
		last := page.Items[len(page.Items)-1]
		after = &model.Cursor{At: last.Event.At, ID: last.Event.ArtifactID, Seq: last.Seq}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}
