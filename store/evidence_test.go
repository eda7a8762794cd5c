package store

import (
	"bytes"
	"context"
	"testing"

	"github.com/artifact-trust/control-plane/model"
)

func TestEnvelopesAreKeptByArtifactAndSHA256AndARetryOverwritesTheSameDocument(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	a := newArtifact("payments", "api", t0)
	raw := []byte(`{"payloadType":"application/vnd.in-toto+json"}`)
	for i := 0; i < 2; i++ {
		if err := s.PutEnvelope(ctx, a, model.FormatDSSEInToto, "abc", raw, t0); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Envelope(ctx, a, "abc")
	if err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("envelope = %q, %v", got, err)
	}
	n, err := s.envelopes.CountDocuments(ctx, map[string]any{})
	if err != nil || n != 1 {
		t.Fatalf("%d envelope documents, %v", n, err)
	}
	other := newArtifact("payments", "web", t0)
	_, err = s.Envelope(ctx, other, "abc")
	wantKind(t, err, model.KindNotFound)
}

// TestDeleteEnvelopeKeepsTheEnvelopeOfRecordedEvidence: the envelope of a refused
// submission goes; one the stored artifact holds evidence from (a concurrent
// submission of the same envelope recorded it) stays.
func TestDeleteEnvelopeKeepsTheEnvelopeOfRecordedEvidence(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	a := newArtifact("payments", "api", t0)
	a.Evidence = []model.Evidence{{ID: "ev_1", Format: model.FormatDSSEInToto, Check: model.CheckAttestation, Result: model.ResultPassed,
		EnvelopeSHA256: "held", SubmittedBy: "v", SubmittedAt: t0}}
	mustInsert(t, s, a)
	for _, sha := range []string{"held", "refused"} {
		if err := s.PutEnvelope(ctx, a, model.FormatDSSEInToto, sha, []byte(`{}`), t0); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteEnvelope(ctx, a, sha); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Envelope(ctx, a, "held"); err != nil {
		t.Errorf("the envelope of recorded evidence was deleted: %v", err)
	}
	_, err := s.Envelope(ctx, a, "refused")
	wantKind(t, err, model.KindNotFound)
}
