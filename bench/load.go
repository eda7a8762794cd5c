package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// opFunc runs request number i of an operation. It must be safe for concurrent use.
type opFunc func(ctx context.Context, i int) error

// loadSpec bounds one measurement: at most Requests requests and at most Duration,
// whichever comes first, from Clients concurrent clients, each sending its next
// request as soon as the previous one is answered (closed loop).
type loadSpec struct {
	Clients  int
	Requests int
	Duration time.Duration
	// Offset is added to every request number, so successive runs of a mutation
	// address fresh artifacts.
	Offset int
}

// loadResult is one measurement.
type loadResult struct {
	N          int           `json:"n"`
	Errors     int           `json:"errors"`
	FirstError string        `json:"first_error,omitempty"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	P50        time.Duration `json:"p50_ns"`
	P90        time.Duration `json:"p90_ns"`
	P99        time.Duration `json:"p99_ns"`
	Max        time.Duration `json:"max_ns"`
	Throughput float64       `json:"throughput_per_s"`
	// AllocsPerOp and BytesPerOp are the allocations of the process that serves the
	// operation (the server for API operations, this process for raw ones), per
	// request, during the measurement; -1 when unknown.
	AllocsPerOp float64 `json:"allocs_per_op"`
	BytesPerOp  float64 `json:"bytes_per_op"`
	// Load1 is the machine's 1-minute load average at the end of the measurement:
	// above the number of clients plus one or two, something else was running.
	Load1 float64 `json:"load1"`
}

// runLoad measures fn under spec.
func runLoad(ctx context.Context, spec loadSpec, fn opFunc) loadResult {
	ctx, cancel := context.WithTimeout(ctx, spec.Duration+30*time.Second)
	defer cancel()
	var next atomic.Int64
	var errN atomic.Int64
	var firstErr atomic.Value
	lat := make([][]time.Duration, spec.Clients)
	deadline := time.Now().Add(spec.Duration)
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < spec.Clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= spec.Requests || time.Now().After(deadline) || ctx.Err() != nil {
					return
				}
				t := time.Now()
				err := fn(ctx, spec.Offset+i)
				d := time.Since(t)
				if err != nil {
					if errN.Add(1) == 1 {
						firstErr.Store(err.Error())
					}
					continue
				}
				lat[c] = append(lat[c], d)
			}
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	r := loadResult{N: len(all), Errors: int(errN.Load()), Elapsed: elapsed, AllocsPerOp: -1, BytesPerOp: -1}
	if s, ok := firstErr.Load().(string); ok {
		r.FirstError = s
	}
	r.Load1 = loadAvg()
	if len(all) > 0 {
		r.P50, r.P90, r.P99, r.Max = pct(all, 50), pct(all, 90), pct(all, 99), all[len(all)-1]
		r.Throughput = float64(len(all)) / elapsed.Seconds()
	}
	return r
}

// loadAvg is the 1-minute load average, 0 when unknown.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var l float64
	fmt.Sscan(string(b), &l)
	return l
}

// pct is the nearest-rank percentile of sorted samples.
func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := int(float64(len(sorted))*p/100+0.999999) - 1
	if k < 0 {
		k = 0
	}
	if k >= len(sorted) {
		k = len(sorted) - 1
	}
	return sorted[k]
}

// msStr formats a duration in milliseconds with sensible precision.
func msStr(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case d == 0:
		return "-"
	case ms < 10:
		return fmt.Sprintf("%.2f", ms)
	case ms < 100:
		return fmt.Sprintf("%.1f", ms)
	default:
		return fmt.Sprintf("%.0f", ms)
	}
}
