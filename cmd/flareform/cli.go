package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/flareform/flareform/internal/confined"
	"github.com/flareform/flareform/provision"
	"github.com/flareform/flareform/provision/spec"
	"github.com/flareform/flareform/templates"
)

// globalFlag is one of the flags several commands share; each command gets only those that
// mean something to it, so `init --help` does not offer --local.
type globalFlag uint

const (
	flagFile globalFlag = 1 << iota
	flagEnv
	flagJSON
	flagLocal
	flagParallelism
	flagNoColor
)

const (
	specFlags   = flagFile | flagEnv | flagJSON
	engineFlags = specFlags | flagLocal
)

// commandFlags says which shared flags each command takes.
func commandFlags() map[string]globalFlag {
	// Every command takes --no-color and --json (schema's output is JSON either way).
	return map[string]globalFlag{
		"init":       flagJSON | flagNoColor,
		"validate":   specFlags | flagNoColor,
		"plan":       engineFlags | flagParallelism | flagNoColor,
		"show":       flagJSON | flagNoColor, // a saved plan: no spec, no API
		"apply":      engineFlags | flagParallelism | flagNoColor,
		"destroy":    engineFlags | flagParallelism | flagNoColor,
		"smoke":      engineFlags | flagNoColor,
		"output":     engineFlags | flagParallelism | flagNoColor,
		"rotate-key": engineFlags | flagNoColor,
		"invoke":     engineFlags | flagNoColor,
		"local":      flagFile | flagJSON | flagNoColor,
		"import":     flagFile | flagJSON | flagNoColor,
		"schema":     flagJSON | flagNoColor,
		"version":    flagJSON | flagNoColor,
		"whoami":     engineFlags | flagNoColor,
	}
}

// addGlobalFlags defines the shared flags in which on fs, all bound to opts.
func addGlobalFlags(fs *pflag.FlagSet, opts *rootOptions, which globalFlag) {
	// A command that defines one of these itself keeps its own.
	has := func(name string) bool { return fs.Lookup(name) != nil }
	which = which &^ definedAlready(has)
	if which&flagFile != 0 {
		fs.StringVarP(&opts.File, "file", "f", specName, "path of the spec `FILE` (default: flareform.yaml here, else in the nearest folder above, up to the repository's top)")
		fs.Lookup("file").DefValue = "" // the usage says what the default is
	}
	if which&flagEnv != 0 {
		fs.StringVar(&opts.Env, "env", "", "use the environment `NAME` from the spec's environments:")
	}
	if which&flagJSON != 0 {
		fs.BoolVar(&opts.JSON, "json", false, "print one JSON object on stdout, also on failure (docs/json.md); logs go to stderr")
	}
	if which&flagLocal != 0 {
		fs.BoolVar(&opts.Local, "local", false, "use the local Cloudflare (the running \"flareform local\" of this project, else an embedded one) instead of the real API")
	}
	if which&flagParallelism != 0 {
		fs.IntVar(&opts.Parallelism, "parallelism", provision.DefaultConcurrency, "`N` API requests in flight at once (workers are paced to the API's rate limit either way)")
	}
	if which&flagNoColor != 0 {
		fs.BoolVar(&opts.NoColor, "no-color", false, "no colours, also on a terminal (as does NO_COLOR=1; FORCE_COLOR=1 colours a pipe)")
	}
}

// definedAlready lists the shared flags a flag set already has.
func definedAlready(has func(string) bool) globalFlag {
	var defined globalFlag
	for flag, name := range map[globalFlag]string{flagFile: "file", flagEnv: "env", flagJSON: "json",
		flagLocal: "local", flagParallelism: "parallelism", flagNoColor: "no-color"} {
		if has(name) {
			defined |= flag
		}
	}
	return defined
}

// suggestFor lists the words people from Terraform, wrangler and kubectl type for a command.
func suggestFor() map[string][]string {
	return map[string][]string{
		"apply":      {"deploy", "up", "publish"},
		"destroy":    {"delete", "down", "remove", "rm"},
		"plan":       {"diff", "preview"},
		"smoke":      {"test", "check"},
		"output":     {"outputs", "status", "show", "list"},
		"invoke":     {"call", "run", "curl", "request"},
		"rotate-key": {"rotate", "rekey"},
		"local":      {"dev", "serve", "server"},
		"validate":   {"lint", "check-spec"},
	}
}

// finishCommandTree gives every command its shared flags, suggestions, friendly argument
// errors and completions.
func finishCommandTree(root *cobra.Command, opts *rootOptions) {
	flagsOf, suggestions := commandFlags(), suggestFor()
	// The root knows every shared flag (hidden) so `flareform -f x.yaml --local plan` finds
	// the command; each command then parses the flags it takes. --no-color is the root's
	// persistent flag as well, so the commands cobra adds (help, completion) take it too.
	addGlobalFlags(root.Flags(), opts, ^flagNoColor)
	addGlobalFlags(root.PersistentFlags(), opts, flagNoColor)
	for _, fs := range []*pflag.FlagSet{root.Flags(), root.PersistentFlags()} {
		fs.VisitAll(func(f *pflag.Flag) {
			if f.Name != "version" && f.Name != "help" {
				f.Hidden = true
			}
		})
	}
	for _, cmd := range root.Commands() {
		which, known := flagsOf[cmd.Name()]
		if !known {
			// A command this table does not list yet gets what the spec commands take.
			which = engineFlags | flagParallelism | flagNoColor
		}
		cmd.SuggestFor = suggestions[cmd.Name()]
		finishCommand(cmd, opts, which)
	}
	if imp, _, err := root.Find([]string{"import"}); err == nil && imp.Name() == "import" {
		if f := imp.Flags().Lookup("file"); f != nil { // import writes the spec -f names
			f.Usage = "write the spec to `FILE` (default: flareform.yaml next to the wrangler configuration)"
		}
	}
}

// finishCommand gives cmd and its subcommands the shared flags in which, friendly argument
// errors and completions.
func finishCommand(cmd *cobra.Command, opts *rootOptions, which globalFlag) {
	addGlobalFlags(cmd.Flags(), opts, which)
	if cmd.Args != nil {
		cmd.Args = friendlyArgs(cmd.Args)
	}
	registerCompletions(cmd, opts)
	for _, sub := range cmd.Commands() {
		finishCommand(sub, opts, which)
	}
}

// friendlyArgs replaces cobra's "accepts 0 arg(s), received 1" with what the command takes.
func friendlyArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		err := check(cmd, args)
		if err == nil {
			return nil
		}
		if _, ok := err.(*argsError); ok {
			return err
		}
		usage := "flareform " + cmd.Use
		if !strings.Contains(cmd.Use, " ") {
			return &argsError{fmt.Sprintf("%s takes no arguments, got %q; usage: %s [flags] (see flareform %s --help)",
				cmd.Name(), strings.Join(args, " "), usage, cmd.Name())}
		}
		return &argsError{fmt.Sprintf("%s: got %d arguments; usage: %s", cmd.Name(), len(args), usage)}
	}
}

// argsError is a wrong number of arguments, already explained.
type argsError struct{ msg string }

func (e *argsError) Error() string { return e.msg }

// workerArg takes exactly one worker name.
func workerArg(command string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		switch {
		case len(args) == 0:
			return &argsError{fmt.Sprintf("%s needs the worker's name: flareform %s WORKER", command, command)}
		case len(args) > 1:
			return &argsError{fmt.Sprintf("%s takes one worker's name, got %d (%s): flareform %s WORKER", command, len(args), strings.Join(args, " "), command)}
		}
		return nil
	}
}

// registerCompletions completes --env, --template, --target and worker names from the spec.
func registerCompletions(cmd *cobra.Command, opts *rootOptions) {
	if cmd.Flags().Lookup("target") != nil {
		workers := completeWorkers(opts)
		cmd.RegisterFlagCompletionFunc("target", func(c *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			return workers(c, nil, toComplete) // repeatable: every worker, whatever was given before
		})
	}
	if cmd.Flags().Lookup("env") != nil {
		cmd.RegisterFlagCompletionFunc("env", func(c *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
			opts.findSpecFor(c) // completion runs no PersistentPreRun
			return specEnvironments(opts), cobra.ShellCompDirectiveNoFileComp
		})
	}
	if cmd.Flags().Lookup("template") != nil {
		cmd.RegisterFlagCompletionFunc("template", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			// Aliases still work (init writes the template they name), so they complete too.
			return append(templates.Names(), templates.Aliases()...), cobra.ShellCompDirectiveNoFileComp
		})
	}
}

// completeWorkers completes a WORKER argument with the spec's worker names.
func completeWorkers(opts *rootOptions) cobra.CompletionFunc {
	return func(c *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		opts.findSpecFor(c) // completion runs no PersistentPreRun
		s, err := spec.Load(opts.File, opts.Env, offlineEnv(opts.Getenv))
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names := make([]string, 0, len(s.Workers))
		for _, w := range s.Workers {
			names = append(names, w.Name)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// specEnvironments lists the names under the spec's environments:, sorted, for completion.
// It reads only the YAML: a spec that does not load otherwise still completes.
func specEnvironments(opts *rootOptions) []string {
	// Completion runs on every <TAB>: a FIFO or /dev/zero as -f must not hang the shell.
	data, err := confined.ReadFile(opts.File, confined.Spec, nil)
	if err != nil {
		return nil
	}
	var doc struct {
		Environments map[string]yaml.Node `yaml:"environments"`
	}
	if yaml.Unmarshal(data, &doc) != nil {
		return nil
	}
	return slices.Sorted(maps.Keys(doc.Environments))
}

// explainUnknownCommand turns cobra's multi-line "unknown command" error into one line with
// the suggestion, e.g. `unknown command "deploy"; did you mean apply?`.
func explainUnknownCommand(root *cobra.Command, err error) error {
	if err == nil {
		return err
	}
	quoted, ok := strings.CutPrefix(err.Error(), "unknown command ")
	if !ok {
		return err
	}
	typed, _, _ := strings.Cut(strings.TrimPrefix(quoted, `"`), `"`)
	msg := fmt.Sprintf("unknown command %q", typed)
	if s := root.SuggestionsFor(typed); len(s) > 0 {
		return fmt.Errorf("%s; did you mean %s? (flareform --help lists every command)", msg, strings.Join(s, " or "))
	}
	return fmt.Errorf("%s; flareform --help lists every command", msg)
}
