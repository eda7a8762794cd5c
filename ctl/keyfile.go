package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// Key pairs that sign evidence: the algorithms a project can trust (ECDSA P-256,
// Ed25519, RSA of at least 2048 bits), read from PEM files.

// minRSABits is the smallest RSA key the server trusts.
const minRSABits = 2048

// signingKey is a private key that signs evidence, with its public half.
type signingKey struct {
	priv crypto.Signer
	// id is the key id the server gives its public half: the lowercase hex
	// SHA-256 of the SPKI DER.
	id string
	// publicPEM is the public half as one PEM PUBLIC KEY block (SPKI).
	publicPEM []byte
}

// newSigningKey checks that priv is of an algorithm the server trusts.
func newSigningKey(priv any) (*signingKey, error) {
	var signer crypto.Signer
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("an ECDSA key on %s; only P-256 is accepted", k.Curve.Params().Name)
		}
		signer = k
	case ed25519.PrivateKey:
		signer = k
	case *rsa.PrivateKey:
		if k.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("an RSA key of %d bits; at least %d are needed", k.N.BitLen(), minRSABits)
		}
		signer = k
	default:
		return nil, fmt.Errorf("a %T key; only ECDSA P-256, Ed25519 and RSA keys sign evidence", priv)
	}
	der, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return &signingKey{
		priv:      signer,
		id:        hex.EncodeToString(sum[:]),
		publicPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
	}, nil
}

// parsePrivateKeyPEM reads the first private key of PEM text: PKCS#8 ("PRIVATE
// KEY", what keys generate writes and what openssl genpkey writes), SEC 1 ("EC
// PRIVATE KEY", openssl ecparam -genkey) or PKCS#1 ("RSA PRIVATE KEY"). Other
// blocks before it (such as "EC PARAMETERS") are skipped; encrypted keys and
// public keys are refused with a message saying what to do.
func parsePrivateKeyPEM(data []byte) (*signingKey, error) {
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM private key found (want a -----BEGIN PRIVATE KEY----- block, as 'artifactctl keys generate' writes)")
		}
		var priv any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			priv, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			priv, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			if strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") {
				return nil, errors.New("the RSA private key is encrypted; decrypt it first (openssl pkey -in KEY -out PLAIN)")
			}
			priv, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("the private key is encrypted (PKCS#8); decrypt it first (openssl pkey -in KEY -out PLAIN)")
		case "ENCRYPTED COSIGN PRIVATE KEY", "ENCRYPTED SIGSTORE PRIVATE KEY":
			return nil, errors.New("this is cosign's encrypted key format; give the key as an unencrypted PKCS#8 PEM (or use 'artifactctl keys generate')")
		case "PUBLIC KEY":
			return nil, errors.New("this is a public key; signing needs the private key (the public one is what 'keys add' takes)")
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("the %s block is not a valid key: %v", block.Type, err)
		}
		return newSigningKey(priv)
	}
}

// readPrivateKey reads a private key PEM file.
func readPrivateKey(path string) (*signingKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &cliError{code: exitFailed, msg: fmt.Sprintf("read private key: %v", err)}
	}
	k, err := parsePrivateKeyPEM(data)
	if err != nil {
		return nil, &cliError{code: exitFailed, msg: fmt.Sprintf("%s: %v", path, err)}
	}
	return k, nil
}

// keyAlgorithms are the algorithms keys generate makes.
var keyAlgorithms = []string{"ecdsa-p256", "ed25519", "rsa-3072"}

// generateKey makes a fresh key of algorithm alg (one of keyAlgorithms).
func generateKey(alg string) (*signingKey, error) {
	var priv any
	var err error
	switch strings.ToLower(alg) {
	case "ecdsa-p256", "ecdsa", "p256", "p-256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ed25519":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "rsa-3072", "rsa":
		priv, err = rsa.GenerateKey(rand.Reader, 3072)
	default:
		return nil, usageErrorf("--algorithm must be one of %s, not %q", strings.Join(keyAlgorithms, ", "), alg)
	}
	if err != nil {
		return nil, err
	}
	return newSigningKey(priv)
}

// privatePEM encodes k's private half as PKCS#8 PEM.
func (k *signingKey) privatePEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// writeNewFile writes data to a file that must not exist yet, with mode perm.
func writeNewFile(path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s exists already; not overwriting it (remove it or choose another --out)", path)
		}
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		_ = os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(path)
		return err
	}
	// The file ends with exactly perm, whatever the umask.
	return os.Chmod(path, perm)
}
