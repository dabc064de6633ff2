package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flareform/flareform/cmd/flareform/view"
	"github.com/flareform/flareform/provision"
	"github.com/flareform/flareform/provision/spec"
)

type versionsOptions struct {
	*rootOptions
	Limit int
}

func newVersionsCmd(root *rootOptions) *cobra.Command {
	opts := &versionsOptions{rootOptions: root}
	cmd := &cobra.Command{
		Use:   "versions WORKER",
		Short: "List a worker's versions and deployments: what serves, what flareform made, what passed its smoke test",
		Long: `List the newest versions of WORKER (its script name or its key under workers:; a script on
the account that the spec does not list works too), newest first, and its newest deployments.
Makes no change: three API reads.

For each version: its id and number, when and by what it was made (source: api, wrangler,
dash, ...), the share of traffic the active deployment sends it, whether flareform made it, and
its smoke test. An apply tags the worker once a version's smoke test passed, and the tag names
only the last such version: that one shows "smoke passed"; a version an apply uploaded to be
smoke-tested that is newer than it shows "smoke pending" (its test never passed, e.g. the apply
was stopped); an older one shows nothing, as it may have passed before the tag moved on.
flareform's own versions show "flareform (bundle ff-bundle-…, run …)" in place of the
annotation flareform records on them.

For each deployment: when, which versions at which percentages, its source and trigger
(upload, deployment, rollback, ...) and message; * marks the active one, which serves.`,
		Example: `  flareform versions image-api
  flareform versions image-api --limit 3 --json | jq -r '.versions[] | select(.percentage > 0) | .id'
  flareform versions image-api --local`,
		Args:              workerArg("versions"),
		ValidArgsFunction: completeWorkerNames(root),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVersions(cmd.Context(), opts, args[0])
		},
	}
	cmd.Flags().IntVar(&opts.Limit, "limit", provision.DefaultHistoryLimit,
		fmt.Sprintf("list the `N` newest versions and deployments (1 to %d)", provision.MaxHistoryLimit))
	return cmd
}

func runVersions(ctx context.Context, opts *versionsOptions, worker string) (err error) {
	if opts.Limit < 1 || opts.Limit > provision.MaxHistoryLimit {
		return fmt.Errorf("--limit %d: want 1 to %d (a deployment can use only the last %d versions)",
			opts.Limit, provision.MaxHistoryLimit, provision.MaxHistoryLimit)
	}
	sess, err := opts.openSession(ctx)
	if err != nil {
		return err
	}
	defer closeSession(sess, &err)
	hist, err := sess.Engine.History(ctx, sess.Spec.AccountID, scriptNameOf(sess.Spec, worker), opts.Limit)
	if err != nil {
		return sess.explain(explainUnknownWorker(sess.Spec, worker, err))
	}
	if opts.JSON {
		return view.JSON(opts.IO.Out, hist)
	}
	view.Versions(opts.IO.Out, hist, opts.colorEnabled(opts.IO.StdoutTTY))
	return nil
}

// explainUnknownWorker turns History's "no such script" into one that lists every name that
// would work: the spec's workers and the account's scripts. Other errors pass unchanged.
func explainUnknownWorker(s *spec.Spec, arg string, err error) error {
	var uw *provision.UnknownWorkerError
	if !errors.As(err, &uw) {
		return err
	}
	known := slices.Clone(uw.Known)
	for _, w := range s.Workers {
		if w.Key == arg || w.Name == arg {
			return fmt.Errorf("worker %s is in %s but not on account %s: it has no versions until `flareform apply` deploys it",
				w.Name, s.File, uw.AccountID)
		}
		known = append(known, w.Name)
	}
	slices.Sort(known)
	known = slices.Compact(known)
	list := "none"
	if len(known) > 0 {
		list = strings.Join(known, ", ")
	}
	return fmt.Errorf("no worker %q in %s or on account %s; known workers: %s", arg, s.File, uw.AccountID, list)
}
