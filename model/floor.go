package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Floor is the operator's policy floor (POLICY_FLOOR_FILE): per-channel minimums no
// project policy may go below. The effective policy of every project is raised to
// it (Apply), and setProjectPolicy below it is refused naming each violation
// (Violations).
type Floor struct {
	Channels map[Channel]FloorChannel `json:"channels"`
}

// FloorChannel holds the minimums of one channel. Zero values ask for nothing.
type FloorChannel struct {
	// RequiredTrust VERIFIED forbids ALLOW_UNVERIFIED.
	RequiredTrust TrustRequirement `json:"requiredTrust,omitempty"`
	// RequiredChecks must all be among the channel's required checks.
	RequiredChecks []Check `json:"requiredChecks,omitempty"`
	// RequireVerifiedEvidence true forbids turning it off.
	RequireVerifiedEvidence bool `json:"requireVerifiedEvidence,omitempty"`
	// AllowedPromoterRoles, when present, are the only promoter roles a project may
	// name (an empty list: none; promoterSubjects are not limited).
	AllowedPromoterRoles []Role `json:"allowedPromoterRoles,omitempty"`
	// MinApprovals and MinSoakSeconds are the least requiredApprovals and
	// minSoakSeconds.
	MinApprovals   int `json:"minApprovals,omitempty"`
	MinSoakSeconds int `json:"minSoakSeconds,omitempty"`
	// ForbidSelfApproval true forbids turning forbidSelfApproval off.
	ForbidSelfApproval bool `json:"forbidSelfApproval,omitempty"`
}

// ParseFloor parses a floor file: a JSON object {"channels": {"PROD": {...}}}.
// Unknown fields, unknown channels, checks and roles, and out-of-range numbers are
// errors, so a typo never weakens the floor silently.
func ParseFloor(data []byte) (Floor, error) {
	var raw struct {
		Channels map[string]json.RawMessage `json:"channels"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return Floor{}, fmt.Errorf("not a floor (a JSON object {\"channels\": {\"PROD\": {...}}}): %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Floor{}, fmt.Errorf("unexpected data after the JSON object")
	}
	f := Floor{Channels: map[Channel]FloorChannel{}}
	for name, body := range raw.Channels {
		c := Channel(name)
		if !c.Valid() {
			return Floor{}, fmt.Errorf("channels: unknown channel %q (one of %s)", name, joinList(Channels))
		}
		var fc FloorChannel
		d := json.NewDecoder(bytes.NewReader(body))
		d.DisallowUnknownFields()
		if err := d.Decode(&fc); err != nil {
			return Floor{}, fmt.Errorf("channels.%s: %w", name, err)
		}
		if fc.RequiredTrust != "" && !fc.RequiredTrust.Valid() {
			return Floor{}, fmt.Errorf("channels.%s.requiredTrust: unknown trust requirement %q", name, fc.RequiredTrust)
		}
		for _, chk := range fc.RequiredChecks {
			if !chk.Valid() {
				return Floor{}, fmt.Errorf("channels.%s.requiredChecks: unknown check %q", name, chk)
			}
		}
		for _, r := range fc.AllowedPromoterRoles {
			if !r.Valid() {
				return Floor{}, fmt.Errorf("channels.%s.allowedPromoterRoles: unknown role %q", name, r)
			}
		}
		if fc.MinApprovals < 0 || fc.MinApprovals > MaxRequiredApprovals {
			return Floor{}, fmt.Errorf("channels.%s.minApprovals: must be from 0 to %d, not %d", name, MaxRequiredApprovals, fc.MinApprovals)
		}
		if fc.MinSoakSeconds < 0 || fc.MinSoakSeconds > MaxSoakSeconds {
			return Floor{}, fmt.Errorf("channels.%s.minSoakSeconds: must be from 0 to %d, not %d", name, MaxSoakSeconds, fc.MinSoakSeconds)
		}
		if c == ChannelDev && fc.MinSoakSeconds > 0 {
			return Floor{}, fmt.Errorf("channels.DEV.minSoakSeconds: DEV has no channel before it to soak in")
		}
		f.Channels[c] = fc
	}
	return f, nil
}

// Empty reports whether the floor asks for nothing.
func (f Floor) Empty() bool { return len(f.Channels) == 0 }

// Violations lists every way p goes below the floor, one sentence each, in channel
// order.
func (f Floor) Violations(p *Policy) []string {
	var out []string
	for _, c := range Channels {
		fc, ok := f.Channels[c]
		if !ok {
			continue
		}
		cp := p.Channel(c)
		if fc.RequiredTrust == TrustRequireVerified && cp.RequiredTrust != TrustRequireVerified {
			out = append(out, fmt.Sprintf("channel %s: requiredTrust %s is below the floor's VERIFIED", c, cp.RequiredTrust))
		}
		if missing := missingFrom(cp.RequiredChecks, fc.RequiredChecks); len(missing) > 0 {
			out = append(out, fmt.Sprintf("channel %s: requiredChecks must include %s (the floor requires %s)", c, joinList(missing), joinList(fc.RequiredChecks)))
		}
		if fc.RequireVerifiedEvidence && !cp.RequireVerifiedEvidence {
			out = append(out, fmt.Sprintf("channel %s: requireVerifiedEvidence must be true (the floor requires it)", c))
		}
		if fc.AllowedPromoterRoles != nil {
			if extra := missingFrom(fc.AllowedPromoterRoles, cp.PromoterRoles); len(extra) > 0 {
				allowed := "none"
				if len(fc.AllowedPromoterRoles) > 0 {
					allowed = joinList(fc.AllowedPromoterRoles)
				}
				out = append(out, fmt.Sprintf("channel %s: promoterRoles %s are beyond the floor's allowed promoter roles (%s)", c, joinList(extra), allowed))
			}
		}
		if cp.RequiredApprovals < fc.MinApprovals {
			out = append(out, fmt.Sprintf("channel %s: requiredApprovals %d is below the floor's %d", c, cp.RequiredApprovals, fc.MinApprovals))
		}
		if cp.MinSoakSeconds < fc.MinSoakSeconds {
			out = append(out, fmt.Sprintf("channel %s: minSoakSeconds %d is below the floor's %d", c, cp.MinSoakSeconds, fc.MinSoakSeconds))
		}
		if fc.ForbidSelfApproval && !cp.ForbidSelfApproval {
			out = append(out, fmt.Sprintf("channel %s: forbidSelfApproval must be true (the floor requires it)", c))
		}
	}
	return out
}

// Apply returns p raised to the floor: each channel's trust, checks, evidence,
// approvals, soak and self-approval at least the floor's, and its promoter roles
// cut to those the floor allows. A policy at or above the floor is returned as it
// is (the same values).
func (f Floor) Apply(p Policy) Policy {
	if f.Empty() {
		return p
	}
	channels := make([]ChannelPolicy, len(p.Channels))
	copy(channels, p.Channels)
	for i, cp := range channels {
		fc, ok := f.Channels[cp.Channel]
		if !ok {
			continue
		}
		if fc.RequiredTrust == TrustRequireVerified {
			cp.RequiredTrust = TrustRequireVerified
		}
		if missing := missingFrom(cp.RequiredChecks, fc.RequiredChecks); len(missing) > 0 {
			cp.RequiredChecks = append(append([]Check(nil), cp.RequiredChecks...), missing...)
		}
		cp.RequireVerifiedEvidence = cp.RequireVerifiedEvidence || fc.RequireVerifiedEvidence
		if fc.AllowedPromoterRoles != nil {
			roles := []Role{}
			for _, r := range cp.PromoterRoles {
				if contains(fc.AllowedPromoterRoles, r) {
					roles = append(roles, r)
				}
			}
			cp.PromoterRoles = roles
		}
		cp.RequiredApprovals = max(cp.RequiredApprovals, fc.MinApprovals)
		cp.MinSoakSeconds = max(cp.MinSoakSeconds, fc.MinSoakSeconds)
		cp.ForbidSelfApproval = cp.ForbidSelfApproval || fc.ForbidSelfApproval
		channels[i] = cp
	}
	p.Channels = channels
	return p
}

// Describe summarises the floor for the log, one channel after another.
func (f Floor) Describe() string {
	var parts []string
	for _, c := range Channels {
		if fc, ok := f.Channels[c]; ok {
			b, _ := json.Marshal(fc)
			parts = append(parts, string(c)+"="+string(b))
		}
	}
	return strings.Join(parts, " ")
}

// missingFrom returns the entries of want that have are missing.
func missingFrom[T comparable](have, want []T) []T {
	var out []T
	for _, w := range want {
		if !contains(have, w) {
			out = append(out, w)
		}
	}
	return out
}
