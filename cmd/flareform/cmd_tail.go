package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flareform/flareform/cmd/flareform/view"
	"github.com/flareform/flareform/internal/keysource"
	"github.com/flareform/flareform/provision"
	"github.com/flareform/flareform/provision/cfapi"
	"github.com/flareform/flareform/provision/keystore"
	"github.com/flareform/flareform/provision/spec"
	"github.com/flareform/flareform/provision/tail"
)

type tailOptions struct {
	*rootOptions
	Status     []string
	Methods    []string
	Search     string
	SampleRate float64
	Headers    []string
	IPs        []string
	VersionID  string
}

func newTailCmd(root *rootOptions) *cobra.Command {
	opts := &tailOptions{rootOptions: root}
	cmd := &cobra.Command{
		Use:   "tail WORKER",
		Short: "Stream a deployed worker's live logs: requests, console output and exceptions",
		Long: `Stream the live logs of WORKER (a worker of the spec, by key or script name, or any
script of the account) until Ctrl-C, as wrangler tail does: one line per request (time, method,
URL, outcome) with its console logs and exceptions below, or with --json one event per line,
as Cloudflare sends it.

The filters are applied by Cloudflare, so only matching events are sent. A lost connection
is reopened (after 1, 2, 4, 8 and 16 s; at most 5 attempts in a row) with a new tail; the tail
is deleted when the command ends, Ctrl-C included. A worker takes at most 10 tails at once.

Secrets are hidden in both forms: the values of Authorization, Cookie and of headers whose
names contain auth, key, token, secret or jwt; key and token query parameters; and every value
of the worker's API key this run knows (FLAREFORM_API_KEY_<WORKER>, FLAREFORM_API_KEY, the
spec's env:/file: key, the project's key store), and the API token, wherever they appear.`,
		Example: `  flareform tail image-api
  flareform tail image-api --status error --json | jq .exceptions
  flareform tail image-api --method POST --search "timeout" --sample-rate 0.1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTail(cmd.Context(), opts, args[0])
		},
	}
	f := cmd.Flags()
	f.BoolVar(&root.JSON, "json", false, "print each event as one line of JSON (as the API sends it, secrets hidden); messages go to stderr")
	f.StringArrayVar(&opts.Status, "status", nil, "only events with this outcome: ok, error or canceled (repeatable)")
	f.StringArrayVar(&opts.Methods, "method", nil, "only requests with this HTTP `METHOD` (repeatable)")
	f.StringVar(&opts.Search, "search", "", "only events whose console logs contain `TEXT`")
	f.Float64Var(&opts.SampleRate, "sample-rate", 0, "send only this share of events, above 0 and below 1 (`RATE`)")
	f.StringArrayVar(&opts.Headers, "header", nil, "only requests with this header, `NAME[:VALUE]` (repeatable)")
	f.StringArrayVar(&opts.IPs, "ip", nil, "only requests from this client `IP` (\"self\": this machine's; repeatable)")
	f.StringVar(&opts.VersionID, "version-id", "", "only events of this worker version `ID`")
	return cmd
}

// outcomesOf expands --status as wrangler does: error is every failing outcome.
var outcomesOf = map[string][]string{
	"ok":       {"ok"},
	"canceled": {"canceled"},
	"error":    {"exception", "exceededCpu", "exceededMemory", "unknown"},
}

// tailFilters turns the flags into the API's filter list, refusing values it would refuse.
func tailFilters(o *tailOptions) ([]cfapi.TailFilter, error) {
	var out []cfapi.TailFilter
	if len(o.Status) > 0 {
		var outcomes []string
		for _, s := range o.Status {
			vals, ok := outcomesOf[strings.ToLower(s)]
			if !ok {
				return nil, fmt.Errorf("--status %s: want ok, error or canceled", s)
			}
			outcomes = append(outcomes, vals...)
		}
		out = append(out, cfapi.TailFilter{Outcome: outcomes})
	}
	if o.SampleRate != 0 {
		if o.SampleRate <= 0 || o.SampleRate >= 1 {
			return nil, fmt.Errorf("--sample-rate %s: want a share above 0 and below 1 (leave it out to see every event)", strconv.FormatFloat(o.SampleRate, 'g', -1, 64))
		}
		rate := o.SampleRate
		out = append(out, cfapi.TailFilter{SamplingRate: &rate})
	}
	if len(o.Methods) > 0 {
		methods := make([]string, len(o.Methods))
		for i, m := range o.Methods {
			methods[i] = strings.ToUpper(m)
		}
		out = append(out, cfapi.TailFilter{Method: methods})
	}
	for _, h := range o.Headers {
		name, value, hasValue := strings.Cut(h, ":")
		if strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("--header %q: want NAME or NAME:VALUE", h)
		}
		hf := &cfapi.TailHeaderFilter{Key: strings.TrimSpace(name)}
		if hasValue {
			v := strings.TrimSpace(value)
			hf.Query = &v
		}
		out = append(out, cfapi.TailFilter{Header: hf})
	}
	if len(o.IPs) > 0 {
		out = append(out, cfapi.TailFilter{ClientIP: o.IPs})
	}
	if o.Search != "" {
		q := o.Search
		out = append(out, cfapi.TailFilter{Query: &q})
	}
	if o.VersionID != "" {
		v := o.VersionID
		out = append(out, cfapi.TailFilter{ScriptVersion: &v})
	}
	return out, nil
}

func runTail(ctx context.Context, opts *tailOptions, worker string) (err error) {
	filters, err := tailFilters(opts)
	if err != nil {
		return err
	}
	sess, err := opts.openSession(ctx)
	if err != nil {
		return err
	}
	defer closeSession(sess, &err)
	api, account, err := sess.Engine.API(sess.Spec.AccountID)
	if err != nil {
		return sess.explain(err)
	}
	w, script, err := findTailWorker(ctx, sess, api, account, worker)
	if err != nil {
		return sess.explain(err)
	}
	redactor := view.NewTailRedactor(tailSecrets(opts.rootOptions, sess, w, script))
	fmt.Fprintf(opts.IO.ErrOut, "Tailing %s (Ctrl-C to stop)...\n", script)
	err = tail.Run(ctx, api.Script(account, script), tail.Options{
		Filters:   filters,
		OnEvent:   func(raw []byte) error { return printTailEvent(opts, redactor, raw) },
		Logf:      func(format string, args ...any) { fmt.Fprintf(opts.IO.ErrOut, format+"\n", args...) },
		UserAgent: "flareform/" + buildVersion().String(),
	})
	if err != nil {
		return sess.explain(fmt.Errorf("tail %s: %w", script, err))
	}
	return nil
}

// findTailWorker resolves WORKER: a worker of the spec (by key or script name), else a
// script the account has. w is nil for a script the spec does not name.
func findTailWorker(ctx context.Context, sess *session, api *cfapi.Client, account, name string) (*spec.Worker, string, error) {
	for i, w := range sess.Spec.Workers {
		if w.Key == name || w.Name == name {
			return &sess.Spec.Workers[i], w.Name, nil
		}
	}
	scripts, err := api.Account(account).Scripts(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("list the account's scripts: %w", err)
	}
	if slices.ContainsFunc(scripts, func(s cfapi.ScriptSummary) bool { return s.Name == name }) {
		return nil, name, nil
	}
	var names []string
	for _, w := range sess.Spec.Workers {
		names = append(names, w.Name)
	}
	return nil, "", fmt.Errorf("no worker %s in %s (workers: %s) and no script %s in account %s",
		name, sess.Spec.File, strings.Join(names, ", "), name, account)
}

// tailSecrets are the values redacted from every event: the API token, every key of the
// worker this run can find, where apply and smoke look for them, and its other secrets.
func tailSecrets(opts *rootOptions, sess *session, w *spec.Worker, script string) []string {
	secrets := []string{provision.ConfigFromEnv(sess.getenv).APIToken}
	for _, name := range []string{spec.WorkerKeyEnv(script), envAPIKey} {
		if v, err := keysource.Normalize(opts.Getenv(name)); err == nil && v != "" {
			secrets = append(secrets, v)
		}
	}
	if w != nil {
		secrets = append(secrets, provision.SecretValues(*w, opts.Getenv)...) // its `secrets:`
	}
	if w == nil || w.APIKey == nil {
		return secrets
	}
	if w.APIKey.From == "env" || w.APIKey.From == "file" {
		if v, err := keysource.Resolve(w.APIKey.From, w.APIKey.Ref, opts.Getenv); err == nil {
			secrets = append(secrets, v)
		}
	}
	return append(secrets, projectStoredKeys(opts, *w)...)
}

// projectStoredKeys are every key (active or pending) of w in the project's key store; read only:
// nothing is created when the project has no .flareform directory.
func projectStoredKeys(opts *rootOptions, w spec.Worker) []string {
	dir, err := opts.projectDir()
	if err != nil {
		return nil
	}
	if _, err := os.Stat(dir); err != nil {
		return nil
	}
	store, err := keystore.Open(dir)
	if err != nil {
		return nil
	}
	entries, err := store.Keys(w.Name, w.APIKey.Binding)
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.Key)
	}
	return out
}

// printTailEvent prints one event, redacted: the JSON line with --json, else the pretty form.
func printTailEvent(opts *tailOptions, r *view.TailRedactor, raw []byte) error {
	red, err := r.RedactJSON(raw)
	if err != nil {
		fmt.Fprintf(opts.IO.ErrOut, "skipped an event that is not JSON: %v\n", err)
		return nil
	}
	if opts.JSON {
		_, err := fmt.Fprintf(opts.IO.Out, "%s\n", red)
		return err
	}
	var ev view.TailEvent
	if err := json.Unmarshal(red, &ev); err != nil {
		fmt.Fprintf(opts.IO.ErrOut, "skipped an event of an unknown shape: %v\n", err)
		return nil
	}
	view.Tail(opts.IO.Out, ev)
	return nil
}
