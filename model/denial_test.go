package model

import (
	"fmt"
	"testing"
)

func TestKeepRecentDenialsKeepsTheNewestHundredAndAtMostTwentyPerSubject(t *testing.T) {
	type refusal struct{ subject, id string }
	subject := func(r refusal) string { return r.subject }
	var entries []refusal
	add := func(s string, n int) {
		for i := 0; i < n; i++ {
			entries = append(entries, refusal{s, fmt.Sprintf("%s-%d", s, i)})
		}
	}

	// A few refusals of others, then a flood from one viewer.
	add("ann", 3)
	add("bob", 25)
	add("vic", 100)
	kept := KeepRecentDenials(entries, subject)
	count := map[string]int{}
	for _, r := range kept {
		count[r.subject]++
	}
	if count["ann"] != 3 || count["bob"] != MaxRecentDenialsPerSubject || count["vic"] != MaxRecentDenialsPerSubject || len(kept) != 3+2*MaxRecentDenialsPerSubject {
		t.Fatalf("kept %v", count)
	}
	// Oldest first, and each subject's newest are the ones kept.
	if kept[0].id != "ann-0" || kept[3].id != "bob-5" || kept[len(kept)-1].id != "vic-99" || kept[len(kept)-MaxRecentDenialsPerSubject].id != "vic-80" {
		t.Fatalf("kept %v", kept)
	}

	// With many subjects the project limit holds: the newest hundred.
	entries = nil
	for i := 0; i < 150; i++ {
		entries = append(entries, refusal{fmt.Sprintf("s%d", i%10), fmt.Sprint(i)})
	}
	kept = KeepRecentDenials(entries, subject)
	if len(kept) != MaxRecentDenials || kept[0].id != "50" || kept[len(kept)-1].id != "149" {
		t.Fatalf("kept %d, from %v to %v", len(kept), kept[0], kept[len(kept)-1])
	}
	if got := KeepRecentDenials([]refusal(nil), subject); len(got) != 0 {
		t.Fatalf("kept %v of nothing", got)
	}
}
