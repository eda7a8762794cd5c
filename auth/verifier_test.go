package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/artifact-trust/control-plane/model"
)

func TestVerifyValidHS256TokenYieldsActorWithRoles(t *testing.T) {
	v := hsVerifier(t)
	tests := []struct {
		name string
		over map[string]any
		want model.Actor
	}{
		{
			name: "user by default, project and wildcard roles",
			over: map[string]any{"roles": map[string]any{
				"payments": []string{"publisher", "verifier"},
				"*":        []string{"viewer"},
			}},
			want: model.Actor{Subject: "alice", Type: model.ActorUser, Roles: map[string][]model.Role{
				"payments": {model.RolePublisher, model.RoleVerifier},
				"*":        {model.RoleViewer},
			}},
		},
		{
			name: "service account from the DOMAIN.md example",
			over: map[string]any{"sub": "ci-release", "actor_type": "service_account",
				"roles": map[string]any{"payments": []string{"publisher", "verifier"}}},
			want: model.Actor{Subject: "ci-release", Type: model.ActorServiceAccount, Roles: map[string][]model.Role{
				"payments": {model.RolePublisher, model.RoleVerifier},
			}},
		},
		{
			name: "explicit user, every role, duplicates collapsed",
			over: map[string]any{"actor_type": "user", "roles": map[string]any{
				"web.shop_2": []string{"viewer", "publisher", "verifier", "promoter", "project_admin", "viewer"},
			}},
			want: model.Actor{Subject: "alice", Type: model.ActorUser, Roles: map[string][]model.Role{
				"web.shop_2": {model.RoleViewer, model.RolePublisher, model.RoleVerifier, model.RolePromoter, model.RoleProjectAdmin},
			}},
		},
		{
			name: "no roles claim means no roles",
			want: model.Actor{Subject: "alice", Type: model.ActorUser, Roles: map[string][]model.Role{}},
		},
		{
			name: "null roles and an empty list grant nothing",
			over: map[string]any{"roles": map[string]any{"payments": []string{}}},
			want: model.Actor{Subject: "alice", Type: model.ActorUser, Roles: map[string][]model.Role{}},
		},
		{
			name: "sub of exactly 256 bytes",
			over: map[string]any{"sub": strings.Repeat("s", 256)},
			want: model.Actor{Subject: strings.Repeat("s", 256), Type: model.ActorUser, Roles: map[string][]model.Role{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Verify(hs(t, claims(tt.over)))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.ExpiresAt.IsZero() || time.Until(got.ExpiresAt) <= 0 {
				t.Fatalf("actor expiry %v, want the token's exp", got.ExpiresAt)
			}
			got.ExpiresAt = time.Time{}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("actor = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestVerifyAsymmetricAlgorithmsHappyPath(t *testing.T) {
	k := genKeys(t)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)})
	tests := []struct {
		name    string
		pem     []byte
		method  jwt.SigningMethod
		key     any
		wantAlg string
	}{
		{"RS256 with a PKIX RSA key", pkixPEM(t, &k.rsa.PublicKey), jwt.SigningMethodRS256, k.rsa, "RS256"},
		{"RS256 with a PKCS#1 RSA key", pkcs1, jwt.SigningMethodRS256, k.rsa, "RS256"},
		{"ES256 with a P-256 key", pkixPEM(t, &k.ec.PublicKey), jwt.SigningMethodES256, k.ec, "ES256"},
		{"EdDSA with an Ed25519 key", pkixPEM(t, k.ed.Public()), jwt.SigningMethodEdDSA, k.ed, "EdDSA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, Config{PublicKeyPEM: tt.pem, Issuer: "https://idp.example", Audience: "artifact-trust"})
			if v.Algorithm() != tt.wantAlg {
				t.Fatalf("Algorithm() = %s, want %s", v.Algorithm(), tt.wantAlg)
			}
			tok := sign(t, tt.method, tt.key, claims(map[string]any{
				"iss": "https://idp.example", "aud": []string{"other", "artifact-trust"},
				"roles": map[string]any{"payments": []string{"promoter"}},
			}))
			got, err := v.Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.Subject != "alice" || !got.HasAnyRole("payments", model.RolePromoter) {
				t.Fatalf("actor = %+v", got)
			}
		})
	}
}

func TestVerifyLeewayToleratesSmallClockSkew(t *testing.T) {
	v := newVerifier(t, Config{HS256Secret: testSecret, Leeway: time.Minute})
	tok := hs(t, claims(map[string]any{"exp": time.Now().Add(-20 * time.Second).Unix()}))
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("token expired 20s ago refused with 1m leeway: %v", err)
	}
	tok = hs(t, claims(map[string]any{"exp": time.Now().Add(-2 * time.Minute).Unix()}))
	_, err := v.Verify(tok)
	wantUnauthenticated(t, err, "token expired", tok)
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestVerifyRefusesBadTokens(t *testing.T) {
	k := genKeys(t)
	rsaPEM := pkixPEM(t, &k.rsa.PublicKey)
	hsV := hsVerifier(t)
	rsV := newVerifier(t, Config{PublicKeyPEM: rsaPEM})
	esV := newVerifier(t, Config{PublicKeyPEM: pkixPEM(t, &k.ec.PublicKey)})
	edV := newVerifier(t, Config{PublicKeyPEM: pkixPEM(t, k.ed.Public())})
	issAudV := newVerifier(t, Config{HS256Secret: testSecret, Issuer: "https://idp.example", Audience: "artifact-trust"})

	good := hs(t, claims(map[string]any{"roles": map[string]any{"payments": []string{"viewer"}}}))
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + b64(`{"sub":"alice","exp":4102444800,"roles":{"*":["project_admin"]}}`) + "." + parts[2]
	sig := []byte(parts[2])
	// Change one signature character in the middle, away from the padding bits.
	if sig[len(sig)/2] == 'A' {
		sig[len(sig)/2] = 'B'
	} else {
		sig[len(sig)/2] = 'A'
	}
	badSig := parts[0] + "." + parts[1] + "." + string(sig)
	tooMany := map[string]any{}
	for i := 0; i <= MaxRoleProjects; i++ {
		tooMany[fmt.Sprintf("p%d", i)] = []string{"viewer"}
	}

	tests := []struct {
		name  string
		v     *Verifier
		token string
		want  string
	}{
		// Algorithm allow-list.
		{"alg none is refused", hsV,
			sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil)), "algorithm not accepted"},
		{"hand-made alg none with empty signature is refused", hsV,
			b64(`{"alg":"none","typ":"JWT"}`) + "." + parts[1] + ".", "algorithm not accepted"},
		{"HS256 signed with the RSA public key is refused by an RS256 verifier (alg confusion)", rsV,
			sign(t, jwt.SigningMethodHS256, rsaPEM, claims(nil)), "algorithm not accepted (this server accepts RS256)"},
		{"RS256 token is refused by an HS256 verifier", hsV,
			sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil)), "algorithm not accepted"},
		{"RS512 with the right key is outside the allow-list", rsV,
			sign(t, jwt.SigningMethodRS512, k.rsa, claims(nil)), "algorithm not accepted"},
		{"PS256 with the right key is outside the allow-list", rsV,
			sign(t, jwt.SigningMethodPS256, k.rsa, claims(nil)), "algorithm not accepted"},
		{"HS512 with the right secret is outside the allow-list", hsV,
			sign(t, jwt.SigningMethodHS512, testSecret, claims(nil)), "algorithm not accepted"},
		{"unknown alg is refused", hsV,
			b64(`{"alg":"XS999"}`) + "." + parts[1] + "." + parts[2], "algorithm not accepted"},
		{"missing alg is refused", hsV,
			b64(`{"typ":"JWT"}`) + "." + parts[1] + "." + parts[2], "algorithm not accepted"},

		// Signatures.
		{"HS256 wrong secret", hsV,
			sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-32"), claims(nil)), "bad token signature"},
		{"HS256 altered signature", hsV, badSig, "bad token signature"},
		{"HS256 tampered payload", hsV, tampered, "bad token signature"},
		{"HS256 signature stripped", hsV, parts[0] + "." + parts[1] + ".", "bad token signature"},
		{"RS256 signed by another key", rsV, sign(t, jwt.SigningMethodRS256, k.rsaOther, claims(nil)), "bad token signature"},
		{"ES256 signed by an RS key is refused", esV, sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil)), "algorithm not accepted"},
		{"EdDSA tampered payload", edV, func() string {
			p := strings.Split(sign(t, jwt.SigningMethodEdDSA, k.ed, claims(nil)), ".")
			return p[0] + "." + b64(`{"sub":"mallory","exp":4102444800}`) + "." + p[2]
		}(), "bad token signature"},
		{"bad signature is reported before expiry", hsV,
			sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-32"),
				claims(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})), "bad token signature"},

		// Time claims.
		{"expired", hsV, hs(t, claims(map[string]any{"exp": time.Now().Add(-time.Minute).Unix()})), "token expired"},
		{"not yet valid (nbf in the future)", hsV,
			hs(t, claims(map[string]any{"nbf": time.Now().Add(time.Hour).Unix()})), "not valid yet"},
		{"missing exp", hsV, hs(t, claims(map[string]any{"exp": nil})), "no expiry (exp)"},
		{"exp of the wrong type", hsV, hs(t, claims(map[string]any{"exp": "tomorrow"})), "malformed token"},

		// Issuer and audience.
		{"wrong iss", issAudV, hs(t, claims(map[string]any{"iss": "https://evil.example", "aud": "artifact-trust"})), "wrong token issuer"},
		{"missing iss when configured", issAudV, hs(t, claims(map[string]any{"aud": "artifact-trust"})), "no issuer (iss)"},
		{"wrong aud", issAudV, hs(t, claims(map[string]any{"iss": "https://idp.example", "aud": "other"})), "wrong token audience"},
		{"missing aud when configured", issAudV, hs(t, claims(map[string]any{"iss": "https://idp.example"})), "no audience (aud)"},

		// Malformed strings.
		{"empty", hsV, "", "empty token"},
		{"one segment", hsV, "abc", "malformed token"},
		{"two segments", hsV, parts[0] + "." + parts[1], "malformed token"},
		{"four segments", hsV, good + ".x", "malformed token"},
		{"non-base64 header", hsV, "!!!." + parts[1] + "." + parts[2], "malformed token"},
		{"padded base64 header", hsV, parts[0] + "==." + parts[1] + "." + parts[2], "malformed token"},
		{"header not JSON", hsV, b64("nope") + "." + parts[1] + "." + parts[2], "malformed token"},
		{"payload not JSON", hsV, parts[0] + "." + b64("[1,2") + "." + parts[2], "malformed token"},
		{"payload a JSON array", hsV, parts[0] + "." + b64("[]") + "." + parts[2], "malformed token"},
		{"whitespace around the token", hsV, " " + good + " ", "malformed token"},
		{"oversized token (validly signed)", hsV,
			hs(t, claims(map[string]any{"pad": strings.Repeat("x", MaxTokenBytes)})), "token too large"},
		{"crit header", hsV, func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil))
			tok.Header["crit"] = []string{"exp"}
			s, err := tok.SignedString(testSecret)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}(), "critical header"},

		// Subject.
		{"missing sub", hsV, hs(t, claims(map[string]any{"sub": nil})), "no subject (sub)"},
		{"empty sub", hsV, hs(t, claims(map[string]any{"sub": ""})), "no subject (sub)"},
		{"sub longer than 256 bytes", hsV, hs(t, claims(map[string]any{"sub": strings.Repeat("s", 257)})), "subject longer than 256"},
		{"sub with a newline", hsV, hs(t, claims(map[string]any{"sub": "alice\nadmin"})), "control or white-space character (U+000A)"},
		{"sub with a right-to-left override", hsV, hs(t, claims(map[string]any{"sub": "alice\u202enimda"})), "invisible formatting character (U+202E)"},
		{"sub with a line separator", hsV, hs(t, claims(map[string]any{"sub": "alice\u2028admin"})), "white-space character (U+2028)"},
		{"sub with a zero-width space", hsV, hs(t, claims(map[string]any{"sub": "ali\u200bce"})), "invisible formatting character (U+200B)"},
		{"sub with a zero-width joiner", hsV, hs(t, claims(map[string]any{"sub": "ali\u200dce"})), "invisible formatting character (U+200D)"},
		{"sub with a leading space", hsV, hs(t, claims(map[string]any{"sub": " alice"})), "must not start or end with a space"},
		{"sub with a trailing space", hsV, hs(t, claims(map[string]any{"sub": "alice "})), "must not start or end with a space"},
		{"sub not a string", hsV, hs(t, claims(map[string]any{"sub": 42})), "malformed token"},

		// actor_type.
		{"bad actor_type", hsV, hs(t, claims(map[string]any{"actor_type": "robot"})), "unknown actor_type"},
		{"uppercase actor_type", hsV, hs(t, claims(map[string]any{"actor_type": "SERVICE_ACCOUNT"})), "unknown actor_type"},
		{"empty actor_type", hsV, hs(t, claims(map[string]any{"actor_type": ""})), "unknown actor_type"},
		{"actor_type not a string", hsV, hs(t, claims(map[string]any{"actor_type": 1})), "malformed token"},

		// roles.
		{"unknown role", hsV, hs(t, claims(map[string]any{"roles": map[string]any{"payments": []string{"owner"}}})), `unknown role "owner"`},
		{"role in upper case", hsV, hs(t, claims(map[string]any{"roles": map[string]any{"payments": []string{"PROJECT_ADMIN"}}})), "unknown role"},
		{"roles an array", hsV, hs(t, claims(map[string]any{"roles": []string{"viewer"}})), "malformed roles claim"},
		{"roles a string", hsV, hs(t, claims(map[string]any{"roles": "admin"})), "malformed roles claim"},
		{"role list a string", hsV, hs(t, claims(map[string]any{"roles": map[string]any{"payments": "viewer"}})), "malformed roles claim"},
		{"role list null", hsV, hs(t, claims(map[string]any{"roles": map[string]any{"payments": nil}})), "malformed roles claim"},
		{"role name a number", hsV, hs(t, claims(map[string]any{"roles": map[string]any{"payments": []any{1}}})), "malformed roles claim"},
		{"invalid project key", hsV, hs(t, claims(map[string]any{"roles": map[string]any{"-bad project": []string{"viewer"}}})), "invalid project name"},
		{"empty project key", hsV, hs(t, claims(map[string]any{"roles": map[string]any{"": []string{"viewer"}}})), "invalid project name"},
		{"more than 100 projects", hsV, hs(t, claims(map[string]any{"roles": tooMany})), "more than 100 projects"},
		{"duplicate project key", hsV, hsRaw(t, `{"sub":"alice","exp":4102444800,"roles":{"payments":["viewer"],"payments":["project_admin"]}}`), "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			actor, err := tt.v.Verify(tt.token)
			if err == nil {
				t.Fatalf("Verify accepted the token: %+v", actor)
			}
			wantUnauthenticated(t, err, tt.want, tt.token)
			if !reflect.DeepEqual(actor, model.Actor{}) {
				t.Fatalf("refusal returned a non-zero actor %+v", actor)
			}
		})
	}
}

// hsRaw signs a raw JSON payload (for payloads a map cannot express).
func hsRaw(t testing.TB, payload string) string {
	t.Helper()
	m := jwt.SigningMethodHS256
	signing := b64(`{"alg":"HS256","typ":"JWT"}`) + "." + b64(payload)
	sig, err := m.Sign(signing, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestNewVerifierConfiguration(t *testing.T) {
	k := genKeys(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(k.ec)
	if err != nil {
		t.Fatal(err)
	}
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})
	good := pkixPEM(t, &k.rsa.PublicKey)
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // empty: success
	}{
		{"secret of 32 bytes", Config{HS256Secret: testSecret}, ""},
		{"issuer, audience and leeway", Config{HS256Secret: testSecret, Issuer: "i", Audience: "a", Leeway: time.Second}, ""},
		{"neither key", Config{}, "no token verification key"},
		{"both keys", Config{HS256Secret: testSecret, PublicKeyPEM: good}, "not both"},
		{"secret of 31 bytes", Config{HS256Secret: testSecret[:31]}, "at least 32"},
		{"negative leeway", Config{HS256Secret: testSecret, Leeway: -time.Second}, "leeway"},
		{"not PEM", Config{PublicKeyPEM: []byte("hello")}, "not PEM"},
		{"private key PEM", Config{PublicKeyPEM: privPEM}, "configure the public key"},
		{"certificate request block", Config{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{1}})}, "unsupported PEM block"},
		{"garbage DER", Config{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}})}, "parse public key"},
		{"two PEM blocks", Config{PublicKeyPEM: append(append([]byte{}, good...), pkixPEM(t, &k.ec.PublicKey)...)}, "more than one PEM block"},
		{"RSA key of 1024 bits", Config{PublicKeyPEM: pkixPEM(t, &small.PublicKey)}, "at least 2048"},
		{"ECDSA P-384 key", Config{PublicKeyPEM: pkixPEM(t, &k.ec384.PublicKey)}, "only P-256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(tt.cfg)
			if tt.wantErr == "" {
				if err != nil || v == nil {
					t.Fatalf("NewVerifier: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestVerifierKeepsItsOwnCopyOfTheSecret(t *testing.T) {
	secret := append([]byte(nil), testSecret...)
	v := newVerifier(t, Config{HS256Secret: secret})
	for i := range secret {
		secret[i] = 0
	}
	if _, err := v.Verify(hs(t, claims(nil))); err != nil {
		t.Fatalf("Verify after the caller reused its buffer: %v", err)
	}
}

func TestNilVerifierRefusesEverything(t *testing.T) {
	var v *Verifier
	_, err := v.Verify(hs(t, claims(nil)))
	wantUnauthenticated(t, err, "not configured", "")
}

func TestErrorMessagesStayShortAndCarryNoClaims(t *testing.T) {
	v := hsVerifier(t)
	secretish := "sk_live_" + strings.Repeat("Z", 40)
	tok := hs(t, claims(map[string]any{"sub": secretish, "exp": time.Now().Add(-time.Hour).Unix()}))
	_, err := v.Verify(tok)
	wantUnauthenticated(t, err, "expired", tok)
	if strings.Contains(err.Error(), secretish) {
		t.Fatalf("error leaks a claim value: %v", err)
	}
}
