package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flareform/flareform/provision"
)

type rollbackOptions struct {
	rolloutOptions
	// To is --to: the version to deploy, with exactly one WORKER.
	To      string
	Message string
	// Force allows a rollback to a version that answers to another API key.
	Force bool
}

func newRollbackCmd(root *rootOptions) *cobra.Command {
	opts := &rollbackOptions{rolloutOptions: rolloutOptions{rootOptions: root}}
	cmd := &cobra.Command{
		Use:   "rollback [WORKER...]",
		Short: "Deploy a worker's previous version at 100% again (withdraws a canary)",
		Long: `Deploy again, at 100% of the traffic, the version each worker served before: the newest
earlier deployment that served one version at 100% (as wrangler rollback picks it), or --to
VERSION with exactly one WORKER. A canary ("flareform apply --canary") is withdrawn this way:
its stable version gets all the traffic again. Without WORKER every worker of the spec is
rolled back. --message TEXT is recorded on the deployment.

Like apply it prints the plan and asks for confirmation: on a terminal type "yes"; without a
terminal (CI) it refuses unless --auto-approve is given. Nothing is written before that check.
Each deployment is a guarded write (docs/guarantees.md); the version rolled back to is then
smoke-tested with the key it answers to. Exit 0 means every worker serves its target version
at 100% and its test passed; exit 1 when any worker failed (what served before serves again
when the failure came after its deployment). Ctrl-C stops new writes; exit 130 when something
was left undone. A later plan shows the worker as a change (the spec names newer code), and
the next apply deploys the spec's code again.

Keys: a version keeps the API key it was deployed with. A rollback to a version that answers
to another key than the serving one would cut off the clients holding the current key, so it
is refused unless --force. After a forced rollback, the key that version answers to, when
flareform holds it (the places below), is handed over as apply hands over a generated key:
written to --key-out (mode 0600, replacing that worker's key there), put in the JSON result's
"api_key" field with --json, or printed when stdout is a terminal (never into CI logs).

` + keyLookupHelp,
		Example: `  flareform rollback image-api
  flareform rollback image-api --to 1a2b3c4d-... --message "bad release" --auto-approve
  flareform rollback --auto-approve --json
  flareform rollback image-api --force --key-out ~/.config/image-api.key`,
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: completeWorkerNames(root),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Workers = args
			return runRollback(cmd.Context(), opts)
		},
	}
	addRolloutFlags(cmd, &opts.rolloutOptions, "roll back")
	f := cmd.Flags()
	f.StringVar(&opts.To, "to", "", "deploy this `VERSION` (id) instead of the previous one; needs exactly one WORKER")
	f.StringVar(&opts.Message, "message", "", "record `TEXT` as the deployment's message")
	f.BoolVar(&opts.Force, "force", false, "roll back even to a version that answers to another API key (handed over like a generated key)")
	f.StringVar(&opts.KeyOut, "key-out", "", "after a forced rollback, write the key the version answers to into `FILE` (0600, merged with the keys in it)")
	// The worker's newest versions, read from the API (bounded; nothing on any error).
	cmd.RegisterFlagCompletionFunc("to", completeVersionIDs(root))
	return cmd
}

func runRollback(ctx context.Context, opts *rollbackOptions) error {
	if opts.To != "" && len(opts.Workers) != 1 {
		return fmt.Errorf("--to names a version of one worker: give exactly one WORKER (got %d%s)",
			len(opts.Workers), listed(opts.Workers))
	}
	return runRollout(ctx, rolloutRun{
		opts: &opts.rolloutOptions,
		kind: provision.RolloutRollback,
		plan: func(ctx context.Context, sess *session, keys rolloutKeys) (*provision.RolloutPlan, error) {
			return sess.Engine.PlanRollback(ctx, sess.Spec, provision.RollbackOptions{
				Workers:       opts.Workers,
				To:            opts.To,
				Message:       opts.Message,
				Force:         opts.Force,
				KeyCandidates: keys.candidates,
			})
		},
	})
}

// listed is ": a, b" for a non-empty list of names, "" otherwise.
func listed(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return ": " + strings.Join(names, ", ")
}
