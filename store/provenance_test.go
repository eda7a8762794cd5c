package store

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/artifact-trust/control-plane/evidence"
	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// SLSA provenance verdicts follow the current provenance rules: decisions judge
// the builder and source repository kept with the evidence again at once, and a
// provenance-only policy change starts the background re-derivation.

const (
	builderA = "https://builders.example.com/a"
	builderB = "https://builders.example.com/b"
	acmeRepo = "https://github.com/acme/"
)

// provPolicy is rdPolicy allowing registry.example.com/ with provenance rules
// allowing builders.
func provPolicy(builders ...string) model.PolicyInput {
	in := rdPolicy("registry.example.com/")
	in.Provenance = &model.ProvenancePolicy{BuilderIDs: builders, SourceRepositories: []string{acmeRepo}}
	return in
}

// slsaEnvelope is a DSSE envelope, signed with priv, carrying SLSA provenance v1
// about digest built by builder from repo.
func slsaEnvelope(t *testing.T, priv ed25519.PrivateKey, digest, builder, repo string) string {
	t.Helper()
	alg, hexDigest, _ := strings.Cut(digest, ":")
	statement, err := json.Marshal(map[string]any{
		"_type":         evidence.StatementTypeV1,
		"subject":       []any{map[string]any{"name": "image", "digest": map[string]string{alg: hexDigest}}},
		"predicateType": evidence.PredicateSLSAProvenance1,
		"predicate": map[string]any{
			"buildDefinition": map[string]any{
				"buildType":          "https://builders.example.com/buildtypes/v1",
				"externalParameters": map[string]any{"repository": repo, "ref": "refs/heads/main"},
			},
			"runDetails": map[string]any{"builder": map[string]any{"id": builder}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	sig := ed25519.Sign(priv, dsse.PAE(evidence.PayloadTypeInToto, statement))
	env, err := json.Marshal(map[string]any{
		"payloadType": evidence.PayloadTypeInToto,
		"payload":     base64.StdEncoding.EncodeToString(statement),
		"signatures":  []any{map[string]string{"keyid": "", "sig": base64.StdEncoding.EncodeToString(sig)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(env)
}

// provFixture: a project with a trusted key for ATTESTATION and SOURCE_POLICY,
// provenance rules allowing builders A and B, and, promoted into DEV/eu oldest
// first, an artifact without evidence ("plain"), one with provenance from
// builder B and two with provenance from builder A (the newest).
type provFixture struct {
	*rdFixture
	plain, fromB string
	fromA        []string
	v1           *model.Policy
}

func newProvFixture(t *testing.T) *provFixture {
	t.Helper()
	return setUpProv(t, openRD(t, t.TempDir(), false))
}

// setUpProv sets up the project of provFixture in rd.
func setUpProv(t *testing.T, rd *rdFixture) *provFixture {
	t.Helper()
	ctx := context.Background()
	f := &provFixture{rdFixture: rd}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AddTrustedKey(ctx, rdAdmin, rdProject, model.TrustedKeyInput{
		PublicKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
		Checks:       []model.Check{model.CheckAttestation, model.CheckSourcePolicy},
	}); err != nil {
		t.Fatal(err)
	}
	var arts []*model.Artifact
	builders := map[string]string{}
	for i, name := range []string{"plain", "b-0", "a-0", "a-1"} {
		a := rdArtifact(t, name, t0.Add(time.Duration(i)*time.Minute), "")
		arts = append(arts, a)
		switch {
		case name == "plain":
			f.plain = a.ID
		case strings.HasPrefix(name, "b"):
			f.fromB, builders[a.ID] = a.ID, builderB
		default:
			f.fromA, builders[a.ID] = append(f.fromA, a.ID), builderA
		}
	}
	if err := f.s.InsertArtifactsBulk(ctx, arts); err != nil {
		t.Fatal(err)
	}
	rq := rdAdmin
	rq.CorrelationID = "corr-v1"
	if f.v1, err = f.svc.SetPolicy(ctx, rq, rdProject, provPolicy(builderA, builderB)); err != nil {
		t.Fatal(err)
	}
	for _, a := range arts {
		builder, ok := builders[a.ID]
		if !ok {
			continue
		}
		after, evs, err := f.svc.SubmitEvidence(ctx, rdAdmin, a.ID, evidence.Submission{DSSE: slsaEnvelope(t, priv, a.Digest, builder, acmeRepo+a.ID)})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 2 || !after.Passed(model.CheckSourcePolicy) || after.TrustState != model.TrustVerified {
			t.Fatalf("%s: evidence %+v, trust %s", a.ID, evs, after.TrustState)
		}
	}
	if got := f.deployable(t); got != f.fromA[1] {
		t.Fatalf("before: deployable %q, want %q", got, f.fromA[1])
	}
	return f
}

func (f *provFixture) setProv(t *testing.T, corr string, in model.PolicyInput) *model.Policy {
	t.Helper()
	rq := rdAdmin
	rq.CorrelationID = corr
	p, err := f.svc.SetPolicy(context.Background(), rq, rdProject, in)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *provFixture) record(t *testing.T, id string) model.VerificationRecord {
	t.Helper()
	a, err := f.s.GetArtifact(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := a.Record(model.CheckSourcePolicy)
	return r
}

func TestProvenanceRulesTightenedStopDeployableAtOnceAndStoredTrustFollowsWithOneEventPerChangedArtifact(t *testing.T) {
	t.Parallel()
	f := newProvFixture(t)
	ctx := context.Background()
	newest := f.fromA[1]

	// Builder A is no longer allowed: only the provenance rules change.
	tight := f.setProv(t, "corr-tighten", provPolicy(builderB))
	if got := f.deployable(t); got != f.fromB {
		t.Fatalf("after the tightening: deployable %q, want the newest artifact built by B %q", got, f.fromB)
	}
	from, to, err := f.svc.EnvironmentDiff(ctx, rdAdmin, rdProject, service.Side{Channel: model.ChannelDev, TargetEnvironment: "eu"}, service.Side{Channel: model.ChannelDev, TargetEnvironment: "us"})
	if err != nil || !from.Found || from.Placement.Artifact.ID != f.fromB || to.Found {
		t.Fatalf("environmentDiff: %+v %+v %v", from, to, err)
	}
	if f.trust(t, newest) != model.TrustVerified {
		t.Fatal("the stored trust changed without the background work")
	}
	wantReason := fmt.Sprintf("stored as VERIFIED, it is FAILED_VERIFICATION under the current policy (version %d): its SLSA provenance fails the current provenance rules (builder %s is not one of the policy's provenance builderIds)", tight.Version, builderA)
	req := model.PromotionRequest{Channel: model.ChannelDev, TargetEnvironment: "us"}
	d, err := f.svc.EvaluatePromotion(ctx, rdAdmin, newest, req)
	if err != nil || d.Allowed() || !strings.Contains(strings.Join(d.Reasons, "\n"), wantReason) {
		t.Fatalf("evaluatePromotion: %q %v", d.Reasons, err)
	}
	if _, err := f.svc.Promote(ctx, rdAdmin, newest, req); !model.IsKind(err, model.KindPolicyDenied) || !strings.Contains(err.Error(), wantReason) {
		t.Fatalf("promoteArtifact: %v", err)
	}
	if d, err := f.svc.EvaluatePromotion(ctx, rdAdmin, f.fromB, req); err != nil || !d.Allowed() {
		t.Fatalf("the artifact built by B: %q %v", d.Reasons, err)
	}

	// The background work brings the stored trust up to date: one event per
	// artifact built by A, naming the change.
	f.close()
	f.rdFixture = openRD(t, f.dir, true)
	job := f.waitFor(t, model.PolicyReason(tight.Version))
	if job.Changed != len(f.fromA) || job.Done != 4 {
		t.Fatalf("job %+v, want 4 done, %d changed", job, len(f.fromA))
	}
	evs := f.events(t, "corr-tighten")
	if len(evs) != len(f.fromA) {
		t.Fatalf("events for %d artifacts, want %d: %+v", len(evs), len(f.fromA), evs)
	}
	for _, id := range f.fromA {
		if len(evs[id]) != 1 {
			t.Fatalf("%s: %d events of the change, want 1", id, len(evs[id]))
		}
		ev := evs[id][0]
		if ev.Actor != "carol" || ev.Reason != job.Reason || ev.FromState != "VERIFIED" || ev.ToState != "FAILED_VERIFICATION" ||
			ev.PolicyVersion == nil || *ev.PolicyVersion != tight.Version || len(ev.Verification) != 1 || ev.Verification[0].Check != model.CheckSourcePolicy {
			t.Fatalf("event %+v", ev)
		}
		r := f.record(t, id)
		if f.trust(t, id) != model.TrustFailedVerification || r.Result != model.ResultFailed || r.Basis != model.BasisVerified ||
			!strings.Contains(r.Detail, "builder "+builderA+" is not one of the policy's provenance builderIds") {
			t.Fatalf("%s: stored %s, record %+v", id, f.trust(t, id), r)
		}
	}
	for _, id := range []string{f.fromB, f.plain} {
		if f.trust(t, id) != model.TrustVerified {
			t.Errorf("%s stored %s", id, f.trust(t, id))
		}
	}
	page, err := f.svc.Artifacts(ctx, rdAdmin, rdProject, service.ArtifactFilter{TrustState: model.TrustFailedVerification}, nil, "")
	if err != nil || page.TotalCount != len(f.fromA) {
		t.Fatalf("list of FAILED_VERIFICATION: %d, %v", page.TotalCount, err)
	}
}

func TestProvenanceRulesLoosenedMakeAFailedProvenanceVerdictDeployableAgain(t *testing.T) {
	t.Parallel()
	f := newProvFixture(t)
	newest := f.fromA[1]
	tight := f.setProv(t, "corr-tighten", provPolicy(builderB))
	f.close()
	f.rdFixture = openRD(t, f.dir, true)
	f.waitFor(t, model.PolicyReason(tight.Version))
	if f.trust(t, newest) != model.TrustFailedVerification || f.deployable(t) != f.fromB {
		t.Fatalf("after the tightening: stored %s, deployable %q", f.trust(t, newest), f.deployable(t))
	}

	// Builder A allowed again: decisions follow at once, before any background work.
	f.stop()
	loose := f.setProv(t, "corr-loosen", provPolicy(builderA, builderB))
	if got := f.deployable(t); got != newest {
		t.Fatalf("after loosening: deployable %q, want %q", got, newest)
	}
	if d, err := f.svc.EvaluatePromotion(context.Background(), rdAdmin, newest, model.PromotionRequest{Channel: model.ChannelDev, TargetEnvironment: "us"}); err != nil || !d.Allowed() {
		t.Fatalf("evaluatePromotion after loosening: %q %v", d.Reasons, err)
	}
	if f.trust(t, newest) != model.TrustFailedVerification {
		t.Fatal("the stored trust changed without the background work")
	}
	f.close()
	f.rdFixture = openRD(t, f.dir, true)
	job := f.waitFor(t, model.PolicyReason(loose.Version))
	evs := f.events(t, "corr-loosen")
	if job.Changed != len(f.fromA) || len(evs) != len(f.fromA) {
		t.Fatalf("job %+v, events %+v", job, evs)
	}
	for _, id := range f.fromA {
		r := f.record(t, id)
		if f.trust(t, id) != model.TrustVerified || len(evs[id]) != 1 || evs[id][0].ToState != "VERIFIED" ||
			r.Result != model.ResultPassed || r.Basis != model.BasisVerified || r.EvidenceID == "" {
			t.Fatalf("%s: stored %s, record %+v, events %+v", id, f.trust(t, id), r, evs[id])
		}
	}

	// A change that touches no trust input (governance only) starts no walk: the
	// job a change starts is recorded before setProjectPolicy returns.
	in := provPolicy(builderB, builderA) // the same rules, in another order
	in.Channels[0].PromoterSubjects = []string{"bob"}
	gov := f.setProv(t, "corr-governance", in)
	r, err := f.svc.TrustReevaluation(context.Background(), rdAdmin, rdProject)
	if err != nil || r.PolicyVersion != loose.Version || r.Reason != model.PolicyReason(loose.Version) || gov.Version != loose.Version+1 {
		t.Fatalf("a change of no trust input started a re-derivation: %+v %v", r, err)
	}
}

func TestProvenanceVerdictsAreDecidedFromTheReadModelsFactsWithoutLoadingTheArtifacts(t *testing.T) {
	t.Parallel()
	counter := &commandCounter{}
	s, err := Open(context.Background(), Config{DataDir: t.TempDir(), caps: bucketCaps{list: 4, feed: 16, chans: 4}, monitor: counter.monitor()}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	rd := &rdFixture{s: s, svc: service.New(s), stop: func() {}}
	ctx, cancel := context.WithCancel(context.Background())
	wait := rd.svc.RunReevaluations(ctx)
	rd.stop = func() { cancel(); wait() }
	t.Cleanup(rd.close)
	f := setUpProv(t, rd)
	f.waitFor(t, model.PolicyReason(f.v1.Version))

	// deployable skips the promotions whose provenance the current rules refuse
	// from the channel log's facts: it loads only the artifact it answers with.
	var tight *model.Policy
	f.stop()
	tight = f.setProv(t, "corr-tighten", provPolicy(builderB))
	// None of the artifacts is left in the document cache, so every artifact
	// deployable loads is counted.
	for _, id := range append([]string{f.plain, f.fromB}, f.fromA...) {
		s.artifactWritten(id)
	}
	var got string
	n := counter.during(func() { got = f.deployable(t) })
	if got != f.fromB || n["find artifacts"] != 1 {
		t.Fatalf("deployable %q after the tightening sent %v", got, n)
	}
	// The walk tells from the list's facts which artifacts' trust changes: it
	// reads and writes those built by A, and no other (a part of the walk that is
	// run again loads its pending artifacts again: they are read at least once).
	ctx2, cancel2 := context.WithCancel(context.Background())
	wait2 := f.svc.RunReevaluations(ctx2)
	f.rdFixture.stop = func() { cancel2(); wait2() }
	s.cache.clear()
	all := counter.during(func() { f.waitFor(t, model.PolicyReason(tight.Version)) })
	var wantRead []string
	for _, id := range f.fromA {
		wantRead = append(wantRead, fmt.Sprintf("%q", id))
	}
	slices.Sort(wantRead)
	if read := counter.foundIDs("artifacts"); !slices.Equal(read, wantRead) || all["update artifacts"] != len(f.fromA) {
		t.Fatalf("the tightening changed %d artifacts with %v, reading %v", len(f.fromA), all, read)
	}
}

func TestAnUnfinishedJobFingerprintedBeforeProvenanceRulesCountedIsFinishedAfterARestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newProvFixture(t)
	tight := f.setProv(t, "corr-tighten", provPolicy(builderB))
	// The job as a process before the provenance rules counted in the fingerprint
	// recorded it, stopped halfway.
	st, err := f.s.Reevaluation(ctx, rdProject)
	if err != nil || st == nil || st.Job.PolicyVersion != tight.Version {
		t.Fatalf("job %+v %v", st, err)
	}
	legacy := *tight
	legacy.Provenance = nil
	st.Job.Inputs, st.Job.Cursor, st.Job.Done = legacy.TrustInputs(), 1, 4
	if err := f.s.PutReevaluation(ctx, st); err != nil {
		t.Fatal(err)
	}
	f.close()
	f.rdFixture = openRD(t, f.dir, true)
	job := f.waitFor(t, model.PolicyReason(tight.Version))
	if job.Inputs != tight.TrustInputs() || job.Changed != len(f.fromA) || job.Done != 4 || job.CorrelationID != "corr-tighten" {
		t.Fatalf("job %+v", job)
	}
	if evs := f.events(t, "corr-tighten"); len(evs) != len(f.fromA) {
		t.Fatalf("events %+v", evs)
	}
}
