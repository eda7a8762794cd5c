package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGraphQLOverHTTPAudit runs the graphql-http package's server audit (Node, from
// conformance/) against the real server and fails on any audit that is not ok:
// every MUST, SHOULD and MAY item passes today, so any warning is a new one. CI
// installs the package (npm ci in conformance/); elsewhere the test is skipped
// when Node or the package is missing.
func TestGraphQLOverHTTPAudit(t *testing.T) {
	t.Parallel()
	dir, _ := filepath.Abs("../conformance")
	node, err := exec.LookPath("node")
	_, statErr := os.Stat(filepath.Join(dir, "node_modules", "graphql-http"))
	requireInstalled(t, "the graphql-http audit", "(cd conformance && npm ci)", err, statErr)
	ts := startServer(t, t.TempDir())
	cmd := exec.Command(node, "audit.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "AUDIT_URL="+ts.URL+GraphQLPath, "AUDIT_TOKEN="+token(t, "auditor"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	var total, ok, mustFailures int
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var line struct {
			Summary      bool   `json:"summary"`
			Total        int    `json:"total"`
			OK           int    `json:"ok"`
			MustFailures int    `json:"mustFailures"`
			ID           string `json:"id"`
			Level        string `json:"level"`
			Status       string `json:"status"`
			Name         string `json:"name"`
			Reason       string `json:"reason"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		switch {
		case line.Summary:
			total, ok, mustFailures = line.Total, line.OK, line.MustFailures
		case line.Status != "ok":
			t.Errorf("%s not met (%s): %s %s: %s", line.Level, line.Status, line.ID, line.Name, line.Reason)
		}
	}
	t.Logf("graphql-http audit: %d audits, %d ok, %d MUST failures", total, ok, mustFailures)
	if runErr != nil || total == 0 || mustFailures != 0 || ok != total {
		t.Fatalf("audit failed: %v\n%s", runErr, stderr.String())
	}
}

// requireInstalled skips the test when one of errs (from looking up what the test
// needs: node, an npm package, chromium) is not nil, naming the command that
// installs it; under CI, which must install everything (.ci/run), it fails instead.
func requireInstalled(t *testing.T, what, install string, errs ...error) {
	t.Helper()
	if err := errors.Join(errs...); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must install %s: %v (run %s)", what, err, install)
		}
		t.Skipf("%s is not installed (%v); run: %s", what, err, install)
	}
}
