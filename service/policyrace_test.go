package service_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
	"github.com/artifact-trust/control-plane/store"
)

// orderedStore numbers the start and the end of every artifact write that adds a
// promotion on one counter, which the test also uses to number the moment a
// policy change was acknowledged: so "written after the acknowledgment" is exact.
type orderedStore struct {
	*store.Store
	seq    atomic.Int64
	mu     sync.Mutex
	writes map[string]promotionWrite
}

type promotionWrite struct {
	start, end int64
	at         time.Time
}

func (o *orderedStore) UpdateArtifact(ctx context.Context, before, after *model.Artifact) error {
	start := o.seq.Add(1)
	err := o.Store.UpdateArtifact(ctx, before, after)
	end := o.seq.Add(1)
	if err == nil && len(after.Promotions) > len(before.Promotions) {
		o.mu.Lock()
		o.writes[after.ID] = promotionWrite{start: start, end: end, at: time.Now()}
		o.mu.Unlock()
	}
	return err
}

// TestNoPromotionIsWrittenAfterAForbiddingPolicyVersionIsAcknowledged races a
// setProjectPolicy that takes the promoter role's right to promote into DEV
// against a stream of promotions by a promoter, on the embedded engine, and checks
// that every stored promotion records the policy version it was decided under, that
// this version allowed it, and that its write ended before the forbidding version
// was acknowledged.
func TestNoPromotionIsWrittenAfterAForbiddingPolicyVersionIsAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("races a few hundred writes on the embedded engine")
	}
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	ordered := &orderedStore{Store: st, writes: map[string]promotionWrite{}}
	svc := service.New(ordered)

	const project = "race"
	admin := service.Request{CorrelationID: "c-admin", Actor: model.Actor{Subject: "admin", Type: model.ActorUser,
		Roles: map[string][]model.Role{project: {model.RoleProjectAdmin, model.RolePublisher}}}}
	ci := service.Request{CorrelationID: "c-ci", Actor: model.Actor{Subject: "ci", Type: model.ActorServiceAccount,
		Roles: map[string][]model.Role{project: {model.RolePromoter}}}}
	devPromoters := func(roles ...model.Role) model.PolicyInput {
		return model.PolicyInput{AllowedSourceTypes: model.AllSourceTypes, StrictProgression: true, Channels: []model.ChannelPolicyInput{
			{Channel: model.ChannelDev, RequiredTrust: model.TrustAllowUnverified, PromoterRoles: roles},
		}}
	}
	allowing, err := svc.SetPolicy(ctx, admin, project, devPromoters(model.RolePromoter, model.RoleProjectAdmin))
	if err != nil {
		t.Fatal(err)
	}

	// The artifacts to promote, registered as the service registers them (the
	// registrations are not part of the race) and stored in one bulk insert.
	const n, workers = 150, 12
	ids := make([]string, n)
	arts := make([]*model.Artifact, n)
	for i := range ids {
		a := model.NewArtifact(model.RegisterInput{Project: project, Digest: fmt.Sprintf("sha256:%064x", i+1),
			Kind: model.KindOCIImage, SourceType: model.SourceOCIRegistry, Source: "registry.example.com/race/app"}, admin.Actor, admin.CorrelationID, time.Now())
		arts[i], ids[i] = &a, a.ID
	}
	if err := st.InsertArtifactsBulk(ctx, arts); err != nil {
		t.Fatal(err)
	}

	// Workers promote one artifact after the other; once a third are done, the
	// policy change starts, so it meets promotions at every stage of their way.
	jobs := make(chan string)
	third := make(chan struct{})
	var done, allowed, denied atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range jobs {
				a, err := svc.Promote(ctx, ci, id, model.PromotionRequest{Channel: model.ChannelDev})
				switch {
				case err == nil:
					allowed.Add(1)
					if pv := a.Promotions[len(a.Promotions)-1].PolicyVersion; pv != allowing.Version {
						t.Errorf("promotion of %s answered with policy version %d, want %d", id, pv, allowing.Version)
					}
				case model.IsKind(err, model.KindPolicyDenied):
					denied.Add(1)
				default:
					t.Errorf("promote %s: %v", id, err)
				}
				if done.Add(1) == n/3 {
					close(third)
				}
			}
		}()
	}
	var forbidding *model.Policy
	var ackSeq int64
	var ackAt time.Time
	changed := make(chan struct{})
	go func() {
		defer close(changed)
		<-third
		p, err := svc.SetPolicy(ctx, admin, project, devPromoters(model.RoleProjectAdmin))
		ackSeq, ackAt = ordered.seq.Add(1), time.Now()
		if err != nil {
			t.Error(err)
		}
		forbidding = p
	}()
	for _, id := range ids {
		jobs <- id
	}
	close(jobs)
	wg.Wait()
	<-changed
	if t.Failed() {
		t.FailNow()
	}

	// The forbidding version forbids exactly these promotions.
	fresh, _ := st.GetArtifact(ctx, ids[0])
	fresh.Promotions, fresh.LifecycleState = nil, model.LifecyclePublished
	if d := model.EvaluatePromotion(fresh, forbidding, ci.Actor, model.PromotionRequest{Channel: model.ChannelDev}); d.Allowed() {
		t.Fatal("the second policy version does not forbid the promotions")
	}

	written, late, lateStarted := 0, 0, 0
	var latest time.Duration
	for _, id := range ids {
		a, err := st.GetArtifact(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Promotions) == 0 {
			continue
		}
		written++
		pr := a.Promotions[0]
		if len(a.Promotions) != 1 || pr.PolicyVersion != allowing.Version {
			t.Errorf("%s: promotions %+v, want one decided under version %d", id, a.Promotions, allowing.Version)
		}
		ev := a.Audit[len(a.Audit)-1]
		if ev.Action != model.ActionPromote || ev.PolicyVersion == nil || *ev.PolicyVersion != pr.PolicyVersion {
			t.Errorf("%s: promote event %+v does not name version %d", id, ev, pr.PolicyVersion)
		}
		before := *a
		before.Promotions, before.LifecycleState = nil, model.LifecyclePublished
		if d := model.EvaluatePromotion(&before, allowing, ci.Actor, model.PromotionRequest{Channel: model.ChannelDev}); !d.Allowed() {
			t.Errorf("%s: the recorded version %d does not allow the promotion: %v", id, pr.PolicyVersion, d.Reasons)
		}
		w := ordered.writes[id]
		if w.start > ackSeq {
			lateStarted++
		}
		if w.end > ackSeq {
			late++
			latest = max(latest, w.at.Sub(ackAt))
		}
	}
	t.Logf("%d promotions allowed, %d denied; %d of %d stored promotions finished writing after version %d was acknowledged (%d started after it), the last %v after",
		allowed.Load(), denied.Load(), late, written, forbidding.Version, lateStarted, latest)
	if late > 0 {
		t.Errorf("%d promotions decided under version %d were written after version %d, which forbids them, was acknowledged", late, allowing.Version, forbidding.Version)
	}
	if int64(written) != allowed.Load() || allowed.Load() == 0 || denied.Load() == 0 {
		t.Errorf("%d stored, %d allowed, %d denied: the race did not straddle the policy change", written, allowed.Load(), denied.Load())
	}
}
