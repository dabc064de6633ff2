package bundler

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flareform/flareform/internal/confined"
)

// outsideSecret is the content of a file outside the project: no bundle or message may hold it.
const outsideSecret = "OUTSIDE-SECRET-7f3a9c1e5b2d4680aa"

// confineCase is a project whose root is root/project (the spec's folder), with a file outside
// it at root/elsewhere/secret.txt.
type confineCase struct {
	root, project string
	tree          *confined.Tree
}

// newConfineCase writes files (relative to the project) and the outside secret, and returns
// the case; the tree is the spec's (the project folder: there is no .git above /tmp's).
func newConfineCase(t *testing.T, files map[string]string) *confineCase {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	project := filepath.Join(root, "project")
	writeFiles(t, project, files)
	writeFiles(t, filepath.Join(root, "elsewhere"), map[string]string{"secret.txt": outsideSecret + "\n"})
	tree, err := confined.ProjectTree(filepath.Join(project, "flareform.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if tree.Root != project {
		t.Fatalf("tree %s; want %s", tree.Root, project)
	}
	return &confineCase{root: root, project: project, tree: tree}
}

func (c *confineCase) path(rel string) string {
	return filepath.Join(c.project, filepath.FromSlash(rel))
}

func (c *confineCase) symlink(t *testing.T, target, rel string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(c.path(rel)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, c.path(rel)); err != nil {
		t.Fatal(err)
	}
}

func (c *confineCase) fifo(t *testing.T, rel string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(c.path(rel)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(c.path(rel), 0o600); err != nil {
		t.Fatal(err)
	}
}

// sparse makes rel a file of size bytes that takes no disk space.
func (c *confineCase) sparse(t *testing.T, rel string, size int64) {
	t.Helper()
	if err := os.WriteFile(c.path(rel), []byte("export default 1;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(c.path(rel), size); err != nil {
		t.Fatal(err)
	}
}

// bundleLimit bounds every bundle here: a refusal is immediate, a hang or a 5 GB read is not.
const bundleLimit = 10 * time.Second

// bundle bundles entry (relative to the project) within bundleLimit.
func (c *confineCase) bundle(t *testing.T, entry string) (*Result, error) {
	t.Helper()
	return bundleWithin(t, func(ctx context.Context) (*Result, error) {
		return Bundle(ctx, Options{Entry: c.path(entry), Tree: c.tree})
	})
}

func bundleWithin(t *testing.T, f func(ctx context.Context) (*Result, error)) (*Result, error) {
	t.Helper()
	type outcome struct {
		res *Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := f(context.Background())
		done <- outcome{res, err}
	}()
	select {
	case o := <-done:
		return o.res, o.err
	case <-time.After(bundleLimit):
		t.Fatalf("the bundle did not finish within %s", bundleLimit)
		return nil, nil
	}
}

// wantRefused checks that err is a bundle error whose messages name the rule (every want
// substring), hold no secret and no environment value, and carry a fix.
func wantRefused(t *testing.T, res *Result, err error, want ...string) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("bundled (%d bytes); want a refusal naming %q", len(res.Code), want)
	}
	var be *Error
	if !errors.As(err, &be) {
		t.Fatalf("err = %v (%T); want a *bundler.Error", err, err)
	}
	text := err.Error()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("error lacks %q:\n%s", w, text)
		}
	}
	for _, secret := range append([]string{outsideSecret}, environValues()...) {
		if strings.Contains(text, secret) {
			t.Errorf("error shows %q:\n%s", secret, text)
		}
	}
	if fix := be.Fix(""); fix == "" {
		t.Errorf("no fix for a refused file:\n%s", text)
	}
	return be
}

// environValues are this process's environment values long enough to be recognised.
func environValues() []string {
	var out []string
	for _, kv := range os.Environ() {
		if _, v, _ := strings.Cut(kv, "="); len(v) >= 12 {
			out = append(out, v)
		}
	}
	return out
}

// wantAt checks the first message points at file:line:col (file relative to the project).
func (c *confineCase) wantAt(t *testing.T, be *Error, file string, line, col int) {
	t.Helper()
	m := be.Messages[0]
	if m.File != c.path(file) || m.Line != line || m.Col != col {
		t.Errorf("message at %s:%d:%d; want %s:%d:%d (%s)", m.File, m.Line, m.Col, c.path(file), line, col, be)
	}
}

const fetchText = "\nexport default { fetch() { return new Response(String(x)); } };\n"

func TestConfineRefusesProcSelfEnviron(t *testing.T) {
	c := newConfineCase(t, map[string]string{
		"src/worker.js": `import x from "/proc/self/environ" with { type: "text" };` + fetchText,
	})
	res, err := c.bundle(t, "src/worker.js")
	be := wantRefused(t, res, err, "under /proc")
	c.wantAt(t, be, "src/worker.js", 1, 15)
}

func TestConfineRefusesASymlinkOutOfTheTree(t *testing.T) {
	c := newConfineCase(t, map[string]string{
		"src/worker.js": `import x from "./lib/secret.txt";` + fetchText,
	})
	c.symlink(t, filepath.Join(c.root, "elsewhere", "secret.txt"), "src/lib/secret.txt")
	res, err := c.bundle(t, "src/worker.js")
	be := wantRefused(t, res, err, "lies outside the project", c.project)
	c.wantAt(t, be, "src/worker.js", 1, 15)
}

func TestConfineRefusesARelativePathOutOfTheTree(t *testing.T) {
	c := newConfineCase(t, map[string]string{
		"src/worker.js": `import x from "../../elsewhere/secret.txt";` + fetchText,
	})
	res, err := c.bundle(t, "src/worker.js")
	wantRefused(t, res, err, "lies outside the project")
}

func TestConfineRefusesDevZero(t *testing.T) {
	for name, setup := range map[string]func(c *confineCase){
		"direct":  func(*confineCase) {},
		"symlink": func(c *confineCase) { c.symlink(t, "/dev/zero", "src/zero.txt") },
	} {
		t.Run(name, func(t *testing.T) {
			spec := "/dev/zero"
			if name == "symlink" {
				spec = "./zero.txt"
			}
			c := newConfineCase(t, map[string]string{
				"src/worker.js": fmt.Sprintf(`import x from %q with { type: "text" };`, spec) + fetchText,
			})
			setup(c)
			res, err := c.bundle(t, "src/worker.js")
			wantRefused(t, res, err, "under /dev")
		})
	}
}

func TestConfineRefusesFIFOs(t *testing.T) {
	for _, name := range []string{"fifo", "symlink to a fifo"} {
		t.Run(name, func(t *testing.T) {
			c := newConfineCase(t, map[string]string{
				"src/worker.js": `import x from "./pipe.txt";` + fetchText,
			})
			if name == "fifo" {
				c.fifo(t, "src/pipe.txt")
			} else {
				c.fifo(t, "fifos/real.fifo")
				c.symlink(t, c.path("fifos/real.fifo"), "src/pipe.txt")
			}
			res, err := c.bundle(t, "src/worker.js")
			wantRefused(t, res, err, "named pipe")
		})
	}
}

func TestConfineRefusesHugeSparseFiles(t *testing.T) {
	t.Run("entry", func(t *testing.T) {
		c := newConfineCase(t, map[string]string{"src/.keep": ""})
		c.sparse(t, "src/worker.js", 5<<30)
		res, err := c.bundle(t, "src/worker.js")
		wantRefused(t, res, err, fmt.Sprintf("larger than %d bytes", confined.Module.Limit))
	})
	t.Run("import", func(t *testing.T) {
		c := newConfineCase(t, map[string]string{"src/worker.js": `import x from "./big.js";` + fetchText})
		c.sparse(t, "src/big.js", 5<<30)
		res, err := c.bundle(t, "src/worker.js")
		wantRefused(t, res, err, fmt.Sprintf("larger than %d bytes", confined.Module.Limit))
	})
}

func TestConfineRefusesBundlesOverTheInputBudget(t *testing.T) {
	files := map[string]string{}
	var imports strings.Builder
	n := int(confined.MaxBundleInput/(confined.Module.Limit-1<<20)) + 1
	for i := range n {
		fmt.Fprintf(&imports, "import x%d from \"./blob%d.txt\";\n", i, i)
	}
	files["src/worker.js"] = imports.String() + "const x = x0;" + fetchText
	c := newConfineCase(t, files)
	for i := range n {
		c.sparse(t, fmt.Sprintf("src/blob%d.txt", i), confined.Module.Limit-1<<20)
	}
	res, err := c.bundle(t, "src/worker.js")
	wantRefused(t, res, err, fmt.Sprintf("add up to more than %d bytes", confined.MaxBundleInput))
}

func TestConfineRefusesHostilePackageConfigs(t *testing.T) {
	importPkg := map[string]string{
		"src/worker.js":                   `import { x } from "pkg";` + fetchText,
		"node_modules/pkg/index.js":       "export const x = 1;\n",
		"src/node_modules/.keep":          "",
		"node_modules/other/index.js":     "export const y = 2;\n",
		"node_modules/other/package.json": `{"name":"other"}`,
	}
	cases := []struct {
		name  string
		files map[string]string
		setup func(t *testing.T, c *confineCase)
		want  string
	}{
		{"package.json FIFO", importPkg, func(t *testing.T, c *confineCase) { c.fifo(t, "node_modules/pkg/package.json") }, "named pipe"},
		{"package.json to /dev/zero", importPkg, func(t *testing.T, c *confineCase) { c.symlink(t, "/dev/zero", "node_modules/pkg/package.json") }, "under /dev"},
		{"package.json out of the tree", importPkg, func(t *testing.T, c *confineCase) {
			c.symlink(t, filepath.Join(c.root, "elsewhere", "secret.txt"), "node_modules/pkg/package.json")
		}, "lies outside the project"},
		{"huge package.json", importPkg, func(t *testing.T, c *confineCase) { c.sparse(t, "node_modules/pkg/package.json", 1<<30) }, "larger than"},
		{"tsconfig.json FIFO", map[string]string{"src/worker.js": `import { x } from "./lib.js";` + fetchText, "src/lib.js": "export const x = 1;\n"},
			func(t *testing.T, c *confineCase) { c.fifo(t, "src/tsconfig.json") }, "named pipe"},
		{"jsconfig.json to /dev/zero", map[string]string{"src/worker.js": `const x = 1;` + fetchText},
			func(t *testing.T, c *confineCase) { c.symlink(t, "/dev/zero", "jsconfig.json") }, "under /dev"},
		{"package.json FIFO beside the entry", map[string]string{"src/worker.js": `const x = 1;` + fetchText},
			func(t *testing.T, c *confineCase) { c.fifo(t, "src/package.json") }, "named pipe"},
		{"tsconfig extends /dev/zero", map[string]string{"src/worker.js": `const x = 1;` + fetchText, "tsconfig.json": `{"extends": "./base.json"}`},
			func(t *testing.T, c *confineCase) { c.symlink(t, "/dev/zero", "base.json") }, "under /dev"},
		{"tsconfig extends a FIFO in a package", map[string]string{"src/worker.js": `const x = 1;` + fetchText, "tsconfig.json": `{
  // a comment, and a trailing comma
  "extends": "@tsconfig/base/tsconfig.json",
}`},
			func(t *testing.T, c *confineCase) { c.fifo(t, "node_modules/@tsconfig/base/tsconfig.json") }, "named pipe"},
		{"package main's folder holds a FIFO package.json", map[string]string{
			"src/worker.js":                  `import { x } from "pkg";` + fetchText,
			"node_modules/pkg/package.json":  `{"name":"pkg","main":"dist/index.js"}`,
			"node_modules/pkg/dist/index.js": "export const x = 1;\n",
		}, func(t *testing.T, c *confineCase) { c.fifo(t, "node_modules/pkg/dist/package.json") }, "named pipe"},
		{"exports target's folder holds a FIFO package.json", map[string]string{
			"src/worker.js":                            `import { x } from "@scope/pkg/sub";` + fetchText,
			"node_modules/@scope/pkg/package.json":     `{"name":"@scope/pkg","exports":{"./sub":{"workerd":"./esm/sub/index.js","default":"./cjs/sub.js"}}}`,
			"node_modules/@scope/pkg/esm/sub/index.js": "export const x = 1;\n",
		}, func(t *testing.T, c *confineCase) { c.fifo(t, "node_modules/@scope/pkg/esm/sub/package.json") }, "named pipe"},
		{"yarn pnp manifest FIFO", map[string]string{"src/worker.js": `const x = 1;` + fetchText},
			func(t *testing.T, c *confineCase) { c.fifo(t, ".pnp.data.json") }, "named pipe"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newConfineCase(t, tc.files)
			tc.setup(t, c)
			res, err := c.bundle(t, "src/worker.js")
			wantRefused(t, res, err, tc.want)
		})
	}
}

func TestConfineRefusesHostileSourceMaps(t *testing.T) {
	for name, mapJSON := range map[string]string{
		"map names /proc/self/environ":     `{"version":3,"sources":["/proc/self/environ"],"mappings":"AAAA"}`,
		"map names a file out of the tree": `{"version":3,"sources":["../../../elsewhere/secret.txt"],"mappings":"AAAA"}`,
		"map names a FIFO":                 `{"version":3,"sourceRoot":"../","sources":["pipe.js"],"mappings":"AAAA"}`,
	} {
		t.Run(name, func(t *testing.T) {
			c := newConfineCase(t, map[string]string{
				"src/worker.js":      `import { x } from "./lib/dep.js";` + fetchText,
				"src/lib/dep.js":     "export const x = 1;\n//# sourceMappingURL=dep.js.map\n",
				"src/lib/dep.js.map": mapJSON,
			})
			c.fifo(t, "src/pipe.js")
			res, err := c.bundle(t, "src/worker.js")
			wantRefused(t, res, err)
		})
	}
	t.Run("comment names /dev/zero", func(t *testing.T) {
		c := newConfineCase(t, map[string]string{
			"src/worker.js": "const x = 1;\n//# sourceMappingURL=file:///dev/zero" + fetchText,
		})
		res, err := c.bundle(t, "src/worker.js")
		wantRefused(t, res, err, "under /dev")
	})
	t.Run("data URL module's comment names /dev/zero", func(t *testing.T) {
		c := newConfineCase(t, map[string]string{
			"src/worker.js": `import "data:text/javascript,export%20default%201;%0A//%23%20sourceMappingURL=file:///dev/zero";` + "\nconst x = 1;" + fetchText,
		})
		res, err := c.bundle(t, "src/worker.js")
		wantRefused(t, res, err, "under /dev")
	})
	t.Run("inline map names /proc/self/environ", func(t *testing.T) {
		c := newConfineCase(t, map[string]string{
			"src/worker.js": "const x = 1;\n//# sourceMappingURL=data:application/json;base64,eyJ2ZXJzaW9uIjozLCJzb3VyY2VzIjpbIi9wcm9jL3NlbGYvZW52aXJvbiJdLCJtYXBwaW5ncyI6IkFBQUEifQ==" + fetchText,
		})
		res, err := c.bundle(t, "src/worker.js")
		wantRefused(t, res, err, "under /proc")
	})
}

func TestConfineRefusesUnknownImportAttributes(t *testing.T) {
	c := newConfineCase(t, map[string]string{
		"src/worker.js": `import x from "./a.txt" with { type: "css" };` + "\n" +
			`import y from "./b.txt" with { mode: "x" };` + fetchText,
		"src/a.txt": "a", "src/b.txt": "b",
	})
	_, err := c.bundle(t, "src/worker.js")
	if err == nil || !strings.Contains(err.Error(), `Importing with a type attribute of "css" is not supported`) ||
		!strings.Contains(err.Error(), `Importing with the "mode" attribute is not supported`) {
		t.Errorf("err = %v; want esbuild's refusals of unknown attributes", err)
	}
}

// The refusals must not cost the projects that follow the rules anything.
func TestConfineBundlesProjectsThatFollowTheRules(t *testing.T) {
	c := newConfineCase(t, map[string]string{
		"src/worker.js": `import { greet } from "./lib/greet.ts";
import banner from "./banner.txt" with { type: "text" };
import config from "./config.json" with { type: "json" };
import plain from "./plain.json";
import bytes from "./logo.bin" with { type: "bytes" };
import { where } from "dual";
import { deep } from "@scope/pkg/deep";
import { linked } from "./linked.js";
import { mapped } from "./lib/mapped.js";
import { aliased } from "@app/aliased";
export default { fetch() { return new Response([greet(), banner, config.name, plain.size, bytes.length, where, deep, linked, mapped, aliased].join(" ")); } };
`,
		"src/lib/greet.ts":   `export const greet = (): string => "hello-from-ts";` + "\n",
		"src/banner.txt":     "banner-text",
		"src/config.json":    `{"name": "config-name"}`,
		"src/plain.json":     `{"size": 42}`,
		"src/logo.bin":       "\x89PNG",
		"src/real/linked.js": `export const linked = "linked-inside";` + "\n",
		// A chained source map inside the project, with a source esbuild fills in.
		"src/lib/mapped.js":                    "export const mapped = \"mapped-value\";\n//# sourceMappingURL=mapped.js.map\n",
		"src/lib/mapped.js.map":                `{"version":3,"sources":["../orig/mapped.ts"],"names":[],"mappings":"AAAA"}`,
		"src/orig/mapped.ts":                   "export const mapped: string = \"mapped-value\";\n",
		"src/aliases/aliased.js":               `export const aliased = "aliased-value";` + "\n",
		"tsconfig.json":                        `{"extends": "./tsconfig.base.json", "compilerOptions": {"paths": {"@app/*": ["./src/aliases/*"]}}}`,
		"tsconfig.base.json":                   `{"compilerOptions": {"strict": true}}`,
		"package.json":                         `{"name": "project", "private": true}`,
		"node_modules/dual/package.json":       `{"name":"dual","exports":{".":{"workerd":"./workerd.js","default":"./node.js"}}}`,
		"node_modules/dual/workerd.js":         "export const where = \"workerd-build\";\n",
		"node_modules/dual/node.js":            "export const where = \"node-build\";\n",
		"node_modules/@scope/pkg/package.json": `{"name":"@scope/pkg","exports":{"./deep":"./dist/deep.js"}}`,
		"node_modules/@scope/pkg/dist/deep.js": "export const deep = \"deep-export\";\n",
	})
	c.symlink(t, c.path("src/real/linked.js"), "src/linked.js")
	res, err := c.bundle(t, "src/worker.js")
	if err != nil {
		t.Fatalf("a project that follows the rules: %v", err)
	}
	for _, want := range []string{"hello-from-ts", "banner-text", "config-name", "42", "workerd-build", "deep-export", "linked-inside", "mapped-value", "aliased-value"} {
		if !strings.Contains(string(res.Code), want) {
			t.Errorf("bundle lacks %q", want)
		}
	}
	if !strings.Contains(string(res.SourceMap), "orig/mapped.ts") {
		t.Errorf("the chained source map was not followed:\n%s", res.SourceMap)
	}

	// The same bundle without an explicit tree: the entry's folder has no .git, so the tree is
	// the folder of the entry (src), and ../node_modules lies outside it.
	if _, err := Bundle(context.Background(), Options{Entry: c.path("src/worker.js")}); err == nil || !strings.Contains(err.Error(), "lies outside the project") {
		t.Errorf("bundle with the entry's own tree: %v; want node_modules refused", err)
	}
}

// A monorepo: the spec of apps/api imports ../../packages/lib, inside the folder holding .git.
func TestConfineAllowsAMonorepoInsideTheGitRoot(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, root, map[string]string{
		".git/HEAD":                 "ref: refs/heads/main\n",
		"apps/api/src/worker.js":    `import { x } from "../../../packages/lib/x.js";` + fetchText,
		"packages/lib/x.js":         `export const x = "from-the-monorepo";` + "\n",
		"packages/lib/package.json": `{"name":"lib","type":"module"}`,
	})
	entry := filepath.Join(root, "apps/api/src/worker.js")
	tree, err := confined.ProjectTree(filepath.Join(root, "apps/api/flareform.yaml"))
	if err != nil || tree.Root != root {
		t.Fatalf("tree = %v, %v; want %s", tree, err, root)
	}
	for name, opts := range map[string]Options{"spec's tree": {Entry: entry, Tree: tree}, "no tree": {Entry: entry}} {
		res, err := bundleWithin(t, func(ctx context.Context) (*Result, error) { return Bundle(ctx, opts) })
		if err != nil || !strings.Contains(string(res.Code), "from-the-monorepo") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestConfineSyntaxErrorsDoNotQuoteSecrets(t *testing.T) {
	const secret = "sk_live_4eC39HqLyjWDarjtT1zdp7dcAbCdEfGh" // 40 characters
	cases := map[string]string{
		"string literal": "const key = \"x\" \"" + secret + "\";\n",
		"identifier":     "const key = 1 " + secret + ";\n",
		"json":           "",
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			files := map[string]string{"src/worker.js": "// line 1\n" + src + "export default {};\n"}
			line, col := 2, 17
			if name == "identifier" {
				col = 15
			}
			if name == "json" {
				files["src/worker.js"] = `import c from "./config.json";` + "\nexport default { c };\n"
				files["src/config.json"] = "{\n  \"a\": 1 \"" + secret + "\"\n}\n"
				line, col = 2, 10
			}
			c := newConfineCase(t, files)
			_, err := c.bundle(t, "src/worker.js")
			var be *Error
			if !errors.As(err, &be) {
				t.Fatalf("err = %v; want a bundle error", err)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), secret[:16]) {
				t.Errorf("the error quotes the secret:\n%s", err)
			}
			file := "src/worker.js"
			if name == "json" {
				file = "src/config.json"
			}
			c.wantAt(t, be, file, line, col)
		})
	}
}

func TestRedactorKeepsWhatIsNoSourceText(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{"src/lib/long-file-name.js": "export const handleRequestWithCache = 1;\n"})
	r := &redactor{workDir: dir, sources: []string{"export const handleRequestWithCache = 1;\nconst q = \"sk_live_4eC39HqLyjWDarjtT1zdp7dc\""}}
	for in, want := range map[string]string{
		`Expected ";" but found "\"sk_live_4eC39HqLyjWDarjtT1zdp7dc\""`: `Expected ";" but found a string literal`,
		`Expected ";" but found "sk_live_4eC39HqLyjWDarjtT1zdp7dc"`:     `Expected ";" but found an identifier`,
		"Unexpected \"`a template literal that runs long`\"":            "Unexpected a template literal",
		`Unexpected "x"`: `Unexpected "x"`,
		`Could not resolve "./missing-helper.js"`:                                               `Could not resolve "./missing-helper.js"`,
		`Could not resolve "@scope/some-package/sub/path.js"`:                                   `Could not resolve "@scope/some-package/sub/path.js"`,
		`Could not resolve "4eC39HqLyjWDarjtT1zdp7dcAbCdEf"`:                                    `Could not resolve an import path`,
		`No matching export in "src/lib/long-file-name.js" for import "handleRequestWithCache"`: `No matching export in "src/lib/long-file-name.js" for import an identifier`,
		`The symbol handleRequestWithCache has already been declared`:                           `The symbol <redacted> has already been declared`,
		`Unexpected token ABCDEFGHIJ0123456789`:                                                 `Unexpected token <redacted>`,
		`Cannot use "experimentalDecorators" here`:                                              `Cannot use an identifier here`,
	} {
		if got := r.text(in); got != want {
			t.Errorf("text(%s)\n = %s\nwant %s", in, got, want)
		}
	}
}

// The cache reads its inputs through package confined: an input replaced by a FIFO or a link
// to /dev/zero is a miss, and the bundle that follows reports the refusal.
func TestCacheRefusesInputsReplacedByHostileFiles(t *testing.T) {
	for name, replace := range map[string]func(t *testing.T, c *confineCase){
		"fifo":     func(t *testing.T, c *confineCase) { c.fifo(t, "src/lib/greet.js") },
		"dev zero": func(t *testing.T, c *confineCase) { c.symlink(t, "/dev/zero", "src/lib/greet.js") },
		"outside": func(t *testing.T, c *confineCase) {
			c.symlink(t, filepath.Join(c.root, "elsewhere", "secret.txt"), "src/lib/greet.js")
		},
		"fifo dir":  func(t *testing.T, c *confineCase) { c.fifo(t, "src/lib") },
		"fifo pkgj": func(t *testing.T, c *confineCase) { c.fifo(t, "src/package.json") },
	} {
		t.Run(name, func(t *testing.T) {
			c := newConfineCase(t, multiFileWorker)
			cache := NewCache(t.TempDir())
			opts := Options{Entry: c.path("src/worker.js"), Tree: c.tree}
			cachedBundle(t, cache, opts)
			if name == "fifo dir" {
				if err := os.RemoveAll(c.path("src/lib")); err != nil {
					t.Fatal(err)
				}
			} else if name != "fifo pkgj" {
				if err := os.Remove(c.path("src/lib/greet.js")); err != nil {
					t.Fatal(err)
				}
			}
			replace(t, c)
			res, err := bundleWithin(t, func(ctx context.Context) (*Result, error) { return cache.Bundle(ctx, opts) })
			if err == nil {
				t.Fatalf("bundled from %s (%d bytes)", name, len(res.Code))
			}
			if strings.Contains(err.Error(), outsideSecret) {
				t.Errorf("error shows the outside file:\n%s", err)
			}
			wantRuns(t, cache, 2, "the hostile input is a miss")
		})
	}
}

func TestParseTSConfigIsLenient(t *testing.T) {
	for in, want := range map[string]string{
		`{"extends": "./a.json", "compilerOptions": {"paths": 3}}`:             "./a.json",
		"\xef\xbb\xbf{\n // c\n \"extends\": [\"./a.json\", \"pkg/b\",],\n}":   "./a.json pkg/b",
		`{"extends": "./a.json" "compilerOptions": {}}`:                        "./a.json",
		`{"compilerOptions": {"baseUrl": ".", "paths": {"@/*": ["./src/*"]}}}`: "",
	} {
		cfg := parseTSConfig([]byte(in))
		if got := strings.Join(cfg.extends, " "); got != want {
			t.Errorf("extends of %q = %q; want %q", in, got, want)
		}
	}
}
