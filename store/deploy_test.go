package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/event"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
	"github.com/artifact-trust/control-plane/store/internal/bucketlog"
)

// commandCounter counts the commands a store sends, by command and collection
// ("find artifacts"), while it is on, and keeps the _id filters of its finds
// (found).
type commandCounter struct {
	mu    sync.Mutex
	on    bool
	n     map[string]int
	found map[string][]string // collection -> the _id filters of its finds
}

func (c *commandCounter) monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		coll, _ := e.Command.Lookup(e.CommandName).StringValueOK()
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.on {
			c.n[e.CommandName+" "+coll]++
			if id, err := e.Command.LookupErr("filter", "_id"); e.CommandName == "find" && err == nil {
				c.found[coll] = append(c.found[coll], id.String())
			}
		}
	}}
}

// foundIDs returns the distinct _id filters of the finds on coll of the last
// during, sorted (a string _id in quotes).
func (c *commandCounter) foundIDs(coll string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Compact(slices.Sorted(slices.Values(c.found[coll])))
}

// during counts the commands f sends.
func (c *commandCounter) during(f func()) map[string]int {
	c.mu.Lock()
	c.on, c.n, c.found = true, map[string]int{}, map[string][]string{}
	c.mu.Unlock()
	f()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on = false
	return c.n
}

// deployFixture is a store and service with n artifacts of project "mass", each
// VERIFIED with SIGNATURE passed and no ATTESTATION, promoted into DEV/eu one after
// the other (small chan buckets, so most promotions sit in sealed buckets).
type deployFixture struct {
	s       *Store
	svc     *service.Service
	rq      service.Request
	counter *commandCounter
	ids     []string // oldest first
}

func newDeployFixture(t *testing.T, n int) *deployFixture {
	t.Helper()
	counter := &commandCounter{}
	s, err := Open(context.Background(), Config{DataDir: t.TempDir(), caps: bucketCaps{list: 64, feed: 64, chans: 8}, monitor: counter.monitor()}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	f := &deployFixture{s: s, svc: service.New(s), counter: counter,
		rq: service.Request{Actor: model.Actor{Subject: "ops", Type: model.ActorUser, Roles: map[string][]model.Role{"mass": {model.RoleViewer, model.RoleVerifier, model.RoleProjectAdmin}}}}}
	var arts []*model.Artifact
	for i := 0; i < n; i++ {
		a := deployArtifact("mass", fmt.Sprintf("d-%04d", i), t0.Add(time.Duration(i)*10*time.Second), false)
		arts = append(arts, a)
		f.ids = append(f.ids, a.ID)
	}
	if err := s.InsertArtifactsBulk(context.Background(), arts); err != nil {
		t.Fatal(err)
	}
	f.setPolicy(t, nil)
	return f
}

// setPolicy stores a policy allowing the fixture's sources whose DEV channel
// requires checks (besides nothing but ALLOW_UNVERIFIED trust).
func (f *deployFixture) setPolicy(t *testing.T, devChecks []model.Check) {
	t.Helper()
	_, err := f.svc.SetPolicy(context.Background(), f.rq, "mass", model.PolicyInput{
		AllowedSourceTypes: model.AllSourceTypes, AllowedSources: []string{"registry.example.com/"}, StrictProgression: true,
		Channels: []model.ChannelPolicyInput{{Channel: model.ChannelDev, RequiredTrust: model.TrustAllowUnverified, RequiredChecks: devChecks, PromoterRoles: []model.Role{model.RolePromoter}}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// deployable asks the service for deployable(mass, DEV, eu) and returns the
// artifact id ("" for none) and the commands it sent.
func (f *deployFixture) deployable(t *testing.T) (string, map[string]int) {
	t.Helper()
	var id string
	n := f.counter.during(func() {
		pl, ok, err := f.svc.Deployable(context.Background(), f.rq, "mass", model.ChannelDev, "eu")
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			id = pl.Artifact.ID
		}
	})
	return id, n
}

// wantDeployable checks the answer and that it took at most maxArtifacts artifact
// look-ups and maxProjections projection look-ups, besides the policy's and the
// keys' (decisions derive trust under the current keys). (The
// channel's head, and its newest sealed bucket when the open bucket was just
// sealed or the answer is older.)
func (f *deployFixture) wantDeployable(t *testing.T, what, want string, maxArtifacts, maxProjections int) {
	t.Helper()
	got, n := f.deployable(t)
	if got != want {
		t.Fatalf("%s: deployable = %q, want %q", what, got, want)
	}
	if n["find artifacts"] > maxArtifacts || n["find projections"] > maxProjections || n["find policies"] > 1 || n["find keys"] > 1 || len(n) > 4 {
		t.Fatalf("%s: deployable sent %v; want at most %d artifact and %d projection look-ups, one policy and one keys look-up, nothing else",
			what, n, maxArtifacts, maxProjections)
	}
}

// TestDeployableCostDoesNotGrowWithIneligiblePromotions: with 120 promotions in
// DEV/eu that a policy tightening, and then a mass revocation, make ineligible,
// deployable reads the policy and the channel's head and no artifact at all (it
// read all 120 before); an eligible artifact costs at most its bucket and itself;
// loosening the policy brings the newest back. Every answer is model.PickDeployable's.
func TestDeployableCostDoesNotGrowWithIneligiblePromotions(t *testing.T) {
	t.Parallel()
	const n = 120
	f := newDeployFixture(t, n)
	ctx := context.Background()
	newest, older := f.ids[n-1], f.ids[n/3]

	f.wantDeployable(t, "newest eligible", newest, 1, 2)

	f.setPolicy(t, []model.Check{model.CheckAttestation})
	f.wantDeployable(t, "after a policy tightening", "", 0, 1)

	// An older artifact gets its ATTESTATION: it is the answer now.
	if _, err := f.svc.Verify(ctx, f.rq, older, []model.VerificationRecord{{Check: model.CheckAttestation, Result: model.ResultPassed}}, "attested"); err != nil {
		t.Fatal(err)
	}
	f.wantDeployable(t, "one older artifact attested", older, 1, 2)

	f.setPolicy(t, nil)
	f.wantDeployable(t, "after loosening", newest, 1, 2)

	// Mass revocation, newest first (the order an incident response goes in).
	for i := n - 1; i >= 0; i-- {
		if _, err := f.svc.Revoke(ctx, f.rq, f.ids[i], "signing key compromised"); err != nil {
			t.Fatal(err)
		}
		if i == n/2 {
			f.wantDeployable(t, "half revoked", f.ids[i-1], 1, 2)
		}
	}
	f.wantDeployable(t, "after mass revocation", "", 0, 1)
	f.setPolicy(t, nil)
	f.wantDeployable(t, "revoked under a loose policy", "", 0, 1)
}

// TestDeployableNeverAnswersWithARevokedArtifactWhoseFactsAreStale: a revocation
// whose projections did not run (the process died after the artifact write) leaves
// the channel's facts saying the artifact is deployable; deployable still answers
// with the newest artifact that is deployable now, and the outbox replay brings the
// facts up to date.
func TestDeployableNeverAnswersWithARevokedArtifactWhoseFactsAreStale(t *testing.T) {
	t.Parallel()
	f := newDeployFixture(t, 20)
	ctx := context.Background()
	newest, next := f.ids[19], f.ids[18]
	f.wantDeployable(t, "before", newest, 1, 2)

	f.s.crashAfterWrite = func(a *model.Artifact) bool { return a.ID == newest }
	if _, err := f.svc.Revoke(ctx, f.rq, newest, "compromised"); err != nil {
		t.Fatal(err)
	}
	f.s.crashAfterWrite = nil
	p, err := f.svc.Policy(ctx, f.rq, "mass")
	if err != nil {
		t.Fatal(err)
	}
	if c := candidates(t, f.s, "mass", model.ChannelDev, "eu", p); len(c) == 0 || c[0] != newest {
		t.Fatalf("the revoked artifact should still be the first candidate by its stale facts: %v", c)
	}
	f.wantDeployable(t, "stale facts", next, 2, 2)

	if _, err := f.s.replayOutbox(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if c := candidates(t, f.s, "mass", model.ChannelDev, "eu", p); len(c) == 0 || c[0] != next {
		t.Fatalf("after the replay the revoked artifact is no candidate: %v", c)
	}
	f.wantDeployable(t, "after the replay", next, 1, 2)
}

// TestChanFactsNeverGoBackToAnOlderState: applying an artifact's older state (a
// late or replayed write) after a newer one leaves its recorded facts alone, in the
// open bucket and in sealed ones; also when the write in between was never applied
// and the newer state has the facts the log still holds (A-B-A).
func TestChanFactsNeverGoBackToAnOlderState(t *testing.T) {
	t.Parallel()
	f := newDeployFixture(t, 20)
	ctx := context.Background()
	p, err := f.svc.Policy(ctx, f.rq, "mass")
	if err != nil {
		t.Fatal(err)
	}
	isCandidate := func(id string) bool {
		return slices.Contains(candidates(t, f.s, "mass", model.ChannelDev, "eu", p), id)
	}
	flip := func(a *model.Artifact, to model.TrustState) *model.Artifact {
		next := *a
		ev := a.Event(model.ActionVerify, alice, "flip", "", a.UpdatedAt.Add(time.Second))
		ev.FromState, ev.ToState = string(a.TrustState), string(to)
		next.TrustState, next.UpdatedAt = to, ev.At
		next.Audit = append(append([]model.AuditEvent(nil), a.Audit...), ev)
		return &next
	}
	for _, id := range []string{f.ids[18], f.ids[3]} { // open bucket, sealed bucket
		v0, err := f.s.GetArtifact(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		v1 := flip(v0, model.TrustFailedVerification)
		f.s.crashAfterWrite = func(a *model.Artifact) bool { return a.ID == id }
		if err := f.s.UpdateArtifact(ctx, v0, v1); err != nil {
			t.Fatal(err)
		}
		f.s.crashAfterWrite = nil
		v2 := flip(v1, model.TrustVerified)
		if err := f.s.UpdateArtifact(ctx, v1, v2); err != nil {
			t.Fatal(err)
		}
		if err := f.s.applyChanLogs(ctx, v1, 0); err != nil { // v1's projections, late
			t.Fatal(err)
		}
		if !isCandidate(id) {
			t.Fatalf("%s: the late write of version %d took the facts back after version %d", id, v1.Version, v2.Version)
		}
		if _, err := f.s.replayOutbox(ctx, 0); err != nil {
			t.Fatal(err)
		}
		if !isCandidate(id) {
			t.Fatalf("%s: not a candidate after the replay", id)
		}
	}
	for _, id := range []string{f.ids[19], f.ids[2]} { // open bucket, sealed bucket
		before, err := f.s.GetArtifact(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		after, err := f.svc.Revoke(ctx, f.rq, id, "compromised")
		if err != nil {
			t.Fatal(err)
		}
		docs := projectionDocs(t, f.s)
		if err := f.s.applyChanLogs(ctx, before, 0); err != nil {
			t.Fatal(err)
		}
		if got := projectionDocs(t, f.s); !reflect.DeepEqual(got, docs) {
			t.Fatalf("%s: applying version %d after version %d changed the chan log", id, before.Version, after.Version)
		}
		if isCandidate(id) {
			t.Fatalf("%s: revoked artifact is a candidate again", id)
		}
	}
}

// oldChanEntry is a chan log entry as schema 3 stored it (no deploy facts, one-letter
// keys).
type oldChanEntry struct {
	ArtifactID string `bson:"a"`
	At         int64  `bson:"t"`
	By         string `bson:"b"`
}

// oldChanHead is a chan log head as schema 3 stored it.
type oldChanHead struct {
	Open    int               `bson:"openBucket"`
	Entries []oldChanEntry    `bson:"entries"`
	Sealed  []bucketlog.Range `bson:"sealed"`
}

// TestChanLogsWithoutFactsAreRebuiltAtOpen: a database whose chan logs were written
// before they kept deploy facts (schema 3: entries without facts, sealed buckets
// as bare ranges) gets them rebuilt at Open, with no leftover buckets, and every
// read answers as the scans do.
func TestChanLogsWithoutFactsAreRebuiltAtOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openCaps(t, dir, tinyCaps)
	ctx := context.Background()
	h := newHistory(7)
	h.run(t, s, 25, 90)
	rewritten := 0
	for _, project := range histProjects {
		for _, c := range model.Channels {
			for _, env := range histEnvs {
				id := chanHeadID(project, c, env)
				var cur chanHead
				ver, err := s.loadProj(ctx, id, &cur)
				if err != nil {
					t.Fatal(err)
				}
				if ver == 0 {
					continue
				}
				old := oldChanHead{Open: cur.Open(), Entries: []oldChanEntry{}}
				for _, e := range cur.Entries {
					old.Entries = append(old.Entries, oldChanEntry{e.ArtifactID, int64(e.At), e.By})
				}
				for n := range cur.Open() {
					old.Sealed = append(old.Sealed, cur.Sealed.Range(n))
				}
				if _, err := update(ctx, s, id, project, "chan", func(d *oldChanHead, _ int64) (bool, error) {
					*d = old
					return true, nil
				}); err != nil {
					t.Fatal(err)
				}
				rewritten++
			}
		}
	}
	if _, err := update(ctx, s, metaID, "", "meta", func(m *struct {
		Schema int `bson:"schema"`
	}, _ int64) (bool, error) {
		m.Schema = 3
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	if rewritten == 0 {
		t.Fatal("no chan log to rewrite")
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}

	s2 := openCaps(t, dir, tinyCaps)
	checkProjectionsLight(t, s2)
	for id := range projectionDocs(t, s2) {
		var head string
		if i := strings.LastIndex(id, "#"); i > 0 && strings.HasPrefix(id, "chan:") {
			head = id[:i]
			n, _ := strconv.Atoi(id[i+1:])
			if n >= sealedCount(t, s2, head) {
				t.Fatalf("bucket %s left behind by the rebuild", id)
			}
		}
	}
}

// TestDeployableLoadsNoArtifactAfterRevokingArtifactsPromotedIntoOneTargetAgainAndAgain
// re-promotes every artifact into DEV/eu 30 times (a rollback pattern), so most of
// their promotions move to the trail's buckets, then revokes them all: the entries of those
// older promotions take the new facts too, so deployable loads no artifact.
func TestDeployableLoadsNoArtifactAfterRevokingArtifactsPromotedIntoOneTargetAgainAndAgain(t *testing.T) {
	t.Parallel()
	const n = 3 // each one alone makes deployable load it when the fix is missing
	f := newDeployFixture(t, n)
	ctx := context.Background()
	f.rq.Actor.Roles["mass"] = append(f.rq.Actor.Roles["mass"], model.RolePromoter)
	for _, id := range f.ids {
		for k := 0; k < 30; k++ {
			if _, err := f.svc.Promote(ctx, f.rq, id, model.PromotionRequest{Channel: model.ChannelDev, TargetEnvironment: "eu"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got, _ := f.deployable(t); got == "" {
		t.Fatal("nothing deployable before the revocation")
	}
	for i := n - 1; i >= 0; i-- {
		if _, err := f.svc.Revoke(ctx, f.rq, f.ids[i], "compromised"); err != nil {
			t.Fatal(err)
		}
	}
	got, cmds := f.deployable(t)
	if got != "" {
		t.Fatalf("deployable answered %q although every artifact is revoked", got)
	}
	if cmds["find artifacts"] > 0 {
		t.Errorf("deployable loaded %d artifacts although every one is revoked (commands: %v)", cmds["find artifacts"], cmds)
	}
}

// TestARecordCoveringABucketNeverLetsDeployableSkipAnEntryThatMayBeDeployable:
// over random sealed buckets (entries of a few classes, verified checks with some
// keys or none, SOURCE_POLICY decided from provenance or not), a random
// re-verification of one entry (claims replacing some of its verified evidence, or
// another change of its facts) and random policies (project and channel checks,
// trust, verified evidence required or not, revoked keys, provenance rules):
// whenever the bucket's record as it was still covers the bucket's summary
// afterwards (coversFacts: the head is then not written), every entry that may be
// deployable is one the record says may be (mayAny), so deployable never skips it.
// Among the cases are entries deployable only as claims, whose class as recorded
// (its checks verified by revoked keys) is not.
func TestARecordCoveringABucketNeverLetsDeployableSkipAnEntryThatMayBeDeployable(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(14, 7))
	evidence := model.EvidenceChecks
	baseline := []model.Check{model.CheckDigestPresent, model.CheckDigestCanonical, model.CheckKindExplicit, model.CheckSourceTypeExplicit, model.CheckSourceAllowlisted}
	keys := []string{"k1", "k2", "k3"}
	subset := func(from []string, p float64) []string {
		var out []string
		for _, k := range from {
			if r.Float64() < p {
				out = append(out, k)
			}
		}
		return out
	}
	checks := func(p float64) []model.Check {
		var out []model.Check
		for _, c := range evidence {
			if r.Float64() < p {
				out = append(out, c)
			}
		}
		return out
	}
	// class draws an entry's facts but for its keys, source and provenance.
	class := func() storedFacts {
		var f storedFacts
		f.Trust = []model.TrustState{model.TrustVerified, model.TrustVerified, model.TrustUnverified, model.TrustFailedVerification, model.TrustRevoked}[r.IntN(5)]
		f.Retired = r.IntN(10) == 0
		f.FromProvenance = r.IntN(4) == 0
		for _, c := range append(slices.Clone(baseline), evidence...) {
			switch p := r.Float64(); {
			case p < 0.8:
				f.Passed = append(f.Passed, c)
			case p < 0.85:
				f.Failed = append(f.Failed, c)
			}
		}
		slices.Sort(f.Passed)
		slices.Sort(f.Failed)
		for _, c := range evidence {
			passed := slices.Contains(f.Passed, c)
			// SOURCE_POLICY decided from provenance is verified when it passed.
			if passed && ((c == model.CheckSourcePolicy && f.FromProvenance) || (c != model.CheckSourcePolicy || !f.FromProvenance) && r.IntN(2) == 0) {
				f.Verified = append(f.Verified, verifiedCheck{Check: c})
			}
		}
		return f
	}
	// entry gives facts of class c their own keys, source and provenance.
	entry := func(c storedFacts) storedFacts {
		e := c
		e.Verified = nil
		for _, v := range c.Verified {
			ks := subset(keys, 0.5)
			if len(ks) == 0 && r.IntN(4) != 0 {
				k := r.IntN(len(keys))
				ks = keys[k : k+1]
			}
			e.Verified = append(e.Verified, verifiedCheck{Check: v.Check, Keys: ks})
		}
		e.Source = "registry.example.com/" + []string{"team/a", "team/b", "other/c"}[r.IntN(3)]
		if e.FromProvenance && slices.Contains(e.Passed, model.CheckSourcePolicy) {
			e.Provenance = &storedProvenance{BuilderID: []string{"ci-a", "ci-b"}[r.IntN(2)], SourceRepository: "git.example.com/team", Keys: subset(keys, 0.6)}
		}
		return e
	}
	bucket := func(es []storedFacts) []storedFacts {
		var out []chanEntry
		for i, f := range es {
			out = append(out, chanEntry{ArtifactID: fmt.Sprint("a", i), Facts: f})
		}
		return summarize(out)
	}
	covered, byClaimOnly := 0, 0
	for range 20000 {
		classes := []storedFacts{class(), class()}
		before := make([]storedFacts, 1+r.IntN(4))
		for i := range before {
			before[i] = entry(classes[r.IntN(len(classes))])
		}
		after := slices.Clone(before)
		i := r.IntN(len(after))
		if r.IntN(4) == 0 {
			after[i] = entry(class()) // any other change
		} else {
			e := after[i] // claims replace some of its verified evidence
			e.Verified = nil
			for _, v := range before[i].Verified {
				if r.IntN(2) == 0 || (e.FromProvenance && v.Check == model.CheckSourcePolicy) {
					e.Verified = append(e.Verified, v)
				}
			}
			after[i] = e
		}
		rec := bucket(before)
		if !coversFacts(rec, bucket(after)) {
			continue
		}
		covered++
		for range 4 {
			rve := r.IntN(2) == 0
			in := model.PolicyInput{
				AllowedSourceTypes: model.AllSourceTypes, AllowedSources: []string{[]string{"registry.example.com/", "registry.example.com/team/"}[r.IntN(2)]},
				RequiredChecks: checks(0.3),
				Channels: []model.ChannelPolicyInput{{Channel: model.ChannelDev, RequiredTrust: []model.TrustRequirement{model.TrustAllowUnverified, model.TrustRequireVerified}[r.IntN(2)],
					RequiredChecks: checks(0.4), PromoterRoles: []model.Role{model.RolePromoter}, RequireVerifiedEvidence: &rve}},
			}
			if r.IntN(3) == 0 {
				in.Provenance = &model.ProvenancePolicy{BuilderIDs: []string{[]string{"ci-a", "ci-"}[r.IntN(2)]}, SourceRepositories: []string{[]string{"git.example.com/", "git.example.com/other"}[r.IntN(2)]}}
			}
			p, err := model.NewPolicy("p", in)
			if err != nil {
				t.Fatal(err)
			}
			p.RevokedKeys = subset(keys, 0.4)
			f := newDeployFilter(&p, model.ChannelDev)
			for _, e := range after {
				if !f.may(e, false) {
					continue
				}
				if !f.mayAny(rec) {
					t.Fatalf("deployable would skip a bucket holding an entry that may be deployable:\nentry %+v\nrecord %+v\npolicy %+v, revoked keys %v", e, rec, in, p.RevokedKeys)
				}
				if !slices.ContainsFunc(rec, func(c storedFacts) bool { return f.may(c, true) }) {
					byClaimOnly++
				}
			}
		}
	}
	if covered < 1000 || byClaimOnly == 0 {
		t.Fatalf("%d covered cases, %d of them deployable only with fewer verified checks than recorded: the test asks too little", covered, byClaimOnly)
	}
	t.Logf("%d covered cases; %d entries needed a class asked with fewer verified checks", covered, byClaimOnly)
}

// TestClaimsReplacingVerifiedEvidenceLeaveTheRecordOfASealedChannelBucketAlone: a
// re-verification whose claimed results replace the verified evidence of an
// artifact promoted long ago sets its entry in the sealed channel bucket holding
// it, and leaves the head alone (its record of the bucket covers entries with
// fewer verified checks); the artifact is still a deployable candidate.
func TestClaimsReplacingVerifiedEvidenceLeaveTheRecordOfASealedChannelBucketAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var mu sync.Mutex
	var written []string
	monitor := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if e.CommandName != "update" {
			return
		}
		if coll, _ := e.Command.Lookup("update").StringValueOK(); coll != projectionsCollection {
			return
		}
		ups, _ := e.Command.Lookup("updates").Array().Values()
		mu.Lock()
		defer mu.Unlock()
		for _, u := range ups {
			if id, ok := u.Document().Lookup("q", "_id").StringValueOK(); ok {
				written = append(written, id)
			}
		}
	}}
	s, err := Open(ctx, Config{DataDir: t.TempDir(), caps: tinyCaps, monitor: monitor}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	var first *model.Artifact
	for i := range 6 {
		at := t0.Add(time.Duration(i) * time.Minute)
		a := newArtifact("p", fmt.Sprint("svc", i), at)
		a.Verification = []model.VerificationRecord{{Check: model.CheckSignature, Result: model.ResultPassed, RecordedBy: "ci", RecordedAt: at, Basis: model.BasisVerified}}
		a.TrustState = model.TrustVerified
		a.Promotions = []model.Promotion{{Channel: model.ChannelDev, PromotedBy: "alice", PromotedAt: at.Add(time.Second), CorrelationID: "c"}}
		mustInsert(t, s, a)
		if i == 0 {
			first = a
		}
	}
	h, _, err := s.chanLog("p", model.ChannelDev, "").Head(ctx)
	if err != nil || h.Open() < 2 {
		t.Fatalf("the channel log has %d sealed buckets (%v), want the first artifact's sealed", h.Open(), err)
	}
	cur := s.mustGet(t, first.ID)
	after := *cur
	after.Verification = []model.VerificationRecord{{Check: model.CheckSignature, Result: model.ResultPassed, RecordedBy: "ci", RecordedAt: t0.Add(time.Hour), Basis: model.BasisClaimed}}
	ev := cur.Event(model.ActionVerify, alice, "reverify", "", t0.Add(time.Hour))
	after.Audit = append(slices.Clone(cur.Audit), ev)
	if f, g := factsOfArtifact(cur), factsOfArtifact(&after); f.equal(g) || len(g.Verified) != 0 {
		t.Fatalf("the re-verification should move SIGNATURE from verified to claimed: %+v -> %+v", f, g)
	}
	mu.Lock()
	written = nil
	mu.Unlock()
	if err := s.UpdateArtifact(ctx, cur, &after); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := slices.Clone(written)
	mu.Unlock()
	head, bucket := chanHeadID("p", model.ChannelDev, ""), bucketID(chanHeadID("p", model.ChannelDev, ""), 0)
	if !slices.Contains(got, bucket) || slices.Contains(got, head) {
		t.Fatalf("the write wrote %v; want the channel bucket %s and not its head %s", got, bucket, head)
	}
	p, err := model.NewPolicy("p", model.PolicyInput{AllowedSourceTypes: model.AllSourceTypes, AllowedSources: []string{"registry.example.com/"}, RequiredChecks: []model.Check{model.CheckSignature}})
	if err != nil {
		t.Fatal(err)
	}
	if c := candidates(t, s, "p", model.ChannelDev, "", &p); !slices.Contains(c, first.ID) {
		t.Fatalf("deployable candidates %v miss the re-verified artifact", c)
	}
}
