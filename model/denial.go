package model

import "time"

// MaxRecentDenials is how many refusals a project keeps for its dashboard, and
// MaxRecentDenialsPerSubject how many of them one subject's refusals may take, so
// one caller cannot push the others' refusals out.
const (
	MaxRecentDenials           = 100
	MaxRecentDenialsPerSubject = 20
)

// KeepRecentDenials returns the refusals of entries (oldest first, the subject of
// each given by subject) that a project keeps, oldest first: walking from the newest,
// each refusal whose subject has fewer than MaxRecentDenialsPerSubject newer ones
// kept, until MaxRecentDenials are kept.
func KeepRecentDenials[T any](entries []T, subject func(T) string) []T {
	keep := make([]bool, len(entries))
	perSubject := map[string]int{}
	kept := 0
	for i := len(entries) - 1; i >= 0 && kept < MaxRecentDenials; i-- {
		s := subject(entries[i])
		if perSubject[s] == MaxRecentDenialsPerSubject {
			continue
		}
		perSubject[s]++
		keep[i] = true
		kept++
	}
	out := make([]T, 0, kept)
	for i, e := range entries {
		if keep[i] {
			out = append(out, e)
		}
	}
	return out
}

// Denial is one refused mutation (POLICY_DENIED). Refusals are not artifact events;
// each project keeps its most recent ones so people can see why a pipeline stopped.
type Denial struct {
	Project           string
	Operation         string
	Actor             string
	ActorType         ActorType
	ArtifactID        string
	Digest            string
	Channel           Channel
	TargetEnvironment string
	Reasons           []string
	Classes           []string
	CorrelationID     string
	At                time.Time
}
