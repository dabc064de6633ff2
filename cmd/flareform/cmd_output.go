package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flareform/flareform/cmd/flareform/view"
	"github.com/flareform/flareform/provision"
	"github.com/flareform/flareform/provision/spec"
)

type outputOptions struct {
	*rootOptions
	Raw bool
}

func newOutputCmd(root *rootOptions) *cobra.Command {
	opts := &outputOptions{rootOptions: root}
	cmd := &cobra.Command{
		Use:   "output [WORKER]",
		Short: "Show each worker's name, URL, whether it exists and its deployed version",
		Long: `Read the live state of every worker in the spec (or of WORKER only: its script name or its key
under workers:) and print its script name, workers.dev URL, whether it exists on Cloudflare and
the version that is deployed. Makes no change.

With --raw, print only WORKER's URL and a newline, for scripts ($(flareform output api --raw));
a worker that has none (not deployed, or workers_dev off) is an error.`,
		Example: `  flareform output
  flareform output my-api
  curl "$(flareform output my-api --raw)"
  flareform output --json | jq -r '.workers[0].url'`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return &argsError{fmt.Sprintf("output takes at most one worker's name, got %d (%s): flareform output [WORKER]", len(args), strings.Join(args, " "))}
			}
			return nil
		},
		ValidArgsFunction: completeWorkers(root),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			return runOutput(cmd.Context(), opts, name)
		},
	}
	cmd.Flags().BoolVar(&opts.Raw, "raw", false, "print only WORKER's URL (needs WORKER; not with --json)")
	return cmd
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

func runOutput(ctx context.Context, opts *outputOptions, name string) (err error) {
	switch {
	case opts.Raw && name == "":
		return errors.New("--raw prints one worker's URL: flareform output WORKER --raw")
	case opts.Raw && opts.JSON:
		return errors.New("--raw and --json both say how to print; give one of them")
	}
	sess, err := opts.openSession(ctx)
	if err != nil {
		return err
	}
	defer closeSession(sess, &err)

	s := sess.Spec
	if name != "" {
		w, err := findWorker(s, name)
		if err != nil {
			return err
		}
		one := *s
		one.Workers = []spec.Worker{w} // read only that worker
		s = &one
	}
	outs, err := sess.Engine.Outputs(ctx, s)
	if err != nil {
		return sess.explain(err)
	}
	if opts.Raw {
		o := outs[0]
		switch {
		case !o.Exists:
			return fmt.Errorf("worker %s is not deployed, so it has no URL; run flareform apply first", o.Name)
		case o.URL == "":
			return fmt.Errorf("worker %s has no workers.dev URL (workers_dev is off)", o.Name)
		}
		_, err := fmt.Fprintln(opts.IO.Out, o.URL)
		return err
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
