package store

import (
	"context"
	"iter"
	"sort"

	"github.com/artifact-trust/control-plane/model"
)

// The promotion projections (see projections.go): chan:<p>:<c>:<env> lists every
// promotion into exactly (c, env), newest inline, older in sealed buckets;
// status:<p> holds the latest promotion per (channel, environment).

// chanEntry is one promotion into a channel and environment.
type chanEntry struct {
	ArtifactID string `bson:"a"`
	At         int64  `bson:"t"` // promotedAt, Unix ms
	By         string `bson:"b"`
}

func (e chanEntry) key() logKey { return logKey{At: e.At, ID: e.ArtifactID} }

func chanEntryOf(a *model.Artifact, p model.Promotion) chanEntry {
	return chanEntry{ArtifactID: a.ID, At: ms(p.PromotedAt).UnixMilli(), By: p.PromotedBy}
}

// statusRow is the latest promotion into one (channel, environment).
type statusRow struct {
	Channel    model.Channel `bson:"c"`
	Env        string        `bson:"e"`
	ArtifactID string        `bson:"a"`
	At         int64         `bson:"t"`
	By         string        `bson:"b"`
}

func statusRowOf(a *model.Artifact, p model.Promotion) statusRow {
	return statusRow{Channel: p.Channel, Env: p.TargetEnvironment, ArtifactID: a.ID, At: ms(p.PromotedAt).UnixMilli(), By: p.PromotedBy}
}

// newer orders rows as model.ChannelStatus orders placements: promotedAt, then
// artifact id.
func (r statusRow) newer(o statusRow) bool {
	if r.At != o.At {
		return r.At > o.At
	}
	return r.ArtifactID > o.ArtifactID
}

// statusDoc is status:<p>.
type statusDoc struct {
	Rows []statusRow `bson:"r"`
}

// set makes row the row of its (channel, environment) if it is newer; it reports
// whether anything changed.
func (d *statusDoc) set(row statusRow) bool {
	for i := range d.Rows {
		if d.Rows[i].Channel == row.Channel && d.Rows[i].Env == row.Env {
			if !row.newer(d.Rows[i]) {
				return false
			}
			d.Rows[i] = row
			return true
		}
	}
	d.Rows = append(d.Rows, row)
	sort.Slice(d.Rows, func(i, j int) bool {
		ri, rj := d.Rows[i].Channel.Rank(), d.Rows[j].Channel.Rank()
		if ri != rj {
			return ri < rj
		}
		if d.Rows[i].Channel != d.Rows[j].Channel {
			return d.Rows[i].Channel < d.Rows[j].Channel
		}
		return d.Rows[i].Env < d.Rows[j].Env
	})
	return true
}

// applyPromotions adds promotions of a to its channel lists and to the status.
func (s *Store) applyPromotions(ctx context.Context, a *model.Artifact, prs []model.Promotion) error {
	byChan := map[chanKey][]chanEntry{}
	var keys []chanKey
	for _, p := range prs {
		k := chanKey{p.Channel, p.TargetEnvironment}
		if _, ok := byChan[k]; !ok {
			keys = append(keys, k)
		}
		byChan[k] = append(byChan[k], chanEntryOf(a, p))
	}
	for _, k := range keys {
		if err := appendLog(ctx, s, chanHeadID(a.Project, k.Channel, k.Env), a.Project, "chan", s.caps.chans, byChan[k]); err != nil {
			return err
		}
	}
	_, err := update(ctx, s, statusID(a.Project), a.Project, "status", func(d *statusDoc, _ int64) (bool, error) {
		changed := false
		for _, p := range prs {
			if d.set(statusRowOf(a, p)) {
				changed = true
			}
		}
		return changed, nil
	})
	return err
}

// DeployCandidates yields, newest promotion first, each artifact of project promoted
// into exactly (channel, env), as stored now, once (at its newest such promotion).
// It reads chan:<p>:<c>:<env> (one _id look-up holding the newest promotions) and
// loads each artifact by _id only when the consumer asks for the next one; older
// sealed buckets are read only when the walk reaches them.
func (s *Store) DeployCandidates(ctx context.Context, project string, channel model.Channel, env string) iter.Seq2[*model.Artifact, error] {
	return func(yield func(*model.Artifact, error) bool) {
		headID := chanHeadID(project, channel, env)
		var h logHead[chanEntry]
		ver, err := s.loadProj(ctx, headID, &h)
		if err != nil {
			yield(nil, err)
			return
		}
		if ver == 0 {
			return
		}
		load := func(n int) ([]chanEntry, error) { return loadBucket[chanEntry](ctx, s, bucketID(headID, n)) }
		it := newNewestIter(h.Entries, h.Sealed, load, nil)
		seen := map[string]bool{}
		for {
			e, ok, err := it.next()
			if err != nil {
				yield(nil, err)
				return
			}
			if !ok {
				return
			}
			if seen[e.ArtifactID] {
				continue
			}
			seen[e.ArtifactID] = true
			a, err := s.GetArtifact(ctx, e.ArtifactID)
			if model.IsKind(err, model.KindNotFound) {
				continue
			}
			if !yield(a, err) || err != nil {
				return
			}
		}
	}
}

// ChannelStatusArtifacts returns the artifacts holding the latest promotion of each
// (channel, environment) of project, as stored now: status:<p> and one _id look-up
// per distinct artifact. model.ChannelStatus over them is the project's channel
// status.
func (s *Store) ChannelStatusArtifacts(ctx context.Context, project string) ([]*model.Artifact, error) {
	var d statusDoc
	if _, err := s.loadProj(ctx, statusID(project), &d); err != nil {
		return nil, err
	}
	var ids []string
	for _, r := range d.Rows {
		if !contains(ids, r.ArtifactID) {
			ids = append(ids, r.ArtifactID)
		}
	}
	return s.getArtifacts(ctx, ids)
}
