package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flareform/flareform/cmd/flareform/view"
	"github.com/flareform/flareform/templates"
)

type initOptions struct {
	*rootOptions
	Dir      string
	Template string
	Name     string
	List     bool
}

func newInitCmd(root *rootOptions) *cobra.Command {
	opts := &initOptions{rootOptions: root}
	cmd := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Write a new project: flareform.yaml and a worker from a template",
		Long: `Write a spec (flareform.yaml), a worker (src/worker.js) and the modules it imports
(src/lib/*.js: API key check, rate limit, body cap, JSON errors, AI Gateway option) into DIR
(default: the current directory) from one of the built-in templates. Every template answers
only callers with its Bearer key and checks its real output after each deploy (smoke).

` + templateList() + `
"text-generation" still works and writes the chat template. The worker name defaults to DIR's
base name, cleaned up to a valid script name.`,
		Example: `  flareform init my-images
  flareform init chat --template chat --name chat-bot
  flareform init --list`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.List {
				return runInitList(opts, args)
			}
			opts.Dir = "."
			if len(args) == 1 {
				opts.Dir = args[0]
			}
			return runInit(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Template, "template", templates.DefaultTemplate, "template `NAME`: "+strings.Join(templates.Names(), ", ")+" (see --list)")
	cmd.Flags().BoolVar(&opts.List, "list", false, "list the templates, one line each, and write nothing")
	cmd.Flags().StringVar(&opts.Name, "name", "", "worker (script) `NAME`; default: derived from DIR")
	return cmd
}

// initResult is init's --json output.
type initResult struct {
	Dir      string   `json:"dir"`
	Template string   `json:"template"`
	Worker   string   `json:"worker"`
	Files    []string `json:"files"`
}

func runInit(_ context.Context, opts *initOptions) error {
	abs, err := filepath.Abs(opts.Dir)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", opts.Dir, err)
	}
	name := opts.Name
	if name == "" {
		name = workerNameFromDir(abs)
	}
	written, err := templates.Write(abs, templates.Options{Template: opts.Template, WorkerName: name})
	if err != nil {
		return fmt.Errorf("init %s: %w", opts.Dir, err)
	}
	opts.Template = templates.Canonical(opts.Template)
	if opts.JSON {
		return view.JSON(opts.IO.Out, initResult{Dir: abs, Template: opts.Template, Worker: name, Files: written})
	}
	fmt.Fprintf(opts.IO.Out, "Wrote a %s project for worker %q:\n", opts.Template, name)
	for _, f := range written {
		fmt.Fprintf(opts.IO.Out, "  %s\n", f)
	}
	fmt.Fprintln(opts.IO.Out)
	fmt.Fprintln(opts.IO.Out, "Next steps:")
	if opts.Dir != "." {
		fmt.Fprintf(opts.IO.Out, "  cd %s\n", opts.Dir)
	}
	fmt.Fprintln(opts.IO.Out, "  flareform apply --local --auto-approve   # try it on the local Cloudflare")
	fmt.Fprintln(opts.IO.Out, "  flareform plan                           # against your account (needs CLOUDFLARE_API_TOKEN)")
	return nil
}

// templateInfo is one line of init --list --json.
type templateInfo struct {
	Name    string `json:"name"`
	Summary string `json:"summary"`
}

// runInitList prints the templates, one line each (or as JSON with --json).
func runInitList(opts *initOptions, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("init --list writes nothing; drop %q", args[0])
	}
	var list []templateInfo
	for _, name := range templates.Names() {
		list = append(list, templateInfo{Name: name, Summary: templates.Summary(name)})
	}
	if opts.JSON {
		return view.JSON(opts.IO.Out, list)
	}
	fmt.Fprint(opts.IO.Out, templateList())
	return nil
}

// templateList is the templates as aligned "name  summary" lines.
func templateList() string {
	var b strings.Builder
	for _, name := range templates.Names() {
		fmt.Fprintf(&b, "  %-16s %s\n", name, templates.Summary(name))
	}
	return b.String()
}

// workerNameFromDir turns a directory name into a valid script name: lower case letters,
// digits and dashes, no leading or trailing dash, at most 63 characters.
func workerNameFromDir(dir string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(filepath.Base(dir)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteRune('-')
		}
	}
	name := strings.Trim(b.String(), "-")
	for strings.Contains(name, "--") {
		name = strings.ReplaceAll(name, "--", "-")
	}
	if len(name) > 63 {
		name = strings.TrimRight(name[:63], "-")
	}
	if name == "" {
		return "my-worker"
	}
	return name
}
