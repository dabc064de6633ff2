package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flareform/flareform/bundler"
	"github.com/flareform/flareform/provision/spec"
)

type validateOptions struct {
	*rootOptions
}

func newValidateCmd(root *rootOptions) *cobra.Command {
	opts := &validateOptions{rootOptions: root}
	return &cobra.Command{
		Use:   "validate",
		Short: "Check the spec and bundle every worker, without touching Cloudflare",
		Long: `Load the spec (with --env applied and ${VAR}s expanded) and bundle every worker's main
file. Prints OK, or every problem as "file:line:col: what is wrong; how to fix it".
Needs no credentials and makes no API call: when CLOUDFLARE_ACCOUNT_ID is not set, a
placeholder account stands in for it. Unknown models are only found by plan, which asks the
Workers AI catalog.`,
		Example: `  flareform validate
  flareform validate -f deploy/flareform.yaml --env production`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runValidate(cmd.Context(), opts)
		},
	}
}

// validateResult is the --json output of validate. An invalid spec also carries the --json
// failure shape (error, errors), so one reader handles both.
type validateResult struct {
	Valid   bool     `json:"valid"`
	Workers []string `json:"workers"`
	*errorResult
}

func runValidate(ctx context.Context, opts *validateOptions) error {
	names, err := validateSpec(ctx, opts)
	if err != nil {
		if opts.JSON {
			res := newErrorResult(err)
			if jerr := writeJSON(opts.IO.Out, validateResult{Valid: false, Workers: names, errorResult: &res}); jerr != nil {
				return errors.Join(err, jerr)
			}
		}
		return err
	}
	if opts.JSON {
		return writeJSON(opts.IO.Out, validateResult{Valid: true, Workers: names})
	}
	fmt.Fprintf(opts.IO.Out, "OK: %s is valid (%d worker(s) bundled)\n", opts.File, len(names))
	return nil
}

// validateSpec loads the spec and bundles every worker; it returns the workers' names (empty,
// not nil, when the spec does not load) and every problem found.
func validateSpec(ctx context.Context, opts *validateOptions) ([]string, error) {
	s, err := spec.Load(opts.File, opts.Env, offlineEnv(opts.Getenv))
	if err != nil {
		return []string{}, err
	}
	var problems []error
	names := make([]string, 0, len(s.Workers))
	for _, w := range s.Workers {
		names = append(names, w.Name)
		if _, err := bundler.Bundle(ctx, bundleOptions(w)); err != nil {
			problems = append(problems, bundleProblem(s, w, err))
		}
	}
	return names, errors.Join(problems...)
}

// placeholderAccountID stands in for an unset CLOUDFLARE_ACCOUNT_ID during validate, which
// checks the spec's shape rather than which account it deploys to.
const placeholderAccountID = "00000000000000000000000000000000"

func offlineEnv(getenv func(string) string) func(string) string {
	return func(name string) string {
		if v := getenv(name); v != "" || name != envAccountID {
			return v
		}
		return placeholderAccountID
	}
}

// bundleOptions bundles a worker the way the engine does: node:* imports are left to the
// runtime when the worker enables nodejs_compat.
func bundleOptions(w spec.Worker) bundler.Options {
	return bundler.Options{
		Entry:      w.Main,
		NodeCompat: slices.Contains(w.CompatibilityFlags, "nodejs_compat"),
	}
}

// bundleProblem explains a failed bundle at the spec's `main` line, with esbuild's own
// file:line:col messages pointing into the JavaScript (as plan reports it).
func bundleProblem(s *spec.Spec, w spec.Worker, err error) error {
	var be *bundler.Error
	if !errors.As(err, &be) || len(be.Messages) == 0 {
		return fmt.Errorf("bundle worker %s: %w", w.Key, err)
	}
	msgs := make([]string, len(be.Messages))
	for i, m := range be.Messages {
		msgs[i] = m.String()
	}
	return s.ErrorAt(w.Pos["main"], fmt.Sprintf("workers.%s: bundle failed: %s", w.Key, strings.Join(msgs, "; ")),
		"fix the JavaScript error and validate again")
}
