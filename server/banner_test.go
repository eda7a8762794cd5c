package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// clearKeyEnv unsets every variable that would configure a token key, a
// database or the listen address, so that parseConfig sees a newcomer's shell.
func clearKeyEnv(t *testing.T) {
	for _, v := range []string{"LISTEN_ADDR", "MONGODB_URI", "JWT_HS256_SECRET", "JWT_PUBLIC_KEY_FILE", "JWT_JWKS_URL"} {
		t.Setenv(v, "")
	}
}

func TestDevelopmentServerListensOnLoopbackUnlessListenAddrSaysOtherwise(t *testing.T) {
	clearKeyEnv(t)
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"development server":          {nil, "127.0.0.1:8080"},
		"HS256 secret configured":     {[]string{"-jwt-hs256-secret", testSecret}, ":8080"},
		"public key configured":       {[]string{"-jwt-public-key-file", "/etc/keys/jwt.pem"}, ":8080"},
		"MongoDB":                     {[]string{"-mongodb-uri", "mongodb://db.example.com:27017", "-jwt-hs256-secret", testSecret}, ":8080"},
		"development server, flag":    {[]string{"-listen-addr", ":9000"}, ":9000"},
		"explicit loopback elsewhere": {[]string{"-listen-addr", "127.0.0.1:7000", "-jwt-hs256-secret", testSecret}, "127.0.0.1:7000"},
	} {
		c, err := parseConfig(tc.args)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.ListenAddr != tc.want {
			t.Errorf("%s: listens on %q, want %q", name, c.ListenAddr, tc.want)
		}
	}
	t.Setenv("LISTEN_ADDR", "0.0.0.0:8080")
	if c, _ := parseConfig(nil); c.ListenAddr != "0.0.0.0:8080" {
		t.Errorf("LISTEN_ADDR ignored by the development server: %q", c.ListenAddr)
	}
}

// String returns what was written so far.
func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestStartupBannerTellsWhereEverythingIsAndTheTokenCommandWorks starts the
// development server (no key, embedded engine) the way `go run ./server` does and
// reads its stderr: a human banner names the listen address, the API, playground
// and board URLs, the engine and its data directory, and a token command for this
// DATA_DIR; that command, run as printed, mints a token the server accepts. The
// JSON log lines keep <token> readable.
func TestStartupBannerTellsWhereEverythingIsAndTheTokenCommandWorks(t *testing.T) {
	clearKeyEnv(t)
	dataDir := filepath.Join(t.TempDir(), "my data")
	cfg, err := parseConfig([]string{"-listen-addr", "127.0.0.1:0", "-data-dir", dataDir})
	if err != nil {
		t.Fatal(err)
	}
	var out lockedBuffer
	log := newLogger(cfg)
	log.SetOutput(&out)
	log.SetLevel(logrus.InfoLevel)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan string, 1)
	go func() { done <- run(ctx, cfg, log, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("server did not start: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("server did not start within 60s")
	}
	t.Cleanup(func() { cancel(); <-done })

	banner := out.String()
	t.Logf("stderr:\n%s", banner)
	base := "http://" + addr
	absData, _ := filepath.Abs(dataDir)
	for _, want := range []string{
		"Artifact trust control plane is ready.",
		"API         " + base + "/query",
		"Playground  " + base + "/\n",
		"Engine      embedded FerretDB on SQLite, files in " + absData + " (DATA_DIR)",
		"Board       " + base + "/board\n",
		"Listening   " + addr + ", this machine only",
		"go run ./server token --data-dir '" + dataDir + "' --sub alice --role '*:project_admin'",
	} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner misses %q", want)
		}
	}
	if strings.Contains(banner, `\u003c`) || !strings.Contains(banner, "Authorization: Bearer <token>") {
		t.Errorf("JSON log lines escape < and >")
	}

	// Run the printed command (its arguments after `go run ./server`) and use
	// the token it mints.
	var line string
	for _, l := range strings.Split(banner, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "go run ./server token ") {
			line = strings.TrimPrefix(strings.TrimSpace(l), "go run ./server ")
			break
		}
	}
	args := shellWords(t, line)
	var tok bytes.Buffer
	if err := tokenCommand(args[1:], &tok); err != nil {
		t.Fatalf("token command %q: %v", line, err)
	}
	ts := &testServer{t: t, URL: base}
	var v struct {
		Viewer struct {
			Subject string `json:"subject"`
			Roles   []struct {
				Project string   `json:"project"`
				Roles   []string `json:"roles"`
			} `json:"roles"`
		} `json:"viewer"`
	}
	ts.MustDo(strings.TrimSpace(tok.String()), `{ viewer { subject roles { project roles } } }`, nil, &v)
	if v.Viewer.Subject != "alice" || len(v.Viewer.Roles) != 1 || v.Viewer.Roles[0].Project != "*" || len(v.Viewer.Roles[0].Roles) != 1 {
		t.Fatalf("viewer: %+v", v.Viewer)
	}
}

// shellWords splits a command line the way a POSIX shell splits words made of
// plain characters and single-quoted strings (what shellQuote produces).
func shellWords(t *testing.T, s string) []string {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range s {
		switch {
		case quoted && r == '\'':
			quoted = false
		case quoted:
			cur.WriteRune(r)
		case r == '\'':
			quoted, inWord = true, true
		case r == ' ':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			if strings.ContainsRune(`"\$`+"`", r) {
				t.Fatalf("unexpected shell character %q in %s", r, s)
			}
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

func TestShellQuoteQuotesOnlyWhatNeedsIt(t *testing.T) {
	for in, want := range map[string]string{
		"./data":         "./data",
		"/var/lib/trust": "/var/lib/trust",
		"my data":        "'my data'",
		"*:publisher":    "'*:publisher'",
		"it's":           `'it'\''s'`,
		"":               "''",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
