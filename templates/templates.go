// Package templates holds the starter projects `flareform init` writes: a spec
// (flareform.yaml) and a Worker (src/worker.js) per template, plus the modules every template
// shares (src/lib/*.js: key check, body cap, error shapes), kept once in shared/.
package templates

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/flareform/flareform/internal/lazyre"
	"github.com/flareform/flareform/provision/spec"
)

// Defaults used when Options leaves a field empty.
const (
	DefaultTemplate          = "text-to-image"
	DefaultWorkerName        = "image-api"
	DefaultCompatibilityDate = "2025-06-01"
)

// specTemplateSuffix marks files rendered with text/template; the suffix is dropped on write.
const specTemplateSuffix = ".tmpl"

// sharedDir holds files written into every project (same relative paths); it is not a template.
const sharedDir = "shared"

//go:embed all:text-to-image all:chat all:embeddings all:speech-to-text all:image-to-text all:semantic-search all:shared
var files embed.FS

// summaries is what `flareform init --list` shows: one line per template. Every template
// directory must have one (TestEveryTemplateHasASummary).
var summaries = map[string]string{
	"text-to-image":   `POST {"prompt"} -> an image (PNG or JPEG) from Stable Diffusion XL, Lightning or DreamShaper`,
	"chat":            `POST {"messages"} or {"prompt"} -> {"response"}, or with "stream": true an SSE stream (Llama 3.1 8B fast, GLM-4.7-Flash, Gemma 4)`,
	"embeddings":      `POST {"text": "..." or [...]} -> {"shape", "data"}: one vector per text (BGE small, base, large)`,
	"speech-to-text":  `POST audio (audio/* or multipart field "audio") -> {"text", "word_count", "vtt"} (Whisper)`,
	"image-to-text":   `POST {"image": base64, "prompt"} or image bytes -> {"description"} (LLaVA 1.5, Gemma 4, Moondream)`,
	"semantic-search": `POST /documents {"id", "text"}, POST /search {"query"} -> {"matches"}: embeddings + Vectorize`,
}

// aliases are older template names that still work; init writes the template they name.
var aliases = map[string]string{
	"text-generation": "chat",
}

// Options selects a template and fills in its blanks.
type Options struct {
	Template          string // default "text-to-image"; an alias such as "text-generation" works too
	WorkerName        string // default "image-api"
	CompatibilityDate string // YYYY-MM-DD, default "2025-06-01"
}

// SchemaURL is the spec's JSON Schema, named on the spec's first line for editors
// (yaml-language-server).
func (Options) SchemaURL() string { return spec.SchemaURL }

var datePattern = lazyre.Regexp{Expr: `^\d{4}-\d{2}-\d{2}$`}

// maxIndexNameLen is Vectorize's limit on index names.
const maxIndexNameLen = 32

// IndexName is the Vectorize index a template names after its worker ("<worker>-docs"), kept a
// valid index name for any valid worker name: at most 32 characters of a-z, 0-9 and '-',
// starting with a letter.
func (o Options) IndexName() string {
	const suffix = "-docs"
	name := strings.ReplaceAll(o.WorkerName, "_", "-")
	if name == "" || name[0] < 'a' || name[0] > 'z' {
		name = "i-" + name
	}
	if len(name) > maxIndexNameLen-len(suffix) {
		name = name[:maxIndexNameLen-len(suffix)]
	}
	return strings.TrimRight(name, "-") + suffix
}

// ImagesBucket is the R2 bucket the text-to-image spec suggests for its pictures
// ("<worker>-images"), kept a valid bucket name for any valid worker name.
func (o Options) ImagesBucket() string {
	return spec.SuggestBucketName(o.WorkerName + "-images")
}

// Summary returns the one-line description of a template (or of the template an alias names).
func Summary(name string) string {
	return summaries[Canonical(name)]
}

// Canonical resolves an alias ("text-generation") to the template it names ("chat"); other
// names are returned unchanged.
func Canonical(name string) string {
	if target, ok := aliases[name]; ok {
		return target
	}
	return name
}

// Aliases lists the older template names that still work, sorted.
func Aliases() []string {
	return slices.Sorted(maps.Keys(aliases))
}

// Names lists the available templates, sorted (aliases are not listed).
func Names() []string {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		// The embedded tree is fixed at build time, so this cannot happen at run time.
		panic(fmt.Sprintf("templates: read embedded files: %v", err))
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != sharedDir {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

// Write renders the template into dir (created when missing) and returns the paths it wrote,
// in a stable order. It refuses to overwrite anything: when one of the files exists it writes
// none of them.
func Write(dir string, opts Options) ([]string, error) {
	opts, err := withDefaults(opts)
	if err != nil {
		return nil, err
	}
	rendered, err := render(opts)
	if err != nil {
		return nil, err
	}
	targets := make([]string, 0, len(rendered))
	for _, f := range rendered {
		target := filepath.Join(dir, filepath.FromSlash(f.name))
		if _, err := os.Lstat(target); err == nil {
			return nil, fmt.Errorf("%s already exists; choose another directory or remove the file first", target)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("check %s: %w", target, err)
		}
		targets = append(targets, target)
	}
	for i, f := range rendered {
		if err := writeNew(targets[i], f.content); err != nil {
			return targets[:i], err
		}
	}
	return targets, nil
}

func withDefaults(opts Options) (Options, error) {
	if opts.Template == "" {
		opts.Template = DefaultTemplate
	}
	opts.Template = Canonical(opts.Template)
	if opts.WorkerName == "" {
		opts.WorkerName = DefaultWorkerName
	}
	if opts.CompatibilityDate == "" {
		opts.CompatibilityDate = DefaultCompatibilityDate
	}
	known := Names()
	if i := sort.SearchStrings(known, opts.Template); i == len(known) || known[i] != opts.Template {
		return opts, fmt.Errorf("unknown template %q; use one of: %s", opts.Template, strings.Join(known, ", "))
	}
	if problem, fix := spec.CheckWorkerName(opts.WorkerName); problem != "" {
		return opts, fmt.Errorf("%s; %s", problem, fix)
	}
	if _, err := time.Parse(time.DateOnly, opts.CompatibilityDate); err != nil || !datePattern.MatchString(opts.CompatibilityDate) {
		return opts, fmt.Errorf("compatibility date %q is not a YYYY-MM-DD date; use e.g. %q", opts.CompatibilityDate, DefaultCompatibilityDate)
	}
	return opts, nil
}

type renderedFile struct {
	name    string // slash path relative to the project dir
	content []byte
}

// render produces every file of the template and the shared files, *.tmpl files run through
// text/template.
func render(opts Options) ([]renderedFile, error) {
	var out []renderedFile
	for _, root := range []string{opts.Template, sharedDir} {
		tree, err := renderTree(root, opts)
		if err != nil {
			return nil, fmt.Errorf("render template %s: %w", opts.Template, err)
		}
		out = append(out, tree...)
	}
	// The project directory keeps its lock and generated keys in .flareform/: never commit it.
	out = append(out, renderedFile{name: ".gitignore", content: []byte(".flareform/\n")})
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	for i := 1; i < len(out); i++ {
		if out[i].name == out[i-1].name {
			// A template must not shadow a shared file: the copies would drift apart.
			return nil, fmt.Errorf("render template %s: %s is both in the template and in %s/", opts.Template, out[i].name, sharedDir)
		}
	}
	return out, nil
}

// renderTree renders every file under root in the embedded tree, named relative to root.
func renderTree(root string, opts Options) ([]renderedFile, error) {
	var out []renderedFile
	err := fs.WalkDir(files, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		content, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, root+"/")
		if strings.HasSuffix(name, specTemplateSuffix) {
			name = strings.TrimSuffix(name, specTemplateSuffix)
			if content, err = execute(p, content, opts); err != nil {
				return err
			}
		}
		out = append(out, renderedFile{name: name, content: content})
		return nil
	})
	return out, err
}

func execute(name string, text []byte, opts Options) ([]byte, error) {
	tmpl, err := template.New(path.Base(name)).Option("missingkey=error").Parse(string(text))
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, opts); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeNew creates path (and its parent directories) and fails if it already exists, so a file
// that appeared after the pre-check is still never clobbered.
func writeNew(target string, content []byte) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return fmt.Errorf("create directory for %s: %w", target, err)
	}
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists; choose another directory or remove the file first", target)
		}
		return fmt.Errorf("create %s: %w", target, err)
	}
	if _, err := f.Write(content); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", target, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", target, err)
	}
	return nil
}

// File returns the raw bytes of one file of a template, e.g. File("text-to-image",
// "src/worker.js"). Used to keep examples identical to the templates.
func File(template, name string) ([]byte, error) {
	b, err := files.ReadFile(template + "/" + name)
	if err != nil {
		return nil, fmt.Errorf("template %s has no file %s: %w", template, name, err)
	}
	return b, nil
}
