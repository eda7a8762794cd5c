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

// Broker fans committed audit events out to live subscribers of their project. It
// is an Observer: writers never block on it.
type Broker struct {
	mu   sync.Mutex
	subs map[string]map[*subscriber]struct{}
}

type subscriber struct {
	ch     chan *model.AuditEvent
	closed bool
}

var _ Observer = (*Broker)(nil)

// NewBroker makes an empty broker.
func NewBroker() *Broker { return &Broker{subs: map[string]map[*subscriber]struct{}{}} }

// Committed delivers each event to the subscribers of its project. A subscriber
// whose buffer is full is dropped: its channel is closed so the client learns it
// missed events and can catch up from the audit feed.
func (b *Broker) Committed(events []model.AuditEvent) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range events {
		ev := events[i]
		for sub := range b.subs[ev.Project] {
			select {
			case sub.ch <- &ev:
			default:
				b.removeLocked(ev.Project, sub)
			}
		}
	}
}

// Denied is ignored: refusals are not artifact events.
func (b *Broker) Denied(string, []string) {}

func (b *Broker) add(project string) *subscriber {
	sub := &subscriber{ch: make(chan *model.AuditEvent, subscriberBuffer)}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs[project] == nil {
		b.subs[project] = map[*subscriber]struct{}{}
	}
	b.subs[project][sub] = struct{}{}
	return sub
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
	delete(b.subs[project], sub)
	if len(b.subs[project]) == 0 {
		delete(b.subs, project)
	}
}

// Total counts every live subscriber.
func (b *Broker) Total() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, subs := range b.subs {
		n += len(subs)
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
// ctx ends or the actor's credential expires (exp plus the token leeway). The
// actor needs a role in the project; a credential already past its expiry is
// UNAUTHENTICATED.
func (s *Service) SubscribeEvents(ctx context.Context, rq Request, project string) (<-chan *model.AuditEvent, error) {
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
	if s.broker == nil {
		return nil, model.Errorf(model.KindInternal, "live events are not enabled on this server")
	}
	sub := s.broker.add(project)
	// The stream ends with the request, or when the actor's credential expires: a
	// subscription never outlives the credential that opened it.
	go func() {
		var expired <-chan time.Time
		if !ends.IsZero() {
			timer := time.NewTimer(time.Until(ends))
			defer timer.Stop()
			expired = timer.C
		}
		select {
		case <-ctx.Done():
		case <-expired:
		}
		s.broker.remove(project, sub)
	}()
	return sub.ch, nil
}
