package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flareform/flareform/bundler"
	"github.com/flareform/flareform/cmd/flareform/view"
	"github.com/flareform/flareform/internal/aimodels"
	"github.com/flareform/flareform/internal/compatflags"
	"github.com/flareform/flareform/internal/confined"
	"github.com/flareform/flareform/localcf/workerd"
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
placeholder account stands in for it. A model Workers AI has retired is refused from
flareform's snapshot of retired models (with the date and a replacement); unknown models are
only found by plan, which asks the Workers AI catalog.`,
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
			if jerr := view.JSON(opts.IO.Out, validateResult{Valid: false, Workers: names, errorResult: &res}); jerr != nil {
				return errors.Join(err, jerr)
			}
		}
		return err
	}
	if opts.JSON {
		return view.JSON(opts.IO.Out, validateResult{Valid: true, Workers: names})
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
	// Every file a bundle reads must lie in the spec's project tree, as when the engine bundles.
	tree, err := s.Tree()
	if err != nil {
		return []string{}, err
	}
	var problems []error
	names := make([]string, 0, len(s.Workers))
	for _, w := range s.Workers {
		names = append(names, w.Name)
		problems = append(problems, flagProblems(s, w)...)
		if err := retiredModelProblem(s, w, time.Now()); err != nil {
			problems = append(problems, err)
		}
		res, err := bundler.Bundle(ctx, bundleOptions(tree, w))
		if err != nil {
			problems = append(problems, bundleProblem(s, w, err))
			continue
		}
		if msg, fix, ok := res.EntryProblem(specRelative(s, w.Main)); !ok {
			problems = append(problems, s.ErrorAt(w.Pos["main"], fmt.Sprintf("workers.%s: %s", w.Key, msg), fix))
			continue
		}
		if err := startupProblem(ctx, s, w, res); err != nil {
			problems = append(problems, err)
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
// runtime when the worker enables nodejs_compat, and every file the bundle reads must lie in
// tree, the spec's project tree (a refused import is a bundle problem at the main line).
func bundleOptions(tree *confined.Tree, w spec.Worker) bundler.Options {
	return bundler.Options{
		Entry:      w.Main,
		NodeCompat: slices.Contains(w.CompatibilityFlags, "nodejs_compat"),
		Tree:       tree,
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
		be.Fix("fix the JavaScript error and validate again"))
}

// startupProblem starts the bundle once in the pinned workerd (no bindings: module top-level
// code cannot reach env) and reports a Worker that throws while starting at the spec's main
// line, with workerd's message mapped to the user's source through the source map. Cloudflare
// would refuse that upload (10021).
func startupProblem(ctx context.Context, s *spec.Spec, w spec.Worker, res *bundler.Result) error {
	proc, err := workerd.Start(ctx, workerd.Options{}, workerd.Worker{
		Name:       w.Key,
		MainModule: res.ModuleName,
		Modules: []workerd.Module{
			{Name: res.ModuleName, Type: "esm", Content: res.Code},
			{Name: res.SourceMapName, Type: "sourcemap", Content: res.SourceMap},
		},
		CompatibilityDate:  w.CompatibilityDate,
		CompatibilityFlags: slices.DeleteFunc(slices.Clone(w.CompatibilityFlags), func(f string) bool { return !compatflags.Known(f) }),
	})
	var se *workerd.StartupError
	switch {
	case err == nil:
		return proc.Close()
	case errors.As(err, &se):
		return s.ErrorAt(w.Pos["main"], fmt.Sprintf("workers.%s: the Worker fails to start: %s", w.Key, res.MapLocations(se.Message, s.Dir)),
			"fix the error at that source line (Cloudflare refuses such an upload with code 10021)")
	default:
		return fmt.Errorf("validate worker %s: start it in workerd: %w", w.Key, err)
	}
}

// retiredModelProblem refuses, at the ai.model line, a model that flareform's snapshot of
// retired Workers AI models (internal/aimodels) lists with a date that has come, naming the date
// and the replacement. Offline, the snapshot is all there is; it says so, since plan asks the
// live catalog. A model the snapshot does not list is not judged here.
func retiredModelProblem(s *spec.Spec, w spec.Worker, now time.Time) error {
	if w.AI == nil {
		return nil
	}
	r, ok := aimodels.LookupRetired(w.AI.Model)
	if !ok || !aimodels.PastDate(r.Date, now) {
		return nil
	}
	pos, ok := w.Pos["ai.model"]
	if !ok {
		pos = w.Pos["ai"]
	}
	return s.ErrorAt(pos, fmt.Sprintf("workers.%s: %s was retired on %s (flareform's snapshot of retired Workers AI models, as of %s; plan asks the live catalog)",
		w.Key, r.Name, r.Date, aimodels.SnapshotDate), r.Advice())
}

// flagProblems refuses compatibility flags the pinned workerd does not know, at the flag's
// line, with the nearest known flag: Cloudflare would refuse them only at upload.
func flagProblems(s *spec.Spec, w spec.Worker) []error {
	var out []error
	for _, flag := range w.CompatibilityFlags {
		if compatflags.Known(flag) {
			continue
		}
		pos, ok := w.Pos["compatibility_flags."+flag]
		if !ok {
			pos = w.Pos["compatibility_flags"]
		}
		fix := "see https://developers.cloudflare.com/workers/configuration/compatibility-flags/ for the flags there are"
		if best := spec.Closest(flag, compatflags.All()); best != "" {
			fix = fmt.Sprintf("did you mean %s?", best)
		}
		out = append(out, s.ErrorAt(pos, fmt.Sprintf("workers.%s: unknown compatibility flag %q (workerd %s does not know it)", w.Key, flag, compatflags.WorkerdVersion()), fix))
	}
	return out
}

// specRelative names a file the way the user wrote it: relative to the spec's directory.
func specRelative(s *spec.Spec, path string) string {
	if rel, err := filepath.Rel(s.Dir, path); err == nil {
		return filepath.ToSlash(rel)
	}
	return path
}
