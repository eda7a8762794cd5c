package model

import "testing"

func TestDecisionsRecordThePolicyVersionTheyWereDecidedUnder(t *testing.T) {
	p := allowlistPolicy()
	p.Version = 5
	a, err := Verify(newArt(t), &p, []VerificationRecord{{Check: CheckSignature, Result: ResultPassed}}, verifier, testCorr, "", at(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Verification) != len(BaselineChecks)+1 {
		t.Fatalf("%d records", len(a.Verification))
	}
	for _, r := range a.Verification {
		if r.PolicyVersion == nil || *r.PolicyVersion != 5 {
			t.Errorf("record %s: policy version %v, want 5", r.Check, r.PolicyVersion)
		}
	}
	if v := a.Audit[len(a.Audit)-1].PolicyVersion; v == nil || *v != 5 {
		t.Fatalf("verify event: policy version %v, want 5", v)
	}

	// A later decision records its own version; earlier records keep theirs.
	p.Version = 6
	a, err = Promote(a, &p, promoter, PromotionRequest{Channel: ChannelDev}, testCorr, at(2))
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Promotions[0].PolicyVersion; got != 6 {
		t.Fatalf("promotion: policy version %d, want 6", got)
	}
	if v := a.Audit[len(a.Audit)-1].PolicyVersion; v == nil || *v != 6 {
		t.Fatalf("promote event: policy version %v, want 6", v)
	}
	if r, _ := a.Record(CheckSignature); *r.PolicyVersion != 5 {
		t.Fatalf("the SIGNATURE record moved to version %d", *r.PolicyVersion)
	}

	// Events no policy decides name no version.
	a, err = Deprecate(a, publisher, testCorr, "superseded", at(3))
	if err != nil {
		t.Fatal(err)
	}
	if v := a.Audit[len(a.Audit)-1].PolicyVersion; v != nil {
		t.Fatalf("deprecate event: policy version %d, want none", *v)
	}
	// VersionRef hands out a copy: changing the policy later changes no record.
	p.Version = 7
	if got := a.Promotions[0].PolicyVersion; got != 6 || *a.Audit[len(a.Audit)-2].PolicyVersion != 6 {
		t.Fatal("a record follows the policy it was decided under")
	}
}
