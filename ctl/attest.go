package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/artifact-trust/control-plane/ctl/internal/client"
)

func cmdAttest(ctx context.Context, a *app, args []string) error {
	fs := a.newFlagSet("(--id ID | --project P --digest D) (--envelope FILE | --payload FILE --signature FILE)")
	var t target
	var envelopeFile, payloadFile, signatureFile string
	t.addFlags(fs)
	fs.StringVar(&envelopeFile, "envelope", "", "a DSSE envelope carrying an in-toto Statement v1 (`file`, - for stdin), as 'artifactctl sign' writes: decides ATTESTATION (and SOURCE_POLICY for SLSA provenance)")
	fs.StringVar(&payloadFile, "payload", "", "a cosign simple-signing payload (`file` of the payload bytes), with --signature: decides SIGNATURE")
	fs.StringVar(&signatureFile, "signature", "", "the payload's signature (`file` holding it in base64, as cosign and 'artifactctl sign --format cosign' write it)")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := t.check(); err != nil {
		return err
	}
	in := client.SubmitEvidenceInput{}
	switch {
	case envelopeFile != "" && (payloadFile != "" || signatureFile != ""):
		return usageErrorf("give --envelope, or --payload with --signature, not both")
	case envelopeFile != "":
		b, err := readInput(envelopeFile, "envelope")
		if err != nil {
			return err
		}
		env := string(bytes.TrimSpace(b))
		in.DsseEnvelope = &env
	case payloadFile != "" || signatureFile != "":
		if err := required("payload", payloadFile, "signature", signatureFile); err != nil {
			return err
		}
		payload, err := readInput(payloadFile, "payload")
		if err != nil {
			return err
		}
		sig, err := readInput(signatureFile, "signature")
		if err != nil {
			return err
		}
		// One line, as the server wants it (base64 tools wrap lines).
		sigText := strings.NewReplacer("\r", "", "\n", "").Replace(strings.TrimSpace(string(sig)))
		if _, err := base64.StdEncoding.DecodeString(sigText); err != nil {
			return &cliError{code: exitFailed, msg: fmt.Sprintf("%s is not base64 (the signature file holds the signature in base64, as cosign writes it): %v", signatureFile, err)}
		}
		in.SimpleSigning = &client.SimpleSigningInput{Payload: base64.StdEncoding.EncodeToString(payload), Signature: sigText}
	default:
		return usageErrorf("--envelope FILE, or --payload FILE with --signature FILE, is required")
	}
	c, ctx, cancel, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if in.ArtifactId, err = t.resolve(ctx, c); err != nil {
		return err
	}
	resp, err := client.SubmitEvidence(ctx, c, in)
	if err != nil {
		return err
	}
	res := resp.SubmitEvidence
	if a.json() {
		if err := a.printJSON(res); err != nil {
			return err
		}
	} else {
		tb := newTable(a.stdout, "CHECK", "RESULT", "FORMAT", "KEY_IDS", "PREDICATE_TYPE", "EVIDENCE_ID", "DETAIL")
		for _, e := range res.Evidence {
			tb.row(string(e.Check), string(e.Result), string(e.Format), shortIDs(e.KeyIds), str(e.PredicateType), e.Id, str(e.Detail))
		}
		if err := tb.flush(); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "\n%s is %s (lifecycle %s)\n", res.Artifact.Digest, res.Artifact.TrustState, res.Artifact.LifecycleState)
	}
	var failed []string
	for _, e := range res.Evidence {
		if e.Result == client.CheckResultFailed {
			failed = append(failed, fmt.Sprintf("%s: %s", e.Check, str(e.Detail)))
		}
	}
	if len(failed) > 0 {
		return &cliError{code: exitDenied, msg: fmt.Sprintf("the evidence about %s was recorded FAILED:", res.Artifact.Digest), lines: failed}
	}
	return nil
}

// shortIDs abbreviates key ids for a table (12 hex characters each).
func shortIDs(ids []string) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		if len(id) > 12 {
			id = id[:12]
		}
		out[i] = id
	}
	return strings.Join(out, ",")
}
