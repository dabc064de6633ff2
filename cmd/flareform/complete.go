package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flareform/flareform/provision"
	"github.com/flareform/flareform/provision/spec"
)

// Shell completion of worker names and version ids. Completion runs on every <TAB>, so it
// must answer fast and quietly: worker names come from the spec alone (no network), version
// ids from one History read bounded by completionTimeout; any failure completes nothing and
// prints nothing, which leaves the shell as it was.

// completionTimeout bounds the API reads of one completion: a shell waiting longer than this
// on a <TAB> feels broken, and no completion beats a late one.
const completionTimeout = 3 * time.Second

// completeWorkerNames completes a command's WORKER argument (its first) with the script names
// of the spec's workers, found as every command finds the spec (-f, else the nearest
// flareform.yaml), with no network call. Later arguments complete nothing.
func completeWorkerNames(opts *rootOptions) cobra.CompletionFunc {
	return func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		s := opts.completionSpec(c, offlineEnv(opts.Getenv))
		if s == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []cobra.Completion
		for _, w := range s.Workers {
			if strings.HasPrefix(w.Name, toComplete) {
				names = append(names, w.Name)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeVersionIDs completes a version id flag (rollback --to, promote's version) with the
// newest versions of the worker args[0] names (a script name or a spec key), newest first,
// each described by its number, age and share of traffic. It reads them with History under
// completionTimeout; with --local only from a running `flareform local` (starting a local
// Cloudflare per <TAB> would take seconds). Without a worker, or on any error, it completes
// nothing.
func completeVersionIDs(opts *rootOptions) cobra.CompletionFunc {
	return func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx := c.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		ctx, cancel := context.WithTimeout(ctx, completionTimeout)
		defer cancel()
		hist, err := opts.completionHistory(ctx, c, args[0])
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var ids []cobra.Completion
		for _, v := range hist.Versions {
			if strings.HasPrefix(v.ID, toComplete) {
				ids = append(ids, cobra.CompletionWithDesc(v.ID, versionDescription(v)))
			}
		}
		return ids, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
	}
}

// versionDescription is what a shell shows beside a version id: "#3 2026-03-01 09:30 UTC,
// serving 100%, flareform, smoke passed".
func versionDescription(v provision.HistoryVersion) string {
	parts := []string{fmt.Sprintf("#%d %s", v.Number, v.Created.UTC().Format("2006-01-02 15:04 UTC"))}
	if v.Percentage > 0 {
		parts = append(parts, fmt.Sprintf("serving %g%%", v.Percentage))
	}
	if v.Flareform {
		parts = append(parts, "flareform")
	}
	if v.Smoke != "" {
		parts = append(parts, "smoke "+v.Smoke)
	}
	return strings.Join(parts, ", ")
}

// completionSpec loads the spec a completion of c reads (completion runs no PersistentPreRun,
// so the spec is looked for here), nil when it does not load.
func (o *rootOptions) completionSpec(c *cobra.Command, getenv func(string) string) *spec.Spec {
	o.findSpecFor(c)
	s, err := spec.Load(o.File, o.Env, getenv)
	if err != nil {
		return nil
	}
	return s
}

// completionHistory reads the versions of worker for a completion: the spec's account (else
// CLOUDFLARE_ACCOUNT_ID), no retries, no log.
func (o *rootOptions) completionHistory(ctx context.Context, c *cobra.Command, worker string) (*provision.History, error) {
	getenv := o.Getenv
	if o.Local {
		info, up := o.runningLocal(ctx)
		if !up {
			return nil, errors.New("no running flareform local to complete from")
		}
		getenv = localInfoEnv(info, o.Getenv)
	}
	s := o.completionSpec(c, getenv)
	account := ""
	if s != nil && !o.Local { // --local: the local account stands for any (useLocalAccount)
		account = s.AccountID
	}
	cfg := provision.ConfigFromEnv(getenv)
	cfg.MaxRetries = -1
	eng, err := provision.New(cfg)
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	return eng.History(ctx, account, scriptNameOf(s, worker), provision.DefaultHistoryLimit)
}

// scriptNameOf is the script name arg stands for: the name of the spec's worker whose key or
// name it is, else arg itself (a script on the account that the spec may not list). s may be
// nil.
func scriptNameOf(s *spec.Spec, arg string) string {
	if s == nil {
		return arg
	}
	for _, w := range s.Workers {
		if w.Key == arg || w.Name == arg {
			return w.Name
		}
	}
	return arg
}
