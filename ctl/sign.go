package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	prov "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/artifact-trust/control-plane/evidence"
	"github.com/artifact-trust/control-plane/model"
)

// What sign makes when no predicate is given: an in-toto statement whose
// predicate type says that the holder of the signing key approves the subject
// digest for release, with an empty predicate. The meaning is in the type and in
// the key that signed it; a project decides what it trusts the key for.
const (
	DefaultPredicateType = "https://github.com/artifact-trust/control-plane/attestation/approved/v1"
	// DefaultSLSABuildType is the SLSA buildType of provenance made from flags
	// when --slsa-build-type is not given.
	DefaultSLSABuildType = "https://github.com/artifact-trust/control-plane/buildtypes/artifactctl/v1"
	// cosignSignatureType is the critical.type of a cosign simple-signing payload.
	cosignSignatureType = "cosign container image signature"
)

// dsseSigner signs DSSE's PAE with a signingKey: ECDSA P-256 with SHA-256 (ASN.1
// DER), Ed25519, or RSA-PSS with SHA-256, as go-securesystemslib's signers do.
type dsseSigner struct{ k *signingKey }

func (s dsseSigner) Sign(_ context.Context, data []byte) ([]byte, error) {
	switch priv := s.k.priv.(type) {
	case *ecdsa.PrivateKey:
		h := sha256.Sum256(data)
		return ecdsa.SignASN1(rand.Reader, priv, h[:])
	case ed25519.PrivateKey:
		return ed25519.Sign(priv, data), nil
	case *rsa.PrivateKey:
		h := sha256.Sum256(data)
		return rsa.SignPSS(rand.Reader, priv, crypto.SHA256, h[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	}
	return nil, fmt.Errorf("unsupported key %T", s.k.priv)
}

// KeyID is the id the server gives the public key: a hint in the envelope only.
func (s dsseSigner) KeyID() (string, error) { return s.k.id, nil }

// signCosign signs payload bytes as cosign does for simple signing: ECDSA with
// SHA-256 (ASN.1 DER), Ed25519, or RSA PKCS#1 v1.5 with SHA-256.
func signCosign(k *signingKey, payload []byte) ([]byte, error) {
	if rk, ok := k.priv.(*rsa.PrivateKey); ok {
		h := sha256.Sum256(payload)
		return rsa.SignPKCS1v15(rand.Reader, rk, crypto.SHA256, h[:])
	}
	return dsseSigner{k}.Sign(context.Background(), payload)
}

// statementSpec is what an in-toto statement made by sign says.
type statementSpec struct {
	digest        string // sha256:<hex> or sha512:<hex>
	subjectName   string
	predicateType string
	predicate     json.RawMessage // a JSON object
}

// statementJSON is the in-toto Statement v1 layout. The predicate is kept as the
// bytes given, so that numbers and key order survive as written.
type statementJSON struct {
	Type          string          `json:"_type"`
	Subject       []subjectJSON   `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

type subjectJSON struct {
	Name   string            `json:"name,omitempty"`
	Digest map[string]string `json:"digest"`
}

// buildStatement makes the statement's JSON and checks it with the in-toto
// attestation library's own validation.
func buildStatement(s statementSpec) ([]byte, error) {
	alg, hexDigest, _ := strings.Cut(s.digest, ":")
	var compact bytes.Buffer
	if err := json.Compact(&compact, s.predicate); err != nil {
		return nil, fmt.Errorf("the predicate is not JSON: %v", err)
	}
	if !bytes.HasPrefix(compact.Bytes(), []byte("{")) {
		return nil, errors.New("the predicate must be a JSON object")
	}
	b, err := json.Marshal(statementJSON{
		Type:          intoto.StatementTypeUri,
		Subject:       []subjectJSON{{Name: s.subjectName, Digest: map[string]string{alg: hexDigest}}},
		PredicateType: s.predicateType,
		Predicate:     compact.Bytes(),
	})
	if err != nil {
		return nil, err
	}
	var st intoto.Statement
	if err := protojson.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("not an in-toto Statement v1: %v", err)
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("not a valid in-toto Statement v1: %v", err)
	}
	return b, nil
}

// slsaSpec is SLSA provenance v1 described by flags.
type slsaSpec struct {
	builderID, buildType, sourceRepo, sourceRef, sourceCommit string
}

func (s slsaSpec) given() bool {
	return s.builderID != "" || s.sourceRepo != "" || s.sourceRef != "" || s.sourceCommit != "" || s.buildType != ""
}

// predicate makes the provenance with the in-toto attestation library's SLSA v1
// types and validation: runDetails.builder.id, buildDefinition.buildType,
// externalParameters {repository, ref} and, with a commit, the source as a
// resolved dependency.
func (s slsaSpec) predicate() (json.RawMessage, error) {
	if s.builderID == "" || s.sourceRepo == "" {
		return nil, usageErrorf("SLSA provenance needs --slsa-builder-id and --slsa-source-repo")
	}
	buildType := s.buildType
	if buildType == "" {
		buildType = DefaultSLSABuildType
	}
	ext := map[string]any{"repository": s.sourceRepo}
	if s.sourceRef != "" {
		ext["ref"] = s.sourceRef
	}
	extStruct, err := structpb.NewStruct(ext)
	if err != nil {
		return nil, err
	}
	pv := &prov.Provenance{
		BuildDefinition: &prov.BuildDefinition{BuildType: buildType, ExternalParameters: extStruct},
		RunDetails:      &prov.RunDetails{Builder: &prov.Builder{Id: s.builderID}},
	}
	if s.sourceCommit != "" {
		uri := "git+" + s.sourceRepo
		if s.sourceRef != "" {
			uri += "@" + s.sourceRef
		}
		pv.BuildDefinition.ResolvedDependencies = []*intoto.ResourceDescriptor{{Uri: uri, Digest: map[string]string{"gitCommit": s.sourceCommit}}}
	}
	if err := pv.Validate(); err != nil {
		return nil, usageErrorf("SLSA provenance: %v", err)
	}
	raw, err := protojson.Marshal(pv)
	if err != nil {
		return nil, err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return nil, err
	}
	return compact.Bytes(), nil
}

// signDSSE wraps the statement in a DSSE envelope signed by k with
// go-securesystemslib's envelope signer.
func signDSSE(k *signingKey, statement []byte) ([]byte, error) {
	es, err := dsse.NewEnvelopeSigner(dsseSigner{k})
	if err != nil {
		return nil, err
	}
	env, err := es.SignPayload(context.Background(), evidence.PayloadTypeInToto, statement)
	if err != nil {
		return nil, err
	}
	return json.Marshal(env)
}

// cosignPayload is cosign's simple-signing payload about an image digest.
func cosignPayload(dockerReference, digest string, annotations map[string]string) ([]byte, error) {
	var optional any // null, as cosign writes it without annotations
	if len(annotations) > 0 {
		optional = annotations
	}
	return json.Marshal(map[string]any{
		"critical": map[string]any{
			"identity": map[string]string{"docker-reference": dockerReference},
			"image":    map[string]string{"docker-manifest-digest": digest},
			"type":     cosignSignatureType,
		},
		"optional": optional,
	})
}

// selfCheck parses what sign made with the server's own parser and verifies it
// under the signing key's public half, so that sign never hands out evidence
// the server would refuse as malformed or whose signature would not verify.
func selfCheck(k *signingKey, digest string, sub evidence.Submission) error {
	v := evidence.KeyVerifier{}
	p, err := v.Parse(sub)
	if err != nil {
		return fmt.Errorf("the server would refuse this evidence: %v", err)
	}
	tk, err := model.NewTrustedKey("self-check", model.TrustedKeyInput{
		PublicKeyPEM: string(k.publicPEM),
		Checks:       []model.Check{model.CheckSignature, model.CheckAttestation},
	}, model.Actor{Subject: "artifactctl", Type: model.ActorUser}, "", 0, time.Now())
	if err != nil {
		return fmt.Errorf("the signing key's public half is not one the server trusts: %v", err)
	}
	for _, j := range v.Judge(p, digest, []model.TrustedKey{tk}, nil) {
		if j.Result != model.ResultPassed {
			return fmt.Errorf("the evidence does not verify under its own key: %s", j.Detail)
		}
	}
	return nil
}

func cmdSign(_ context.Context, a *app, args []string) error {
	fs := a.newFlagSet("--digest sha256:... --key PRIVATE.pem [--out FILE] [--predicate-type URI [--predicate FILE]] [--slsa-builder-id URI --slsa-source-repo URI ...]\n" +
		"       artifactctl sign --format cosign --digest sha256:... --key PRIVATE.pem --docker-reference REPO --payload-out FILE --signature-out FILE")
	var digest, keyFile, format, out, subjectName, predicateType, predicateFile string
	var dockerRef, payloadOut, signatureOut string
	var annotations stringList
	var slsa slsaSpec
	fs.StringVar(&digest, "digest", "", "the artifact's `digest`: sha256:<64 hex> or sha512:<128 hex> (required)")
	fs.StringVar(&keyFile, "key", "", "private key `PEM` file: PKCS#8 (as 'keys generate' writes), SEC 1 EC or PKCS#1 RSA; ECDSA P-256, Ed25519 or RSA >= 2048 bits (required)")
	fs.StringVar(&format, "format", "dsse", "`format`: dsse (an in-toto Statement v1 in a DSSE envelope, for ATTESTATION) or cosign (a simple-signing payload and signature, for SIGNATURE)")
	fs.StringVar(&out, "out", "-", "dsse: write the envelope to this `file` (- for stdout)")
	fs.StringVar(&subjectName, "subject-name", "", "dsse: the subject's `name` (for example the image repository); optional")
	fs.StringVar(&predicateType, "predicate-type", "", "dsse: the predicate type `URI` (default "+DefaultPredicateType+", or https://slsa.dev/provenance/v1 with --slsa-*)")
	fs.StringVar(&predicateFile, "predicate", "", "dsse: the predicate, a JSON object (`file`, - for stdin); needs --predicate-type; default {}")
	fs.StringVar(&slsa.builderID, "slsa-builder-id", "", "dsse: make SLSA provenance v1 with this runDetails.builder.id (`URI`)")
	fs.StringVar(&slsa.sourceRepo, "slsa-source-repo", "", "dsse: the source repository of that provenance (`URI`, externalParameters.repository)")
	fs.StringVar(&slsa.sourceRef, "slsa-source-ref", "", "dsse: the source `ref` built (externalParameters.ref)")
	fs.StringVar(&slsa.sourceCommit, "slsa-source-commit", "", "dsse: the source `commit` built (a resolved dependency with digest gitCommit)")
	fs.StringVar(&slsa.buildType, "slsa-build-type", "", "dsse: buildDefinition.buildType (`URI`; default "+DefaultSLSABuildType+")")
	fs.StringVar(&dockerRef, "docker-reference", "", "cosign: the image repository signed (critical.identity.docker-reference), e.g. registry.example.com/team/app")
	fs.StringVar(&payloadOut, "payload-out", "", "cosign: write the payload bytes to this `file` (required with --format cosign)")
	fs.StringVar(&signatureOut, "signature-out", "", "cosign: write the signature, base64, to this `file` (required with --format cosign)")
	fs.Var(&annotations, "annotation", "cosign: KEY=VALUE in the payload's optional section, repeatable")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := required("digest", digest, "key", keyFile); err != nil {
		return err
	}
	if _, err := model.ParseDigest(digest); err != nil {
		var me *model.Error
		if errors.As(err, &me) {
			return usageErrorf("--%s", me.Message)
		}
		return usageErrorf("--digest: %v", err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch strings.ToLower(format) {
	case "dsse":
		for _, n := range []string{"docker-reference", "payload-out", "signature-out", "annotation"} {
			if set[n] {
				return usageErrorf("--%s is for --format cosign", n)
			}
		}
		k, err := readPrivateKey(keyFile)
		if err != nil {
			return err
		}
		spec := statementSpec{digest: digest, subjectName: subjectName, predicateType: predicateType, predicate: json.RawMessage("{}")}
		switch {
		case slsa.given():
			if predicateFile != "" {
				return usageErrorf("give --predicate or --slsa-* flags, not both")
			}
			if predicateType != "" && predicateType != evidence.PredicateSLSAProvenance1 {
				return usageErrorf("--slsa-* flags make %s, not --predicate-type %s", evidence.PredicateSLSAProvenance1, predicateType)
			}
			if spec.predicate, err = slsa.predicate(); err != nil {
				return err
			}
			spec.predicateType = evidence.PredicateSLSAProvenance1
		case predicateFile != "":
			if predicateType == "" {
				return usageErrorf("--predicate needs --predicate-type (the URI of the predicate's schema)")
			}
			if spec.predicate, err = readInput(predicateFile, "predicate"); err != nil {
				return err
			}
		case predicateType == "":
			spec.predicateType = DefaultPredicateType
		}
		statement, err := buildStatement(spec)
		if err != nil {
			return &cliError{code: exitFailed, msg: err.Error()}
		}
		env, err := signDSSE(k, statement)
		if err != nil {
			return err
		}
		if err := selfCheck(k, digest, evidence.Submission{DSSE: string(env)}); err != nil {
			return &cliError{code: exitFailed, msg: err.Error()}
		}
		env = append(env, '\n')
		if out == "-" || out == "" {
			_, err = a.stdout.Write(env)
			return err
		}
		if err := os.WriteFile(out, env, 0o644); err != nil {
			return &cliError{code: exitFailed, msg: fmt.Sprintf("write envelope: %v", err)}
		}
		fmt.Fprintf(a.stderr, "wrote %s: DSSE envelope of an in-toto statement (%s) about %s, signed with key %s\n", out, spec.predicateType, digest, k.id)
		return nil
	case "cosign":
		for _, n := range []string{"out", "subject-name", "predicate-type", "predicate", "slsa-builder-id", "slsa-source-repo", "slsa-source-ref", "slsa-source-commit", "slsa-build-type"} {
			if set[n] {
				return usageErrorf("--%s is for --format dsse", n)
			}
		}
		if err := required("docker-reference", dockerRef, "payload-out", payloadOut, "signature-out", signatureOut); err != nil {
			return err
		}
		ann := map[string]string{}
		for _, kv := range annotations {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return usageErrorf("--annotation %q: want KEY=VALUE", kv)
			}
			ann[k] = v
		}
		k, err := readPrivateKey(keyFile)
		if err != nil {
			return err
		}
		payload, err := cosignPayload(dockerRef, digest, ann)
		if err != nil {
			return err
		}
		sig, err := signCosign(k, payload)
		if err != nil {
			return err
		}
		sigB64 := base64.StdEncoding.EncodeToString(sig)
		if err := selfCheck(k, digest, evidence.Submission{Payload: base64.StdEncoding.EncodeToString(payload), Signature: sigB64}); err != nil {
			return &cliError{code: exitFailed, msg: err.Error()}
		}
		if err := os.WriteFile(payloadOut, payload, 0o644); err != nil {
			return &cliError{code: exitFailed, msg: fmt.Sprintf("write payload: %v", err)}
		}
		if err := os.WriteFile(signatureOut, []byte(sigB64), 0o644); err != nil {
			return &cliError{code: exitFailed, msg: fmt.Sprintf("write signature: %v", err)}
		}
		fmt.Fprintf(a.stderr, "wrote %s and %s: cosign simple signing of %s (%s), signed with key %s\n", payloadOut, signatureOut, digest, dockerRef, k.id)
		return nil
	}
	return usageErrorf("--format must be dsse or cosign, not %q", format)
}

// readInput reads a file, or stdin for "-", bounded by the server's evidence
// size limit.
func readInput(path, what string) ([]byte, error) {
	var r io.Reader
	if path == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, &cliError{code: exitFailed, msg: fmt.Sprintf("read %s: %v", what, err)}
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, evidence.MaxEnvelopeBytes+1))
	if err != nil {
		return nil, &cliError{code: exitFailed, msg: fmt.Sprintf("read %s: %v", what, err)}
	}
	if len(b) > evidence.MaxEnvelopeBytes {
		return nil, &cliError{code: exitFailed, msg: fmt.Sprintf("the %s in %s is larger than %d bytes, the server's limit for evidence", what, path, evidence.MaxEnvelopeBytes)}
	}
	return b, nil
}
