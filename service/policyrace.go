package service

import (
	"context"
	"time"

	"github.com/artifact-trust/control-plane/model"
)

// PolicyRace is a decision that the policy version read right after its write
// decides differently from the version it was decided under (or that could not be
// checked): its write may have landed after that newer version was stored, and
// acknowledged, by another process. Inside one process the policy locks rule it
// out; it can happen only when several processes write one database.
type PolicyRace struct {
	Operation      string
	Project        string
	ArtifactID     string
	Actor          string
	CorrelationID  string
	DecidedVersion int
	// CurrentVersion is the version read after the write; -1 when it could not be read.
	CurrentVersion int
	// Detail says how the current version decides, or why it could not be checked.
	Detail string
}

// policyRecheckTimeout bounds the policy read after a decision's write.
const policyRecheckTimeout = 2 * time.Second

// WithPolicyRecheck makes every decision read its project's policy again after its
// write (one _id look-up) and hands report each decision whose write landed after
// the policy had moved to a version that decides it differently. For deployments
// where several processes share the database; see the README's "Policy versions".
func WithPolicyRecheck(report func(PolicyRace)) Option {
	return func(s *Service) { s.policyRace = report }
}

// recheckDecision reads the policy of a's project after a decision under decided
// was written to a, and reports the decision when the policy has moved on and
// redecide says the current version decides it differently.
func (s *Service) recheckDecision(ctx context.Context, rq Request, operation string, decided *model.Policy, redecide func(cur *model.Policy) (detail string, differs bool), a *model.Artifact) {
	if s.policyRace == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), policyRecheckTimeout)
	defer cancel()
	race := PolicyRace{
		Operation: operation, Project: a.Project, ArtifactID: a.ID, Actor: rq.Actor.Subject,
		CorrelationID: rq.CorrelationID, DecidedVersion: decided.Version, CurrentVersion: -1,
	}
	cur, err := s.decisionPolicy(ctx, a.Project)
	if err != nil {
		race.Detail = "the policy could not be read again after the write: " + err.Error()
		s.policyRace(race)
		return
	}
	if cur.Version == decided.Version {
		return
	}
	race.CurrentVersion = cur.Version
	var differs bool
	if race.Detail, differs = redecide(cur); differs {
		s.policyRace(race)
	}
}
