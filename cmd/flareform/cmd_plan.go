package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/flareform/flareform/cmd/flareform/view"
	"github.com/flareform/flareform/internal/confined"
	"github.com/flareform/flareform/provision"
	"github.com/flareform/flareform/provision/spec"
)

type planOptions struct {
	*rootOptions
	DetailedExitCode bool
	// Out is --out: save the plan there for `apply FILE`.
	Out string
}

func newPlanCmd(root *rootOptions) *cobra.Command {
	opts := &planOptions{rootOptions: root}
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what apply would change",
		Long: `Bundle every worker, read what is deployed on Cloudflare and print the difference:
which workers would be created, updated or deleted, and which fields change. Makes no change.
Secret values never appear; managed keys show only as fingerprints.

With --detailed-exitcode the exit code is 0 when nothing would change, 2 when something
would, and 1 on error.

With --out FILE the plan is also saved (JSON, mode 0600, no secret: keys are described by
their source and fingerprint). "flareform apply FILE" then applies exactly that plan, and
refuses it (exit 1, nothing written) when the spec, the code, a key or the live account
changed since: "the plan is stale: <what changed>; run plan again" (docs/saved-plans.md).

With --target NAME (repeatable) only the named workers, and the AI Gateways and Vectorize
indexes they use, are planned; the plan lists the other workers as skipped.

With --canary PERCENT (1 to 99) the plan is what "flareform apply --canary PERCENT" would do:
each changed worker's new version deployed as a canary at PERCENT% of the traffic beside the
serving version ("canary: new version at 10%, <stable> keeps 90%"). A worker already serving a
canary shows "promote canary <version> to 100%" without --canary, as a plain apply promotes it.
A plan saved with --out keeps the percent: "flareform apply FILE" deploys the same canary.

Storage (KV namespaces, R2 buckets, D1 databases) that flareform created and that the plan
deletes is deleted only when it holds nothing. One that holds data (or that flareform cannot
tell is empty) is marked "holds data" and apply refuses the plan before any write, unless
--delete-data (delete it with its data; shown as DESTRUCTIVE) or --keep-data (leave it as it
is, no longer managed) is given, to plan as to apply. A plan saved with --out keeps the choice.`,
		Example: `  flareform plan
  flareform plan --json --env production
  flareform plan --detailed-exitcode || echo "drift or error"
  flareform plan --out release.plan && flareform apply release.plan
  flareform plan --target images
  flareform plan --canary 10 --out release.plan && flareform apply release.plan`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkCanary(opts.Canary, cmd.Flags().Changed("canary")); err != nil {
				return err
			}
			if _, err := opts.dataPolicy(); err != nil {
				return err
			}
			return runPlan(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Out, "out", "", "also save the plan to `FILE` (0600, no secrets) for `flareform apply FILE`")
	cmd.Flags().BoolVar(&opts.DetailedExitCode, "detailed-exitcode", false, "exit 2 when the plan has changes, 0 when it has none")
	cmd.Flags().StringArrayVar(&opts.Adopt, "adopt", nil, adoptFlagUsage)
	cmd.Flags().StringArrayVar(&opts.Targets, "target", nil, targetFlagUsage)
	cmd.Flags().Float64Var(&opts.Canary, "canary", 0, canaryFlagUsage)
	addDataFlags(cmd, opts.rootOptions)
	return cmd
}

func runPlan(ctx context.Context, opts *planOptions) (err error) {
	if err := checkCanary(opts.Canary, false); err != nil {
		return err
	}
	if opts.Out != "" { // a link, FIFO or device is refused before the spec is even read
		if err := confined.CheckWritable(opts.Out); err != nil {
			return refusedFile("--out", err)
		}
	}
	sess, err := opts.openSession(ctx)
	if err != nil {
		return err
	}
	defer closeSession(sess, &err)
	plan, err := sess.Engine.Plan(ctx, sess.Spec)
	if err != nil {
		return sess.explain(err)
	}
	if opts.Out != "" {
		if err := savePlan(opts.Out, plan, sess.Spec, opts.rootOptions); err != nil {
			return err
		}
	}
	if opts.JSON {
		if err := view.JSON(opts.IO.Out, planResult{Changes: plan.HasChanges(), Plan: plan}); err != nil {
			return err
		}
	} else {
		view.Plan(opts.IO.Out, plan, opts.colorEnabled(opts.IO.StdoutTTY))
	}
	if plan.HasChanges() {
		printEstimate(opts.rootOptions, sess.Engine.EstimateApply(plan), "apply")
	}
	if opts.DetailedExitCode && plan.HasChanges() {
		return &exitStatus{Code: exitChanges}
	}
	return nil
}

// savePlan writes the plan file of `plan --out`.
func savePlan(path string, plan *provision.Plan, s *spec.Spec, opts *rootOptions) error {
	saved, err := provision.NewSavedPlan(plan, s, opts.Targets, opts.Adopt)
	if err != nil {
		return err
	}
	saved.Canary = opts.Canary // apply FILE deploys the same canary, or refuses another --canary
	// and plans with the same data choice, or refuses another --delete-data/--keep-data
	if saved.Data, err = opts.dataPolicy(); err != nil {
		return err
	}
	if err := provision.WriteSavedPlan(path, saved); err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "Saved the plan to %s. To apply exactly it: flareform apply %s\n", path, path)
	return nil
}

// planResult is plan's --json output: the plan's own fields plus, like apply's result, whether
// anything would change.
type planResult struct {
	Changes bool `json:"changes"`
	*provision.Plan
}

// closeSession closes sess at the end of a command and reports a failure to close only when
// the command itself succeeded.
func closeSession(sess *session, errp *error) {
	if cerr := sess.Close(); cerr != nil && *errp == nil {
		*errp = cerr
	}
}

// printEstimate says, when the API's rate budget will make the apply wait, how many calls it
// makes and about how long it takes, so a fleet's apply is approved knowing it. Like the plan,
// it goes to stderr with --json.
func printEstimate(opts *rootOptions, est provision.ApplyEstimate, command string) {
	w := opts.IO.Out
	if opts.JSON {
		w = opts.IO.ErrOut
	}
	view.Estimate(w, est, command)
}

// printPlan shows a plan to a human: on stdout normally, on stderr with --json (stdout then
// carries only the JSON result).
func printPlan(opts *rootOptions, plan *provision.Plan) {
	w, tty := opts.IO.Out, opts.IO.StdoutTTY
	if opts.JSON {
		w, tty = opts.IO.ErrOut, opts.IO.StderrTTY
	}
	view.Plan(w, plan, opts.colorEnabled(tty))
}
