package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/artifact-trust/control-plane/model"
)

// jwksServer serves a JWK Set on loopback; the set and the status can change.
type jwksServer struct {
	*httptest.Server
	mu     sync.Mutex
	body   []byte
	status int // 0: 200 with the set
	hits   atomic.Int64
}

func newJWKSServer(t testing.TB, keys ...map[string]any) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.setKeys(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		status, body := s.status, s.body
		s.mu.Unlock()
		if status != 0 {
			http.Error(w, "unavailable", status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setKeys(t testing.TB, keys ...map[string]any) {
	t.Helper()
	if keys == nil {
		keys = []map[string]any{}
	}
	body, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	s.setBody(body)
}

func (s *jwksServer) setBody(body []byte) {
	s.mu.Lock()
	s.body = body
	s.mu.Unlock()
}

func (s *jwksServer) setStatus(code int) {
	s.mu.Lock()
	s.status = code
	s.mu.Unlock()
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// withJWK returns jwk with extra members (a nil value deletes one).
func withJWK(jwk map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range jwk {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func rsaJWK(pub *rsa.PublicKey, kid, alg string) map[string]any {
	return withJWK(map[string]any{"kty": "RSA", "kid": kid, "use": "sig",
		"n": b64u(pub.N.Bytes()), "e": b64u(big.NewInt(int64(pub.E)).Bytes())}, "alg", nonEmpty(alg))
}

func ecJWK(pub *ecdsa.PublicKey, kid, alg string) map[string]any {
	raw, err := pub.Bytes() // 0x04 || X || Y, each of the curve's size
	if err != nil {
		panic(err)
	}
	size := (len(raw) - 1) / 2
	return withJWK(map[string]any{"kty": "EC", "kid": kid, "crv": pub.Curve.Params().Name,
		"x": b64u(raw[1 : 1+size]), "y": b64u(raw[1+size:])}, "alg", nonEmpty(alg))
}

func mustBytes(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func edJWK(pub ed25519.PublicKey, kid, alg string) map[string]any {
	return withJWK(map[string]any{"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64u(pub)}, "alg", nonEmpty(alg))
}

func nonEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// signKID signs c with a kid header; kid nil leaves the header out.
func signKID(t testing.TB, m jwt.SigningMethod, key any, kid any, c jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != nil {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", m.Alg(), err)
	}
	return s
}

// statusLog records what a Verifier reports through OnJWKSStatus.
type statusLog struct {
	mu        sync.Mutex
	errs      []error
	available []bool
}

func (l *statusLog) record(keysAvailable bool, err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.available = append(l.available, keysAvailable)
	l.mu.Unlock()
}

func (l *statusLog) availability() []bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]bool(nil), l.available...)
}

func (l *statusLog) snapshot() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}

func jwksVerifier(t testing.TB, url string, mutate ...func(*Config)) *Verifier {
	t.Helper()
	cfg := Config{JWKSURL: url}
	for _, m := range mutate {
		m(&cfg)
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v
}

// standardSet is the set most tests serve: an RSA and an Ed25519 key with their
// alg, and a P-256 key without one.
func standardSet(k *testKeys) []map[string]any {
	return []map[string]any{
		rsaJWK(&k.rsa.PublicKey, "rsa-1", "RS256"),
		edJWK(k.ed.Public().(ed25519.PublicKey), "ed-1", "EdDSA"),
		ecJWK(&k.ec.PublicKey, "ec-1", ""),
	}
}

func TestJWKSValidTokensVerifyWithTheirKid(t *testing.T) {
	k := genKeys(t)
	srv := newJWKSServer(t, standardSet(k)...)
	v := jwksVerifier(t, srv.URL, func(c *Config) { c.Issuer, c.Audience = "https://idp.example", "artifact-trust" })
	if got := v.Algorithm(); got != "RS256, ES256, EdDSA" {
		t.Fatalf("Algorithm() = %q", got)
	}
	tests := []struct {
		name   string
		method jwt.SigningMethod
		key    any
		kid    string
	}{
		{"RS256 with the RSA key", jwt.SigningMethodRS256, k.rsa, "rsa-1"},
		{"EdDSA with the Ed25519 key", jwt.SigningMethodEdDSA, k.ed, "ed-1"},
		{"ES256 with the P-256 key whose JWK states no alg", jwt.SigningMethodES256, k.ec, "ec-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := signKID(t, tt.method, tt.key, tt.kid, claims(map[string]any{
				"sub": "ci-release", "actor_type": "service_account",
				"iss": "https://idp.example", "aud": "artifact-trust",
				"roles": map[string]any{"payments": []string{"publisher", "verifier"}},
			}))
			got, err := v.Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := model.Actor{Subject: "ci-release", Type: model.ActorServiceAccount, Roles: map[string][]model.Role{
				"payments": {model.RolePublisher, model.RoleVerifier},
			}}
			if got.ExpiresAt.IsZero() {
				t.Fatal("actor carries no expiry")
			}
			got.ExpiresAt = time.Time{}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("actor = %+v, want %+v", got, want)
			}
		})
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("JWKS fetched %d times, want once (cached)", n)
	}
}

func TestJWKSRefusals(t *testing.T) {
	k := genKeys(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	symmetric := []byte("a-shared-secret-of-32-bytes-long")
	set := append(standardSet(k),
		rsaJWK(&k.rsaOther.PublicKey, "rsa-ps", "PS256"),
		withJWK(rsaJWK(&k.rsaOther.PublicKey, "rsa-enc", ""), "use", "enc"),
		withJWK(rsaJWK(&k.rsaOther.PublicKey, "rsa-signonly", ""), "use", nil, "key_ops", []string{"sign"}),
		rsaJWK(&small.PublicKey, "rsa-1024", "RS256"),
		ecJWK(&k.ec384.PublicKey, "ec-384", ""),
		withJWK(ecJWK(&k.ec.PublicKey, "ec-private", "ES256"), "d", b64u(mustBytes(k.ec.Bytes()))),
		map[string]any{"kty": "oct", "kid": "sym", "k": b64u(symmetric)},
	)
	srv := newJWKSServer(t, set...)
	v := jwksVerifier(t, srv.URL)
	rsaJSON, _ := json.Marshal(set[0])

	tests := []struct {
		name  string
		token string
		want  string
	}{
		// kid.
		{"unknown kid", signKID(t, jwt.SigningMethodRS256, k.rsa, "rsa-404", claims(nil)), "unknown signing key (kid)"},
		{"no kid", signKID(t, jwt.SigningMethodRS256, k.rsa, nil, claims(nil)), "unknown signing key (kid): the token names none"},
		{"empty kid", signKID(t, jwt.SigningMethodRS256, k.rsa, "", claims(nil)), "unknown signing key (kid)"},
		{"kid not a string", signKID(t, jwt.SigningMethodRS256, k.rsa, 1, claims(nil)), "unknown signing key (kid)"},

		// Algorithm confusion: never a symmetric algorithm from a set.
		{"HS256 signed with the JWK's modulus bytes", signKID(t, jwt.SigningMethodHS256, k.rsa.N.Bytes(), "rsa-1", claims(nil)),
			"algorithm not accepted (this server accepts RS256, ES256, EdDSA)"},
		{"HS256 signed with the JWK's n member", signKID(t, jwt.SigningMethodHS256, []byte(set[0]["n"].(string)), "rsa-1", claims(nil)),
			"algorithm not accepted"},
		{"HS256 signed with the JWK JSON", signKID(t, jwt.SigningMethodHS256, rsaJSON, "rsa-1", claims(nil)), "algorithm not accepted"},
		{"HS256 with the set's own oct key", signKID(t, jwt.SigningMethodHS256, symmetric, "sym", claims(nil)), "algorithm not accepted"},
		{"RS256 naming the oct key", signKID(t, jwt.SigningMethodRS256, k.rsa, "sym", claims(nil)), "may not verify tokens"},
		{"alg none with a kid", signKID(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "rsa-1", claims(nil)), "algorithm not accepted"},
		{"RS512 with the right key", signKID(t, jwt.SigningMethodRS512, k.rsa, "rsa-1", claims(nil)), "algorithm not accepted"},
		{"PS256 with the right key", signKID(t, jwt.SigningMethodPS256, k.rsa, "rsa-1", claims(nil)), "algorithm not accepted"},

		// The JWK's alg and key type decide.
		{"RS256 token, JWK says PS256", signKID(t, jwt.SigningMethodRS256, k.rsaOther, "rsa-ps", claims(nil)),
			"token algorithm does not match its signing key (kid)"},
		{"ES256 token naming the RS256 JWK", signKID(t, jwt.SigningMethodES256, k.ec, "rsa-1", claims(nil)),
			"does not match its signing key"},
		{"EdDSA token naming the RS256 JWK", signKID(t, jwt.SigningMethodEdDSA, k.ed, "rsa-1", claims(nil)),
			"does not match its signing key"},
		{"RS256 token naming the P-256 JWK without alg", signKID(t, jwt.SigningMethodRS256, k.rsa, "ec-1", claims(nil)),
			"does not match its signing key"},
		{"ES256 token naming the EdDSA JWK", signKID(t, jwt.SigningMethodES256, k.ec, "ed-1", claims(nil)),
			"does not match its signing key"},

		// Keys the set should not offer for verification.
		{"JWK for encryption", signKID(t, jwt.SigningMethodRS256, k.rsaOther, "rsa-enc", claims(nil)), "may not verify tokens"},
		{"JWK whose key_ops lack verify", signKID(t, jwt.SigningMethodRS256, k.rsaOther, "rsa-signonly", claims(nil)), "may not verify tokens"},
		{"RSA JWK of 1024 bits", signKID(t, jwt.SigningMethodRS256, small, "rsa-1024", claims(nil)), "may not verify tokens"},
		{"P-384 JWK for an ES256 token", signKID(t, jwt.SigningMethodES256, k.ec, "ec-384", claims(nil)), "may not verify tokens"},
		{"JWK publishing its private key", signKID(t, jwt.SigningMethodES256, k.ec, "ec-private", claims(nil)), "may not verify tokens"},

		// Signatures and claims still count.
		{"RS256 signed by another key", signKID(t, jwt.SigningMethodRS256, k.rsaOther, "rsa-1", claims(nil)), "bad token signature"},
		{"EdDSA tampered payload", func() string {
			p := strings.Split(signKID(t, jwt.SigningMethodEdDSA, k.ed, "ed-1", claims(nil)), ".")
			return p[0] + "." + b64(`{"sub":"mallory","exp":4102444800}`) + "." + p[2]
		}(), "bad token signature"},
		{"expired", signKID(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", claims(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})), "token expired"},
		{"no exp", signKID(t, jwt.SigningMethodEdDSA, k.ed, "ed-1", claims(map[string]any{"exp": nil})), "no expiry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			actor, err := v.Verify(tt.token)
			if err == nil {
				t.Fatalf("Verify accepted the token: %+v", actor)
			}
			wantUnauthenticated(t, err, tt.want, tt.token)
			if !reflect.DeepEqual(actor, model.Actor{}) {
				t.Fatalf("refusal returned a non-zero actor %+v", actor)
			}
		})
	}
	// The good keys of the same set still work.
	if _, err := v.Verify(signKID(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", claims(nil))); err != nil {
		t.Fatalf("valid token after the refusals: %v", err)
	}
}

func TestJWKSKeyRotationIsPickedUpOnDemand(t *testing.T) {
	k := genKeys(t)
	srv := newJWKSServer(t, rsaJWK(&k.rsa.PublicKey, "2024", "RS256"))
	// A periodic refresh that never comes during the test: only the unknown kid
	// can make the Verifier fetch again.
	v := jwksVerifier(t, srv.URL, func(c *Config) { c.JWKSRefreshInterval = time.Hour })
	oldTok := signKID(t, jwt.SigningMethodRS256, k.rsa, "2024", claims(nil))
	if _, err := v.Verify(oldTok); err != nil {
		t.Fatalf("token of the first key: %v", err)
	}

	// The identity provider rotates: the old key is gone, a new one (Ed25519) is in.
	srv.setKeys(t, edJWK(k.ed.Public().(ed25519.PublicKey), "2025", "EdDSA"))
	newTok := signKID(t, jwt.SigningMethodEdDSA, k.ed, "2025", claims(map[string]any{"sub": "bob"}))
	got, err := v.Verify(newTok)
	if err != nil {
		t.Fatalf("token of the rotated-in key: %v", err)
	}
	if got.Subject != "bob" {
		t.Fatalf("actor = %+v", got)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("JWKS fetched %d times, want 2 (start-up, unknown kid)", n)
	}
	// The refresh replaced the set: the removed key no longer verifies.
	_, err = v.Verify(oldTok)
	wantUnauthenticated(t, err, "unknown signing key (kid)", oldTok)
}

func TestJWKSUnknownKidRefreshIsRateLimited(t *testing.T) {
	k := genKeys(t)
	srv := newJWKSServer(t, standardSet(k)...)
	v := jwksVerifier(t, srv.URL, func(c *Config) {
		c.JWKSRefreshInterval = time.Hour
		c.JWKSUnknownKIDInterval = time.Hour
	})
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := signKID(t, jwt.SigningMethodRS256, k.rsa, fmt.Sprintf("random-%d", i), claims(nil))
			_, err := v.Verify(tok)
			var e *model.Error
			if !errors.As(err, &e) || e.Kind != model.KindUnauthenticated || e.Message != "unknown signing key (kid)" {
				t.Errorf("unknown kid: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("JWKS fetched %d times for 50 unknown kids, want 2 (start-up and one refresh)", n)
	}
	// Known keys are unaffected.
	if _, err := v.Verify(signKID(t, jwt.SigningMethodEdDSA, k.ed, "ed-1", claims(nil))); err != nil {
		t.Fatalf("known kid during the rate limit: %v", err)
	}
}

func TestJWKSPeriodicRefreshKeepsKeysWhenTheServerFails(t *testing.T) {
	k := genKeys(t)
	srv := newJWKSServer(t, standardSet(k)...)
	var log statusLog
	v := jwksVerifier(t, srv.URL, func(c *Config) {
		c.JWKSRefreshInterval = 20 * time.Millisecond
		c.OnJWKSStatus = log.record
	})
	srv.setStatus(http.StatusInternalServerError)
	waitFor(t, "a failed refresh to be reported", func() bool { return len(log.snapshot()) > 0 })
	if err := log.snapshot()[0]; err == nil || !strings.Contains(err.Error(), "refresh JWK Set") {
		t.Fatalf("reported %v, want a refresh failure", err)
	}
	if !log.availability()[0] {
		t.Fatal("refresh failure reported with keysAvailable false; the keys of the first fetch are kept")
	}
	if _, err := v.Verify(signKID(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", claims(nil))); err != nil {
		t.Fatalf("known key while the JWKS server fails: %v", err)
	}
	// Back up, with the RSA key revoked: the next refresh removes it.
	srv.setKeys(t, edJWK(k.ed.Public().(ed25519.PublicKey), "ed-1", "EdDSA"))
	srv.setStatus(0)
	tok := signKID(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", claims(nil))
	waitFor(t, "the revoked key to be dropped", func() bool { _, err := v.Verify(tok); return err != nil })
	_, err := v.Verify(tok)
	wantUnauthenticated(t, err, "unknown signing key (kid)", tok)
}

func TestJWKSServerDownAtStartIsRetriedInTheBackground(t *testing.T) {
	k := genKeys(t)
	srv := newJWKSServer(t, standardSet(k)...)
	srv.setStatus(http.StatusServiceUnavailable)
	var log statusLog
	start := time.Now()
	v := jwksVerifier(t, srv.URL, func(c *Config) {
		c.JWKSFetchTimeout = 2 * time.Second
		c.OnJWKSStatus = log.record
	})
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("NewVerifier took %v, want at most the fetch timeout", d)
	}
	if errs := log.snapshot(); len(errs) == 0 || errs[0] == nil || !strings.Contains(errs[0].Error(), "start-up") || log.availability()[0] {
		t.Fatalf("start-up failure not reported, or reported with keys available: %v", errs)
	}
	tok := signKID(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", claims(nil))
	_, err := v.Verify(tok)
	wantUnauthenticated(t, err, "signing keys unavailable", tok)

	srv.setStatus(0)
	waitFor(t, "the keys to arrive", func() bool { _, err := v.Verify(tok); return err == nil })
	waitFor(t, "the arrival to be reported", func() bool {
		errs, avail := log.snapshot(), log.availability()
		return errs[len(errs)-1] == nil && avail[len(avail)-1]
	})
}

func TestJWKSStartUpFetchIsBounded(t *testing.T) {
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) })
	start := time.Now()
	v := jwksVerifier(t, hang.URL, func(c *Config) { c.JWKSFetchTimeout = 200 * time.Millisecond })
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("NewVerifier took %v with a hanging JWKS server and a 200ms timeout", d)
	}
	_, err := v.Verify(signKID(t, jwt.SigningMethodEdDSA, genKeys(t).ed, "ed-1", claims(nil)))
	wantUnauthenticated(t, err, "signing keys unavailable", "")
}

func TestJWKSCloseStopsTheRefresh(t *testing.T) {
	k := genKeys(t)
	t.Run("after the keys arrived", func(t *testing.T) {
		srv := newJWKSServer(t, standardSet(k)...)
		v := jwksVerifier(t, srv.URL, func(c *Config) { c.JWKSRefreshInterval = 10 * time.Millisecond })
		waitFor(t, "periodic refreshes", func() bool { return srv.hits.Load() >= 3 })
		if err := v.Close(); err != nil {
			t.Fatal(err)
		}
		_ = v.Close() // twice is fine
		wantNoMoreHits(t, srv)
		// Known keys still verify; an unknown kid fetches nothing any more.
		if _, err := v.Verify(signKID(t, jwt.SigningMethodEdDSA, k.ed, "ed-1", claims(nil))); err != nil {
			t.Fatalf("known kid after Close: %v", err)
		}
		before := srv.hits.Load()
		_, err := v.Verify(signKID(t, jwt.SigningMethodRS256, k.rsa, "rsa-new", claims(nil)))
		wantUnauthenticated(t, err, "unknown signing key (kid)", "")
		if srv.hits.Load() != before {
			t.Fatal("an unknown kid fetched the set after Close")
		}
	})
	t.Run("while retrying the start-up fetch", func(t *testing.T) {
		srv := newJWKSServer(t, standardSet(k)...)
		srv.setStatus(http.StatusServiceUnavailable)
		v := jwksVerifier(t, srv.URL)
		waitFor(t, "a background retry", func() bool { return srv.hits.Load() >= 2 })
		done := make(chan struct{})
		go func() { _ = v.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not return while the start-up fetch was being retried")
		}
		wantNoMoreHits(t, srv)
	})
}

func TestJWKSOversizedSetIsRefused(t *testing.T) {
	k := genKeys(t)
	srv := newJWKSServer(t)
	body := `{"keys":[` + strings.Repeat(" ", MaxJWKSBytes) + `]}`
	srv.setBody([]byte(body))
	var log statusLog
	v := jwksVerifier(t, srv.URL, func(c *Config) { c.OnJWKSStatus = log.record })
	_, err := v.Verify(signKID(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", claims(nil)))
	wantUnauthenticated(t, err, "signing keys unavailable", "")
	if errs := log.snapshot(); len(errs) == 0 || errs[0] == nil || !strings.Contains(errs[0].Error(), "larger than") {
		t.Fatalf("reported %v, want the size limit", errs)
	}
}

func TestJWKSConfiguration(t *testing.T) {
	k := genKeys(t)
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"JWKS and an HS256 secret", Config{JWKSURL: "https://idp.example/jwks.json", HS256Secret: testSecret}, "cannot be combined"},
		{"JWKS and a public key", Config{JWKSURL: "https://idp.example/jwks.json", PublicKeyPEM: pkixPEM(t, &k.rsa.PublicKey)}, "cannot be combined"},
		{"plain http to a remote host", Config{JWKSURL: "http://idp.example/jwks.json"}, "must use https"},
		{"another scheme", Config{JWKSURL: "file:///etc/jwks.json"}, "must be absolute"},
		{"ftp", Config{JWKSURL: "ftp://idp.example/jwks.json"}, "not supported"},
		{"relative URL", Config{JWKSURL: "/jwks.json"}, "must be absolute"},
		{"not a URL", Config{JWKSURL: "https://idp example/%zz"}, "not a valid URL"},
		{"credentials in the URL", Config{JWKSURL: "https://user:pw@idp.example/jwks.json"}, "credentials"},
		{"negative refresh interval", Config{JWKSURL: "https://idp.example/jwks.json", JWKSRefreshInterval: -time.Second}, "must not be negative"},
		{"negative fetch timeout", Config{JWKSURL: "https://idp.example/jwks.json", JWKSFetchTimeout: -time.Second}, "must not be negative"},
		{"negative leeway", Config{JWKSURL: "https://idp.example/jwks.json", Leeway: -time.Second}, "leeway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(tt.cfg)
			if err == nil {
				_ = v.Close()
				t.Fatal("NewVerifier accepted the configuration")
			}
			if !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "pw@") {
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
	for _, ok := range []string{"http://127.0.0.1:1/jwks", "http://localhost:1/jwks", "http://[::1]:1/jwks"} {
		if _, err := checkJWKSURL(ok); err != nil {
			t.Errorf("checkJWKSURL(%q) = %v, want loopback http accepted", ok, err)
		}
	}
}

func TestJWKSMiddlewareAuthenticatesRequests(t *testing.T) {
	k := genKeys(t)
	srv := newJWKSServer(t, standardSet(k)...)
	v := jwksVerifier(t, srv.URL)
	var got model.Actor
	var gotErr error
	h := authenticated(v, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, gotErr = Require(r.Context())
	}))
	req := httptest.NewRequest(http.MethodPost, "/query", nil)
	req.Header.Set("Authorization", "Bearer "+signKID(t, jwt.SigningMethodEdDSA, k.ed, "ed-1", claims(nil)))
	h.ServeHTTP(httptest.NewRecorder(), req)
	if gotErr != nil || got.Subject != "alice" {
		t.Fatalf("actor = %+v, err = %v", got, gotErr)
	}
	req.Header.Set("Authorization", "Bearer "+signKID(t, jwt.SigningMethodEdDSA, k.ed, "ed-2", claims(nil)))
	h.ServeHTTP(httptest.NewRecorder(), req)
	wantUnauthenticated(t, gotErr, "unknown signing key (kid)", "")
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wantNoMoreHits checks that srv is not asked for the set any more.
func wantNoMoreHits(t *testing.T, srv *jwksServer) {
	t.Helper()
	time.Sleep(50 * time.Millisecond) // let a request already on the wire land
	n := srv.hits.Load()
	time.Sleep(300 * time.Millisecond)
	if m := srv.hits.Load(); m != n {
		t.Fatalf("JWKS fetched %d more times after Close", m-n)
	}
}
