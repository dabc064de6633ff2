package bundler

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// cachedBundle bundles entry through c and fails the test on an error.
func cachedBundle(t *testing.T, c *Cache, opts Options) *Result {
	t.Helper()
	res, err := c.Bundle(context.Background(), opts)
	if err != nil {
		t.Fatalf("cached Bundle: %v", err)
	}
	return res
}

// wantRuns checks how many bundles ran esbuild so far.
func wantRuns(t *testing.T, c *Cache, want int64, why string) {
	t.Helper()
	if got := c.esbuildRuns.Load(); got != want {
		t.Fatalf("%s: esbuild ran %d times, want %d", why, got, want)
	}
}

func TestCacheHitSkipsEsbuildAndGivesTheSameBundle(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), multiFileWorker)
	c := NewCache(filepath.Join(t.TempDir(), "bundles"))
	if c.esbuildVersion == "" {
		t.Fatal("no esbuild version, so the cache is off")
	}
	opts := Options{Entry: filepath.Join(dir, "src/worker.js")}
	first := cachedBundle(t, c, opts)
	wantRuns(t, c, 1, "first bundle")
	second := cachedBundle(t, c, opts)
	wantRuns(t, c, 1, "unchanged sources")

	if !bytes.Equal(first.Code, second.Code) || !bytes.Equal(first.SourceMap, second.SourceMap) ||
		first.Hash != second.Hash || !slices.Equal(first.Exports, second.Exports) {
		t.Fatalf("cached bundle differs from the fresh one")
	}
	// The source map of a cached bundle still points at the sources.
	line, col := lineColOf(t, string(second.Code), "toUpperCase")
	pos, ok := second.Resolve(line, col)
	if !ok || !strings.HasSuffix(pos.File, filepath.Join("lib", "shout.js")) {
		t.Errorf("Resolve on the cached bundle = %+v, %v; want lib/shout.js", pos, ok)
	}
}

// lineColOf is the 1-based line and column of the first occurrence of s in code.
func lineColOf(t *testing.T, code, s string) (int, int) {
	t.Helper()
	i := strings.Index(code, s)
	if i < 0 {
		t.Fatalf("%q not in the bundle", s)
	}
	before := code[:i]
	return strings.Count(before, "\n") + 1, i - strings.LastIndex(before, "\n")
}

func TestCacheEntriesAreOwnerOnly(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), multiFileWorker)
	cacheDir := filepath.Join(t.TempDir(), "flareform", "bundles")
	cachedBundle(t, NewCache(cacheDir), Options{Entry: filepath.Join(dir, "src/worker.js")})
	if fi, err := os.Stat(cacheDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("cache dir: %v, %v; want mode 0700", fi.Mode(), err)
	}
	entries, _ := os.ReadDir(cacheDir)
	if len(entries) != 1 {
		t.Fatalf("cache holds %d files, want 1 entry", len(entries))
	}
	fi, err := entries[0].Info()
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("cache entry %s: %v, %v; want mode 0600", entries[0].Name(), fi.Mode(), err)
	}
}

func TestCacheMissesWhenAnInputChanges(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), multiFileWorker)
	c := NewCache(t.TempDir())
	opts := Options{Entry: filepath.Join(dir, "src/worker.js")}
	cachedBundle(t, c, opts)
	// An imported file, not the entry, changes.
	writeFiles(t, dir, map[string]string{"src/lib/greet.js": "export function greet(name) { return `howdy ${name}`; }\n"})
	res := cachedBundle(t, c, opts)
	wantRuns(t, c, 2, "imported file changed")
	if !strings.Contains(string(res.Code), "howdy") {
		t.Fatalf("bundle after the change lacks the new code:\n%s", res.Code)
	}
	cachedBundle(t, c, opts)
	wantRuns(t, c, 2, "unchanged after the change")
}

func TestCacheMissesWhenOptionsOrEsbuildChange(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), multiFileWorker)
	cacheDir := t.TempDir()
	c := NewCache(cacheDir)
	entry := filepath.Join(dir, "src/worker.js")
	cachedBundle(t, c, Options{Entry: entry})
	minified := cachedBundle(t, c, Options{Entry: entry, Minify: true})
	wantRuns(t, c, 2, "minify on")
	if strings.Contains(string(minified.Code), "\n  ") {
		t.Errorf("the minified bundle came from the plain one's entry:\n%s", minified.Code)
	}
	cachedBundle(t, c, Options{Entry: entry, NodeCompat: true})
	wantRuns(t, c, 3, "node compat on")

	upgraded := NewCache(cacheDir)
	upgraded.esbuildVersion = "v9.9.9 h1:other"
	cachedBundle(t, upgraded, Options{Entry: entry})
	wantRuns(t, upgraded, 1, "another esbuild version")
}

func TestCacheMissesWhenAnImportResolvesElsewhere(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{
		"src/worker.js": `import { greet } from "./greet";
import { tag } from "pkg";
export default { fetch() { return new Response(greet() + tag); } };
`,
		"src/greet.js":                      `export const greet = () => "from js";` + "\n",
		"src/node_modules/pkg/a.js":         `export const tag = "pkg-a";` + "\n",
		"src/node_modules/pkg/b.js":         `export const tag = "pkg-b";` + "\n",
		"src/node_modules/pkg/package.json": `{"name":"pkg","main":"a.js"}`,
	})
	c := NewCache(t.TempDir())
	opts := Options{Entry: filepath.Join(dir, "src/worker.js")}
	cachedBundle(t, c, opts)

	// A package.json is no input, but it decides which file "pkg" is.
	writeFiles(t, dir, map[string]string{"src/node_modules/pkg/package.json": `{"name":"pkg","main":"b.js"}`})
	if res := cachedBundle(t, c, opts); !strings.Contains(string(res.Code), "pkg-b") {
		t.Fatalf("package.json main changed, bundle still has the old file:\n%s", res.Code)
	}
	// esbuild prefers ./greet.ts to ./greet.js: a new file changes the import, no input did.
	writeFiles(t, dir, map[string]string{"src/greet.ts": `export const greet = (): string => "from ts";` + "\n"})
	if res := cachedBundle(t, c, opts); !strings.Contains(string(res.Code), "from ts") {
		t.Fatalf("greet.ts added, bundle still has greet.js:\n%s", res.Code)
	}
	wantRuns(t, c, 3, "two resolution changes")
}

func TestCacheNeverKeepsErrors(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{"worker.js": "export default {\n  fetch( {\n};\n"})
	c := NewCache(t.TempDir())
	opts := Options{Entry: filepath.Join(dir, "worker.js")}
	for range 2 {
		_, err := c.Bundle(context.Background(), opts)
		var be *Error
		if !errors.As(err, &be) || len(be.Messages) == 0 || be.Messages[0].Line != 3 {
			t.Fatalf("syntax error = %v; want a bundler.Error at line 3", err)
		}
	}
	wantRuns(t, c, 2, "syntax error twice")
	writeFiles(t, dir, map[string]string{"worker.js": "export default { fetch() { return new Response('ok'); } };\n"})
	cachedBundle(t, c, opts)
	if _, err := c.Bundle(context.Background(), Options{Entry: filepath.Join(dir, "missing.js")}); err == nil {
		t.Fatal("a missing entry bundled from the cache")
	}
	wantRuns(t, c, 3, "fixed, then a missing entry")
}

// The user cache is where the caller's environment says, never where the process's does.
func TestUserCacheIsUnderTheInjectedCacheDir(t *testing.T) {
	processCache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", processCache)
	t.Setenv("HOME", processCache)
	base := t.TempDir()
	env := map[string]string{"XDG_CACHE_HOME": base, "HOME": base} // macOS uses HOME/Library/Caches
	c := UserCache(func(k string) string { return env[k] })
	if c == nil || filepath.Base(c.Dir) != "bundles" || !strings.HasPrefix(c.Dir, base+string(filepath.Separator)) {
		t.Fatalf("UserCache = %+v; want <user cache dir>/flareform/bundles under %s", c, base)
	}
	dir := writeFiles(t, t.TempDir(), multiFileWorker)
	if _, err := c.Bundle(context.Background(), Options{Entry: filepath.Join(dir, "src/worker.js")}); err != nil {
		t.Fatal(err)
	}
	if entries, err := os.ReadDir(c.Dir); err != nil || len(entries) != 1 {
		t.Fatalf("Bundle left %d entries in %s (%v); want 1", len(entries), c.Dir, err)
	}
	if entries, _ := os.ReadDir(processCache); len(entries) != 0 {
		t.Fatalf("the process's cache directory %s got %d entries", processCache, len(entries))
	}
	if c := UserCache(func(string) string { return "" }); c != nil {
		t.Fatalf("UserCache without HOME or XDG_CACHE_HOME = %+v; want none", c)
	}
}

// The pinned esbuild version stands in for the build information in test binaries; it must
// be the one go.mod requires, or a cache written by tests would claim the wrong version.
func TestPinnedEsbuildIsTheRequiredOne(t *testing.T) {
	gomod, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	want := esbuildModule + " " + pinnedEsbuild
	if !strings.Contains(string(gomod), want) {
		t.Fatalf("go.mod does not require %s; update pinnedEsbuild in cache.go", want)
	}
}

// Without a user cache directory (no HOME) bundling still works, uncached.
func TestNoCacheDirBundlesAnyway(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), multiFileWorker)
	var none *Cache
	res, err := none.Bundle(context.Background(), Options{Entry: filepath.Join(dir, "src/worker.js")})
	if err != nil || !strings.Contains(string(res.Code), "toUpperCase") {
		t.Fatalf("nil cache: %v", err)
	}
	// A cache directory that cannot be created costs the cache, not the bundle.
	blocked := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocked, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewCache(filepath.Join(blocked, "bundles")).Bundle(context.Background(), Options{Entry: filepath.Join(dir, "src/worker.js")}); err != nil {
		t.Fatalf("unwritable cache: %v", err)
	}
}

// An input saved while esbuild ran (an editor's save-on-format during apply) must not leave an
// entry pairing its new content's hash with the bundle of its old content. Its modification
// time is all there is to tell, so an input changed shortly before the bundle started is not
// cached; once it has settled, the next bundle is.
func TestCacheKeepsNoBundleOfAFreshlyChangedInput(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), multiFileWorker)
	c := NewCache(t.TempDir())
	opts := Options{Entry: filepath.Join(dir, "src/worker.js")}
	greet := filepath.Join(dir, "src/lib/greet.js")
	if err := os.WriteFile(greet, []byte("export function greet(name) { return `hey ${name}`; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cachedBundle(t, c, opts)
	cachedBundle(t, c, opts)
	wantRuns(t, c, 2, "an input changed just before the bundle")

	ageTree(t, dir)
	cachedBundle(t, c, opts)
	res := cachedBundle(t, c, opts)
	wantRuns(t, c, 3, "the change has settled")
	if !strings.Contains(string(res.Code), "hey") {
		t.Fatalf("the cached bundle lacks the change:\n%s", res.Code)
	}
}
