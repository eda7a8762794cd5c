package model

import (
	"fmt"
	"reflect"
	"testing"
)

type promo struct {
	c   Channel
	env string
	min int
}

// deployArt builds a VERIFIED artifact with the given name (distinct digest and id)
// and promotions at the given minutes.
func deployArt(name string, extra []VerificationRecord, ps ...promo) *Artifact {
	d := fmt.Sprintf("sha256:%064x", len(name)*7919+int(name[0]))
	a := &Artifact{
		ID: "art_" + name, Project: testProject, Digest: d, Kind: KindOCIImage, SourceType: SourceOCIRegistry,
		Source: testSource, Tags: []string{"latest"}, LifecycleState: LifecyclePromoted, TrustState: TrustVerified,
		Verification: append(allBaselinePassed(), extra...),
	}
	for _, p := range ps {
		a.Promotions = append(a.Promotions, Promotion{Channel: p.c, TargetEnvironment: p.env, PromotedBy: "bob", PromotedAt: at(p.min), CorrelationID: "c-" + name})
	}
	return a
}

func TestDeployableOnlyWhenNotRevokedFailedOrRetiredAndMeetingTheChannel(t *testing.T) {
	p := allowlistPolicy()
	for _, l := range allLifecycle {
		for _, tr := range allTrust {
			for _, withAtt := range []bool{false, true} {
				for _, c := range Channels {
					name := fmt.Sprintf("%s/%s/%s/attestation=%v", c, l, tr, withAtt)
					t.Run(name, func(t *testing.T) {
						var extra []VerificationRecord
						if withAtt {
							extra = []VerificationRecord{passed(CheckAttestation)}
						}
						a := deployArt("a", extra)
						a.LifecycleState = l
						setTrust(a, tr)
						want := tr != TrustRevoked && tr != TrustFailedVerification && l != LifecycleRetired
						if c != ChannelDev && tr != TrustVerified {
							want = false
						}
						if c == ChannelProd && !withAtt {
							want = false
						}
						if got := Deployable(a, &p, c); got != want {
							t.Errorf("Deployable = %v, want %v", got, want)
						}
					})
				}
			}
		}
	}
}

func TestPickDeployableReturnsNewestEligiblePromotion(t *testing.T) {
	def := allowlistPolicy()
	strictTest := allowlistPolicy()
	strictTest.Channels[1].RequiredChecks = []Check{CheckAttestation}
	att := []VerificationRecord{passed(CheckAttestation)}

	tests := []struct {
		name    string
		policy  *Policy
		arts    func() []*Artifact
		channel Channel
		env     string
		want    string // artifact id, "" for none
		wantMin int    // promotion minute of the placement
	}{
		{"newest wins", &def, func() []*Artifact {
			return []*Artifact{deployArt("a", nil, promo{ChannelTest, "", 1}), deployArt("b", nil, promo{ChannelTest, "", 2}), deployArt("c", nil, promo{ChannelTest, "", 3})}
		}, ChannelTest, "", "art_c", 3},
		{"input order does not matter", &def, func() []*Artifact {
			return []*Artifact{deployArt("c", nil, promo{ChannelTest, "", 3}), deployArt("a", nil, promo{ChannelTest, "", 1}), deployArt("b", nil, promo{ChannelTest, "", 2})}
		}, ChannelTest, "", "art_c", 3},
		{"revoked newest skipped", &def, func() []*Artifact {
			c := deployArt("c", nil, promo{ChannelTest, "", 3})
			c.TrustState = TrustRevoked
			return []*Artifact{deployArt("a", nil, promo{ChannelTest, "", 1}), deployArt("b", nil, promo{ChannelTest, "", 2}), c}
		}, ChannelTest, "", "art_b", 2},
		{"failed newest skipped", &def, func() []*Artifact {
			c := deployArt("c", nil, promo{ChannelTest, "", 3})
			setTrust(c, TrustFailedVerification)
			return []*Artifact{deployArt("a", nil, promo{ChannelTest, "", 1}), deployArt("b", nil, promo{ChannelTest, "", 2}), c}
		}, ChannelTest, "", "art_b", 2},
		{"retired newest skipped", &def, func() []*Artifact {
			c := deployArt("c", nil, promo{ChannelTest, "", 3})
			c.LifecycleState = LifecycleRetired
			return []*Artifact{deployArt("a", nil, promo{ChannelTest, "", 1}), deployArt("b", nil, promo{ChannelTest, "", 2}), c}
		}, ChannelTest, "", "art_b", 2},
		{"two newest ineligible falls back to oldest", &def, func() []*Artifact {
			b := deployArt("b", nil, promo{ChannelTest, "", 2})
			b.TrustState = TrustRevoked
			c := deployArt("c", nil, promo{ChannelTest, "", 3})
			c.LifecycleState = LifecycleRetired
			return []*Artifact{deployArt("a", nil, promo{ChannelTest, "", 1}), b, c}
		}, ChannelTest, "", "art_a", 1},
		{"deprecated is still deployable", &def, func() []*Artifact {
			c := deployArt("c", nil, promo{ChannelTest, "", 3})
			c.LifecycleState = LifecycleDeprecated
			return []*Artifact{deployArt("a", nil, promo{ChannelTest, "", 1}), c}
		}, ChannelTest, "", "art_c", 3},
		{"newly unverified artifact no longer meets TEST", &def, func() []*Artifact {
			c := deployArt("c", nil, promo{ChannelTest, "", 3})
			setTrust(c, TrustUnverified)
			return []*Artifact{deployArt("a", nil, promo{ChannelTest, "", 1}), c}
		}, ChannelTest, "", "art_a", 1},
		{"unverified is deployable from DEV", &def, func() []*Artifact {
			c := deployArt("c", nil, promo{ChannelDev, "", 3})
			setTrust(c, TrustUnverified)
			return []*Artifact{deployArt("a", nil, promo{ChannelDev, "", 1}), c}
		}, ChannelDev, "", "art_c", 3},
		{"none eligible", &def, func() []*Artifact {
			a := deployArt("a", nil, promo{ChannelTest, "", 1})
			a.TrustState = TrustRevoked
			return []*Artifact{a}
		}, ChannelTest, "", "", 0},
		{"no promotions into the channel", &def, func() []*Artifact {
			return []*Artifact{deployArt("a", nil, promo{ChannelDev, "", 1})}
		}, ChannelTest, "", "", 0},
		{"no artifacts", &def, func() []*Artifact { return nil }, ChannelTest, "", "", 0},
		{"empty env does not match eu-1", &def, func() []*Artifact {
			return []*Artifact{deployArt("a", nil, promo{ChannelTest, "", 1}), deployArt("b", nil, promo{ChannelTest, "eu-1", 2})}
		}, ChannelTest, "", "art_a", 1},
		{"eu-1 does not match empty env", &def, func() []*Artifact {
			return []*Artifact{deployArt("a", nil, promo{ChannelTest, "eu-1", 1}), deployArt("b", nil, promo{ChannelTest, "", 2})}
		}, ChannelTest, "eu-1", "art_a", 1},
		{"env match is exact", &def, func() []*Artifact {
			return []*Artifact{deployArt("a", nil, promo{ChannelTest, "eu-1", 1})}
		}, ChannelTest, "EU-1", "", 0},
		{"env prefix does not match", &def, func() []*Artifact {
			return []*Artifact{deployArt("a", nil, promo{ChannelTest, "eu-1", 1})}
		}, ChannelTest, "eu", "", 0},
		{"channel match is exact", &def, func() []*Artifact {
			return []*Artifact{deployArt("a", nil, promo{ChannelTest, "", 1}), deployArt("b", nil, promo{ChannelStaging, "", 2})}
		}, ChannelTest, "", "art_a", 1},
		{"latest of several promotions of one artifact", &def, func() []*Artifact {
			return []*Artifact{deployArt("a", nil, promo{ChannelTest, "", 1}, promo{ChannelTest, "", 5}), deployArt("b", nil, promo{ChannelTest, "", 3})}
		}, ChannelTest, "", "art_a", 5},
		{"PROD default needs ATTESTATION: newer without it excluded", &def, func() []*Artifact {
			return []*Artifact{deployArt("a", att, promo{ChannelProd, "", 1}), deployArt("b", nil, promo{ChannelProd, "", 2})}
		}, ChannelProd, "", "art_a", 1},
		{"stricter TEST policy excludes artifacts lacking ATTESTATION", &strictTest, func() []*Artifact {
			return []*Artifact{deployArt("a", att, promo{ChannelTest, "", 1}), deployArt("b", nil, promo{ChannelTest, "", 2})}
		}, ChannelTest, "", "art_a", 1},
		{"same artifacts under the default TEST policy pick the newest", &def, func() []*Artifact {
			return []*Artifact{deployArt("a", att, promo{ChannelTest, "", 1}), deployArt("b", nil, promo{ChannelTest, "", 2})}
		}, ChannelTest, "", "art_b", 2},
		{"tags are ignored", &def, func() []*Artifact {
			a := deployArt("a", nil, promo{ChannelTest, "", 1})
			a.Tags = []string{"prod", "stable", "deploy-me"}
			b := deployArt("b", nil, promo{ChannelTest, "", 2})
			b.Tags = nil
			return []*Artifact{a, b}
		}, ChannelTest, "", "art_b", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arts := tt.arts()
			pl, ok := PickDeployable(arts, tt.policy, tt.channel, tt.env)
			if tt.want == "" {
				if ok {
					t.Fatalf("picked %s, want none", pl.Artifact.ID)
				}
				return
			}
			if !ok {
				t.Fatalf("picked none, want %s", tt.want)
			}
			if pl.Artifact.ID != tt.want {
				t.Errorf("picked %s, want %s", pl.Artifact.ID, tt.want)
			}
			if pl.Promotion.Channel != tt.channel || pl.Promotion.TargetEnvironment != tt.env || !pl.Promotion.PromotedAt.Equal(at(tt.wantMin)) {
				t.Errorf("placement promotion %+v, want %s/%q at minute %d", pl.Promotion, tt.channel, tt.env, tt.wantMin)
			}
		})
	}
}

func TestPickDeployableTieBreakIsStable(t *testing.T) {
	p := allowlistPolicy()
	a := deployArt("a", nil, promo{ChannelTest, "", 1})
	b := deployArt("b", nil, promo{ChannelTest, "", 1})
	x, _ := PickDeployable([]*Artifact{a, b}, &p, ChannelTest, "")
	y, _ := PickDeployable([]*Artifact{b, a}, &p, ChannelTest, "")
	if x.Artifact.ID != y.Artifact.ID {
		t.Errorf("tie broken differently by input order: %s vs %s", x.Artifact.ID, y.Artifact.ID)
	}
}

func TestChannelStatusOneRowPerChannelAndEnvironmentOrdered(t *testing.T) {
	a := deployArt("a", nil, promo{ChannelDev, "", 1}, promo{ChannelTest, "", 2}, promo{ChannelProd, "us-1", 3}, promo{ChannelDev, "eu-1", 4})
	b := deployArt("b", nil, promo{ChannelDev, "", 5}, promo{ChannelTest, "eu-1", 6}, promo{ChannelProd, "", 7})
	c := deployArt("c", nil, promo{ChannelProd, "eu-1", 8}, promo{ChannelTest, "", 1})
	b.TrustState = TrustRevoked // status shows the latest promotion even when it is no longer deployable
	got := ChannelStatus([]*Artifact{a, b, c})
	type row struct {
		c   Channel
		env string
		id  string
		min int
	}
	want := []row{
		{ChannelDev, "", "art_b", 5},
		{ChannelDev, "eu-1", "art_a", 4},
		{ChannelTest, "", "art_a", 2},
		{ChannelTest, "eu-1", "art_b", 6},
		{ChannelProd, "", "art_b", 7},
		{ChannelProd, "eu-1", "art_c", 8},
		{ChannelProd, "us-1", "art_a", 3},
	}
	var rows []row
	for _, pl := range got {
		if pl.Artifact == nil {
			t.Fatal("row without artifact")
		}
		rows = append(rows, row{pl.Promotion.Channel, pl.Promotion.TargetEnvironment, pl.Artifact.ID, int(pl.Promotion.PromotedAt.Sub(t0).Minutes())})
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("ChannelStatus =\n%+v\nwant\n%+v", rows, want)
	}
	if got := ChannelStatus(nil); got == nil || len(got) != 0 {
		t.Errorf("ChannelStatus(nil) = %#v, want empty non-nil", got)
	}
}

// TestDeployFactsAreAllThatDeployableReads: artifacts with equal DeployFacts decide
// alike under every policy and channel, whatever else differs between them (a read
// model keeps only the facts); facts follow the latest record per check.
func TestDeployFactsAreAllThatDeployableReads(t *testing.T) {
	strict := allowlistPolicy()
	for i := range strict.Channels {
		strict.Channels[i].RequiredTrust = TrustRequireVerified
		strict.Channels[i].RequiredChecks = []Check{CheckSignature, CheckAttestation}
	}
	loose := allowlistPolicy()
	for i := range loose.Channels {
		loose.Channels[i].RequiredTrust = TrustAllowUnverified
		loose.Channels[i].RequiredChecks = []Check{}
	}
	def := allowlistPolicy()
	policies := []*Policy{&def, &strict, &loose}

	verifications := [][]VerificationRecord{
		nil,
		allBaselinePassed(),
		{passed(CheckAttestation)},
		{passed(CheckSignature), passed(CheckAttestation)},
		{failed(CheckAttestation), passed(CheckAttestation)}, // the first record of a check is its latest
		{passed(CheckSignature), failed(CheckSignature)},
	}
	for _, l := range allLifecycle {
		for _, tr := range allTrust {
			for vi, ver := range verifications {
				a := deployArt("a", nil, promo{ChannelDev, "", 1})
				a.LifecycleState, a.TrustState, a.Verification = l, tr, ver
				// b shares only the facts with a (its source among them).
				b := deployArt("bbbb", nil, promo{ChannelProd, "eu-1", 9}, promo{ChannelTest, "", 3})
				b.TrustState, b.Verification = tr, append([]VerificationRecord(nil), ver...)
				b.Kind, b.SourceType, b.Tags = KindArchive, SourceObjectStore, nil
				b.LifecycleState = LifecyclePromoted
				if l == LifecycleRetired {
					b.LifecycleState = LifecycleRetired
				} else if l == LifecyclePromoted {
					b.LifecycleState = LifecycleDeprecated
				}
				fa, fb := a.DeployFacts(), b.DeployFacts()
				if !reflect.DeepEqual(fa, fb) {
					t.Fatalf("%s/%s/%d: facts differ: %+v vs %+v", l, tr, vi, fa, fb)
				}
				for _, p := range policies {
					for _, c := range Channels {
						da, db, df := Deployable(a, p, c), Deployable(b, p, c), fa.Deployable(p, c)
						if da != db || da != df {
							t.Fatalf("%s/%s/%d %s: Deployable a=%v b=%v facts=%v", l, tr, vi, c, da, db, df)
						}
					}
				}
			}
		}
	}
	a := deployArt("a", []VerificationRecord{failed(CheckAttestation), passed(CheckAttestation)})
	if f := a.DeployFacts(); contains(f.Passed, CheckAttestation) || !contains(f.Passed, CheckDigestPresent) {
		t.Fatalf("passed checks %v: the latest (first) record of each check counts", f.Passed)
	}
}
