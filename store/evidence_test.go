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
