package main

import "testing"

// TestAViewersRefusalsLeaveTheOtherSubjectsRecentDenialsInPlace: a viewer's 100
// refused promotions take at most 20 places in recentDenials; the refusals of the
// other subjects stay.
func TestAViewersRefusalsLeaveTheOtherSubjectsRecentDenialsInPlace(t *testing.T) {
	t.Parallel()
	ts := startServer(t, t.TempDir())
	c := newCast(t)
	a := ts.register(c.publisher, "payments", 1, nil)
	promote := func(tok, channel string) {
		t.Helper()
		if e := ts.ErrCode(tok, promoteMutation, map[string]any{"in": map[string]any{"artifactId": a.ID, "channel": channel}}); e.Code() != "POLICY_DENIED" {
			t.Fatalf("promotion answered %s, want POLICY_DENIED", e.Code())
		}
	}
	promote(c.publisher, "DEV") // pat holds no promoter role
	promote(c.promoter, "PROD") // prue may not promote into PROD
	for range 100 {
		promote(c.viewer, "DEV")
	}
	var out struct {
		RecentDenials []struct {
			Actor string `json:"actor"`
		} `json:"recentDenials"`
	}
	ts.MustDo(c.viewer, `{ recentDenials(project: "payments", first: 100) { actor } }`, nil, &out)
	count := map[string]int{}
	for _, d := range out.RecentDenials {
		count[d.Actor]++
	}
	if count["pat"] != 1 || count["prue"] != 1 || count["vic"] != 20 || len(out.RecentDenials) != 22 {
		t.Fatalf("recentDenials by subject: %v", count)
	}
}
