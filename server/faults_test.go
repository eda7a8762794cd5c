package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/artifact-trust/control-plane/auth"
	"github.com/artifact-trust/control-plane/correlation"
)

// ferret is a FerretDB (SQLite handler) the test starts and stops itself, always
// on the same directory and loopback address, standing in for a MongoDB that
// goes away and comes back.
type ferret struct {
	t         *testing.T
	dir, addr string
	cancel    context.CancelFunc
	done      chan struct{}
}

func startFerret(t *testing.T, dir, addr string) *ferret {
	t.Helper()
	f := &ferret{t: t, dir: dir, addr: addr}
	f.start()
	t.Cleanup(f.stop)
	return f
}

func (f *ferret) start() {
	f.t.Helper()
	var (
		db  *ferretdb.FerretDB
		err error
	)
	// The port was just freed by the previous instance; give the OS a moment.
	for attempt := 0; attempt < 50; attempt++ {
		db, err = ferretdb.New(&ferretdb.Config{
			Listener:  ferretdb.ListenerConfig{TCP: f.addr},
			Handler:   "sqlite",
			SQLiteURL: "file:" + f.dir + "/",
			Logger:    slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError})),
		})
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		f.t.Fatalf("start FerretDB on %s: %v", f.addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel, f.done = cancel, make(chan struct{})
	go func() { defer close(f.done); _ = db.Run(ctx) }()
}

// stop closes the listener and every connection, and waits for FerretDB to exit.
func (f *ferret) stop() {
	if f.cancel == nil {
		return
	}
	f.cancel()
	f.cancel = nil
	select {
	case <-f.done:
	case <-time.After(30 * time.Second):
		f.t.Error("FerretDB did not stop within 30s")
	}
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (ts *testServer) readyz() (int, time.Duration) {
	ts.t.Helper()
	start := time.Now()
	resp, err := http.Get(ts.URL + "/readyz")
	if err != nil {
		ts.t.Fatalf("readyz: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode, time.Since(start)
}

// TestDatabaseOutageAndRecovery points the server at a MongoDB-compatible
// database (MONGODB_URI), takes the database away and brings it back: readiness
// fails fast, operations answer INTERNAL (retryable) within a bounded time and
// write nothing, and the server recovers by itself.
func TestDatabaseOutageAndRecovery(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts and stops a database")
	}
	addr := freeLoopbackAddr(t)
	db := startFerret(t, t.TempDir(), addr)
	ts := startServer(t, t.TempDir(), func(c *Config) {
		c.MongoURI = "mongodb://" + addr + "/"
		c.Playground = false
	})
	tok := token(t, "alice", "payments:project_admin", "payments:publisher")
	a := ts.register(tok, "payments", 1, nil)
	if code, _ := ts.readyz(); code != http.StatusOK {
		t.Fatalf("readyz before the outage: %d", code)
	}

	stopStart := time.Now()
	db.stop()
	t.Logf("database stopped in %v", time.Since(stopStart))

	code, took := ts.readyz()
	t.Logf("readyz during the outage: %d in %v", code, took)
	if code != http.StatusServiceUnavailable || took > 3*time.Second {
		t.Fatalf("readyz during the outage: %d in %v", code, took)
	}

	// Every kind of operation, at once: each answers INTERNAL, retryable, in time.
	ops := map[string]struct {
		query string
		vars  map[string]any
	}{
		"register":  {registerMutation, map[string]any{"in": map[string]any{"project": "payments", "digest": digestN(2), "kind": "OCI_IMAGE", "sourceType": "OCI_REGISTRY", "source": "registry.example.com/payments/app"}}},
		"deprecate": {`mutation($id: ID!) { deprecateArtifact(id: $id, reason: "outage") { id } }`, map[string]any{"id": a.ID}},
		"promote":   {`mutation($id: ID!) { promoteArtifact(input: {artifactId: $id, channel: DEV}) { id } }`, map[string]any{"id": a.ID}},
		"policy":    {`mutation { setProjectPolicy(project: "payments", input: {allowedSourceTypes: [OCI_REGISTRY], allowedSources: ["r/"], allowNonOci: false, strictProgression: true}) { version } }`, nil},
		"artifact":  {`query($id: ID!) { artifact(id: $id) { id } }`, map[string]any{"id": a.ID}},
		"list":      {`{ artifacts(project: "payments") { totalCount } }`, nil},
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var slowest time.Duration
	for name, op := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			r := ts.Do(tok, op.query, op.vars)
			d := time.Since(start)
			mu.Lock()
			slowest = max(slowest, d)
			mu.Unlock()
			if r.Status >= 500 || len(r.Errors) != 1 || r.Errors[0].Code() != "INTERNAL" || r.Errors[0].Extensions["retryable"] != true ||
				!strings.Contains(r.Errors[0].Message, "database is unavailable") {
				t.Errorf("%s during the outage: %d %+v", name, r.Status, r.Errors)
			}
			t.Logf("%s during the outage: %q in %v", name, r.Errors[0].Message, d.Round(time.Millisecond))
		}()
	}
	wg.Wait()
	// The driver's server selection timeout (5s) bounds each database call.
	// deprecate and promote act on the same artifact, so the second of them waits
	// for the first on the per-artifact write lock: 2 x 5s. The operation deadline
	// (REQUEST_TIMEOUT, 15s) caps any longer queue.
	if slowest > 11*time.Second {
		t.Fatalf("slowest operation during the outage took %v", slowest)
	}

	restart := time.Now()
	db.start()
	var recovered time.Duration
	for {
		if code, _ := ts.readyz(); code == http.StatusOK {
			recovered = time.Since(restart)
			break
		}
		if time.Since(restart) > 20*time.Second {
			t.Fatal("readyz did not recover within 20s of the database's return")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("readyz 200 again %v after the database returned", recovered.Round(time.Millisecond))

	// Nothing of the refused operations was written.
	var out struct {
		Artifact artifactJSON `json:"artifact"`
		Missing  *struct {
			ID string `json:"id"`
		} `json:"missing"`
		Policy struct {
			Version int `json:"version"`
		} `json:"projectPolicy"`
	}
	ts.MustDo(tok, `query($id: ID!, $d: String!) { artifact(id: $id) { `+artifactFields+` } missing: artifactByDigest(project: "payments", digest: $d) { id } projectPolicy(project: "payments") { version } }`,
		map[string]any{"id": a.ID, "d": digestN(2)}, &out)
	if got := out.Artifact; got.Version != 1 || len(got.Audit) != 1 || len(got.Promotions) != 0 || got.LifecycleState != "PUBLISHED" {
		t.Fatalf("artifact changed during the outage: %+v", got)
	}
	if out.Missing != nil || out.Policy.Version != 0 {
		t.Fatalf("writes landed during the outage: %+v", out)
	}
	// And the server works again without a restart.
	b := ts.register(tok, "payments", 2, nil)
	var dep struct {
		DeprecateArtifact artifactJSON `json:"deprecateArtifact"`
	}
	ts.MustDo(tok, `mutation($id: ID!) { deprecateArtifact(id: $id, reason: "after the outage") { `+artifactFields+` } }`, map[string]any{"id": a.ID}, &dep)
	if dep.DeprecateArtifact.Version != 2 || len(dep.DeprecateArtifact.Audit) != 2 || b.Version != 1 {
		t.Fatalf("after recovery: %+v %+v", dep.DeprecateArtifact, b)
	}
}

// panicHandler builds the real handler over a nil service, so any resolver that
// reaches the service panics (a nil pointer dereference), as does /readyz.
func panicHandler(t *testing.T) (http.Handler, *logtest.Hook) {
	t.Helper()
	cfg, err := parseConfig([]string{"-jwt-hs256-secret", testSecret})
	if err != nil {
		t.Fatal(err)
	}
	log, hook := logtest.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	v, err := auth.NewVerifier(auth.Config{HS256Secret: []byte(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	return newHandler(cfg, nil, v, log, newMetrics()), hook
}

// panicLogged reports whether hook holds an error entry with the correlation id
// that mentions a panic.
func panicLogged(hook *logtest.Hook, cid string) bool {
	for _, e := range hook.AllEntries() {
		if e.Level > logrus.ErrorLevel || e.Data["correlation_id"] != cid {
			continue
		}
		text := e.Message
		if v, ok := e.Data["panic"]; ok {
			text += " " + toString(v)
		}
		if err, ok := e.Data[logrus.ErrorKey].(error); ok {
			text += " " + err.Error()
		}
		if strings.Contains(text, "panic") {
			return true
		}
	}
	return false
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestResolverPanicIsRecovered: a panic inside a resolver is answered as INTERNAL
// (HTTP 200, masked message with the correlation id), logged once with the
// correlation id and the panic, and the server keeps serving.
func TestResolverPanicIsRecovered(t *testing.T) {
	h, hook := panicHandler(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	ts := &testServer{t: t, URL: srv.URL}
	tok := token(t, "alice", "payments:viewer")
	for i := range 3 {
		cid := "panic-test-" + string(rune('a'+i))
		r := ts.Do(tok, `{ artifact(id: "art_0123") { id } }`, nil, correlation.Header, cid)
		if r.Status != http.StatusOK || len(r.Errors) != 1 || r.Errors[0].Code() != "INTERNAL" ||
			!strings.Contains(r.Errors[0].Message, cid) || strings.Contains(r.Errors[0].Message, "nil pointer") {
			t.Fatalf("%d %+v", r.Status, r.Errors)
		}
		if r.Header.Get(correlation.Header) != cid {
			t.Fatalf("correlation header %q", r.Header.Get(correlation.Header))
		}
		if !panicLogged(hook, cid) {
			t.Fatalf("no error log line with correlation id %s: %+v", cid, hook.AllEntries())
		}
	}
	// The resolvers that do not touch the service still work.
	var out struct{ Viewer struct{ Subject string } }
	ts.MustDo(tok, `{ viewer { subject } }`, nil, &out)
	if out.Viewer.Subject != "alice" {
		t.Fatalf("viewer %+v", out)
	}
}

// TestHandlerPanicIsRecovered: a panic outside gqlgen (here /readyz over a nil
// service) is answered 500 INTERNAL in JSON and logged with the correlation id.
func TestHandlerPanicIsRecovered(t *testing.T) {
	h, hook := panicHandler(t)
	req := httptest.NewRequest(http.MethodGet, "/readyz", nil)
	req.Header.Set(correlation.Header, "panic-readyz")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var body struct {
		Errors []gqlError `json:"errors"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != http.StatusInternalServerError ||
		len(body.Errors) != 1 || body.Errors[0].Code() != "INTERNAL" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if !panicLogged(hook, "panic-readyz") {
		t.Fatalf("no error log line with the correlation id: %+v", hook.AllEntries())
	}
}
