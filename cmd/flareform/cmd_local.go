package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flareform/flareform/internal/confined"
	"github.com/flareform/flareform/localcf"
	"github.com/flareform/flareform/localcf/faults"
	"github.com/flareform/flareform/localcf/workerd"
)

type localOptions struct {
	*rootOptions
	StateDir       string
	Memory         bool
	Addr           string
	WorkersDevAddr string
	Faults         string
	FaultSeed      int64
	TrafficSeed    int64
	RateLimit      int
	RateWindow     time.Duration
	AllowRemote    bool
	Quirks         []string
	Zones          []string
	// fileSet and stateSet say whether -f and --state were given (see projectLocalState).
	fileSet, stateSet bool
}

// defaultLocalStateDir is where a server started outside a project keeps its state. In a
// project (-f SPEC, or a flareform.yaml in the working directory) `local` serves the project's
// .flareform/local instead, the state --local commands use: they then talk to it.
const defaultLocalStateDir = ".flareform/local-standalone"

func newLocalCmd(root *rootOptions) *cobra.Command {
	opts := &localOptions{rootOptions: root}
	cmd := &cobra.Command{
		Use:   "local",
		Short: "Run a local Cloudflare (API, workerd runtime, Workers AI stand-in) until interrupted",
		Long: `Start the local Cloudflare as a standalone server: the Cloudflare API, workers.dev served by
workerd, and a local stand-in for Workers AI. Prints the API base URL, the (local, throwaway)
API token, the account id, the workers.dev subdomain and address, and export lines to paste
into another shell; then any flareform (or wrangler) command there talks to it. With --json it
prints one JSON object on one line once ready. Runs until SIGINT/SIGTERM.

It listens on loopback only and answers only loopback Host headers (and, on the data plane,
*.workers.dev and names in the account's zones); an --addr beyond loopback needs --allow-remote.

State (account, token, scripts, secrets sealed) persists in --state unless --memory is given.
In a project (-f SPEC, or a flareform.yaml in the working directory) and without --state, it
serves the project's .flareform/local, the state --local commands use; while it runs, those
commands (plan, apply, invoke --local, ...) use this server instead of starting their own.
--zone NAME adds a zone (example.com) to the account, so Workers custom domains in it can be
attached; the data plane then serves an attached name (curl -H 'Host: api.example.com' ...).
--faults injects API failures for testing retries, e.g. "429@*/workers/scripts/*:p=0.3".
Where Cloudflare's behaviour is UNCONFIRMED the server takes the strictest reading; --quirk
NAME (or $FLAREFORM_LOCALCF_QUIRKS=name,name) switches one to its other reading, see
docs/local-cloudflare.md.`,
		Example: `  flareform local -f flareform.yaml   # serve this project's --local state
  eval "$(flareform local | grep ^export)"   # in scripts: prefer --json
  flareform local --memory --addr 127.0.0.1:8787 --faults '503@*:p=0.2' --fault-seed 7
  flareform local --memory --quirk main_module_by_filename --quirk implicit_secret_retention
  flareform local --zone example.com --zone example.org   # custom domains in these zones`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.fileSet, opts.stateSet = cmd.Flags().Changed("file"), cmd.Flags().Changed("state")
			return runLocal(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.StateDir, "state", defaultLocalStateDir, "`DIR` for the server's state (default in a project: <spec dir>/.flareform/local)")
	f.BoolVar(&opts.Memory, "memory", false, "keep state in memory only (ignores --state)")
	f.StringVar(&opts.Addr, "addr", "127.0.0.1:0", "API listen `ADDR` (host:port)")
	f.StringVar(&opts.WorkersDevAddr, "workers-dev-addr", "127.0.0.1:0", "workers.dev (data plane) listen `ADDR` (host:port)")
	f.StringVar(&opts.Faults, "faults", "", "fault `RULES`: kind[@path][:p=F][:ms=N][:retry_after=N][:count=N][:skip=N][:method=M]; ';'-separated (default $"+envLocalFaults+")")
	f.Int64Var(&opts.FaultSeed, "fault-seed", 0, "`SEED` for probabilistic faults, same seed same faults (default $"+envLocalFaultSeed+" or 1)")
	f.Int64Var(&opts.TrafficSeed, "traffic-seed", 0, "`SEED` for the data plane's choice of version in a split deployment (A 90% / B 10%): same seed, same requests, same versions")
	f.IntVar(&opts.RateLimit, "rate-limit", faults.DefaultRateLimit, "`N` API requests allowed per token per --rate-window, like Cloudflare's; 0 turns the limit off")
	f.DurationVar(&opts.RateWindow, "rate-window", faults.DefaultRateWindow, "rate limit window")
	f.BoolVar(&opts.AllowRemote, "allow-remote", false, "allow --addr/--workers-dev-addr beyond loopback: anyone who can reach them can use the local Cloudflare")
	f.StringSliceVar(&opts.Quirks, "quirk", nil, "switch the UNCONFIRMED behaviour `NAME` to its lenient reading (repeatable; added to $"+envLocalQuirks+"): "+
		strings.Join(localcf.QuirkNames(), ", "))
	f.StringSliceVar(&opts.Zones, "zone", nil, "add the zone `NAME` (example.com) to the account for Workers custom domains (repeatable; kept in the state)")
	return cmd
}

// localInfo is what `local` prints once ready; the field names match /__localcf/info.
type localInfo struct {
	APIBaseURL     string `json:"api_base_url"`
	APIToken       string `json:"api_token"`
	AccountID      string `json:"account_id"`
	Subdomain      string `json:"subdomain"`
	WorkersDevAddr string `json:"workers_dev_addr"`
}

func runLocal(ctx context.Context, opts *localOptions) error {
	if err := checkLocalAddrs(opts); err != nil {
		return err
	}
	rules, seed, err := faultsFromEnv(opts.Getenv)
	if err != nil {
		return err
	}
	if opts.Faults != "" {
		if rules, err = faults.ParseRules(opts.Faults); err != nil {
			return fmt.Errorf("--faults: %w", err)
		}
	}
	if opts.FaultSeed != 0 {
		seed = opts.FaultSeed
	}
	quirks, err := quirksFromEnv(opts.Getenv, opts.Quirks)
	if err != nil {
		return err
	}
	zones := normalizeZones(opts.Zones)
	for _, z := range zones {
		if err := localcf.CheckZoneName(z); err != nil {
			return fmt.Errorf("--zone: %w", err)
		}
	}
	rateLimit := opts.RateLimit
	if rateLimit == 0 {
		rateLimit = -1 // Options treats 0 as "default"; the flag's 0 means off
	}
	stateDir, project := opts.projectLocalState(opts.fileSet, opts.stateSet)
	if project {
		// The project's state goes next to its spec: a spec that is not there (or not a
		// regular file) must not get a .flareform folder made for it.
		if _, err := confined.Check(opts.File, confined.Spec, nil); err != nil {
			return refusedFile("--file", err)
		}
	}
	if !opts.Memory && !project {
		if stateDir, err = filepath.Abs(opts.StateDir); err != nil {
			return fmt.Errorf("--state %s: %w", opts.StateDir, err)
		}
	}
	binary, err := workerd.FinderFromEnv(opts.Getenv).FindOrInstall(ctx, opts.IO.ErrOut)
	if err != nil {
		return fmt.Errorf("local Cloudflare needs workerd: %w", err)
	}
	srv, err := localcf.Start(ctx, localcf.Options{
		StateDir:       stateDir,
		Addr:           opts.Addr,
		WorkersDevAddr: opts.WorkersDevAddr,
		WorkerdBinary:  binary,
		Faults:         rules,
		FaultSeed:      seed,
		TrafficSeed:    opts.TrafficSeed,
		RateLimit:      rateLimit,
		RateWindow:     opts.RateWindow,
		Quirks:         quirks,
		Log:            opts.IO.ErrOut,
		AllowRemote:    opts.AllowRemote,
		Zones:          zones,
	})
	if err != nil {
		return fmt.Errorf("start local Cloudflare: %w", err)
	}
	info := localInfoOf(srv)
	if project {
		// --local commands of this project find the server here and use it (local_shared.go).
		unpublish, err := publishLocalServer(filepath.Dir(stateDir), info)
		if err != nil {
			srv.Close()
			return err
		}
		defer unpublish()
	}
	if err := printLocalInfo(opts, info, stateDir, zoneNames(srv)); err != nil {
		srv.Close()
		return err
	}
	<-ctx.Done()
	fmt.Fprintln(opts.IO.ErrOut, "Stopping the local Cloudflare...")
	if err := srv.Close(); err != nil {
		return fmt.Errorf("stop local Cloudflare: %w", err)
	}
	return nil
}

// normalizeZones writes --zone names as the API wants them: lower case, no root dot (DNS names
// are case-insensitive). Anything else wrong with a name is localcf's to refuse.
func normalizeZones(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, strings.TrimSuffix(strings.ToLower(strings.TrimSpace(n)), "."))
	}
	return out
}

// zoneNames lists the zones of the server's default account: those of --zone and those an
// earlier run left in the state.
func zoneNames(srv *localcf.Server) []string {
	var names []string
	for _, z := range srv.Zones() {
		names = append(names, z.Name)
	}
	return names
}

// checkLocalAddrs refuses listen addresses beyond loopback unless --allow-remote, and warns
// when it is given: the server hands out its API token and runs whatever is uploaded.
func checkLocalAddrs(opts *localOptions) error {
	remote := localcf.RemoteAddrs(opts.Addr, opts.WorkersDevAddr)
	if len(remote) == 0 {
		return nil
	}
	if !opts.AllowRemote {
		return fmt.Errorf("--addr/--workers-dev-addr %s is not a loopback address: anyone who can reach it could use the local Cloudflare's API token, run code and read secrets; "+
			"listen on 127.0.0.1:PORT, or pass --allow-remote if the network is yours", strings.Join(remote, ", "))
	}
	fmt.Fprintf(opts.IO.ErrOut, "Warning: --allow-remote: the local Cloudflare listens on %s; anyone who can reach it and has its token can deploy workers and read secrets\n", strings.Join(remote, ", "))
	return nil
}

func printLocalInfo(opts *localOptions, info localInfo, stateDir string, zones []string) error {
	if opts.JSON {
		// One line, so a parent process can read exactly one line and know the server is up.
		line, err := json.Marshal(info)
		if err != nil {
			return fmt.Errorf("encode local info: %w", err)
		}
		_, err = fmt.Fprintf(opts.IO.Out, "%s\n", line)
		return err
	}
	w := opts.IO.Out
	state := stateDir
	if state == "" {
		state = "(memory only)"
	}
	fmt.Fprintf(w, "Local Cloudflare is running. Press Ctrl-C to stop.\n\n")
	fmt.Fprintf(w, "  API base URL:      %s\n", info.APIBaseURL)
	fmt.Fprintf(w, "  API token:         %s\n", info.APIToken)
	fmt.Fprintf(w, "  Account ID:        %s\n", info.AccountID)
	fmt.Fprintf(w, "  Subdomain:         %s.workers.dev\n", info.Subdomain)
	fmt.Fprintf(w, "  workers.dev addr:  %s\n", info.WorkersDevAddr)
	if len(zones) > 0 {
		fmt.Fprintf(w, "  Zones:             %s (custom domains: the same addr, Host: <name>)\n", strings.Join(zones, ", "))
	}
	fmt.Fprintf(w, "  State:             %s\n\n", state)
	fmt.Fprintf(w, "To use it from another shell:\n\n")
	fmt.Fprintf(w, "export CLOUDFLARE_API_BASE_URL=%s\n", info.APIBaseURL)
	fmt.Fprintf(w, "export CLOUDFLARE_API_TOKEN=%s\n", info.APIToken)
	fmt.Fprintf(w, "export CLOUDFLARE_ACCOUNT_ID=%s\n", info.AccountID)
	fmt.Fprintf(w, "export FLAREFORM_WORKERS_DEV_ADDR=%s\n", info.WorkersDevAddr)
	return nil
}
