package main

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	mopts "go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/artifact-trust/control-plane/store"
)

// The raw driver baseline runs on the same engine and the same data as the API:
// the seeded DATA_DIR is copied twice, byte for byte; the server runs its embedded
// engine on one copy, and this process opens the other with the same store code
// (store.Open: the same FerretDB v1 build, SQLite handler, indexes and start-up,
// in this process, on a loopback port) and sends the bare driver calls over the
// same loopback wire protocol the server's store uses (store.Database()). Both are
// open at once, so each API operation and its raw floor are measured back to back
// under the same machine load.

// rawEngine is a driver connection to the embedded engine on one DATA_DIR.
type rawEngine struct {
	db    *mongo.Database
	how   string
	close func() error
}

func openRawEngine(ctx context.Context, dataDir string) (*rawEngine, error) {
	st, err := store.Open(ctx, store.Config{DataDir: dataDir}, nil)
	if err != nil {
		return nil, err
	}
	return &rawEngine{db: st.Database(), how: "store.Open + store.Database() (embedded engine in this process)",
		close: func() error { return st.Close(context.WithoutCancel(ctx)) }}, nil
}

// rawOp is one raw driver measurement.
type rawOp struct {
	Name string
	What string
	// Projections marks the floors that read the store's per-project read models
	// (collection "projections"); they are skipped on a store without them.
	Projections bool
	Run         func(e *rawEngine, n int, run string) opFunc
}

// hasProjections reports whether the store keeps per-project read models.
func (e *rawEngine) hasProjections(ctx context.Context) bool {
	names, err := e.db.ListCollectionNames(ctx, bson.D{{Key: "name", Value: "projections"}})
	return err == nil && len(names) == 1
}

// docSizes is the BSON size of an artifact and of the read-model documents of
// project proj-00 (the ones that exist).
func (e *rawEngine) docSizes(ctx context.Context, proj bool) map[string]int {
	out := map[string]int{}
	get := func(coll, name, id string) {
		var raw bson.Raw
		if err := e.db.Collection(coll).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&raw); err == nil {
			out[name] = len(raw)
		}
	}
	get("artifacts", "artifact", idOf(0))
	get("policies", "policy", projectOf(0))
	if proj {
		p := projectOf(0)
		get("projections", "list:<p>", "list:"+p)
		get("projections", "list:<p>#0", "list:"+p+"#0")
		get("projections", "feed:<p>", "feed:"+p)
		get("projections", "feed:<p>#0", "feed:"+p+"#0")
		get("projections", "status:<p>", "status:"+p)
		get("projections", "chan:<p>:STAGING:", "chan:"+p+":STAGING:")
	}
	return out
}

// findProjection loads one read-model document by _id, undecoded.
func (e *rawEngine) findProjection(ctx context.Context, id string) error {
	var raw bson.Raw
	return e.db.Collection("projections").FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&raw)
}

// findArtifacts loads ids by _id, 4 at a time, as the store loads a page.
func (e *rawEngine) findArtifacts(ctx context.Context, ids []string) error {
	sem := make(chan struct{}, 4)
	errs := make(chan error, len(ids))
	for _, id := range ids {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errs <- e.findArtifact(ctx, id)
		}()
	}
	for range ids {
		if err := <-errs; err != nil {
			return err
		}
	}
	return nil
}

// statusArtifacts is the distinct artifacts behind project p's channel status: per
// (channel, environment), the newest seeded artifact promoted there.
func statusArtifacts(p, n int) []string {
	seen := map[string]bool{}
	var ids []string
	for i := n - numProjects + p%numProjects; i >= 0 && len(seen) < 5; i -= numProjects {
		if i >= n {
			continue
		}
		for _, r := range promotionPlan(i) {
			k := string(r.Channel) + "/" + r.TargetEnvironment
			if !seen[k] {
				seen[k] = true
				if len(ids) == 0 || ids[len(ids)-1] != idOf(i) {
					ids = append(ids, idOf(i))
				}
			}
		}
	}
	return ids
}

// deployableArtifacts is the artifact deployable(p, STAGING) answers with: the
// newest one promoted there that is not revoked. (The chan log's deploy facts let
// deployable skip the revoked ones without reading them.)
func deployableArtifacts(p, n int) []string {
	for i := n - numProjects + p%numProjects; i >= 0; i -= numProjects {
		if i < n && len(promotionPlan(i)) >= 3 && !revoked(i) {
			return []string{idOf(i)}
		}
	}
	return nil
}

// perProject precomputes f for every project, outside the measured calls.
func perProject(n int, f func(p, n int) []string) [][]string {
	out := make([][]string, numProjects)
	for p := range out {
		out[p] = f(p, n)
	}
	return out
}

// newestOfProject is the ids of up to k newest seeded artifacts of project p.
func newestOfProject(p, n, k int) []string {
	var ids []string
	for i := n - numProjects + p%numProjects; i >= 0 && len(ids) < k; i -= numProjects {
		if i < n {
			ids = append(ids, idOf(i))
		}
	}
	return ids
}

func (e *rawEngine) findArtifact(ctx context.Context, id string) error {
	var raw bson.Raw
	return e.db.Collection("artifacts").FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&raw)
}

func (e *rawEngine) findPolicy(ctx context.Context, project string) error {
	var raw bson.Raw
	return e.db.Collection("policies").FindOne(ctx, bson.D{{Key: "_id", Value: project}},
		mopts.FindOne().SetProjection(bson.D{{Key: "changes", Value: 0}})).Decode(&raw)
}

// updateArtifact is the single-document write of a promotion: states, updatedAt and
// version set, one promotion and one audit event pushed, by _id.
func (e *rawEngine) updateArtifact(ctx context.Context, i int, seq int) error {
	now := time.Now().UTC().Truncate(time.Millisecond)
	p := projectOf(i)
	ev := bson.D{{Key: "action", Value: "app_artifact.promote"}, {Key: "actor", Value: "bench"}, {Key: "actorType", Value: "USER"},
		{Key: "project", Value: p}, {Key: "artifactId", Value: idOf(i)}, {Key: "digest", Value: digestOf(i)}, {Key: "kind", Value: "OCI_IMAGE"},
		{Key: "sourceType", Value: "OCI_REGISTRY"}, {Key: "promotionChannel", Value: "TEST"}, {Key: "promotionEnvironment", Value: fmt.Sprintf("qa-%d", seq%3)},
		{Key: "correlationId", Value: fmt.Sprintf("raw-%d", seq)}, {Key: "reason", Value: "bench"}, {Key: "at", Value: now}}
	pr := bson.D{{Key: "channel", Value: "TEST"}, {Key: "targetEnvironment", Value: fmt.Sprintf("qa-%d", seq%3)}, {Key: "promotedBy", Value: "bench"},
		{Key: "promotedAt", Value: now}, {Key: "reason", Value: "bench"}, {Key: "correlationId", Value: fmt.Sprintf("raw-%d", seq)}}
	res, err := e.db.Collection("artifacts").UpdateOne(ctx, bson.D{{Key: "_id", Value: idOf(i)}}, bson.D{
		{Key: "$set", Value: bson.D{{Key: "lifecycleState", Value: "PROMOTED"}, {Key: "updatedAt", Value: now}}},
		{Key: "$inc", Value: bson.D{{Key: "version", Value: int64(1)}}},
		{Key: "$push", Value: bson.D{{Key: "audit", Value: bson.D{{Key: "$each", Value: bson.A{ev}}}}, {Key: "promotions", Value: bson.D{{Key: "$each", Value: bson.A{pr}}}}}},
	})
	if err == nil && res.MatchedCount != 1 {
		err = fmt.Errorf("update matched %d", res.MatchedCount)
	}
	return err
}

// insertArtifact inserts a freshly registered artifact document (one audit event).
func (e *rawEngine) insertArtifact(ctx context.Context, project, digest, id string) error {
	now := time.Now().UTC().Truncate(time.Millisecond)
	ev := bson.D{{Key: "action", Value: "app_artifact.register"}, {Key: "actor", Value: "bench"}, {Key: "actorType", Value: "USER"},
		{Key: "project", Value: project}, {Key: "artifactId", Value: id}, {Key: "digest", Value: digest}, {Key: "kind", Value: "OCI_IMAGE"},
		{Key: "sourceType", Value: "OCI_REGISTRY"}, {Key: "toState", Value: "PUBLISHED"}, {Key: "correlationId", Value: "raw"}, {Key: "at", Value: now}}
	_, err := e.db.Collection("artifacts").InsertOne(ctx, bson.D{
		{Key: "_id", Value: id}, {Key: "project", Value: project}, {Key: "digest", Value: digest}, {Key: "kind", Value: "OCI_IMAGE"},
		{Key: "sourceType", Value: "OCI_REGISTRY"}, {Key: "source", Value: "registry.example.com/" + project + "/svc-new"}, {Key: "runtimeClass", Value: ""},
		{Key: "tags", Value: bson.A{"v2.0.0", "candidate"}}, {Key: "lifecycleState", Value: "PUBLISHED"}, {Key: "trustState", Value: "UNVERIFIED"},
		{Key: "verification", Value: bson.A{}}, {Key: "promotions", Value: bson.A{}}, {Key: "audit", Value: bson.A{ev}},
		{Key: "version", Value: int64(1)}, {Key: "createdAt", Value: now}, {Key: "updatedAt", Value: now},
	})
	return err
}

// rawOps are the driver calls the API operations are built from, and their
// sequences for one API operation ("floor": the look-ups and writes it cannot do
// without on this document design).
var rawOps = []rawOp{
	{Name: "raw findArtifact", What: "FindOne({_id}) of an artifact (8 audit events), decoded as bson.Raw", Run: func(e *rawEngine, n int, _ string) opFunc {
		return func(ctx context.Context, i int) error { return e.findArtifact(ctx, idOf(spread(i, n))) }
	}},
	{Name: "raw findPolicy", What: "FindOne({_id: project}) of a policy (changes projected out)", Run: func(e *rawEngine, n int, _ string) opFunc {
		return func(ctx context.Context, i int) error { return e.findPolicy(ctx, projectOf(i)) }
	}},
	{Name: "raw load floor", What: "findArtifact + findPolicy (what the service's load does: the artifact and its project's policy)", Run: func(e *rawEngine, n int, _ string) opFunc {
		return func(ctx context.Context, i int) error {
			k := spread(i, n)
			if err := e.findArtifact(ctx, idOf(k)); err != nil {
				return err
			}
			return e.findPolicy(ctx, projectOf(k))
		}
	}},
	{Name: "raw findListHead", Projections: true, What: "FindOne({_id: \"list:<p>\"}) of the list read model's head", Run: func(e *rawEngine, n int, _ string) opFunc {
		return func(ctx context.Context, i int) error { return e.findProjection(ctx, "list:"+projectOf(i)) }
	}},
	{Name: "raw findFeedHead", Projections: true, What: "FindOne({_id: \"feed:<p>\"}) of the audit feed's head", Run: func(e *rawEngine, n int, _ string) opFunc {
		return func(ctx context.Context, i int) error { return e.findProjection(ctx, "feed:"+projectOf(i)) }
	}},
	{Name: "raw list floor", Projections: true, What: "list head + the page's 20 artifacts by _id, 4 at a time", Run: func(e *rawEngine, n int, _ string) opFunc {
		pages := perProject(n, func(p, n int) []string { return newestOfProject(p, n, 20) })
		return func(ctx context.Context, i int) error {
			if err := e.findProjection(ctx, "list:"+projectOf(i)); err != nil {
				return err
			}
			return e.findArtifacts(ctx, pages[i%numProjects])
		}
	}},
	{Name: "raw deployable floor (read models)", Projections: true, What: "findPolicy + chan:<p>:STAGING: head + by _id the newest artifact there that is eligible", Run: func(e *rawEngine, n int, _ string) opFunc {
		reads := perProject(n, deployableArtifacts)
		return func(ctx context.Context, i int) error {
			p := projectOf(i)
			if err := e.findPolicy(ctx, p); err != nil {
				return err
			}
			if err := e.findProjection(ctx, "chan:"+p+":STAGING:"); err != nil {
				return err
			}
			for _, id := range reads[i%numProjects] {
				if err := e.findArtifact(ctx, id); err != nil {
					return err
				}
			}
			return nil
		}
	}},
	{Name: "raw channelStatus floor", Projections: true, What: "status:<p> + the distinct artifacts of its rows by _id, 4 at a time", Run: func(e *rawEngine, n int, _ string) opFunc {
		rows := perProject(n, statusArtifacts)
		return func(ctx context.Context, i int) error {
			if err := e.findProjection(ctx, "status:"+projectOf(i)); err != nil {
				return err
			}
			return e.findArtifacts(ctx, rows[i%numProjects])
		}
	}},
	{Name: "raw auditEvents floor", Projections: true, What: "feed:<p> head + one sealed feed bucket (feed:<p>#0) by _id", Run: func(e *rawEngine, n int, _ string) opFunc {
		return func(ctx context.Context, i int) error {
			p := projectOf(i)
			if err := e.findProjection(ctx, "feed:"+p); err != nil {
				return err
			}
			return e.findProjection(ctx, "feed:"+p+"#0")
		}
	}},
	{Name: "raw updateArtifact", What: "UpdateOne({_id}, $set+$inc+$push audit event and promotion)", Run: func(e *rawEngine, n int, _ string) opFunc {
		return func(ctx context.Context, i int) error { return e.updateArtifact(ctx, promotableIndex(i, n), i) }
	}},
	{Name: "raw mutate floor", What: "findArtifact + findPolicy + updateArtifact (load, rule, one write)", Run: func(e *rawEngine, n int, _ string) opFunc {
		return func(ctx context.Context, i int) error {
			k := promotableIndex(i+n/3, n)
			if err := e.findArtifact(ctx, idOf(k)); err != nil {
				return err
			}
			if err := e.findPolicy(ctx, projectOf(k)); err != nil {
				return err
			}
			return e.updateArtifact(ctx, k, i)
		}
	}},
	{Name: "raw register floor", What: "findPolicy + InsertOne of a new artifact", Run: func(e *rawEngine, n int, run string) opFunc {
		return func(ctx context.Context, i int) error {
			p := projectOf(i)
			if err := e.findPolicy(ctx, p); err != nil {
				return err
			}
			d := digestFor(fmt.Sprintf("raw-registered-%s-%d-%d", run, n, i))
			return e.insertArtifact(ctx, p, d, "raw_"+d[7:39])
		}
	}},
}
