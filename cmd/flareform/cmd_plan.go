package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/flareform/flareform/provision"
)

type planOptions struct {
	*rootOptions
	DetailedExitCode bool
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
would, and 1 on error.`,
		Example: `  flareform plan
  flareform plan --json --env production
  flareform plan --detailed-exitcode || echo "drift or error"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPlan(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.DetailedExitCode, "detailed-exitcode", false, "exit 2 when the plan has changes, 0 when it has none")
	cmd.Flags().StringArrayVar(&opts.Adopt, "adopt", nil, adoptFlagUsage)
	return cmd
}

func runPlan(ctx context.Context, opts *planOptions) (err error) {
	sess, err := opts.openSession(ctx)
	if err != nil {
		return err
	}
	defer closeSession(sess, &err)
	plan, err := sess.Engine.Plan(ctx, sess.Spec)
	if err != nil {
		return sess.explain(err)
	}
	if opts.JSON {
		if err := writeJSON(opts.IO.Out, planResult{Changes: plan.HasChanges(), Plan: plan}); err != nil {
			return err
		}
	} else {
		writePlanText(opts.IO.Out, plan, opts.colorEnabled(opts.IO.StdoutTTY))
	}
	if opts.DetailedExitCode && plan.HasChanges() {
		return &exitStatus{Code: exitChanges}
	}
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

// printPlan shows a plan to a human: on stdout normally, on stderr with --json (stdout then
// carries only the JSON result).
func printPlan(opts *rootOptions, plan *provision.Plan) {
	w, tty := opts.IO.Out, opts.IO.StdoutTTY
	if opts.JSON {
		w, tty = opts.IO.ErrOut, opts.IO.StderrTTY
	}
	writePlanText(w, plan, opts.colorEnabled(tty))
}
