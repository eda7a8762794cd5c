package model

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"
	"time"
)

// KeyAlgorithm is the algorithm of a trusted public key.
type KeyAlgorithm string

const (
	KeyECDSAP256 KeyAlgorithm = "ECDSA_P256"
	KeyEd25519   KeyAlgorithm = "ED25519"
	KeyRSA       KeyAlgorithm = "RSA"
)

// Project trail actions (the policy's change trail, projectPolicyHistory).
const (
	ActionPolicy     = "project.policy"
	ActionKeyAdded   = "project.key_added"
	ActionKeyRevoked = "project.key_revoked"
)

// Limits on trusted keys.
const (
	// MaxLiveKeys bounds the live (not revoked) trusted keys of one project: every
	// evidence submission tries each signature against each live key allowed for
	// the check, so this bounds that work.
	MaxLiveKeys = 100
	// MaxKeys bounds every key one project ever had, revoked ones included (they
	// stay listed with includeRevoked, and a revoked key can never be added again),
	// so the project's key document stays small.
	MaxKeys = 500
	// MaxKeyPEMBytes bounds the PEM text of one key (an RSA 8192-bit SPKI is about
	// 1.4 KiB of PEM).
	MaxKeyPEMBytes = 4096
	// MinRSABits is the smallest RSA modulus accepted.
	MinRSABits = 2048
	// MaxRSABits bounds the RSA modulus (verification cost grows with it).
	MaxRSABits = 8192
	// MaxKeyNameLength bounds a key's display name.
	MaxKeyNameLength = 200
	// MaxPredicateTypeLength bounds one predicate type URI.
	MaxPredicateTypeLength = 512
	// MaxKeyPredicateTypes bounds the predicate types one key lists.
	MaxKeyPredicateTypes = 50
)

// EvidenceChecks are the checks evidence can decide, hence the checks a trusted key
// may vouch for.
var EvidenceChecks = []Check{CheckSignature, CheckAttestation, CheckSourcePolicy}

// IsEvidenceCheck reports whether c can be decided by verified evidence.
func (c Check) IsEvidenceCheck() bool { return contains(EvidenceChecks, c) }

// TrustedKey is a public key a project trusts to vouch for some checks.
type TrustedKey struct {
	// ID is the lowercase hex SHA-256 of the SPKI DER.
	ID             string
	Project        string
	Name           string
	PublicKeyPEM   string
	Algorithm      KeyAlgorithm
	Checks         []Check
	PredicateTypes []string
	AddedBy        string
	AddedByType    ActorType
	AddedAt        time.Time
	// AddedCorrelationID is the correlation id of the request that added it.
	AddedCorrelationID string
	// PolicyVersion is the project policy's version when the key was added.
	AddedPolicyVersion int
	RevokedAt          *time.Time
	RevokedBy          string
	RevokedByType      ActorType
	RevokeReason       string
	// RevokedCorrelationID is the correlation id of the revoking request.
	RevokedCorrelationID string
	// RevokedPolicyVersion is the project policy's version when it was revoked.
	RevokedPolicyVersion int
	// Public is the parsed key (not stored; parsed again from PublicKeyPEM).
	Public any
}

// Live reports whether the key is not revoked.
func (k *TrustedKey) Live() bool { return k.RevokedAt == nil }

// Allows reports whether the key may vouch for check c.
func (k *TrustedKey) Allows(c Check) bool { return contains(k.Checks, c) }

// AllowsPredicate reports whether the key may sign statements of predicate type t:
// any when it lists none.
func (k *TrustedKey) AllowsPredicate(t string) bool {
	return len(k.PredicateTypes) == 0 || contains(k.PredicateTypes, t)
}

// TrustedKeyInput is a request to trust a public key.
type TrustedKeyInput struct {
	PublicKeyPEM   string
	Name           string
	Checks         []Check
	PredicateTypes []string
}

// ParsedKey is a validated public key.
type ParsedKey struct {
	ID        string
	Algorithm KeyAlgorithm
	// PEM is the key re-encoded canonically (one PUBLIC KEY block).
	PEM    string
	Public any
}

// ParsePublicKeyPEM accepts exactly one PEM "PUBLIC KEY" block (SPKI) holding an
// ECDSA P-256, Ed25519 or RSA (2048 to 8192 bits) key, and nothing else but
// whitespace. field names the input in errors.
func ParsePublicKeyPEM(field, text string) (ParsedKey, error) {
	if len(text) > MaxKeyPEMBytes {
		return ParsedKey{}, BadInput(field, "is %d bytes, at most %d allowed for one public key", len(text), MaxKeyPEMBytes)
	}
	block, rest := pem.Decode([]byte(strings.TrimSpace(text)))
	if block == nil {
		return ParsedKey{}, BadInput(field, "is not PEM: expected one -----BEGIN PUBLIC KEY----- block")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		if next, _ := pem.Decode(rest); next != nil {
			return ParsedKey{}, BadInput(field, "holds several PEM blocks; give exactly one PUBLIC KEY block")
		}
		return ParsedKey{}, BadInput(field, "has text after the PEM block; give exactly one PUBLIC KEY block")
	}
	switch {
	case strings.Contains(block.Type, "PRIVATE KEY"):
		return ParsedKey{}, BadInput(field, "is a private key (%s); never send a private key, give its PUBLIC KEY", block.Type)
	case block.Type != "PUBLIC KEY":
		return ParsedKey{}, BadInput(field, "is a PEM %q block; expected a PUBLIC KEY (SPKI) block", block.Type)
	}
	if len(block.Headers) > 0 {
		return ParsedKey{}, BadInput(field, "has PEM headers; a PUBLIC KEY block has none")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return ParsedKey{}, BadInput(field, "is not a readable SPKI public key of a supported algorithm (ECDSA P-256, Ed25519, RSA): %v", err)
	}
	var alg KeyAlgorithm
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return ParsedKey{}, BadInput(field, "is an ECDSA key on curve %s; only P-256 is accepted", k.Curve.Params().Name)
		}
		alg = KeyECDSAP256
	case ed25519.PublicKey:
		alg = KeyEd25519
	case *rsa.PublicKey:
		bits := k.N.BitLen()
		if bits < MinRSABits {
			return ParsedKey{}, BadInput(field, "is an RSA key of %d bits; at least %d are required", bits, MinRSABits)
		}
		if bits > MaxRSABits {
			return ParsedKey{}, BadInput(field, "is an RSA key of %d bits; at most %d are accepted", bits, MaxRSABits)
		}
		alg = KeyRSA
	default:
		return ParsedKey{}, BadInput(field, "is a %T key; only ECDSA P-256, Ed25519 and RSA keys are accepted", pub)
	}
	sum := sha256.Sum256(block.Bytes)
	return ParsedKey{
		ID:        hex.EncodeToString(sum[:]),
		Algorithm: alg,
		PEM:       string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: block.Bytes})),
		Public:    pub,
	}, nil
}

// KeyIDOf returns the id of a key from its PEM text, or an error as
// ParsePublicKeyPEM.
func KeyIDOf(text string) (string, error) {
	k, err := ParsePublicKeyPEM("publicKeyPem", text)
	return k.ID, err
}

// ValidateKeyID checks a key id as given by a client: 64 lowercase hex digits.
func ValidateKeyID(field, id string) error {
	if len(id) != 64 {
		return BadInput(field, "must be 64 lowercase hex digits (the SHA-256 of the key's SPKI DER)")
	}
	for _, r := range id {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return BadInput(field, "must be 64 lowercase hex digits (the SHA-256 of the key's SPKI DER)")
		}
	}
	return nil
}

// NewTrustedKey validates in and builds the key it describes for project.
func NewTrustedKey(project string, in TrustedKeyInput, actor Actor, correlationID string, policyVersion int, now time.Time) (TrustedKey, error) {
	if err := ValidateProject(project); err != nil {
		return TrustedKey{}, err
	}
	pk, err := ParsePublicKeyPEM("publicKeyPem", in.PublicKeyPEM)
	if err != nil {
		return TrustedKey{}, err
	}
	if in.Name != "" {
		if err := printable("name", in.Name, MaxKeyNameLength, true); err != nil {
			return TrustedKey{}, err
		}
	}
	checks, err := uniqueValid("checks", in.Checks, Check.IsEvidenceCheck)
	if err != nil {
		return TrustedKey{}, BadInput("checks", "a key may vouch only for %s", joinList(EvidenceChecks))
	}
	if len(checks) == 0 {
		return TrustedKey{}, BadInput("checks", "must list at least one of %s", joinList(EvidenceChecks))
	}
	preds, err := validStrings("predicateTypes", in.PredicateTypes, MaxKeyPredicateTypes, func(field, s string) error {
		if s == "" {
			return BadInput(field, "is empty")
		}
		return printable(field, s, MaxPredicateTypeLength, false)
	})
	if err != nil {
		return TrustedKey{}, err
	}
	return TrustedKey{
		ID: pk.ID, Project: project, Name: in.Name, PublicKeyPEM: pk.PEM, Algorithm: pk.Algorithm,
		Checks: checks, PredicateTypes: preds,
		AddedBy: actor.Subject, AddedByType: actor.Type, AddedAt: now,
		AddedCorrelationID: correlationID, AddedPolicyVersion: policyVersion,
		Public: pk.Public,
	}, nil
}

// SameAs reports whether k was added with the same settings as other (a retry).
func (k *TrustedKey) SameAs(other *TrustedKey) bool {
	return k.ID == other.ID && k.Name == other.Name && sameSet(k.Checks, other.Checks) && sameSet(k.PredicateTypes, other.PredicateTypes)
}

func sameSet[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !contains(b, x) {
			return false
		}
	}
	return true
}

// AddKey adds k to a project's keys. A key already live with the same settings is
// returned unchanged (added false: a retry); a live key with other settings is a
// CONFLICT, a revoked one INVALID_TRANSITION (revocation is final), and the
// MaxLiveKeys and MaxKeys bounds are BAD_USER_INPUT.
func AddKey(keys []TrustedKey, k TrustedKey) (out []TrustedKey, stored TrustedKey, added bool, err error) {
	live := 0
	for i := range keys {
		cur := &keys[i]
		if cur.ID == k.ID {
			switch {
			case !cur.Live():
				return keys, *cur, false, Errorf(KindInvalidTransition, "key %s was revoked in project %s (%s); revocation is final, so it cannot be trusted again", k.ID, k.Project, cur.RevokeReason)
			case cur.SameAs(&k):
				return keys, *cur, false, nil
			default:
				return keys, *cur, false, Errorf(KindConflict, "key %s is already trusted in project %s with other settings; revoke it to change them", k.ID, k.Project)
			}
		}
		if cur.Live() {
			live++
		}
	}
	if live >= MaxLiveKeys {
		return keys, TrustedKey{}, false, BadInput("publicKeyPem", "project %s already has %d live trusted keys, the most allowed; revoke one first", k.Project, live)
	}
	if len(keys) >= MaxKeys {
		return keys, TrustedKey{}, false, BadInput("publicKeyPem", "project %s has had %d trusted keys (revoked ones included), the most one project may have", k.Project, len(keys))
	}
	return append(append([]TrustedKey(nil), keys...), k), k, true, nil
}

// RevokeKey revokes key id of a project's keys. The reason is required; a key
// revoked already is INVALID_TRANSITION (revocation is final); an unknown id
// NOT_FOUND.
func RevokeKey(keys []TrustedKey, project, id, reason string, actor Actor, correlationID string, policyVersion int, now time.Time) ([]TrustedKey, TrustedKey, error) {
	if err := ValidateKeyID("keyId", id); err != nil {
		return keys, TrustedKey{}, err
	}
	if strings.TrimSpace(reason) == "" {
		return keys, TrustedKey{}, BadInput("reason", "is required to revoke a key")
	}
	if err := ValidateReason(reason); err != nil {
		return keys, TrustedKey{}, err
	}
	for i := range keys {
		if keys[i].ID != id {
			continue
		}
		if !keys[i].Live() {
			return keys, keys[i], Errorf(KindInvalidTransition, "key %s of project %s is already revoked; revocation is final", id, project)
		}
		out := append([]TrustedKey(nil), keys...)
		at := now
		out[i].RevokedAt, out[i].RevokedBy, out[i].RevokedByType = &at, actor.Subject, actor.Type
		out[i].RevokeReason, out[i].RevokedCorrelationID, out[i].RevokedPolicyVersion = reason, correlationID, policyVersion
		return out, out[i], nil
	}
	return keys, TrustedKey{}, Errorf(KindNotFound, "project %s has no trusted key %s", project, id)
}

// KeyChanges returns the project trail entries the keys stand for: one
// project.key_added per key and one project.key_revoked per revoked key.
func KeyChanges(keys []TrustedKey) []PolicyChange {
	var out []PolicyChange
	for _, k := range keys {
		out = append(out, PolicyChange{
			Project: k.Project, Action: ActionKeyAdded, Actor: k.AddedBy, ActorType: k.AddedByType,
			FromVersion: k.AddedPolicyVersion, ToVersion: k.AddedPolicyVersion,
			CorrelationID: k.AddedCorrelationID, At: k.AddedAt, KeyID: k.ID,
		})
		if k.RevokedAt != nil {
			out = append(out, PolicyChange{
				Project: k.Project, Action: ActionKeyRevoked, Actor: k.RevokedBy, ActorType: k.RevokedByType,
				FromVersion: k.RevokedPolicyVersion, ToVersion: k.RevokedPolicyVersion,
				CorrelationID: k.RevokedCorrelationID, At: *k.RevokedAt, KeyID: k.ID, Reason: k.RevokeReason,
			})
		}
	}
	return out
}

// String names a key for messages: its id's first 12 hex digits.
func (k *TrustedKey) String() string { return fmt.Sprintf("key %.12s", k.ID) }
