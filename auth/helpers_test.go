package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/artifact-trust/control-plane/model"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef") // 32 bytes

type testKeys struct {
	rsa, rsaOther *rsa.PrivateKey
	ec            *ecdsa.PrivateKey
	ec384         *ecdsa.PrivateKey
	ed            ed25519.PrivateKey
}

var (
	keysOnce sync.Once
	keys     testKeys
)

// genKeys generates the test key pairs once per test binary.
func genKeys(t testing.TB) *testKeys {
	t.Helper()
	keysOnce.Do(func() {
		must := func(err error) {
			if err != nil {
				panic(err)
			}
		}
		var err error
		keys.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		keys.rsaOther, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		keys.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		keys.ec384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		must(err)
		_, keys.ed, err = ed25519.GenerateKey(rand.Reader)
		must(err)
	})
	return &keys
}

func pkixPEM(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func newVerifier(t testing.TB, cfg Config) *Verifier {
	t.Helper()
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func hsVerifier(t testing.TB) *Verifier { return newVerifier(t, Config{HS256Secret: testSecret}) }

// claims returns a valid claim set (expires in an hour) with overrides applied;
// an override with a nil value deletes the claim.
func claims(over map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{
		"sub": "alice",
		"exp": time.Now().Add(time.Hour).Unix(),
		"iat": time.Now().Unix(),
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

func sign(t testing.TB, m jwt.SigningMethod, key any, c jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", m.Alg(), err)
	}
	return s
}

func hs(t testing.TB, c jwt.Claims) string { return sign(t, jwt.SigningMethodHS256, testSecret, c) }

// wantUnauthenticated asserts err is an UNAUTHENTICATED *model.Error whose
// message contains want and does not echo the token.
func wantUnauthenticated(t *testing.T, err error, want, token string) {
	t.Helper()
	var e *model.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *model.Error", err, err)
	}
	if e.Kind != model.KindUnauthenticated {
		t.Fatalf("kind = %s, want UNAUTHENTICATED (message %q)", e.Kind, e.Message)
	}
	if !strings.Contains(e.Message, want) {
		t.Fatalf("message = %q, want it to contain %q", e.Message, want)
	}
	if len(token) >= 12 && strings.Contains(e.Message, token) {
		t.Fatalf("message echoes the token: %q", e.Message)
	}
}

// authenticated passes every request to next with the context Authenticate makes.
func authenticated(v *Verifier, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(v.Authenticate(r)))
	})
}
