package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/artifact-trust/control-plane/auth"
)

// devTokenRoles are the roles of the token the banner proposes: a project admin
// may register, verify, set the policy and promote into every channel, so it walks
// an artifact from registration to PROD in any project.
var devTokenRoles = []string{"*:project_admin"}

// tokenCommandLine is the shell command that mints a development token for the
// server using dataDir.
func tokenCommandLine(dataDir string) string {
	parts := []string{"go run ./server token --data-dir", shellQuote(dataDir), "--sub alice"}
	for _, r := range devTokenRoles {
		parts = append(parts, "--role", shellQuote(r))
	}
	return strings.Join(parts, " ")
}

// shellQuote quotes s for a POSIX shell when it holds anything but plain
// path characters.
func shellQuote(s string) string {
	plain := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@%+=,", r)) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// showBanner reports whether the start-up banner is written to w: always for
// the embedded engine (a developer's machine), otherwise only when w is a
// terminal, so that a production log stream stays one JSON object per line.
func showBanner(w io.Writer, embedded bool) bool {
	if embedded {
		return true
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// writeBanner writes the human start-up banner: where the server listens, where
// the API, playground and board are, how to get a token, and which engine and
// data directory it uses.
func writeBanner(w io.Writer, cfg Config, addr string, embedded bool) {
	base := "http://" + displayAddr(addr)
	var b strings.Builder
	fmt.Fprintf(&b, "\nArtifact trust control plane is ready.\n\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  API\t%s%s (HTTP, and websocket subscriptions on the same path)\n", base, cfg.GraphQLPath)
	if cfg.Playground {
		fmt.Fprintf(tw, "  Playground\t%s/\n", base)
	} else {
		fmt.Fprintf(tw, "  Playground\toff (PLAYGROUND=true turns it on)\n")
	}
	fmt.Fprintf(tw, "  Board\t%s/board\n", base)
	if embedded {
		dir, err := filepath.Abs(cfg.DataDir)
		if err != nil {
			dir = cfg.DataDir
		}
		fmt.Fprintf(tw, "  Engine\tembedded FerretDB on SQLite, files in %s (DATA_DIR)\n", dir)
	} else {
		fmt.Fprintf(tw, "  Engine\tMongoDB from MONGODB_URI, database %s\n", cfg.MongoDatabase)
	}
	fmt.Fprintf(tw, "  Listening\t%s\n", listenNote(addr))
	_ = tw.Flush()
	switch {
	case cfg.DevelopmentSecret():
		fmt.Fprintf(&b, "\nTokens are signed with a development secret kept in %s.\n", filepath.Join(cfg.DataDir, auth.DevSecretFile))
		fmt.Fprintf(&b, "Mint one (from the repository root) and send it as Authorization: Bearer <token>:\n\n    %s\n", tokenCommandLine(cfg.DataDir))
	case cfg.JWTHS256Secret != "":
		fmt.Fprintf(&b, "\nTokens are HS256, signed with JWT_HS256_SECRET; with the same variable set, mint one with:\n\n    go run ./server token --sub alice --role '*:project_admin'\n")
	default:
		fmt.Fprintf(&b, "\nTokens come from your identity provider (JWT_PUBLIC_KEY_FILE or JWT_JWKS_URL).\n")
	}
	fmt.Fprintf(&b, "\nStop with Ctrl-C. JSON logs follow on this stream (LOG_FORMAT=text for plain lines).\n\n")
	_, _ = io.WriteString(w, b.String())
}

// listenNote says who can reach addr.
func listenNote(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return addr + ", this machine only (LISTEN_ADDR=:8080 to accept other machines)"
	}
	return addr + ", every interface"
}
