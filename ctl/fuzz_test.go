package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"testing"
)

// FuzzParsePrivateKeyPEM: whatever file is given to 'sign --key', reading it
// never panics, and a key it accepts is one the server trusts (P-256, Ed25519,
// RSA >= 2048) with a 64-hex id and a PUBLIC KEY PEM.
func FuzzParsePrivateKeyPEM(f *testing.F) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(k)
	sec1, _ := x509.MarshalECPrivateKey(k)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))
	f.Add(append(pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})...))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: []byte{1}}))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sk, err := parsePrivateKeyPEM(data)
		if err != nil {
			return
		}
		if len(sk.id) != 64 {
			t.Fatalf("id %q", sk.id)
		}
		if b, _ := pem.Decode(sk.publicPEM); b == nil || b.Type != "PUBLIC KEY" {
			t.Fatalf("public PEM %q", sk.publicPEM)
		}
	})
}
