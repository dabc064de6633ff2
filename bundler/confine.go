package bundler

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/evanw/esbuild/pkg/api"

	"github.com/flareform/flareform/internal/confined"
	"github.com/flareform/flareform/internal/jsonc"
)

// confinePluginName names the plugin in esbuild's messages; convertMessages knows its messages
// by it (they are flareform's own words: paths and rules, never file content).
const confinePluginName = "flareform-confine"

// The files esbuild reads on its own while resolving imports, besides the modules: in every
// directory it looks at, a package.json, a tsconfig.json or jsconfig.json (outside
// node_modules), and a Yarn PnP manifest. esbuild reads each with a plain os.ReadFile: a FIFO
// there would hang the bundle and a link to /dev/zero exhaust memory, so the plugin checks each
// before esbuild's resolver can look at the directory.
var (
	packageConfigs = []string{"package.json"}
	tsConfigs      = []string{"tsconfig.json", "jsconfig.json"}
	pnpManifests   = []string{".pnp.data.json", ".pnp.cjs", ".pnp.js"}
)

// pnpManifest is a Yarn PnP manifest: a large monorepo's runs to megabytes, more than a
// package.json may hold.
var pnpManifest = confined.Kind{Name: "Yarn PnP manifest", Limit: confined.MaxBundleInput, Fix: confined.PackageConfig.Fix}

// sourceMapKind is an input's own source map (`//# sourceMappingURL=`), which esbuild reads to
// chain the maps; the sources it names without their content are read too.
var sourceMapKind = confined.Kind{Name: "source map", Limit: confined.Module.Limit, Fix: "keep source maps and the sources they name inside the project, or delete the sourceMappingURL comment"}

// bundleBudgetFix is how to repair a bundle whose inputs add up to more than MaxBundleInput.
const bundleBudgetFix = "import less: drop large files and data from the bundle and fetch them at run time"

// confiner is the esbuild plugin of one bundle that makes every file esbuild reads follow
// package confined's rules:
//
//   - OnResolve, before esbuild's resolver looks at the disk for an import, checks the package
//     configs (package.json, tsconfig.json, jsconfig.json, Yarn PnP manifests) it will read in
//     the directories the import involves: the importer's directory and every one above it,
//     the target's directory for a relative or absolute import, the node_modules/<pkg>
//     folders for a bare one, and the folders a package's main/module/exports/imports and a
//     tsconfig's extends/baseUrl/paths point into. Each must be a regular file of at most
//     PackageConfig's size outside /proc, /sys and /dev; inside the project's tree it must
//     also resolve inside it. Directories above the tree (esbuild reads a package.json in every
//     ancestor up to /) get the same type and size rules without the tree rule.
//   - OnLoad reads every module (the entry included) with confined.ReadFile as a Module of the
//     tree, so a module whose real path lies outside the project, under /proc, /sys or /dev,
//     that is not a regular file or is larger than a module may be, is refused before esbuild
//     sees a byte of it. A `//# sourceMappingURL=` comment is checked the same way, with the
//     sources its map names.
//   - All the bytes read add up, and the bundle is refused once they pass
//     confined.MaxBundleInput.
//
// Every refusal is an esbuild error at the import statement (or with no place, for the entry)
// whose text is the rule and whose Detail is the *confined.Error with the fix.
//
// Known limits: esbuild also visits folders a package.json or tsconfig.json points into by
// means the plugin does not follow (an exports pattern's "*" part, a bare package named by an
// "imports" map or a tsconfig "extends" resolved through a package's exports), and reads the
// package.json there before the plugin sees the module; a FIFO or device there can still hang
// or exhaust esbuild, though no file content can reach the bundle, which only OnLoad fills.
type confiner struct {
	tree *confined.Tree
	// read is the bytes read so far, modules, package configs and source maps together.
	read atomic.Int64

	mu   sync.Mutex
	dirs map[string]*dirCheck  // checkDir's results, by directory
	pkgs map[string]*dirCheck  // packageTargets' results, by package directory
	srcs map[string]string     // the modules read, by path, for redacting messages
	real map[string]realResult // filepath.EvalSymlinks of directories
}

// dirCheck is the outcome of checking one directory, shared by the goroutines that ask.
type dirCheck struct {
	done chan struct{}
	err  error
	ts   *tsPaths // the directory's tsconfig.json or jsconfig.json's path mappings
}

type realResult struct {
	real string
	err  error
}

func newConfiner(tree *confined.Tree) *confiner {
	return &confiner{tree: tree, dirs: map[string]*dirCheck{}, pkgs: map[string]*dirCheck{}, srcs: map[string]string{}, real: map[string]realResult{}}
}

// plugin is the esbuild plugin.
func (c *confiner) plugin() api.Plugin {
	return api.Plugin{Name: confinePluginName, Setup: func(build api.PluginBuild) {
		build.OnResolve(api.OnResolveOptions{Filter: ".*"}, c.onResolve)
		build.OnLoad(api.OnLoadOptions{Filter: ".*", Namespace: "file"}, c.onLoad)
		build.OnLoad(api.OnLoadOptions{Filter: ".*", Namespace: "dataurl"}, c.onLoadDataURL)
	}}
}

// onLoadDataURL checks the source map comments of a `data:` URL module, which esbuild decodes
// and loads itself (no file is read for the module): a comment naming file:///dev/zero, or an
// inline map naming file:///proc/self/environ as a source, would still be read. A map that
// cannot be checked refuses the module (the plugin does not load data URLs, so it cannot blank
// the comment). Otherwise esbuild loads the module as it would have.
func (c *confiner) onLoadDataURL(args api.OnLoadArgs) (api.OnLoadResult, error) {
	data := decodeDataURL(args.Path)
	if data == nil || !bytes.Contains(data, sourceMappingURL) {
		return api.OnLoadResult{}, nil
	}
	checked, err := c.checkSourceMapComments("", slices.Clone(data))
	if err != nil {
		return api.OnLoadResult{Errors: refusal(err)}, nil
	}
	if !bytes.Equal(checked, data) {
		return api.OnLoadResult{Errors: refusal(&confined.Error{Path: "data: URL", Fix: sourceMapKind.Fix,
			Problem: "a data: URL module names a source map flareform cannot check"})}, nil
	}
	return api.OnLoadResult{}, nil
}

// refusal is an esbuild plugin result for err: the rule as the text, the error as the detail
// (convertMessages takes the fix from it). Without a location esbuild places it at the import.
func refusal(err error) []api.Message {
	return []api.Message{{Text: err.Error(), Detail: err}}
}

// onResolve checks the package configs esbuild is about to read for this import, then lets
// esbuild's own resolver resolve it (an empty result). Externals (`cloudflare:*`, `node:*`)
// and other URL-like specifiers name no file and are left to esbuild as they are.
func (c *confiner) onResolve(args api.OnResolveArgs) (api.OnResolveResult, error) {
	if args.ResolveDir == "" || schemeSpecifier.MatchString(args.Path) {
		return api.OnResolveResult{}, nil
	}
	if err := c.checkImport(args.ResolveDir, args.Path); err != nil {
		return api.OnResolveResult{Errors: refusal(err)}, nil
	}
	return api.OnResolveResult{}, nil
}

// schemeSpecifier matches "cloudflare:sockets", "node:buffer", "data:...", "https://...":
// specifiers esbuild leaves external or loads without the file system. (A Windows drive letter
// is one character, so "C:\x" is not one.)
var schemeSpecifier = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]+:`)

// onLoad reads a module through package confined and hands esbuild its contents, with the
// loader esbuild itself would have chosen.
//
// The resolved path is checked here rather than in onResolve: onResolve lets esbuild's resolver
// run (build.Resolve would make a new resolver, without esbuild's directory cache, for every
// import), and every path it resolves in the file namespace comes here before esbuild reads
// a byte of it. esbuild reports a load error at the import statement, like a resolve error.
//
// The platform is neutral, so no "browser" map disables a module: every path that reaches
// onLoad is one esbuild would read from disk.
func (c *confiner) onLoad(args api.OnLoadArgs) (api.OnLoadResult, error) {
	loader, err := loaderFor(args.With)
	if err != nil {
		return api.OnLoadResult{Errors: []api.Message{{Text: err.Error()}}}, nil
	}
	data, err := confined.ReadFile(args.Path, confined.Module, c.tree)
	if err != nil {
		return api.OnLoadResult{Errors: refusal(err)}, nil
	}
	dir := filepath.Dir(args.Path)
	if err := c.checkChain(dir); err != nil {
		return api.OnLoadResult{Errors: refusal(err)}, nil
	}
	if err := c.spend(args.Path, int64(len(data))); err != nil {
		return api.OnLoadResult{Errors: refusal(err)}, nil
	}
	if loader == api.LoaderDefault {
		if data, err = c.checkSourceMapComments(args.Path, data); err != nil {
			return api.OnLoadResult{Errors: refusal(err)}, nil
		}
	}
	contents := string(data)
	c.mu.Lock()
	c.srcs[args.Path] = contents
	c.mu.Unlock()
	return api.OnLoadResult{Contents: &contents, Loader: loader, ResolveDir: dir}, nil
}

// loaderFor is the loader esbuild gives a module imported with these import attributes. esbuild
// applies attributes itself only to files it loads; a plugin that returns contents must choose.
// Without attributes it is LoaderDefault: esbuild then picks the loader from the file's
// extension with its default table (.js .mjs .cjs .jsx .ts .mts .cts .tsx .css .module.css
// .json .txt), exactly as it would have. `with { type: "json" }` gets the JSON loader: the
// public API has no equivalent of esbuild's internal with-type-json loader, which differs only
// in exporting nothing but the default (a named import of such a file bundles instead of
// failing). Unknown attributes are refused with esbuild's own words.
func loaderFor(with map[string]string) (api.Loader, error) {
	loader := api.LoaderDefault
	keys := make([]string, 0, len(with))
	for k := range with {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		if key != "type" {
			return api.LoaderNone, fmt.Errorf("Importing with the %s attribute is not supported", quoteShort(key))
		}
		switch value := with[key]; value {
		case "json":
			loader = api.LoaderJSON
		case "bytes":
			loader = api.LoaderBinary
		case "text":
			loader = api.LoaderText
		default:
			return api.LoaderNone, fmt.Errorf("Importing with a type attribute of %s is not supported", quoteShort(value))
		}
	}
	return loader, nil
}

// quoteShort quotes s when it is shorter than minQuoted; a longer attribute came from the
// source and might be a secret pasted in the wrong place.
func quoteShort(s string) string {
	if len(s) < minQuoted {
		return fmt.Sprintf("%q", s)
	}
	return "a value"
}

// spend adds n bytes read for path to the bundle's total, refusing the bundle once it passes
// confined.MaxBundleInput.
func (c *confiner) spend(path string, n int64) error {
	if total := c.read.Add(n); total > confined.MaxBundleInput {
		return &confined.Error{Path: path, Fix: bundleBudgetFix,
			Problem: fmt.Sprintf("%s: the bundle's inputs add up to more than %d bytes, the most one bundle may read", path, confined.MaxBundleInput)}
	}
	return nil
}

// checkImport checks the package configs esbuild reads to resolve spec from dir.
func (c *confiner) checkImport(dir, spec string) error {
	if err := c.checkChain(dir); err != nil {
		return err
	}
	if i := strings.IndexAny(spec, "?#"); i > 0 {
		spec = spec[:i] // esbuild also tries the path without its query or hash
	}
	switch {
	case isPathSpecifier(spec):
		target := spec
		if !filepath.IsAbs(target) {
			target = filepath.Join(dir, filepath.FromSlash(spec))
		}
		return c.checkTarget(target)
	case strings.HasPrefix(spec, "#"):
		return c.checkPackageImports(dir)
	}
	if err := c.checkTSPaths(dir, spec); err != nil {
		return err
	}
	return c.checkBare(dir, spec)
}

// isPathSpecifier is whether spec is a relative or absolute path rather than a package name.
func isPathSpecifier(spec string) bool {
	return spec == "." || spec == ".." || strings.HasPrefix(spec, "/") || strings.HasPrefix(spec, "./") || strings.HasPrefix(spec, "../")
}

// checkTarget checks the folders esbuild looks at for a file or directory path: the path
// itself when it is a directory (its package.json may name the main file), and the folders
// above it.
func (c *confiner) checkTarget(target string) error {
	if err := c.checkChain(filepath.Dir(target)); err != nil {
		return err
	}
	return c.checkDir(target)
}

// checkChain checks dir and every directory above it.
func (c *confiner) checkChain(dir string) error {
	for {
		if err := c.checkDir(dir); err != nil {
			return err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
}

// checkBare checks the node_modules folders esbuild searches for the package spec names, from
// dir up to the root: node_modules itself, node_modules/@scope, node_modules/<pkg> and the
// folders down to the imported subpath, and the folders the package's package.json points into.
func (c *confiner) checkBare(dir, spec string) error {
	name, _ := packageName(spec)
	if name == "" {
		return nil
	}
	for d := dir; ; {
		if filepath.Base(d) != "node_modules" {
			nm := filepath.Join(d, "node_modules")
			if c.isDir(nm) {
				if err := c.checkPackage(nm, name, spec); err != nil {
					return err
				}
			}
		}
		parent := filepath.Dir(d)
		if parent == d {
			return nil
		}
		d = parent
	}
}

// checkPackage checks the folders of package name under the node_modules folder nm, where spec
// (name and maybe a subpath) is looked for.
func (c *confiner) checkPackage(nm, name, spec string) error {
	if err := c.checkDir(nm); err != nil {
		return err
	}
	pkgDir := filepath.Join(nm, filepath.FromSlash(name))
	if scope, _, ok := strings.Cut(name, "/"); ok {
		if err := c.checkDir(filepath.Join(nm, scope)); err != nil {
			return err
		}
	}
	if err := c.checkDir(pkgDir); err != nil {
		return err
	}
	if !c.isDir(pkgDir) {
		return nil
	}
	// The folders down to the subpath: pkg/sub/file.js looks at pkg/sub.
	full := filepath.Join(nm, filepath.FromSlash(spec))
	for d := full; d != pkgDir && strings.HasPrefix(d, pkgDir+string(filepath.Separator)); d = filepath.Dir(d) {
		if err := c.checkDir(d); err != nil {
			return err
		}
	}
	return c.packageTargets(pkgDir)
}

// packageName splits a bare specifier into the package's name ("pkg", "@scope/pkg") and the
// subpath after it.
func packageName(spec string) (name, subpath string) {
	parts := strings.SplitN(spec, "/", 3)
	if strings.HasPrefix(spec, "@") {
		if len(parts) < 2 {
			return "", ""
		}
		name = parts[0] + "/" + parts[1]
		if len(parts) == 3 {
			subpath = parts[2]
		}
		return name, subpath
	}
	name, subpath, _ = strings.Cut(spec, "/")
	return name, subpath
}

// checkPackageImports checks the targets of the "imports" map of the package.json nearest to
// dir, which esbuild resolves `#name` specifiers through.
func (c *confiner) checkPackageImports(dir string) error {
	for d := dir; ; {
		if c.exists(filepath.Join(d, "package.json")) {
			return c.packageTargets(d)
		}
		parent := filepath.Dir(d)
		if parent == d {
			return nil
		}
		d = parent
	}
}

// packageTargets checks the folders the package.json in pkgDir points into with "main",
// "module", "browser", "exports" and "imports": esbuild's resolver reads the package.json of
// the folder holding the file it resolves to, before the module is loaded. A target's "*"
// part stands for folders the plugin does not list (see confiner).
func (c *confiner) packageTargets(pkgDir string) error {
	_, err := c.once(c.pkgs, pkgDir, func() (*tsPaths, error) {
		pj := filepath.Join(pkgDir, "package.json")
		if !c.exists(pj) {
			return nil, nil
		}
		data, err := confined.ReadFile(pj, confined.PackageConfig, c.treeFor(pkgDir))
		if err != nil {
			return nil, err
		}
		var fields map[string]json.RawMessage
		if json.Unmarshal(data, &fields) != nil {
			return nil, nil // esbuild reports the syntax error
		}
		var targets []string
		for _, field := range []string{"main", "module", "browser", "exports", "imports"} {
			targets = appendStrings(targets, fields[field])
		}
		for _, t := range targets {
			if target, ok := packageTarget(pkgDir, t); ok {
				if err := c.checkTarget(target); err != nil {
					return nil, err
				}
			}
		}
		return nil, nil
	})
	return err
}

// packageTarget is the path a package.json value t names, from the package's folder: "./x.js",
// "dist/index.js" (a "main" needs no "./"), up to a pattern's "*" ("./dist/*.js" names
// ./dist/). A bare package name in an "imports" map reads as a folder of the package that
// does not exist, which costs one stat; "#x" and URLs name no path.
func packageTarget(pkgDir, t string) (string, bool) {
	rel, _, _ := strings.Cut(t, "*")
	switch {
	case rel == "", strings.HasPrefix(rel, "#"), schemeSpecifier.MatchString(rel):
		return "", false
	case filepath.IsAbs(rel):
		return rel, true
	}
	return filepath.Join(pkgDir, filepath.FromSlash(rel)), true
}

// appendStrings appends every string in the JSON value raw (recursively, object values only).
func appendStrings(out []string, raw json.RawMessage) []string {
	if len(raw) == 0 {
		return out
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return out
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

// checkTSPaths checks the folders a bare import can map to through the "baseUrl" and "paths"
// of the tsconfig.json (or jsconfig.json) files above dir.
func (c *confiner) checkTSPaths(dir, spec string) error {
	for d := dir; ; {
		if ts := c.tsPathsOf(d); ts != nil {
			for _, target := range ts.targets(spec) {
				if err := c.checkTarget(target); err != nil {
					return err
				}
			}
		}
		parent := filepath.Dir(d)
		if parent == d {
			return nil
		}
		d = parent
	}
}

// tsPathsOf is the path mappings of the tsconfig.json in dir, which checkDir found.
func (c *confiner) tsPathsOf(dir string) *tsPaths {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.dirs[dir]; e != nil {
		select {
		case <-e.done:
			return e.ts
		default:
		}
	}
	return nil
}

// exists is whether path exists (following symlinks).
func (c *confiner) exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// isDir is whether dir is a directory (following symlinks), remembered per bundle.
func (c *confiner) isDir(dir string) bool {
	_, err := c.realDir(dir)
	return err == nil
}

// realDir is dir with its symlinks resolved when it is a directory, remembered per bundle.
func (c *confiner) realDir(dir string) (string, error) {
	c.mu.Lock()
	r, ok := c.real[dir]
	c.mu.Unlock()
	if ok {
		return r.real, r.err
	}
	real, err := filepath.EvalSymlinks(dir)
	if err == nil {
		if info, serr := os.Stat(real); serr != nil {
			err = serr
		} else if !info.IsDir() {
			err = fmt.Errorf("%s: not a directory", dir)
		}
	}
	c.mu.Lock()
	c.real[dir] = realResult{real, err}
	c.mu.Unlock()
	return real, err
}

// treeFor is the tree a file in dir must lie in: the project's when dir is inside it, none
// above or beside it (esbuild reads a package.json in every ancestor of the project up to /,
// and the user's own ~/package.json is no threat; the type, size and /proc rules still hold).
func (c *confiner) treeFor(dir string) *confined.Tree {
	real, err := c.realDir(dir)
	if err != nil {
		if real, err = filepath.EvalSymlinks(dir); err != nil {
			return nil
		}
	}
	if !c.tree.Contains(real) {
		return nil
	}
	return c.tree
}

// once runs f for key in m once per bundle; other callers wait for its result.
func (c *confiner) once(m map[string]*dirCheck, key string, f func() (*tsPaths, error)) (*tsPaths, error) {
	c.mu.Lock()
	e, ok := m[key]
	if !ok {
		e = &dirCheck{done: make(chan struct{})}
		m[key] = e
	}
	c.mu.Unlock()
	if ok {
		<-e.done
		return e.ts, e.err
	}
	e.ts, e.err = f()
	close(e.done)
	return e.ts, e.err
}

// checkDir checks the files esbuild reads in dir when it looks at it (see packageConfigs),
// once per bundle. It never waits on another directory's check, so concurrent checks cannot
// deadlock.
func (c *confiner) checkDir(dir string) error {
	_, err := c.once(c.dirs, dir, func() (*tsPaths, error) {
		info, err := os.Stat(dir)
		switch {
		case err != nil:
			return nil, nil // nothing there: esbuild finds nothing either
		case info.Mode().IsRegular():
			return nil, nil // a module's path: esbuild lists no folder there
		case !info.IsDir():
			// esbuild opens a folder it looks at to list it: opening a FIFO blocks, and a device
			// is no folder. confined says which rule the path breaks (under /dev, a FIFO).
			if _, err := confined.Check(dir, confined.Module, nil); err != nil {
				return nil, err
			}
			return nil, &confined.Error{Path: dir, Fix: confined.Module.Fix,
				Problem: fmt.Sprintf("%s: is %s, where esbuild looks for a folder", dir, confined.DescribeMode(info.Mode()))}
		}
		tree := c.treeFor(dir)
		for _, name := range packageConfigs {
			if _, err := c.checkConfig(filepath.Join(dir, name), confined.PackageConfig, tree); err != nil {
				return nil, err
			}
		}
		for _, name := range pnpManifests {
			if _, err := c.checkConfig(filepath.Join(dir, name), pnpManifest, tree); err != nil {
				return nil, err
			}
		}
		if insideNodeModules(dir) {
			return nil, nil // esbuild ignores tsconfig.json files in packages
		}
		for _, name := range tsConfigs {
			p := filepath.Join(dir, name)
			found, err := c.checkConfig(p, confined.PackageConfig, tree)
			if err != nil {
				return nil, err
			}
			if found {
				ts := &tsPaths{}
				if err := c.checkTSConfig(p, tree, ts, 0); err != nil {
					return nil, err
				}
				return ts, nil // esbuild reads jsconfig.json only without a tsconfig.json
			}
		}
		return nil, nil
	})
	return err
}

func insideNodeModules(dir string) bool {
	return slices.Contains(strings.Split(filepath.ToSlash(dir), "/"), "node_modules")
}

// checkConfig checks the package config at path when something is there, and counts its size
// into the bundle's total: found reports whether there was.
//
// esbuild only reads an entry that is a file after following its links (its "file" kind
// includes FIFOs and devices): a directory of that name, or a link it cannot resolve, is
// skipped by esbuild and here.
func (c *confiner) checkConfig(path string, kind confined.Kind, tree *confined.Tree) (found bool, err error) {
	if info, err := os.Stat(path); err != nil || info.IsDir() {
		return false, nil
	}
	real, err := confined.Check(path, kind, tree)
	if err != nil {
		return true, err
	}
	if info, err := os.Stat(real); err == nil {
		if err := c.spend(path, info.Size()); err != nil {
			return true, err
		}
	}
	return true, nil
}

// tsPaths are the "baseUrl" and "paths" of a tsconfig.json and the files it extends: a bare
// import can resolve through them to any folder.
type tsPaths struct {
	bases []string            // absolute directories: each baseUrl, and each config's folder
	paths map[string][]string // pattern -> targets, relative to a base
}

// targets are the absolute paths spec may resolve to through the mappings (a superset:
// every pattern with every base).
func (ts *tsPaths) targets(spec string) []string {
	var out []string
	for _, base := range ts.bases {
		out = append(out, filepath.Join(base, filepath.FromSlash(spec)))
		for pattern, targets := range ts.paths {
			star, ok := matchPattern(pattern, spec)
			if !ok {
				continue
			}
			for _, t := range targets {
				t = strings.Replace(t, "*", star, 1)
				if !filepath.IsAbs(t) {
					t = filepath.Join(base, filepath.FromSlash(t))
				}
				out = append(out, t)
			}
		}
	}
	return out
}

// matchPattern matches spec against a tsconfig "paths" pattern with at most one "*", and
// returns what the "*" stands for.
func matchPattern(pattern, spec string) (string, bool) {
	prefix, suffix, wild := strings.Cut(pattern, "*")
	if !wild {
		return "", pattern == spec
	}
	if len(spec) < len(prefix)+len(suffix) || !strings.HasPrefix(spec, prefix) || !strings.HasSuffix(spec, suffix) {
		return "", false
	}
	return spec[len(prefix) : len(spec)-len(suffix)], true
}

// maxExtends bounds a chain of tsconfig "extends" (esbuild stops at a cycle; this stops at a
// long chain too).
const maxExtends = 16

// checkTSConfig reads the tsconfig.json at path (checked already) and checks the files its
// "extends" names, which esbuild reads too, and their own extends; it records the "baseUrl" and
// "paths" mappings into ts. tree is the tree the config was checked against: a config inside
// the project may only extend files inside it.
func (c *confiner) checkTSConfig(path string, tree *confined.Tree, ts *tsPaths, depth int) error {
	if depth > maxExtends {
		return nil
	}
	data, err := confined.ReadFile(path, confined.PackageConfig, tree)
	if err != nil {
		return err
	}
	cfg := parseTSConfig(data)
	dir := filepath.Dir(path)
	ts.bases = append(ts.bases, dir)
	if cfg.baseURL != nil {
		base := filepath.FromSlash(*cfg.baseURL)
		if !filepath.IsAbs(base) {
			base = filepath.Join(dir, base)
		}
		ts.bases = append(ts.bases, base)
	}
	for pattern, targets := range cfg.paths {
		if ts.paths == nil {
			ts.paths = map[string][]string{}
		}
		ts.paths[pattern] = append(ts.paths[pattern], targets...)
	}
	for _, ext := range cfg.extends {
		if err := c.checkExtends(dir, ext, tree, ts, depth); err != nil {
			return err
		}
	}
	return nil
}

// checkExtends checks the files esbuild reads for a tsconfig "extends" value written in dir,
// in esbuild's order, up to the first config it would use: the path itself, then with
// ".json", for a relative or absolute path; for a package name, in each node_modules from dir
// up, the package's package.json, the file its "tsconfig" field names, the named folder's
// tsconfig.json, the named file, and it with ".json".
func (c *confiner) checkExtends(dir, ext string, tree *confined.Tree, ts *tsPaths, depth int) error {
	if ext == "." || ext == ".." {
		ext += "/tsconfig.json"
	}
	use := func(candidate string) (bool, error) {
		found, err := c.checkConfig(candidate, confined.PackageConfig, tree)
		if !found || err != nil {
			return found, err
		}
		return true, c.checkTSConfig(candidate, tree, ts, depth+1)
	}
	if isPathSpecifier(ext) || filepath.IsAbs(ext) {
		p := filepath.FromSlash(ext)
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		candidates := []string{p}
		if !strings.HasSuffix(p, ".json") {
			candidates = append(candidates, p+".json")
		}
		for _, candidate := range candidates {
			if found, err := use(candidate); found || err != nil {
				return err
			}
		}
		return nil
	}
	name, _ := packageName(ext)
	for d := dir; ; {
		if filepath.Base(d) != "node_modules" {
			pkgDir := filepath.Join(d, "node_modules", filepath.FromSlash(name))
			pj := filepath.Join(pkgDir, "package.json")
			found, err := c.checkConfig(pj, confined.PackageConfig, tree)
			if err != nil {
				return err
			}
			var candidates []string
			if field := packageTSConfigField(pj, found, tree); field != "" {
				if !filepath.IsAbs(field) {
					field = filepath.Join(pkgDir, filepath.FromSlash(field))
				}
				candidates = append(candidates, field)
			}
			join := filepath.Join(d, "node_modules", filepath.FromSlash(ext))
			candidates = append(candidates, filepath.Join(join, "tsconfig.json"), join, join+".json")
			for _, candidate := range candidates {
				if found, err := use(candidate); found || err != nil {
					return err
				}
			}
		}
		parent := filepath.Dir(d)
		if parent == d {
			return nil
		}
		d = parent
	}
}

// packageTSConfigField is the "tsconfig" field of the package.json at path (found: checked
// already), "" when there is none.
func packageTSConfigField(path string, found bool, tree *confined.Tree) string {
	if !found {
		return ""
	}
	data, err := confined.ReadFile(path, confined.PackageConfig, tree)
	if err != nil {
		return ""
	}
	var pj struct {
		TSConfig string `json:"tsconfig"`
	}
	_ = json.Unmarshal(data, &pj)
	return pj.TSConfig
}

// tsConfig is what the plugin needs of a tsconfig.json.
type tsConfig struct {
	extends []string
	baseURL *string
	paths   map[string][]string
}

// extendsField finds "extends" in a config Go cannot parse as a whole.
var extendsField = regexp.MustCompile(`"extends"\s*:\s*("(?:[^"\\]|\\.)*"|\[[^\]]*\])`)

// parseTSConfig reads the fields of a tsconfig.json field by field, as leniently as esbuild:
// a field of an unexpected type spoils only itself. When the file is no JSON object at all
// (after comments and trailing commas are dropped), "extends" is still looked for in its text,
// so that a config esbuild reads and flareform cannot parse extends nothing unchecked.
func parseTSConfig(data []byte) tsConfig {
	var cfg tsConfig
	text, err := jsonc.Strip(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")))
	if err != nil {
		text = data // not JSON: "extends" is looked for in the whole text below
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(text, &top) != nil {
		for _, m := range extendsField.FindAllSubmatch(text, -1) {
			cfg.extends = appendStrings(cfg.extends, m[1])
		}
		return cfg
	}
	cfg.extends = appendStrings(nil, top["extends"])
	var options map[string]json.RawMessage
	if json.Unmarshal(top["compilerOptions"], &options) != nil {
		return cfg
	}
	var base string
	if json.Unmarshal(options["baseUrl"], &base) == nil {
		cfg.baseURL = &base
	}
	var paths map[string]json.RawMessage
	if json.Unmarshal(options["paths"], &paths) == nil {
		cfg.paths = map[string][]string{}
		for pattern, raw := range paths {
			cfg.paths[pattern] = appendStrings(nil, raw)
		}
	}
	return cfg
}

// sourceMappingURL is what esbuild's lexer looks for in a `//#` or `/*#` (or `@`) comment.
var sourceMappingURL = []byte("sourceMappingURL=")

// checkSourceMapComments checks the source maps a module's `sourceMappingURL` comments name:
// esbuild reads the map to chain it into the bundle's, and reads every source the map names
// without its content, to put that content into the bundle's source map. The map and those
// sources must be regular files inside the project, like modules. A map the plugin cannot
// read as JSON is one whose sources it cannot check: its comment is blanked (same length, so
// positions stay) and esbuild does not read it. Every occurrence of the text is checked, in a
// comment or not: a superset of what esbuild reads.
func (c *confiner) checkSourceMapComments(file string, data []byte) ([]byte, error) {
	if !bytes.Contains(data, sourceMappingURL) {
		return data, nil
	}
	for off := 0; ; {
		i := bytes.Index(data[off:], sourceMappingURL)
		if i < 0 {
			return data, nil
		}
		start := off + i + len(sourceMappingURL)
		end := start
		for end < len(data) && !isSpace(data[end]) && !bytes.HasPrefix(data[end:], []byte("*/")) {
			end++
		}
		off = end
		ok, err := c.checkSourceMap(file, string(data[start:end]))
		if err != nil {
			return nil, err
		}
		if !ok { // data is the module's own buffer, fresh from ReadFile
			for j := start; j < end; j++ {
				data[j] = ' '
			}
		}
	}
}

func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\f' || b == '\v'
}

// checkSourceMap checks the map a comment in file names (arg, a URL) and the sources it names
// without content, resolved the way esbuild resolves them. ok is false when the map cannot be
// checked and esbuild must not read it.
func (c *confiner) checkSourceMap(file, arg string) (ok bool, err error) {
	if arg == "" {
		return true, nil
	}
	base := fileURL(file) // file is "" for a data: URL module: only absolute file URLs count
	var data []byte
	if strings.HasPrefix(arg, "data:") {
		data = decodeDataURL(arg)
		if data == nil {
			return true, nil // esbuild warns and ignores it
		}
	} else {
		u, err := url.Parse(arg)
		if err != nil || (u.Scheme != "" && u.Scheme != "file") || (u.Host != "" && u.Host != "localhost") {
			return true, nil // esbuild reads no file for these
		}
		mapPath := base.ResolveReference(u).Path
		if _, err := os.Stat(mapPath); errors.Is(err, fs.ErrNotExist) {
			return true, nil // esbuild ignores a missing map
		}
		if data, err = confined.ReadFile(mapPath, sourceMapKind, c.tree); err != nil {
			return false, err
		}
		if err := c.spend(mapPath, int64(len(data))); err != nil {
			return false, err
		}
		base = fileURL(mapPath)
	}
	var sm rawSourceMap
	if json.Unmarshal(data, &sm) != nil {
		return false, nil
	}
	for _, m := range append([]rawSourceMap{sm}, sm.sectionMaps()...) {
		for _, src := range m.sourcesWithoutContent() {
			u, err := url.Parse(src)
			if err != nil {
				continue // esbuild keeps such a source as text and reads nothing
			}
			u = base.ResolveReference(u)
			if u.Scheme != "file" || (u.Host != "" && u.Host != "localhost") {
				continue
			}
			info, err := os.Stat(u.Path)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if _, err := confined.Check(u.Path, sourceMapKind, c.tree); err != nil {
				return false, err
			}
			if info != nil {
				if err := c.spend(u.Path, info.Size()); err != nil {
					return false, err
				}
			}
		}
	}
	return true, nil
}

// rawSourceMap is the part of a source map that decides which files esbuild reads.
type rawSourceMap struct {
	Version        int               `json:"version"`
	SourceRoot     string            `json:"sourceRoot"`
	Sources        []json.RawMessage `json:"sources"`
	SourcesContent []json.RawMessage `json:"sourcesContent"`
	Sections       []struct {
		Map *rawSourceMap `json:"map"`
	} `json:"sections"`
}

func (m rawSourceMap) sectionMaps() []rawSourceMap {
	var out []rawSourceMap
	for _, s := range m.Sections {
		if s.Map != nil {
			out = append(out, *s.Map)
		}
	}
	return out
}

// sourcesWithoutContent are the sources (with sourceRoot applied) whose sourcesContent entry is
// missing or not a string: esbuild fills those in from the file system.
func (m rawSourceMap) sourcesWithoutContent() []string {
	prefix := ""
	if m.SourceRoot != "" {
		if i := strings.LastIndexByte(m.SourceRoot, '/'); i >= 0 {
			prefix = m.SourceRoot[:i+1]
		} else {
			prefix = m.SourceRoot + "/"
		}
	}
	var out []string
	for i, raw := range m.Sources {
		var src string
		if json.Unmarshal(raw, &src) != nil {
			continue
		}
		if i < len(m.SourcesContent) {
			var content string
			if json.Unmarshal(m.SourcesContent[i], &content) == nil {
				continue
			}
		}
		out = append(out, prefix+src)
	}
	return out
}

// fileURL is the file:// URL of an absolute path, as esbuild makes it.
func fileURL(path string) *url.URL {
	return &url.URL{Scheme: "file", Path: filepath.ToSlash(path)}
}

// decodeDataURL decodes a data: URL's payload (base64 or percent-encoded), nil when it is not one.
func decodeDataURL(s string) []byte {
	rest, ok := strings.CutPrefix(s, "data:")
	if !ok {
		return nil
	}
	meta, payload, ok := strings.Cut(rest, ",")
	if !ok {
		return nil
	}
	if strings.HasSuffix(meta, ";base64") {
		data, err := base64.StdEncoding.DecodeString(payload)
		if err != nil {
			return nil
		}
		return data
	}
	text, err := url.PathUnescape(payload)
	if err != nil {
		return nil
	}
	return []byte(text)
}
