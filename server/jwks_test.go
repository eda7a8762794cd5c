package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/sirupsen/logrus"
)

// testJWKS serves a JWK Set with one RSA and one Ed25519 key on loopback.
type testJWKS struct {
	*httptest.Server
	rsa *rsa.PrivateKey
	ed  ed25519.PrivateKey

	mu   sync.Mutex
	down bool
}

func newTestJWKS(t *testing.T) *testJWKS {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, ek, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	set, _ := json.Marshal(map[string]any{"keys": []map[string]any{
		{"kty": "RSA", "kid": "rsa-1", "alg": "RS256", "use": "sig", "n": b64(rk.N.Bytes()), "e": b64(big.NewInt(int64(rk.E)).Bytes())},
		{"kty": "OKP", "kid": "ed-1", "alg": "EdDSA", "use": "sig", "crv": "Ed25519", "x": b64(ek.Public().(ed25519.PublicKey))},
	}})
	j := &testJWKS{rsa: rk, ed: ek}
	j.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.mu.Lock()
		down := j.down
		j.mu.Unlock()
		if down {
			http.Error(w, "identity provider unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(set)
	}))
	t.Cleanup(j.Close)
	return j
}

func (j *testJWKS) setDown(down bool) {
	j.mu.Lock()
	j.down = down
	j.mu.Unlock()
}

// sign makes a token for sub with a viewer role in payments, naming kid.
func (j *testJWKS) sign(t *testing.T, m jwt.SigningMethod, key any, kid, sub string) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, jwt.MapClaims{
		"sub": sub, "exp": time.Now().Add(time.Hour).Unix(),
		"roles": map[string]any{"payments": []string{"viewer"}},
	})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startJWKSServer starts the real server configured through JWT_JWKS_URL (the
// harness's HS256 secret removed).
func startJWKSServer(t *testing.T, jwksURL string) *testServer {
	t.Helper()
	t.Setenv("JWT_JWKS_URL", jwksURL)
	return startServer(t, t.TempDir(), func(c *Config) {
		if c.JWTJWKSURL != jwksURL {
			t.Fatalf("JWT_JWKS_URL not read: %q", c.JWTJWKSURL)
		}
		c.JWTHS256Secret = ""
	})
}

func TestServerVerifiesTokensFromAJWKSet(t *testing.T) {
	j := newTestJWKS(t)
	ts := startJWKSServer(t, j.URL)

	for _, tc := range []struct {
		name   string
		method jwt.SigningMethod
		key    any
		kid    string
	}{
		{"RS256", jwt.SigningMethodRS256, j.rsa, "rsa-1"},
		{"EdDSA", jwt.SigningMethodEdDSA, j.ed, "ed-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out struct {
				Viewer struct {
					Subject   string `json:"subject"`
					ActorType string `json:"actorType"`
				} `json:"viewer"`
			}
			ts.MustDo(j.sign(t, tc.method, tc.key, tc.kid, "jwks-"+tc.name), `{ viewer { subject actorType } }`, nil, &out)
			if out.Viewer.Subject != "jwks-"+tc.name || out.Viewer.ActorType != "USER" {
				t.Fatalf("viewer = %+v", out.Viewer)
			}
		})
	}

	refusals := []struct {
		name, token, want string
	}{
		{"unknown kid", j.sign(t, jwt.SigningMethodRS256, j.rsa, "rsa-2", "mallory"), "unknown signing key (kid)"},
		{"kid of the other key", j.sign(t, jwt.SigningMethodRS256, j.rsa, "ed-1", "mallory"), "does not match its signing key"},
		{"HS256 signed with the JWK modulus", j.sign(t, jwt.SigningMethodHS256, j.rsa.N.Bytes(), "rsa-1", "mallory"), "algorithm not accepted"},
		{"HS256 token of the development secret", token(t, "mallory", "payments:viewer"), "algorithm not accepted"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			e := ts.ErrCode(tc.token, `{ viewer { subject } }`, nil)
			if e.Code() != "UNAUTHENTICATED" || !strings.Contains(e.Message, tc.want) {
				t.Fatalf("error = %+v, want UNAUTHENTICATED %q", e, tc.want)
			}
		})
	}
}

func TestServerStartsWhileTheJWKSetIsUnavailable(t *testing.T) {
	j := newTestJWKS(t)
	j.setDown(true)
	ts := startJWKSServer(t, j.URL)
	tok := j.sign(t, jwt.SigningMethodEdDSA, j.ed, "ed-1", "early")
	e := ts.ErrCode(tok, `{ viewer { subject } }`, nil)
	if e.Code() != "UNAUTHENTICATED" || !strings.Contains(e.Message, "signing keys unavailable") {
		t.Fatalf("error = %+v, want UNAUTHENTICATED signing keys unavailable", e)
	}
	j.setDown(false)
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := ts.Do(tok, `{ viewer { subject } }`, nil)
		if len(r.Errors) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("keys never arrived: %+v", r.Errors)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestJWKSURLExcludesTheOtherKeys(t *testing.T) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	for _, cfg := range []Config{
		{JWTJWKSURL: "https://idp.example/jwks.json", JWTHS256Secret: testSecret},
		{JWTJWKSURL: "https://idp.example/jwks.json", JWTPublicKeyFile: "/nonexistent.pem"},
	} {
		v, err := newVerifier(cfg, true, log)
		if err == nil {
			_ = v.Close()
			t.Fatalf("newVerifier accepted %+v", cfg)
		}
		if !strings.Contains(err.Error(), "JWT_JWKS_URL cannot be combined") {
			t.Fatalf("error = %v", err)
		}
	}
	// The flag wins over the environment, as for every setting.
	t.Setenv("JWT_JWKS_URL", "https://env.example/jwks.json")
	c, err := parseConfig([]string{"-jwt-jwks-url", "https://flag.example/jwks.json"})
	if err != nil || c.JWTJWKSURL != "https://flag.example/jwks.json" {
		t.Fatalf("parseConfig = %q, %v", c.JWTJWKSURL, err)
	}
	// A URL the verifier refuses stops the start.
	if _, err := newVerifier(Config{JWTJWKSURL: "http://idp.example/jwks.json"}, false, log); err == nil || !strings.Contains(err.Error(), "https") {
		t.Fatalf("plain http JWKS URL: %v", err)
	}
}
