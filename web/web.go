// Package web holds the browser side of the server: the GraphQL playground and
// the progression board, and the files they load, all embedded in the binary so
// that nothing is fetched from another host.
//
// The third-party files under static/vendor/ are the built files of npm
// packages pinned in package-lock.json, copied by `go generate ./web` (sync.go)
// after `npm ci` and listed, with their licences, in vendor.json with their
// Subresource Integrity; web_test.go checks that the embedded bytes match it and,
// where node_modules is installed, that they are the packages' own files.
//
// The board is plain HTML, CSS and JavaScript (static/board/, templates/):
// change it and rebuild the server; there is no build step.
package web

import (
	"bytes"
	"crypto/sha512"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
)

//go:generate go run sync.go

//go:embed static templates vendor.json
var files embed.FS

// Manifest is vendor.json: the vendored files and where they come from.
type Manifest struct {
	About string         `json:"about"`
	Files []VendoredFile `json:"files"`
}

// VendoredFile is one file copied from an npm package.
type VendoredFile struct {
	// Path under static/ (and under /assets/ in URLs).
	Path string `json:"path"`
	// Package and Version name the npm package it comes from.
	Package string `json:"package"`
	Version string `json:"version"`
	// From is its path inside the package.
	From string `json:"from"`
	// Integrity is its Subresource Integrity (sha384).
	Integrity string `json:"integrity"`
}

// SRI returns the Subresource Integrity string (sha384) of b.
func SRI(b []byte) string {
	sum := sha512.Sum384(b)
	return "sha384-" + base64.StdEncoding.EncodeToString(sum[:])
}

// LoadManifest reads the embedded vendor.json.
func LoadManifest() (Manifest, error) {
	var m Manifest
	raw, err := files.ReadFile("vendor.json")
	if err != nil {
		return m, err
	}
	err = json.Unmarshal(raw, &m)
	return m, err
}

// Static is the embedded static/ tree (what /assets/ serves).
func Static() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // static/ is embedded at build time
	}
	return sub
}

// ReadLockedVersions returns the version package-lock.json (lockfile v2/v3)
// pins for each top-level package.
func ReadLockedVersions(lockFile string) (map[string]string, error) {
	raw, err := os.ReadFile(lockFile)
	if err != nil {
		return nil, err
	}
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(raw, &lock); err != nil {
		return nil, fmt.Errorf("%s: %w", lockFile, err)
	}
	out := map[string]string{}
	for k, v := range lock.Packages {
		if name, ok := strings.CutPrefix(k, "node_modules/"); ok && !strings.Contains(name, "/node_modules/") {
			out[name] = v.Version
		}
	}
	return out, nil
}

// InstalledVersion returns the version of pkg installed under nodeModules.
func InstalledVersion(nodeModules, pkg string) (string, error) {
	raw, err := os.ReadFile(filepath.Join(nodeModules, pkg, "package.json"))
	if err != nil {
		return "", err
	}
	var p struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return "", err
	}
	return p.Version, nil
}

// AssetsPrefix is the URL path the static files are served under.
const AssetsPrefix = "/assets/"

// Assets serves the embedded static files under AssetsPrefix. Vendored files
// carry their version in their path and are cached for a year; the board's and
// playground's own files are revalidated on every load.
func Assets() http.Handler {
	fileServer := http.StripPrefix(strings.TrimSuffix(AssetsPrefix, "/"), http.FileServerFS(Static()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // no directory listings
			return
		}
		securityHeaders(w.Header())
		if strings.HasPrefix(r.URL.Path, AssetsPrefix+"vendor/") {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		fileServer.ServeHTTP(w, r)
	})
}

// securityHeaders are sent with every page and asset.
func securityHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// asset is a file a page loads: its URL and, for a vendored file, its
// Subresource Integrity.
type asset struct {
	URL       string
	Integrity string
}

// vendored returns the asset of the file `from` of npm package pkg.
func vendored(m Manifest, pkg, from string) (asset, error) {
	for _, f := range m.Files {
		if f.Package == pkg && f.From == from {
			return asset{URL: AssetsPrefix + f.Path, Integrity: f.Integrity}, nil
		}
	}
	return asset{}, fmt.Errorf("web: vendor.json lists no %s of npm package %s", from, pkg)
}

// page renders one template once and serves it with its Content-Security-Policy.
func page(name, csp string, data any) (http.Handler, error) {
	m, err := LoadManifest()
	if err != nil {
		return nil, err
	}
	t, err := template.New(name).Funcs(template.FuncMap{
		"vendor": func(pkg, from string) (asset, error) { return vendored(m, pkg, from) },
		"asset":  func(p string) string { return AssetsPrefix + path.Clean(p) },
	}).ParseFS(files, "templates/"+name)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return nil, err
	}
	body := buf.Bytes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		securityHeaders(h)
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", csp)
		h.Set("Cache-Control", "no-cache")
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(body)
	}), nil
}

// PageConfig is what the playground and the board need to know of the server.
type PageConfig struct {
	// GraphQLPath is the API's path (also its websocket's).
	GraphQLPath string
	// TokenCommand, when set, is the shell command that mints a development
	// token for this server; the pages show it as a hint.
	TokenCommand string
}

// Both pages load only files of this origin and talk only to this origin
// ('self' covers the websocket of the same host). GraphiQL sets inline styles,
// hence 'unsafe-inline' for the playground's styles only.
const (
	boardCSP      = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	playgroundCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

// Playground is the GraphiQL page, its Headers tab filled with a hint on how to
// authenticate.
func Playground(c PageConfig) (http.Handler, error) {
	value := "Bearer <your token>"
	if c.TokenCommand != "" {
		value = "Bearer <paste the token printed by: " + c.TokenCommand + ">"
	}
	var hint bytes.Buffer
	enc := json.NewEncoder(&hint)
	enc.SetEscapeHTML(false) // the Headers tab shows it as is: <, > and & stay readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]string{"Authorization": value}); err != nil {
		return nil, err
	}
	return page("playground.html", playgroundCSP, struct {
		PageConfig
		HeadersHint string
	}{c, strings.TrimSpace(hint.String())})
}

// Board is the read-only progression board.
func Board(c PageConfig) (http.Handler, error) {
	return page("board.html", boardCSP, c)
}
