package main

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"

	"github.com/artifact-trust/control-plane/service"
)

// policyRaceReporter logs and counts the decisions that the policy version read
// right after their write decides differently (service.WithPolicyRecheck): with
// several replicas on one MongoDB, such a decision may have been written after
// another replica acknowledged that version.
func policyRaceReporter(log *logrus.Logger, reg prometheus.Registerer) func(service.PolicyRace) {
	races := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "artifact_trust_policy_races_total",
		Help: "Decisions written while another replica changed the project policy to a version that decides them differently, by operation.",
	}, []string{"operation"})
	reg.MustRegister(races)
	return func(r service.PolicyRace) {
		races.WithLabelValues(r.Operation).Inc()
		log.WithFields(logrus.Fields{
			"correlation_id":  r.CorrelationID,
			"operation":       r.Operation,
			"project":         r.Project,
			"artifact_id":     r.ArtifactID,
			"actor":           r.Actor,
			"policy_version":  r.DecidedVersion,
			"current_version": r.CurrentVersion,
			"detail":          r.Detail,
		}).Error("a decision was written while another replica changed the project policy")
	}
}
