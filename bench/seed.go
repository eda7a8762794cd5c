package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/store"
)

// The data set: artifact i lives in project projectOf(i); its digest, id and whole
// trail are a pure function of i, so every phase of a run (and every run) addresses
// the same documents without keeping a list.

// numProjects is how many projects the artifacts are spread over.
const numProjects = 50

func projectOf(i int) string { return fmt.Sprintf("proj-%02d", i%numProjects) }

func digestFor(s string) string {
	h := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(h[:])
}

func digestOf(i int) string { return digestFor(fmt.Sprintf("seeded-artifact-%d", i)) }

func idOf(i int) string { return model.ArtifactID(projectOf(i), digestOf(i)) }

// Special artifacts, so filters and deployable have something to skip: 2% revoked
// and 4% deprecated, spread evenly over every project (k is the artifact's ordinal
// within its project).
func revoked(i int) bool    { return (i/numProjects)%50 == 13 }
func deprecated(i int) bool { return (i/numProjects)%25 == 3 }

// promotable reports whether artifact i can still be promoted and verified.
func promotable(i int) bool { return !revoked(i) && !deprecated(i) }

var (
	ciActor = func(p string) model.Actor {
		return actor("ci-release", model.ActorServiceAccount, p, model.RolePublisher, model.RoleVerifier)
	}
	aliceActor = func(p string) model.Actor { return actor("alice", model.ActorUser, p, model.RolePromoter) }
	bobActor   = func(p string) model.Actor { return actor("bob", model.ActorUser, p, model.RoleProjectAdmin) }
)

func actor(sub string, t model.ActorType, project string, roles ...model.Role) model.Actor {
	return model.Actor{Subject: sub, Type: t, Roles: map[string][]model.Role{project: roles}}
}

// benchPolicy is every project's policy: registry and object-store prefixes
// allowlisted, SIGNATURE required for VERIFIED, strict progression, PROD needing
// ATTESTATION and a project admin (the defaults).
func benchPolicy(project string, at time.Time) (model.Policy, model.PolicyChange, error) {
	p, err := model.NewPolicy(project, model.PolicyInput{
		AllowedSourceTypes: model.AllSourceTypes,
		AllowedSources:     []string{"registry.example.com/", "s3://artifacts-example/"},
		AllowNonOCI:        true,
		RequiredChecks:     []model.Check{model.CheckSignature},
		StrictProgression:  true,
	})
	if err != nil {
		return p, model.PolicyChange{}, err
	}
	p.Version, p.UpdatedAt, p.UpdatedBy = 1, at, "bench-admin"
	ch := model.PolicyChange{Project: project, Actor: "bench-admin", ActorType: model.ActorUser, FromVersion: 0, ToVersion: 1, CorrelationID: "bench-policy-" + project, At: at}
	return p, ch, nil
}

// registerInput is the registration of artifact i.
func registerInput(i int) model.RegisterInput { return registerInputIn(projectOf(i), i) }

// registerInputIn is the registration of artifact i in project p.
func registerInputIn(p string, i int) model.RegisterInput {
	in := model.RegisterInput{
		Project: p, Digest: digestOf(i),
		Kind: model.KindOCIImage, SourceType: model.SourceOCIRegistry,
		Source: fmt.Sprintf("registry.example.com/%s/svc-%d", p, i%7),
		Tags:   []string{fmt.Sprintf("v1.%d.%d", i/1000, i%1000), fmt.Sprintf("build-%d", i)},
	}
	if i%10 == 9 {
		in.Kind, in.SourceType, in.Source = model.KindArchive, model.SourceObjectStore, fmt.Sprintf("s3://artifacts-example/%s/bundle-%d.tar.gz", p, i)
	}
	if i%5 == 0 {
		in.Tags = append(in.Tags, "release")
	}
	return in
}

var submittedResults = []model.VerificationRecord{
	{Check: model.CheckSignature, Result: model.ResultPassed, Detail: "cosign: signature verified against the release key (keyless, Fulcio cert, Rekor entry)"},
	{Check: model.CheckAttestation, Result: model.ResultPassed, Detail: "SLSA provenance v1: builder https://ci.example.com/builders/release@v2, source matches"},
}

var seededKeyID = "3f2a9c1d0b7e" + strings.Repeat("0", 52)

var seededEvidence = []model.Judgement{
	{Check: model.CheckSignature, Result: model.ResultPassed, Detail: "cosign simple signing verified with key 3f2a9c1d0b7e", KeyIDs: []string{seededKeyID}},
	{Check: model.CheckAttestation, Result: model.ResultPassed, Detail: "in-toto statement (https://slsa.dev/provenance/v1) verified with key 3f2a9c1d0b7e", KeyIDs: []string{seededKeyID}},
}

// promotionPlan is the channels artifact i is promoted into, in order (2 to 4).
func promotionPlan(i int) []model.PromotionRequest {
	env := []string{"eu-west", "us-east"}[i%2]
	all := []model.PromotionRequest{
		{Channel: model.ChannelDev, Reason: "automatic after CI"},
		{Channel: model.ChannelTest, Reason: "integration suite green"},
		{Channel: model.ChannelStaging, Reason: "release candidate"},
		{Channel: model.ChannelProd, TargetEnvironment: env, Reason: "change CHG-" + fmt.Sprint(10000+i)},
	}
	return all[:2+i%3]
}

// artifactAt builds artifact i with its whole trail: registered, verified with
// submitted results, promoted 2-4 times, re-verified nightly up to 8 audit events,
// some revoked or deprecated at the end. Times start at base + i minutes.
func artifactAt(i int, base time.Time, pol *model.Policy) (*model.Artifact, error) {
	return artifactIn(projectOf(i), i, base, pol)
}

// artifactIn is artifactAt in project p.
func artifactIn(p string, i int, base time.Time, pol *model.Policy) (*model.Artifact, error) {
	t := base.Add(time.Duration(i) * time.Minute).UTC().Truncate(time.Millisecond)
	step := func(k int) time.Time { return t.Add(time.Duration(k) * 7 * time.Second) }
	corr := func(k int) string { return fmt.Sprintf("seed-%d-%d", i, k) }
	in, err := registerInputIn(p, i).Validate()
	if err != nil {
		return nil, err
	}
	a := model.NewArtifact(in, ciActor(p), corr(0), t)
	if a, err = model.Verify(a, pol, submittedResults, ciActor(p), corr(1), "release pipeline", step(1)); err != nil {
		return nil, err
	}
	// PROD counts SIGNATURE and ATTESTATION only from verified evidence (the default
	// policy): the seed records the verdicts the service gives a valid signature and
	// SLSA provenance, in one evidence event to keep the trail's length (the service
	// records them from two envelopes).
	if a, err = model.ApplyEvidence(a, pol, model.FormatDSSEInToto, fmt.Sprintf("%064x", i), "https://slsa.dev/provenance/v1",
		seededEvidence, ciActor(p), corr(1), step(1)); err != nil {
		return nil, err
	}
	for k, req := range promotionPlan(i) {
		who := aliceActor(p)
		if req.Channel == model.ChannelProd {
			who = bobActor(p)
		}
		if a, err = model.Promote(a, pol, who, req, corr(2+k), step(2+k)); err != nil {
			return nil, fmt.Errorf("artifact %d: promote %s: %w", i, req.Channel, err)
		}
	}
	last := 8
	if revoked(i) || deprecated(i) {
		last = 7
	}
	for k := len(a.Audit); k < last; k++ {
		if a, err = model.Verify(a, pol, nil, ciActor(p), corr(k), "nightly re-verification", step(k)); err != nil {
			return nil, err
		}
	}
	switch {
	case revoked(i):
		a, err = model.Revoke(a, bobActor(p), corr(8), "key compromise drill", step(8))
	case deprecated(i):
		a, err = model.Deprecate(a, bobActor(p), corr(8), "superseded", step(8))
	}
	if err != nil {
		return nil, err
	}
	a.Version = len(a.Audit)
	return &a, nil
}

// seedStats tells how a data set was seeded.
type seedStats struct {
	Path     string        // "store.InsertArtifactsBulk"
	Duration time.Duration // artifacts and policies
	Rate     float64       // artifacts per second
}

// seedStore opens the store on dataDir (embedded engine, in this process), writes
// the 50 project policies and n artifacts (store.InsertArtifactsBulk, in batches),
// and closes it.
func seedStore(ctx context.Context, dataDir string, n int, base time.Time, logf func(string, ...any)) (seedStats, error) {
	st, err := store.Open(ctx, store.Config{DataDir: dataDir}, nil)
	if err != nil {
		return seedStats{}, err
	}
	defer st.Close(context.WithoutCancel(ctx))
	start := time.Now()
	policies := map[string]*model.Policy{}
	for p := 0; p < numProjects; p++ {
		name := projectOf(p)
		pol, ch, err := benchPolicy(name, base)
		if err != nil {
			return seedStats{}, err
		}
		if err := st.PutPolicy(ctx, &pol, ch); err != nil {
			return seedStats{}, fmt.Errorf("policy %s: %w", name, err)
		}
		policies[name] = &pol
	}
	stats := seedStats{Path: "store.InsertArtifactsBulk"}
	const batch = 2000
	arts := make([]*model.Artifact, 0, batch)
	for i := 0; i < n; i++ {
		a, err := artifactAt(i, base, policies[projectOf(i)])
		if err != nil {
			return stats, err
		}
		arts = append(arts, a)
		if len(arts) == batch || i == n-1 {
			if err := st.InsertArtifactsBulk(ctx, arts); err != nil {
				return stats, fmt.Errorf("bulk insert: %w", err)
			}
			arts = arts[:0]
			if (i+1)%10000 < batch {
				logf("  seeded %d/%d (%.0f/s)", i+1, n, float64(i+1)/time.Since(start).Seconds())
			}
		}
	}
	stats.Duration = time.Since(start)
	stats.Rate = float64(n) / stats.Duration.Seconds()
	return stats, nil
}
