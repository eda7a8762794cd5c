package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	testIssuer   = "https://issuer.example.test"
	testAudience = "artifact-trust"
)

var b64 = base64.RawURLEncoding

// craft builds a compact JWS from a header and claims (as given, not checked),
// signed by sign over "header.payload" (nil: empty signature).
func craft(t *testing.T, header, claims map[string]any, sign func(signing string) []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	signing := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	var sig []byte
	if sign != nil {
		sig = sign(signing)
	}
	return signing + "." + b64.EncodeToString(sig)
}

func hmacSHA256(key []byte) func(string) []byte {
	return func(s string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
}

func withMethod(t *testing.T, m jwt.SigningMethod, key any) func(string) []byte {
	return func(s string) []byte {
		sig, err := m.Sign(s, key)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
}

// goodClaims are claims every test server accepts; over replaces or (nil) removes
// entries.
func goodClaims(over map[string]any) map[string]any {
	c := map[string]any{
		"sub": "mallory", "iss": testIssuer, "aud": testAudience,
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
		"roles": map[string]any{"payments": []string{"viewer"}},
	}
	for k, v := range over {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

type tokenAttack struct {
	name string
	// auth is the whole Authorization header value; "" sends none.
	auth string
	// extra headers (name, value pairs).
	extra []string
	// want is "OK" (the control cases) or "UNAUTHENTICATED"; status, when set, is
	// the exact HTTP status expected instead of a GraphQL answer.
	want   string
	status int
}

// runTokenAttacks sends each attack with a query and a mutation and checks the
// outcome: never a 5xx, never data for a refused token.
func runTokenAttacks(t *testing.T, ts *testServer, attacks []tokenAttack) {
	t.Helper()
	ops := map[string]string{
		"query":    `{ viewer { subject } }`,
		"mutation": `mutation { setProjectPolicy(project: "payments", input: {allowedSourceTypes: [OCI_REGISTRY], allowedSources: ["r/"], allowNonOci: true, strictProgression: false}) { version } }`,
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			for kind, q := range ops {
				headers := []string{"Content-Type", "application/json"}
				if a.auth != "" {
					headers = append(headers, "Authorization", a.auth)
				}
				headers = append(headers, a.extra...)
				r := ts.raw("POST", GraphQLPath, gqlBody(q, nil), headers...)
				if r.Status >= 500 {
					t.Fatalf("%s: status %d: %s", kind, r.Status, truncateBody(r.Body))
				}
				if a.status != 0 {
					if r.Status != a.status {
						t.Fatalf("%s: status %d, want %d: %s", kind, r.Status, a.status, truncateBody(r.Body))
					}
					continue
				}
				switch {
				case a.want == "OK" && kind == "query":
					if len(r.Errors) > 0 || !strings.Contains(string(r.Data), `"subject"`) {
						t.Fatalf("%s: %d %s", kind, r.Status, truncateBody(r.Body))
					}
				case a.want == "OK":
					// The control token is a viewer: authenticated, not authorized.
					if r.firstCode() != "FORBIDDEN" {
						t.Fatalf("%s: %d %s", kind, r.Status, truncateBody(r.Body))
					}
				default:
					if r.firstCode() != a.want || len(r.Data) > 0 && string(r.Data) != "null" {
						t.Fatalf("%s: got %d %s %s, want %s", kind, r.Status, r.firstCode(), truncateBody(r.Body), a.want)
					}
					if r.Status != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer ") {
						t.Fatalf("%s: refused with status %d and WWW-Authenticate %q, want 401 with a Bearer challenge", kind, r.Status, r.Header.Get("WWW-Authenticate"))
					}
				}
			}
			msg := ""
			if a.status == 0 && a.want != "OK" {
				headers := []string{"Content-Type", "application/json"}
				if a.auth != "" {
					headers = append(headers, "Authorization", a.auth)
				}
				r := ts.raw("POST", GraphQLPath, gqlBody(ops["query"], nil), append(headers, a.extra...)...)
				msg = r.Errors[0].Message
			}
			t.Logf("-> %s %d %s", a.want, a.status, msg)
		})
	}
}

// TestTokenAttacksOverHTTP sends forged, tampered, expired and malformed tokens to
// a real server configured with an HS256 secret, an issuer and an audience.
func TestTokenAttacksOverHTTP(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir(), func(c *Config) {
		c.JWTIssuer, c.JWTAudience = testIssuer, testAudience
	})
	secret := []byte(testSecret)
	hs256 := map[string]any{"alg": "HS256", "typ": "JWT"}
	good := craft(t, hs256, goodClaims(nil), hmacSHA256(secret))
	parts := strings.Split(good, ".")
	attacker, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwk := map[string]any{"kty": "RSA", "n": b64.EncodeToString(attacker.N.Bytes()), "e": "AQAB"}
	escalated := b64.EncodeToString(mustJSON(t, goodClaims(map[string]any{"roles": map[string]any{"*": []string{"project_admin"}}})))
	now := time.Now()
	bearer := func(tok string) string { return "Bearer " + tok }

	attacks := []tokenAttack{
		{name: "control: valid token", auth: bearer(good), want: "OK"},
		{name: "control: lower-case scheme", auth: "bearer " + good, want: "OK"},
		{name: "control: expired 2s ago, inside the default 5s JWT_LEEWAY", auth: bearer(craft(t, hs256, goodClaims(map[string]any{"exp": now.Add(-2 * time.Second).Unix()}), hmacSHA256(secret))), want: "OK"},
		{name: "expired 10s ago, past the default 5s JWT_LEEWAY", auth: bearer(craft(t, hs256, goodClaims(map[string]any{"exp": now.Add(-10 * time.Second).Unix()}), hmacSHA256(secret))), want: "UNAUTHENTICATED"},
		{name: "sub with a right-to-left override", auth: bearer(craft(t, hs256, goodClaims(map[string]any{"sub": "mallory\u202eadmin"}), hmacSHA256(secret))), want: "UNAUTHENTICATED"},
		{name: "sub with a trailing space", auth: bearer(craft(t, hs256, goodClaims(map[string]any{"sub": "alice "}), hmacSHA256(secret))), want: "UNAUTHENTICATED"},
		{name: "no token", auth: "", want: "UNAUTHENTICATED"},
		{name: "alg none", auth: bearer(craft(t, map[string]any{"alg": "none", "typ": "JWT"}, goodClaims(nil), nil)), want: "UNAUTHENTICATED"},
		{name: "alg None", auth: bearer(craft(t, map[string]any{"alg": "None"}, goodClaims(nil), nil)), want: "UNAUTHENTICATED"},
		{name: "alg none with the real signature kept", auth: bearer(b64.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + "." + parts[2]), want: "UNAUTHENTICATED"},
		{name: "HS512 with the right secret", auth: bearer(craft(t, map[string]any{"alg": "HS512"}, goodClaims(nil), withMethod(t, jwt.SigningMethodHS512, secret))), want: "UNAUTHENTICATED"},
		{name: "RS256 by an attacker key", auth: bearer(craft(t, map[string]any{"alg": "RS256"}, goodClaims(nil), withMethod(t, jwt.SigningMethodRS256, attacker))), want: "UNAUTHENTICATED"},
		{name: "embedded jwk header (attacker key)", auth: bearer(craft(t, map[string]any{"alg": "RS256", "jwk": jwk}, goodClaims(nil), withMethod(t, jwt.SigningMethodRS256, attacker))), want: "UNAUTHENTICATED"},
		{name: "jku header pointing elsewhere", auth: bearer(craft(t, map[string]any{"alg": "HS256", "jku": "http://127.0.0.1:1/keys"}, goodClaims(nil), hmacSHA256([]byte("attacker-secret-attacker-secret!!")))), want: "UNAUTHENTICATED"},
		{name: "kid path traversal, empty key", auth: bearer(craft(t, map[string]any{"alg": "HS256", "kid": "../../../../dev/null"}, goodClaims(nil), hmacSHA256(nil))), want: "UNAUTHENTICATED"},
		{name: "wrong secret", auth: bearer(craft(t, hs256, goodClaims(nil), hmacSHA256([]byte("another-secret-of-at-least-32-bytes!!")))), want: "UNAUTHENTICATED"},
		{name: "tampered claims (roles escalated)", auth: bearer(parts[0] + "." + escalated + "." + parts[2]), want: "UNAUTHENTICATED"},
		{name: "tampered header (alg HS384)", auth: bearer(b64.EncodeToString([]byte(`{"alg":"HS384","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2]), want: "UNAUTHENTICATED"},
		{name: "signature stripped", auth: bearer(parts[0] + "." + parts[1] + "."), want: "UNAUTHENTICATED"},
		{name: "signature truncated", auth: bearer(parts[0] + "." + parts[1] + "." + parts[2][:20]), want: "UNAUTHENTICATED"},
		{name: "crit header", auth: bearer(craft(t, map[string]any{"alg": "HS256", "crit": []string{"exp"}}, goodClaims(nil), hmacSHA256(secret))), want: "UNAUTHENTICATED"},
		{name: "expired", auth: bearer(craft(t, hs256, goodClaims(map[string]any{"exp": now.Add(-time.Hour).Unix()}), hmacSHA256(secret))), want: "UNAUTHENTICATED"},
		{name: "not yet valid (nbf in an hour)", auth: bearer(craft(t, hs256, goodClaims(map[string]any{"nbf": now.Add(time.Hour).Unix()}), hmacSHA256(secret))), want: "UNAUTHENTICATED"},
		{name: "missing exp", auth: bearer(craft(t, hs256, goodClaims(map[string]any{"exp": nil}), hmacSHA256(secret))), want: "UNAUTHENTICATED"},
		{name: "exp not a number", auth: bearer(craft(t, hs256, goodClaims(map[string]any{"exp": "never"}), hmacSHA256(secret))), want: "UNAUTHENTICATED"},
		{name: "exp far in the past as a float", auth: bearer(craft(t, hs256, goodClaims(map[string]any{"exp": 1.5}), hmacSHA256(secret))), want: "UNAUTHENTICATED"},
		{name: "wrong iss", auth: bearer(craft(t, hs256, goodClaims(map[string]any{"iss": "https://evil.example"}), hmacSHA256(secret))), want: "UNAUTHENTICATED"},
		{name: "missing iss", auth: bearer(craft(t, hs256, goodClaims(map[string]any{"iss": nil}), hmacSHA256(secret))), want: "UNAUTHENTICATED"},
		{name: "wrong aud", auth: bearer(craft(t, hs256, goodClaims(map[string]any{"aud": "other-service"}), hmacSHA256(secret))), want: "UNAUTHENTICATED"},
		{name: "aud list without ours", auth: bearer(craft(t, hs256, goodClaims(map[string]any{"aud": []string{"a", "b"}}), hmacSHA256(secret))), want: "UNAUTHENTICATED"},
		{name: "missing aud", auth: bearer(craft(t, hs256, goodClaims(map[string]any{"aud": nil}), hmacSHA256(secret))), want: "UNAUTHENTICATED"},
		{name: "missing sub", auth: bearer(craft(t, hs256, goodClaims(map[string]any{"sub": nil}), hmacSHA256(secret))), want: "UNAUTHENTICATED"},
		{name: "sub with control characters", auth: bearer(craft(t, hs256, goodClaims(map[string]any{"sub": "admin\u0000\n"}), hmacSHA256(secret))), want: "UNAUTHENTICATED"},
		{name: "roles not an object", auth: bearer(craft(t, hs256, goodClaims(map[string]any{"roles": "project_admin"}), hmacSHA256(secret))), want: "UNAUTHENTICATED"},
		{name: "unknown role", auth: bearer(craft(t, hs256, goodClaims(map[string]any{"roles": map[string]any{"payments": []string{"root"}}}), hmacSHA256(secret))), want: "UNAUTHENTICATED"},
		{name: "project key with an operator", auth: bearer(craft(t, hs256, goodClaims(map[string]any{"roles": map[string]any{"$where": []string{"viewer"}}}), hmacSHA256(secret))), want: "UNAUTHENTICATED"},
		{name: "unknown actor_type", auth: bearer(craft(t, hs256, goodClaims(map[string]any{"actor_type": "root"}), hmacSHA256(secret))), want: "UNAUTHENTICATED"},
		{name: "malformed: not a JWT", auth: bearer("not.a.jwt"), want: "UNAUTHENTICATED"},
		{name: "malformed: two segments", auth: bearer(parts[0] + "." + parts[1]), want: "UNAUTHENTICATED"},
		{name: "malformed: four segments", auth: bearer(good + ".AAAA"), want: "UNAUTHENTICATED"},
		{name: "malformed: header not JSON", auth: bearer(b64.EncodeToString([]byte("alg=HS256")) + "." + parts[1] + "." + parts[2]), want: "UNAUTHENTICATED"},
		{name: "malformed: characters outside b64token", auth: "Bearer abc$def{}", want: "UNAUTHENTICATED"},
		{name: "malformed: padding in the middle", auth: bearer(parts[0] + "==." + parts[1] + "." + parts[2]), want: "UNAUTHENTICATED"},
		{name: "Basic scheme", auth: "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:admin")), want: "UNAUTHENTICATED"},
		{name: "Bearer without a token", auth: "Bearer", want: "UNAUTHENTICATED"},
		{name: "two Authorization headers", auth: bearer(good), extra: []string{"Authorization", bearer(good)}, want: "UNAUTHENTICATED"},
		{name: "oversized token (9 KiB, over the 8 KiB cap)", auth: bearer(parts[0] + "." + strings.Repeat("A", 9<<10) + "." + parts[2]), want: "UNAUTHENTICATED"},
		{name: "oversized header (60 KiB, under MaxHeaderBytes)", auth: bearer(strings.Repeat("A", 60<<10)), want: "UNAUTHENTICATED"},
		// Past MaxHeaderBytes (64 KiB, plus net/http's 4 KiB slack) net/http answers
		// 431 itself before any handler runs: a 4xx, never a 5xx.
		{name: "oversized header (100 KiB, over MaxHeaderBytes)", auth: bearer(strings.Repeat("A", 100<<10)), status: 431},
	}
	runTokenAttacks(t, ts, attacks)
}

// TestTokenAlgorithmConfusionOverHTTP runs a server configured with an RSA public
// key (JWT_PUBLIC_KEY_FILE) and tries to get past it with HS256 tokens keyed by
// that public key (the classic RS/HS confusion) and other algorithms.
func TestTokenAlgorithmConfusionOverHTTP(t *testing.T) {
	t.Parallel()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	keyFile := filepath.Join(t.TempDir(), "jwt.pub.pem")
	if err := os.WriteFile(keyFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, t.TempDir(), func(c *Config) {
		c.JWTHS256Secret, c.JWTPublicKeyFile = "", keyFile
		c.JWTIssuer, c.JWTAudience = testIssuer, testAudience
	})
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rs256 := map[string]any{"alg": "RS256", "typ": "JWT"}
	good := craft(t, rs256, goodClaims(nil), withMethod(t, jwt.SigningMethodRS256, priv))
	parts := strings.Split(good, ".")
	bearer := func(tok string) string { return "Bearer " + tok }
	pkcs1 := func(s string) []byte {
		h := sha256.Sum256([]byte(s))
		sig, err := rsa.SignPKCS1v15(rand.Reader, priv, crypto.SHA256, h[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}

	attacks := []tokenAttack{
		{name: "control: valid RS256", auth: bearer(good), want: "OK"},
		{name: "control: RS256 signed by hand", auth: bearer(craft(t, rs256, goodClaims(nil), pkcs1)), want: "OK"},
		{name: "HS256 keyed with the PEM public key", auth: bearer(craft(t, map[string]any{"alg": "HS256"}, goodClaims(nil), hmacSHA256(pemBytes))), want: "UNAUTHENTICATED"},
		{name: "HS256 keyed with the DER public key", auth: bearer(craft(t, map[string]any{"alg": "HS256"}, goodClaims(nil), hmacSHA256(der))), want: "UNAUTHENTICATED"},
		{name: "HS256 keyed with the PEM, alg RS256 in the header", auth: bearer(craft(t, rs256, goodClaims(nil), hmacSHA256(pemBytes))), want: "UNAUTHENTICATED"},
		{name: "alg none", auth: bearer(craft(t, map[string]any{"alg": "none"}, goodClaims(nil), nil)), want: "UNAUTHENTICATED"},
		{name: "PS256 with the right key", auth: bearer(craft(t, map[string]any{"alg": "PS256"}, goodClaims(nil), withMethod(t, jwt.SigningMethodPS256, priv))), want: "UNAUTHENTICATED"},
		{name: "RS512 with the right key", auth: bearer(craft(t, map[string]any{"alg": "RS512"}, goodClaims(nil), withMethod(t, jwt.SigningMethodRS512, priv))), want: "UNAUTHENTICATED"},
		{name: "ES256 by another key", auth: bearer(craft(t, map[string]any{"alg": "ES256"}, goodClaims(nil), withMethod(t, jwt.SigningMethodES256, ec))), want: "UNAUTHENTICATED"},
		{name: "RS256 by another key", auth: bearer(craft(t, rs256, goodClaims(nil), withMethod(t, jwt.SigningMethodRS256, other))), want: "UNAUTHENTICATED"},
		{name: "tampered claims", auth: bearer(parts[0] + "." + b64.EncodeToString(mustJSON(t, goodClaims(map[string]any{"sub": "root"}))) + "." + parts[2]), want: "UNAUTHENTICATED"},
		{name: "wrong aud with the right key", auth: bearer(craft(t, rs256, goodClaims(map[string]any{"aud": "x"}), withMethod(t, jwt.SigningMethodRS256, priv))), want: "UNAUTHENTICATED"},
		{name: "wrong iss with the right key", auth: bearer(craft(t, rs256, goodClaims(map[string]any{"iss": "x"}), withMethod(t, jwt.SigningMethodRS256, priv))), want: "UNAUTHENTICATED"},
		{name: "expired with the right key", auth: bearer(craft(t, rs256, goodClaims(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}), withMethod(t, jwt.SigningMethodRS256, priv))), want: "UNAUTHENTICATED"},
	}
	runTokenAttacks(t, ts, attacks)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
