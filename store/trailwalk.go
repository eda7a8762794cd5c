package store

// Walking a project's trail (the project.* audit events) for the webhook deliveries.
//
// The project trail has three sources, each written in the same document write as
// the change it records (so a change is never stored without its trail entry, and
// no outbox is needed):
//
//	policies:<p> (+ overflow)  project.policy, project.freeze, project.unfreeze: an
//	                           append-only trail, entry i keeps number i for ever
//	                           (the older ones move to its buckets, trail.go).
//	trusted_keys:<p>           project.key_added and project.key_revoked: the keys in
//	                           the order they were added (never removed), each
//	                           revoked at most once (revocation is final).
//	webhooks (per webhook)     project.webhook: each webhook's own append-only list
//	                           of changes (a deleted webhook stays as a tombstone).
//
// So a position in the trail is, per source, what was taken: a count of policy
// entries, a count of keys whose addition was taken and the set of keys whose
// revocation was taken (a bitmap by key index), and a count per webhook. Every
// entry has a stable id derived from where it is (TrailEvent.ID), the same on every
// replica and every attempt. A webhook's sender walks the trail next to the audit
// feed (feedwalk.go) and keeps the trail position in its delivery queue, moved in the
// same write as the feed position: a crash before that write sends the same entries
// again under the same ids, and nothing written can be skipped.
//
// Reading the trail costs two _id look-ups (the policy's trail, the keys) plus the
// project's webhooks, which the caller usually passes from its own listing (the
// dispatcher lists them anyway), plus one bucket per 32 policy changes
// taken at once beyond the newest.

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/store/internal/bucketlog"
)

// TrailPos is a position in a project's trail: what of each source was taken.
type TrailPos struct {
	// Policy counts the policy trail's entries taken (numbers 0..Policy-1).
	Policy int `bson:"p"`
	// Keys counts the keys, in the order they were added, whose project.key_added
	// was taken.
	Keys int `bson:"k"`
	// Revoked has bit i set when the project.key_revoked of key i was taken.
	Revoked []byte `bson:"r,omitempty"`
	// Hooks counts, per webhook, its project.webhook changes taken.
	Hooks map[string]int `bson:"w,omitempty"`
}

func (p TrailPos) revoked(i int) bool {
	return i/8 < len(p.Revoked) && p.Revoked[i/8]&(1<<(i%8)) != 0
}

func (p *TrailPos) setRevoked(i int) {
	for len(p.Revoked) <= i/8 {
		p.Revoked = append(p.Revoked, 0)
	}
	p.Revoked[i/8] |= 1 << (i % 8)
}

// Equal reports whether p and o are the same position.
func (p TrailPos) Equal(o TrailPos) bool {
	nz := func(b []byte) []byte {
		for len(b) > 0 && b[len(b)-1] == 0 {
			b = b[:len(b)-1]
		}
		return b
	}
	return p.Policy == o.Policy && p.Keys == o.Keys && slices.Equal(nz(p.Revoked), nz(o.Revoked)) &&
		maps.Equal(p.Hooks, o.Hooks)
}

func (p TrailPos) clone() TrailPos {
	p.Revoked = slices.Clone(p.Revoked)
	p.Hooks = maps.Clone(p.Hooks)
	return p
}

// TrailEvent is one entry of a project's trail.
type TrailEvent struct {
	// ID is stable: where the entry is ("project/<p>/policy/<n>",
	// "project/<p>/key_added/<keyId>", "project/<p>/key_revoked/<keyId>",
	// "project/<p>/webhook/<webhookId>/<n>"), the CloudEvent id of its deliveries.
	ID     string
	Change model.PolicyChange
}

// TrailHead is a project's trail as read at one moment.
type TrailHead struct {
	project  string
	overflow int // policy trail entries in its buckets
	inline   []model.PolicyChange
	keys     []keyDoc
	hooks    []*model.Webhook
}

// trailKeysDoc is the key document without the parts the trail does not need.
type trailKeysDoc struct {
	Keys []keyDoc `bson:"keys"`
}

// TrailHead reads project's trail now. hooks are the project's webhooks, deleted
// ones included, when the caller has them (nil: they are read).
func (s *Store) TrailHead(ctx context.Context, project string, hooks []*model.Webhook) (*TrailHead, error) {
	h := &TrailHead{project: project, hooks: hooks}
	d, err := s.policyTrail(ctx, project)
	if err != nil {
		return nil, err
	}
	if d != nil {
		h.overflow = d.ChangesOverflow
		h.inline = mapSlice(d.Changes, policyChangeDoc.model)
	}
	var kd trailKeysDoc
	err = s.keys.FindOne(ctx, bson.D{{Key: "_id", Value: project}}).Decode(&kd)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return nil, mapErr(err, "get trusted keys")
	}
	h.keys = kd.Keys
	if h.hooks == nil {
		if h.hooks, err = s.Webhooks(ctx, project, true); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// End is the position after every entry of the trail as read, except that
// positions p already holds beyond it are kept.
func (h *TrailHead) End(p TrailPos) TrailPos {
	p = p.clone()
	p.Policy = max(p.Policy, h.overflow+len(h.inline))
	p.Keys = max(p.Keys, len(h.keys))
	for i, k := range h.keys {
		if k.RevokedAt != nil {
			p.setRevoked(i)
		}
	}
	for _, w := range h.hooks {
		if w.Project == h.project && len(w.Changes) > p.Hooks[w.ID] {
			if p.Hooks == nil {
				p.Hooks = map[string]int{}
			}
			p.Hooks[w.ID] = len(w.Changes)
		}
	}
	return p
}

// trailID is the stable id of a trail entry (see TrailEvent.ID).
func trailID(project string, parts ...string) string {
	id := "project/" + project
	for _, p := range parts {
		id += "/" + p
	}
	return id
}

// TrailSince returns the entries of the trail h that pos has not taken, oldest
// first, and the position after them.
func (s *Store) TrailSince(ctx context.Context, h *TrailHead, pos TrailPos) ([]TrailEvent, TrailPos, error) {
	var out []TrailEvent
	total := h.overflow + len(h.inline)
	if pos.Policy < total {
		changes, err := bucketlog.ReadTrail(ctx, trailOf[policyChangeDoc](s, policyTrail, h.project), h.overflow, h.inline, pos.Policy, total, policyChangeDoc.model)
		if err != nil {
			return nil, pos, err
		}
		for i, c := range changes {
			c.Project = h.project
			out = append(out, TrailEvent{ID: trailID(h.project, "policy", strconv.Itoa(pos.Policy+i)), Change: c})
		}
	}
	for i, kd := range h.keys {
		if i >= pos.Keys || (kd.RevokedAt != nil && !pos.revoked(i)) {
			k := keyChangeModel(h.project, kd)
			for _, c := range model.KeyChanges([]model.TrustedKey{k}) {
				if c.Action == model.ActionKeyAdded && i < pos.Keys {
					continue
				}
				out = append(out, TrailEvent{ID: trailID(h.project, c.Action[len("project."):], k.ID), Change: c})
			}
		}
	}
	for _, w := range h.hooks {
		if w.Project != h.project {
			continue
		}
		for n := pos.Hooks[w.ID]; n < len(w.Changes); n++ {
			c := w.Changes[n]
			c.Project = h.project
			out = append(out, TrailEvent{ID: trailID(h.project, "webhook", w.ID, strconv.Itoa(n)), Change: c})
		}
	}
	slices.SortStableFunc(out, func(a, b TrailEvent) int { return a.Change.At.Compare(b.Change.At) })
	return out, h.End(pos), nil
}

// keyChangeModel is the part of a stored key its trail entries show (no key
// parsing: the trail does not need the public key).
func keyChangeModel(project string, d keyDoc) model.TrustedKey {
	k := model.TrustedKey{
		ID: d.ID, Project: project, AddedBy: d.AddedBy, AddedByType: d.AddedByType, AddedAt: d.AddedAt.UTC(),
		AddedCorrelationID: d.AddedCorrelationID, AddedPolicyVersion: int(d.AddedPolicyVersion),
		RevokedBy: d.RevokedBy, RevokedByType: d.RevokedByType, RevokeReason: d.RevokeReason,
		RevokedCorrelationID: d.RevokedCorrelationID, RevokedPolicyVersion: int(d.RevokedPolicyVersion),
	}
	if d.RevokedAt != nil {
		t := d.RevokedAt.UTC()
		k.RevokedAt = &t
	}
	return k
}

// trailEndFor is the end of project's trail now, for a queue being placed; self,
// when set, is a webhook not stored yet whose own changes count as taken.
func (s *Store) trailEndFor(ctx context.Context, project string, self *model.Webhook) (TrailPos, error) {
	h, err := s.TrailHead(ctx, project, nil)
	if err != nil {
		return TrailPos{}, err
	}
	p := h.End(TrailPos{})
	if self != nil {
		if p.Hooks == nil {
			p.Hooks = map[string]int{}
		}
		p.Hooks[self.ID] = max(p.Hooks[self.ID], len(self.Changes))
	}
	return p, nil
}
