package main

// Quick benchmarks at a small size, for a developer's loop:
//
//	go test ./bench -run '^$' -bench . -benchmem                 # 1,000 artifacts
//	go test ./bench -run '^$' -bench 'API/artifact' -benchmem -artifacts 5000
//
// Nothing is seeded or started unless a benchmark runs: `go test ./...` only runs
// the fast tests below. BenchmarkAPI speaks GraphQL over HTTP on loopback to the
// server binary (the server is package main and cannot run in this process);
// -benchmem there counts this process's client allocations, and the server's own
// allocations per operation are reported as server-allocs/op and server-B/op from
// its /metrics. BenchmarkRaw runs the bare driver calls against the same engine in
// this process, so -benchmem counts driver and engine allocations.

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/artifact-trust/control-plane/model"
)

var benchArtifacts = flag.Int("artifacts", 1000, "artifacts seeded for the benchmarks of this package")

// fixture is the seeded data, the running server and the raw engine, shared by the
// benchmarks of one `go test` run and torn down by TestMain.
type fixture struct {
	n      int
	dir    string
	server *serverProc
	client *gqlClient
	raw    *rawEngine
}

var (
	fixOnce sync.Once
	fix     *fixture
	fixErr  error
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if fix != nil {
		_ = fix.server.Stop()
		if fix.raw != nil {
			_ = fix.raw.close()
		}
		_ = os.RemoveAll(fix.dir)
	}
	os.Exit(code)
}

// setup seeds once, then starts the server on one copy of the data and the raw
// engine on another.
func setup(b *testing.B) *fixture {
	b.Helper()
	fixOnce.Do(func() {
		ctx := context.Background()
		f := &fixture{n: *benchArtifacts}
		if f.dir, fixErr = os.MkdirTemp("", "artifact-trust-gobench-"); fixErr != nil {
			return
		}
		fix = f
		mod, err := moduleRoot()
		if err != nil {
			fixErr = err
			return
		}
		bin, err := buildServer(ctx, mod, f.dir)
		if err != nil {
			fixErr = err
			return
		}
		seed := filepath.Join(f.dir, "seed")
		if _, fixErr = seedStore(ctx, seed, f.n, time.Now().UTC().Add(-time.Duration(f.n+60)*time.Minute), func(string, ...any) {}); fixErr != nil {
			return
		}
		api, raw := filepath.Join(f.dir, "api"), filepath.Join(f.dir, "raw")
		if fixErr = copyDir(seed, api); fixErr != nil {
			return
		}
		if fixErr = copyDir(seed, raw); fixErr != nil {
			return
		}
		if f.server, fixErr = startServer(bin, api, api+".server.log", "warn"); fixErr != nil {
			return
		}
		tok, err := benchToken()
		if err != nil {
			fixErr = err
			return
		}
		f.client = &gqlClient{http: newHTTPClient(), url: f.server.URL + "/query", token: tok}
		f.raw, fixErr = openRawEngine(ctx, raw)
	})
	if fixErr != nil {
		b.Fatal(fixErr)
	}
	return fix
}

func BenchmarkAPI(b *testing.B) {
	f := setup(b)
	ctx := context.Background()
	for _, op := range apiOps {
		b.Run(op.Name, func(b *testing.B) {
			fn := op.Run(f.client, f.n, "gobench-"+time.Now().Format("150405.000"))
			before, err := f.server.scrape(f.client.http)
			if err != nil {
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				if err := fn(ctx, i); err != nil {
					b.Fatal(err)
				}
				i++
			}
			after, err := f.server.scrape(f.client.http)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric((after.Mallocs-before.Mallocs)/float64(i), "server-allocs/op")
			b.ReportMetric((after.AllocB-before.AllocB)/float64(i), "server-B/op")
		})
	}
}

func BenchmarkRaw(b *testing.B) {
	f := setup(b)
	ctx := context.Background()
	proj := f.raw.hasProjections(ctx)
	for _, op := range rawOps {
		b.Run(op.Name, func(b *testing.B) {
			if op.Projections && !proj {
				b.Skip("not on this store's design (read models present: ", proj, ")")
			}
			fn := op.Run(f.raw, f.n, "gobench-"+time.Now().Format("150405.000"))
			i := 0
			for b.Loop() {
				if err := fn(ctx, i); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// The fast tests: the seeded trail is what the benchmark claims, and the
// percentile arithmetic.

func TestSeededTrail(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 200; i++ {
		pol, _, err := benchPolicy(projectOf(i), base)
		if err != nil {
			t.Fatal(err)
		}
		a, err := artifactAt(i, base, &pol)
		if err != nil {
			t.Fatal(err)
		}
		if a.ID != idOf(i) || a.Project != projectOf(i) {
			t.Fatalf("artifact %d: id %s project %s", i, a.ID, a.Project)
		}
		if n := len(a.Promotions); n < 2 || n > 4 {
			t.Errorf("artifact %d: %d promotions", i, n)
		}
		if n := len(a.Audit); n != 8 {
			t.Errorf("artifact %d: %d audit events", i, n)
		}
		want := model.TrustVerified
		if revoked(i) {
			want = model.TrustRevoked
		}
		if a.TrustState != want {
			t.Errorf("artifact %d: trust %s, want %s", i, a.TrustState, want)
		}
		if !a.Passed(model.CheckSignature) || !a.Passed(model.CheckAttestation) || !a.Passed(model.CheckSourceAllowlisted) {
			t.Errorf("artifact %d: verification %+v", i, a.Verification)
		}
		if deprecated(i) != (a.LifecycleState == model.LifecycleDeprecated) {
			t.Errorf("artifact %d: lifecycle %s", i, a.LifecycleState)
		}
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	if pct(d, 50) != 50 || pct(d, 99) != 99 || pct(d, 100) != 100 || pct(d[:1], 99) != 1 || pct(nil, 50) != 0 {
		t.Fatal(pct(d, 50), pct(d, 99), pct(d, 100))
	}
}

func TestPromotableIndexSkipsRevokedAndDeprecated(t *testing.T) {
	for i := 0; i < 5000; i++ {
		if k := promotableIndex(i, 1000); !promotable(k) || k < 0 || k >= 1000 {
			t.Fatalf("promotableIndex(%d) = %d", i, k)
		}
	}
}
