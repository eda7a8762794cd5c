package auth

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/artifact-trust/control-plane/model"
)

func TestMintHS256TokensVerify(t *testing.T) {
	v := newVerifier(t, Config{HS256Secret: testSecret, Issuer: "dev", Audience: "artifact-trust"})
	tok, err := MintHS256(testSecret, Claims{
		Subject: "ci-release", ActorType: "service_account", Issuer: "dev", Audience: "artifact-trust",
		Roles: map[string][]string{"payments": {"publisher", "verifier"}, "*": {"viewer"}},
	}, time.Hour)
	if err != nil {
		t.Fatalf("MintHS256: %v", err)
	}
	a, err := v.Verify(tok)
	if err != nil {
		t.Fatalf("Verify minted token: %v", err)
	}
	if a.Subject != "ci-release" || a.Type != model.ActorServiceAccount ||
		!a.HasAnyRole("payments", model.RoleVerifier) || !a.HasAnyRole("other", model.RoleViewer) {
		t.Fatalf("actor = %+v", a)
	}

	// Without actor type and roles: a user with no roles.
	tok, err = MintHS256(testSecret, Claims{Subject: "bob", Issuer: "dev", Audience: "artifact-trust"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if a, err = v.Verify(tok); err != nil || a.Type != model.ActorUser || len(a.Roles) != 0 {
		t.Fatalf("Verify = %+v, %v", a, err)
	}
}

func TestMintHS256RefusesWhatVerifyWouldRefuse(t *testing.T) {
	ok := Claims{Subject: "alice"}
	tests := []struct {
		name    string
		secret  []byte
		claims  Claims
		ttl     time.Duration
		wantErr string
	}{
		{"short secret", testSecret[:16], ok, time.Hour, "at least 32"},
		{"zero ttl", testSecret, ok, 0, "lifetime"},
		{"negative ttl", testSecret, ok, -time.Hour, "lifetime"},
		{"empty subject", testSecret, Claims{}, time.Hour, "no subject"},
		{"unknown actor type", testSecret, Claims{Subject: "a", ActorType: "robot"}, time.Hour, "actor_type"},
		{"unknown role", testSecret, Claims{Subject: "a", Roles: map[string][]string{"p": {"owner"}}}, time.Hour, "unknown role"},
		{"bad project", testSecret, Claims{Subject: "a", Roles: map[string][]string{"a b": {"viewer"}}}, time.Hour, "invalid project"},
		{"oversized", testSecret, Claims{Subject: "a", Roles: func() map[string][]string {
			m := map[string][]string{}
			for i := 0; i < MaxRoleProjects; i++ {
				m[fmt.Sprintf("%s%03d", strings.Repeat("p", 100), i)] = []string{"viewer", "publisher", "verifier", "promoter", "project_admin"}
			}
			return m
		}()}, time.Hour, "bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := MintHS256(tt.secret, tt.claims, tt.ttl)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("MintHS256 = %q, %v; want error containing %q", tok, err, tt.wantErr)
			}
		})
	}
}

func TestLoadOrCreateDevSecretCreatesOnceAndReuses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "data")
	first, err := LoadOrCreateDevSecret(dir)
	if err != nil {
		t.Fatalf("first call: %v", err)
	}
	if len(first) != 32 {
		t.Fatalf("secret is %d bytes, want 32", len(first))
	}
	path := filepath.Join(dir, DevSecretFile)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Fatalf("secret file mode %04o, want 0600", perm)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(data)); got != hex.EncodeToString(first) {
		t.Fatalf("file holds %q, want the hex of the secret", got)
	}
	second, err := LoadOrCreateDevSecret(dir)
	if err != nil {
		t.Fatalf("second call: %v", err)
	}
	if !bytes.Equal(first, second) {
		t.Fatal("second call returned a different secret")
	}
	if _, err := NewVerifier(Config{HS256Secret: second}); err != nil {
		t.Fatalf("dev secret not usable by a Verifier: %v", err)
	}
	other, err := LoadOrCreateDevSecret(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(first, other) {
		t.Fatal("two data directories got the same secret")
	}
}

func TestLoadOrCreateDevSecretRefusesBadFiles(t *testing.T) {
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		wantErr string
	}{
		{"readable by others", strings.Repeat("ab", 32), 0o644, "make it 0600"},
		{"not hex", strings.Repeat("zz", 32), 0o600, "not hex"},
		{"too short", strings.Repeat("ab", 16), 0o600, "at least 32"},
		{"empty", "", 0o600, "at least 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, DevSecretFile)
			if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil { // umask may have narrowed it
				t.Fatal(err)
			}
			_, err := LoadOrCreateDevSecret(dir)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			after, _ := os.ReadFile(path)
			if string(after) != tt.content {
				t.Fatal("a refused secret file was overwritten")
			}
		})
	}
	t.Run("accepts a hand-written secret with surrounding whitespace", func(t *testing.T) {
		dir := t.TempDir()
		want := bytes.Repeat([]byte{0xab}, 48)
		if err := os.WriteFile(filepath.Join(dir, DevSecretFile), []byte("  "+hex.EncodeToString(want)+"\n\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := LoadOrCreateDevSecret(dir)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("got %x, %v", got, err)
		}
	})
	t.Run("empty data dir is refused", func(t *testing.T) {
		if _, err := LoadOrCreateDevSecret(""); err == nil {
			t.Fatal("accepted an empty data dir")
		}
	})
}

func TestParseRoleFlag(t *testing.T) {
	tests := []struct {
		in          string
		wantProject string
		wantRole    string
		wantErr     string
	}{
		{"payments:project_admin", "payments", "project_admin", ""},
		{"*:viewer", "*", "viewer", ""},
		{"web.shop-2:publisher", "web.shop-2", "publisher", ""},
		{"payments:PROMOTER", "payments", "promoter", ""},
		{"payments", "", "", "want project:role"},
		{"payments:", "", "", "unknown role"},
		{":viewer", "", "", "must not be empty"},
		{"payments:owner", "", "", "unknown role"},
		{"a:b:viewer", "", "", "want project:role"},
		{"-bad:viewer", "", "", "project"},
		{"**:viewer", "", "", "project"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, r, err := ParseRoleFlag(tt.in)
			if tt.wantErr == "" {
				if err != nil || p != tt.wantProject || r != tt.wantRole {
					t.Fatalf("ParseRoleFlag = %q, %q, %v; want %q, %q", p, r, err, tt.wantProject, tt.wantRole)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}
