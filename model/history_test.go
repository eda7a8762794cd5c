package model

import (
	"fmt"
	"reflect"
	"testing"
)

// An old artifact holds only its newest promotions; the newest promotion of every
// other (channel, environment) is kept in PromotionTargets. These tests build such
// artifacts directly, as the store loads them.

func prom(c Channel, env string, minute int, by string) Promotion {
	return Promotion{Channel: c, TargetEnvironment: env, PromotedBy: by, PromotedAt: at(minute), CorrelationID: "c-" + by}
}

// aged is a verified artifact whose DEV, TEST/eu and STAGING/eu promotions are no
// longer inline: only a run of PROD/eu promotions is.
func aged(t *testing.T) Artifact {
	t.Helper()
	a := verifiedArt(t, passed(CheckAttestation))
	a.LifecycleState = LifecyclePromoted
	a.PromotionTargets = []Promotion{prom(ChannelDev, "", 1, "dev"), prom(ChannelTest, "eu", 2, "test"), prom(ChannelStaging, "eu", 3, "staging"), prom(ChannelProd, "eu", 4, "prod-old")}
	a.PromotionsFrom = 5000
	for i := 0; i < 8; i++ {
		a.Promotions = append(a.Promotions, prom(ChannelProd, "eu", 100+i, fmt.Sprintf("prod-%d", i)))
	}
	return a
}

func TestNewestPromotionsMergesTargetsWithTheInlinePromotions(t *testing.T) {
	a := aged(t)
	got := a.NewestPromotions()
	want := []Promotion{prom(ChannelDev, "", 1, "dev"), prom(ChannelTest, "eu", 2, "test"), prom(ChannelStaging, "eu", 3, "staging"), prom(ChannelProd, "eu", 107, "prod-7")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("NewestPromotions:\n got %+v\nwant %+v", got, want)
	}
	// Of equal times the later one counts; a target newer than every inline
	// promotion of its pair (clock skew) still wins.
	a.Promotions = append(a.Promotions, prom(ChannelProd, "eu", 107, "prod-tie"))
	a.PromotionTargets = append(a.PromotionTargets, prom(ChannelDev, "us", 500, "dev-us"))
	a.Promotions = append(a.Promotions, prom(ChannelDev, "us", 400, "dev-us-older"))
	got = a.NewestPromotions()
	if got[1].PromotedBy != "dev-us" || got[4].PromotedBy != "prod-tie" {
		t.Fatalf("NewestPromotions with ties and skew: %+v", got)
	}
	// An artifact without targets (every promotion inline) is its own summary.
	b := withPromotions(verifiedArt(t), ChannelDev, ChannelTest, ChannelDev)
	if got := b.NewestPromotions(); len(got) != 2 || got[0].PromotedAt != at(-98) || got[1].Channel != ChannelTest {
		t.Fatalf("NewestPromotions of inline promotions: %+v", got)
	}
}

// Strict progression, deployable and channel status read promotions made long ago,
// no longer inline.
func TestRulesSeePromotionsKeptOnlyAsTargets(t *testing.T) {
	p := allowlistPolicy()
	a := aged(t)
	for _, c := range []Channel{ChannelTest, ChannelStaging, ChannelProd} {
		if d := EvaluatePromotion(&a, &p, admin, PromotionRequest{Channel: c, TargetEnvironment: "eu"}); !d.Allowed() {
			t.Errorf("promotion into %s refused: %q", c, d.Reasons)
		}
	}
	after, err := Promote(a, &p, admin, PromotionRequest{Channel: ChannelProd, TargetEnvironment: "us"}, testCorr, at(200))
	if err != nil {
		t.Fatalf("promote into PROD/us: %v", err)
	}
	if len(after.PromotionTargets) != len(a.PromotionTargets) || len(after.Promotions) != len(a.Promotions)+1 {
		t.Fatalf("Promote changed the targets or did not append: %d targets, %d promotions", len(after.PromotionTargets), len(after.Promotions))
	}
	for _, tt := range []struct {
		c    Channel
		env  string
		want string
	}{{ChannelDev, "", "dev"}, {ChannelStaging, "eu", "staging"}, {ChannelProd, "eu", "prod-7"}} {
		pl, ok := PickDeployable([]*Artifact{&a}, &p, tt.c, tt.env)
		if !ok || pl.Promotion.PromotedBy != tt.want {
			t.Errorf("deployable %s/%s: %v %+v, want %s", tt.c, tt.env, ok, pl.Promotion, tt.want)
		}
	}
	rows := ChannelStatus([]*Artifact{&a})
	if len(rows) != 4 || rows[2].Promotion.PromotedBy != "staging" || rows[3].Promotion.PromotedBy != "prod-7" {
		t.Fatalf("channel status: %+v", rows)
	}
	// Without the targets, strict progression would refuse TEST and STAGING.
	bare := a
	bare.PromotionTargets = nil
	if d := EvaluatePromotion(&bare, &p, admin, PromotionRequest{Channel: ChannelStaging, TargetEnvironment: "eu"}); d.Allowed() {
		t.Fatal("the fixture does not depend on the targets")
	}
}

// The newest promotion of every (channel, environment) stays with the artifact, so
// the number of distinct pairs is bounded: a new pair beyond the limit is refused,
// a known one is not.
func TestPromoteRefusesANewTargetBeyondTheLimit(t *testing.T) {
	p := DefaultPolicy(testProject)
	a := withPromotions(artIn(t, LifecyclePublished, TrustUnverified), ChannelDev)
	for i := 1; i < MaxPromotionTargets; i++ {
		a.PromotionTargets = append(a.PromotionTargets, prom(ChannelDev, fmt.Sprintf("env-%03d", i), i, "x"))
	}
	if n := len(a.NewestPromotions()); n != MaxPromotionTargets {
		t.Fatalf("fixture holds %d targets", n)
	}
	_, err := Promote(a, &p, promoter, PromotionRequest{Channel: ChannelDev, TargetEnvironment: "brand-new"}, testCorr, at(1000))
	wantBadInput(t, err, "targetEnvironment", "256 channel and environment pairs")
	if _, err := Promote(a, &p, promoter, PromotionRequest{Channel: ChannelDev, TargetEnvironment: "env-007"}, testCorr, at(1000)); err != nil {
		t.Fatalf("promotion into a known pair: %v", err)
	}
}
