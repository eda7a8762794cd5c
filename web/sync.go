//go:build ignore

// Sync copies the browser files listed in vendor.json from node_modules (after
// `npm ci`, which checks every package against the integrity pinned in
// package-lock.json) into static/, and records each file's version and
// Subresource Integrity in vendor.json. Run it with `go generate ./web`.
//
// To move to another version: change package.json, run `npm install`, update the
// paths in vendor.json if the version is part of them, then `go generate ./web`.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/artifact-trust/control-plane/web"
)

func main() {
	if err := sync(); err != nil {
		fmt.Fprintln(os.Stderr, "sync:", err)
		os.Exit(1)
	}
}

func sync() error {
	raw, err := os.ReadFile("vendor.json")
	if err != nil {
		return err
	}
	var m web.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("vendor.json: %w", err)
	}
	lock, err := web.ReadLockedVersions("package-lock.json")
	if err != nil {
		return err
	}
	for i, f := range m.Files {
		installed, err := web.InstalledVersion("node_modules", f.Package)
		if err != nil {
			return fmt.Errorf("%s: %w (run npm ci in web/ first)", f.Package, err)
		}
		if lock[f.Package] != installed {
			return fmt.Errorf("%s: node_modules has %s, package-lock.json pins %s: run npm ci", f.Package, installed, lock[f.Package])
		}
		if !strings.Contains(f.Path, f.Package+"@"+installed+"/") {
			return fmt.Errorf("%s: path %s does not name version %s; rename it in vendor.json", f.Package, f.Path, installed)
		}
		b, err := os.ReadFile(filepath.Join("node_modules", f.Package, filepath.FromSlash(f.From)))
		if err != nil {
			return err
		}
		dst := filepath.Join("static", filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return err
		}
		m.Files[i].Version = installed
		m.Files[i].Integrity = web.SRI(b)
		fmt.Printf("%-55s %s@%s/%s %s\n", f.Path, f.Package, installed, f.From, m.Files[i].Integrity)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return err
	}
	return os.WriteFile("vendor.json", out.Bytes(), 0o644)
}
