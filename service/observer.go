package service

import (
	"errors"

	"github.com/artifact-trust/control-plane/model"
)

// Observer is told what the service did, after the fact: metrics and live
// subscriptions hang off it. Calls are synchronous and must not block.
type Observer interface {
	// Committed receives the audit events of one successful artifact write, in order.
	Committed(events []model.AuditEvent)
	// Denied receives the classes (model.Deny*) of one policy refusal of operation.
	Denied(operation string, classes []string)
}

// WithObserver adds an observer; several may be added.
func WithObserver(o Observer) Option {
	return func(s *Service) { s.observers = append(s.observers, o) }
}

func (s *Service) committed(before, after *model.Artifact) {
	if len(s.observers) == 0 {
		return
	}
	n := 0
	if before != nil {
		n = len(before.Audit)
	}
	if n >= len(after.Audit) {
		return
	}
	events := after.Audit[n:]
	for _, o := range s.observers {
		o.Committed(events)
	}
}

// observeDenial reports err to the observers when it is a policy refusal.
func (s *Service) observeDenial(operation string, err error) {
	var me *model.Error
	if len(s.observers) == 0 || !errors.As(err, &me) || me.Kind != model.KindPolicyDenied {
		return
	}
	for _, o := range s.observers {
		o.Denied(operation, me.Classes)
	}
}
