package bundler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/flareform/flareform/templates"
)

// writeFiles creates files (path relative to dir -> content) and returns dir.
func writeFiles(t testing.TB, dir string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ageTree(t, dir)
	return dir
}

// ageTree dates everything under dir an hour back: files written just before a bundle are
// never cached (racyWindow), and most tests are about a cache that has settled.
func ageTree(t testing.TB, dir string) {
	t.Helper()
	past := time.Now().Add(-time.Hour)
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, past, past)
	})
	if err != nil {
		t.Fatal(err)
	}
}

var multiFileWorker = map[string]string{
	"src/worker.js": `import { greet } from "./lib/greet.js";
import { shout } from "./lib/shout.js";
import { connect } from "cloudflare:sockets";
export default {
  async fetch(request, env) {
    return new Response(shout(greet("worker")) + typeof connect);
  },
};
`,
	"src/lib/greet.js": "export function greet(name) { return `hello ${name}`; }\n",
	"src/lib/shout.js": "export const shout = (s) => s.toUpperCase() + \"!\";\n",
}

// importSpecifiers lists every module specifier the bundle still imports.
func importSpecifiers(code string) []string {
	re := regexp.MustCompile(`(?m)(?:^|[;\s])(?:import|export)\s*(?:[^"';]*?\sfrom\s*)?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)`)
	var specs []string
	for _, m := range re.FindAllStringSubmatch(code, -1) {
		if m[1] != "" {
			specs = append(specs, m[1])
		} else {
			specs = append(specs, m[2])
		}
	}
	sort.Strings(specs)
	return specs
}

func TestBundleMultiFileIntoOneModule(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), multiFileWorker)
	res, err := Bundle(context.Background(), Options{Entry: filepath.Join(dir, "src/worker.js")})
	if err != nil {
		t.Fatalf("Bundle: %v", err)
	}
	code := string(res.Code)
	if res.ModuleName != "worker.js" || res.SourceMapName != "worker.js.map" {
		t.Errorf("names = %q, %q; want worker.js, worker.js.map", res.ModuleName, res.SourceMapName)
	}
	if got := importSpecifiers(code); strings.Join(got, ",") != "cloudflare:sockets" {
		t.Errorf("bundle imports %v; want only the external cloudflare:sockets\n%s", got, code)
	}
	for _, want := range []string{"hello ${name}", "toUpperCase", "export {"} {
		if !strings.Contains(code, want) {
			t.Errorf("bundle lacks %q:\n%s", want, code)
		}
	}
	if !strings.HasSuffix(strings.TrimSpace(code), "//# sourceMappingURL=worker.js.map") {
		t.Errorf("bundle does not end with the sourceMappingURL comment:\n%s", code)
	}
	sum := sha256.Sum256(res.Code)
	if res.Hash != hex.EncodeToString(sum[:]) {
		t.Errorf("Hash = %s; want sha256 of Code %x", res.Hash, sum)
	}

	var sm struct {
		Version int      `json:"version"`
		Sources []string `json:"sources"`
	}
	if err := json.Unmarshal(res.SourceMap, &sm); err != nil {
		t.Fatalf("source map is not JSON: %v", err)
	}
	if sm.Version != 3 || len(sm.Sources) != 3 {
		t.Errorf("source map version %d with sources %v; want v3 with the three input files", sm.Version, sm.Sources)
	}
	for _, s := range sm.Sources {
		if filepath.IsAbs(s) || strings.Contains(s, dir) {
			t.Errorf("source map leaks an absolute path %q (breaks determinism across machines)", s)
		}
	}
}

func TestBundleIsDeterministic(t *testing.T) {
	dirA := writeFiles(t, t.TempDir(), multiFileWorker)
	dirB := writeFiles(t, t.TempDir(), multiFileWorker)
	ctx := context.Background()

	first, err := Bundle(ctx, Options{Entry: filepath.Join(dirA, "src/worker.js")})
	if err != nil {
		t.Fatal(err)
	}
	again, err := Bundle(ctx, Options{Entry: filepath.Join(dirA, "src/worker.js")})
	if err != nil {
		t.Fatal(err)
	}
	elsewhere, err := Bundle(ctx, Options{Entry: filepath.Join(dirB, "src/worker.js")})
	if err != nil {
		t.Fatal(err)
	}
	for name, other := range map[string]*Result{"same dir": again, "other dir": elsewhere} {
		if string(other.Code) != string(first.Code) || string(other.SourceMap) != string(first.SourceMap) || other.Hash != first.Hash {
			t.Errorf("%s: bundle differs from the first build", name)
		}
	}

	writeFiles(t, dirB, map[string]string{"src/lib/greet.js": "export function greet(name) { return `hi ${name}`; }\n"})
	changed, err := Bundle(ctx, Options{Entry: filepath.Join(dirB, "src/worker.js")})
	if err != nil {
		t.Fatal(err)
	}
	if changed.Hash == first.Hash {
		t.Errorf("changing a source file kept hash %s", changed.Hash)
	}
}

func TestBundleSyntaxErrorNamesFileLineCol(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{
		"src/worker.js": "import { f } from \"./broken.js\";\nexport default { fetch() { return f(); } };\n",
		"src/broken.js": "export function f() {\n  return 1 +;\n}\n",
	})
	t.Chdir(dir)
	_, err := Bundle(context.Background(), Options{Entry: "src/worker.js"})
	var berr *Error
	if !errors.As(err, &berr) {
		t.Fatalf("err = %v (%T); want *bundler.Error", err, err)
	}
	if len(berr.Messages) == 0 {
		t.Fatal("no messages in bundle error")
	}
	m := berr.Messages[0]
	if m.File != filepath.Join("src", "broken.js") || m.Line != 2 || m.Col != 13 {
		t.Errorf("message at %s:%d:%d; want src/broken.js:2:13 (%v)", m.File, m.Line, m.Col, err)
	}
	if !strings.Contains(err.Error(), "src/broken.js:2:13: ") {
		t.Errorf("Error() = %q; want a src/broken.js:2:13: line", err.Error())
	}
}

func TestBundleAbsoluteEntryGivesAbsolutePaths(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{"worker.js": "export default {\n  fetch() { return new Response(; }\n};\n"})
	_, err := Bundle(context.Background(), Options{Entry: filepath.Join(dir, "worker.js")})
	var berr *Error
	if !errors.As(err, &berr) || len(berr.Messages) == 0 {
		t.Fatalf("err = %v; want *bundler.Error with messages", err)
	}
	if got, want := berr.Messages[0].File, filepath.Join(dir, "worker.js"); got != want {
		t.Errorf("File = %q; want %q", got, want)
	}
	if berr.Messages[0].Line != 2 {
		t.Errorf("Line = %d; want 2", berr.Messages[0].Line)
	}
}

func TestBundleMissingImportIsNamed(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{
		"worker.js": "import { helper } from \"./missing-helper.js\";\nexport default { fetch() { return helper(); } };\n",
	})
	t.Chdir(dir)
	_, err := Bundle(context.Background(), Options{Entry: "worker.js"})
	if err == nil {
		t.Fatal("bundling an unresolved import succeeded")
	}
	if !strings.Contains(err.Error(), "worker.js:1:24: ") || !strings.Contains(err.Error(), "./missing-helper.js") {
		t.Errorf("error %q should point at worker.js:1:24 and name ./missing-helper.js", err)
	}
}

func TestBundleMissingEntry(t *testing.T) {
	_, err := Bundle(context.Background(), Options{Entry: filepath.Join(t.TempDir(), "nope.js")})
	if err == nil || !strings.Contains(err.Error(), "nope.js") {
		t.Fatalf("err = %v; want an error naming nope.js", err)
	}
}

func TestBundleNodeCompatExternals(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{
		"worker.js": "import { Buffer } from \"node:buffer\";\nexport default { fetch() { return new Response(Buffer.from(\"hi\").toString(\"base64\")); } };\n",
	})
	entry := filepath.Join(dir, "worker.js")

	res, err := Bundle(context.Background(), Options{Entry: entry, NodeCompat: true})
	if err != nil {
		t.Fatalf("with NodeCompat: %v", err)
	}
	if got := importSpecifiers(string(res.Code)); strings.Join(got, ",") != "node:buffer" {
		t.Errorf("imports %v; want node:buffer kept external", got)
	}

	_, err = Bundle(context.Background(), Options{Entry: entry})
	if err == nil || !strings.Contains(err.Error(), "node:buffer") {
		t.Errorf("without NodeCompat err = %v; want a failure naming node:buffer", err)
	}
}

func TestBundleMinifyShrinks(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), multiFileWorker)
	entry := filepath.Join(dir, "src/worker.js")
	plain, err := Bundle(context.Background(), Options{Entry: entry})
	if err != nil {
		t.Fatal(err)
	}
	small, err := Bundle(context.Background(), Options{Entry: entry, Minify: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(small.Code) >= len(plain.Code) {
		t.Errorf("minified %d bytes, plain %d; want smaller", len(small.Code), len(plain.Code))
	}
}

func TestBundleHonoursCancelledContext(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), multiFileWorker)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Bundle(ctx, Options{Entry: filepath.Join(dir, "src/worker.js")})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v; want context.Canceled", err)
	}
}

func TestBundleResolvesWorkerdCondition(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{
		"worker.js":                      "import { where } from \"dual\";\nexport default { fetch() { return new Response(where); } };\n",
		"node_modules/dual/package.json": `{"name":"dual","exports":{".":{"workerd":"./workerd.js","node":"./node.js","default":"./node.js"}}}`,
		"node_modules/dual/workerd.js":   "export const where = \"workerd-build\";\n",
		"node_modules/dual/node.js":      "export const where = \"node-build\";\n",
	})
	res, err := Bundle(context.Background(), Options{Entry: filepath.Join(dir, "worker.js")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(res.Code), "workerd-build") || strings.Contains(string(res.Code), "node-build") {
		t.Errorf("bundle did not pick the workerd export condition:\n%s", res.Code)
	}
}

func BenchmarkBundleTemplate(b *testing.B) {
	dir := b.TempDir()
	if _, err := templates.Write(dir, templates.Options{}); err != nil {
		b.Fatal(err)
	}
	entry := filepath.Join(dir, "src", "worker.js")
	ctx := context.Background()
	for b.Loop() {
		if _, err := Bundle(ctx, Options{Entry: entry}); err != nil {
			b.Fatal(err)
		}
	}
}
