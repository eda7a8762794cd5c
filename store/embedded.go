package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/FerretDB/FerretDB/ferretdb"
	"github.com/gofrs/flock"
	"github.com/sirupsen/logrus"
	_ "modernc.org/sqlite" // driver "sqlite", the same one FerretDB uses
)

// FerretDB v1.24.2 SQLite backend internals this file relies on. They are pinned
// with the FerretDB version in go.mod; TestEmbeddedIDIndexUsed fails if they change.
const (
	// ferretMetadataTable lists collections: (name, table_name, settings).
	// internal/backends/sqlite/metadata/registry.go: metadataTableName.
	ferretMetadataTable = "_ferretdb_collections"
	// ferretIDExpr is how FerretDB addresses _id when it pushes an _id equality
	// down to SQLite (metadata.IDColumn): `SELECT _ferretdb_sjson FROM "t" WHERE
	// _ferretdb_sjson->'$._id' = ?` and `UPDATE "t" SET _ferretdb_sjson = ? WHERE
	// _ferretdb_sjson->'$._id' = ?` (internal/backends/sqlite/collection.go).
	// FerretDB's own _id index is on `_ferretdb_sjson->"_id"`, which SQLite does not
	// consider the same expression, so without our index every _id look-up scans.
	ferretIDExpr = `_ferretdb_sjson->'$._id'`
	// sqliteExt is the database file extension (pool.filenameExtension).
	sqliteExt = ".sqlite"
	// idIndexSuffix names our expression index: <table>_id_expr.
	idIndexSuffix = "_id_expr"
)

// embeddedEngine is a FerretDB running inside this process on DataDir, which it
// holds an OS file lock on.
type embeddedEngine struct {
	dir    string
	uri    string
	lock   *flock.Flock
	cancel context.CancelFunc
	done   chan struct{}
}

// embeddedNoSync, set by this package's tests before any store opens, starts the
// embedded engine with SQLite's synchronous=OFF: commits are not fsynced. A
// process that dies (kill -9, or the crashes the tests simulate) loses no
// committed write without the fsync, only a machine that loses power does, which
// no test can show; the fsyncs made the store's tests wait on the disk. Never set
// outside tests.
var embeddedNoSync bool

// ferretNewMu serializes ferretdb.New, which sets a package variable of FerretDB's
// (version.Get().Package): two stores opening at once in one process (parallel
// tests, a tool holding two stores) would race on it.
var ferretNewMu sync.Mutex

// startEmbedded locks dir and starts FerretDB (SQLite handler) on a loopback port.
func startEmbedded(dir string, log *logrus.Entry) (*embeddedEngine, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("store: DATA_DIR %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("store: create DATA_DIR %s: %w", abs, err)
	}
	lock := flock.New(filepath.Join(abs, "LOCK"))
	locked, err := lock.TryLock()
	if err != nil {
		return nil, fmt.Errorf("store: lock DATA_DIR %s: %w", abs, err)
	}
	if !locked {
		return nil, fmt.Errorf("store: another server is using DATA_DIR %s", abs)
	}

	// FerretDB wants a file: URI of an existing directory ending in "/".
	sqliteURL := "file:" + filepath.ToSlash(abs) + "/"
	if embeddedNoSync {
		sqliteURL += "?_pragma=synchronous(off)"
	}
	ferretNewMu.Lock() // see ferretNewMu
	fdb, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
		// FerretDB's default logging is very slow; only its errors reach our log.
		Logger: slog.New(&slogToLogrus{log: log.WithField("component", "ferretdb")}),
	})
	ferretNewMu.Unlock()
	if err != nil {
		_ = lock.Unlock()
		return nil, fmt.Errorf("store: start embedded FerretDB in %s: %w", abs, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := fdb.Run(ctx); err != nil {
			log.WithError(err).Error("embedded FerretDB stopped")
		}
	}()
	return &embeddedEngine{dir: abs, uri: fdb.MongoDBURI(), lock: lock, cancel: cancel, done: done}, nil
}

// stop stops FerretDB, waits for it to close its files, and releases the lock.
func (e *embeddedEngine) stop() error {
	e.cancel()
	<-e.done
	if err := e.lock.Unlock(); err != nil {
		return fmt.Errorf("store: unlock DATA_DIR %s: %w", e.dir, err)
	}
	return nil
}

// sqlitePath is the SQLite file FerretDB keeps database in.
func (e *embeddedEngine) sqlitePath(database string) string {
	return filepath.Join(e.dir, database+sqliteExt)
}

// openSQLite opens FerretDB's SQLite file for database beside FerretDB's own pool
// (WAL mode, so readers and the one writer coexist; busy_timeout as FerretDB's).
func (e *embeddedEngine) openSQLite(database string) (*sql.DB, error) {
	path := e.sqlitePath(database)
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	return sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?_pragma=busy_timeout(10000)")
}

// collectionTables maps collection names to their SQLite tables from FerretDB's
// metadata table.
func collectionTables(ctx context.Context, db *sql.DB, names []string) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT name, table_name FROM %q`, ferretMetadataTable))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", ferretMetadataTable, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, table string
		if err := rows.Scan(&name, &table); err != nil {
			return nil, err
		}
		if contains(names, name) {
			out[name] = table
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			return nil, fmt.Errorf("collection %s not found in %s", n, ferretMetadataTable)
		}
	}
	return out, nil
}

// createIDIndexes adds, to each collection's table, an expression index on exactly
// the expression FerretDB filters _id with, so _id look-ups and updates use an index
// instead of scanning the table. Idempotent.
func (e *embeddedEngine) createIDIndexes(ctx context.Context, database string, collections []string) error {
	db, err := e.openSQLite(database)
	if err != nil {
		return err
	}
	defer db.Close()
	tables, err := collectionTables(ctx, db, collections)
	if err != nil {
		return err
	}
	for _, c := range collections {
		t := tables[c]
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (%s)`, t+idIndexSuffix, t, ferretIDExpr)
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// slogToLogrus forwards FerretDB's error records to logrus and drops the rest.
type slogToLogrus struct {
	log    *logrus.Entry
	attrs  []slog.Attr
	groups []string
}

func (h *slogToLogrus) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }

func (h *slogToLogrus) Handle(_ context.Context, r slog.Record) error {
	fields := logrus.Fields{}
	prefix := strings.Join(h.groups, ".")
	add := func(a slog.Attr) {
		k := a.Key
		if prefix != "" {
			k = prefix + "." + k
		}
		fields[k] = a.Value.String()
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(func(a slog.Attr) bool { add(a); return true })
	h.log.WithFields(fields).Error(r.Message)
	return nil
}

func (h *slogToLogrus) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), attrs...)
	return &c
}

func (h *slogToLogrus) WithGroup(name string) slog.Handler {
	c := *h
	c.groups = append(append([]string(nil), h.groups...), name)
	return &c
}

var _ slog.Handler = (*slogToLogrus)(nil)
