package model

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// fuzzPolicyInput decodes a policy input from fuzz arguments. sel drives the enum
// lists and the channels (each value may be out of range, to reach the enum checks);
// the strings are newline-separated lists.
func fuzzPolicyInput(sel []byte, sources, classes, subjects string, flags uint8) PolicyInput {
	split := func(s string) []string {
		if s == "" {
			return nil
		}
		return strings.Split(s, "\n")
	}
	pick := func(b byte, n int) int { return int(b) % (n + 1) } // n means "invalid"
	in := PolicyInput{
		AllowedSources:       split(sources),
		NonOCIRuntimeClasses: split(classes),
		AllowNonOCI:          flags&1 != 0,
		StrictProgression:    flags&2 != 0,
	}
	next := func() (byte, bool) {
		if len(sel) == 0 {
			return 0, false
		}
		b := sel[0]
		sel = sel[1:]
		return b, true
	}
	// Source types and required checks: a count, then that many picks.
	if n, ok := next(); ok {
		for i := 0; i < int(n%6); i++ {
			b, _ := next()
			if j := pick(b, len(AllSourceTypes)); j < len(AllSourceTypes) {
				in.AllowedSourceTypes = append(in.AllowedSourceTypes, AllSourceTypes[j])
			} else {
				in.AllowedSourceTypes = append(in.AllowedSourceTypes, SourceType("FTP"))
			}
		}
	}
	allChecks := append(append([]Check(nil), BaselineChecks...), ReservedChecks...)
	if n, ok := next(); ok {
		for i := 0; i < int(n%6); i++ {
			b, _ := next()
			if j := pick(b, len(allChecks)); j < len(allChecks) {
				in.RequiredChecks = append(in.RequiredChecks, allChecks[j])
			} else {
				in.RequiredChecks = append(in.RequiredChecks, Check("NONE"))
			}
		}
	}
	// Channels: channel, trust, role mask, check pick; the subjects go to the first.
	for len(sel) >= 4 {
		c, _ := next()
		tr, _ := next()
		roles, _ := next()
		chk, _ := next()
		ci := ChannelPolicyInput{Channel: Channel("QA"), RequiredTrust: TrustRequirement("MAYBE")}
		if j := pick(c, len(Channels)); j < len(Channels) {
			ci.Channel = Channels[j]
		}
		switch tr % 3 {
		case 0:
			ci.RequiredTrust = TrustAllowUnverified
		case 1:
			ci.RequiredTrust = TrustRequireVerified
		}
		for i, r := range AllRoles {
			if roles&(1<<i) != 0 {
				ci.PromoterRoles = append(ci.PromoterRoles, r)
			}
		}
		if roles&0x80 != 0 {
			ci.PromoterRoles = append(ci.PromoterRoles, Role("ROOT"))
		}
		if j := pick(chk, len(allChecks)); j < len(allChecks) {
			ci.RequiredChecks = []Check{allChecks[j]}
		}
		if len(in.Channels) == 0 {
			ci.PromoterSubjects = split(subjects)
		}
		in.Channels = append(in.Channels, ci)
	}
	return in
}

// FuzzNewPolicy checks policy input validation: NewPolicy never panics, refuses
// with BAD_USER_INPUT naming the field, or returns a policy whose every value
// passes the validators, with the four channels in order and someone able to
// promote into each.
func FuzzNewPolicy(f *testing.F) {
	f.Add("payments", []byte{1, 0, 0}, "registry.example.com/", "", "", uint8(2))
	f.Add("payments", []byte{3, 0, 1, 2, 1, 6, 0, 1, 0x18, 9, 3, 1, 0x10, 6}, "registry.example.com/payments/\ns3://bucket/", "linux-amd64\nwasm", "ci-release", uint8(3))
	f.Add("p", []byte{2, 0, 0, 0, 0, 0, 0, 0, 0}, "a\na\na", "", "", uint8(0))          // duplicates, a channel nobody may promote into
	f.Add("p", []byte{1, 3, 0, 4, 2, 1, 0}, "$where", "Linux", "bad subject", uint8(1)) // invalid enum values and names
	f.Add("", []byte{}, "", "", "", uint8(0))
	f.Add("pay ments", []byte{1, 0}, "", "", "", uint8(0))
	f.Add("p", []byte{1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0}, "x\u202e", "-x", "\x00", uint8(0)) // duplicate channel
	f.Add(strings.Repeat("p", 129), []byte{1, 0}, strings.Repeat("s", 513), strings.Repeat("c", 64), strings.Repeat("u", 257), uint8(0))
	f.Fuzz(func(t *testing.T, project string, sel []byte, sources, classes, subjects string, flags uint8) {
		in := fuzzPolicyInput(sel, sources, classes, subjects, flags)
		p, err := NewPolicy(project, in)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindBadInput || e.Field == "" || !strings.HasPrefix(e.Message, e.Field+": ") {
				t.Fatalf("error %#v is not BAD_USER_INPUT naming a field", err)
			}
			if len(e.Message) > 600 {
				t.Fatalf("message of %d bytes", len(e.Message))
			}
			if !reflect.DeepEqual(p, Policy{}) {
				t.Fatalf("policy %+v returned with an error", p)
			}
			return
		}
		again, err := NewPolicy(project, in)
		if err != nil || !reflect.DeepEqual(p, again) {
			t.Fatalf("NewPolicy is not deterministic: %v", err)
		}
		checkPolicy(t, project, p)
	})
}

func checkPolicy(t *testing.T, project string, p Policy) {
	t.Helper()
	if p.Project != project || ValidateProject(project) != nil {
		t.Fatalf("project %q accepted as %q", project, p.Project)
	}
	if len(p.AllowedSourceTypes) == 0 {
		t.Fatal("no allowed source type")
	}
	uniqueValidList(t, "allowedSourceTypes", p.AllowedSourceTypes, SourceType.Valid)
	uniqueValidList(t, "requiredChecks", p.RequiredChecks, Check.Valid)
	uniqueStrings(t, "allowedSources", p.AllowedSources, ValidateSourcePrefix)
	uniqueStrings(t, "nonOciRuntimeClasses", p.NonOCIRuntimeClasses, ValidateRuntimeClass)
	if len(p.Channels) != len(Channels) {
		t.Fatalf("%d channels", len(p.Channels))
	}
	for i, cp := range p.Channels {
		if cp.Channel != Channels[i] || !cp.RequiredTrust.Valid() {
			t.Fatalf("channel %d = %+v", i, cp)
		}
		uniqueValidList(t, "promoterRoles", cp.PromoterRoles, Role.Valid)
		uniqueValidList(t, "channel requiredChecks", cp.RequiredChecks, Check.Valid)
		uniqueStrings(t, "promoterSubjects", cp.PromoterSubjects, ValidateSubject)
		if len(cp.PromoterRoles) == 0 && len(cp.PromoterSubjects) == 0 {
			t.Fatalf("nobody may promote into %s", cp.Channel)
		}
	}
}

func uniqueValidList[T comparable](t *testing.T, name string, list []T, valid func(T) bool) {
	t.Helper()
	seen := map[T]bool{}
	for _, v := range list {
		if !valid(v) || seen[v] {
			t.Fatalf("%s accepted %v (list %v)", name, v, list)
		}
		seen[v] = true
	}
}

func uniqueStrings(t *testing.T, name string, list []string, validate func(field, s string) error) {
	t.Helper()
	seen := map[string]bool{}
	for _, s := range list {
		if err := validate(name, s); err != nil || seen[s] {
			t.Fatalf("%s accepted %q (%v)", name, s, err)
		}
		seen[s] = true
	}
}
