package main

import (
	"fmt"

	"github.com/flareform/flareform/provision"
	"github.com/spf13/cobra"
)

// rootOptions are the persistent flags plus what every command needs from its surroundings.
// One value is built per invocation; nothing lives at package level.
type rootOptions struct {
	IO     *IOStreams
	Getenv func(string) string

	File  string // -f/--file: the spec
	Env   string // --env: environment overlay in the spec
	JSON  bool   // --json: machine result on stdout, everything else on stderr
	Local bool   // --local: run against an embedded local Cloudflare
	// Parallelism is --parallelism: API requests in flight at once.
	Parallelism int
	// Adopt is plan's and apply's --adopt: existing scripts flareform did not deploy that the
	// run may take over.
	Adopt   []string
	NoColor bool // --no-color (NO_COLOR in the environment does the same)
	// Targets is --target on plan, apply, destroy and smoke: only these workers.
	Targets []string
}

// adoptFlagUsage is --adopt's help, shared by plan and apply.
const adoptFlagUsage = "take over this existing script that flareform did not deploy (repeatable); without it plan refuses such scripts"

// targetFlagUsage is --target's help, shared by plan, apply, destroy and smoke.
const targetFlagUsage = "only this worker (its key or script name; repeatable) and the gateways and indexes it uses; the others are skipped"

// newRootCmd builds the whole command tree for one invocation.
func newRootCmd(ios *IOStreams, getenv func(string) string) *cobra.Command {
	return buildRootCmd(ios, getenv, "")
}

// buildRootCmd builds the root with every command, or with only the one named only.
func buildRootCmd(ios *IOStreams, getenv func(string) string, only string) *cobra.Command {
	opts := &rootOptions{IO: ios, Getenv: getenv, File: "flareform.yaml", Parallelism: provision.DefaultConcurrency}
	root := &cobra.Command{
		Use:   "flareform <command> [flags]",
		Short: "Deploy Cloudflare Workers that serve Workers AI models",
		Long: `flareform deploys Cloudflare Workers that serve Workers AI models, the way Terraform
deploys infrastructure: describe the workers in flareform.yaml, look at the plan, apply it.

Credentials come from the environment, as with wrangler:
  CLOUDFLARE_API_TOKEN     API token with Workers Scripts:Edit and Workers AI:Read
  CLOUDFLARE_ACCOUNT_ID    account used when the spec names none
  CLOUDFLARE_API_BASE_URL  API base URL (default https://api.cloudflare.com/client/v4);
                           CF_API_BASE_URL is read when it is not set

With --local no account is needed: an embedded local Cloudflare (API, workerd runtime and a
Workers AI stand-in) runs for the duration of the command and keeps its state in
<spec dir>/.flareform/local.`,
		Example: `  flareform init my-worker --template text-to-image
  cd my-worker && flareform apply --local --auto-approve
  flareform plan --json`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildVersion().String(),
	}
	root.SetVersionTemplate("flareform {{.Version}}\n")
	root.SetIn(ios.In)
	root.SetOut(ios.Out)
	root.SetErr(ios.ErrOut)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%w\nRun '%s --help' for usage", err, cmd.CommandPath())
	})

	for _, sub := range subcommands() {
		if only == "" || sub.name == only {
			root.AddCommand(sub.build(opts))
		}
	}
	finishCommandTree(root, opts)
	return root
}

// newRootCmdFor builds the command tree args need. When the first argument names a command,
// only that command is built: building all of them (their flags, completions, init's template
// list) was a measurable part of a short command's run time. Anything else (help, a flag
// first, an unknown or misspelt command, completion) gets the whole tree.
func newRootCmdFor(ios *IOStreams, getenv func(string) string, args []string) *cobra.Command {
	if len(args) > 0 {
		for _, sub := range subcommands() {
			if sub.name == args[0] {
				return buildRootCmd(ios, getenv, sub.name)
			}
		}
	}
	return newRootCmd(ios, getenv)
}

// subcommand is one command of the tree, built on demand.
type subcommand struct {
	name  string // the command's Name(), TestSubcommandNames keeps them equal
	build func(*rootOptions) *cobra.Command
}

// subcommands lists flareform's commands in the order the help shows them.
func subcommands() []subcommand {
	return []subcommand{
		{"init", newInitCmd},
		{"validate", newValidateCmd},
		{"plan", newPlanCmd},
		{"apply", newApplyCmd},
		{"smoke", newSmokeCmd},
		{"output", newOutputCmd},
		{"destroy", newDestroyCmd},
		{"rotate-key", newRotateKeyCmd},
		{"local", newLocalCmd},
		{"invoke", newInvokeCmd},
		{"version", newVersionCmd},
		{"schema", newSchemaCmd},
		{"import", newImportCmd},
	}
}
