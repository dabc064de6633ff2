package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/flareform/flareform/provision/cfapi"
	"github.com/flareform/flareform/provision/spec"
)

// PlanPromote reads every named worker (every spec worker when workers is empty) and plans
// its canary to 100%. A named worker without a canary is an error; unnamed ones are left out.
func (e *Engine) PlanPromote(ctx context.Context, s *spec.Spec, workers []string) (*RolloutPlan, error) {
	rp, selected, err := e.startRollout(ctx, s, RolloutPromote, workers)
	if err != nil {
		return nil, err
	}
	for _, w := range selected {
		read, err := e.readWorker(ctx, rp.AccountID, w.Name)
		if err != nil {
			return nil, fmt.Errorf("promote %s: %w", w.Name, err)
		}
		c := canaryOf(read.splitShares)
		if c == nil {
			if len(workers) == 0 {
				continue
			}
			return nil, fmt.Errorf("promote %s: no canary: %s serves all traffic (apply --canary PERCENT makes one)", w.Name, read)
		}
		rp.Workers = append(rp.Workers, RolloutStep{Key: w.Key, Name: w.Name, Serving: c.shares, Version: c.ID,
			Message: "flareform promote", worker: w, read: read})
	}
	if len(rp.Workers) == 0 {
		return nil, errors.New("promote: no worker of the spec has a canary (apply --canary PERCENT makes one)")
	}
	return rp, nil
}

// PlanRollback reads every named worker and plans the version it goes back to: opts.To, else
// the newest earlier deployment that served one version at 100% (wrangler's rule). A target
// whose API key differs from the serving version's would break every client holding the
// current key: refused unless opts.Force.
func (e *Engine) PlanRollback(ctx context.Context, s *spec.Spec, opts RollbackOptions) (*RolloutPlan, error) {
	rp, selected, err := e.startRollout(ctx, s, RolloutRollback, opts.Workers)
	if err != nil {
		return nil, err
	}
	if opts.To != "" && len(selected) != 1 {
		return nil, fmt.Errorf("rollback --to names one version: name exactly one worker (the spec has %s)", workerNames(s))
	}
	var errs []error
	for _, w := range selected {
		step, err := e.planRollbackOf(ctx, rp.AccountID, w, opts)
		if err != nil {
			errs = append(errs, fmt.Errorf("rollback %s: %w", w.Name, err))
			continue
		}
		rp.Workers = append(rp.Workers, step)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return rp, nil
}

// startRollout resolves the account, its workers.dev subdomain and the selected workers.
func (e *Engine) startRollout(ctx context.Context, s *spec.Spec, kind RolloutKind, names []string) (*RolloutPlan, []spec.Worker, error) {
	accountID, err := e.accountID(s.AccountID)
	if err != nil {
		return nil, nil, err
	}
	selected := s.Workers
	if len(names) > 0 {
		var unknown []string
		for _, n := range names {
			if !slices.ContainsFunc(s.Workers, func(w spec.Worker) bool { return isTarget(w, []string{n}) }) {
				unknown = append(unknown, n)
			}
		}
		if len(unknown) > 0 {
			return nil, nil, fmt.Errorf("%s %s: no such worker in %s (workers: %s)", kind, strings.Join(unknown, ", "), s.File, workerNames(s))
		}
		selected = slices.DeleteFunc(slices.Clone(s.Workers), func(w spec.Worker) bool { return !isTarget(w, names) })
	}
	subdomain, err := e.accountSubdomain(ctx, accountID)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", kind, err)
	}
	return &RolloutPlan{Kind: kind, AccountID: accountID, subdomain: subdomain}, selected, nil
}

// planRollbackOf plans one worker's rollback.
func (e *Engine) planRollbackOf(ctx context.Context, accountID string, w spec.Worker, opts RollbackOptions) (RolloutStep, error) {
	history, err := e.deploymentHistory(ctx, accountID, w.Name)
	if err != nil {
		if cfapi.IsNotFound(err) {
			return RolloutStep{}, errors.New("the account has no such script")
		}
		return RolloutStep{}, err
	}
	if len(history) == 0 {
		return RolloutStep{}, errors.New("the script has no deployments")
	}
	read := readOfHistory(history)
	target, err := e.rollbackTarget(ctx, accountID, w.Name, history, opts.To)
	if err != nil {
		return RolloutStep{}, err
	}
	message := opts.Message
	if message == "" {
		message = "flareform rollback"
	}
	step := RolloutStep{Key: w.Key, Name: w.Name, Serving: history[0].shares, Version: target, Message: message, worker: w, read: read}
	// Not refused, unlike a key change: clients do not hold these secrets (secrets.go).
	if step.SecretsNote, err = e.rollbackSecretsNote(ctx, accountID, w, target); err != nil {
		return RolloutStep{}, err
	}
	if w.APIKey == nil {
		return step, nil
	}
	return e.checkRollbackKey(ctx, accountID, step, opts)
}

// rollbackTarget is the version a rollback deploys: to, checked to be the script's, else the
// version of the newest earlier deployment that served it alone.
func (e *Engine) rollbackTarget(ctx context.Context, accountID, name string, history []pastDeployment, to string) (string, error) {
	current := history[0].served
	if to != "" {
		to = canonicalUUID(strings.ToLower(to))
		if _, err := e.api.Script(accountID, name).Version(ctx, to); err != nil {
			if cfapi.IsNotFound(err) {
				return "", fmt.Errorf("--to %s: no such version of %s (flareform versions %s lists them)", to, name, name)
			}
			return "", fmt.Errorf("read version %s: %w", to, err)
		}
		if to == current {
			return "", fmt.Errorf("version %s already serves all traffic", to)
		}
		return to, nil
	}
	for _, d := range history[1:] {
		if d.served != "" && d.served != current {
			return d.served, nil
		}
	}
	return "", fmt.Errorf("no earlier deployment served one version at 100%%; name one with --to (flareform versions %s lists them)", name)
}

// checkRollbackKey compares the API key the target version answers to with the serving
// one's (by the fingerprints in their annotations) and finds the key that opens the target
// among the caller's. A different or unknown key is refused unless opts.Force.
func (e *Engine) checkRollbackKey(ctx context.Context, accountID string, step RolloutStep, opts RollbackOptions) (RolloutStep, error) {
	w := step.worker
	binding := w.APIKey.Binding
	serving := step.read.served
	if serving == "" {
		if c := canaryOf(step.read.splitShares); c != nil {
			serving = c.Stable
		}
	}
	nowFP, err := e.versionKeyFingerprint(ctx, accountID, w.Name, serving, binding)
	if err != nil {
		return step, err
	}
	targetFP, err := e.versionKeyFingerprint(ctx, accountID, w.Name, step.Version, binding)
	if err != nil {
		return step, err
	}
	step.targetFP = targetFP
	var cands []string
	if k := e.smokeKey(w, nil); k != "" {
		cands = append(cands, k)
	}
	if opts.KeyCandidates != nil {
		cands = append(cands, opts.KeyCandidates(w)...)
	}
	for _, k := range cands {
		if KeyMatches(w.Name, binding, k, targetFP) {
			step.handKey = k
			break
		}
	}
	if nowFP != "" && nowFP == targetFP {
		return step, nil
	}
	step.KeyNote = rollbackKeyNote(step, binding, nowFP, targetFP)
	if !opts.Force {
		return step, fmt.Errorf("%s; nothing was changed. Roll back with --force to do it anyway", step.KeyNote)
	}
	step.Forced = true
	return step, nil
}

// rollbackKeyNote says which key works on the target version, without the key.
func rollbackKeyNote(step RolloutStep, binding, nowFP, targetFP string) string {
	var what string
	switch {
	case targetFP == "" || nowFP == "":
		what = fmt.Sprintf("flareform cannot tell whether version %s answers to the %s clients hold now (a version it did not make, or one without a key record)", step.Version, binding)
	default:
		what = fmt.Sprintf("version %s answers to another %s than the one serving now: every client holding the current key would get 401", step.Version, binding)
	}
	switch {
	case step.handKey != "":
		return what + "; the key that works on it is one flareform holds (its key store, --key-file or FLAREFORM_API_KEY_<WORKER>), handed over after a forced rollback"
	case targetFP != "":
		return what + "; the key that works on it is not one flareform holds: only clients that kept the key it had then can call it"
	default:
		return what
	}
}

// versionKeyFingerprint is the key fingerprint version's annotation records for binding ("" when
// the version is not flareform's or records none).
func (e *Engine) versionKeyFingerprint(ctx context.Context, accountID, name, version, binding string) (string, error) {
	if version == "" {
		return "", nil
	}
	msg, found, err := e.versionMessageOf(ctx, accountID, name, version)
	if err != nil {
		return "", fmt.Errorf("read version %s: %w", version, err)
	}
	if !found {
		return "", nil
	}
	id, ok := parseIdentity(msg)
	if !ok {
		return "", nil
	}
	return id.Keys[binding], nil
}

// ApplyRollout runs rp: for each worker, the guarded deployment of its version to 100% and
// the smoke test that must pass for exit 0.
func (e *Engine) ApplyRollout(ctx context.Context, rp *RolloutPlan, opts RolloutOptions) (*RolloutResult, error) {
	res := &RolloutResult{Kind: rp.Kind}
	var errs []error
	for _, step := range rp.Workers {
		r := RolloutWorkerResult{Key: step.Key, Name: step.Name, KeyNote: step.KeyNote}
		var err error
		switch {
		case stoppedBy(opts.Stop):
			err = ErrInterrupted
		case rp.Kind == RolloutPromote:
			err = e.promote(ctx, rp, step, opts, &r)
		default:
			err = e.rollBack(ctx, rp, step, opts, &r)
		}
		if err != nil {
			r.Error = err.Error()
			errs = append(errs, fmt.Errorf("%s %s: %w", rp.Kind, step.Name, err))
		}
		res.Workers = append(res.Workers, r)
	}
	return res, errors.Join(errs...)
}

func stoppedBy(stop <-chan struct{}) bool { return stopped(ApplyOptions{Stop: stop}) }

// rolloutSmoke smoke-tests version of the step's worker (through the version-override header
// when override), with the key that opens it; nil when the worker has no smoke test to run.
func (e *Engine) rolloutSmoke(ctx context.Context, rp *RolloutPlan, step RolloutStep, version, key string, override bool, opts RolloutOptions) *SmokeReport {
	w := step.worker
	if w.Smoke == nil || smokeHost(w, rp.subdomain) == "" {
		return nil
	}
	if override {
		ctx = withVersionOverride(ctx, w.Name, version)
	}
	report := e.smokeWorker(ctx, w, rp.subdomain, key, opts.SmokeOut)
	return &report
}

// rolloutKey is the key the smoke test of version uses: the one the plan found for it, else
// the caller's whose fingerprint is the version's, else the first the caller has.
func (e *Engine) rolloutKey(ctx context.Context, accountID string, step RolloutStep, version string, opts RolloutOptions) string {
	w := step.worker
	if w.APIKey == nil {
		return ""
	}
	if step.handKey != "" && version == step.Version {
		return step.handKey
	}
	var cands []string
	if k := e.smokeKey(w, opts.Keys); k != "" {
		cands = append(cands, k)
	}
	if opts.KeyCandidates != nil {
		cands = append(cands, opts.KeyCandidates(w)...)
	}
	fp, _ := e.versionKeyFingerprint(ctx, accountID, w.Name, version, w.APIKey.Binding)
	for _, k := range cands {
		if KeyMatches(w.Name, w.APIKey.Binding, k, fp) {
			return k
		}
	}
	if len(cands) > 0 && fp == "" {
		return cands[0]
	}
	return ""
}

// promote deploys a canary to all traffic, in one guarded write whose precondition is the
// split the plan read: the smoke test of the canary (through the override header) first, and
// nothing is written when it fails.
func (e *Engine) promote(ctx context.Context, rp *RolloutPlan, step RolloutStep, opts RolloutOptions, r *RolloutWorkerResult) error {
	writes, err := e.beginWrites(ctx, rp.AccountID, step.Name, step.read, false, "promote "+step.Version)
	if err != nil {
		return err
	}
	key := e.rolloutKey(ctx, rp.AccountID, step, step.Version, opts)
	if r.Smoke = e.rolloutSmoke(ctx, rp, step, step.Version, key, true, opts); r.Smoke != nil {
		if !r.Smoke.Passed {
			return fmt.Errorf("smoke of canary %s: %s; not promoted, the deployment is as it was", step.Version, r.Smoke.Error)
		}
		if err := e.markTestedNow(ctx, writes, step.Version); err != nil {
			return err
		}
	}
	if stoppedBy(opts.Stop) {
		return fmt.Errorf("smoke-tested, then %w (not promoted)", ErrInterrupted)
	}
	what := "promote canary " + step.Version + " to 100%"
	err = writes.do(ctx, what, func(ctx context.Context) error {
		return e.deployShares(ctx, rp.AccountID, step.Name, []DeploymentShare{{VersionID: step.Version, Percentage: 100}}, step.Message, false)
	})
	if err != nil {
		return err
	}
	if err := e.checkDeployedAfter(ctx, rp.AccountID, guardedWrite{name: step.Name, what: what, read: step.read, deploys: step.Version}); err != nil {
		return err
	}
	r.Version = step.Version
	return nil
}

// rollBack deploys the step's version to all traffic in one guarded write, then smoke-tests
// it; when the test fails, the deployment the plan read is made again (a guarded write too).
func (e *Engine) rollBack(ctx context.Context, rp *RolloutPlan, step RolloutStep, opts RolloutOptions, r *RolloutWorkerResult) error {
	writes, err := e.beginWrites(ctx, rp.AccountID, step.Name, step.read, false, "roll back to "+step.Version)
	if err != nil {
		return err
	}
	what := "roll back to version " + step.Version
	err = writes.do(ctx, what, func(ctx context.Context) error {
		err := e.deployShares(ctx, rp.AccountID, step.Name, []DeploymentShare{{VersionID: step.Version, Percentage: 100}}, step.Message, false)
		if !errors.Is(err, errSecretsChanged) {
			return err
		}
		// The API refuses to go back across a secret change (10220); flareform checked the
		// one secret it manages, the API key, in the plan (or was told --force).
		e.logf("%s: secrets changed since version %s (%v); deploying it anyway, its API key was checked", step.Name, step.Version, err)
		return e.deployShares(ctx, rp.AccountID, step.Name, []DeploymentShare{{VersionID: step.Version, Percentage: 100}}, step.Message, true)
	})
	if err != nil {
		return err
	}
	if err := e.checkDeployedAfter(ctx, rp.AccountID, guardedWrite{name: step.Name, what: what, read: step.read, deploys: step.Version}); err != nil {
		return err
	}
	r.Version = step.Version
	if step.Forced {
		r.HandedKey = step.handKey
	}
	writes.read = workerRead{exists: true, served: step.Version, versions: []string{step.Version}}
	key := e.rolloutKey(ctx, rp.AccountID, step, step.Version, opts)
	if r.Smoke = e.rolloutSmoke(ctx, rp, step, step.Version, key, false, opts); r.Smoke != nil {
		if !r.Smoke.Passed {
			r.HandedKey = ""
			return e.putBack(ctx, rp.AccountID, step, writes.read, r, fmt.Errorf("smoke of version %s: %s", step.Version, r.Smoke.Error))
		}
		if err := e.markTestedNow(ctx, writes, step.Version); err != nil {
			return err
		}
	}
	return writes.checkStillRead(ctx)
}

// putBack makes the deployment a rollback replaced serve again after its target failed.
func (e *Engine) putBack(ctx context.Context, accountID string, step RolloutStep, read workerRead, r *RolloutWorkerResult, failure error) error {
	back := step.read.shares()
	err := e.guard(ctx, accountID, guardedWrite{
		name: step.Name, what: "put back what served before the rollback", read: read, shares: back,
		write: func(ctx context.Context) error {
			return e.deployShares(ctx, accountID, step.Name, back, "flareform: put back after a failed rollback", true)
		},
	})
	if err != nil {
		return fmt.Errorf("%w; putting back what served before failed: %w", failure, err)
	}
	r.PutBack, r.Version = true, ""
	return fmt.Errorf("%w; put back: %s serves as before", failure, step.read)
}

// markTestedNow marks version tested on the script's tags as they are now.
func (e *Engine) markTestedNow(ctx context.Context, w *workerWrites, version string) error {
	tags, err := e.api.Script(w.accountID, w.name).Tags(ctx)
	if err != nil {
		return fmt.Errorf("smoke passed, but reading the tags to mark version %s tested failed: %w", version, err)
	}
	if err := e.markTested(ctx, w, tags, version); err != nil {
		return fmt.Errorf("smoke passed, but marking version %s tested failed: %w", version, err)
	}
	return nil
}
