package main

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/flareform/flareform/cmd/flareform/view"
	"github.com/flareform/flareform/provision"
)

type destroyOptions struct {
	*rootOptions
	AutoApprove bool
}

func newDestroyCmd(root *rootOptions) *cobra.Command {
	opts := &destroyOptions{rootOptions: root}
	cmd := &cobra.Command{
		Use:   "destroy",
		Short: "Delete every worker the spec manages",
		Long: `Plan the deletion of every worker of this project (the spec's workers, and workers an earlier
apply of this project made that the spec no longer names), ask for confirmation, then delete
them. Scripts flareform did not create and other projects' workers are never touched. Like apply, it refuses without a terminal unless --auto-approve is given.

Storage (KV namespaces, R2 buckets, D1 databases) flareform created for these workers is
deleted only when it holds nothing. When it holds data, or flareform cannot tell, destroy
refuses before any write unless --delete-data (delete it with its data) or --keep-data (leave
it as it is) is given, as for apply.`,
		Example: `  flareform destroy
  flareform destroy --local --auto-approve`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := opts.dataPolicy(); err != nil {
				return err
			}
			return runDestroy(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.AutoApprove, "auto-approve", false, "destroy without asking for confirmation")
	cmd.Flags().StringArrayVar(&opts.Targets, "target", nil, targetFlagUsage)
	addDataFlags(cmd, opts.rootOptions)
	return cmd
}

func runDestroy(ctx context.Context, opts *destroyOptions) (err error) {
	sess, err := opts.openLockedSession(ctx, "destroy")
	if err != nil {
		return err
	}
	defer closeSession(sess, &err)

	plan, err := sess.Engine.PlanDestroy(ctx, sess.Spec)
	if err != nil {
		return sess.explain(err)
	}
	if !plan.HasChanges() {
		return reportNoChanges(opts.rootOptions, plan, "No changes. None of the spec's workers exist, so there is nothing to destroy.")
	}
	printPlan(opts.rootOptions, plan)
	estimate := sess.Engine.EstimateApply(plan)
	printEstimate(opts.rootOptions, estimate, "destroy")
	if err := refuseDataLoss(plan, "flareform destroy"); err != nil { // before the confirmation
		return err
	}
	if !opts.AutoApprove {
		question := "Do you really want to destroy all workers in this spec? There is no undo."
		if err := confirm(ctx, opts.rootOptions, question, "destroy"); err != nil {
			return err
		}
	}
	prog := sess.startWorkerProgress(opts.rootOptions, "Destroying", workerCountOf(plan, estimate, "destroyed"))
	res, err := sess.Engine.Apply(context.WithoutCancel(ctx), plan, provision.ApplyOptions{SkipSmoke: true, Stop: ctx.Done()})
	sess.stopProgress(prog)
	if res == nil {
		return sess.explain(err)
	}
	for _, r := range res.Workers {
		if r.Action == provision.ActionDelete && r.Error == "" {
			// The worker and its keys are gone; keeping them would only leave secrets lying around.
			if rerr := sess.Project.store.RemoveScript(r.Name); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
	}
	if opts.JSON {
		out := applyResult{Changes: true, Plan: plan, Workers: make([]applyWorkerResult, 0, len(res.Workers)), Resources: res.Resources}
		for _, w := range res.Workers {
			out.Workers = append(out.Workers, applyWorkerResult{WorkerResult: w})
		}
		if jerr := view.JSON(opts.IO.Out, out); jerr != nil {
			return jerr
		}
	} else {
		view.Destroy(opts.IO.Out, res)
	}
	if err != nil {
		return sess.explain(err)
	}
	return failedWorkers(res)
}
