package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/flareform/flareform/cmd/flareform/view"
	"github.com/flareform/flareform/provision/keystore"
)

type keysOptions struct {
	*rootOptions
	Worker string
}

func newKeysCmd(root *rootOptions) *cobra.Command {
	opts := &keysOptions{rootOptions: root}
	return &cobra.Command{
		Use:   "keys WORKER",
		Short: "List a worker's keys: the owner's and each consumer's, by fingerprint",
		Long: `List the keys WORKER (its key in the spec or its script name) accepts now: the owner's
(api_key) and each consumer's (docs/consumers.md), with the key's fingerprint (never the key),
its rate limit, its state (active; "rotating until T" while the owner's previous key is still
accepted; pending: in the spec, not deployed yet) and when flareform generated it (from the
project's key store). Reads only; nothing is written.`,
		Example: `  flareform keys image-api
  flareform keys image-api --json
  flareform keys image-api --local`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Worker = args[0]
			return runKeys(cmd.Context(), opts)
		},
	}
}

// keysResult is keys' --json output.
type keysResult struct {
	Worker string `json:"worker"`
	Keys   any    `json:"keys"`
}

func runKeys(ctx context.Context, opts *keysOptions) (err error) {
	sess, err := opts.openSession(ctx)
	if err != nil {
		return err
	}
	defer closeSession(sess, &err)
	dir, err := opts.projectDir()
	if err != nil {
		return err
	}
	keys, err := sess.Engine.WorkerKeys(ctx, sess.Spec, opts.Worker, keystore.Reader(dir))
	if err != nil {
		return sess.explain(err)
	}
	if opts.JSON {
		return view.JSON(opts.IO.Out, keysResult{Worker: opts.Worker, Keys: keys})
	}
	view.Keys(opts.IO.Out, opts.Worker, keys)
	return nil
}
