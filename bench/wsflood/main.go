// Command wsflood measures what a flood of websocket subscriptions from one subject
// costs a running server: it opens -connections graphql-transport-ws connections
// with one viewer token, asks for -subscriptions artifactEvents subscriptions spread
// over them, and reports how many the server accepted and refused, the server's
// resident memory (process_resident_memory_bytes from /metrics, and VmHWM from
// /proc when -pid is given), and the latency of registerArtifact over HTTP while
// the subscriptions are open (each registration is an event fanned out to every
// accepted subscription).
//
//	JWT_HS256_SECRET=... go run ./server -listen-addr 127.0.0.1:8099 &
//	go run ./bench/wsflood -url http://127.0.0.1:8099/query -secret ... -pid $!
//
// It speaks to the given server only, and every loop is bounded in count and time.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/artifact-trust/control-plane/auth"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080/query", "the server's GraphQL URL")
	secret := flag.String("secret", os.Getenv("JWT_HS256_SECRET"), "the server's HS256 secret (JWT_HS256_SECRET)")
	project := flag.String("project", "payments", "project to subscribe to and register in")
	conns := flag.Int("connections", 30, "websocket connections of the one subject")
	subs := flag.Int("subscriptions", 30000, "subscriptions to attempt in all, spread evenly over the connections")
	registers := flag.Int("registers", 20, "registerArtifact calls timed while the subscriptions are open")
	settle := flag.Duration("settle", 20*time.Second, "how long to wait for the server to answer every subscribe")
	rest := flag.Duration("rest", 0, "then wait this long with the subscriptions open and read the memory again (the Go runtime collects garbage at least every 2 minutes)")
	pid := flag.Int("pid", 0, "the server's process id, to read its peak RSS (VmHWM) from /proc")
	flag.Parse()
	if len(*secret) < auth.MinHS256SecretBytes {
		fail("-secret (or JWT_HS256_SECRET) must be the server's HS256 secret")
	}
	viewer := mint(*secret, "flood-viewer", *project+":viewer")
	publisher := mint(*secret, "flood-publisher", *project+":publisher")
	metricsURL := strings.TrimSuffix(*url, "/query") + "/metrics"
	before := scrape(metricsURL)

	var refused, closedConns atomic.Int64
	codes := map[string]int{}
	closeCodes := map[int]int{}
	var mu sync.Mutex
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(*url, "http")
	var wg sync.WaitGroup
	var open []*websocket.Conn
	start := time.Now()
	for c := 0; c < *conns; c++ {
		conn, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
		if err != nil {
			fail("dial: %v", err)
		}
		conn.SetReadLimit(1 << 20)
		open = append(open, conn)
		if err := wsjson.Write(ctx, conn, map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + viewer}}); err != nil {
			fail("init: %v", err)
		}
		var ack struct{ Type string }
		if err := wsjson.Read(ctx, conn, &ack); err != nil || ack.Type != "connection_ack" {
			fail("init: %v %v", ack, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var msg struct {
					Type    string          `json:"type"`
					Payload json.RawMessage `json:"payload"`
				}
				if err := wsjson.Read(ctx, conn, &msg); err != nil {
					closedConns.Add(1)
					mu.Lock()
					closeCodes[int(websocket.CloseStatus(err))]++
					mu.Unlock()
					return
				}
				switch msg.Type {
				case "error", "complete":
					refused.Add(1)
					var errs []struct {
						Extensions struct{ Code string } `json:"extensions"`
					}
					_ = json.Unmarshal(msg.Payload, &errs)
					mu.Lock()
					for _, e := range errs {
						codes[e.Extensions.Code]++
					}
					mu.Unlock()
				}
			}
		}()
	}
	query := fmt.Sprintf(`subscription { artifactEvents(project: %q) { action digest } }`, *project)
	for i := 0; i < *subs; i++ {
		conn := open[i%len(open)]
		msg := map[string]any{"id": strconv.Itoa(i), "type": "subscribe", "payload": map[string]any{"query": query}}
		if err := wsjson.Write(ctx, conn, msg); err != nil {
			break // the server closed this connection; its reader records how
		}
	}
	sent := time.Since(start)
	// Wait until every subscribe is either live or refused (or the time is up).
	deadline := time.Now().Add(*settle)
	var live float64
	for {
		live = scrape(metricsURL)["artifact_trust_live_subscribers"]
		if int(live)+int(refused.Load()) >= *subs || time.Now().After(deadline) || closedConns.Load() == int64(len(open)) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	after := scrape(metricsURL)
	var lat []time.Duration
	var regErrors int
	for i := 0; i < *registers; i++ {
		t0 := time.Now()
		if err := register(*url, publisher, *project, time.Now().UnixNano()+int64(i)); err != nil {
			regErrors++
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	fmt.Printf("subscriptions attempted: %d over %d connections of one subject (sent in %s)\n", *subs, *conns, sent.Round(time.Millisecond))
	fmt.Printf("live subscriptions on the server: %.0f\n", live)
	mu.Lock()
	fmt.Printf("refused (error or complete): %d, by code %v; connections closed by the server: %d %v\n", refused.Load(), codes, closedConns.Load(), closeCodes)
	mu.Unlock()
	fmt.Printf("server RSS: %.1f MiB before, %.1f MiB with the subscriptions open; Go heap in use %.1f MiB; goroutines %.0f\n",
		before["process_resident_memory_bytes"]/(1<<20), after["process_resident_memory_bytes"]/(1<<20),
		after["go_memstats_heap_inuse_bytes"]/(1<<20), after["go_goroutines"])
	if *pid > 0 {
		fmt.Printf("server peak RSS (VmHWM): %s\n", vmHWM(*pid))
	}
	if len(lat) > 0 {
		fmt.Printf("registerArtifact over HTTP while open: p50 %s, max %s (%d calls, %d failed)\n",
			lat[len(lat)/2].Round(100*time.Microsecond), lat[len(lat)-1].Round(100*time.Microsecond), len(lat), regErrors)
	}
	if *rest > 0 {
		time.Sleep(*rest)
		m := scrape(metricsURL)
		fmt.Printf("after %s at rest: live subscriptions %.0f, server RSS %.1f MiB, Go heap in use %.1f MiB, goroutines %.0f\n",
			*rest, m["artifact_trust_live_subscribers"], m["process_resident_memory_bytes"]/(1<<20), m["go_memstats_heap_inuse_bytes"]/(1<<20), m["go_goroutines"])
	}
	for _, c := range open {
		_ = c.Close(websocket.StatusNormalClosure, "done")
	}
	cancel()
	wg.Wait()
}

func mint(secret, sub, role string) string {
	p, r, err := auth.ParseRoleFlag(role)
	if err != nil {
		fail("%v", err)
	}
	tok, err := auth.MintHS256([]byte(secret), auth.Claims{Subject: sub, Roles: map[string][]string{p: {r}}}, time.Hour)
	if err != nil {
		fail("%v", err)
	}
	return tok
}

func register(url, tok, project string, n int64) error {
	body, _ := json.Marshal(map[string]any{
		"query": `mutation($in: RegisterArtifactInput!) { registerArtifact(input: $in) { id } }`,
		"variables": map[string]any{"in": map[string]any{
			"project": project, "digest": fmt.Sprintf("sha256:%064x", n), "kind": "OCI_IMAGE",
			"sourceType": "OCI_REGISTRY", "source": "registry.example.com/" + project + "/flood",
		}},
	})
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	client := &http.Client{Timeout: 60 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || bytes.Contains(raw, []byte(`"errors"`)) {
		return fmt.Errorf("register: %d %s", resp.StatusCode, raw)
	}
	return nil
}

// scrape reads the unlabelled samples of the server's /metrics.
func scrape(url string) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get(url)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.Contains(line, "{") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			out[name] = v
		}
	}
	return out
}

func vmHWM(pid int) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return err.Error()
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "wsflood: "+format+"\n", args...)
	os.Exit(1)
}
