package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/store"
)

// repairCommand rebuilds the read models (artifact lists, audit feeds, channel
// logs and summaries) of one project, or of every project, from a scan of the
// artifact documents, which are the source of truth. The server repairs what a
// failed write left behind by itself (the outbox); this is for an operator who
// restored artifact documents from a backup or edited them by hand, and for one
// whose server reports quarantined outbox entries (writes whose read models could
// not be updated however often it tried, logged at error level): the rebuild covers
// their writes and deletes them. Run it with the servers stopped: a write landing
// during the scan may be missed by the rebuild until that artifact is written again.
//
//	go run ./server repair [--project payments] [--data-dir ./data | --mongodb-uri URI]
func repairCommand(ctx context.Context, args []string, out io.Writer, log *logrus.Logger) error {
	fs := flag.NewFlagSet("repair", flag.ContinueOnError)
	fs.SetOutput(out)
	project := fs.String("project", "", "project whose read models are rebuilt; empty rebuilds every project")
	uri := fs.String("mongodb-uri", getenv("MONGODB_URI", ""), "MongoDB connection string; empty opens the embedded engine in --data-dir (MONGODB_URI)")
	database := fs.String("mongodb-database", getenv("MONGODB_DATABASE", "artifact_trust"), "database name (MONGODB_DATABASE)")
	dataDir := fs.String("data-dir", getenv("DATA_DIR", "./data"), "embedded engine's files (DATA_DIR)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *project != "" {
		if err := model.ValidateProject(*project); err != nil {
			return err
		}
	}
	st, err := store.Open(ctx, store.Config{MongoURI: *uri, Database: *database, DataDir: *dataDir}, logrus.NewEntry(log))
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = st.Close(cctx)
	}()
	start := time.Now()
	before := st.Repairs()
	if err := st.RebuildProjections(ctx, *project); err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	after := st.Repairs()
	scope := "every project"
	if *project != "" {
		scope = "project " + *project
	}
	fmt.Fprintf(out, "read models of %s rebuilt from the artifact documents in %s\n", scope, time.Since(start).Round(time.Millisecond))
	if n := before.Backlog - after.Backlog; n > 0 {
		fmt.Fprintf(out, "%d outbox entries cleared (%d of them quarantined): the rebuild covers their writes\n", n, before.Quarantined-after.Quarantined)
	}
	for _, q := range st.Quarantine() {
		fmt.Fprintf(out, "outbox entry %s of project %q stays quarantined: %v\n", q.ID, q.Project, q.Err)
	}
	return nil
}
