package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/flareform/flareform/provision"
)

type promoteOptions struct {
	rolloutOptions
}

func newPromoteCmd(root *rootOptions) *cobra.Command {
	opts := &promoteOptions{rolloutOptions{rootOptions: root}}
	cmd := &cobra.Command{
		Use:   "promote [WORKER...]",
		Short: "Give the canary that apply --canary deployed all the traffic",
		Long: `Move each worker's canary (the split deployment "flareform apply --canary PERCENT" made: the
new version at PERCENT% of the traffic, the version that served before keeping the rest) to
100%. Without WORKER every worker of the spec that serves a canary is promoted; a named worker
that serves none is an error, and so is a spec none of whose workers serves one (exit 1,
nothing written). A plain "flareform apply" of the same spec promotes a canary too.

Like apply it prints the plan ("~ image-api: version 1a2b3c4d… (10%) → 100%, was 9f8e7d6c…
90%/1a2b3c4d… 10%") and asks for confirmation: on a terminal type "yes"; without a terminal
(CI) it refuses unless --auto-approve is given. Nothing is written before that check.

The canary is smoke-tested with its real key through the Cloudflare-Workers-Version-Overrides
header (requests pinned to it whatever the split); each deployment is a guarded write: when the
worker no longer serves the split the plan read, promote stops with "changed while this run was
applying" (docs/guarantees.md). Exit 0 means every canary serves 100% and its test passed; a
failed worker is reported (what served before serves again) and promote exits 1. Ctrl-C stops
new writes; exit 130 when something was left undone.

` + keyLookupHelp,
		Example: `  flareform apply --canary 10 && flareform promote
  flareform promote image-api --auto-approve --json`,
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: completeWorkerNames(root),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Workers = args
			return runPromote(cmd.Context(), opts)
		},
	}
	addRolloutFlags(cmd, &opts.rolloutOptions, "promote")
	return cmd
}

func runPromote(ctx context.Context, opts *promoteOptions) error {
	return runRollout(ctx, rolloutRun{
		opts: &opts.rolloutOptions,
		kind: provision.RolloutPromote,
		plan: func(ctx context.Context, sess *session, _ rolloutKeys) (*provision.RolloutPlan, error) {
			return sess.Engine.PlanPromote(ctx, sess.Spec, opts.Workers)
		},
	})
}
