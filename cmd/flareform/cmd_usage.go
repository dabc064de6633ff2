package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flareform/flareform/cmd/flareform/view"
	"github.com/flareform/flareform/provision"
	"github.com/flareform/flareform/provision/spec"
)

type usageOptions struct {
	*rootOptions
	Since string // --since: 24h, 7d or a Go duration
}

// defaultUsageSince is --since when not given: one day, the span of the free neuron allocation.
const defaultUsageSince = "24h"

func newUsageCmd(root *rootOptions) *cobra.Command {
	opts := &usageOptions{rootOptions: root}
	cmd := &cobra.Command{
		Use:   "usage [WORKER]",
		Short: "Show requests, refusals, AI calls and tokens per worker and consumer, and today's neurons",
		Long: `Read what the workers of the spec (or WORKER only: its script name or its key under workers:)
recorded in Analytics Engine over the last --since (default 24h), and print per worker and
consumer: requests, 401s (no valid key), 429s (rate limited), Workers AI calls and tokens.
Makes no change: one Analytics Engine SQL query and one GraphQL read.

Workers record a data point per request when their spec says usage: true (the templates do),
in the dataset flareform_usage (docs/consumers.md). Sampled data points are weighted by their
sample interval, so the counts are Cloudflare's estimates when it samples.

Then the account's Workers AI neurons since 00:00 UTC, of the 10,000 free per day, and what
the excess costs at $0.011 per 1,000. They come from a GraphQL dataset Cloudflare does not
document (aiInferenceAdaptiveGroups); when it answers otherwise, usage says the neurons are
unknown and why, and still exits 0.

--since takes 24h, 7d, 90m, 1d12h and other Go durations, from 1m to 90d (Analytics
Engine keeps data points for three months). The token needs Account Analytics:Read.`,
		Example: `  flareform usage
  flareform usage image-api --since 7d
  flareform usage --json | jq '.workers[].consumers[] | select(.rate_limited > 0)'
  flareform usage --local`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return &argsError{fmt.Sprintf("usage takes at most one worker's name, got %d (%s): flareform usage [WORKER]", len(args), strings.Join(args, " "))}
			}
			return nil
		},
		ValidArgsFunction: completeWorkerNames(root),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUsage(cmd.Context(), opts, args)
		},
	}
	cmd.Flags().StringVar(&opts.Since, "since", defaultUsageSince, "count the last `DURATION`: 24h, 7d, 90m, ... (1m to 90d)")
	return cmd
}

func runUsage(ctx context.Context, opts *usageOptions, args []string) (err error) {
	since, err := parseSince(opts.Since)
	if err != nil {
		return err
	}
	sess, err := opts.openSession(ctx)
	if err != nil {
		return err
	}
	defer closeSession(sess, &err)
	workers, err := usageWorkers(sess.Spec, args)
	if err != nil {
		return err
	}
	report, err := sess.Engine.Usage(ctx, sess.Spec.AccountID, workers, since)
	if err != nil {
		return usageAccessHint(sess.explain(err))
	}
	if opts.JSON {
		return view.JSON(opts.IO.Out, report)
	}
	view.Usage(opts.IO.Out, report, opts.colorEnabled(opts.IO.StdoutTTY))
	return nil
}

// usageWorkers is the script names usage reads: WORKER's (a script name or key of the spec),
// else every worker of the spec. Only names from the spec go on, so nothing else ever reaches
// the engine's query.
func usageWorkers(s *spec.Spec, args []string) ([]string, error) {
	if len(args) == 1 {
		w, err := findWorker(s, args[0])
		if err != nil {
			return nil, err
		}
		return []string{w.Name}, nil
	}
	names := make([]string, 0, len(s.Workers))
	for _, w := range s.Workers {
		names = append(names, w.Name)
	}
	return names, nil
}

// parseSince reads --since: a Go duration (24h, 90m, 1h30m), a number of days (7d), or days
// then a Go duration (1d12h), within what provision.CheckUsageSince accepts.
func parseSince(s string) (time.Duration, error) {
	d, err := parseDays(s)
	if err != nil {
		return 0, fmt.Errorf("--since %q: want a duration such as 24h, 7d or 90m", s)
	}
	if err := provision.CheckUsageSince(d); err != nil {
		return 0, fmt.Errorf("%w (got %q)", err, s)
	}
	return d, nil
}

// parseDays is time.ParseDuration that also takes a leading number of days: "7d", "1d12h".
func parseDays(s string) (time.Duration, error) {
	days, rest, found := strings.Cut(s, "d")
	if !found {
		return time.ParseDuration(s)
	}
	n, err := strconv.Atoi(days)
	// 1000 days is far past the 90 allowed and far from overflowing a Duration.
	if err != nil || n < 0 || n > 1000 || strings.HasPrefix(days, "+") {
		return 0, fmt.Errorf("bad number of days %q", days)
	}
	d := time.Duration(n) * 24 * time.Hour
	if rest == "" {
		return d, nil
	}
	more, err := time.ParseDuration(rest)
	if err != nil || more < 0 {
		return 0, fmt.Errorf("bad duration after the days %q", rest)
	}
	return d + more, nil
}

// usageAccessHint adds the permission usage needs beyond the other commands' to a refusal:
// the analytics APIs answer 401/403 to a token without Account Analytics:Read.
func usageAccessHint(err error) error {
	var apiErr *provision.APIError
	if errors.As(err, &apiErr) && (apiErr.Status == http.StatusUnauthorized || apiErr.Status == http.StatusForbidden) {
		return fmt.Errorf("%w\nusage reads Analytics Engine: the token needs Account Analytics:Read", err)
	}
	return err
}
