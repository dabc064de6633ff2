package provision

import (
	"context"
	"errors"

	"github.com/flareform/flareform/provision/spec"
)

// PlanPromote reads every named worker (every spec worker when workers is empty) and plans
// its canary to 100%. A named worker without a canary is an error; unnamed ones are left out.
func (e *Engine) PlanPromote(ctx context.Context, s *spec.Spec, workers []string) (*RolloutPlan, error) {
	return nil, errors.New("promote: not implemented yet")
}

// PlanRollback reads every named worker and plans the version it goes back to, refusing a
// target whose API key differs from the serving one's unless opts.Force.
func (e *Engine) PlanRollback(ctx context.Context, s *spec.Spec, opts RollbackOptions) (*RolloutPlan, error) {
	return nil, errors.New("rollback: not implemented yet")
}

// ApplyRollout runs rp: for each worker, the guarded deployment of its version to 100% and
// the smoke test that must pass for exit 0.
func (e *Engine) ApplyRollout(ctx context.Context, rp *RolloutPlan, opts RolloutOptions) (*RolloutResult, error) {
	return nil, errors.New("rollout: not implemented yet")
}
