package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flareform/flareform/cmd/flareform/view"
	"github.com/flareform/flareform/internal/keysource"
	"github.com/flareform/flareform/provision"
	"github.com/flareform/flareform/provision/spec"
)

// What promote and rollback share: like apply, each plans (read only), prints the plan, asks
// for confirmation and then runs exactly that plan, a guarded deployment and a smoke test per
// worker (provision/rollout.go).

// rolloutOptions are the flags promote and rollback share.
type rolloutOptions struct {
	*rootOptions
	AutoApprove bool
	KeyFile     string
	SmokeOut    string
	// Workers are the WORKER arguments (spec keys or script names); empty: every worker.
	Workers []string
	// KeyOut is rollback's --key-out: where the key a forced rollback needs is handed over.
	KeyOut string
}

// addRolloutFlags defines the flags promote and rollback share.
func addRolloutFlags(cmd *cobra.Command, opts *rolloutOptions, verb string) {
	f := cmd.Flags()
	f.BoolVar(&opts.AutoApprove, "auto-approve", false, verb+" without asking for confirmation")
	f.StringVar(&opts.KeyFile, "key-file", "", "`FILE` holding workers' API keys (as apply --key-out writes it), for the smoke tests")
	f.StringVar(&opts.SmokeOut, "smoke-out", "", "save smoke test response bodies (e.g. the PNG) in `DIR`")
}

// rolloutKeys are the keys the caller holds, found as apply finds them (keyLookupHelp).
type rolloutKeys struct {
	// smoke are the first key found per worker key, as smoke finds them.
	smoke map[string]string
	// candidates lists every key held for a worker, for the engine to match by fingerprint.
	candidates func(w spec.Worker) []string
}

// collectRolloutKeys reads --key-file and the environment (each key checked by the key rule,
// never printed) and adds the project's key store, in the documented order.
func collectRolloutKeys(opts *rolloutOptions, sess *session) (rolloutKeys, error) {
	fileKeys, err := readKeyFileFlag(opts.KeyFile, keyedWorkers(sess.Spec))
	if err != nil {
		return rolloutKeys{}, err
	}
	envKeys, err := workerEnvKeys(opts.Getenv, sess.Spec.Workers)
	if err != nil {
		return rolloutKeys{}, err
	}
	smoke := map[string]string{}
	for name, k := range fileKeys {
		smoke[name] = k
	}
	if err := addEnvKeys(opts.Getenv, sess.Spec, smoke); err != nil {
		return rolloutKeys{}, err
	}
	addStoredKeys(opts.rootOptions, sess.Spec, smoke)
	return rolloutKeys{smoke: smoke, candidates: sess.Project.keyCandidates(fileKeys, envKeys)}, nil
}

// rolloutRun is one promote or rollback: its kind and how it plans.
type rolloutRun struct {
	opts *rolloutOptions
	kind provision.RolloutKind
	plan func(ctx context.Context, sess *session, keys rolloutKeys) (*provision.RolloutPlan, error)
}

// rolloutJSON is the --json result of promote and rollback: the plan, and what each worker's
// step did (with, for a forced rollback and no --key-out, the key it hands over).
type rolloutJSON struct {
	Kind        provision.RolloutKind  `json:"kind"`
	Changes     bool                   `json:"changes"`
	Plan        *provision.RolloutPlan `json:"plan"`
	Workers     []rolloutWorkerJSON    `json:"workers"`
	KeyFile     string                 `json:"key_file,omitempty"`
	Interrupted bool                   `json:"interrupted,omitempty"`
}

// rolloutWorkerJSON is one worker's result plus the key handed over in the JSON result.
type rolloutWorkerJSON struct {
	provision.RolloutWorkerResult
	APIKey string `json:"api_key,omitempty"`
}

// runRollout plans, confirms and applies a promote or rollback (see each command's help).
// Nothing is written before the confirmation; Ctrl-C after it stops new writes.
func runRollout(ctx context.Context, r rolloutRun) (err error) {
	opts := r.opts
	if opts.KeyOut != "" { // a FIFO or device is refused before the spec is even read
		if err := keysource.CheckWritable(opts.KeyOut); err != nil {
			return fmt.Errorf("--key-out %w", err)
		}
	}
	sess, err := opts.openLockedSession(ctx, string(r.kind))
	if err != nil {
		return err
	}
	defer closeSession(sess, &err)
	keys, err := collectRolloutKeys(opts, sess)
	if err != nil {
		return err
	}
	rp, err := r.plan(ctx, sess, keys)
	if err != nil {
		return sess.explain(withKeyVars(err, sess.Spec))
	}
	if len(rp.Workers) == 0 {
		return reportNoRollout(opts, rp)
	}
	printRolloutPlan(opts, rp)
	out, err := prepareRolloutKeyOut(opts, rp, sess.Spec)
	if err != nil {
		return err
	}
	if !opts.AutoApprove {
		if err := confirm(ctx, opts.rootOptions, fmt.Sprintf("Do you want to %s?", rolloutQuestion(rp)), string(r.kind)); err != nil {
			return err
		}
	}
	// Ctrl-C from here on stops new writes; those in flight finish (RolloutOptions.Stop).
	res, runErr := sess.Engine.ApplyRollout(context.WithoutCancel(ctx), rp, provision.RolloutOptions{
		Keys:          keys.smoke,
		KeyCandidates: keys.candidates,
		SmokeOut:      opts.SmokeOut,
		Stop:          ctx.Done(),
	})
	if res == nil {
		return sess.explain(runErr)
	}
	return finishRollout(ctx, opts, rp, res, out, runErr, sess)
}

// finishRollout hands over the keys a forced rollback needs, reports the result and turns it
// into the command's error: exit 1 when any worker failed, 130 when Ctrl-C left one undone.
func finishRollout(ctx context.Context, opts *rolloutOptions, rp *provision.RolloutPlan, res *provision.RolloutResult,
	out *keyOut, runErr error, sess *session) error {
	if handed := handedKeys(res); out != nil && len(handed) > 0 {
		if err := out.Commit(handed); err != nil {
			return errors.Join(runErr, err)
		}
	}
	stop := stopOutcome(ctx, runErr)
	if err := reportRollout(opts, rp, res, stop); err != nil {
		return errors.Join(runErr, err)
	}
	if runErr != nil {
		return sess.explain(runErr)
	}
	return failedRollout(res)
}

// rolloutQuestion is what the confirmation asks.
func rolloutQuestion(rp *provision.RolloutPlan) string {
	n := len(rp.Workers)
	what := "these workers"
	if n == 1 {
		what = "this worker"
	}
	if rp.Kind == provision.RolloutPromote {
		return "promote the canary of " + what + " to 100%"
	}
	return "roll back " + what
}

// printRolloutPlan shows the plan on stdout, or on stderr with --json.
func printRolloutPlan(opts *rolloutOptions, rp *provision.RolloutPlan) {
	w := opts.IO.Out
	if opts.JSON {
		w = opts.IO.ErrOut
	}
	view.RolloutPlan(w, rp)
}

// reportNoRollout ends a promote or rollback that has nothing to do (exit 0, nothing written).
func reportNoRollout(opts *rolloutOptions, rp *provision.RolloutPlan) error {
	if opts.JSON {
		return view.JSON(opts.IO.Out, rolloutJSON{Kind: rp.Kind, Plan: rp, Workers: []rolloutWorkerJSON{}})
	}
	fmt.Fprintln(opts.IO.Out, view.NothingToRollOut(rp.Kind))
	return nil
}

// prepareRolloutKeyOut checks --key-out before anything is written, when a forced step may
// hand a key over. Its key for such a worker is replaced: that key no longer opens the worker.
func prepareRolloutKeyOut(opts *rolloutOptions, rp *provision.RolloutPlan, s *spec.Spec) (*keyOut, error) {
	if opts.KeyOut == "" {
		return nil, nil
	}
	var forced []string
	for _, st := range rp.Workers {
		if st.Forced {
			forced = append(forced, st.Key)
		}
	}
	if len(forced) == 0 {
		return nil, nil
	}
	return prepareKeyOut(opts.KeyOut, true, forced, keyedWorkers(s))
}

// handedKeys lists the keys a forced rollback hands over, in result order.
func handedKeys(res *provision.RolloutResult) []generatedKey {
	var keys []generatedKey
	for _, w := range res.Workers {
		if w.HandedKey != "" {
			keys = append(keys, generatedKey{WorkerKey: w.Key, Key: w.HandedKey})
		}
	}
	return keys
}

// reportRollout prints the outcome: one JSON document with --json (the handed-over keys in
// "api_key" unless --key-out got them), else the text result.
func reportRollout(opts *rolloutOptions, rp *provision.RolloutPlan, res *provision.RolloutResult, stop view.Stop) error {
	handover := view.KeyHandover{KeyOut: opts.KeyOut, Terminal: opts.IO.StdoutTTY}
	if !opts.JSON {
		view.RolloutResult(opts.IO.Out, res, handover, stop)
		return nil
	}
	doc := rolloutJSON{Kind: res.Kind, Changes: true, Plan: rp, Workers: make([]rolloutWorkerJSON, 0, len(res.Workers)),
		Interrupted: stop == view.StoppedRun}
	if opts.KeyOut != "" && len(handedKeys(res)) > 0 {
		doc.KeyFile = opts.KeyOut
	}
	for _, w := range res.Workers {
		r := rolloutWorkerJSON{RolloutWorkerResult: w}
		if opts.KeyOut == "" {
			r.APIKey = w.HandedKey
		}
		doc.Workers = append(doc.Workers, r)
	}
	return view.JSON(opts.IO.Out, doc)
}

// failedRollout turns per-worker failures into the command's error. A step Ctrl-C kept from
// starting wraps provision.ErrInterrupted, so the run exits 130.
func failedRollout(res *provision.RolloutResult) error {
	var errs []error
	for _, r := range res.Workers {
		switch {
		case strings.Contains(r.Error, provision.ErrInterrupted.Error()):
			errs = append(errs, fmt.Errorf("worker %s: %w", r.Name, provision.ErrInterrupted))
		case r.Error != "":
			errs = append(errs, fmt.Errorf("worker %s: %s", r.Name, r.Error))
		}
	}
	return errors.Join(errs...)
}

// canaryFlagUsage is --canary's help, shared by plan and apply.
const canaryFlagUsage = "deploy each changed worker's new version as a canary at `PERCENT` (1 to 99) of the traffic, beside the version serving now"

// checkCanary refuses a --canary outside 1 to 99 (also NaN), before anything is read. given
// says whether the flag was set at all: its zero value means no canary.
func checkCanary(pct float64, given bool) error {
	if !given && pct == 0 {
		return nil
	}
	if math.IsNaN(pct) || pct < 1 || pct > 99 {
		return fmt.Errorf("--canary %v: want a share of the traffic from 1 to 99 (percent) for the new version; "+
			"a plain apply deploys at 100%%, and flareform promote moves a canary to 100%%", pct)
	}
	return nil
}
