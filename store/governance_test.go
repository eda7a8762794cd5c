package store

import (
	"context"
	"reflect"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/artifact-trust/control-plane/model"
)

func TestPolicyGovernanceSettingsWindowsAndFreezeRoundTripAndOlderDocumentsReadDefaults(t *testing.T) {
	t.Parallel()
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	t0 := ms(t0)
	p := model.DefaultPolicy("payments")
	p.Channels[3].RequiredApprovals, p.Channels[3].ApproverRoles, p.Channels[3].ForbidSelfApproval = 2, []model.Role{model.RolePromoter}, false
	p.Channels[3].ApprovalValiditySeconds, p.Channels[3].MinSoakSeconds = 3600, 86400
	p.Channels[3].BreakGlassRoles, p.Channels[3].BreakGlassSubjects = []model.Role{model.RoleProjectAdmin}, []string{"oncall-bot"}
	p.PromotionWindows = []model.PromotionWindow{{Channels: []model.Channel{model.ChannelProd}, Days: []model.Weekday{"MONDAY"}, Start: "09:00", End: "16:00", TimeZone: "Europe/Berlin"}}
	until := t0.Add(time.Hour)
	p.Freeze = &model.Freeze{Channels: []model.Channel{}, Reason: "incident", FrozenBy: "carol", FrozenAt: t0, Until: &until}
	p.Version, p.UpdatedAt, p.UpdatedBy = 1, t0, "carol"
	if err := s.PutPolicy(ctx, &p, model.PolicyChange{Action: model.ActionFreeze, Project: "payments", Actor: "carol", ToVersion: 1, At: t0, Reason: "incident"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetPolicy(ctx, "payments")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, p) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", *got, p)
	}
	changes, err := s.PolicyChanges(ctx, "payments")
	if err != nil || len(changes) != 1 || changes[0].Action != model.ActionFreeze || changes[0].Reason != "incident" {
		t.Fatalf("policy trail %+v, %v", changes, err)
	}
	all, err := s.Policies(ctx)
	if err != nil || len(all) != 1 || all[0].Project != "payments" {
		t.Fatalf("Policies = %+v, %v", all, err)
	}

	// A channel stored before the governance settings existed reads the defaults.
	if _, err := s.policies.UpdateOne(ctx, bson.D{{Key: "_id", Value: "payments"}}, bson.D{{Key: "$unset", Value: bson.D{
		{Key: "channels.3.requiredApprovals", Value: ""}, {Key: "channels.3.approverRoles", Value: ""}, {Key: "channels.3.forbidSelfApproval", Value: ""},
		{Key: "channels.3.approvalValiditySeconds", Value: ""}, {Key: "channels.3.minSoakSeconds", Value: ""},
		{Key: "channels.3.breakGlassRoles", Value: ""}, {Key: "channels.3.breakGlassSubjects", Value: ""},
		{Key: "promotionWindows", Value: ""}, {Key: "freeze", Value: ""},
	}}}); err != nil {
		t.Fatal(err)
	}
	s.cacheWritten(s.policies, "payments") // written behind the store's back
	old, err := s.GetPolicy(ctx, "payments")
	if err != nil {
		t.Fatal(err)
	}
	if def := model.DefaultChannelPolicy(model.ChannelProd); !reflect.DeepEqual(old.Channels[3], def) || old.Freeze != nil || len(old.PromotionWindows) != 0 {
		t.Fatalf("older document reads %+v, windows %v, freeze %v; want %+v", old.Channels[3], old.PromotionWindows, old.Freeze, def)
	}
}
