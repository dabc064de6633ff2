package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flareform/flareform/provision/spec"
	"github.com/flareform/flareform/templates"
)

const importedWorker = `export default {
  async fetch(request, env) {
    if (request.method !== "POST") return new Response("POST a prompt", { status: 405 });
    const { prompt } = await request.json();
    const image = await env.AI.run(env.AI_MODEL, { prompt: env.STYLE + " " + prompt });
    return new Response(image, { headers: { "content-type": "image/png" } });
  },
};
`

const importedWranglerTOML = `name = "imagine"
main = "src/index.js"
compatibility_date = "2025-06-01"

[vars]
STYLE = "watercolour"

[ai]
binding = "AI"

[[r2_buckets]]
binding = "IMAGES"
bucket_name = "images"

[env.staging]
[env.staging.vars]
STYLE = "pencil"
`

// A wrangler project imports into a spec that deploys as it is: apply --local serves a PNG.
func TestImportWranglerTOMLThenApplyLocalServesPNG(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"wrangler.toml": importedWranglerTOML, "src/index.js": importedWorker} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := newCLI(t, map[string]string{})
	r := c.mustRun(0, "import", filepath.Join(dir, "wrangler.toml"))
	specPath := filepath.Join(dir, "flareform.yaml")
	for _, want := range []string{"Wrote " + specPath, "ai: wrangler names no model"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("import output lacks %q:\n%s", want, r.stdout)
		}
	}
	if b, err := os.ReadFile(specPath); err != nil || !strings.Contains(string(b), "    r2:\n      IMAGES: images\n") {
		t.Errorf("the R2 bucket is not carried over (%v):\n%s", err, b)
	}
	// A second import does not overwrite the spec.
	if r := c.mustRun(exitError, "import", filepath.Join(dir, "wrangler.toml")); !strings.Contains(r.stderr, "--force") {
		t.Errorf("second import: %s", r.stderr)
	}
	c.mustRun(0, "validate", "-f", specPath)
	c.mustRun(0, "validate", "-f", specPath, "--env", "staging")

	// The user adds the smoke test wrangler had no notion of; everything else is imported.
	indent := "    "
	editFile(t, specPath, indent+"main: ./src/index.js\n", indent+"main: ./src/index.js\n"+indent+"smoke: {prompt: \"a robot\", expect: image/png}\n")

	smokeOut := filepath.Join(t.TempDir(), "smoke")
	c.mustRun(0, "-f", specPath, "--local", "apply", "--auto-approve", "--smoke-out", smokeOut)
	assertPNGIn(t, smokeOut)
}

func TestSchemaCommandPrintsTheCommittedSchema(t *testing.T) {
	c := newCLI(t, map[string]string{})
	r := c.mustRun(0, "schema")
	committed, err := os.ReadFile(filepath.Join("..", "..", "docs", "flareform.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r.stdout != string(committed) || r.stdout != string(spec.JSONSchema()) {
		t.Errorf("flareform schema differs from docs/flareform.schema.json")
	}
}

func TestInitNamesTheSchemaOnTheFirstLine(t *testing.T) {
	c := newCLI(t, map[string]string{})
	for _, tmpl := range append(templates.Names(), templates.Aliases()...) {
		dir := filepath.Join(t.TempDir(), "p")
		c.mustRun(0, "init", dir, "--template", tmpl)
		b, err := os.ReadFile(filepath.Join(dir, "flareform.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(b), "\n")
		if first != "# yaml-language-server: $schema="+spec.SchemaURL {
			t.Errorf("%s: first line %q", tmpl, first)
		}
	}
}
