package store

import (
	"context"
	"iter"
	"sort"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/store/internal/bucketlog"
)

// The promotion projections (see projections.go): chan:<p>:<c>:<env> lists every
// promotion into exactly (c, env) with its artifact's deploy facts, newest inline,
// older in sealed buckets (chanlog.go); status:<p> holds the latest promotion per
// (channel, environment).

// chanEntry is one promotion into a channel and environment, with the deploy facts
// of its artifact as of artifact version V.
type chanEntry struct {
	ArtifactID string        `bson:"artifactId"`
	At         bson.DateTime `bson:"promotedAt"`
	By         string        `bson:"promotedBy"`
	Facts      storedFacts   `bson:"deployFacts"`
	V          int64         `bson:"version"`
}

func (e chanEntry) key() logKey { return logKey{At: int64(e.At), ID: e.ArtifactID} }

func chanEntryOf(a *model.Artifact, p model.Promotion) chanEntry {
	return chanEntry{ArtifactID: a.ID, At: bson.DateTime(ms(p.PromotedAt).UnixMilli()), By: p.PromotedBy, Facts: factsOfArtifact(a), V: int64(a.Version)}
}

// statusRow is the latest promotion into one (channel, environment).
type statusRow struct {
	Channel    model.Channel `bson:"channel"`
	Env        string        `bson:"environment"`
	ArtifactID string        `bson:"artifactId"`
	At         bson.DateTime `bson:"promotedAt"`
	By         string        `bson:"promotedBy"`
}

func statusRowOf(a *model.Artifact, p model.Promotion) statusRow {
	return statusRow{Channel: p.Channel, Env: p.TargetEnvironment, ArtifactID: a.ID, At: bson.DateTime(ms(p.PromotedAt).UnixMilli()), By: p.PromotedBy}
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
	Rows []statusRow `bson:"latest"`
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

// applyPromotions brings the chan logs up to date with a (see applyChanLogs) and
// adds its promotions from index from to the status.
func (s *Store) applyPromotions(ctx context.Context, a *model.Artifact, from int) error {
	if err := s.applyChanLogs(ctx, a, from); err != nil {
		return err
	}
	from = min(max(from, 0), len(a.Promotions))
	if from == len(a.Promotions) {
		return nil
	}
	_, err := update(ctx, s, statusID(a.Project), a.Project, "status", func(d *statusDoc, _ int64) (bool, error) {
		changed := false
		for _, p := range a.Promotions[from:] {
			if d.set(statusRowOf(a, p)) {
				changed = true
			}
		}
		return changed, nil
	})
	return err
}

// DeployCandidates yields, newest promotion first, each artifact of project promoted
// into exactly (channel, env) that may be deployable under p, as stored now, once
// (at its newest such promotion). It reads chan:<p>:<c>:<env> (one _id look-up
// holding the newest promotions and a summary of the older ones), skips every
// promotion whose deploy facts cannot be deployable under p and every sealed bucket
// holding only such promotions, and loads each remaining artifact by _id only when
// the consumer asks for the next one. With p nil every promotion is a candidate.
func (s *Store) DeployCandidates(ctx context.Context, project string, channel model.Channel, env string, p *model.Policy) iter.Seq2[*model.Artifact, error] {
	return func(yield func(*model.Artifact, error) bool) {
		lg := s.chanLog(project, channel, env)
		h, ver, err := lg.Head(ctx)
		if err != nil {
			yield(nil, err)
			return
		}
		if ver == 0 {
			return
		}
		may := newDeployFilter(p, channel)
		it := lg.Newest(ctx, h, nil, func(b *bucketlog.Sealed[chanSummary]) bool { return !may.mayAny(b.Summary.Facts) },
			func(e *chanEntry) bool { return may.may(e.Facts, false) }, nil)
		seen := map[string]bool{}
		for {
			pl, ok, err := it.Next()
			if err != nil {
				yield(nil, err)
				return
			}
			if !ok {
				return
			}
			e := pl.Entry
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
