package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The server is package main, so it cannot be imported: the program builds it
// (`go build ./server`) and runs the binary on loopback, which is also what an
// operator runs. Its allocations come from its own /metrics
// (go_memstats_mallocs_total), its memory from /proc/<pid>/status.

// benchSecret signs every token of the run (HS256, at least 32 bytes).
const benchSecret = "bench-secret-of-at-least-32-bytes-long!!"

// buildServer builds ./server of the module in moduleDir into dir.
func buildServer(ctx context.Context, moduleDir, dir string) (string, error) {
	bin := filepath.Join(dir, "server")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./server")
	cmd.Dir = moduleDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./server: %v\n%s", err, out)
	}
	return bin, nil
}

// moduleRoot finds the directory of go.mod from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// serverProc is a running server binary.
type serverProc struct {
	cmd     *exec.Cmd
	URL     string
	Startup time.Duration
	done    chan error
	logFile *os.File
}

// freeLoopbackPort asks the kernel for a free loopback port.
func freeLoopbackPort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startServer runs bin on the embedded engine in dataDir, listening on loopback, and
// waits until /readyz answers. Its log (LOG_LEVEL logLevel, JSON, one access line
// per request at info) goes to logPath.
func startServer(bin, dataDir, logPath, logLevel string, env ...string) (*serverProc, error) {
	addr, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-listen-addr", addr, "-data-dir", dataDir, "-log-level", logLevel, "-playground", "false")
	// Only what the server needs: no MONGODB_URI (embedded engine), the HS256 secret.
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "JWT_HS256_SECRET=" + benchSecret, "LOG_FORMAT=json"}, env...)
	// The Go runtime's memory settings, when set, are the server's too.
	for _, k := range []string{"GOGC", "GOMEMLIMIT"} {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	sp := &serverProc{cmd: cmd, URL: "http://" + addr, done: make(chan error, 1), logFile: lf}
	go func() { sp.done <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Minute) // a read-model rebuild at start may take a while
	for {
		select {
		case err := <-sp.done:
			lf.Close()
			return nil, fmt.Errorf("server exited during start (%v); log: %s", err, tail(logPath, 2000))
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := http.Get(sp.URL + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				sp.Startup = time.Since(start)
				return sp, nil
			}
		}
		if time.Now().After(deadline) {
			sp.Stop()
			return nil, fmt.Errorf("server not ready after 10m; log: %s", tail(logPath, 2000))
		}
	}
}

// Pid is the server's process id.
func (sp *serverProc) Pid() int { return sp.cmd.Process.Pid }

// Stop sends SIGTERM (graceful shutdown) and waits, then SIGKILL after 60 s.
func (sp *serverProc) Stop() error {
	if sp == nil || sp.cmd == nil {
		return nil
	}
	defer sp.logFile.Close()
	_ = sp.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-sp.done:
		sp.cmd = nil
		return err
	case <-time.After(60 * time.Second):
		_ = sp.cmd.Process.Kill()
		err := <-sp.done
		sp.cmd = nil
		return fmt.Errorf("server did not stop within 60s (killed): %v", err)
	}
}

// serverStats is what the server's /metrics tells about its Go runtime.
type serverStats struct {
	Mallocs   float64 // go_memstats_mallocs_total
	AllocB    float64 // go_memstats_alloc_bytes_total
	HeapInuse float64 // go_memstats_heap_inuse_bytes
	RSS       float64 // process_resident_memory_bytes
}

// scrape reads the server's Go runtime counters from /metrics.
func (sp *serverProc) scrape(client *http.Client) (serverStats, error) {
	resp, err := client.Get(sp.URL + "/metrics")
	if err != nil {
		return serverStats{}, err
	}
	defer resp.Body.Close()
	var s serverStats
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		var dst *float64
		switch name {
		case "go_memstats_mallocs_total":
			dst = &s.Mallocs
		case "go_memstats_alloc_bytes_total":
			dst = &s.AllocB
		case "go_memstats_heap_inuse_bytes":
			dst = &s.HeapInuse
		case "process_resident_memory_bytes":
			dst = &s.RSS
		default:
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			*dst = v
		}
	}
	if s.Mallocs == 0 {
		return s, errors.New("/metrics has no go_memstats_mallocs_total")
	}
	return s, sc.Err()
}

// procStatus reads VmRSS and VmHWM (bytes) of pid from /proc.
func procStatus(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) < 1 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			rss = n * 1024
		case "VmHWM":
			hwm = n * 1024
		}
	}
	return rss, hwm, nil
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
