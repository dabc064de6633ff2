package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/flareform/flareform/cmd/flareform/view"
	"github.com/flareform/flareform/importer"
	"github.com/flareform/flareform/internal/confined"
	"github.com/flareform/flareform/provision"
	"github.com/flareform/flareform/provision/cfapi"
	"github.com/flareform/flareform/provision/spec"
)

type importOptions struct {
	*rootOptions
	Source string
	Out    string // -f when given, else flareform.yaml next to the source
	Model  string
	Force  bool
}

// wranglerConfigs are the files `import` looks for when given none, in wrangler's order.
var wranglerConfigs = []string{"wrangler.json", "wrangler.jsonc", "wrangler.toml"}

func newImportCmd(root *rootOptions) *cobra.Command {
	opts := &importOptions{rootOptions: root}
	cmd := &cobra.Command{
		Use:   "import [wrangler.toml|wrangler.json|wrangler.jsonc]",
		Short: "Write flareform.yaml from a wrangler configuration",
		Long: `Convert a wrangler configuration into a flareform spec, written next to it (or to -f):
the Worker's name (also the project), main, compatibility date and flags, vars, the AI
binding, KV namespaces, R2 buckets and D1 databases, workers_dev, and [env.*] blocks as
environments. Everything else (routes, Durable Objects, queues, services, D1 migrations, ...)
is listed as not carried over; keep managing it with wrangler or the dashboard. wrangler names
no model, so ai.model comes from an AI_MODEL var or --model.

A var whose name says it holds a secret (API_TOKEN, STRIPE_KEY, DB_PASSWORD, ...) becomes a
secret read from the environment variable of its name (secrets: {API_TOKEN: "env:API_TOKEN"}):
its value is never copied into the spec nor printed; export it before apply.

The spec binds a KV namespace by its title, wrangler by its id: with CLOUDFLARE_API_TOKEN set
(and the config's account_id or CLOUDFLARE_ACCOUNT_ID), import asks Cloudflare for each
namespace's title (a read, nothing else); a namespace it cannot resolve is left out of the spec
and listed, with how to add it.

A script that already exists on the account was not deployed by flareform: apply takes it
over only with --adopt NAME.`,
		Example: `  flareform import
  flareform import wrangler.toml --model @cf/black-forest-labs/flux-1-schnell
  flareform apply --adopt my-worker`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Source = args[0]
			}
			if cmd.Flags().Changed("file") {
				opts.Out = opts.File
			}
			return runImport(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Model, "model", "@cf/stabilityai/stable-diffusion-xl-base-1.0", "Workers AI model for the AI binding when the config has no AI_MODEL var")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "replace an existing spec")
	return cmd
}

// importResult is import's --json output.
type importResult struct {
	Source     string   `json:"source"`
	Spec       string   `json:"spec"`
	NotCarried []string `json:"not_carried"`
	Notes      []string `json:"notes"`
	// SecretVars are the vars carried over whose names say they are secrets (each also has a
	// note): names only, never values.
	SecretVars []string `json:"secret_vars"`
}

func runImport(ctx context.Context, opts *importOptions) error {
	source, err := findWranglerConfig(opts.Source)
	if err != nil {
		return err
	}
	data, err := importer.ReadFile(source)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, kvLookupTimeout)
	defer cancel()
	iopts := importer.Options{Model: opts.Model, Today: time.Now().UTC().Format(time.DateOnly), SchemaURL: spec.SchemaURL}
	closeAPI := opts.kvTitleLookup(ctx, &iopts)
	res, err := importer.Convert(source, data, iopts)
	closeAPI()
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	out := opts.Out
	if out == "" {
		out = filepath.Join(filepath.Dir(source), "flareform.yaml")
	}
	if err := writeImportedSpec(out, res.Spec, opts.Force); err != nil {
		return err
	}
	if opts.JSON {
		return view.JSON(opts.IO.Out, importResult{Source: source, Spec: out, NotCarried: nonNil(res.NotCarried), Notes: nonNil(res.Notes),
			SecretVars: nonNil(res.SecretVars)})
	}
	fmt.Fprintf(opts.IO.Out, "Wrote %s from %s.\n", out, source)
	for _, n := range res.Notes {
		fmt.Fprintf(opts.IO.Out, "  note: %s\n", n)
	}
	if len(res.NotCarried) > 0 {
		fmt.Fprintf(opts.IO.Out, "Not carried over or not resolved (keep these in wrangler or the dashboard, or add them as each line says):\n")
		for _, n := range res.NotCarried {
			fmt.Fprintf(opts.IO.Out, "  - %s\n", n)
		}
	}
	fmt.Fprintf(opts.IO.Out, "Next: flareform validate -f %s; a script that already exists needs apply --adopt NAME once.\n", out)
	return nil
}

// kvLookupTimeout bounds all of import's KV title lookups together: import is a local
// conversion, an API that does not answer leaves the namespaces unresolved, not import hanging.
const kvLookupTimeout = 30 * time.Second

// kvTitleLookup sets iopts.KVTitle to ask Cloudflare for a KV namespace's title by its id, with
// the API token and account of the environment (the same as every command's), or says in
// iopts.NoLookup why it cannot. closeAPI releases the API client's connections.
func (o *importOptions) kvTitleLookup(ctx context.Context, iopts *importer.Options) (closeAPI func()) {
	cfg := provision.ConfigFromEnv(o.Getenv)
	if cfg.APIToken == "" {
		iopts.NoLookup = envAPIToken + " is not set, so the title was not asked of Cloudflare"
		return func() {}
	}
	cfg.MaxRetries = 2
	eng, err := provision.New(cfg)
	if err != nil {
		// A wrong CLOUDFLARE_API_BASE_URL: the conversion goes on, the titles unresolved.
		iopts.NoLookup = err.Error()
		return func() {}
	}
	iopts.KVTitle = func(account, id string) (string, error) {
		api, account, err := eng.API(account)
		if err != nil {
			return "", errors.New("no account: the wrangler config has no account_id and " + envAccountID + " is not set")
		}
		var ns struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		}
		err = api.Call(ctx, http.MethodGet, "accounts/"+url.PathEscape(account)+"/storage/kv/namespaces/"+url.PathEscape(id), nil, &ns)
		switch {
		case cfapi.IsNotFound(err):
			return "", fmt.Errorf("account %s has no KV namespace of that id (or the token may not read it)", account)
		case err != nil:
			return "", fmt.Errorf("Cloudflare's answer: %w", err)
		}
		return ns.Title, nil
	}
	return eng.Close
}

// findWranglerConfig is the given file, or the first wrangler config in the current directory.
func findWranglerConfig(given string) (string, error) {
	if given != "" {
		return given, nil
	}
	for _, name := range wranglerConfigs {
		if _, err := os.Stat(name); err == nil {
			return name, nil
		}
	}
	return "", fmt.Errorf("import: no wrangler.json, wrangler.jsonc or wrangler.toml here; name the file: flareform import path/to/wrangler.toml")
}

// writeImportedSpec writes the spec, never over an existing file unless forced, and never
// through a symbolic link, into a device or FIFO, or over a directory, forced or not: the path
// must be a regular file or nothing. A forced write replaces the file whole (a new file renamed
// over it), so a link swapped in after the check is replaced, not followed.
func writeImportedSpec(path string, content []byte, force bool) error {
	if err := confined.CheckWritable(path); err != nil {
		var ce *confined.Error
		if !errors.As(err, &ce) {
			return fmt.Errorf("import: %w", err)
		}
		return fmt.Errorf("import: %w; import writes the spec only as a regular file, never through a link, device or pipe, "+
			"also with --force: remove it, or pass -f another path", err)
	}
	if force {
		return replaceFile(path, content, 0o644)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("import: %s already exists; pass --force to replace it, or -f another path", path)
	}
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if _, err := f.Write(content); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("import: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("import: write %s: %w", path, err)
	}
	return nil
}

// replaceFile writes content to a new file next to path and renames it over path.
func replaceFile(path string, content []byte, mode fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".flareform-import-*")
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename: nothing left to remove
	_, err = tmp.Write(content)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("import: write %s: %w", path, err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
