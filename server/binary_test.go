package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
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

func TestMain(m *testing.M) {
	code := m.Run()
	if serverBin.dir != "" {
		_ = os.RemoveAll(serverBin.dir)
	}
	os.Exit(code)
}
