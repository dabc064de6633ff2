package bundler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/flareform/flareform/internal/buildinfo"
	"github.com/flareform/flareform/internal/confined"
	"github.com/flareform/flareform/internal/usercache"
)

// cacheFormat names the layout of a cache entry and the post-processing of esbuild's output
// (collect, exports). Change it whenever either changes, so old entries stop matching.
//
// v2: modules are read through the confining plugin, which gives `with { type: "json" }`
// imports the JSON loader (see loaderFor); the project's tree is part of the key.
const cacheFormat = "flareform-bundle-cache-v2"

// esbuildModule is the module whose version is part of every cache key. The binary's build
// information names the version linked in; test binaries carry no dependency versions, so
// pinnedEsbuild (checked against go.mod by a test) stands in when the build information has none.
const (
	esbuildModule = "github.com/evanw/esbuild"
	pinnedEsbuild = "v0.28.2"
)

// resolutionConfigs are the files esbuild consults while resolving imports without reporting
// them as inputs: a change to one (a package's "exports", tsconfig paths) can change which
// file an import means while every input file stays the same.
var resolutionConfigs = []string{"package.json", "tsconfig.json", "jsconfig.json"}

// Cache keeps bundles on disk, so a run whose sources did not change skips esbuild. An entry is
// keyed by the bundle options (with the entry's absolute path), the esbuild version and the
// cache format; it is used only while every file esbuild read, every package.json, tsconfig.json
// and jsconfig.json from their directories up to the root, and the file names in each directory
// holding an input are as they were when it was written. Failed bundles are never cached, so a
// JavaScript error is reported by esbuild every time.
type Cache struct {
	// Dir holds one file per entry point and options (0600, in a 0700 directory).
	Dir string
	// esbuildVersion is part of every key; "" disables the cache.
	esbuildVersion string
	// esbuildRuns counts the bundles that ran esbuild (tests check that hits do not).
	esbuildRuns atomic.Int64
}

// NewCache is a cache in dir.
func NewCache(dir string) *Cache {
	version := moduleVersion(esbuildModule)
	if version == "" {
		version = pinnedEsbuild
	}
	return &Cache{Dir: dir, esbuildVersion: version}
}

// UserCacheDir is where the user's bundle cache is, as getenv (the caller's environment, never
// read from the process behind its back) tells: <user cache directory>/flareform/bundles
// ($XDG_CACHE_HOME or ~/.cache on Linux, ~/Library/Caches on macOS); "" when getenv gives no
// user cache directory (neither XDG_CACHE_HOME nor HOME on Linux).
func UserCacheDir(getenv func(string) string) string {
	return usercache.Dir(getenv, "bundles")
}

// UserCache is the cache in UserCacheDir(getenv); nil (bundle uncached) when there is none.
func UserCache(getenv func(string) string) *Cache {
	dir := UserCacheDir(getenv)
	if dir == "" {
		return nil
	}
	return NewCache(dir)
}

// Bundle returns the cached bundle of opts when its inputs are unchanged, else bundles with
// esbuild and stores the result. The cache is an optimisation only: when it cannot be read or
// written the bundle is made as if there were none.
func (c *Cache) Bundle(ctx context.Context, opts Options) (*Result, error) {
	if c == nil || c.esbuildVersion == "" {
		return Bundle(ctx, opts)
	}
	absEntry, workDir, err := locateEntry(opts)
	if err != nil {
		return nil, err
	}
	tree, err := bundleTree(opts, absEntry)
	if err != nil {
		return nil, err
	}
	path := c.entryPath(opts, tree, workDir, absEntry)
	if res, ok := c.load(path, workDir, tree); ok {
		return res, nil
	}
	c.esbuildRuns.Add(1)
	started := time.Now()
	res, inputs, err := bundle(ctx, opts, tree, absEntry, workDir)
	if err != nil {
		return nil, err
	}
	c.store(path, res, inputs, tree, started) // best effort: a failed write only costs the next run a bundle
	return res, nil
}

// entryPath is the file of the entry for these options: a hash of everything that decides the
// output besides the input files. The tree is part of it: a bundle made inside a wider tree is
// no answer for a narrower one, which may refuse some of its inputs.
func (c *Cache) entryPath(opts Options, tree *confined.Tree, workDir, absEntry string) string {
	h := sha256.New()
	// SourceRoot is applied after esbuild (the source map's paths), so it is keyed on its own.
	fmt.Fprintf(h, "%s\x00esbuild %s\x00%#v\x00source root %s\x00tree %s", cacheFormat, c.esbuildVersion, buildOptions(opts, workDir, absEntry), opts.SourceRoot, tree.Root)
	return filepath.Join(c.Dir, hex.EncodeToString(h.Sum(nil))+".json")
}

// maxCacheEntry bounds the read of a cache entry: the bundle and its source map, base64 in
// JSON, of a bundle of at most confined.MaxBundleInput bytes of inputs.
const maxCacheEntry = 8 * confined.MaxBundleInput

// cacheEntryKind is a cache entry, a file flareform wrote into its own 0700 directory.
var cacheEntryKind = confined.Kind{Name: "bundle cache entry", Limit: maxCacheEntry, Fix: "delete the bundle cache folder"}

// readCacheEntry reads a cache entry: a regular file, not a link (an entry is never one), under
// the rules of package confined.
func readCacheEntry(path string) ([]byte, error) {
	info, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("bundle cache: %s is not an entry flareform wrote", path)
	}
	return confined.ReadFile(path, cacheEntryKind, nil)
}

// cacheEntry is one stored bundle with the fingerprint of what it was made from.
type cacheEntry struct {
	Fingerprint fingerprint `json:"fingerprint"`
	Code        []byte      `json:"code"`
	SourceMap   []byte      `json:"source_map"`
	Exports     []string    `json:"exports"`
	// SourceRoot is the directory the source map's paths are relative to, so errors map back
	// to the user's files on a cache hit as on a fresh bundle.
	SourceRoot string `json:"source_root"`
}

// fingerprint maps each file or directory the bundle depends on to a hash of its content
// ("" = absent); a directory's content is its sorted list of names.
type fingerprint struct {
	Files map[string]string `json:"files"`
	Dirs  map[string]string `json:"dirs"`
}

// load is the entry at path when every file it was made from is unchanged. Every read goes
// through package confined: an input replaced by a FIFO or a link to /dev/zero or out of the
// tree is a miss (the bundle then runs and reports the refusal), never a hang.
func (c *Cache) load(path, workDir string, tree *confined.Tree) (*Result, bool) {
	data, err := readCacheEntry(path)
	if err != nil {
		return nil, false
	}
	var e cacheEntry
	if err := json.Unmarshal(data, &e); err != nil || len(e.Fingerprint.Files) == 0 {
		return nil, false
	}
	if !e.Fingerprint.current(tree) {
		return nil, false
	}
	res := newResult(e.Code, e.SourceMap)
	res.Exports = e.Exports
	res.sourceRoot = e.SourceRoot
	if res.sourceRoot == "" {
		res.sourceRoot = filepath.Join(workDir, outDirName)
	}
	return res, true
}

func (c *Cache) store(path string, res *Result, inputs []string, tree *confined.Tree, started time.Time) {
	fp, err := fingerprintOf(inputs, tree)
	if err != nil || changedSince(inputs, started.Add(-racyWindow)) {
		return
	}
	data, err := json.Marshal(cacheEntry{Fingerprint: fp, Code: res.Code, SourceMap: res.SourceMap, Exports: res.Exports, SourceRoot: res.sourceRoot})
	if err != nil {
		return
	}
	_ = writePrivate(path, data)
}

// racyWindow is how long before a bundle started an input's change makes the bundle uncacheable.
// The fingerprint is hashed after esbuild read the files: an input saved in between (an editor's
// save-on-format during `apply`) would pair the new content's hash with the old content's bundle,
// and every later run would deploy that stale bundle. A change after the bundle started shows in
// the modification time; the window also covers filesystems that keep it to 1 or 2 s.
const racyWindow = 2 * time.Second

// changedSince reports whether an input, or a directory holding one, was modified after t (or
// can no longer be read). It is checked after the inputs were hashed, so a change it misses
// came after the hashing too, and the hash is of what esbuild read.
func changedSince(inputs []string, t time.Time) bool {
	for _, in := range inputs {
		for _, p := range []string{in, filepath.Dir(in)} {
			fi, err := os.Stat(p)
			if err != nil || fi.ModTime().After(t) {
				return true
			}
		}
	}
	return false
}

// fingerprintOf hashes the inputs, the resolution configs from their directories up to the
// root, and the names in each directory holding an input (a new file there can change what an
// import resolves to: ./x.ts beside ./x.js, an index file). Inputs that are not plain files (a
// plugin namespace) make the bundle uncacheable.
func fingerprintOf(inputs []string, tree *confined.Tree) (fingerprint, error) {
	fp := fingerprint{Files: map[string]string{}, Dirs: map[string]string{}}
	for _, in := range inputs {
		if !filepath.IsAbs(in) {
			return fp, fmt.Errorf("input %s is not a file", in)
		}
		h, err := hashFile(in, tree)
		if err != nil || h == "" {
			return fp, fmt.Errorf("input %s: %w", in, errors.Join(err, fs.ErrNotExist))
		}
		fp.Files[in] = h
	}
	configDirs := map[string]bool{}
	for _, in := range inputs {
		dir := filepath.Dir(in)
		if _, seen := fp.Dirs[dir]; !seen {
			fp.Dirs[dir] = hashDir(dir)
		}
		fp.addConfigsAbove(dir, configDirs)
	}
	return fp, nil
}

// addConfigsAbove records every resolution config from dir up to the root; done holds the
// directories already recorded (and with each, every one above it).
func (fp *fingerprint) addConfigsAbove(dir string, done map[string]bool) {
	for !done[dir] {
		done[dir] = true
		for _, name := range resolutionConfigs {
			p := filepath.Join(dir, name)
			if _, isInput := fp.Files[p]; !isInput {
				fp.Files[p], _ = hashFile(p, nil)
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return
		}
		dir = parent
	}
}

// current is whether every recorded file and directory still has the recorded content. A
// module must still lie in tree; a resolution config only follows the type and size rules
// (esbuild reads those from every folder up to /, see confiner).
func (fp fingerprint) current(tree *confined.Tree) bool {
	for p, want := range fp.Files {
		t := tree
		if slices.Contains(resolutionConfigs, filepath.Base(p)) {
			t = nil
		}
		if got, err := hashFile(p, t); err != nil || got != want {
			return false
		}
	}
	for d, want := range fp.Dirs {
		if hashDir(d) != want {
			return false
		}
	}
	return true
}

// hashFile is the hex SHA-256 of the file, "" when it does not exist. It reads through package
// confined (with tree, when not nil), so a file replaced by a FIFO, a device, a link out of the
// tree or a huge file is an error, not a hang: the entry is then no longer current. Every
// file is read as a Module, the larger cap (a package.json can be imported as a module).
func hashFile(path string, tree *confined.Tree) (string, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	data, err := confined.ReadFile(path, confined.Module, tree)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// hashDir hashes the sorted names in dir ("" when it cannot be read, or is no longer a
// directory: opening a FIFO to list it would block).
func hashDir(dir string) string {
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return ""
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	sum := sha256.Sum256([]byte(strings.Join(names, "\x00")))
	return hex.EncodeToString(sum[:])
}

// writePrivate replaces path with data atomically, readable by the owner only: a bundle can
// hold whatever the sources hold.
func writePrivate(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("bundle cache: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".entry-*") // 0600
	if err != nil {
		return fmt.Errorf("bundle cache: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("bundle cache: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("bundle cache: write %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("bundle cache: %w", err)
	}
	return nil
}

// moduleVersion is the version of module linked into this binary, "" when unknown.
func moduleVersion(module string) string {
	dep := buildinfo.Dependency(module)
	switch {
	case dep == nil:
		return ""
	case dep.Replace != nil:
		return dep.Replace.Path + "@" + dep.Replace.Version + " " + dep.Replace.Sum
	}
	return dep.Version + " " + dep.Sum
}
