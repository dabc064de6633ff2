package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/flareform/flareform/internal/keysource"
	"github.com/flareform/flareform/provision"
)

type applyOptions struct {
	*rootOptions
	AutoApprove bool
	KeyOut      string
	Force       bool
	NoSmoke     bool
	SmokeOut    string
}

func newApplyCmd(root *rootOptions) *cobra.Command {
	opts := &applyOptions{rootOptions: root}
	cmd := &cobra.Command{
		Use:   "apply",
		Short: "Deploy the spec: plan, confirm, apply, smoke test",
		Long: `Plan (as "flareform plan" does), ask for confirmation, apply exactly that plan and smoke
test every changed worker over its workers.dev URL. Prints each worker's URL.

Confirmation: on a terminal, type "yes". Without a terminal (CI) apply refuses unless
--auto-approve is given; nothing is written before that check. When nothing differs it prints
"No changes." and writes nothing.

A key flareform generates for a worker is handed over exactly once: printed in the human
output, or written to --key-out (mode 0600; then it is not printed), or put in the JSON
result's "api_key" field with --json. It is stored nowhere else: keep it.`,
		Example: `  flareform apply
  flareform apply --auto-approve --key-out ~/.config/my-images.key
  flareform apply --local --auto-approve --smoke-out ./out
  flareform apply --json --auto-approve | jq -r '.workers[].url'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runApply(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opts.AutoApprove, "auto-approve", false, "apply without asking for confirmation")
	f.StringVar(&opts.KeyOut, "key-out", "", "write generated API keys to this file (0600) instead of printing them")
	f.BoolVar(&opts.Force, "force", false, "let --key-out overwrite an existing file")
	f.BoolVar(&opts.NoSmoke, "no-smoke", false, "skip the post-deploy smoke tests")
	f.StringVar(&opts.SmokeOut, "smoke-out", "", "save smoke test response bodies (e.g. the PNG) in this directory")
	return cmd
}

// applyResult is apply's --json output.
type applyResult struct {
	Changes bool                `json:"changes"`
	Plan    *provision.Plan     `json:"plan"`
	Workers []applyWorkerResult `json:"workers"`
	KeyFile string              `json:"key_file,omitempty"`
}

// applyWorkerResult is one worker's result plus, with --json and no --key-out, the key that
// was generated for it: the one place that key is handed over.
type applyWorkerResult struct {
	provision.WorkerResult
	APIKey string `json:"api_key,omitempty"`
}

func runApply(ctx context.Context, opts *applyOptions) (err error) {
	if opts.KeyOut != "" { // a FIFO or device is refused before the spec is even read
		if err := keysource.CheckWritable(opts.KeyOut); err != nil {
			return fmt.Errorf("--key-out %w", err)
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
	if !plan.HasChanges() {
		return reportNoChanges(opts.rootOptions, plan, "No changes. Your workers match the spec.")
	}
	// The --key-out file is prepared only when this apply generates a key, and before anything
	// is written, so an unwritable path fails before a key exists that could be lost. A re-run
	// after a partly failed apply generates none: its earlier --key-out file is left alone
	// instead of being refused.
	var keys *keyOut
	if opts.KeyOut != "" && plan.GeneratesKeys() {
		if keys, err = prepareKeyOut(opts.KeyOut, opts.Force); err != nil {
			return err
		}
		// Replaced by Commit once keys exist; until then an early return leaves no file behind.
		defer func() {
			if keys != nil {
				keys.Discard()
			}
		}()
	}
	printPlan(opts.rootOptions, plan)
	if !opts.AutoApprove {
		if err := confirm(opts.rootOptions, "Do you want to perform these actions?", "apply"); err != nil {
			return err
		}
	}
	res, applyErr := sess.Engine.Apply(ctx, plan, provision.ApplyOptions{SkipSmoke: opts.NoSmoke, SmokeOut: opts.SmokeOut})
	if res == nil {
		return sess.explain(applyErr)
	}
	generated := generatedKeys(res)
	if keys != nil && len(generated) > 0 {
		commitErr := keys.Commit(generated)
		keys = nil
		if commitErr != nil {
			return errors.Join(applyErr, commitErr)
		}
	}
	if err := reportApply(opts, plan, res); err != nil {
		return errors.Join(applyErr, err)
	}
	if applyErr != nil {
		return sess.explain(applyErr)
	}
	return failedWorkers(res)
}

// generatedKeys lists the keys apply generated, in result order.
func generatedKeys(res *provision.Result) []generatedKey {
	var keys []generatedKey
	for _, w := range res.Workers {
		if w.GeneratedKey != "" {
			keys = append(keys, generatedKey{WorkerKey: w.Key, Key: w.GeneratedKey})
		}
	}
	return keys
}

// reportNoChanges ends an apply or destroy that has nothing to do.
func reportNoChanges(opts *rootOptions, plan *provision.Plan, message string) error {
	if opts.JSON {
		return writeJSON(opts.IO.Out, applyResult{Changes: false, Plan: plan, Workers: []applyWorkerResult{}})
	}
	fmt.Fprintln(opts.IO.Out, message)
	return nil
}

// reportApply prints the outcome and hands over generated keys (see the command's help).
func reportApply(opts *applyOptions, plan *provision.Plan, res *provision.Result) error {
	if opts.JSON {
		out := applyResult{Changes: true, Plan: plan, Workers: make([]applyWorkerResult, 0, len(res.Workers))}
		if opts.KeyOut != "" && len(generatedKeys(res)) > 0 {
			out.KeyFile = opts.KeyOut
		}
		for _, w := range res.Workers {
			r := applyWorkerResult{WorkerResult: w}
			if opts.KeyOut == "" {
				r.APIKey = w.GeneratedKey
			}
			out.Workers = append(out.Workers, r)
		}
		return writeJSON(opts.IO.Out, out)
	}
	w := opts.IO.Out
	fmt.Fprintln(w)
	for _, r := range res.Workers {
		writeWorkerResult(w, r)
		if r.GeneratedKey == "" {
			continue
		}
		if opts.KeyOut != "" {
			fmt.Fprintf(w, "  API key (%s): written to %s\n", r.KeyFingerprint, opts.KeyOut)
		} else {
			fmt.Fprintf(w, "  API key (shown once, store it now): %s\n", r.GeneratedKey)
		}
	}
	fmt.Fprintf(w, "\nApply complete! %s\n", summarizeActions(res))
	return nil
}

// writeWorkerResult prints one worker's line, its smoke report and any error.
func writeWorkerResult(w io.Writer, r provision.WorkerResult) {
	fmt.Fprintf(w, "%s: %s", r.Name, r.Action)
	if r.URL != "" {
		fmt.Fprintf(w, " %s", r.URL)
	}
	if r.VersionID != "" {
		fmt.Fprintf(w, " (version %s)", r.VersionID)
	}
	fmt.Fprintln(w)
	if r.Smoke != nil {
		writeSmokeReport(w, "  ", *r.Smoke)
	}
	if r.RolledBack {
		fmt.Fprintln(w, "  rolled back to the previous version")
	}
	if r.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", r.Error)
	}
}

// summarizeActions counts results by action, Terraform-style.
func summarizeActions(res *provision.Result) string {
	var created, updated, deleted, failed int
	for _, r := range res.Workers {
		switch {
		case r.Error != "":
			failed++
		case r.Action == provision.ActionCreate:
			created++
		case r.Action == provision.ActionUpdate:
			updated++
		case r.Action == provision.ActionDelete:
			deleted++
		}
	}
	s := fmt.Sprintf("Resources: %d created, %d updated, %d destroyed.", created, updated, deleted)
	if failed > 0 {
		s += fmt.Sprintf(" %d failed.", failed)
	}
	return s
}

// failedWorkers turns per-worker failures into the command's error.
func failedWorkers(res *provision.Result) error {
	var errs []error
	for _, r := range res.Workers {
		if r.Error != "" {
			errs = append(errs, fmt.Errorf("worker %s: %s", r.Name, r.Error))
		}
	}
	return errors.Join(errs...)
}
