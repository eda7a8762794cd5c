package model

import "time"

// MaxRecentDenials is how many refusals a project keeps for its dashboard.
const MaxRecentDenials = 100

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
