package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gofrs/flock"
)

// TestReadmeWalkthroughsRunAsWritten copies the repository (its files as a clone
// has them) to a temporary directory and runs, there, the shell blocks of the
// README's and ctl/README.md's walk-throughs exactly as written, each against a
// fresh development server started by the README's own server block (`go run
// ./server`: embedded engine, no key, ./data). Blocks are marked in the Markdown
// with <!-- walkthrough: server --> and <!-- walkthrough: steps -->. The only thing
// the test adds is the address: LISTEN_ADDR and ARTIFACT_TRUST_URL name a free
// loopback port instead of 8080, which may be taken on a shared machine.
func TestReadmeWalkthroughsRunAsWritten(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("walk-throughs skipped in -short mode")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed")
	}
	root, _ := filepath.Abs("..")
	tree := copyRepository(t, root)
	serverBlock := walkthroughBlocks(t, filepath.Join(tree, "README.md"))["server"]
	if serverBlock != "go run ./server\n" {
		t.Fatalf("README's server block changed: %q", serverBlock)
	}
	digest := "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b"

	for _, doc := range []struct {
		file  string
		check func(t *testing.T, stdout, stderr string)
	}{
		{"README.md", func(t *testing.T, stdout, _ string) {
			lines := strings.Split(strings.TrimSpace(stdout), "\n")
			if last := lines[len(lines)-1]; last != digest {
				t.Errorf("the walk-through's last command (deployable PROD prod-eu) printed %q, want the digest", last)
			}
		}},
		{"ctl/README.md", func(t *testing.T, stdout, stderr string) {
			for _, want := range []string{"exit 3: refused, reasons above", "\n" + digest + "\n", "REVOKED"} {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout misses %q", want)
				}
			}
			if !strings.Contains(stderr, "- ci may not promote into PROD") {
				t.Errorf("evaluate's reasons are not on stderr")
			}
		}},
	} {
		t.Run(doc.file, func(t *testing.T) {
			steps := walkthroughBlocks(t, filepath.Join(tree, doc.file))["steps"]
			if steps == "" {
				t.Fatalf("%s has no <!-- walkthrough: steps --> block", doc.file)
			}
			if err := os.RemoveAll(filepath.Join(tree, "data")); err != nil { // a fresh server
				t.Fatal(err)
			}
			addr, err := freeAddr()
			if err != nil {
				t.Fatal(err)
			}
			banner := startWalkthroughServer(t, bash, tree, serverBlock, addr)
			for _, want := range []string{"Artifact trust control plane is ready.", "Board       http://" + addr + "/board",
				"go run ./server token --data-dir ./data --sub alice --role '*:project_admin'"} {
				if !strings.Contains(banner(), want) {
					t.Errorf("server banner misses %q:\n%s", want, banner())
				}
			}

			cmd := exec.Command(bash, "-e", "-o", "pipefail", "-c", steps)
			cmd.Dir = tree
			cmd.Env = append(newcomerEnv(), "ARTIFACT_TRUST_URL=http://"+addr+"/query")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			start := time.Now()
			err = cmd.Run()
			t.Logf("%s walk-through ran in %s", doc.file, time.Since(start).Round(time.Second))
			if err != nil {
				t.Fatalf("%s walk-through failed: %v\n--- stdout\n%s--- stderr\n%s--- server\n%s", doc.file, err, stdout.String(), stderr.String(), banner())
			}
			doc.check(t, stdout.String(), stderr.String())
			if t.Failed() {
				t.Logf("--- stdout\n%s--- stderr\n%s", stdout.String(), stderr.String())
			}
		})
	}
}

// walkthroughBlocks returns the ```sh blocks of a Markdown file marked with
// <!-- walkthrough: NAME -->, by name.
func walkthroughBlocks(t *testing.T, file string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- walkthrough: (\\w+) -->\\s*```sh\\n(.*?)```")
	out := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(string(raw), -1) {
		out[m[1]] += m[2]
	}
	return out
}

// newcomerEnv is this process's environment without anything that configures
// the server or artifactctl: what a newcomer's shell has.
func newcomerEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "ARTIFACT_TRUST_"), strings.HasPrefix(name, "JWT_"), strings.HasPrefix(name, "MONGODB_"):
		case name == "LISTEN_ADDR" || name == "DATA_DIR" || name == "PLAYGROUND" || name == "GRAPHQL_PATH":
		default:
			env = append(env, kv)
		}
	}
	return env
}

// startWalkthroughServer runs the server block in its own process group (so that
// `go run` and the server it starts stop together) and waits until it is ready.
// It returns a function giving what the server wrote so far.
func startWalkthroughServer(t *testing.T, bash, dir, block, addr string) func() string {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bash, "-c", block)
	cmd.Dir = dir
	cmd.Env = append(newcomerEnv(), "LISTEN_ADDR="+addr)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logFile.Close() }()
	output := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	// The first `go run` compiles; on a loaded machine that takes minutes.
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("server block exited: %v\n%s", err, output())
		default:
		}
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				// The banner follows the ready log line; wait for its end.
				for i := 0; i < 50 && !strings.Contains(output(), "Stop with Ctrl-C."); i++ {
					time.Sleep(100 * time.Millisecond)
				}
				return output
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("server not ready within 10 minutes:\n%s", output())
	return nil
}

// copyRepository copies the repository's files, as a clone has them (tracked
// files, and new ones not ignored), into a temporary directory; without git it
// copies the tree minus .git, node_modules and data.
//
// The directory is the same on every run for the same repository (named after
// root's path, emptied first and afterwards, locked meanwhile): Go's build cache
// keys a package on its directory, so a fresh directory each time compiled the
// whole server again (about 11 s of CPU on 2 cores) for each run of the test,
// where the same directory finds it in the cache when the sources did not change.
func copyRepository(t *testing.T, root string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(root))
	dst := filepath.Join(os.TempDir(), "artifact-trust-walkthrough-"+hex.EncodeToString(sum[:6]))
	lock := flock.New(dst + ".lock")
	if err := lock.Lock(); err != nil { // another run of this test on the same repository
		t.Fatal(err)
	}
	empty := func() error {
		// Files the walk-through made read-only (the private keys) go too.
		return os.RemoveAll(dst)
	}
	if err := empty(); err != nil {
		_ = lock.Unlock()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := empty(); err != nil {
			t.Error(err)
		}
		_ = lock.Unlock()
	})
	var files []string
	if out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output(); err == nil {
		for _, f := range bytes.Split(out, []byte{0}) {
			if len(f) > 0 {
				files = append(files, string(f))
			}
		}
	} else {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules" || rel == "data") {
				return filepath.SkipDir
			}
			if !d.IsDir() {
				files = append(files, rel)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		src := filepath.Join(root, f)
		info, err := os.Lstat(src)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the working tree
		}
		if err != nil {
			t.Fatal(err)
		}
		if !info.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(dst, f)
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(target, b, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}
