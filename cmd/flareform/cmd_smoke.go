package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/spf13/cobra"

	"github.com/flareform/flareform/cmd/flareform/view"
	"github.com/flareform/flareform/internal/keysource"
	"github.com/flareform/flareform/provision"
	"github.com/flareform/flareform/provision/spec"
)

type smokeOptions struct {
	*rootOptions
	KeyFile string
	Out     string
}

func newSmokeCmd(root *rootOptions) *cobra.Command {
	opts := &smokeOptions{rootOptions: root}
	cmd := &cobra.Command{
		Use:   "smoke",
		Short: "Run the spec's smoke tests against the deployed workers",
		Long: `Call every worker's workers.dev URL as the spec's smoke block says: the authorised request
must answer with the expected status and content type, a request without the key must be
refused, and a GET must be rejected.

When no key is found for a worker with a managed key (see "Finding keys" below), its authorised
request cannot run and its smoke test fails (exit 1, "passed": false with --json), naming the
worker and how to pass the key: a check that did not run is never reported as passed.

` + keyLookupHelp,
		Example: `  flareform smoke --key-file ~/.config/my-images.key --out ./out
  FLAREFORM_API_KEY_IMAGE_API=... flareform smoke --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSmoke(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.KeyFile, "key-file", "", "`FILE` holding the API key(s), as written by apply --key-out")
	cmd.Flags().StringVar(&opts.Out, "out", "", "save response bodies (e.g. the PNG) in `DIR`")
	cmd.Flags().StringArrayVar(&opts.Targets, "target", nil, targetFlagUsage)
	return cmd
}

func runSmoke(ctx context.Context, opts *smokeOptions) (err error) {
	sess, err := opts.openSession(ctx)
	if err != nil {
		return err
	}
	defer closeSession(sess, &err)
	targeted, _, err := provision.TargetWorkers(sess.Spec, opts.Targets)
	if err != nil {
		return err
	}
	sess.Spec = targeted

	// Only generated keys need handing in; the engine reads env and file keys itself.
	var keyed []string
	for _, w := range sess.Spec.Workers {
		if w.APIKey != nil && w.APIKey.From == "generate" {
			keyed = append(keyed, w.Key)
		}
	}
	keys, err := smokeKeys(opts, keyed)
	if err != nil {
		return err
	}
	if err := addEnvKeys(opts.Getenv, sess.Spec, keys); err != nil {
		return err
	}
	addStoredKeys(opts.rootOptions, sess.Spec, keys)
	reports, smokeErr := sess.Engine.Smoke(ctx, sess.Spec, keys, opts.Out)
	if opts.JSON && (smokeErr == nil || len(reports) > 0) {
		// Without a single report the failure is the command's error (run prints its JSON).
		if err := view.JSON(opts.IO.Out, newSmokeResult(reports, smokeErr)); err != nil {
			return errors.Join(smokeErr, err)
		}
	} else {
		view.Smoke(opts.IO.Out, reports)
	}
	// smokeErr already names every failed worker and check.
	return sess.explain(smokeErr)
}

// smokeResult is `smoke --json`: whether every worker passed, and each worker's report.
type smokeResult struct {
	Passed  bool                    `json:"passed"`
	Workers []provision.SmokeReport `json:"workers"`
}

func newSmokeResult(reports []provision.SmokeReport, smokeErr error) smokeResult {
	res := smokeResult{Passed: smokeErr == nil, Workers: reports}
	if res.Workers == nil {
		res.Workers = []provision.SmokeReport{}
	}
	for _, r := range reports {
		res.Passed = res.Passed && r.Passed
	}
	return res
}

// addEnvKeys fills in, for generated-key workers --key-file gave no key for, the first key the
// environment gives (FLAREFORM_API_KEY_<WORKER>, then FLAREFORM_API_KEY; checked by the key
// rule). The spec's env:/file: keys are the engine's to read.
func addEnvKeys(getenv func(string) string, s *spec.Spec, keys map[string]string) error {
	envKeys, err := workerEnvKeys(getenv, s.Workers)
	if err != nil {
		return err
	}
	for _, w := range s.Workers {
		if w.APIKey == nil || w.APIKey.From != "generate" || keys[w.Key] != "" || len(envKeys[w.Key]) == 0 {
			continue
		}
		keys[w.Key] = envKeys[w.Key][0]
	}
	return nil
}

// addStoredKeys fills in, for generated-key workers nobody gave a key for, the newest active
// key of the project's key store (read only: smoke takes no lock and writes nothing).
func addStoredKeys(opts *rootOptions, s *spec.Spec, keys map[string]string) {
	for _, w := range s.Workers {
		if w.APIKey == nil || w.APIKey.From != "generate" || keys[w.Key] != "" {
			continue
		}
		if k := opts.storedActiveKey(w); k != "" {
			keys[w.Key] = k
		}
	}
}

// smokeKeys collects the keys --key-file gives to smoke test with, per worker key.
func smokeKeys(opts *smokeOptions, keyed []string) (map[string]string, error) {
	keys := map[string]string{}
	if opts.KeyFile != "" {
		content, err := readKeyFile(opts.KeyFile)
		if err != nil {
			return nil, err
		}
		if keys, err = parseKeyFile(content, keyed); err != nil {
			return nil, fmt.Errorf("--key-file %s: %w", opts.KeyFile, err)
		}
		for _, name := range sortedNames(keys) {
			if err := keysource.Check(keys[name]); err != nil {
				return nil, fmt.Errorf("--key-file %s: the key for %s: %w; %s", opts.KeyFile, name, err, keysource.Fix)
			}
		}
	}
	return keys, nil
}

// maxKeyFileBytes bounds a --key-file: it may hold one key per worker of a large fleet.
const maxKeyFileBytes = 64 << 10

// readKeyFile reads a --key-file with keysource's guards: a regular file outside /proc, /sys
// and /dev of at most maxKeyFileBytes.
func readKeyFile(path string) (string, error) {
	content, err := keysource.ReadFile(path, maxKeyFileBytes)
	if err != nil {
		return "", fmt.Errorf("--key-file %w", err)
	}
	return string(content), nil
}

func sortedNames(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
