// Package bundler turns a Worker's entry file into one ES module (plus a source map) with
// esbuild's Go API, in process, without writing any file.
//
// The output is deterministic: the same sources give the same bytes and the same Hash, wherever
// the command is run from. That is what lets the engine notice code drift by comparing hashes.
package bundler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/evanw/esbuild/pkg/api"

	"github.com/flareform/flareform/internal/confined"
	"github.com/flareform/flareform/internal/lazyre"
)

// Names of the two modules a bundle produces. The code ends with a sourceMappingURL comment
// naming the map, so uploading both under these names lets Cloudflare map stack traces.
const (
	ModuleName    = "worker.js"
	SourceMapName = "worker.js.map"
)

// outDirName is a directory that is never written (Write is false); esbuild only needs an
// output path that cannot collide with an input file, and source map paths are relative to it.
const outDirName = ".flareform-bundle"

// Options selects what to bundle and how.
type Options struct {
	// Entry is the Worker's main module, absolute or relative to the current directory.
	Entry string
	// NodeCompat leaves `node:*` imports to the runtime (the nodejs_compat flag provides them).
	NodeCompat bool
	// Minify shrinks whitespace, identifiers and syntax.
	Minify bool
	// SourceRoot is the directory the source map's `sources` are written relative to (the
	// project's directory, so a source reads "src/lib/x.js" wherever the map travels: the local
	// Cloudflare maps runtime errors through the uploaded map with it). "": relative to the
	// map's own location, as esbuild writes them.
	SourceRoot string
	// Tree is the project's tree (confined.ProjectTree of the spec): every file the bundle
	// reads (modules, the package.json and tsconfig.json files esbuild consults, source maps)
	// must lie inside it, see confiner. nil: confined.ProjectTree of the entry, i.e. the nearest
	// folder at or above the entry's holding .git, else the entry's folder.
	Tree *confined.Tree
}

// Result is a bundled Worker, ready to upload.
type Result struct {
	ModuleName    string // "worker.js"
	SourceMapName string // "worker.js.map"
	Code          []byte
	SourceMap     []byte
	// Hash is the hex SHA-256 of Code.
	Hash string
	// Exports are the names the bundle exports ("default" for `export default`).
	Exports []string

	sourceRoot string // directory the source map's paths are relative to
	mapOnce    sync.Once
	sm         *sourceMap
	smErr      error
}

// Message is one esbuild diagnostic. File is relative to the current directory when the entry
// was given relative, absolute when it was given absolute; empty when esbuild gave no place.
type Message struct {
	File      string
	Line, Col int // 1-based; 0 when unknown
	// Text is esbuild's message with the source text it quoted redacted (see redactor), or
	// the rule a file broke when flareform refused to read it.
	Text string
	// Fix is how to repair a file flareform refused to read ("" for esbuild's own errors).
	Fix string
}

func (m Message) String() string {
	if m.File == "" {
		return m.Text
	}
	return fmt.Sprintf("%s:%d:%d: %s", m.File, m.Line, m.Col, m.Text)
}

// Error is a failed bundle: every esbuild error message, in esbuild's order.
type Error struct {
	Entry    string
	Messages []Message
}

func (e *Error) Error() string {
	lines := make([]string, 0, len(e.Messages)+1)
	lines = append(lines, fmt.Sprintf("bundle %s failed", e.Entry))
	for _, m := range e.Messages {
		lines = append(lines, m.String())
	}
	return strings.Join(lines, "\n")
}

// Bundle bundles opts.Entry and everything it imports into a single module.
func Bundle(ctx context.Context, opts Options) (*Result, error) {
	absEntry, workDir, err := locateEntry(opts)
	if err != nil {
		return nil, err
	}
	tree, err := bundleTree(opts, absEntry)
	if err != nil {
		return nil, err
	}
	res, _, err := bundle(ctx, opts, tree, absEntry, workDir)
	return res, err
}

// bundleTree is the tree the bundle's files must lie in: opts.Tree, else the entry's project.
func bundleTree(opts Options, absEntry string) (*confined.Tree, error) {
	if opts.Tree != nil {
		return opts.Tree, nil
	}
	tree, err := confined.ProjectTree(absEntry)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", opts.Entry, err)
	}
	return tree, nil
}

// bundle runs esbuild once on the entry locateEntry found, with every file read confined to
// tree; inputs are the absolute paths of every file it read as a module (from the metafile),
// which is what a cache entry must depend on.
func bundle(ctx context.Context, opts Options, tree *confined.Tree, absEntry, workDir string) (*Result, []string, error) {
	build := buildOptions(opts, workDir, absEntry)
	conf := newConfiner(tree)
	build.Plugins = []api.Plugin{conf.plugin()}

	res, err := run(ctx, build)
	if err != nil {
		return nil, nil, fmt.Errorf("bundle %s: %w", opts.Entry, err)
	}
	if len(res.Errors) > 0 {
		red := &redactor{workDir: workDir, sources: conf.sources()}
		return nil, nil, &Error{Entry: opts.Entry, Messages: convertMessages(res.Errors, workDir, filepath.IsAbs(opts.Entry), red)}
	}
	out, err := collect(opts.Entry, res.OutputFiles)
	if err != nil {
		return nil, nil, err
	}
	out.sourceRoot = filepath.Join(workDir, outDirName)
	if opts.SourceRoot != "" {
		if err := out.rerootSources(opts.SourceRoot); err != nil {
			return nil, nil, fmt.Errorf("bundle %s: %w", opts.Entry, err)
		}
	}
	meta, err := readMetafile(res.Metafile)
	if err != nil {
		return nil, nil, fmt.Errorf("bundle %s: %w", opts.Entry, err)
	}
	if out.Exports, err = meta.exports(); err != nil {
		return nil, nil, fmt.Errorf("bundle %s: %w", opts.Entry, err)
	}
	return out, meta.inputFiles(workDir), nil
}

// locateEntry makes the entry absolute and checks that it exists. Working from the entry's
// directory keeps the path comments in the output independent of where the command runs, so
// the hash only changes when the sources do.
func locateEntry(opts Options) (absEntry, workDir string, err error) {
	if opts.Entry == "" {
		return "", "", errors.New("bundle: no entry file given")
	}
	absEntry, err = filepath.Abs(opts.Entry)
	if err != nil {
		return "", "", fmt.Errorf("bundle %s: %w", opts.Entry, err)
	}
	if _, err := os.Stat(absEntry); err != nil {
		return "", "", &Error{Entry: opts.Entry, Messages: []Message{{Text: fmt.Sprintf("cannot read entry file %s: %v", opts.Entry, errors.Unwrap(err))}}}
	}
	return absEntry, filepath.Dir(absEntry), nil
}

// buildOptions are esbuild's options for opts, without the confining plugin (bundle adds it):
// the cache keys entries by these.
func buildOptions(opts Options, workDir, absEntry string) api.BuildOptions {
	external := []string{"cloudflare:*"}
	if opts.NodeCompat {
		external = append(external, "node:*")
	}
	return api.BuildOptions{
		EntryPoints:       []string{absEntry},
		AbsWorkingDir:     workDir,
		Bundle:            true,
		Write:             false,
		Format:            api.FormatESModule,
		Platform:          api.PlatformNeutral,
		Target:            api.ES2022,
		Conditions:        []string{"workerd", "worker", "browser"},
		MainFields:        []string{"browser", "module", "main"},
		External:          external,
		Outfile:           filepath.Join(workDir, outDirName, ModuleName),
		Sourcemap:         api.SourceMapLinked,
		Metafile:          true, // tells which names the bundle exports
		Charset:           api.CharsetUTF8,
		MinifyWhitespace:  opts.Minify,
		MinifyIdentifiers: opts.Minify,
		MinifySyntax:      opts.Minify,
		LogLevel:          api.LogLevelSilent,
		LogLimit:          0,
	}
}

// run executes one build, abandoning it when ctx is cancelled.
func run(ctx context.Context, build api.BuildOptions) (api.BuildResult, error) {
	if err := ctx.Err(); err != nil {
		return api.BuildResult{}, err
	}
	bctx, cerr := api.Context(build)
	if cerr != nil {
		return api.BuildResult{Errors: cerr.Errors}, nil
	}
	defer bctx.Dispose()

	done := make(chan api.BuildResult, 1)
	go func() { done <- bctx.Rebuild() }()
	select {
	case res := <-done:
		return res, nil
	case <-ctx.Done():
		bctx.Cancel()
		<-done
		return api.BuildResult{}, ctx.Err()
	}
}

// collect picks the module and its map out of esbuild's output files.
func collect(entry string, files []api.OutputFile) (*Result, error) {
	var code, sourceMap []byte
	for _, f := range files {
		switch filepath.Base(f.Path) {
		case ModuleName:
			code = f.Contents
		case SourceMapName:
			sourceMap = f.Contents
		}
	}
	if code == nil || sourceMap == nil {
		return nil, fmt.Errorf("bundle %s: esbuild produced %d files but not %s and %s", entry, len(files), ModuleName, SourceMapName)
	}
	return newResult(code, sourceMap), nil
}

// newResult is the bundle of code and its source map, named and hashed: fresh from esbuild or
// from the cache alike.
func newResult(code, sourceMap []byte) *Result {
	sum := sha256.Sum256(code)
	return &Result{ModuleName: ModuleName, SourceMapName: SourceMapName, Code: code, SourceMap: sourceMap, Hash: hex.EncodeToString(sum[:])}
}

// convertMessages turns esbuild messages (paths relative to workDir) into messages whose paths
// are relative to the current directory, or absolute when the caller gave an absolute entry.
// esbuild's texts go through red, so no source text they quote reaches a log (esbuild's
// LineText, the source line, is never used); the confining plugin's own refusals are kept as
// they are, with their fix. The same message twice (a refused package.json met by two
// imports at one place) is kept once.
func convertMessages(msgs []api.Message, workDir string, absolute bool, red *redactor) []Message {
	cwd, cwdErr := os.Getwd()
	out := make([]Message, 0, len(msgs))
	seen := map[Message]bool{}
	for _, m := range msgs {
		var msg Message
		var ce *confined.Error
		if err, ok := m.Detail.(error); ok && m.PluginName == confinePluginName && errors.As(err, &ce) {
			msg = Message{Text: ce.Problem, Fix: ce.Fix}
		} else if m.PluginName == confinePluginName {
			msg = Message{Text: m.Text}
		} else {
			msg = Message{Text: red.text(m.Text)}
		}
		if loc := m.Location; loc != nil {
			msg.Line, msg.Col = loc.Line, loc.Column+1
			msg.File = displayPath(loc.File, workDir, cwd, absolute || cwdErr != nil)
		}
		if !seen[msg] {
			seen[msg] = true
			out = append(out, msg)
		}
	}
	return out
}

func displayPath(file, workDir, cwd string, absolute bool) string {
	if file == "" {
		return ""
	}
	abs := file
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(workDir, file)
	}
	if absolute {
		return abs
	}
	rel, err := filepath.Rel(cwd, abs)
	if err != nil {
		return abs
	}
	return rel
}

// nodeBuiltin matches esbuild's error for a `node:*` import it was not told to leave alone.
var nodeBuiltin = lazyre.Regexp{Expr: `^Could not resolve "(node:[\w/]+)"`}

// NodeBuiltins lists the `node:*` modules the bundle failed on because Node.js compatibility
// was off: they exist only in the runtime, with the nodejs_compat flag.
func (e *Error) NodeBuiltins() []string {
	var out []string
	for _, m := range e.Messages {
		if sub := nodeBuiltin.FindStringSubmatch(m.Text); sub != nil && !slices.Contains(out, sub[1]) {
			out = append(out, sub[1])
		}
	}
	return out
}

// Fix says how to repair the failed bundle in the spec's terms (a missing nodejs_compat flag,
// a file flareform refused to read), or returns otherwise when the JavaScript itself must change.
func (e *Error) Fix(otherwise string) string {
	if mods := e.NodeBuiltins(); len(mods) > 0 {
		return fmt.Sprintf("%s needs Node.js compatibility: add `compatibility_flags: [nodejs_compat]` to the worker", strings.Join(mods, ", "))
	}
	for _, m := range e.Messages {
		if m.Fix != "" {
			return m.Fix
		}
	}
	return otherwise
}
