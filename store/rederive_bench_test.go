package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
)

// BenchmarkReevaluation times the background re-derivation of a project of
// rdBenchSize artifacts (default list buckets) after a policy change that changes
// the trust of every one (tightening and loosening in turn), and a walk that
// changes none (a change of allowedSources that keeps every source allowed).
// go test ./store -run '^$' -bench Reevaluation -benchtime 2x -cpuprofile cpu.out
func BenchmarkReevaluation(b *testing.B) {
	const rdBenchSize = 1000
	ctx := context.Background()
	s, err := Open(ctx, Config{DataDir: b.TempDir()}, testLog(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(ctx)
	svc := service.New(s)
	var arts = newRDBenchArtifacts(b, rdBenchSize)
	if err := s.InsertArtifactsBulk(ctx, arts); err != nil {
		b.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	wait := svc.RunReevaluations(runCtx)
	defer func() { cancel(); wait() }()
	run := func(b *testing.B, corr string, prefixes ...string) {
		rq := rdAdmin
		rq.CorrelationID = corr
		p, err := svc.SetPolicy(ctx, rq, rdProject, rdPolicy(prefixes...))
		if err != nil {
			b.Fatal(err)
		}
		reason := fmt.Sprintf("policy version %d", p.Version)
		start := time.Now()
		for {
			r, err := svc.TrustReevaluation(ctx, rdAdmin, rdProject)
			if err != nil {
				b.Fatal(err)
			}
			if r != nil && r.Reason == reason && r.FinishedAt != nil {
				b.ReportMetric(float64(r.Changed), "changed/op")
				return
			}
			if time.Since(start) > 20*time.Second {
				b.Fatalf("job %+v, want %s", r, reason)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	run(b, "corr-v1", "registry.example.com/")
	tight := false
	b.Run("all-change", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if tight = !tight; tight {
				run(b, fmt.Sprint("corr-t", i), keepPrefix)
			} else {
				run(b, fmt.Sprint("corr-l", i), "registry.example.com/")
			}
		}
	})
	if tight {
		run(b, "corr-loosen", "registry.example.com/")
	}
	n := 0
	b.Run("no-change", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			n++
			run(b, fmt.Sprint("corr-n", n), "registry.example.com/", fmt.Sprintf("quay.io/n%d/", n))
		}
	})
}

func newRDBenchArtifacts(b *testing.B, n int) []*model.Artifact {
	out := make([]*model.Artifact, n)
	for i := range out {
		out[i] = rdArtifact(b, fmt.Sprintf("b-%05d", i), t0.Add(time.Duration(i)*time.Second), "")
	}
	return out
}
