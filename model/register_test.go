package model

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestRegisterInputValidateAcceptsGoodInputAndNormalisesTags(t *testing.T) {
	tests := []struct {
		name     string
		in       RegisterInput
		wantTags []string
	}{
		{"oci image with tags", ociInput(), []string{"v1.2.3", "latest"}},
		{"duplicate tags removed keeping first order", func() RegisterInput {
			in := ociInput()
			in.Tags = []string{"b", "a", "b", "a", "c"}
			return in
		}(), []string{"b", "a", "c"}},
		{"nil tags become empty", func() RegisterInput { in := ociInput(); in.Tags = nil; return in }(), []string{}},
		{"archive from object store with runtime class", RegisterInput{
			Project: testProject, Digest: testSHA512, Kind: KindArchive, SourceType: SourceObjectStore,
			Source: "s3://bucket/app.tar.gz", RuntimeClass: "wasm",
		}, []string{}},
		{"binary over https", RegisterInput{
			Project: testProject, Digest: testSHA256, Kind: KindBinary, SourceType: SourceHTTPS,
			Source: "https://downloads.example.com/app", Tags: []string{"stable"},
		}, []string{"stable"}},
		{"exactly 50 tags", func() RegisterInput {
			in := ociInput()
			in.Tags = nil
			for i := 0; i < MaxTags; i++ {
				in.Tags = append(in.Tags, fmt.Sprintf("t%d", i))
			}
			return in
		}(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := append([]string(nil), tt.in.Tags...)
			got, err := tt.in.Validate()
			if err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
			if got.Digest != tt.in.Digest || got.Project != tt.in.Project || got.Kind != tt.in.Kind ||
				got.SourceType != tt.in.SourceType || got.Source != tt.in.Source || got.RuntimeClass != tt.in.RuntimeClass {
				t.Errorf("Validate changed fields: %+v -> %+v", tt.in, got)
			}
			if tt.wantTags != nil && !reflect.DeepEqual(got.Tags, tt.wantTags) {
				t.Errorf("tags = %#v, want %#v", got.Tags, tt.wantTags)
			}
			if tt.wantTags == nil && len(got.Tags) != MaxTags {
				t.Errorf("got %d tags, want %d", len(got.Tags), MaxTags)
			}
			if !reflect.DeepEqual(append([]string(nil), tt.in.Tags...), orig) {
				t.Errorf("input tags mutated: %v -> %v", orig, tt.in.Tags)
			}
		})
	}
}

func TestRegisterInputValidateNamesTheBadField(t *testing.T) {
	mod := func(f func(*RegisterInput)) RegisterInput {
		in := ociInput()
		f(&in)
		return in
	}
	many := make([]string, MaxTags+1)
	for i := range many {
		many[i] = fmt.Sprintf("t%d", i)
	}
	tooMany := make([]string, MaxPolicyListLength+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("t%d", i)
	}
	tests := []struct {
		name  string
		in    RegisterInput
		field string
		msg   string
	}{
		{"empty project", mod(func(in *RegisterInput) { in.Project = "" }), "project", "must not be empty"},
		{"bad project chars", mod(func(in *RegisterInput) { in.Project = "pay/ments" }), "project", "may only contain"},
		{"star project", mod(func(in *RegisterInput) { in.Project = "*" }), "project", "may only contain"},
		{"bad digest", mod(func(in *RegisterInput) { in.Digest = "sha256:abc" }), "digest", "64 hex characters"},
		{"empty digest", mod(func(in *RegisterInput) { in.Digest = "" }), "digest", "is empty"},
		{"unknown kind", mod(func(in *RegisterInput) { in.Kind = "HELM" }), "kind", "unknown artifact kind"},
		{"unknown source type", mod(func(in *RegisterInput) { in.SourceType = "FTP" }), "sourceType", "unknown source type"},
		{"oci image from https", mod(func(in *RegisterInput) { in.SourceType = SourceHTTPS }), "sourceType", "must come from OCI_REGISTRY"},
		{"archive from registry", mod(func(in *RegisterInput) { in.Kind = KindArchive }), "sourceType", "not OCI"},
		{"empty source", mod(func(in *RegisterInput) { in.Source = "" }), "source", "must not be empty"},
		{"source with space", mod(func(in *RegisterInput) { in.Source = "registry.example.com/a b" }), "source", "white-space"},
		{"source too long", mod(func(in *RegisterInput) { in.Source = strings.Repeat("a", MaxSourceLength+1) }), "source", "at most 2048"},
		{"bad runtime class", mod(func(in *RegisterInput) { in.RuntimeClass = "Kata_Containers" }), "runtimeClass", "may only contain"},
		{"bad tag", mod(func(in *RegisterInput) { in.Tags = []string{"ok", "-bad"} }), "tags[1]", "may only contain"},
		{"empty tag", mod(func(in *RegisterInput) { in.Tags = []string{""} }), "tags[0]", "must not be empty"},
		{"51 tags", mod(func(in *RegisterInput) { in.Tags = many }), "tags", "has 51 entries, at most 50 allowed"},
		{"101 tags: the tag limit is named, not the policy list limit", mod(func(in *RegisterInput) { in.Tags = tooMany }), "tags", "has 101 entries, at most 50 allowed"},
		{"200,000 tags refused by count before any is checked", mod(func(in *RegisterInput) { in.Tags = make([]string, 200_000) }), "tags", "has 200000 entries, at most 50 allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.in.Validate()
			wantBadInput(t, err, tt.field, tt.msg)
		})
	}
}

func TestCheckRegistrationWithDefaultPolicyAllowsOCIAndDeniesNonOCI(t *testing.T) {
	p := DefaultPolicy(testProject)
	tests := []struct {
		name   string
		kind   ArtifactKind
		st     SourceType
		rc     string
		denied bool
	}{
		{"oci image", KindOCIImage, SourceOCIRegistry, "", false},
		{"oci artifact", KindOCIArtifact, SourceOCIRegistry, "", false},
		{"archive from object store", KindArchive, SourceObjectStore, "", true},
		{"binary over https", KindBinary, SourceHTTPS, "", true},
		{"binary with runtime class", KindBinary, SourceHTTPS, "wasm", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := RegisterInput{Project: testProject, Digest: testSHA256, Kind: tt.kind, SourceType: tt.st, Source: "x", RuntimeClass: tt.rc}
			err := CheckRegistration(&p, in)
			if !tt.denied {
				if err != nil {
					t.Fatalf("CheckRegistration = %v, want nil", err)
				}
				return
			}
			e := asError(t, err, KindPolicyDenied)
			wantReasons(t, e.Reasons, 1, "non-OCI artifacts ("+string(tt.kind)+") are not allowed in project payments", "allowNonOci")
			if !strings.Contains(e.Message, e.Reasons[0]) {
				t.Errorf("message %q does not carry the reason", e.Message)
			}
		})
	}
}

func TestCheckRegistrationWithCustomPolicies(t *testing.T) {
	type pol struct {
		types    []SourceType
		nonOCI   bool
		runtimes []string
	}
	tests := []struct {
		name    string
		pol     pol
		kind    ArtifactKind
		st      SourceType
		rc      string
		reasons []string // nil: allowed
	}{
		{"registry only allows oci", pol{[]SourceType{SourceOCIRegistry}, false, nil}, KindOCIImage, SourceOCIRegistry, "", nil},
		{"source type not allowed", pol{[]SourceType{SourceObjectStore}, true, nil}, KindOCIImage, SourceOCIRegistry, "",
			[]string{"source type OCI_REGISTRY is not allowed in project payments (allowed: OBJECT_STORE)"}},
		{"non-oci allowed for project", pol{AllSourceTypes, true, nil}, KindArchive, SourceObjectStore, "", nil},
		{"non-oci allowed, https source not allowed", pol{[]SourceType{SourceObjectStore}, true, nil}, KindBinary, SourceHTTPS, "",
			[]string{"source type HTTPS is not allowed"}},
		{"source type and non-oci both refused lists both reasons", pol{[]SourceType{SourceOCIRegistry}, false, nil}, KindArchive, SourceHTTPS, "",
			[]string{"source type HTTPS is not allowed", "non-OCI artifacts (ARCHIVE) are not allowed"}},
		{"runtime classes set, matching class", pol{AllSourceTypes, true, []string{"wasm", "gvisor"}}, KindBinary, SourceHTTPS, "gvisor", nil},
		{"runtime classes set, missing class", pol{AllSourceTypes, true, []string{"wasm", "gvisor"}}, KindBinary, SourceHTTPS, "",
			[]string{"need a runtime class, one of: wasm, gvisor"}},
		{"runtime classes set, other class", pol{AllSourceTypes, true, []string{"wasm"}}, KindArchive, SourceObjectStore, "kata",
			[]string{"not allowed for runtime class kata in project payments (allowed: wasm)"}},
		{"runtime classes do not restrict oci", pol{AllSourceTypes, true, []string{"wasm"}}, KindOCIImage, SourceOCIRegistry, "", nil},
		{"runtime classes alone do not enable non-oci", pol{AllSourceTypes, false, []string{"wasm"}}, KindBinary, SourceHTTPS, "wasm",
			[]string{"non-OCI artifacts (BINARY) are not allowed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := DefaultPolicy(testProject)
			p.AllowedSourceTypes, p.AllowNonOCI, p.NonOCIRuntimeClasses = tt.pol.types, tt.pol.nonOCI, tt.pol.runtimes
			in := RegisterInput{Project: testProject, Digest: testSHA256, Kind: tt.kind, SourceType: tt.st, Source: "x", RuntimeClass: tt.rc}
			err := CheckRegistration(&p, in)
			if tt.reasons == nil {
				if err != nil {
					t.Fatalf("CheckRegistration = %v, want nil", err)
				}
				return
			}
			e := asError(t, err, KindPolicyDenied)
			wantReasons(t, e.Reasons, len(tt.reasons), tt.reasons...)
		})
	}
}

func TestNewArtifactIsPublishedUnverifiedWithOneRegisterEvent(t *testing.T) {
	in, err := ociInput().Validate()
	if err != nil {
		t.Fatal(err)
	}
	a := NewArtifact(in, publisher, "corr-1", t0)
	want := Artifact{
		ID: ArtifactID(testProject, testSHA256), Project: testProject, Digest: testSHA256,
		Kind: KindOCIImage, SourceType: SourceOCIRegistry, Source: testSource, Tags: []string{"v1.2.3", "latest"},
		LifecycleState: LifecyclePublished, TrustState: TrustUnverified,
		Verification: []VerificationRecord{}, Promotions: []Promotion{}, Version: 1, CreatedAt: t0, UpdatedAt: t0,
		RegisteredBy: "alice",
		Audit: []AuditEvent{{
			Action: ActionRegister, Actor: "alice", ActorType: ActorUser, Project: testProject,
			ArtifactID: ArtifactID(testProject, testSHA256), Digest: testSHA256, Kind: KindOCIImage,
			SourceType: SourceOCIRegistry, ToState: "PUBLISHED", CorrelationID: "corr-1", At: t0,
		}},
	}
	if !reflect.DeepEqual(a, want) {
		t.Fatalf("NewArtifact =\n%+v\nwant\n%+v", a, want)
	}
	in.Tags = nil
	if b := NewArtifact(in, publisher, "c", t0); b.Tags == nil {
		t.Error("nil tags should become an empty list")
	}
}

func TestRegistrationDiffNamesKindSourceTypeAndSourceOnly(t *testing.T) {
	a := newArt(t)
	tests := []struct {
		name string
		mod  func(*RegisterInput)
		diff string
	}{
		{"identical", func(*RegisterInput) {}, ""},
		{"different tags still same", func(in *RegisterInput) { in.Tags = []string{"other"} }, ""},
		{"different runtime class still same", func(in *RegisterInput) { in.RuntimeClass = "wasm" }, ""},
		{"different kind", func(in *RegisterInput) { in.Kind = KindOCIArtifact }, "kind OCI_ARTIFACT (registered OCI_IMAGE)"},
		{"different source type", func(in *RegisterInput) { in.SourceType = SourceHTTPS }, "sourceType HTTPS (registered OCI_REGISTRY)"},
		{"different source", func(in *RegisterInput) { in.Source = testSource + "2" }, "source " + testSource + "2 (registered " + testSource + ")"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := RegisterInput{Project: a.Project, Digest: a.Digest, Kind: a.Kind, SourceType: a.SourceType, Source: a.Source}
			tt.mod(&in)
			if got := strings.Join(a.RegistrationDiff(in), "; "); got != tt.diff {
				t.Errorf("RegistrationDiff = %q, want %q", got, tt.diff)
			}
		})
	}
}
