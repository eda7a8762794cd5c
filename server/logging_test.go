package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(l.b.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// TestEveryLogLineOfARequestCarriesItsCorrelationID sends requests one at a time
// and checks that each log line written while one was served names its id.
func TestEveryLogLineOfARequestCarriesItsCorrelationID(t *testing.T) {
	cfg, err := parseConfig([]string{"-listen-addr", "127.0.0.1:0", "-data-dir", t.TempDir(), "-jwt-hs256-secret", testSecret, "-log-level", "debug"})
	if err != nil {
		t.Fatal(err)
	}
	var buf lockedBuffer
	log := logrus.New()
	log.SetOutput(&buf)
	log.SetFormatter(&logrus.JSONFormatter{})
	log.SetLevel(logrus.DebugLevel)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, log, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(60 * time.Second):
		t.Fatal("server did not start")
	}
	defer func() { cancel(); <-done }()
	ts := &testServer{t: t, URL: "http://" + addr}
	tok := token(t, "pat", "payments:publisher", "payments:promoter")
	in := map[string]any{"project": "payments", "digest": digestN(1), "kind": "OCI_IMAGE", "sourceType": "OCI_REGISTRY", "source": "registry.example.com/payments/api"}
	requests := []struct {
		id, query string
		vars      map[string]any
	}{
		{"req-register", registerMutation, map[string]any{"in": in}},
		{"req-denied", promoteMutation, map[string]any{"in": map[string]any{"artifactId": "art_00000000000000000000000000000000", "channel": "PROD"}}},
		{"req-bad-input", registerMutation, map[string]any{"in": map[string]any{"project": "payments", "digest": "md5:x", "kind": "OCI_IMAGE", "sourceType": "OCI_REGISTRY", "source": "r"}}},
	}
	for _, rq := range requests {
		before := len(buf.lines())
		r := ts.Do(tok, rq.query, rq.vars, "X-Correlation-ID", rq.id)
		if r.Header.Get("X-Correlation-ID") != rq.id {
			t.Fatalf("%s: response header %q", rq.id, r.Header.Get("X-Correlation-ID"))
		}
		// The access line is written after the response; wait for it.
		deadline := time.Now().Add(2 * time.Second)
		var lines []map[string]any
		for {
			lines = buf.lines()[before:]
			if len(lines) > 0 && lines[len(lines)-1]["msg"] == "request" || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if len(lines) == 0 {
			t.Fatalf("%s: nothing logged", rq.id)
		}
		for _, l := range lines {
			if l["correlation_id"] != rq.id {
				t.Errorf("%s: log line without its correlation id: %v", rq.id, l)
			}
		}
	}
}
