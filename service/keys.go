package service

import (
	"context"

	"github.com/artifact-trust/control-plane/model"
)

// TrustedKeys returns a project's live trusted keys in the order they were added,
// and with includeRevoked its revoked ones too. Any role in the project may read.
// admit, when set, is told the list's length before it is returned and may refuse
// it (it prices the list).
func (s *Service) TrustedKeys(ctx context.Context, rq Request, project string, includeRevoked bool, admit Admit) ([]model.TrustedKey, error) {
	if err := requireRead(rq.Actor, project); err != nil {
		return nil, err
	}
	keys, _, err := s.store.TrustedKeys(ctx, project)
	if err != nil {
		return nil, err
	}
	out := keys
	if !includeRevoked {
		out = make([]model.TrustedKey, 0, len(keys))
		for _, k := range keys {
			if k.Live() {
				out = append(out, k)
			}
		}
	}
	if admit != nil {
		if err := admit(len(out)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// AddTrustedKey trusts a public key in a project (project_admin), recorded in the
// project trail as project.key_added. Adding a live key again with the same
// settings returns it unchanged.
func (s *Service) AddTrustedKey(ctx context.Context, rq Request, project string, in model.TrustedKeyInput) (*model.TrustedKey, error) {
	if err := requireAdmin(rq.Actor, project); err != nil {
		return nil, err
	}
	var out model.TrustedKey
	err := s.changeKeys(ctx, project, func(keys []model.TrustedKey, p *model.Policy) ([]model.TrustedKey, bool, error) {
		k, err := model.NewTrustedKey(project, in, rq.Actor, rq.CorrelationID, p.Version, s.clock())
		if err != nil {
			return nil, false, err
		}
		next, stored, added, err := model.AddKey(keys, k)
		out = stored
		return next, added, err
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeTrustedKey revokes a project's trusted key for good (project_admin),
// recorded in the project trail as project.key_revoked. From then on no evidence
// verifies under it, and evidence that rested on it alone counts as no result in
// every decision (model/trust.go). Revoking it again is INVALID_TRANSITION.
func (s *Service) RevokeTrustedKey(ctx context.Context, rq Request, project, keyID, reason string) (*model.TrustedKey, error) {
	if err := requireAdmin(rq.Actor, project); err != nil {
		return nil, err
	}
	// Exclusive, as a policy change: every decision taken under the key is written
	// before the revocation is stored, and every later one sees it.
	unlock, err := s.policyLocks.Lock(ctx, project)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var out model.TrustedKey
	var after []model.TrustedKey
	var policy *model.Policy
	err = s.changeKeys(ctx, project, func(keys []model.TrustedKey, p *model.Policy) ([]model.TrustedKey, bool, error) {
		next, k, err := model.RevokeKey(keys, project, keyID, reason, rq.Actor, rq.CorrelationID, p.Version, s.clock())
		out, after, policy = k, next, p
		return next, err == nil, err
	})
	if err != nil {
		return nil, err
	}
	// Stored trust catches up with the revocation in the background (rederive.go).
	s.trustInputsChanged(ctx, rq, project, policy.WithKeys(after), model.KeyRevokedReason(out.ID))
	return &out, nil
}

// changeKeys applies rule to a project's keys and stores the result when rule says
// it changed them, serialized per project in the process and retried when another
// writer won the version race.
func (s *Service) changeKeys(ctx context.Context, project string, rule func(keys []model.TrustedKey, p *model.Policy) ([]model.TrustedKey, bool, error)) error {
	unlock, err := s.locks.Lock(ctx, "keys\x00"+project)
	if err != nil {
		return err
	}
	defer unlock()
	for attempt := 0; attempt < s.maxAttempts; attempt++ {
		keys, version, err := s.store.TrustedKeys(ctx, project)
		if err != nil {
			return err
		}
		p, err := s.policy(ctx, project)
		if err != nil {
			return err
		}
		next, changed, err := rule(keys, p)
		if err != nil || !changed {
			return err
		}
		err = s.store.PutTrustedKeys(ctx, project, version, next)
		if model.IsKind(err, model.KindConflict) && ctx.Err() == nil {
			continue
		}
		return err
	}
	return model.Errorf(model.KindConflict, "the trusted keys of project %s are being changed concurrently; try again", project)
}
