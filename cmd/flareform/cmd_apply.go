package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flareform/flareform/cmd/flareform/view"
	"github.com/flareform/flareform/internal/confined"
	"github.com/flareform/flareform/internal/keysource"
	"github.com/flareform/flareform/provision"
	"github.com/flareform/flareform/provision/keystore"
	"github.com/flareform/flareform/provision/spec"
)

type applyOptions struct {
	*rootOptions
	AutoApprove bool
	KeyOut      string
	KeyFile     string
	Force       bool
	NoSmoke     bool
	SmokeOut    string
	// AllowReplace lets apply delete and recreate resources that cannot change in place.
	AllowReplace bool
	// PlanFile is apply's argument: a plan saved by `plan --out`, applied exactly or refused.
	PlanFile string
	saved    *provision.SavedPlan
}

func newApplyCmd(root *rootOptions) *cobra.Command {
	opts := &applyOptions{rootOptions: root}
	cmd := &cobra.Command{
		Use:   "apply [PLANFILE]",
		Short: "Deploy the spec: plan, confirm, apply, smoke test",
		Long: `Plan (as "flareform plan" does), ask for confirmation, apply exactly that plan and smoke
test every changed worker over its workers.dev URL, with its real key. Prints each worker's URL.
Exit 0 means every worker is what the spec says, this run's code serves, and every key it
handed over works (docs/guarantees.md).

Confirmation: on a terminal, type "yes". Without a terminal (CI) apply refuses unless
--auto-approve is given; nothing is written before that check. When nothing differs it prints
"No changes." and writes nothing.

Keys: every key flareform generates is kept in <spec dir>/.flareform/keys.json (0600), written
before the upload that installs it, so a crash cannot lose it. It is also handed over: written
to --key-out (merged with the keys already there, mode 0600), put in the JSON result's "api_key"
field with --json, or printed when stdout is a terminal (never into CI logs).
The smoke test of a worker whose key an earlier run made needs that key (see "Finding keys" below);
when none of the places holds the deployed key, apply refuses before writing anything, naming
the variable to set (or use --no-smoke). A changed env:/file: key is rotated with a grace
window, which needs the old key from the same places.

Saved plans: "flareform apply PLANFILE" applies a plan written by "flareform plan --out
PLANFILE" without asking again (the plan was the confirmation). It takes the spec, --env,
--target, --adopt and --canary from the file, bundles the code and resolves the keys again,
re-reads the account, and applies only when all of it is what the plan read: otherwise it
exits 1 with "the plan is stale: <what changed>; run plan again" and writes nothing
(docs/saved-plans.md).

With --target NAME (repeatable) only the named workers, and the AI Gateways and Vectorize
indexes they use, are applied; the others are skipped and never read.

Canary: with --canary PERCENT (1 to 99) each changed worker's new version is deployed as a
canary, a gradual deployment beside the version serving now: the new one gets PERCENT% of the
traffic, the serving one keeps the rest. The new version is smoke-tested through the
Cloudflare-Workers-Version-Overrides header (requests pinned to it, whatever the split); a
failed canary is withdrawn, so the previous version serves 100% again, and apply exits 1.
"flareform promote" then gives the canary 100% (a later plain "flareform apply" of the same
spec promotes it too), and "flareform rollback" withdraws it.

Storage: a KV namespace, R2 bucket or D1 database flareform created that the spec no longer
names is deleted only when it holds nothing (read again right before the delete). When it holds
data, or flareform cannot tell, apply refuses before any write, naming it, unless --delete-data
(delete it with its data; an R2 bucket is emptied object by object first) or --keep-data (leave
it with its data; flareform stops managing it) is given. The two flags exclude each other.

` + keyLookupHelp,
		Example: `  flareform apply
  flareform apply --auto-approve --key-out ~/.config/my-images.key
  FLAREFORM_API_KEY_IMAGE_API=... flareform apply --auto-approve   # CI: the key from a secret
  flareform apply --local --auto-approve --smoke-out ./out
  flareform apply --json --auto-approve | jq -r '.workers[].url'
  flareform plan --out release.plan && flareform apply release.plan
  flareform apply --canary 10 && flareform promote`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkCanary(opts.Canary, cmd.Flags().Changed("canary")); err != nil {
				return err
			}
			if _, err := opts.dataPolicy(); err != nil {
				return err
			}
			if len(args) == 1 {
				if err := opts.useSavedPlan(cmd, args[0]); err != nil {
					return err
				}
			}
			return runApply(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opts.AutoApprove, "auto-approve", false, "apply without asking for confirmation")
	f.StringVar(&opts.KeyOut, "key-out", "", "also write generated API keys to `FILE` (0600, merged with the keys in it)")
	f.StringVar(&opts.KeyFile, "key-file", "", "`FILE` holding workers' API keys (as --key-out writes it), for the smoke tests")
	f.BoolVar(&opts.Force, "force", false, "let --key-out replace a key it already holds for the same worker")
	f.BoolVar(&opts.NoSmoke, "no-smoke", false, "skip the post-deploy smoke tests")
	f.StringVar(&opts.SmokeOut, "smoke-out", "", "save smoke test response bodies (e.g. the PNG) in `DIR`")
	f.StringArrayVar(&opts.Adopt, "adopt", nil, adoptFlagUsage)
	f.StringArrayVar(&opts.Targets, "target", nil, targetFlagUsage)
	f.Float64Var(&opts.Canary, "canary", 0, canaryFlagUsage)
	f.BoolVar(&opts.AllowReplace, "allow-replace", false, "let apply replace a Vectorize index whose dimensions or metric changed (its vectors are lost)")
	addDataFlags(cmd, opts.rootOptions)
	return cmd
}

// applyResult is apply's --json output.
type applyResult struct {
	Changes bool                `json:"changes"`
	Plan    *provision.Plan     `json:"plan"`
	Workers []applyWorkerResult `json:"workers"`
	// Resources are the AI Gateways and Vectorize indexes the run changed.
	Resources []provision.ResourceResult `json:"resources,omitempty"`
	KeyFile   string                     `json:"key_file,omitempty"`
	// KeyStore is the project's key file, where every generated key is kept.
	KeyStore    string `json:"key_store,omitempty"`
	Interrupted bool   `json:"interrupted,omitempty"`
}

// applyWorkerResult is one worker's result plus, with --json and no --key-out, the key that
// was generated for it: the one place that key is handed over.
type applyWorkerResult struct {
	provision.WorkerResult
	APIKey string `json:"api_key,omitempty"`
	// ConsumerKeys are the consumer keys generated for the worker, by consumer name, handed
	// over here under the same rule as APIKey.
	ConsumerKeys map[string]string `json:"consumer_keys,omitempty"`
}

func runApply(ctx context.Context, opts *applyOptions) (err error) {
	if err := checkCanary(opts.Canary, false); err != nil {
		return err
	}
	if opts.KeyOut != "" { // a FIFO or device is refused before the spec is even read
		if err := keysource.CheckWritable(opts.KeyOut); err != nil {
			return fmt.Errorf("--key-out %w", err)
		}
	}
	sess, err := opts.openLockedSession(ctx, "apply")
	if err != nil {
		return err
	}
	defer closeSession(sess, &err)
	proj := sess.Project
	// The consumer salt and keys (docs/consumers.md): the key store, and the --key-file lines
	// <worker>/<consumer>=KEY, candidates for the keys a rewritten table keeps and checks.
	held, err := withConsumerKeyFile(proj.store, opts.KeyFile, sess.Spec)
	if err != nil {
		return err
	}
	sess.Engine.UseKeyStore(held)

	plan, err := opts.plan(ctx, sess)
	if err != nil {
		return err
	}
	recovered, err := proj.reconcilePending(plan, sess.Spec, opts.IO.ErrOut)
	if err != nil {
		return err
	}
	keyed := keyedWorkers(sess.Spec)
	fileKeys, err := readKeyFileFlag(opts.KeyFile, keyed)
	if err != nil {
		return err
	}
	envKeys, err := workerEnvKeys(opts.Getenv, sess.Spec.Workers)
	if err != nil {
		return err
	}
	// The --key-out file is checked before anything is written, so an unwritable path or a
	// conflict fails before a key exists that could be lost.
	var out *keyOut
	if writes := keyOutWrites(plan, recovered); opts.KeyOut != "" && len(writes) > 0 {
		if out, err = prepareKeyOut(opts.KeyOut, opts.Force, writes, keyed); err != nil {
			return err
		}
	}
	if !plan.HasChanges() {
		if err := handOverRecovered(opts, out, recovered); err != nil {
			return err
		}
		return reportNoChanges(opts.rootOptions, plan, "No changes. Your workers match the spec.")
	}
	printPlan(opts.rootOptions, plan)
	estimate := sess.Engine.EstimateApply(plan)
	printEstimate(opts.rootOptions, estimate, "apply")
	if replaced := plan.NeedsReplace(); len(replaced) > 0 && !opts.AllowReplace {
		// Refused before the confirmation: "yes" must not be enough to lose data.
		return fmt.Errorf("%w: %s; nothing was changed. Run apply --allow-replace to delete and recreate them, or keep their dimensions and metric",
			provision.ErrReplaceRefused, strings.Join(replaced, ", "))
	}
	if err := refuseDataLoss(plan, opts.dataCommand()); err != nil {
		return err
	}
	if !opts.AutoApprove && opts.PlanFile == "" { // a saved plan was reviewed when it was made
		if err := confirm(ctx, opts.rootOptions, "Do you want to perform these actions?", "apply"); err != nil {
			return err
		}
	}
	// Ctrl-C from here on stops new writes; those in flight finish (see provision.ApplyOptions).
	prog := sess.startWorkerProgress(opts.rootOptions, "Applying", workerCountOf(plan, estimate, "applied"))
	res, applyErr := sess.Engine.Apply(context.WithoutCancel(ctx), plan, provision.ApplyOptions{
		SkipSmoke:     opts.NoSmoke,
		SmokeOut:      opts.SmokeOut,
		KeyCandidates: proj.keyCandidates(fileKeys, envKeys),
		KeyStore:      proj.store,
		Stop:          ctx.Done(),
		AllowReplace:  opts.AllowReplace,
	})
	sess.stopProgress(prog)
	if res == nil {
		return sess.explain(withKeyVars(applyErr, sess.Spec))
	}
	generated := generatedKeys(res)
	if err := promoteGenerated(proj, sess.Spec, res); err != nil {
		return errors.Join(applyErr, err)
	}
	if out != nil {
		if err := out.Commit(append(generated, recoveredAsGenerated(recovered)...)); err != nil {
			return errors.Join(applyErr, err)
		}
	}
	if err := reportApply(opts, plan, res, proj.store.Path(), stopOutcome(ctx, applyErr)); err != nil {
		return errors.Join(applyErr, err)
	}
	if applyErr != nil {
		return sess.explain(applyErr)
	}
	if err := failedWorkers(res); err != nil {
		return err
	}
	sess.hintInvoke(opts.rootOptions, res) // how to call them, and only after a success
	if opts.Canary > 0 {
		view.CanaryHint(opts.IO.ErrOut, opts.Canary)
	}
	return nil
}

// useSavedPlan makes this apply run the saved plan at path: the spec, environment, targets
// and adopted scripts it was made with. Flags that say otherwise are refused, not ignored.
func (o *applyOptions) useSavedPlan(cmd *cobra.Command, path string) error {
	saved, err := provision.ReadSavedPlan(path)
	if err != nil {
		return err
	}
	// The plan's spec_file decides where apply takes the project lock and what it plans: before
	// anything is written it must be the spec the plan was made from, and load.
	if err := saved.CheckSpec(path); err != nil {
		return err
	}
	if _, err := spec.Load(saved.SpecFile, saved.Env, offlineEnv(o.Getenv)); err != nil {
		return fmt.Errorf("saved plan %s: its spec does not load; fix the spec, then run flareform plan --out again:\n%w", path, err)
	}
	conflicts := []struct {
		flag  string
		given bool
	}{
		{"file", o.File != saved.SpecFile && !sameFile(o.File, saved.SpecFile)},
		{"env", o.Env != saved.Env},
		{"target", !slices.Equal(o.Targets, saved.Targets)},
		{"adopt", !slices.Equal(o.Adopt, saved.Adopt)},
		{"canary", o.Canary != saved.Canary},
	}
	for _, c := range conflicts {
		if f := cmd.Flag(c.flag); f != nil && f.Changed && c.given {
			return fmt.Errorf("--%s differs from the saved plan %s, which was made with its own; drop --%s or run plan again", c.flag, path, c.flag)
		}
	}
	if err := savedDataConflict(cmd, o.rootOptions, saved.Data, path); err != nil {
		return err
	}
	o.setDataPolicy(saved.Data)
	o.File, o.Env, o.Targets, o.Adopt, o.Canary = saved.SpecFile, saved.Env, saved.Targets, saved.Adopt, saved.Canary
	o.PlanFile, o.saved = path, saved
	return nil
}

// sameFile reports whether two spec paths name the same file.
func sameFile(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

// plan computes what this apply does: a new plan, or with a saved plan the same plan again from
// the same inputs, refused as stale when any input or the result differs from the saved one.
// Only reads happen before that check.
func (o *applyOptions) plan(ctx context.Context, sess *session) (*provision.Plan, error) {
	if o.saved != nil {
		sess.Engine.UseSavedPlan(o.saved)
	}
	plan, err := sess.Engine.Plan(ctx, sess.Spec)
	if err != nil {
		return nil, sess.explain(err)
	}
	if o.saved == nil {
		return plan, nil
	}
	digest, err := provision.SpecDigest(o.saved.SpecFile)
	if err != nil {
		why := err.Error()
		if ce := (*confined.Error)(nil); errors.As(err, &ce) {
			why = ce.Problem // its fix is about --file, not about a saved plan
		}
		return nil, provision.StaleError([]string{fmt.Sprintf("the spec cannot be read: %s", why)})
	}
	if why := o.saved.StaleReasons(plan, digest); len(why) > 0 {
		return nil, provision.StaleError(why)
	}
	return plan, nil
}

// withKeyVars adds to a refusal for want of keys (provision.MissingKeyError) the variable that
// gives each of those workers its key, FLAREFORM_API_KEY_<WORKER>: in CI, the secret to pass.
func withKeyVars(err error, s *spec.Spec) error {
	var missing *provision.MissingKeyError
	if !errors.As(err, &missing) {
		return err
	}
	var vars []string
	for _, desc := range missing.Workers { // "image-api (API_KEY, fp …)"
		name, _, _ := strings.Cut(desc, " (")
		for _, w := range s.Workers {
			if w.Name == name {
				vars = append(vars, spec.WorkerKeyEnv(w.Name))
			}
		}
	}
	if len(vars) == 0 {
		return err
	}
	if len(vars) == 1 {
		return fmt.Errorf("%w. The variable for the key: %s (in CI, the secret that holds it)", err, vars[0])
	}
	return fmt.Errorf("%w. The variables for the keys: %s (in CI, the secrets that hold them)", err, strings.Join(vars, ", "))
}

// keyedWorkers lists the spec's workers that have a managed key.
func keyedWorkers(s *spec.Spec) []string {
	var keyed []string
	for _, w := range s.Workers {
		if w.APIKey != nil {
			keyed = append(keyed, w.Key)
		}
	}
	return keyed
}

// readKeyFileFlag reads --key-file, if given, into keys per worker key.
func readKeyFileFlag(path string, keyed []string) (map[string]string, error) {
	if path == "" {
		return nil, nil
	}
	content, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	keys, err := parseKeyFile(content, keyed)
	if err != nil {
		return nil, fmt.Errorf("--key-file %s: %w", path, err)
	}
	for _, name := range sortedNames(keys) { // the key rule, as for every key given
		if err := keysource.Check(keys[name]); err != nil {
			return nil, fmt.Errorf("--key-file %s: the key for %s: %w; %s", path, name, err, keysource.Fix)
		}
	}
	return keys, nil
}

// keyOutWrites lists the workers whose keys --key-out would receive.
func keyOutWrites(plan *provision.Plan, recovered []recoveredKey) []string {
	var writes []string
	for i := range plan.Workers {
		if plan.Workers[i].GeneratesKey() {
			writes = append(writes, plan.Workers[i].Key)
		}
		for _, c := range plan.Workers[i].ConsumerKeysGenerated() {
			writes = append(writes, consumerLine(plan.Workers[i].Key, c))
		}
	}
	for _, r := range recovered {
		writes = append(writes, r.WorkerKey)
	}
	return writes
}

// promoteGenerated marks every key this apply generated and deployed as active in the key
// store: the worker serves it, and the keys it replaced are gone with the old secret.
func promoteGenerated(proj *project, s *spec.Spec, res *provision.Result) error {
	var promotions []keystore.Promotion
	for _, r := range res.Workers {
		if r.GeneratedKey == "" {
			continue
		}
		binding := ""
		for _, w := range s.Workers {
			if w.Key == r.Key && w.APIKey != nil {
				binding = w.APIKey.Binding
			}
		}
		promotions = append(promotions, keystore.Promotion{Script: r.Name, Binding: binding, Key: r.GeneratedKey})
	}
	promotions = append(promotions, consumerPromotions(res)...)
	// One write for the whole fleet: a write per key rewrote the file (and synced it) each time.
	if err := proj.store.PromoteAll(promotions); err != nil {
		return fmt.Errorf("record the generated keys: %w", err)
	}
	return nil
}

func recoveredAsGenerated(recovered []recoveredKey) []generatedKey {
	var out []generatedKey
	for _, r := range recovered {
		out = append(out, generatedKey{WorkerKey: r.WorkerKey, Key: r.Key})
	}
	return out
}

// handOverRecovered writes keys recovered from an interrupted run to --key-out, when given.
func handOverRecovered(opts *applyOptions, out *keyOut, recovered []recoveredKey) error {
	if out == nil || len(recovered) == 0 {
		return nil
	}
	if err := out.Commit(recoveredAsGenerated(recovered)); err != nil {
		return err
	}
	for _, r := range recovered {
		fmt.Fprintf(opts.IO.ErrOut, "%s: recovered key (fp %s) written to %s\n", r.Name, r.Fingerprint, opts.KeyOut)
	}
	return nil
}

// generatedKeys lists the keys apply generated, in result order.
func generatedKeys(res *provision.Result) []generatedKey {
	var keys []generatedKey
	for _, w := range res.Workers {
		if w.GeneratedKey != "" {
			keys = append(keys, generatedKey{WorkerKey: w.Key, Key: w.GeneratedKey})
		}
		for _, c := range sortedNames(w.ConsumerKeys) {
			keys = append(keys, generatedKey{WorkerKey: consumerLine(w.Key, c), Key: w.ConsumerKeys[c]})
		}
	}
	return keys
}

// reportNoChanges ends an apply or destroy that has nothing to do.
func reportNoChanges(opts *rootOptions, plan *provision.Plan, message string) error {
	if opts.JSON {
		return view.JSON(opts.IO.Out, applyResult{Changes: false, Plan: plan, Workers: []applyWorkerResult{}})
	}
	fmt.Fprintln(opts.IO.Out, message)
	return nil
}

// stopOutcome tells, after Apply returned applyErr, whether a Ctrl-C stopped anything. Apply
// marks every write it did not start because of the stop with provision.ErrInterrupted; a
// Ctrl-C that came after the last write began (during the smoke test or the final reads, which
// always run) left nothing undone, so the run's outcome is what it did: exit 0 when all of it
// succeeded (docs/guarantees.md, "Ctrl-C").
func stopOutcome(ctx context.Context, applyErr error) view.Stop {
	switch {
	case ctx.Err() == nil:
		return view.NotStopped
	case errors.Is(applyErr, provision.ErrInterrupted):
		return view.StoppedRun
	default:
		return view.StoppedLate
	}
}

// reportApply prints the outcome and hands over generated keys (see the command's help).
func reportApply(opts *applyOptions, plan *provision.Plan, res *provision.Result, storePath string, stop view.Stop) error {
	if opts.JSON {
		if stop == view.StoppedLate {
			fmt.Fprintln(opts.IO.ErrOut, view.LateStopNote(res))
		}
		out := applyResult{Changes: true, Plan: plan, Workers: make([]applyWorkerResult, 0, len(res.Workers)),
			Resources: res.Resources, KeyStore: storePath, Interrupted: stop == view.StoppedRun}
		if opts.KeyOut != "" && len(generatedKeys(res)) > 0 {
			out.KeyFile = opts.KeyOut
		}
		for _, w := range res.Workers {
			r := applyWorkerResult{WorkerResult: w}
			if opts.KeyOut == "" {
				r.APIKey, r.ConsumerKeys = w.GeneratedKey, w.ConsumerKeys
			}
			out.Workers = append(out.Workers, r)
		}
		return view.JSON(opts.IO.Out, out)
	}
	view.Apply(opts.IO.Out, res, view.KeyHandover{KeyOut: opts.KeyOut, Terminal: opts.IO.StdoutTTY, Store: relPath(storePath)}, stop)
	reportConsumerKeys(opts, res, relPath(storePath))
	return nil
}

// reportConsumerKeys hands over the consumer keys apply generated on the terminal, or says
// where they went: as the owner's key, never printed into a log that is not a terminal.
func reportConsumerKeys(opts *applyOptions, res *provision.Result, store string) {
	for _, r := range res.Workers {
		for _, c := range sortedNames(r.ConsumerKeys) {
			fp := r.ConsumerFingerprints[c]
			switch {
			case opts.KeyOut != "":
				fmt.Fprintf(opts.IO.Out, "  %s consumer %s key (fp %s): written to %s as %s and kept in %s\n", r.Name, c, fp, opts.KeyOut, consumerLine(r.Key, c), store)
			case opts.IO.StdoutTTY:
				fmt.Fprintf(opts.IO.Out, "  %s consumer %s key (shown once here; also kept in %s): %s\n", r.Name, c, store, r.ConsumerKeys[c])
			default:
				fmt.Fprintf(opts.IO.Out, "  %s consumer %s key (fp %s): kept in %s (not printed: stdout is not a terminal; use --key-out or --json)\n", r.Name, c, fp, store)
			}
		}
	}
}

// consumerPromotions are the consumer keys and salts apply deployed, to mark active in the
// key store once handed over.
func consumerPromotions(res *provision.Result) []keystore.Promotion {
	var out []keystore.Promotion
	for _, r := range res.Workers {
		for _, c := range sortedNames(r.ConsumerKeys) {
			out = append(out, keystore.Promotion{Script: r.Name, Binding: spec.ConsumerKeyBinding(c), Key: r.ConsumerKeys[c]})
		}
		if r.ConsumerSalt != "" {
			out = append(out, keystore.Promotion{Script: r.Name, Binding: provision.ConsumerSaltStoreBinding, Key: r.ConsumerSalt})
		}
	}
	return out
}

// failedWorkers turns per-worker failures into the command's error.
func failedWorkers(res *provision.Result) error {
	var errs []error
	for _, r := range res.Workers {
		if r.Error != "" {
			errs = append(errs, fmt.Errorf("worker %s: %s", r.Name, r.Error))
		}
	}
	return errors.Join(errs...)
}

// workerCountOf is what the progress of applying plan counts: the workers it changes (verb
// says how: "applied", "destroyed"), and when the rate budget lets it finish at the earliest.
func workerCountOf(plan *provision.Plan, est provision.ApplyEstimate, verb string) workerCount {
	c := workerCount{Verb: verb}
	for _, wp := range plan.Workers {
		if wp.Action != provision.ActionNoOp {
			c.Total++
		}
	}
	if est.Binds() {
		c.BudgetEnd = time.Now().Add(est.Wait)
	}
	return c
}
