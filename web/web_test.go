package web

import (
	"bytes"
	"encoding/json"
	"html"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestEmbeddedVendoredFilesMatchTheIntegrityInVendorJSON hashes every vendored
// file embedded in the binary and compares it with the Subresource Integrity
// recorded in vendor.json (which the pages put in their integrity attributes);
// a file under static/vendor/ that vendor.json does not list fails too.
func TestEmbeddedVendoredFilesMatchTheIntegrityInVendorJSON(t *testing.T) {
	m, err := LoadManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) == 0 {
		t.Fatal("vendor.json lists no file")
	}
	listed := map[string]bool{}
	for _, f := range m.Files {
		listed[f.Path] = true
		b, err := fs.ReadFile(Static(), f.Path)
		if err != nil {
			t.Errorf("%s: %v", f.Path, err)
			continue
		}
		if got := SRI(b); got != f.Integrity {
			t.Errorf("%s: integrity %s, vendor.json says %s (run npm ci && go generate ./web)", f.Path, got, f.Integrity)
		}
		if !strings.HasPrefix(f.Path, "vendor/"+f.Package+"@"+f.Version+"/") {
			t.Errorf("%s: path does not name %s@%s", f.Path, f.Package, f.Version)
		}
	}
	err = fs.WalkDir(Static(), "vendor", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !listed[p] {
			t.Errorf("%s is vendored but not listed in vendor.json", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestVendoredFilesAreTheFilesOfThePinnedNpmPackages checks the chain from the
// lockfile to the binary: package.json pins exact versions, package-lock.json
// locks the same versions (with the sha512 integrity npm ci checks every
// download against), vendor.json names those versions, and each vendored file
// is byte for byte the file of the installed package. The last step needs
// node_modules (npm ci in web/): CI installs it; elsewhere it is skipped.
func TestVendoredFilesAreTheFilesOfThePinnedNpmPackages(t *testing.T) {
	m, err := LoadManifest()
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	raw, err := os.ReadFile("package.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &pkg); err != nil {
		t.Fatal(err)
	}
	exact := regexp.MustCompile(`^\d+\.\d+\.\d+$`)
	for name, v := range pkg.Dependencies {
		if !exact.MatchString(v) {
			t.Errorf("package.json: %s %q is not an exact version", name, v)
		}
	}
	locked, err := ReadLockedVersions("package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range m.Files {
		if pkg.Dependencies[f.Package] != f.Version || locked[f.Package] != f.Version {
			t.Errorf("%s: vendor.json says %s@%s, package.json %q, package-lock.json %q", f.Path, f.Package, f.Version, pkg.Dependencies[f.Package], locked[f.Package])
		}
	}

	if _, err := os.Stat("node_modules"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must install web/node_modules (npm ci in web/): %v", err)
		}
		t.Skip("web/node_modules missing: run (cd web && npm ci) to compare the vendored files with the packages")
	}
	for _, f := range m.Files {
		installed, err := InstalledVersion("node_modules", f.Package)
		if err != nil || installed != f.Version {
			t.Errorf("%s: node_modules has %q (%v), want %s", f.Package, installed, err, f.Version)
			continue
		}
		want, err := os.ReadFile(filepath.Join("node_modules", f.Package, filepath.FromSlash(f.From)))
		if err != nil {
			t.Errorf("%s: %v", f.Path, err)
			continue
		}
		got, _ := fs.ReadFile(Static(), f.Path)
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s@%s/%s (run go generate ./web)", f.Path, f.Package, f.Version, f.From)
		}
	}
}

// TestEveryVendoredPackageKeepsItsLicence: each package a file is vendored from
// has its licence file vendored beside it.
func TestEveryVendoredPackageKeepsItsLicence(t *testing.T) {
	m, err := LoadManifest()
	if err != nil {
		t.Fatal(err)
	}
	licensed := map[string]bool{}
	for _, f := range m.Files {
		if strings.HasPrefix(strings.ToUpper(filepath.Base(f.From)), "LICENSE") {
			b, _ := fs.ReadFile(Static(), f.Path)
			if !bytes.Contains(bytes.ToLower(b), []byte("permission is hereby granted")) && !bytes.Contains(bytes.ToLower(b), []byte("license")) {
				t.Errorf("%s does not read like a licence", f.Path)
			}
			licensed[f.Package] = true
		}
	}
	for _, f := range m.Files {
		if !licensed[f.Package] {
			t.Errorf("%s: no licence of %s is vendored", f.Path, f.Package)
		}
	}
}

// TestPagesLoadOnlyEmbeddedFilesWithTheirIntegrity renders the playground and
// the board and checks every script and stylesheet they name: a path under
// /assets/ that the binary serves, and for vendored files the integrity of
// vendor.json. No page names another host, and each carries a
// Content-Security-Policy that lets it reach only its own origin.
func TestPagesLoadOnlyEmbeddedFilesWithTheirIntegrity(t *testing.T) {
	m, err := LoadManifest()
	if err != nil {
		t.Fatal(err)
	}
	sri := map[string]string{}
	for _, f := range m.Files {
		sri[AssetsPrefix+f.Path] = f.Integrity
	}
	cfg := PageConfig{GraphQLPath: "/query", TokenCommand: "go run ./server token --data-dir ./data --sub alice --role '*:project_admin'"}
	playground, err := Playground(cfg)
	if err != nil {
		t.Fatal(err)
	}
	board, err := Board(cfg)
	if err != nil {
		t.Fatal(err)
	}
	assets := Assets()
	ref := regexp.MustCompile(`<(script|link)[^>]*?(?:src|href)="([^"]+)"[^>]*>`)
	integrity := regexp.MustCompile(`integrity="([^"]+)"`)
	for name, h := range map[string]http.Handler{"playground": playground, "board": board} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		body := rec.Body.String()
		csp := rec.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self';") || !strings.Contains(csp, "connect-src 'self'") {
			t.Errorf("%s: Content-Security-Policy %q", name, csp)
		}
		if strings.Contains(body, "http://") || strings.Contains(body, "https://") || strings.Contains(body, "//cdn") {
			t.Errorf("%s names another host:\n%s", name, body)
		}
		if !strings.Contains(body, `data-graphql-path="/query"`) {
			t.Errorf("%s does not carry the API path", name)
		}
		refs := ref.FindAllStringSubmatch(body, -1)
		if len(refs) < 2 {
			t.Errorf("%s: %d scripts and stylesheets", name, len(refs))
		}
		for _, r := range refs {
			url := r[2]
			if url == "data:," {
				continue // the empty favicon: no request at all
			}
			rec := httptest.NewRecorder()
			assets.ServeHTTP(rec, httptest.NewRequest("GET", url, nil))
			if rec.Code != 200 || rec.Body.Len() == 0 {
				t.Errorf("%s: %s answers %d", name, url, rec.Code)
			}
			if want, vendored := sri[url]; vendored {
				got := integrity.FindStringSubmatch(r[0])
				if got == nil || html.UnescapeString(got[1]) != want || SRI(rec.Body.Bytes()) != want {
					t.Errorf("%s: %s without its integrity %s: %s", name, url, want, r[0])
				}
			}
		}
	}
	// The playground's Headers tab is filled with the token command, as JSON.
	rec := httptest.NewRecorder()
	playground.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if !strings.Contains(html.UnescapeString(rec.Body.String()), `"Authorization": "Bearer <paste the token printed by: go run ./server token --data-dir ./data --sub alice --role '*:project_admin'>"`) {
		t.Errorf("playground headers hint missing:\n%s", rec.Body.String())
	}
}

func TestAssetsAreCachedByVersionAndNeverListed(t *testing.T) {
	h := Assets()
	for url, want := range map[string]int{
		"/assets/vendor/react@18.3.1/react.production.min.js": 200,
		"/assets/board/board.js":                              200,
		"/assets/vendor/":                                     404,
		"/assets/board/":                                      404,
		"/assets/nope.js":                                     404,
		"/assets/../web.go":                                   404,
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", url, nil))
		if rec.Code != want {
			t.Errorf("%s: %d, want %d", url, rec.Code, want)
		}
		if want != 200 {
			continue
		}
		cc := rec.Header().Get("Cache-Control")
		if strings.Contains(url, "/vendor/") != strings.Contains(cc, "immutable") || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: Cache-Control %q, nosniff %q", url, cc, rec.Header().Get("X-Content-Type-Options"))
		}
		if ct := rec.Header().Get("Content-Type"); !slices.Contains([]string{"text/javascript; charset=utf-8", "application/javascript"}, ct) {
			t.Errorf("%s: Content-Type %q", url, ct)
		}
	}
}
