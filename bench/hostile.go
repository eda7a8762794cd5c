package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"time"
)

// runHostile measures the server's memory under a document-flooding load: n
// distinct mutations of about 40 KB, each a list of about 5,000 string literals
// (small as text, megabytes once parsed), sent first without a token and then with
// a valid one, with 4 concurrent clients. It prints the resident memory before,
// after each phase and its peak (VmHWM), and how the server answered.
func runHostile(ctx context.Context, o options, bin, work string) error {
	dir := filepath.Join(work, "hostile")
	sp, err := startServer(bin, dir, dir+".server.log", "warn")
	if err != nil {
		return err
	}
	defer sp.Stop()
	tok, err := benchToken()
	if err != nil {
		return err
	}
	hc := newHTTPClient()
	sample := func(label string) {
		time.Sleep(2 * time.Second) // let the collector return what it can
		rss, hwm, err := procStatus(sp.Pid())
		if err != nil {
			logf("hostile: %s: %v", label, err)
			return
		}
		fmt.Printf("%-28s RSS %7.1f MB  peak %7.1f MB\n", label, float64(rss)/1e6, float64(hwm)/1e6)
	}
	sample("idle")
	for _, phase := range []struct{ name, authz string }{
		{"without a token", ""},
		{"with a valid token", "Bearer " + tok},
	} {
		statuses := map[int]int{}
		codes := map[string]int{}
		start := time.Now()
		jobs := make(chan int)
		type answer struct {
			status int
			code   string
		}
		answers := make(chan answer)
		for w := 0; w < 4; w++ {
			go func() {
				for i := range jobs {
					st, code := hostilePost(ctx, hc, sp.URL+"/query", phase.authz, hostileMutation(phase.name, i))
					answers <- answer{st, code}
				}
			}()
		}
		go func() {
			defer close(jobs)
			for i := 0; i < o.Hostile; i++ {
				select {
				case jobs <- i:
				case <-ctx.Done():
					return
				}
			}
		}()
		for i := 0; i < o.Hostile; i++ {
			a := <-answers
			statuses[a.status]++
			codes[a.code]++
		}
		fmt.Printf("%d documents %s in %s: statuses %v, codes %v\n", o.Hostile, phase.name, time.Since(start).Round(time.Millisecond), statuses, codes)
		sample("after " + phase.name)
	}
	return nil
}

// hostileMutation is a distinct registerArtifact of about 40 KB whose tags list
// holds 5,000 string literals (under the parser's 10,000-token limit).
func hostileMutation(salt string, i int) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, `mutation { registerArtifact(input: {project: "hostile", digest: "sha256:%064d", kind: OCI_IMAGE, sourceType: OCI_REGISTRY, source: "r/%s", tags: [`, i, salt)
	for j := 0; b.Len() < 40_000 && j < 5_000; j++ {
		fmt.Fprintf(&b, `"t%d",`, j)
	}
	b.WriteString(`]}) { id } }`)
	return b.String()
}

func hostilePost(ctx context.Context, hc *http.Client, url, authz, query string) (int, string) {
	body, _ := json.Marshal(map[string]string{"query": query})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "transport error"
	}
	defer resp.Body.Close()
	var r gqlResp
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &r)
	code := "none"
	if len(r.Errors) > 0 {
		code, _ = r.Errors[0].Extensions["code"].(string)
	}
	return resp.StatusCode, code
}
