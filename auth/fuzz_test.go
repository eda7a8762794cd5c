package auth

import (
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/artifact-trust/control-plane/model"
)

// checkOutcome asserts the Verify contract: either a well-formed actor and no
// error, or a zero actor and an UNAUTHENTICATED *model.Error that does not echo
// the token.
func checkOutcome(t *testing.T, token string, a model.Actor, err error) {
	t.Helper()
	if err != nil {
		var e *model.Error
		if !errors.As(err, &e) || e.Kind != model.KindUnauthenticated {
			t.Fatalf("error %v (%T) is not UNAUTHENTICATED", err, err)
		}
		if e.Message == "" || len(e.Message) > 300 {
			t.Fatalf("bad message %q", e.Message)
		}
		if len(token) >= 16 && strings.Contains(e.Message, token) {
			t.Fatalf("message echoes the token")
		}
		if !reflect.DeepEqual(a, model.Actor{}) {
			t.Fatalf("non-zero actor %+v with an error", a)
		}
		return
	}
	if a.Subject == "" || len(a.Subject) > model.MaxSubjectLength {
		t.Fatalf("accepted subject of %d bytes", len(a.Subject))
	}
	if a.Type != model.ActorUser && a.Type != model.ActorServiceAccount {
		t.Fatalf("accepted actor type %q", a.Type)
	}
	if len(a.Roles) > MaxRoleProjects {
		t.Fatalf("accepted %d projects", len(a.Roles))
	}
	for p, rs := range a.Roles {
		if p != model.AllProjects && model.ValidateProject(p) != nil {
			t.Fatalf("accepted project key %q", p)
		}
		seen := map[model.Role]bool{}
		for _, r := range rs {
			if !r.Valid() || seen[r] {
				t.Fatalf("accepted role list %v", rs)
			}
			seen[r] = true
		}
	}
}

// FuzzVerify feeds arbitrary strings to Verify: it never panics and only ever
// returns a valid actor or an UNAUTHENTICATED error.
func FuzzVerify(f *testing.F) {
	valid, err := MintHS256(testSecret, Claims{Subject: "alice", Roles: map[string][]string{"payments": {"viewer"}, "*": {"promoter"}}}, 24*time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "a", "exp": 4102444800}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		f.Fatal(err)
	}
	parts := strings.Split(valid, ".")
	for _, seed := range []string{
		valid, none, "", ".", "..", "a.b.c", parts[0] + "." + parts[1] + ".",
		parts[0] + ".e30." + parts[2], "eyJhbGciOiJIUzI1NiJ9.bnVsbA.AAAA",
		strings.Repeat("A", MaxTokenBytes+1),
	} {
		f.Add(seed)
	}
	v := hsVerifier(f)
	f.Fuzz(func(t *testing.T, token string) {
		a, err := v.Verify(token)
		checkOutcome(t, token, a, err)
	})
}

// FuzzVerifySignedClaims signs arbitrary payloads correctly, so the fuzzer reaches
// claim and roles validation behind the signature check.
func FuzzVerifySignedClaims(f *testing.F) {
	for _, seed := range []string{
		`{"sub":"alice","exp":4102444800,"roles":{"payments":["viewer"],"*":["project_admin"]}}`,
		`{"sub":"ci","exp":4102444800,"actor_type":"service_account","roles":{"a":["publisher","verifier"]}}`,
		`{"sub":"x","exp":4102444800,"roles":{"a":["viewer"],"a":["project_admin"]}}`,
		`{"sub":"x","exp":4102444800,"roles":{"a":[1]}}`,
		`{"sub":"x","exp":1}`,
		`{"sub":"x"}`,
		`null`, `{}`, `[]`, `"x"`,
	} {
		f.Add([]byte(seed))
	}
	v := hsVerifier(f)
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		signing := header + "." + base64.RawURLEncoding.EncodeToString(payload)
		sig, err := jwt.SigningMethodHS256.Sign(signing, testSecret)
		if err != nil {
			t.Fatal(err)
		}
		token := signing + "." + base64.RawURLEncoding.EncodeToString(sig)
		a, err := v.Verify(token)
		checkOutcome(t, token, a, err)
	})
}
