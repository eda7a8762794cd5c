package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestBoardInARealBrowser drives Debian's chromium with playwright-core
// (browser/board.mjs) through the progression board and the playground of a real
// server: a viewer pastes a token, opens the project, sees a promotion made by the
// pipeline appear without reloading, copies the digest, follows the artifact to
// its trail, and runs a query in the playground. It fails when any request or
// websocket of the pages goes to a host other than this machine, or on any
// console error (a Content-Security-Policy violation included). Screenshots are
// saved in the test's temporary directory (or SCREENSHOT_DIR when set) and their
// paths printed.
//
// CI installs chromium and browser/node_modules; elsewhere the test is skipped
// when either is missing.
func TestBoardInARealBrowser(t *testing.T) {
	t.Parallel()
	dir, _ := filepath.Abs("../browser")
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	node, nodeErr := exec.LookPath("node")
	_, chromeErr := os.Stat(chromium)
	_, modErr := os.Stat(filepath.Join(dir, "node_modules", "playwright-core"))
	requireInstalled(t, "the browser test", "apt-get install chromium && (cd browser && npm ci)", nodeErr, chromeErr, modErr)
	shots := os.Getenv("SCREENSHOT_DIR")
	if shots == "" {
		shots = t.TempDir()
	}

	ts := startServer(t, t.TempDir())
	c := newCast(t)
	allowRegistry(t, ts, c, nil)
	// Digests as a registry makes them, so that their short forms differ.
	sha := func(s string) string { return fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(s))) }
	art := ts.register(c.publisher, "payments", 0, map[string]any{"digest": sha("payments/api v1.4.2"), "tags": []string{"v1.4.2"}})
	other := ts.register(c.publisher, "payments", 0, map[string]any{"digest": sha("payments/api v1.5.0-rc.1"), "tags": []string{"v1.5.0-rc.1"}})
	// Something refused, for the board to show: an unverified artifact into TEST.
	ts.promote(c.promoter, other.ID, "DEV", "")
	in := map[string]any{"artifactId": other.ID, "channel": "TEST"}
	if e := ts.ErrCode(c.promoter, promoteMutation, map[string]any{"in": in}); e.Code() != "POLICY_DENIED" {
		t.Fatalf("setup: want a denial, got %+v", e)
	}
	ts.verify(c.verifier, art.ID, "SIGNATURE=PASSED", "ATTESTATION=PASSED")
	ts.promote(c.promoter, art.ID, "DEV", "")

	cmd := exec.Command(node, "board.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"BASE_URL="+ts.URL, "GRAPHQL_PATH="+GraphQLPath, "PROJECT=payments",
		"VIEWER_TOKEN="+c.viewer, "PROMOTER_TOKEN="+c.promoter,
		"ARTIFACT_ID="+art.ID, "DIGEST="+art.Digest, "SCREENSHOT_DIR="+shots, "CHROMIUM="+chromium)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	var done bool
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Step       string   `json:"step"`
			Screenshot string   `json:"screenshot"`
			Fail       string   `json:"fail"`
			OffMachine []string `json:"offMachine"`
			Console    []string `json:"consoleErrors"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			t.Logf("board.mjs: %s", sc.Text())
			continue
		}
		switch {
		case line.Fail != "":
			t.Errorf("browser: %s\nrequests off this machine: %v\nconsole errors: %v", line.Fail, line.OffMachine, line.Console)
		case line.Screenshot != "":
			t.Logf("screenshot: %s", line.Screenshot)
		case line.Step == "done":
			done = true
		case line.Step != "":
			t.Logf("step: %s", line.Step)
		}
	}
	if runErr != nil || !done {
		t.Fatalf("browser test did not finish: %v\n%s", runErr, stderr.String())
	}
}
