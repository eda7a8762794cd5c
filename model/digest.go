package model

import (
	_ "crypto/sha256" // registers sha256 for go-digest
	_ "crypto/sha512" // registers sha512 for go-digest
	"errors"
	"strings"

	godigest "github.com/opencontainers/go-digest"
)

// MaxDigestLength bounds the digest input before any parsing (sha512 is 135 bytes).
const MaxDigestLength = 256

// ParseDigest validates a digest as canonical `algorithm:encoded` under the OCI
// image-spec descriptor rules, restricted to sha256 and sha512 with lowercase hex.
// The error says what is wrong and is BAD_USER_INPUT on field "digest".
func ParseDigest(s string) (string, error) {
	const field = "digest"
	switch {
	case s == "":
		return "", BadInput(field, "is empty; expected sha256:<64 lowercase hex> or sha512:<128 lowercase hex>")
	case len(s) > MaxDigestLength:
		return "", BadInput(field, "is %d bytes long, more than %d", len(s), MaxDigestLength)
	case strings.TrimSpace(s) != s || strings.ContainsAny(s, " \t\r\n"):
		return "", BadInput(field, "contains whitespace")
	}
	i := strings.IndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return "", BadInput(field, "must be algorithm:encoded, for example sha256:<64 lowercase hex>")
	}
	alg := godigest.Algorithm(s[:i])
	if alg != godigest.SHA256 && alg != godigest.SHA512 {
		return "", BadInput(field, "algorithm %q is not allowed; use sha256 or sha512", truncate(string(alg), 32))
	}
	err := godigest.Digest(s).Validate()
	switch {
	case err == nil:
		return s, nil
	case errors.Is(err, godigest.ErrDigestInvalidLength):
		return "", BadInput(field, "%s digest must have %d hex characters, got %d", alg, alg.Size()*2, len(s)-i-1)
	case errors.Is(err, godigest.ErrDigestInvalidFormat):
		return "", BadInput(field, "%s digest must be lowercase hex (0-9, a-f) only", alg)
	default:
		return "", BadInput(field, "is not a valid digest: %v", err)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
