package bundler

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// throwingWorker throws at src/lib/fail.js line 60, column 9, far from where the code lands
// in the bundle.
func throwingWorker() map[string]string {
	fail := strings.Repeat("// padding\n", 59) + "export function fail() { throw new Error(\"boom\"); }\n"
	return map[string]string{
		"src/worker.js": `import { fail } from "./lib/fail.js";
export default {
  async fetch() { fail(); return new Response("never"); },
};
`,
		"src/lib/fail.js": fail,
	}
}

// bundleLine finds the 1-based line and column of needle in the bundle.
func bundleLine(t *testing.T, code, needle string) (int, int) {
	t.Helper()
	for i, line := range strings.Split(code, "\n") {
		if col := strings.Index(line, needle); col >= 0 {
			return i + 1, col + 1
		}
	}
	t.Fatalf("%q not in the bundle:\n%s", needle, code)
	return 0, 0
}

func TestResolveMapsBundleLinesToSourceLines(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), throwingWorker())
	res, err := Bundle(context.Background(), Options{Entry: filepath.Join(dir, "src/worker.js")})
	if err != nil {
		t.Fatal(err)
	}
	line, col := bundleLine(t, string(res.Code), "throw new Error")
	if line == 60 {
		t.Fatalf("the bundle puts the throw at line 60 too; the test proves nothing")
	}
	pos, ok := res.Resolve(line, col)
	if !ok {
		t.Fatalf("Resolve(%d, %d) found nothing", line, col)
	}
	want := SourcePosition{File: filepath.Join(dir, "src/lib/fail.js"), Line: 60, Col: 26}
	if pos != want {
		t.Errorf("Resolve(%d, %d) = %+v; want %+v", line, col, pos, want)
	}
}

func TestMapLocationsRewritesWorkerdMessages(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), throwingWorker())
	res, err := Bundle(context.Background(), Options{Entry: filepath.Join(dir, "src/worker.js")})
	if err != nil {
		t.Fatal(err)
	}
	line, col := bundleLine(t, string(res.Code), "throw new Error")
	for _, tc := range []struct{ in, want string }{
		{fmt.Sprintf("Uncaught Error: boom at worker.js:%d:%d", line, col), "Uncaught Error: boom at src/lib/fail.js:60:26"},
		{fmt.Sprintf("    at fail (file:///tmp/x/worker.js:%d:%d)", line, col), "    at fail (src/lib/fail.js:60:26)"},
		{fmt.Sprintf("worker.js:%d", line), "src/lib/fail.js:60"},
		{"worker.js:99999:1 is past the end", "worker.js:99999:1 is past the end"},
		{"no location here", "no location here"},
	} {
		if got := res.MapLocations(tc.in, dir); got != tc.want {
			t.Errorf("MapLocations(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestDecodeVLQ(t *testing.T) {
	got, err := decodeVLQs("AAgBC")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[0 0 16 1]" {
		t.Errorf("decodeVLQs(AAgBC) = %v; want [0 0 16 1]", got)
	}
	if _, err := decodeVLQs("g"); err == nil {
		t.Error("a truncated segment decoded")
	}
}

func TestEntryProblem(t *testing.T) {
	for name, tc := range map[string]struct {
		src     string
		wantMsg string // "" = no problem
	}{
		"object with fetch":        {"export default { async fetch() { return new Response('ok'); } };\n", ""},
		"quoted fetch key":         {"export default { 'fetch': () => new Response('ok') };\n", ""},
		"fetch after other method": {"export default { async scheduled() { const s = '}'; }, fetch(r) { return new Response(`${r.url}`); } };\n", ""},
		"class export":             {"export default class { fetch() { return new Response('ok'); } }\n", ""},
		"no default export":        {"export const handler = { fetch() {} };\n", "has no default export"},
		"default without fetch":    {"export default { async scheduled() { /* fetch( */ } };\n", "has no fetch handler"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := writeFiles(t, t.TempDir(), map[string]string{"worker.js": tc.src})
			res, err := Bundle(context.Background(), Options{Entry: filepath.Join(dir, "worker.js")})
			if err != nil {
				t.Fatal(err)
			}
			msg, fix, ok := res.EntryProblem("worker.js")
			if tc.wantMsg == "" {
				if !ok {
					t.Errorf("EntryProblem = %q; want none", msg)
				}
				return
			}
			if ok || !strings.Contains(msg, tc.wantMsg) || !strings.Contains(fix, "fetch(request, env)") {
				t.Errorf("EntryProblem = %q, %q, %v; want %q with a fetch fix", msg, fix, ok, tc.wantMsg)
			}
		})
	}
}

// With SourceRoot the uploaded map names sources relative to the project ("src/lib/fail.js"),
// so ParseModuleMap maps a runtime location without the project at hand, and Resolve still
// gives absolute paths.
func TestSourceRootWritesProjectRelativeSources(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), throwingWorker())
	res, err := Bundle(context.Background(), Options{Entry: filepath.Join(dir, "src/worker.js"), SourceRoot: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(res.SourceMap), `"src/lib/fail.js"`) || strings.Contains(string(res.SourceMap), `"../`) {
		t.Fatalf("sources are not project-relative: %s", res.SourceMap)
	}
	line, col := bundleLine(t, string(res.Code), "throw new Error")
	if pos, ok := res.Resolve(line, col); !ok || pos.File != filepath.Join(dir, "src/lib/fail.js") || pos.Line != 60 {
		t.Errorf("Resolve(%d, %d) = %+v, %v", line, col, pos, ok)
	}
	mm, err := ParseModuleMap(ModuleName, res.SourceMap)
	if err != nil {
		t.Fatal(err)
	}
	got := mm.MapLocations(fmt.Sprintf("    at fail (worker.js:%d:%d)", line, col))
	if want := "    at fail (src/lib/fail.js:60:26)"; got != want {
		t.Errorf("MapLocations = %q, want %q", got, want)
	}
}
