package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/flareform/flareform/provision"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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
	// Canary is plan's and apply's --canary: the new versions' share of the traffic (1-99).
	Canary float64
	// DeleteData and KeepData are --delete-data and --keep-data on plan, apply and destroy
	// (data_flags.go).
	DeleteData, KeepData bool
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
	opts := &rootOptions{IO: ios, Getenv: getenv, File: specName, Parallelism: provision.DefaultConcurrency}
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
"flareform whoami" shows whether Cloudflare accepts the token, and for which account.

The spec is flareform.yaml in the working directory or the nearest folder above it (-f
names another). --no-color, NO_COLOR=1 and FORCE_COLOR=1 set colours as usual.

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
		if hint := suggestFlag(cmd, err); hint != "" {
			return fmt.Errorf("%w; did you mean %s?\nRun '%s --help' for usage", err, hint, cmd.CommandPath())
		}
		return fmt.Errorf("%w\nRun '%s --help' for usage", err, cmd.CommandPath())
	})
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		opts.findSpecFor(cmd)
		return nil
	}

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
		{"show", newShowCmd},
		{"apply", newApplyCmd},
		{"promote", newPromoteCmd},
		{"rollback", newRollbackCmd},
		{"smoke", newSmokeCmd},
		{"output", newOutputCmd},
		{"versions", newVersionsCmd},
		{"usage", newUsageCmd},
		{"destroy", newDestroyCmd},
		{"rotate-key", newRotateKeyCmd},
		{"keys", newKeysCmd},
		{"local", newLocalCmd},
		{"invoke", newInvokeCmd},
		{"version", newVersionCmd},
		{"schema", newSchemaCmd},
		{"import", newImportCmd},
		{"whoami", newWhoamiCmd},
		{"tail", newTailCmd},
	}
}

// specName is the spec's file name, which commands look for when -f is not given.
const specName = "flareform.yaml"

// findSpecFor points a command that reads the spec at the nearest flareform.yaml, like git
// and wrangler find their configuration: in the working directory, else in the folder above
// it, and so on up to the filesystem root or a folder holding .git (the repository's top),
// whichever comes first. An explicit -f wins; import, whose -f is where it writes, never looks.
// When none is found -f keeps its default, so the command says flareform.yaml does not exist.
func (o *rootOptions) findSpecFor(cmd *cobra.Command) {
	f := cmd.Flags().Lookup("file")
	if f == nil || f.Changed || cmd.Name() == "import" || o.File != specName {
		return
	}
	wd, err := os.Getwd()
	if err != nil {
		return
	}
	if found := findSpec(wd); found != "" {
		o.File = found
	}
}

// findSpec walks up from dir to the nearest flareform.yaml (see findSpecFor) and returns its
// path relative to dir, "" when there is none.
func findSpec(dir string) string {
	for d := dir; ; {
		path := filepath.Join(d, specName)
		if st, err := os.Stat(path); err == nil && !st.IsDir() {
			if rel, err := filepath.Rel(dir, path); err == nil {
				return rel
			}
			return path
		}
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			return "" // the top of the repository: a spec above it is another project's
		}
		parent := filepath.Dir(d)
		if parent == d {
			return ""
		}
		d = parent
	}
}

// suggestFlag is the flag a mistyped one (cobra's "unknown flag: --no-colour") most likely
// meant, as "--no-color", or "" when no flag of cmd is close: within two edits (cobra's
// distance for commands), or the typed name is the start of one.
func suggestFlag(cmd *cobra.Command, err error) string {
	typed, ok := strings.CutPrefix(err.Error(), "unknown flag: --")
	if !ok {
		return ""
	}
	typed, _, _ = strings.Cut(typed, "=")
	best, bestDist := "", 3
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		d := editDistance(strings.ToLower(typed), f.Name)
		if strings.HasPrefix(f.Name, typed) && len(typed) >= 3 {
			d = min(d, 1)
		}
		if d < bestDist {
			best, bestDist = f.Name, d
		}
	})
	if best == "" {
		return ""
	}
	return "--" + best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
