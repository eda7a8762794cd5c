package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	_ "modernc.org/sqlite" // the SQLite driver the embedded engine uses

	"github.com/artifact-trust/control-plane/store"
)

// refuseProjectionWrites makes the embedded engine of the server on dataDir refuse
// every insert and update of a read model ("projections" collection) with SQLite's
// disk-full message, while the artifact writes still succeed: what a full disk does
// to a write whose small artifact update fits in the pages it has and whose read
// models need new ones. It installs SQLite triggers on the collection's table (found
// in FerretDB's metadata table) through a connection of its own; they live in the
// database file, so they outlive a restart. The returned func drops them.
func refuseProjectionWrites(t *testing.T, dataDir string) (accept func()) {
	t.Helper()
	path := filepath.Join(dataDir, "artifact_trust.sqlite")
	open := func() *sql.DB {
		db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	db := open()
	defer db.Close()
	ctx := context.Background()
	var table string
	if err := db.QueryRowContext(ctx, `SELECT table_name FROM "_ferretdb_collections" WHERE name = 'projections'`).Scan(&table); err != nil {
		t.Fatalf("projections table: %v", err)
	}
	triggers := []string{"refuse_projection_insert", "refuse_projection_update"}
	for i, op := range []string{"INSERT", "UPDATE"} {
		q := fmt.Sprintf(`CREATE TRIGGER %q BEFORE %s ON %q BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`, triggers[i], op, table)
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return func() {
		t.Helper()
		db := open()
		defer db.Close()
		for _, tr := range triggers {
			if _, err := db.ExecContext(ctx, fmt.Sprintf(`DROP TRIGGER %q`, tr)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// readiness returns /readyz's status code and body.
func (ts *testServer) readiness() (int, map[string]string) {
	ts.t.Helper()
	resp, err := http.Get(ts.URL + "/readyz")
	if err != nil {
		ts.t.Fatalf("readyz: %v", err)
	}
	defer resp.Body.Close()
	var body map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		ts.t.Fatalf("readyz body: %v", err)
	}
	return resp.StatusCode, body
}

// metric returns the line of /metrics that starts with name and a space.
func (ts *testServer) metric(name string) string {
	ts.t.Helper()
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		ts.t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, name+" ") {
			return line
		}
	}
	return ""
}

// promotionShows reports whether digest's DEV promotion shows in deployable, channel
// status and the audit feed of payments.
func (ts *testServer) promotionShows(tok, artifactID, digest string) bool {
	ts.t.Helper()
	var out struct {
		Deployable *struct {
			Digest string `json:"digest"`
		} `json:"deployable"`
		ChannelStatus []struct {
			Channel string `json:"channel"`
			Digest  string `json:"digest"`
		} `json:"channelStatus"`
		AuditEvents struct {
			Edges []struct {
				Node struct {
					Action     string `json:"action"`
					ArtifactID string `json:"artifactId"`
				} `json:"node"`
			} `json:"edges"`
		} `json:"auditEvents"`
	}
	ts.MustDo(tok, `{ deployable(project: "payments", channel: DEV) { digest }
		channelStatus(project: "payments") { channel digest }
		auditEvents(project: "payments", first: 10) { edges { node { action artifactId } } } }`, nil, &out)
	deployable := out.Deployable != nil && out.Deployable.Digest == digest
	var status, feed bool
	for _, s := range out.ChannelStatus {
		status = status || (s.Channel == "DEV" && s.Digest == digest)
	}
	for _, e := range out.AuditEvents.Edges {
		feed = feed || (e.Node.Action == "app_artifact.promote" && e.Node.ArtifactID == artifactID)
	}
	return deployable && status && feed
}

// waitUntil polls cond every 50 ms until it holds, and returns how long that took;
// limit only bounds a failing test.
func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// verifiedArtifact sets up payments and returns a verified artifact ready for DEV.
func verifiedArtifact(t *testing.T, ts *testServer, c cast) artifactJSON {
	t.Helper()
	allowRegistry(t, ts, c, nil)
	a := ts.register(c.publisher, "payments", 1, map[string]any{"source": "registry.example.com/payments/api"})
	ts.verify(c.verifier, a.ID, "SIGNATURE=PASSED", "ATTESTATION=PASSED")
	return a
}

// TestAcknowledgedPromotionShowsWithinSecondsOnceTheEngineAcceptsWritesAgain: the
// engine accepts a promotion but refuses its read-model writes (a full disk). The
// promotion is acknowledged, missing from deployable, channel status and the feed,
// /readyz says why (503) and /metrics counts the backlog. Once the engine accepts
// writes again, the promotion shows everywhere within seconds (it took 60 to 90 s
// when only entries older than a minute were replayed, every 30 s), /readyz is 200
// and the backlog 0.
// Not parallel (nor the next test): the repaired promotion shows in the read
// models a moment before the outbox entry is cleared and readiness turns 200;
// under the load of parallel tests the readiness check landed in that moment.
func TestAcknowledgedPromotionShowsWithinSecondsOnceTheEngineAcceptsWritesAgain(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir)
	c := newCast(t)
	a := verifiedArtifact(t, ts, c)
	if code, body := ts.readiness(); code != http.StatusOK {
		t.Fatalf("readyz before: %d %v", code, body)
	}

	accept := refuseProjectionWrites(t, dir)
	if p := ts.promote(c.promoter, a.ID, "DEV", ""); p.LifecycleState != "PROMOTED" || len(p.Promotions) != 1 {
		t.Fatalf("promotion not acknowledged: %+v", p)
	}
	if ts.promotionShows(c.viewer, a.ID, a.Digest) {
		t.Fatal("the promotion reached the read models although the engine refused their writes")
	}
	code, body := ts.readiness()
	if code != http.StatusServiceUnavailable || body["status"] != "degraded" || !strings.Contains(body["reason"], "outbox repair pending: 1 acknowledged write(s)") {
		t.Fatalf("readyz while the read models lack an acknowledged write: %d %v", code, body)
	}
	if got := ts.metric("artifact_trust_outbox_backlog"); got != "artifact_trust_outbox_backlog 1" {
		t.Fatalf("backlog metric: %q", got)
	}
	if got := ts.metric("artifact_trust_outbox_failing"); got != "artifact_trust_outbox_failing 1" {
		t.Fatalf("failing metric: %q", got)
	}

	accept()
	took := waitUntil(t, 10*time.Second, "promotion in deployable, channelStatus and the feed", func() bool {
		return ts.promotionShows(c.viewer, a.ID, a.Digest)
	})
	t.Logf("promotion visible %v after the engine accepted writes again", took.Round(time.Millisecond))
	// The promotion shows once its read models are written, a moment before the
	// repairer settles its entry.
	waitUntil(t, 10*time.Second, "readyz ready after the repair", func() bool { code, _ := ts.readiness(); return code == http.StatusOK })
	if got := ts.metric("artifact_trust_outbox_backlog"); got != "artifact_trust_outbox_backlog 0" {
		t.Fatalf("backlog metric after the repair: %q", got)
	}
}

// TestServerStartsDegradedWhenTheOutboxReplayFailsAndRepairsItself: a server
// restarted while the engine still refuses the read-model writes of an acknowledged
// promotion starts anyway (it used to exit with "outbox replay: ... database or disk
// is full"); /readyz answers 503 naming the pending repair until the engine accepts
// writes, then 200, and the promotion shows without another restart.
func TestServerStartsDegradedWhenTheOutboxReplayFailsAndRepairsItself(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir)
	c := newCast(t)
	a := verifiedArtifact(t, ts, c)
	accept := refuseProjectionWrites(t, dir)
	ts.promote(c.promoter, a.ID, "DEV", "")
	ts.Stop()

	ts = startServer(t, dir)
	code, body := ts.readiness()
	if code != http.StatusServiceUnavailable || body["status"] != "degraded" || !strings.Contains(body["reason"], "outbox repair pending") {
		t.Fatalf("readyz after a start whose replay failed: %d %v", code, body)
	}
	if ts.promotionShows(c.viewer, a.ID, a.Digest) {
		t.Fatal("the promotion reached the read models although the engine refused their writes")
	}

	accept()
	took := waitUntil(t, 10*time.Second, "readyz 200", func() bool { code, _ := ts.readiness(); return code == http.StatusOK })
	t.Logf("readyz 200 %v after the engine accepted writes again", took.Round(time.Millisecond))
	if !ts.promotionShows(c.viewer, a.ID, a.Digest) {
		t.Fatal("ready, but the promotion is not in the read models")
	}
}

// TestReadinessRecoversWhenAPoisonedOutboxEntryIsQuarantined: an acknowledged
// promotion whose read models the engine refuses every time makes /readyz answer 503
// (it used to, for ever); once its repair has failed past the bound (the repairer's
// clock moved past it) the entry is quarantined: /readyz answers 200 naming it, the
// quarantined gauge counts it and the failing gauge no longer does, and the
// promotion is still missing (nothing claimed repaired).
func TestReadinessRecoversWhenAPoisonedOutboxEntryIsQuarantined(t *testing.T) {
	dir := t.TempDir()
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	ts := startServer(t, dir, func(c *Config) { c.repairClock = clock })
	c := newCast(t)
	a := verifiedArtifact(t, ts, c)
	refuseProjectionWrites(t, dir)
	ts.promote(c.promoter, a.ID, "DEV", "")
	if code, body := ts.readiness(); code != http.StatusServiceUnavailable || body["status"] != "degraded" {
		t.Fatalf("readyz with a failing outbox entry: %d %v", code, body)
	}

	offset.Add(int64(10 * time.Minute)) // past the quarantine bound
	took := waitUntil(t, 30*time.Second, "readyz 200", func() bool { code, _ := ts.readiness(); return code == http.StatusOK })
	t.Logf("readyz 200 %v after the bound passed", took.Round(time.Millisecond))
	code, body := ts.readiness()
	if code != http.StatusOK || body["status"] != "ready" || !strings.HasPrefix(body["quarantined"], "1 outbox entries quarantined") {
		t.Fatalf("readyz with the entry quarantined: %d %v", code, body)
	}
	if got := ts.metric("artifact_trust_outbox_quarantined"); got != "artifact_trust_outbox_quarantined 1" {
		t.Fatalf("quarantined metric: %q", got)
	}
	if got := ts.metric("artifact_trust_outbox_failing"); got != "artifact_trust_outbox_failing 0" {
		t.Fatalf("failing metric: %q", got)
	}
	if got := ts.metric("artifact_trust_outbox_backlog"); got != "artifact_trust_outbox_backlog 1" {
		t.Fatalf("backlog metric: %q", got)
	}
	if ts.promotionShows(c.viewer, a.ID, a.Digest) {
		t.Fatal("the promotion shows although its read models were refused")
	}
}

// TestRepairCommandClearsAQuarantinedOutboxEntry: an outbox entry that cannot be
// decoded is quarantined by the server that finds it (ready, named by /readyz); the
// repair command's rebuild of its project deletes it and says so, and the next
// server has nothing quarantined.
func TestRepairCommandClearsAQuarantinedOutboxEntry(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir)
	ts.Stop()
	st, err := store.Open(context.Background(), store.Config{DataDir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Database().Collection("outbox").InsertOne(context.Background(),
		bson.D{{Key: "_id", Value: "art_x:2:bad"}, {Key: "project", Value: "payments"}, {Key: "version", Value: "two"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	ts = startServer(t, dir)
	if code, body := ts.readiness(); code != http.StatusOK || !strings.HasPrefix(body["quarantined"], "1 outbox entries quarantined") {
		t.Fatalf("readyz with a malformed outbox entry: %d %v", code, body)
	}
	ts.Stop()

	out := repairProject(t, dir, "payments")
	if !strings.Contains(out, "1 outbox entries cleared (1 of them quarantined)") {
		t.Fatalf("repair output: %q", out)
	}
	ts = startServer(t, dir)
	if code, body := ts.readiness(); code != http.StatusOK || body["quarantined"] != "" {
		t.Fatalf("readyz after the repair: %d %v", code, body)
	}
	if got := ts.metric("artifact_trust_outbox_quarantined"); got != "artifact_trust_outbox_quarantined 0" {
		t.Fatalf("quarantined metric after the repair: %q", got)
	}
}
