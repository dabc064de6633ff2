package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/flareform/flareform/cmd/flareform/view"
	"github.com/flareform/flareform/provision"
)

type showOptions struct {
	*rootOptions
}

func newShowCmd(root *rootOptions) *cobra.Command {
	opts := &showOptions{rootOptions: root}
	return &cobra.Command{
		Use:   "show PLANFILE",
		Short: "Print a plan saved by plan --out, as text or JSON, without any API call",
		Long: `Print the plan "flareform plan --out PLANFILE" saved: as text, as plan printed it, or with
--json as the object "plan --json" printed. It reads only the file: no spec, no credentials, no
API call. So CI plans once and renders that one plan for people (a job summary, a pull request
comment) and for tools, and "flareform apply PLANFILE" applies exactly what was shown
(docs/saved-plans.md). The file keeps the plan, not what the plan read: the text lists a
custom domain before the workers, not after them, and leaves out the note about a key-rotation
window a worker holds.`,
		Example: `  flareform plan --out release.plan
  flareform show release.plan
  flareform show release.plan --json | jq '.workers[] | {name, action}'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runShow(cmd.Context(), opts, args[0])
		},
	}
}

func runShow(_ context.Context, opts *showOptions, path string) error {
	saved, err := provision.ReadSavedPlan(path)
	if err != nil {
		return err
	}
	if opts.JSON {
		return view.JSON(opts.IO.Out, planResult{Changes: saved.Plan.HasChanges(), Plan: saved.Plan})
	}
	view.Plan(opts.IO.Out, saved.Plan, opts.colorEnabled(opts.IO.StdoutTTY))
	return nil
}
