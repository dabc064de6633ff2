package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/flareform/flareform/cmd/flareform/view"
	"github.com/flareform/flareform/provision"
)

type outputOptions struct {
	*rootOptions
}

func newOutputCmd(root *rootOptions) *cobra.Command {
	opts := &outputOptions{rootOptions: root}
	return &cobra.Command{
		Use:   "output",
		Short: "Show each worker's name, URL, whether it exists and its deployed version",
		Long: `Read the live state of every worker in the spec and print its script name, workers.dev
URL, whether it exists on Cloudflare and the version that is deployed. Makes no change.`,
		Example: `  flareform output
  flareform output --json | jq -r '.workers[0].url'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runOutput(cmd.Context(), opts)
		},
	}
}

// outputResult is `output --json`: an object, so fields can be added without breaking readers.
type outputResult struct {
	Workers []outputEntry `json:"workers"`
}

// outputEntry is one worker in `output --json`.
type outputEntry struct {
	Key        string `json:"key"`
	Name       string `json:"name"`
	URL        string `json:"url"`
	Exists     bool   `json:"exists"`
	WorkersDev bool   `json:"workers_dev"`
	VersionID  string `json:"version_id"`
}

func runOutput(ctx context.Context, opts *outputOptions) (err error) {
	sess, err := opts.openSession(ctx)
	if err != nil {
		return err
	}
	defer closeSession(sess, &err)

	outs, err := sess.Engine.Outputs(ctx, sess.Spec)
	if err != nil {
		return sess.explain(err)
	}
	if opts.JSON {
		return view.JSON(opts.IO.Out, outputResult{Workers: outputEntries(outs)})
	}
	return view.Outputs(opts.IO.Out, outs)
}

func outputEntries(outs []provision.Output) []outputEntry {
	entries := make([]outputEntry, 0, len(outs))
	for _, o := range outs {
		entries = append(entries, outputEntry{
			Key: o.Key, Name: o.Name, URL: o.URL, Exists: o.Exists, WorkersDev: o.WorkersDev, VersionID: o.VersionID,
		})
	}
	return entries
}
