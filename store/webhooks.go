package store

// Webhooks and their deliveries (see also feedwalk.go and the delivery package).
//
// Collections, addressed by _id only (cheap on the embedded engine):
//
//	webhooks            one document per webhook (_id its id), plain fields for
//	                    mongosh readers, the signing secrets and the webhook's part of
//	                    the project trail (project.webhook changes). A deleted webhook
//	                    stays as a tombstone without secrets, for the trail. Listing a
//	                    project's webhooks (the API, the dispatcher's discovery, the
//	                    project trail) reads the collection: O(webhooks), which are
//	                    few (model.MaxWebhooksPerProject per project).
//	webhook_deliveries  q:<webhookId>       the webhook's delivery queue: its
//	                                        position in the project's feed, the
//	                                        next delivery number, the deliveries
//	                                        still to send (number, when) and the
//	                                        lease of the replica sending them
//	                    d:<webhookId>#<k>   delivery records k*deliveryBucketCap ..
//	                                        (k+1)*deliveryBucketCap-1, each with its
//	                                        event, status and attempts (packed
//	                                        and deflated like the projections)
//
// A delivery's id is "<webhookId>:<number>". The queue is the only thing a sender
// advances; records beyond the queue's next number are left by a sender that died
// before it advanced the queue: they are not listed, and the next sender overwrites
// them.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

const (
	webhooksCollection   = "webhooks"
	deliveriesCollection = "webhook_deliveries"
	// deliveryBucketCap is the number of delivery records per bucket document.
	deliveryBucketCap = 64
)

type webhookChangeDoc struct {
	Action        string          `bson:"action"`
	Actor         string          `bson:"actor"`
	ActorType     model.ActorType `bson:"actorType"`
	FromVersion   int64           `bson:"fromVersion"`
	ToVersion     int64           `bson:"toVersion"`
	CorrelationID string          `bson:"correlationId"`
	At            time.Time       `bson:"at"`
	Reason        string          `bson:"reason,omitempty"`
}

type webhookDoc struct {
	ID             string             `bson:"_id"`
	Project        string             `bson:"project"`
	URL            string             `bson:"url"`
	Actions        []string           `bson:"actions"`
	Active         bool               `bson:"active"`
	DisabledReason string             `bson:"disabledReason,omitempty"`
	CreatedBy      string             `bson:"createdBy"`
	CreatedAt      time.Time          `bson:"createdAt"`
	UpdatedAt      time.Time          `bson:"updatedAt"`
	Secret         string             `bson:"secret,omitempty"`
	Previous       string             `bson:"previousSecret,omitempty"`
	PreviousUntil  time.Time          `bson:"previousUntil,omitempty"`
	Deleted        bool               `bson:"deleted,omitempty"`
	Changes        []webhookChangeDoc `bson:"changes"`
	Version        int64              `bson:"version"`
}

func toWebhookDoc(w *model.Webhook) webhookDoc {
	d := webhookDoc{
		ID: w.ID, Project: w.Project, URL: w.URL, Actions: nonNil(w.Actions), Active: w.Active,
		DisabledReason: w.DisabledReason, CreatedBy: w.CreatedBy, CreatedAt: ms(w.CreatedAt), UpdatedAt: ms(w.UpdatedAt),
		Secret: w.Secret.Reveal(), Previous: w.Previous.Reveal(), Deleted: w.Deleted, Version: int64(w.Version),
		Changes: []webhookChangeDoc{},
	}
	if !w.PreviousUntil.IsZero() {
		d.PreviousUntil = ms(w.PreviousUntil)
	}
	for _, c := range w.Changes {
		d.Changes = append(d.Changes, webhookChangeDoc{
			Action: c.Action, Actor: c.Actor, ActorType: c.ActorType, FromVersion: int64(c.FromVersion), ToVersion: int64(c.ToVersion),
			CorrelationID: c.CorrelationID, At: ms(c.At), Reason: c.Reason,
		})
	}
	return d
}

func (d webhookDoc) model() *model.Webhook {
	w := &model.Webhook{
		ID: d.ID, Project: d.Project, URL: d.URL, Actions: nonNil(d.Actions), Active: d.Active,
		DisabledReason: d.DisabledReason, CreatedBy: d.CreatedBy, CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(),
		Secret: model.WebhookSecret(d.Secret), Previous: model.WebhookSecret(d.Previous), Deleted: d.Deleted,
		Version: int(d.Version),
	}
	if !d.PreviousUntil.IsZero() {
		w.PreviousUntil = d.PreviousUntil.UTC()
	}
	for _, c := range d.Changes {
		w.Changes = append(w.Changes, model.PolicyChange{
			Action: c.Action, Project: d.Project, Actor: c.Actor, ActorType: c.ActorType, FromVersion: int(c.FromVersion),
			ToVersion: int(c.ToVersion), CorrelationID: c.CorrelationID, At: c.At.UTC(), Reason: c.Reason,
		})
	}
	return w
}

// InsertWebhook stores a new webhook (version 1), its delivery queue first, placed
// at the end of the project's feed and trail (its own creation counts as taken): it
// receives the events written from then on.
func (s *Store) InsertWebhook(ctx context.Context, w *model.Webhook) error {
	w.Version = 1
	if err := s.placeQueue(ctx, w.ID, w.Project, w); err != nil {
		return err
	}
	if _, err := s.webhookDocs.InsertOne(ctx, toWebhookDoc(w)); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return model.Errorf(model.KindConflict, "webhook %s exists already", w.ID)
		}
		return mapErr(err, "insert webhook")
	}
	return nil
}

// GetWebhook loads a webhook (a deleted one too) by id.
func (s *Store) GetWebhook(ctx context.Context, id string) (*model.Webhook, error) {
	var d webhookDoc
	err := s.webhookDocs.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, model.Errorf(model.KindNotFound, "webhook %s not found", id)
	}
	if err != nil {
		return nil, mapErr(err, "get webhook")
	}
	return d.model(), nil
}

// PutWebhook stores w as version w.Version+1 if the stored version is still
// w.Version; otherwise model.KindConflict. On success w.Version is the new one.
func (s *Store) PutWebhook(ctx context.Context, w *model.Webhook) error {
	unlock, err := s.lockDoc(ctx, webhooksCollection, w.ID)
	if err != nil {
		return err
	}
	defer unlock()
	var cur struct {
		Version int64 `bson:"version"`
	}
	err = s.webhookDocs.FindOne(ctx, bson.D{{Key: "_id", Value: w.ID}}).Decode(&cur)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return model.Errorf(model.KindNotFound, "webhook %s not found", w.ID)
	}
	if err != nil {
		return mapErr(err, "get webhook")
	}
	if cur.Version != int64(w.Version) {
		return model.Errorf(model.KindConflict, "webhook %s was changed by another request; try again", w.ID)
	}
	d := toWebhookDoc(w)
	d.Version = int64(w.Version) + 1
	filter := bson.D{{Key: "_id", Value: w.ID}}
	if !s.Exclusive() {
		filter = append(filter, bson.E{Key: "version", Value: int64(w.Version)})
	}
	res, err := s.webhookDocs.ReplaceOne(ctx, filter, d)
	if err != nil {
		return mapErr(err, "write webhook")
	}
	if res.MatchedCount != 1 {
		return model.Errorf(model.KindConflict, "webhook %s was changed by another request; try again", w.ID)
	}
	w.Version++
	return nil
}

// Webhooks returns the webhooks of project ("": of every project), oldest first,
// deleted ones only with includeDeleted.
func (s *Store) Webhooks(ctx context.Context, project string, includeDeleted bool) ([]*model.Webhook, error) {
	filter := bson.D{}
	if project != "" {
		filter = bson.D{{Key: "project", Value: project}}
	}
	cur, err := s.webhookDocs.Find(ctx, filter)
	if err != nil {
		return nil, mapErr(err, "find webhooks")
	}
	defer cur.Close(ctx)
	out := []*model.Webhook{}
	for cur.Next(ctx) {
		var d webhookDoc
		if err := cur.Decode(&d); err != nil {
			return nil, mapErr(err, "read webhooks")
		}
		if d.Deleted && !includeDeleted {
			continue
		}
		out = append(out, d.model())
	}
	if err := cur.Err(); err != nil {
		return nil, mapErr(err, "read webhooks")
	}
	slices.SortFunc(out, func(a, b *model.Webhook) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// webhookChanges returns the project.webhook entries of project's trail.
func (s *Store) webhookChanges(ctx context.Context, project string) ([]model.PolicyChange, error) {
	hooks, err := s.Webhooks(ctx, project, true)
	if err != nil {
		return nil, err
	}
	var out []model.PolicyChange
	for _, w := range hooks {
		out = append(out, w.Changes...)
	}
	return out, nil
}

// ---------------------------------------------------------------------------------
// The delivery queue and the delivery records.

// DeliveryItem is a delivery still to send.
type DeliveryItem struct {
	Seq int `bson:"n"`
	// Next is when it is due.
	Next time.Time `bson:"t"`
	// Until is when it dies if not delivered by then (the retry period).
	Until time.Time `bson:"u"`
}

// DeliveryQueue is a webhook's sending state.
type DeliveryQueue struct {
	WebhookID string  `bson:"_id"`
	Project   string  `bson:"project"`
	Pos       FeedPos `bson:"pos"`
	// Started is set once Pos has been placed (at the feed's end when the webhook
	// was created or activated).
	Started bool `bson:"started"`
	// Trail is the position in the project's trail (trailwalk.go), placed with
	// Pos (TrailStarted; queues placed before the trail was delivered are placed
	// at its end when first sent).
	Trail        TrailPos `bson:"trail"`
	TrailStarted bool     `bson:"trailStarted"`
	// NextSeq is the number of the next delivery.
	NextSeq int            `bson:"nextSeq"`
	Pending []DeliveryItem `bson:"pending"`
	// LeaseOwner sends the deliveries until LeaseUntil.
	LeaseOwner string    `bson:"leaseOwner"`
	LeaseUntil time.Time `bson:"leaseUntil"`
	Version    int64     `bson:"version"`
}

func queueID(webhookID string) string { return "q:" + webhookID }
func deliveryBucketID(webhookID string, k int) string {
	return "d:" + webhookID + "#" + strconv.Itoa(k)
}

// DeliveryID is the API id of delivery seq of a webhook.
func DeliveryID(webhookID string, seq int) string { return webhookID + ":" + strconv.Itoa(seq) }

// ParseDeliveryID splits a delivery id; ok is false for anything else.
func ParseDeliveryID(id string) (webhookID string, seq int, ok bool) {
	i := strings.LastIndexByte(id, ':')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(id[i+1:])
	if err != nil || n < 0 {
		return "", 0, false
	}
	return id[:i], n, true
}

type queueDoc struct {
	ID      string `bson:"_id"`
	Project string `bson:"project"`
	Type    string `bson:"type"`
	Version int64  `bson:"version"`
	Z       bool   `bson:"z,omitempty"`
	Data    []byte `bson:"data"`
}

// loadVersioned decodes the packed document id of deliveries into into; version 0:
// absent.
func (s *Store) loadVersioned(ctx context.Context, id string, into any) (int64, error) {
	var d queueDoc
	err := s.deliveries.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, mapErr(err, "get delivery state")
	}
	if err := inflateBSON(d.Z, d.Data, into); err != nil {
		return 0, &model.Error{Kind: model.KindInternal, Message: "database error", Err: fmt.Errorf("decode %s: %w", id, err)}
	}
	return d.Version, nil
}

// updateVersioned is the read-modify-write of one packed document of deliveries,
// serialized in the process and by a version predicate across replicas (retried).
func updateVersioned[T any](ctx context.Context, s *Store, id, project, typ string, fn func(cur *T, ver int64) (bool, error)) error {
	for attempt := 0; attempt < projAttempts; attempt++ {
		if attempt > 0 {
			if err := sleepCtx(ctx, time.Duration(attempt)*time.Millisecond); err != nil {
				return mapErr(err, "write delivery state")
			}
		}
		unlock, err := s.lockDoc(ctx, deliveriesCollection, id)
		if err != nil {
			return err
		}
		var cur T
		ver, err := s.loadVersioned(ctx, id, &cur)
		if err != nil {
			unlock()
			return err
		}
		write, err := fn(&cur, ver)
		if err != nil || !write {
			unlock()
			return err
		}
		data, err := deflateBSON(&cur)
		if err != nil {
			unlock()
			return err
		}
		doc := queueDoc{ID: id, Project: project, Type: typ, Version: ver + 1, Z: true, Data: data}
		var ok bool
		if ver == 0 {
			_, err = s.deliveries.InsertOne(ctx, doc)
			ok = err == nil
			if mongo.IsDuplicateKeyError(err) {
				err = nil
			}
		} else {
			filter := bson.D{{Key: "_id", Value: id}}
			if !s.Exclusive() {
				filter = append(filter, bson.E{Key: "version", Value: ver})
			}
			var res *mongo.UpdateResult
			res, err = s.deliveries.ReplaceOne(ctx, filter, doc)
			ok = err == nil && res.MatchedCount == 1
		}
		unlock()
		if err != nil {
			return mapErr(err, "write delivery state")
		}
		if ok {
			return nil
		}
	}
	return model.Errorf(model.KindConflict, "%s is being written concurrently", id)
}

// LoadQueue returns a webhook's queue (zero, with WebhookID set, when it has none).
func (s *Store) LoadQueue(ctx context.Context, webhookID string) (DeliveryQueue, error) {
	var q DeliveryQueue
	ver, err := s.loadVersioned(ctx, queueID(webhookID), &q)
	q.WebhookID, q.Version = webhookID, ver
	return q, err
}

// UpdateQueue changes a webhook's queue with fn (under the queue's lock, retried on
// a version race with another replica; fn may run more than once and must start
// from what it is given).
func (s *Store) UpdateQueue(ctx context.Context, webhookID, project string, fn func(q *DeliveryQueue) (bool, error)) error {
	return updateVersioned(ctx, s, queueID(webhookID), project, "queue", func(q *DeliveryQueue, ver int64) (bool, error) {
		q.WebhookID, q.Project, q.Version = webhookID, project, ver
		if q.Pending == nil {
			q.Pending = []DeliveryItem{}
		}
		return fn(q)
	})
}

type deliveryRecord struct {
	Seq            int       `bson:"n"`
	EventID        string    `bson:"id"`
	Action         string    `bson:"action"`
	Status         string    `bson:"status"`
	Attempts       int       `bson:"attempts"`
	LastStatusCode int       `bson:"code,omitempty"`
	LastError      string    `bson:"error,omitempty"`
	NextAttemptAt  time.Time `bson:"next,omitempty"`
	DeliveredAt    time.Time `bson:"delivered,omitempty"`
	CreatedAt      time.Time `bson:"created"`
	Event          auditDoc  `bson:"event"`
	// Change is the project trail entry delivered (Event is then empty).
	Change *trailChangeDoc `bson:"change,omitempty"`
}

// trailChangeDoc is a delivered project trail entry.
type trailChangeDoc struct {
	Action        string          `bson:"action"`
	Actor         string          `bson:"actor"`
	ActorType     model.ActorType `bson:"actorType"`
	FromVersion   int64           `bson:"fromVersion"`
	ToVersion     int64           `bson:"toVersion"`
	CorrelationID string          `bson:"correlationId"`
	At            time.Time       `bson:"at"`
	KeyID         string          `bson:"keyId,omitempty"`
	Reason        string          `bson:"reason,omitempty"`
}

type deliveryBucket struct {
	Records []deliveryRecord `bson:"r"`
}

func toRecord(d *model.WebhookDelivery) deliveryRecord {
	r := deliveryRecord{
		Seq: d.Seq, EventID: d.EventID, Action: d.Action, Status: string(d.Status), Attempts: d.Attempts,
		LastStatusCode: d.LastStatusCode, LastError: d.LastError, CreatedAt: ms(d.CreatedAt),
	}
	if c := d.Change; c != nil {
		r.Change = &trailChangeDoc{
			Action: c.Action, Actor: c.Actor, ActorType: c.ActorType, FromVersion: int64(c.FromVersion), ToVersion: int64(c.ToVersion),
			CorrelationID: c.CorrelationID, At: ms(c.At), KeyID: c.KeyID, Reason: c.Reason,
		}
	} else {
		r.Event = toAuditDoc(d.Event)
	}
	if !d.NextAttemptAt.IsZero() {
		r.NextAttemptAt = ms(d.NextAttemptAt)
	}
	if !d.DeliveredAt.IsZero() {
		r.DeliveredAt = ms(d.DeliveredAt)
	}
	return r
}

func (r deliveryRecord) model(webhookID, project string) *model.WebhookDelivery {
	d := &model.WebhookDelivery{
		ID: DeliveryID(webhookID, r.Seq), WebhookID: webhookID, Project: project, Seq: r.Seq, EventID: r.EventID,
		Action: r.Action, Status: model.DeliveryStatus(r.Status), Attempts: r.Attempts, LastStatusCode: r.LastStatusCode,
		LastError: r.LastError, CreatedAt: r.CreatedAt.UTC(),
	}
	if c := r.Change; c != nil {
		d.Change = &model.PolicyChange{
			Action: c.Action, Project: project, Actor: c.Actor, ActorType: c.ActorType, FromVersion: int(c.FromVersion),
			ToVersion: int(c.ToVersion), CorrelationID: c.CorrelationID, At: c.At.UTC(), KeyID: c.KeyID, Reason: c.Reason,
		}
	} else {
		d.Event = r.Event.model()
	}
	if !r.NextAttemptAt.IsZero() {
		d.NextAttemptAt = r.NextAttemptAt.UTC()
	}
	if !r.DeliveredAt.IsZero() {
		d.DeliveredAt = r.DeliveredAt.UTC()
	}
	return d
}

// PutDeliveries writes delivery records (new ones, or new states of existing ones),
// one write per bucket touched.
func (s *Store) PutDeliveries(ctx context.Context, webhookID, project string, ds []*model.WebhookDelivery) error {
	_, err := s.RecordAttempts(ctx, webhookID, project, ds, nil)
	return err
}

// DeliveryState is what a sender read of a delivery record before its attempt:
// RecordAttempts writes the attempt's outcome only over the same state.
type DeliveryState struct {
	Status   model.DeliveryStatus
	Attempts int
	Next     time.Time
}

// StateOf returns d's state as a sender reads it before an attempt.
func StateOf(d *model.WebhookDelivery) *DeliveryState {
	return &DeliveryState{Status: d.Status, Attempts: d.Attempts, Next: d.NextAttemptAt}
}

// RecordAttempts writes the delivery records ds (one read-modify-write of each
// bucket document they fall in) and returns the numbers of those it left out:
// ds[i] whose stored record no longer is in state read[i] (nil read or read[i]:
// written whatever is stored). An attempt's outcome is so never written over a
// record that a deactivation made DEAD or a redelivery queued again while the
// attempt was in flight: what they wrote stands.
func (s *Store) RecordAttempts(ctx context.Context, webhookID, project string, ds []*model.WebhookDelivery, read []*DeliveryState) (map[int]bool, error) {
	byBucket := map[int][]int{}
	for i, d := range ds {
		byBucket[d.Seq/deliveryBucketCap] = append(byBucket[d.Seq/deliveryBucketCap], i)
	}
	ks := make([]int, 0, len(byBucket))
	for k := range byBucket {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	skipped := map[int]bool{}
	for _, k := range ks {
		var left []int
		err := updateVersioned(ctx, s, deliveryBucketID(webhookID, k), project, "deliveries", func(b *deliveryBucket, _ int64) (bool, error) {
			left = left[:0]
			for _, i := range byBucket[k] {
				r := toRecord(ds[i])
				j := slices.IndexFunc(b.Records, func(x deliveryRecord) bool { return x.Seq == r.Seq })
				if i < len(read) && read[i] != nil && (j < 0 || !read[i].is(b.Records[j])) {
					left = append(left, r.Seq)
					continue
				}
				if j >= 0 {
					b.Records[j] = r
				} else {
					b.Records = append(b.Records, r)
				}
			}
			slices.SortFunc(b.Records, func(a, b deliveryRecord) int { return a.Seq - b.Seq })
			return len(left) < len(byBucket[k]), nil
		})
		if err != nil {
			return nil, err
		}
		for _, n := range left {
			skipped[n] = true
		}
	}
	return skipped, nil
}

// is reports whether r is in state st.
func (st *DeliveryState) is(r deliveryRecord) bool {
	return model.DeliveryStatus(r.Status) == st.Status && r.Attempts == st.Attempts && r.NextAttemptAt.Equal(st.Next)
}

// GetDeliveries loads delivery records seqs of a webhook (those that exist).
func (s *Store) GetDeliveries(ctx context.Context, webhookID, project string, seqs []int) (map[int]*model.WebhookDelivery, error) {
	out := map[int]*model.WebhookDelivery{}
	buckets := map[int]*deliveryBucket{}
	for _, n := range seqs {
		k := n / deliveryBucketCap
		b, ok := buckets[k]
		if !ok {
			b = &deliveryBucket{}
			if _, err := s.loadVersioned(ctx, deliveryBucketID(webhookID, k), b); err != nil {
				return nil, err
			}
			buckets[k] = b
		}
		for _, r := range b.Records {
			if r.Seq == n {
				out[n] = r.model(webhookID, project)
			}
		}
	}
	return out, nil
}

// RestartQueue places a webhook's queue at the end of its project's feed and trail.
func (s *Store) RestartQueue(ctx context.Context, webhookID, project string) error {
	return s.placeQueue(ctx, webhookID, project, nil)
}

// placeQueue places a webhook's queue at the end of its project's feed and trail;
// self is the webhook when it is not stored yet.
func (s *Store) placeQueue(ctx context.Context, webhookID, project string, self *model.Webhook) error {
	end, err := s.FeedEnd(ctx, project)
	if err != nil {
		return err
	}
	trail, err := s.trailEndFor(ctx, project, self)
	if err != nil {
		return err
	}
	return s.UpdateQueue(ctx, webhookID, project, func(q *DeliveryQueue) (bool, error) {
		q.Pos, q.Started = end, true
		q.Trail, q.TrailStarted = trail, true
		return true, nil
	})
}

// Redeliver queues delivery seq of a webhook to be sent again at now, retried
// for retryFor, and returns it as PENDING.
func (s *Store) Redeliver(ctx context.Context, webhookID, project string, seq int, now time.Time, retryFor time.Duration) (*model.WebhookDelivery, error) {
	q, err := s.LoadQueue(ctx, webhookID)
	if err != nil {
		return nil, err
	}
	got, err := s.GetDeliveries(ctx, webhookID, project, []int{seq})
	if err != nil {
		return nil, err
	}
	d := got[seq]
	if d == nil || seq >= q.NextSeq {
		return nil, model.Errorf(model.KindNotFound, "delivery %s not found", DeliveryID(webhookID, seq))
	}
	d.Status, d.NextAttemptAt = model.DeliveryPending, now
	if err := s.PutDeliveries(ctx, webhookID, project, []*model.WebhookDelivery{d}); err != nil {
		return nil, err
	}
	err = s.UpdateQueue(ctx, webhookID, project, func(q *DeliveryQueue) (bool, error) {
		q.Pending = slices.DeleteFunc(q.Pending, func(it DeliveryItem) bool { return it.Seq == seq })
		q.Pending = append(q.Pending, DeliveryItem{Seq: seq, Next: now, Until: now.Add(retryFor)})
		return true, nil
	})
	return d, err
}

// MaxDeliveryScan bounds the bucket documents one page of a webhook's deliveries
// reads (16 buckets: 1,024 deliveries), so a status that matches few deliveries
// does not read a long history in one request.
const MaxDeliveryScan = 16

// WebhookDeliveries returns up to first deliveries of a webhook with status (""
// any), newest first, numbered below before (-1: from the newest). It reads one
// bucket document per deliveryBucketCap deliveries it passes, at most
// MaxDeliveryScan: when it stops there with deliveries left below, the page (maybe
// short, maybe empty) has HasNext and an EndCursor where the next page reads on.
func (s *Store) WebhookDeliveries(ctx context.Context, webhookID, project string, status model.DeliveryStatus, first, before int) (service.DeliveryPage, error) {
	page := service.DeliveryPage{Items: []*model.WebhookDelivery{}}
	q, err := s.LoadQueue(ctx, webhookID)
	if err != nil {
		return page, err
	}
	top := q.NextSeq - 1
	if before >= 0 {
		top = min(top, before-1)
	}
	scanned := 0
	for k := top / deliveryBucketCap; top >= 0 && k >= 0; k-- {
		if scanned == MaxDeliveryScan {
			// Read on below bucket k+1 with the next page.
			page.HasNext, page.EndCursor = true, DeliveryID(webhookID, (k+1)*deliveryBucketCap)
			return page, nil
		}
		scanned++
		var b deliveryBucket
		if _, err := s.loadVersioned(ctx, deliveryBucketID(webhookID, k), &b); err != nil {
			return page, err
		}
		for i := len(b.Records) - 1; i >= 0; i-- {
			r := b.Records[i]
			if r.Seq > top || (status != "" && model.DeliveryStatus(r.Status) != status) {
				continue
			}
			if len(page.Items) == first {
				page.HasNext = true
				return page, nil
			}
			page.Items = append(page.Items, r.model(webhookID, project))
		}
	}
	return page, nil
}

// RetireQueue ends the retries queued for a webhook that no longer sends (made
// inactive, or disabled by a 410): every queued delivery not delivered yet becomes
// DEAD with reason as its last error, and the queue keeps no retry. It returns how
// many it ended. Idempotent; redeliverWebhookEvent sends one again once the webhook
// is active.
func (s *Store) RetireQueue(ctx context.Context, webhookID, project, reason string) (int, error) {
	q, err := s.LoadQueue(ctx, webhookID)
	if err != nil || len(q.Pending) == 0 {
		return 0, err
	}
	seqs := make([]int, len(q.Pending))
	for i, it := range q.Pending {
		seqs[i] = it.Seq
	}
	// Each record is made DEAD over the state it was read in: an attempt recorded
	// in between is read again and made DEAD after it.
	dead, left := 0, seqs
	for attempt := 0; len(left) > 0; attempt++ {
		if attempt == projAttempts {
			return dead, model.Errorf(model.KindConflict, "the deliveries of webhook %s are being changed concurrently", webhookID)
		}
		recs, err := s.GetDeliveries(ctx, webhookID, project, left)
		if err != nil {
			return dead, err
		}
		var ds []*model.WebhookDelivery
		var read []*DeliveryState
		for _, n := range left {
			if r := recs[n]; r != nil && r.Status != model.DeliveryDelivered && r.Status != model.DeliveryDead {
				read = append(read, StateOf(r))
				r.Status, r.LastError, r.NextAttemptAt = model.DeliveryDead, reason, time.Time{}
				ds = append(ds, r)
			}
		}
		skipped, err := s.RecordAttempts(ctx, webhookID, project, ds, read)
		if err != nil {
			return dead, err
		}
		dead += len(ds) - len(skipped)
		left = slices.Sorted(maps.Keys(skipped))
	}
	retired := map[int]bool{}
	for _, n := range seqs {
		retired[n] = true
	}
	err = s.UpdateQueue(ctx, webhookID, project, func(q *DeliveryQueue) (bool, error) {
		q.Pending = slices.DeleteFunc(q.Pending, func(it DeliveryItem) bool { return retired[it.Seq] })
		return true, nil
	})
	return dead, err
}

// PurgeDeliveries deletes a deleted webhook's delivery queue and records (one _id
// delete per bucket of deliveryBucketCap deliveries). Idempotent.
func (s *Store) PurgeDeliveries(ctx context.Context, webhookID string) error {
	q, err := s.LoadQueue(ctx, webhookID)
	if err != nil {
		return err
	}
	// Records up to a batch beyond the queue's next number may have been left by
	// a sender that stopped before it moved the queue on.
	last := (q.NextSeq + 2*deliveryBucketCap) / deliveryBucketCap
	for k := 0; k <= last; k++ {
		if _, err := s.deliveries.DeleteOne(ctx, bson.D{{Key: "_id", Value: deliveryBucketID(webhookID, k)}}); err != nil {
			return mapErr(err, "delete deliveries")
		}
	}
	if _, err := s.deliveries.DeleteOne(ctx, bson.D{{Key: "_id", Value: queueID(webhookID)}}); err != nil {
		return mapErr(err, "delete delivery queue")
	}
	return nil
}
