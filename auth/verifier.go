// Package auth turns an HTTP bearer token (a JWT) into the model.Actor of a request.
//
// A Verifier accepts exactly one signing algorithm, chosen by the configured key
// (HS256 for a shared secret; RS256, ES256 or EdDSA for a PEM public key), so a
// token can never pick its own algorithm. With a JWK Set (JWKSURL) the key is the
// one the token's kid names, the algorithm must be RS256, ES256 or EdDSA and must
// fit that key (its type, and its "alg" when the JWK states one); symmetric
// algorithms are never accepted from a set. Every refusal is a *model.Error of kind
// model.KindUnauthenticated whose message says why, never what the token was.
package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/artifact-trust/control-plane/model"
)

const (
	// MaxTokenBytes is the largest token Verify looks at.
	MaxTokenBytes = 8 << 10
	// MinHS256SecretBytes is the shortest accepted HS256 secret (RFC 7518 3.2:
	// a key of the same size as the hash output).
	MinHS256SecretBytes = 32
	// MinRSABits is the smallest accepted RSA modulus.
	MinRSABits = 2048
	// MaxRoleProjects caps the number of project keys in the roles claim.
	MaxRoleProjects = 100

	// Claim values of actor_type.
	ActorTypeUser           = "user"
	ActorTypeServiceAccount = "service_account"
)

// Config selects the verification key and the claims every token must carry.
// Exactly one of HS256Secret, PublicKeyPEM and JWKSURL is set.
type Config struct {
	// HS256Secret is a shared secret of at least 32 bytes (development and tests).
	HS256Secret []byte
	// PublicKeyPEM is a PKIX ("PUBLIC KEY") or PKCS#1 ("RSA PUBLIC KEY") PEM block:
	// RSA (>= 2048 bits) -> RS256, ECDSA P-256 -> ES256, Ed25519 -> EdDSA.
	PublicKeyPEM []byte
	// JWKSURL is the https URL of a JWK Set (plain http only on a loopback host).
	// Tokens must name their key in the kid header; see jwks.go for caching and
	// refreshing, and call Verifier.Close to stop the background refresh.
	JWKSURL string
	// JWKS tuning; zero values take the defaults (DefaultJWKSRefreshInterval,
	// DefaultJWKSUnknownKIDInterval, DefaultJWKSFetchTimeout).
	JWKSRefreshInterval    time.Duration // periodic re-fetch of the set
	JWKSUnknownKIDInterval time.Duration // least time between re-fetches caused by an unknown kid
	JWKSFetchTimeout       time.Duration // bound of one fetch, the start-up fetch included
	// OnJWKSStatus, when set, hears about the key set: a non-nil err for every
	// failed fetch, and a nil err once keys arrive after the start-up fetch
	// failed; keysAvailable tells whether tokens can be verified (with the keys
	// of an earlier fetch, after a failed refresh). It must not block.
	OnJWKSStatus func(keysAvailable bool, err error)
	// Issuer and Audience, when set, must match the token's iss and aud claims.
	Issuer, Audience string
	// Leeway is the clock skew allowed on exp and nbf.
	Leeway time.Duration
}

// Verifier checks bearer tokens. It is safe for concurrent use.
type Verifier struct {
	alg      string   // the accepted algorithm(s), as shown in messages
	algs     []string // the accepted algorithms
	key      any      // the single key; nil with a JWK Set
	jwks     *jwksSource
	issuer   string
	audience string
	parser   *jwt.Parser
}

// NewVerifier builds a Verifier from cfg. With a JWKSURL it fetches the set once
// (bounded by the fetch timeout) and, if that fails, keeps retrying in the
// background; see jwks.go. Call Close when done with a JWKS Verifier.
func NewVerifier(cfg Config) (*Verifier, error) {
	hasSecret, hasPEM, hasJWKS := len(cfg.HS256Secret) > 0, len(cfg.PublicKeyPEM) > 0, cfg.JWKSURL != ""
	v := &Verifier{issuer: cfg.Issuer, audience: cfg.Audience}
	if cfg.Leeway < 0 {
		return nil, errors.New("auth: leeway must not be negative")
	}
	switch {
	case hasJWKS && (hasSecret || hasPEM):
		return nil, errors.New("auth: a JWKS URL cannot be combined with an HS256 secret or a public key; configure only one")
	case hasSecret && hasPEM:
		return nil, errors.New("auth: configure either an HS256 secret or a public key, not both")
	case !hasSecret && !hasPEM && !hasJWKS:
		return nil, errors.New("auth: no token verification key configured (HS256 secret, PEM public key or JWKS URL)")
	case hasJWKS:
		src, err := newJWKSSource(cfg)
		if err != nil {
			return nil, err
		}
		v.jwks = src
		v.algs = append([]string(nil), jwksAlgorithms...)
		v.alg = strings.Join(v.algs, ", ")
	case hasSecret:
		if len(cfg.HS256Secret) < MinHS256SecretBytes {
			return nil, fmt.Errorf("auth: HS256 secret is %d bytes, at least %d required", len(cfg.HS256Secret), MinHS256SecretBytes)
		}
		v.alg = jwt.SigningMethodHS256.Alg()
		v.key = append([]byte(nil), cfg.HS256Secret...)
	default:
		alg, key, err := parsePublicKey(cfg.PublicKeyPEM)
		if err != nil {
			return nil, err
		}
		v.alg, v.key = alg, key
	}
	if v.algs == nil {
		v.algs = []string{v.alg}
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(v.algs),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithStrictDecoding(),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// Algorithm is the single JWS algorithm this Verifier accepts ("HS256", "RS256",
// "ES256" or "EdDSA"); with a JWK Set, the accepted ones ("RS256, ES256, EdDSA").
func (v *Verifier) Algorithm() string { return v.alg }

// Close stops the background refresh of a JWK Set and waits for the start-up
// retries to end. Tokens still verify afterwards against the keys already
// fetched, without refreshing. It is a no-op for other Verifiers and safe to
// call more than once.
func (v *Verifier) Close() error {
	if v != nil && v.jwks != nil {
		v.jwks.close()
	}
	return nil
}

// accepts reports whether alg (a header value) is one of the accepted algorithms.
func (v *Verifier) accepts(alg any) bool {
	s, ok := alg.(string)
	return ok && slices.Contains(v.algs, s)
}

func parsePublicKey(data []byte) (string, any, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return "", nil, errors.New("auth: public key is not PEM encoded")
	}
	if next, _ := pem.Decode(rest); next != nil {
		return "", nil, errors.New("auth: public key file holds more than one PEM block")
	}
	var (
		pub any
		err error
	)
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		if strings.Contains(block.Type, "PRIVATE KEY") {
			return "", nil, fmt.Errorf("auth: PEM block is a %s; configure the public key instead", block.Type)
		}
		return "", nil, fmt.Errorf("auth: unsupported PEM block %q (want PUBLIC KEY or RSA PUBLIC KEY)", block.Type)
	}
	if err != nil {
		return "", nil, fmt.Errorf("auth: parse public key: %w", err)
	}
	alg, err := publicKeyAlgorithm(pub)
	if err != nil {
		return "", nil, err
	}
	return alg, pub, nil
}

// publicKeyAlgorithm is the one algorithm a public key may verify: RSA of at
// least MinRSABits -> RS256, ECDSA P-256 -> ES256, Ed25519 -> EdDSA.
func publicKeyAlgorithm(pub any) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < MinRSABits {
			return "", fmt.Errorf("auth: RSA key is %d bits, at least %d required", k.N.BitLen(), MinRSABits)
		}
		return jwt.SigningMethodRS256.Alg(), nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("auth: ECDSA key on curve %s; only P-256 (ES256) is supported", k.Curve.Params().Name)
		}
		return jwt.SigningMethodES256.Alg(), nil
	case ed25519.PublicKey:
		return jwt.SigningMethodEdDSA.Alg(), nil
	default:
		return "", fmt.Errorf("auth: unsupported public key type %T", pub)
	}
}

// tokenClaims is the claim set of a bearer token.
type tokenClaims struct {
	jwt.RegisteredClaims
	// ActorType is nil when the claim is absent (defaults to "user").
	ActorType *string `json:"actor_type,omitempty"`
	// Roles is checked after the signature, by parseRoles.
	Roles json.RawMessage `json:"roles,omitempty"`
}

// keyFunc hands out the one configured key, after checking once more that the
// token's method is of the configured family and algorithm.
func (v *Verifier) keyFunc(t *jwt.Token) (any, error) {
	var ok bool
	switch v.alg {
	case "HS256":
		_, ok = t.Method.(*jwt.SigningMethodHMAC)
	case "RS256":
		_, ok = t.Method.(*jwt.SigningMethodRSA)
	case "ES256":
		_, ok = t.Method.(*jwt.SigningMethodECDSA)
	case "EdDSA":
		_, ok = t.Method.(*jwt.SigningMethodEd25519)
	}
	if !ok || t.Method.Alg() != v.alg {
		return nil, errAlgorithm
	}
	return v.key, nil
}

var errAlgorithm = errors.New("unexpected signing method")

func unauthenticated(msg string, cause error) *model.Error {
	return &model.Error{Kind: model.KindUnauthenticated, Message: msg, Err: cause}
}

// Verify checks tokenString and returns the actor it names. Every failure is a
// *model.Error of kind model.KindUnauthenticated.
func (v *Verifier) Verify(tokenString string) (model.Actor, error) {
	return v.VerifyContext(context.Background(), tokenString)
}

// VerifyContext is Verify; ctx bounds the re-fetch of a JWK Set that a token
// naming an unknown kid may cause (itself bounded by the fetch timeout).
func (v *Verifier) VerifyContext(ctx context.Context, tokenString string) (model.Actor, error) {
	if v == nil || v.parser == nil {
		return model.Actor{}, unauthenticated("token verification is not configured", nil)
	}
	if len(tokenString) > MaxTokenBytes {
		return model.Actor{}, unauthenticated(fmt.Sprintf("token too large (more than %d bytes)", MaxTokenBytes), nil)
	}
	if tokenString == "" {
		return model.Actor{}, unauthenticated("empty token", nil)
	}
	claims := &tokenClaims{}
	keyFunc := v.keyFunc
	if v.jwks != nil {
		keyFunc = func(t *jwt.Token) (any, error) { return v.jwks.key(ctx, t) }
	}
	token, err := v.parser.ParseWithClaims(tokenString, claims, keyFunc)
	if err != nil {
		return model.Actor{}, v.explain(token, claims, err)
	}
	if _, ok := token.Header["crit"]; ok {
		// RFC 7515 4.1.11: we understand no extensions, so none can be critical.
		return model.Actor{}, unauthenticated("token uses unsupported critical header extensions", nil)
	}
	return actorFromClaims(claims)
}

// explain turns a parse failure into a short reason.
func (v *Verifier) explain(token *jwt.Token, c *tokenClaims, err error) *model.Error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return unauthenticated("malformed token", err)
	case token != nil && !v.accepts(token.Header["alg"]),
		errors.Is(err, errAlgorithm):
		return unauthenticated("token algorithm not accepted (this server accepts "+v.alg+")", err)
	case errors.Is(err, errNoKID):
		return unauthenticated("unknown signing key (kid): the token names none", err)
	case errors.Is(err, errKeysUnavailable):
		return unauthenticated("signing keys unavailable; retry later", err)
	case errors.Is(err, errUnknownKID):
		return unauthenticated("unknown signing key (kid)", err)
	case errors.Is(err, errKeyAlgorithm):
		return unauthenticated("token algorithm does not match its signing key (kid)", err)
	case errors.Is(err, errKeyUnusable):
		return unauthenticated("signing key (kid) may not verify tokens", err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return unauthenticated("bad token signature", err)
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return unauthenticated("token cannot be verified", err)
	}
	// Claim errors may come joined; report the most basic one first.
	switch {
	case c.ExpiresAt == nil:
		return unauthenticated("token has no expiry (exp)", err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return unauthenticated("token expired", err)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return unauthenticated("token not valid yet (nbf)", err)
	case v.issuer != "" && c.Issuer == "":
		return unauthenticated("token has no issuer (iss)", err)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return unauthenticated("wrong token issuer", err)
	case v.audience != "" && (len(c.Audience) == 0 || len(c.Audience) == 1 && c.Audience[0] == ""):
		return unauthenticated("token has no audience (aud)", err)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return unauthenticated("wrong token audience", err)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return unauthenticated("token misses a required claim", err)
	default:
		return unauthenticated("invalid token", err)
	}
}

func actorFromClaims(c *tokenClaims) (model.Actor, error) {
	sub := c.Subject
	switch {
	case sub == "":
		return model.Actor{}, unauthenticated("token has no subject (sub)", nil)
	case len(sub) > model.MaxSubjectLength:
		return model.Actor{}, unauthenticated(fmt.Sprintf("token subject longer than %d bytes", model.MaxSubjectLength), nil)
	}
	// The subject is written into audit trails and compared with policy subjects:
	// it must be what it looks like (no control, format or invisible characters, no
	// surrounding spaces).
	if err := model.ValidateSubject("sub", sub); err != nil {
		msg := "token subject (sub) is not acceptable"
		if me := (*model.Error)(nil); errors.As(err, &me) {
			msg = "token subject (sub) " + strings.TrimPrefix(me.Message, "sub: ")
		}
		return model.Actor{}, unauthenticated(msg, nil)
	}
	actorType := model.ActorUser
	if c.ActorType != nil {
		t, ok := parseActorType(*c.ActorType)
		if !ok {
			return model.Actor{}, unauthenticated(`unknown actor_type (want "user" or "service_account")`, nil)
		}
		actorType = t
	}
	roles, err := parseRoles(c.Roles)
	if err != nil {
		return model.Actor{}, unauthenticated(err.Error(), nil)
	}
	a := model.Actor{Subject: sub, Type: actorType, Roles: roles}
	if c.ExpiresAt != nil {
		a.ExpiresAt = c.ExpiresAt.Time.UTC()
	}
	return a, nil
}

func parseActorType(s string) (model.ActorType, bool) {
	switch s {
	case ActorTypeUser:
		return model.ActorUser, true
	case ActorTypeServiceAccount:
		return model.ActorServiceAccount, true
	}
	return "", false
}
