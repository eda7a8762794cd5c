package auth

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/artifact-trust/control-plane/model"
)

// DevSecretFile is the name of the development HS256 secret inside DATA_DIR.
const DevSecretFile = "dev-jwt-secret"

// Claims describes a token to mint.
type Claims struct {
	Subject string
	// ActorType is "user" (the default when empty) or "service_account".
	ActorType string
	// Roles maps a project, or "*", to role claim values ("publisher", ...).
	Roles    map[string][]string
	Issuer   string
	Audience string
}

// MintHS256 signs a token for claims with secret, valid for ttl from now. It
// refuses claims that Verify would refuse, so a minted token always verifies
// against a Verifier with the same secret, issuer and audience.
func MintHS256(secret []byte, claims Claims, ttl time.Duration) (string, error) {
	if len(secret) < MinHS256SecretBytes {
		return "", fmt.Errorf("auth: HS256 secret is %d bytes, at least %d required", len(secret), MinHS256SecretBytes)
	}
	if ttl <= 0 {
		return "", errors.New("auth: token lifetime must be positive")
	}
	now := time.Now()
	tc := tokenClaims{RegisteredClaims: jwt.RegisteredClaims{
		Subject:   claims.Subject,
		Issuer:    claims.Issuer,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}}
	if claims.Audience != "" {
		tc.Audience = jwt.ClaimStrings{claims.Audience}
	}
	if claims.ActorType != "" {
		t := claims.ActorType
		tc.ActorType = &t
	}
	if len(claims.Roles) > 0 {
		raw, err := marshalRoles(claims.Roles)
		if err != nil {
			return "", err
		}
		tc.Roles = raw
	}
	// Check exactly what a Verifier will check.
	if _, err := actorFromClaims(&tc); err != nil {
		return "", fmt.Errorf("auth: refusing to mint: %s", messageOf(err))
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, tc).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("auth: sign token: %w", err)
	}
	if len(s) > MaxTokenBytes {
		return "", fmt.Errorf("auth: token is %d bytes, more than the %d a server accepts", len(s), MaxTokenBytes)
	}
	return s, nil
}

func messageOf(err error) string {
	var e *model.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

// marshalRoles encodes roles (encoding/json sorts the keys, so tokens are
// deterministic); a nil list becomes [] rather than null.
func marshalRoles(roles map[string][]string) ([]byte, error) {
	clean := make(map[string][]string, len(roles))
	for k, v := range roles {
		if v == nil {
			v = []string{}
		}
		clean[k] = v
	}
	raw, err := json.Marshal(clean)
	if err != nil {
		return nil, fmt.Errorf("auth: encode roles: %w", err)
	}
	return raw, nil
}

// LoadOrCreateDevSecret returns the development HS256 secret kept hex-encoded in
// dataDir/dev-jwt-secret, creating dataDir (0700) and the file (0600, 32 random
// bytes) on first use. An existing file readable by group or others is refused.
func LoadOrCreateDevSecret(dataDir string) ([]byte, error) {
	if dataDir == "" {
		return nil, errors.New("auth: no data directory for the development secret")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: create data directory: %w", err)
	}
	path := filepath.Join(dataDir, DevSecretFile)
	secret, err := readDevSecret(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return secret, err
	}

	secret = make([]byte, MinHS256SecretBytes)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("auth: generate development secret: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it first; use theirs.
		return readDevSecret(path)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: create development secret: %w", err)
	}
	_, werr := f.WriteString(hex.EncodeToString(secret) + "\n")
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("auth: write development secret: %w", werr)
	}
	return secret, nil
}

func readDevSecret(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("auth: open development secret: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("auth: stat development secret: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("auth: development secret %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("auth: development secret %s has mode %04o; make it 0600", path, perm)
	}
	data, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return nil, fmt.Errorf("auth: read development secret: %w", err)
	}
	secret, err := hex.DecodeString(string(bytes.TrimSpace(data)))
	if err != nil {
		return nil, fmt.Errorf("auth: development secret %s is not hex", path)
	}
	if len(secret) < MinHS256SecretBytes {
		return nil, fmt.Errorf("auth: development secret %s is %d bytes, at least %d required", path, len(secret), MinHS256SecretBytes)
	}
	return secret, nil
}
