package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestEmbeddedIDIndexUsed proves that the _id look-ups FerretDB v1.24.2 sends to
// SQLite use our expression index instead of scanning the table: first on the exact
// statement texts of internal/backends/sqlite/collection.go (Query and UpdateAll),
// then through FerretDB's own explain, which runs EXPLAIN QUERY PLAN on the query it
// builds for a find by _id.
func TestEmbeddedIDIndexUsed(t *testing.T) {
	t.Parallel()
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	a := newArtifact("payments", "api", t0)
	mustInsert(t, s, a)

	db, err := s.embedded.openSQLite(DefaultDatabase)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tables, err := collectionTables(ctx, db, []string{artifactsCollection, policiesCollection})
	if err != nil {
		t.Fatal(err)
	}
	for coll, table := range tables {
		index := table + idIndexSuffix
		statements := []string{
			// collection.Query: prepareSelectClause + ` WHERE %s = ?` with metadata.IDColumn.
			fmt.Sprintf(`SELECT %s FROM %q WHERE %s = ?`, "_ferretdb_sjson", table, "_ferretdb_sjson->'$._id'"),
			// collection.Query with a $comment.
			fmt.Sprintf(`SELECT /* c */ %s FROM %q WHERE %s = ?`, "_ferretdb_sjson", table, "_ferretdb_sjson->'$._id'"),
			// collection.UpdateAll.
			fmt.Sprintf(`UPDATE %q SET %s = ? WHERE %s = ?`, table, "_ferretdb_sjson", "_ferretdb_sjson->'$._id'"),
		}
		for _, q := range statements {
			args := []any{`"` + a.ID + `"`}
			if strings.HasPrefix(q, "UPDATE") {
				args = append([]any{"{}"}, args...)
			}
			plan := explain(t, db, q, args...)
			if !strings.Contains(plan, "USING INDEX "+index) {
				t.Errorf("%s: %s does not use %s:\n%s", coll, q, index, plan)
			}
		}
	}

	// What FerretDB itself plans for a find by _id.
	var res bson.M
	cmd := bson.D{{Key: "explain", Value: bson.D{
		{Key: "find", Value: artifactsCollection},
		{Key: "filter", Value: bson.D{{Key: "_id", Value: a.ID}}},
	}}}
	if err := s.db.RunCommand(ctx, cmd).Decode(&res); err != nil {
		t.Fatal(err)
	}
	plan := fmt.Sprint(res["queryPlanner"])
	if !strings.Contains(plan, "USING INDEX "+tables[artifactsCollection]+idIndexSuffix) {
		t.Fatalf("FerretDB's plan for find by _id does not use the index: %v", res)
	}
	if res["filterPushdown"] != true {
		t.Fatalf("find by _id not pushed down: %v", res)
	}
}

func explain(t *testing.T, db *sql.DB, q string, args ...any) string {
	t.Helper()
	rows, err := db.Query("EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatalf("EXPLAIN QUERY PLAN %s: %v", q, err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// TestStoresOpenConcurrentlyInOneProcess: several stores with their own DATA_DIR open
// at once in one process (as parallel tests and tools do) and each serves its own
// data. ferretdb.New sets a package variable of FerretDB's: the race detector (CI's
// race stage) fails this test when those calls are not serialized.
func TestStoresOpenConcurrentlyInOneProcess(t *testing.T) {
	t.Parallel()
	const n = 3
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = Open(context.Background(), Config{DataDir: t.TempDir()}, testLog(t))
		}()
	}
	wg.Wait()
	for i, s := range stores {
		if errs[i] != nil {
			t.Fatalf("Open %d: %v", i, errs[i])
		}
		t.Cleanup(func() { _ = s.Close(context.Background()) })
	}
	for i, s := range stores {
		mustInsert(t, s, newArtifact("payments", fmt.Sprint(i), t0))
	}
	for i, s := range stores {
		for j := range n {
			_, err := s.GetArtifact(context.Background(), newArtifact("payments", fmt.Sprint(j), t0).ID)
			if (err == nil) != (i == j) {
				t.Fatalf("store %d, artifact of store %d: %v", i, j, err)
			}
		}
	}
}
