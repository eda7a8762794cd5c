package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/artifact-trust/control-plane/ctl/internal/client"
	"github.com/artifact-trust/control-plane/model"
)

// defaultKeyChecks are the checks a key added without --checks may vouch for:
// what 'sign' makes (ATTESTATION from an in-toto statement, SIGNATURE from
// cosign simple signing). SOURCE_POLICY must be asked for.
var defaultKeyChecks = []client.VerificationCheck{client.VerificationCheckAttestation, client.VerificationCheckSignature}

// evidenceChecks are the checks a trusted key may vouch for.
var evidenceChecks = []client.VerificationCheck{client.VerificationCheckSignature, client.VerificationCheckAttestation, client.VerificationCheckSourcePolicy}

func cmdKeys(ctx context.Context, a *app, args []string) error {
	const help = "Usage:\n" +
		"  artifactctl keys generate --out NAME [--algorithm ecdsa-p256|ed25519|rsa-3072]   (writes NAME.key, mode 0600, and NAME.pub)\n" +
		"  artifactctl keys add --project P --key NAME.pub [--name N] [--checks ATTESTATION,SIGNATURE] [--predicate-types URI,...]\n" +
		"  artifactctl keys list --project P [--include-revoked]\n" +
		"  artifactctl keys revoke --project P (--key-id ID | --key NAME.pub) --reason R\n"
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprint(a.stdout, help)
			return errHelp
		}
		return usageErrorf("want 'keys generate', 'keys add', 'keys list' or 'keys revoke'")
	}
	sub, args := args[0], args[1:]
	a.cmd = "keys " + sub
	switch sub {
	case "generate":
		return cmdKeysGenerate(a, args)
	case "add":
		return cmdKeysAdd(ctx, a, args)
	case "list":
		return cmdKeysList(ctx, a, args)
	case "revoke":
		return cmdKeysRevoke(ctx, a, args)
	}
	return usageErrorf("unknown keys command %q: want generate, add, list or revoke", sub)
}

func cmdKeysGenerate(a *app, args []string) error {
	fs := a.newFlagSet("--out NAME [--algorithm " + strings.Join(keyAlgorithms, "|") + "]")
	var out, alg string
	fs.StringVar(&out, "out", "", "writes `NAME`.key (the private key, PKCS#8 PEM, mode 0600) and NAME.pub (the public key, SPKI PEM) (required)")
	fs.StringVar(&alg, "algorithm", "ecdsa-p256", "key `algorithm`: "+strings.Join(keyAlgorithms, ", "))
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := required("out", out); err != nil {
		return err
	}
	k, err := generateKey(alg)
	if err != nil {
		return err
	}
	privPEM, err := k.privatePEM()
	if err != nil {
		return err
	}
	privPath, pubPath := out+".key", out+".pub"
	for _, p := range []string{privPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return &cliError{code: exitFailed, msg: fmt.Sprintf("%s exists already; not overwriting it (remove it or choose another --out)", p)}
		}
	}
	if err := writeNewFile(privPath, privPEM, 0o600); err != nil {
		return &cliError{code: exitFailed, msg: fmt.Sprintf("write private key: %v", err)}
	}
	if err := writeNewFile(pubPath, k.publicPEM, 0o644); err != nil {
		_ = os.Remove(privPath)
		return &cliError{code: exitFailed, msg: fmt.Sprintf("write public key: %v", err)}
	}
	if a.json() {
		return a.printJSON(map[string]string{"keyId": k.id, "privateKey": privPath, "publicKey": pubPath})
	}
	fmt.Fprintf(a.stdout, "KEY_ID       %s\nPRIVATE_KEY  %s (keep it secret: it signs evidence)\nPUBLIC_KEY   %s (give it to 'artifactctl keys add')\n", k.id, privPath, pubPath)
	return nil
}

// parseChecks reads a comma-separated (and repeatable) list of checks.
func parseChecks(list stringList) ([]client.VerificationCheck, error) {
	var out []client.VerificationCheck
	for _, item := range list {
		for _, s := range strings.Split(item, ",") {
			if strings.TrimSpace(s) == "" {
				continue
			}
			c, err := parseEnum("checks", s, evidenceChecks)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	}
	return out, nil
}

func splitList(list stringList) []string {
	var out []string
	for _, item := range list {
		for _, s := range strings.Split(item, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

func cmdKeysAdd(ctx context.Context, a *app, args []string) error {
	fs := a.newFlagSet("--project P --key PUBLIC.pem [--name N] [--checks ATTESTATION,SIGNATURE] [--predicate-types URI,...]")
	var project, keyFile, name string
	var checks, predicateTypes stringList
	fs.StringVar(&project, "project", "", "`project` that trusts the key (required)")
	fs.StringVar(&keyFile, "key", "", "public key `file`: one PEM PUBLIC KEY block (SPKI), such as NAME.pub from 'keys generate' or cosign.pub (required)")
	fs.StringVar(&name, "name", "", "display `name`")
	fs.Var(&checks, "checks", "checks its signatures may decide, comma-separated or repeated: SIGNATURE, ATTESTATION, SOURCE_POLICY (default ATTESTATION,SIGNATURE)")
	fs.Var(&predicateTypes, "predicate-types", "in-toto predicate type `URIs` it may sign, comma-separated or repeated (default any)")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := required("project", project, "key", keyFile); err != nil {
		return err
	}
	pemText, err := os.ReadFile(keyFile)
	if err != nil {
		return &cliError{code: exitFailed, msg: fmt.Sprintf("read public key: %v", err)}
	}
	cs, err := parseChecks(checks)
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		cs = defaultKeyChecks
	}
	c, ctx, cancel, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := client.AddTrustedKey(ctx, c, project, client.TrustedKeyInput{
		PublicKeyPem: string(pemText), Name: optional(name), Checks: cs, PredicateTypes: splitList(predicateTypes),
	})
	if err != nil {
		return err
	}
	return a.printKeys([]client.TrustedKeyFields{resp.AddTrustedKey})
}

func cmdKeysList(ctx context.Context, a *app, args []string) error {
	fs := a.newFlagSet("--project P [--include-revoked]")
	var project string
	var includeRevoked bool
	fs.StringVar(&project, "project", "", "`project` (required)")
	fs.BoolVar(&includeRevoked, "include-revoked", false, "list revoked keys too")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := required("project", project); err != nil {
		return err
	}
	c, ctx, cancel, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := client.TrustedKeys(ctx, c, project, &includeRevoked)
	if err != nil {
		return err
	}
	keys := resp.TrustedKeys
	if keys == nil {
		keys = []client.TrustedKeyFields{}
	}
	if err := a.printKeys(keys); err != nil {
		return err
	}
	if len(keys) == 0 && !a.json() {
		fmt.Fprintf(a.stderr, "project %s trusts no key yet (add one with 'artifactctl keys add')\n", project)
	}
	return nil
}

func cmdKeysRevoke(ctx context.Context, a *app, args []string) error {
	fs := a.newFlagSet("--project P (--key-id ID | --key PUBLIC.pem) --reason R")
	var project, keyID, keyFile, reason string
	fs.StringVar(&project, "project", "", "`project` (required)")
	fs.StringVar(&keyID, "key-id", "", "the key's `ID` (see 'keys list')")
	fs.StringVar(&keyFile, "key", "", "or the public key `file` itself (its id is computed)")
	fs.StringVar(&reason, "reason", "", "why; revocation is final (required)")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := required("project", project, "reason", reason); err != nil {
		return err
	}
	switch {
	case keyID != "" && keyFile != "":
		return usageErrorf("give --key-id or --key, not both")
	case keyFile != "":
		pemText, err := os.ReadFile(keyFile)
		if err != nil {
			return &cliError{code: exitFailed, msg: fmt.Sprintf("read public key: %v", err)}
		}
		pk, err := model.ParsePublicKeyPEM("key", string(pemText))
		if err != nil {
			return &cliError{code: exitFailed, msg: fmt.Sprintf("%s: %v", keyFile, err)}
		}
		keyID = pk.ID
	case keyID == "":
		return usageErrorf("--key-id (or --key) is required")
	}
	c, ctx, cancel, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := client.RevokeTrustedKey(ctx, c, project, keyID, reason)
	if err != nil {
		return err
	}
	return a.printKeys([]client.TrustedKeyFields{resp.RevokeTrustedKey})
}

// printKeys shows trusted keys (json: the TrustedKey objects).
func (a *app) printKeys(keys []client.TrustedKeyFields) error {
	if a.json() {
		return a.printJSON(keys)
	}
	t := newTable(a.stdout, "KEY_ID", "NAME", "ALGORITHM", "CHECKS", "PREDICATE_TYPES", "ADDED_BY", "ADDED_AT", "REVOKED_AT", "REVOKE_REASON")
	for _, k := range keys {
		t.row(k.Id, str(k.Name), string(k.Algorithm), joinStrings(k.Checks), strings.Join(k.PredicateTypes, ","), k.AddedBy, ts(k.AddedAt), tsp(k.RevokedAt), str(k.RevokeReason))
	}
	return t.flush()
}
