package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// requireInstalled skips the test when one of errs (from looking up what the test
// needs) is not nil, naming the command that installs it; under CI, which must
// install everything (.ci/run), it fails instead.
func requireInstalled(t *testing.T, what, install string, errs ...error) {
	t.Helper()
	if err := errors.Join(errs...); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must install %s: %v (run %s)", what, err, install)
		}
		t.Skipf("%s is not installed (%v); run: %s", what, err, install)
	}
}

type nodeVerdict struct {
	Verified bool
	Reason   string
	KeyType  string
}

func nodeVerify(t *testing.T, node string, args ...string) nodeVerdict {
	t.Helper()
	out, err := exec.Command(node, append([]string{filepath.Join("testdata", "node-verify.mjs")}, args...)...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("node: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("node: %v", err)
	}
	var v nodeVerdict
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("node printed %q: %v", out, err)
	}
	return v
}

// TestEvidenceMadeByArtifactctlVerifiesWithNodeCrypto checks what 'artifactctl
// sign' makes with an independent implementation: node:crypto, with the DSSE PAE
// built from the specification in testdata/node-verify.mjs. Each key algorithm,
// both formats; a changed byte makes it fail there too.
func TestEvidenceMadeByArtifactctlVerifiesWithNodeCrypto(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	requireInstalled(t, "node", "apt-get install nodejs", err)
	for _, alg := range []string{"ecdsa-p256", "ed25519", "rsa-3072"} {
		t.Run(alg, func(t *testing.T) {
			priv, pub := generate(t, alg)
			dir := t.TempDir()
			envPath := filepath.Join(dir, "env.json")
			for _, digest := range []string{signDigest, signDigest512} {
				if code, _, errOut := runLocal(t, "sign", "--digest", digest, "--key", priv, "--out", envPath); code != 0 {
					t.Fatalf("sign: %s", errOut)
				}
				if v := nodeVerify(t, node, "dsse", pub, envPath, digest); !v.Verified || !strings.Contains(v.Reason, DefaultPredicateType) {
					t.Fatalf("node: %+v", v)
				}
				if v := nodeVerify(t, node, "dsse", pub, envPath, otherDigest); v.Verified || !strings.Contains(v.Reason, "no subject") {
					t.Fatalf("node, another digest: %+v", v)
				}
			}
			// The envelope's payloadType changed: the PAE differs, no signature verifies.
			env, _ := os.ReadFile(envPath)
			var e map[string]any
			_ = json.Unmarshal(env, &e)
			e["payloadType"] = "application/vnd.in-toto+jsoN"
			b, _ := json.Marshal(e)
			_ = os.WriteFile(envPath, b, 0o644)
			if v := nodeVerify(t, node, "dsse", pub, envPath, signDigest512); v.Verified {
				t.Fatalf("node verified a changed payloadType: %+v", v)
			}

			payloadPath, sigPath := filepath.Join(dir, "payload.json"), filepath.Join(dir, "payload.sig")
			if code, _, errOut := runLocal(t, "sign", "--format", "cosign", "--digest", signDigest, "--key", priv,
				"--docker-reference", "registry.example.com/payments/api", "--payload-out", payloadPath, "--signature-out", sigPath); code != 0 {
				t.Fatalf("sign cosign: %s", errOut)
			}
			if v := nodeVerify(t, node, "cosign", pub, payloadPath, sigPath, signDigest); !v.Verified {
				t.Fatalf("node, cosign: %+v", v)
			}
			payload, _ := os.ReadFile(payloadPath)
			_ = os.WriteFile(payloadPath, append(payload, ' '), 0o644)
			if v := nodeVerify(t, node, "cosign", pub, payloadPath, sigPath, signDigest); v.Verified {
				t.Fatalf("node verified a changed payload: %+v", v)
			}
		})
	}
}
