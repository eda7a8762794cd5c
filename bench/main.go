// Command bench measures the control plane on its embedded engine: the GraphQL API
// over HTTP on loopback against the raw driver calls it is built from, on the same
// seeded data and the same engine, at several collection sizes; and, with -soak,
// the server's memory under a bounded mixed load.
//
//	go run ./bench -artifacts 1000,50000 -duration 10s -clients 1,8 -out BENCHMARKS.md
//	go run ./bench -artifacts 1000 -soak 10m
//	go run ./bench -hostile 1000          # memory under a flood of distinct large documents
//	go run ./bench -rederive 10000        # trust re-derivation of one project after a policy tightening
//	go run ./bench -rederive 10000 -rederive-rate 50   # the same with the API at 50 deployable queries/s
//	go run ./bench -webhooks 1000         # webhook delivery throughput and its cost to mutations
//
// Every load loop is bounded in requests and in time, and speaks to loopback only.
// See BENCHMARKS.md for the design and the results.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	Sizes       []int
	Clients     []int
	Duration    time.Duration
	Requests    int
	Out         string
	JSONOut     string
	WorkDir     string
	Keep        bool
	Soak        time.Duration
	SoakRate    float64
	SoakEvery   time.Duration
	SeedAPI     int
	ServerLog   string
	Ops         string
	SkipRaw     bool
	SkipAPI     bool
	Description string
	Render      string
	Hostile     int
	ServerBin   string
	Rederive    int
	// RederiveRate paces the -rederive client's deployable queries (per second; 0:
	// a closed loop, as fast as the API answers).
	RederiveRate int
	Webhooks     int
}

func main() {
	var o options
	sizes := flag.String("artifacts", "1000", "comma-separated collection sizes to seed and measure")
	clients := flag.String("clients", "1,8", "comma-separated numbers of concurrent clients")
	flag.DurationVar(&o.Duration, "duration", 10*time.Second, "time bound of one measurement (one operation at one concurrency)")
	flag.IntVar(&o.Requests, "requests", 2000, "request bound of one measurement (registerArtifact: at most max(100, artifacts/10))")
	flag.StringVar(&o.Out, "out", "", "write the Markdown report here (between the bench markers when the file has them)")
	flag.StringVar(&o.JSONOut, "json", "", "also write every measurement as JSON here")
	flag.StringVar(&o.WorkDir, "workdir", "", "where DATA_DIRs and the server binary go (default: a new temp dir, removed at the end)")
	flag.BoolVar(&o.Keep, "keep", false, "keep the work dir")
	flag.DurationVar(&o.Soak, "soak", 0, "instead of the benchmark: run a bounded mixed load this long on the first size and sample the server's memory")
	flag.Float64Var(&o.SoakRate, "soak-rate", 40, "requests per second of the soak load (open loop, about 70% reads)")
	flag.DurationVar(&o.SoakEvery, "soak-every", 30*time.Second, "memory sampling interval of the soak")
	flag.IntVar(&o.SeedAPI, "seed-api", 0, "instead of the benchmark: seed this many artifacts through the GraphQL API (8 clients) and report the time")
	flag.StringVar(&o.ServerLog, "server-log-level", "info", "LOG_LEVEL of the server (info writes one access line per request, as in production)")
	flag.StringVar(&o.Ops, "ops", "", "only the operations whose names contain one of these comma-separated strings")
	flag.BoolVar(&o.SkipRaw, "skip-raw", false, "skip the raw driver baseline")
	flag.BoolVar(&o.SkipAPI, "skip-api", false, "skip the API measurements")
	flag.StringVar(&o.Description, "label", "", "a label for this run, printed in the report")
	flag.StringVar(&o.Render, "render", "", "instead of running: rewrite the Markdown report (to stdout and -out) from a run saved with -json")
	flag.IntVar(&o.Hostile, "hostile", 0, "instead of the benchmark: send this many distinct ~40 KB documents without a token, then as many with one, and report the server's memory")
	flag.IntVar(&o.RederiveRate, "rederive-rate", 0, "with -rederive: deployable queries per second during the job (one registration per ten); 0 runs them in a closed loop, as fast as the API answers")
	flag.IntVar(&o.Rederive, "rederive", 0, "instead of the benchmark: seed this many artifacts into one project, tighten its policy and report how long the trust re-derivation takes and deployable's latency during it")
	flag.IntVar(&o.Webhooks, "webhooks", 0, "instead of the benchmark: send this many registrations with no webhook, then with 3 webhooks to a fast loopback receiver, and report the mutation latency of each and how long the deliveries took")
	flag.StringVar(&o.ServerBin, "server-bin", "", "measure this server binary instead of building ./server (e.g. an older build, for a before/after)")
	flag.Parse()
	var err error
	if o.Sizes, err = ints(*sizes); err != nil {
		fatal("-artifacts: %v", err)
	}
	if o.Clients, err = ints(*clients); err != nil {
		fatal("-clients: %v", err)
	}
	if o.Render != "" {
		if err := renderJSON(o.Render, o); err != nil {
			fatal("%v", err)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Args[1:]); err != nil {
		fatal("%v", err)
	}
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(strings.ReplaceAll(f, "_", ""))
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty list")
	}
	return out, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

func run(ctx context.Context, o options, args []string) error {
	mod, err := moduleRoot()
	if err != nil {
		return err
	}
	work := o.WorkDir
	if work == "" {
		if work, err = os.MkdirTemp("", "artifact-trust-bench-"); err != nil {
			return err
		}
		if !o.Keep {
			defer os.RemoveAll(work)
		}
	} else if err := os.MkdirAll(work, 0o750); err != nil {
		return err
	}
	bin := o.ServerBin
	if bin == "" {
		logf("work dir %s; building ./server", work)
		if bin, err = buildServer(ctx, mod, work); err != nil {
			return err
		}
	}
	rep := &report{
		Command: "go run ./bench " + strings.Join(args, " "),
		Label:   o.Description,
		Machine: machineInfo(),
		Commit:  gitDescribe(mod),
		Started: time.Now().UTC(),
		Options: o,
	}
	switch {
	case o.SeedAPI > 0:
		return runSeedAPI(ctx, o, bin, work)
	case o.Hostile > 0:
		return runHostile(ctx, o, bin, work)
	case o.Rederive > 0:
		return runRederive(ctx, o, bin, work)
	case o.Webhooks > 0:
		return runWebhooks(ctx, o, bin, work)
	case o.Soak > 0:
		if err := runSoak(ctx, o, bin, work, rep); err != nil {
			return err
		}
	default:
		for _, n := range o.Sizes {
			sr, err := runSize(ctx, o, bin, filepath.Join(work, fmt.Sprintf("size-%d", n)), n)
			if sr != nil {
				rep.Sizes = append(rep.Sizes, *sr)
			}
			if err != nil {
				writeReport(rep, o)
				return err
			}
		}
	}
	rep.Finished = time.Now().UTC()
	return writeReport(rep, o)
}

// runSize seeds n artifacts, copies the seeded DATA_DIR twice, and measures the API
// on one copy and the raw driver on the other, pairwise (runPaired).
func runSize(ctx context.Context, o options, bin, dir string, n int) (*sizeRun, error) {
	sr := &sizeRun{Size: n, Projects: numProjects}
	seedDir := filepath.Join(dir, "seed")
	base := time.Now().UTC().Add(-time.Duration(n+60) * time.Minute)
	logf("size %d: seeding %d artifacts over %d projects", n, n, numProjects)
	st, err := seedStore(ctx, seedDir, n, base, logf)
	if err != nil {
		return nil, fmt.Errorf("seed %d: %w", n, err)
	}
	sr.Seed = st
	sr.DataBytes = dirSize(seedDir)
	logf("size %d: seeded in %s (%.0f artifacts/s, %s), data %d MiB", n, st.Duration.Round(time.Millisecond), st.Rate, st.Path, sr.DataBytes>>20)

	apiDir, rawDir := filepath.Join(dir, "api"), filepath.Join(dir, "raw")
	for _, d := range []string{apiDir, rawDir} {
		if err := copyDir(seedDir, d); err != nil {
			return sr, err
		}
	}
	if err := runPaired(ctx, o, bin, apiDir, rawDir, n, sr); err != nil {
		return sr, err
	}
	if !o.Keep {
		_ = os.RemoveAll(dir)
	}
	return sr, nil
}

func selected(o options, name string) bool {
	if o.Ops == "" {
		return true
	}
	for _, f := range strings.Split(o.Ops, ",") {
		if f != "" && strings.Contains(name, f) {
			return true
		}
	}
	return false
}

// requestsFor bounds a measurement's requests; registrations grow the collection,
// so they are held to a tenth of it (at least 100).
func requestsFor(o options, op string, n int) int {
	if op == "registerArtifact" {
		return min(o.Requests, max(100, n/10))
	}
	return o.Requests
}

// runPaired measures on two identical copies of the seeded DATA_DIR at once: the
// server (its own embedded engine) on one, the raw driver (the same engine, opened
// by the store in this process) on the other. Each API operation is measured, then
// at once the raw floor it is compared with, so both see the same machine; the
// remaining raw measurements follow. Reads come before writes on each copy.
func runPaired(ctx context.Context, o options, bin, apiDir, rawDir string, n int, sr *sizeRun) error {
	var e *rawEngine
	if !o.SkipRaw {
		var err error
		if e, err = openRawEngine(ctx, rawDir); err != nil {
			return fmt.Errorf("raw engine: %w", err)
		}
		defer e.close()
		sr.RawEngine = e.how
		sr.ReadModels = e.hasProjections(ctx)
		sr.DocSizes = e.docSizes(ctx, sr.ReadModels)
	}
	var sp *serverProc
	var c *gqlClient
	var scrapeAllocs, scrapeBytes float64
	if !o.SkipAPI {
		logf("size %d: starting the server on a copy of the seeded DATA_DIR", n)
		var err error
		if sp, err = startServer(bin, apiDir, apiDir+".server.log", o.ServerLog); err != nil {
			return err
		}
		defer sp.Stop()
		sr.ServerStartup = sp.Startup
		tok, err := benchToken()
		if err != nil {
			return err
		}
		c = &gqlClient{http: newHTTPClient(), url: sp.URL + "/query", token: tok}
		// What one /metrics scrape allocates, subtracted from every measurement.
		s1, err := sp.scrape(c.http)
		if err != nil {
			return err
		}
		s2, _ := sp.scrape(c.http)
		scrapeAllocs, scrapeBytes = s2.Mallocs-s1.Mallocs, s2.AllocB-s1.AllocB
	}
	runLabel := strconv.FormatInt(time.Now().UnixNano(), 36)
	done := map[string]bool{}
	measureRaw := func(op rawOp) error {
		if e == nil || done[op.Name] || !selected(o, op.Name) || (op.Projections && !sr.ReadModels) {
			return nil
		}
		done[op.Name] = true
		fn := op.Run(e, n, runLabel)
		for w := 0; w < 3; w++ {
			if err := fn(ctx, 50_000_000+w); err != nil {
				return fmt.Errorf("%s: warm-up: %w", op.Name, err)
			}
		}
		for ci, clients := range o.Clients {
			spec := loadSpec{Clients: clients, Requests: o.Requests, Duration: o.Duration, Offset: ci * 1_000_000}
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			r := runLoad(ctx, spec, fn)
			runtime.ReadMemStats(&m1)
			if r.N+r.Errors > 0 {
				r.AllocsPerOp = float64(m1.Mallocs-m0.Mallocs) / float64(r.N+r.Errors)
				r.BytesPerOp = float64(m1.TotalAlloc-m0.TotalAlloc) / float64(r.N+r.Errors)
			}
			sr.add("raw", op.Name, clients, r)
			logf("size %d: %-28s c=%d n=%d err=%d p50=%sms p99=%sms %.1f/s allocs/op=%.0f load1=%.1f %s", n, op.Name, clients, r.N, r.Errors, msStr(r.P50), msStr(r.P99), r.Throughput, r.AllocsPerOp, r.Load1, r.FirstError)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
		return nil
	}
	measureAPI := func(op apiOp) error {
		if sp == nil || !selected(o, op.Name) {
			return nil
		}
		fn := op.Run(c, n, runLabel)
		// Warm-up: a few requests outside the measurement (query cache, connections).
		for w := 0; w < 3; w++ {
			if err := fn(ctx, 50_000_000+w); err != nil {
				return fmt.Errorf("%s: warm-up: %w", op.Name, err)
			}
		}
		for ci, clients := range o.Clients {
			spec := loadSpec{Clients: clients, Requests: requestsFor(o, op.Name, n), Duration: o.Duration, Offset: ci * 1_000_000}
			before, err := sp.scrape(c.http)
			if err != nil {
				return err
			}
			r := runLoad(ctx, spec, fn)
			after, err := sp.scrape(c.http)
			if err != nil {
				return err
			}
			if r.N+r.Errors > 0 {
				r.AllocsPerOp = (after.Mallocs - before.Mallocs - scrapeAllocs) / float64(r.N+r.Errors)
				r.BytesPerOp = (after.AllocB - before.AllocB - scrapeBytes) / float64(r.N+r.Errors)
			}
			sr.add("api", op.Name, clients, r)
			logf("size %d: %-28s c=%d n=%d err=%d p50=%sms p99=%sms %.1f/s allocs/op=%.0f load1=%.1f %s", n, op.Name, clients, r.N, r.Errors, msStr(r.P50), msStr(r.P99), r.Throughput, r.AllocsPerOp, r.Load1, r.FirstError)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
		return nil
	}
	rawByName := map[string]rawOp{}
	for _, op := range rawOps {
		rawByName[op.Name] = op
	}
	for _, op := range apiOps {
		if err := measureAPI(op); err != nil {
			return err
		}
		if f, ok := rawByName[sr.floorFor(op.Name)]; ok && selected(o, op.Name) {
			if err := measureRaw(f); err != nil {
				return err
			}
		}
	}
	for _, op := range rawOps {
		if err := measureRaw(op); err != nil {
			return err
		}
	}
	if sp != nil {
		if rss, hwm, err := procStatus(sp.Pid()); err == nil {
			sr.ServerRSS, sr.ServerHWM = rss, hwm
		}
		if s, err := sp.scrape(c.http); err == nil {
			sr.ServerHeapInuse = s.HeapInuse
		}
		if err := sp.Stop(); err != nil {
			logf("size %d: server stop: %v", n, err)
		}
	}
	return nil
}

// copyDir copies the files of src (not LOCK) into a new dst.
func copyDir(src, dst string) error {
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o750); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() || e.Name() == "LOCK" {
			continue
		}
		if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func dirSize(dir string) int64 {
	var total int64
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if info, err := e.Info(); err == nil && !e.IsDir() {
			total += info.Size()
		}
	}
	return total
}
