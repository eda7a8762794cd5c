package model

import "testing"

func TestCheckKindSourceAllowsOCIKindsOnlyFromRegistryAndNonOCIOnlyFromObjectStoreOrHTTPS(t *testing.T) {
	allowed := map[ArtifactKind]map[SourceType]bool{
		KindOCIImage:    {SourceOCIRegistry: true},
		KindOCIArtifact: {SourceOCIRegistry: true},
		KindArchive:     {SourceObjectStore: true, SourceHTTPS: true},
		KindBinary:      {SourceObjectStore: true, SourceHTTPS: true},
	}
	n := 0
	for _, k := range AllArtifactKinds {
		for _, st := range AllSourceTypes {
			n++
			k, st := k, st
			t.Run(string(k)+"_from_"+string(st), func(t *testing.T) {
				err := CheckKindSource(k, st)
				if allowed[k][st] {
					if err != nil {
						t.Fatalf("CheckKindSource(%s, %s) = %v, want nil", k, st, err)
					}
					return
				}
				if k.IsOCI() {
					wantBadInput(t, err, "sourceType", "must come from OCI_REGISTRY", string(st))
				} else {
					wantBadInput(t, err, "sourceType", "not OCI", "OBJECT_STORE or HTTPS")
				}
			})
		}
	}
	if n != 12 {
		t.Fatalf("expected 4 kinds x 3 source types = 12 pairs, got %d", n)
	}
}

func TestCheckKindSourceRefusesUnknownKindAndSourceType(t *testing.T) {
	tests := []struct {
		name  string
		kind  ArtifactKind
		st    SourceType
		field string
		msg   string
	}{
		{"unknown kind", "HELM_CHART", SourceOCIRegistry, "kind", `unknown artifact kind "HELM_CHART"`},
		{"empty kind", "", SourceOCIRegistry, "kind", "unknown artifact kind"},
		{"lowercase kind", "oci_image", SourceOCIRegistry, "kind", "unknown artifact kind"},
		{"unknown source type", KindOCIImage, "GIT", "sourceType", `unknown source type "GIT"`},
		{"empty source type", KindArchive, "", "sourceType", "unknown source type"},
		{"both unknown reports kind first", "X", "Y", "kind", "unknown artifact kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantBadInput(t, CheckKindSource(tt.kind, tt.st), tt.field, tt.msg)
		})
	}
}

func TestKindAndSourceTypePredicates(t *testing.T) {
	for _, k := range AllArtifactKinds {
		if !k.Valid() {
			t.Errorf("%s not Valid", k)
		}
	}
	if ArtifactKind("NOPE").Valid() || SourceType("NOPE").Valid() {
		t.Error("unknown kind/source type reported valid")
	}
	wantOCI := map[ArtifactKind]bool{KindOCIImage: true, KindOCIArtifact: true, KindArchive: false, KindBinary: false}
	for k, w := range wantOCI {
		if k.IsOCI() != w {
			t.Errorf("%s.IsOCI() = %v, want %v", k, !w, w)
		}
		a := Artifact{Kind: k}
		if a.OCI() != w {
			t.Errorf("Artifact{Kind:%s}.OCI() = %v, want %v", k, !w, w)
		}
	}
}

func TestChannelOrderAndPrevious(t *testing.T) {
	tests := []struct {
		c        Channel
		rank     int
		prev     Channel
		hasPrev  bool
		validity bool
	}{
		{ChannelDev, 0, "", false, true},
		{ChannelTest, 1, ChannelDev, true, true},
		{ChannelStaging, 2, ChannelTest, true, true},
		{ChannelProd, 3, ChannelStaging, true, true},
		{"QA", -1, "", false, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.c), func(t *testing.T) {
			if got := tt.c.Rank(); got != tt.rank {
				t.Errorf("Rank = %d, want %d", got, tt.rank)
			}
			if got := tt.c.Valid(); got != tt.validity {
				t.Errorf("Valid = %v, want %v", got, tt.validity)
			}
			p, ok := tt.c.Previous()
			if p != tt.prev || ok != tt.hasPrev {
				t.Errorf("Previous = (%q, %v), want (%q, %v)", p, ok, tt.prev, tt.hasPrev)
			}
		})
	}
}

func TestChecksAreBaselineOrReserved(t *testing.T) {
	baseline := []Check{CheckDigestPresent, CheckDigestCanonical, CheckKindExplicit, CheckSourceTypeExplicit, CheckSourceAllowlisted}
	reserved := []Check{CheckSignature, CheckAttestation, CheckBlobDigest, CheckSourcePolicy}
	for _, c := range baseline {
		if !c.IsBaseline() || c.IsReserved() || !c.Valid() {
			t.Errorf("%s should be baseline only", c)
		}
	}
	for _, c := range reserved {
		if c.IsBaseline() || !c.IsReserved() || !c.Valid() {
			t.Errorf("%s should be reserved only", c)
		}
	}
	if Check("SBOM").Valid() {
		t.Error("unknown check reported valid")
	}
	if !ResultPassed.Valid() || !ResultFailed.Valid() || CheckResult("SKIPPED").Valid() {
		t.Error("CheckResult.Valid wrong")
	}
}

func TestArtifactIDIsDeterministicPerProjectAndDigest(t *testing.T) {
	a := ArtifactID("payments", testSHA256)
	if a != ArtifactID("payments", testSHA256) {
		t.Fatal("ArtifactID not deterministic")
	}
	if len(a) != len("art_")+32 || a[:4] != "art_" {
		t.Fatalf("ArtifactID = %q, want art_ + 32 hex", a)
	}
	others := []string{ArtifactID("billing", testSHA256), ArtifactID("payments", testSHA256b), ArtifactID("payments"+testSHA256[:1], testSHA256[1:])}
	for _, o := range others {
		if o == a {
			t.Errorf("ArtifactID collision: %q", o)
		}
	}
}
