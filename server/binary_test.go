package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/artifact-trust/control-plane/internal/testparallel"
)

// The tests that kill or run several server processes share one build of the
// server binary: each `go build` links the whole server again.
var serverBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// serverBinary builds the server once per test run and returns its path.
func serverBinary(t *testing.T) string {
	t.Helper()
	serverBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "server-test-bin-")
		if err != nil {
			serverBin.err = err
			return
		}
		serverBin.dir = dir
		bin := filepath.Join(dir, "server")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			serverBin.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		serverBin.path = bin
	})
	if serverBin.err != nil {
		t.Fatal(serverBin.err)
	}
	return serverBin.path
}

// testParallel is how many parallel tests of this package run at once unless
// -test.parallel says otherwise. The default (GOMAXPROCS, 2 on a small CI machine)
// suits CPU-bound tests; most of these wait instead: on token expiries, retry
// backoffs, a database outage's timeouts, server processes, node and chromium.
const testParallel = 6

func TestMain(m *testing.M) {
	if err := testparallel.Default(testParallel); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	code := m.Run()
	if serverBin.dir != "" {
		_ = os.RemoveAll(serverBin.dir)
	}
	os.Exit(code)
}
