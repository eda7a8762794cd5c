package model

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// EvidenceBasis says where a verification record comes from.
type EvidenceBasis string

const (
	// BasisClaimed: a result a caller submitted with verifyArtifact.
	BasisClaimed EvidenceBasis = "CLAIMED"
	// BasisVerified: a result the service established itself: from evidence whose
	// signatures it checked against the project's trusted keys, or a baseline check
	// it computed from the artifact and the policy.
	BasisVerified EvidenceBasis = "VERIFIED"
)

// EvidenceFormat is the format of submitted evidence.
type EvidenceFormat string

const (
	FormatDSSEInToto          EvidenceFormat = "DSSE_IN_TOTO"
	FormatCosignSimpleSigning EvidenceFormat = "COSIGN_SIMPLE_SIGNING"
)

// ActionEvidence is the audit action of submitEvidence.
const ActionEvidence = "app_artifact.evidence"

// MaxEvidencePerArtifact bounds the evidence envelopes one artifact keeps (each
// decides one or two checks); one more is BAD_USER_INPUT.
const MaxEvidencePerArtifact = 64

// Evidence is the service's verdict on one submitted envelope for one check.
type Evidence struct {
	ID             string
	Format         EvidenceFormat
	Check          Check
	Result         CheckResult
	Detail         string
	PredicateType  string
	KeyIDs         []string
	EnvelopeSHA256 string
	SubmittedBy    string
	SubmittedAt    time.Time
	PolicyVersion  int
	// Provenance, for SOURCE_POLICY evidence from SLSA provenance whose signature
	// and subject verified, is what the provenance rules judged: decisions judge
	// it again under the current rules (trust.go). Nil otherwise.
	Provenance *ProvenanceFacts
}

// EvidenceID is the id of the evidence deciding check c from the envelope with
// SHA-256 envelopeSHA256 for artifact artifactID: the same envelope submitted
// again addresses the same evidence.
func EvidenceID(artifactID, envelopeSHA256 string, c Check) string {
	h := sha256.Sum256([]byte(artifactID + "\x00" + envelopeSHA256 + "\x00" + string(c)))
	return "ev_" + hex.EncodeToString(h[:16])
}

// ProvenancePolicy says which SLSA provenance decides SOURCE_POLICY PASSED.
type ProvenancePolicy struct {
	BuilderIDs         []string
	SourceRepositories []string
}

// ProvenanceFacts are what the provenance rules look at in SLSA provenance v1:
// the builder's id and the source repository it names.
type ProvenanceFacts struct {
	BuilderID        string
	SourceRepository string
}

// maxProvenanceFactLength bounds each of the ProvenanceFacts an artifact keeps.
// It is beyond MaxPrefixLength, the longest builderIds or sourceRepositories entry
// a policy can hold, so a value cut to it is judged as the whole value: a builder
// id that long matches no entry, and a repository starts with an entry exactly
// when its first maxProvenanceFactLength bytes do.
const maxProvenanceFactLength = MaxPrefixLength + 64

// Bounded returns f with each value cut to maxProvenanceFactLength bytes (at a
// character boundary, "…" marking the cut); the rules judge it as they judge f.
func (f ProvenanceFacts) Bounded() ProvenanceFacts {
	cut := func(s string) string {
		if len(s) <= maxProvenanceFactLength {
			return s
		}
		n := maxProvenanceFactLength
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		return s[:n] + "…"
	}
	return ProvenanceFacts{BuilderID: cut(f.BuilderID), SourceRepository: cut(f.SourceRepository)}
}

// Mismatch explains why provenance with facts f does not satisfy pp; "" when it
// does: builder.id must be one of builderIds and the source repository start with
// one of sourceRepositories.
func (pp *ProvenancePolicy) Mismatch(f ProvenanceFacts) string {
	if !slices.Contains(pp.BuilderIDs, f.BuilderID) {
		return fmt.Sprintf("builder %s is not one of the policy's provenance builderIds", truncate(f.BuilderID, 200))
	}
	if f.SourceRepository == "" {
		return "the provenance names no source repository (externalParameters or resolvedDependencies)"
	}
	for _, prefix := range pp.SourceRepositories {
		if prefix != "" && strings.HasPrefix(f.SourceRepository, prefix) {
			return ""
		}
	}
	return fmt.Sprintf("source repository %s matches no sourceRepositories prefix of the policy's provenance rules", truncate(f.SourceRepository, 200))
}

// Judgement is a verifier's decision on one check.
type Judgement struct {
	Check  Check
	Result CheckResult
	Detail string
	KeyIDs []string
	// Provenance is set on a SOURCE_POLICY judgement of SLSA provenance whose
	// signature and subject verified: the facts the provenance rules judged.
	Provenance *ProvenanceFacts
}

// EvidenceFor returns the evidence a holds from the envelope with that SHA-256.
func (a *Artifact) EvidenceFor(envelopeSHA256 string) []Evidence {
	var out []Evidence
	for _, e := range a.Evidence {
		if e.EnvelopeSHA256 == envelopeSHA256 {
			out = append(out, e)
		}
	}
	return out
}

// TakesEvidence reports why a can take no more evidence: it is REVOKED, or it
// holds MaxEvidencePerArtifact envelopes already. Nil when it can.
func (a *Artifact) TakesEvidence() error {
	if a.TrustState == TrustRevoked {
		return Errorf(KindInvalidTransition, "artifact %s is REVOKED; a revoked artifact takes no evidence", a.ID)
	}
	envelopes := map[string]bool{}
	for _, e := range a.Evidence {
		envelopes[e.EnvelopeSHA256] = true
	}
	if len(envelopes) >= MaxEvidencePerArtifact {
		return BadInput("artifactId", "artifact %s already holds %d evidence envelopes, the most one artifact keeps", a.ID, len(envelopes))
	}
	return nil
}

// ApplyEvidence records the judgements of one envelope on a: one Evidence and one
// VERIFIED verification record per judgement, trust derived again, and one
// app_artifact.evidence event. A REVOKED artifact takes no evidence.
func ApplyEvidence(a Artifact, p *Policy, format EvidenceFormat, envelopeSHA256, predicateType string, judgements []Judgement, actor Actor, correlationID string, now time.Time) (Artifact, error) {
	if err := a.TakesEvidence(); err != nil {
		return a, err
	}
	if len(judgements) == 0 {
		return a, Errorf(KindInternal, "evidence decided no check")
	}
	evs := append([]Evidence(nil), a.Evidence...)
	var records []VerificationRecord
	var checks []string
	for _, j := range judgements {
		id := EvidenceID(a.ID, envelopeSHA256, j.Check)
		keyIDs := append([]string{}, j.KeyIDs...)
		var prov *ProvenanceFacts
		if j.Provenance != nil && j.Check == CheckSourcePolicy {
			pf := j.Provenance.Bounded()
			prov = &pf
		}
		evs = append(evs, Evidence{
			ID: id, Format: format, Check: j.Check, Result: j.Result, Detail: truncate(j.Detail, MaxDetailLength),
			PredicateType: predicateType, KeyIDs: keyIDs, EnvelopeSHA256: envelopeSHA256,
			SubmittedBy: actor.Subject, SubmittedAt: now, PolicyVersion: p.Version, Provenance: prov,
		})
		records = append(records, VerificationRecord{
			Check: j.Check, Result: j.Result, Detail: truncate(j.Detail, MaxDetailLength), RecordedBy: actor.Subject, RecordedAt: now,
			PolicyVersion: p.VersionRef(), Basis: BasisVerified, EvidenceID: id,
		})
		checks = append(checks, fmt.Sprintf("%s %s", j.Check, j.Result))
	}
	from, key := a.TrustState, a.TrustKey()
	a.Evidence = evs
	a.Verification = MergeVerification(a.Verification, records)
	// Records resting only on revoked keys count as no result (trust.go).
	a.Verification, _, _ = DeriveRecords(&a, p, actor.Subject, now)
	a.TrustState = TrustFromRecords(a.Verification, p)
	a.noteTrustChange(key)
	ev := a.Event(ActionEvidence, actor, correlationID, fmt.Sprintf("%s evidence %.12s: %s", format, envelopeSHA256, strings.Join(checks, ", ")), now)
	ev.FromState, ev.ToState = string(from), string(a.TrustState)
	ev.Verification = records
	ev.PolicyVersion = p.VersionRef()
	a.Audit = append(append([]AuditEvent(nil), a.Audit...), ev)
	a.UpdatedAt = now
	return a, nil
}
