package main

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

// dropReadModels deletes every read-model document of the embedded engine on
// dataDir except the schema marker (so opening the store does not rebuild them by
// itself): what a restore of the artifacts collection alone leaves behind.
func dropReadModels(t *testing.T, dataDir string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(filepath.Join(dataDir, "artifact_trust.sqlite"))+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	var table string
	if err := db.QueryRowContext(ctx, `SELECT table_name FROM "_ferretdb_collections" WHERE name = 'projections'`).Scan(&table); err != nil {
		t.Fatalf("projections table: %v", err)
	}
	res, err := db.ExecContext(ctx, `DELETE FROM "`+table+`" WHERE json_extract(_ferretdb_sjson, '$._id') != 'meta:projections'`)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t.Fatal("no read-model document was deleted")
	}
}

// TestRepairCommandRebuildsReadModelsFromTheArtifacts: with the read models gone
// and only the artifact documents left, deployable, channelStatus and the audit
// feed show nothing; `server repair` rebuilds them from the artifacts, and the next
// server shows the promotion again.
func TestRepairCommandRebuildsReadModelsFromTheArtifacts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ts := startServer(t, dir)
	c := newCast(t)
	a := verifiedArtifact(t, ts, c)
	ts.promote(c.promoter, a.ID, "DEV", "")
	ts.Stop()
	dropReadModels(t, dir)

	ts = startServer(t, dir)
	if ts.promotionShows(c.viewer, a.ID, a.Digest) {
		t.Fatal("the promotion shows although its read models were deleted")
	}
	ts.Stop()

	out := repairProject(t, dir, "payments")
	if !strings.Contains(out, "read models of project payments rebuilt") {
		t.Fatalf("repair output: %q", out)
	}
	ts = startServer(t, dir)
	if !ts.promotionShows(c.viewer, a.ID, a.Digest) {
		t.Fatal("after repair the promotion is still missing from the read models")
	}
}

// TestRepairCommandRefusesBadArguments: a project name that cannot exist and
// stray arguments are refused before the database is opened.
func TestRepairCommandRefusesBadArguments(t *testing.T) {
	t.Parallel()
	log := logrus.New()
	log.SetOutput(&testLogWriter{t: t})
	for _, args := range [][]string{{"--project", "Not A Project"}, {"extra"}, {"--no-such-flag"}} {
		var out bytes.Buffer
		if err := repairCommand(context.Background(), append(args, "--data-dir", t.TempDir()), &out, log); err == nil {
			t.Errorf("repair %v: accepted", args)
		}
	}
}

// repairProject runs `server repair --project project` on the embedded engine in
// dir (no server may run on it) and returns what it printed.
func repairProject(t *testing.T, dir, project string) string {
	t.Helper()
	var out bytes.Buffer
	log := logrus.New()
	log.SetOutput(&testLogWriter{t: t})
	if err := repairCommand(context.Background(), []string{"--data-dir", dir, "--mongodb-uri", "", "--project", project}, &out, log); err != nil {
		t.Fatal(err)
	}
	return out.String()
}
