package importer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flareform/flareform/provision/spec"
)

const wranglerTOML = `name = "imagine"
main = "src/index.js"
compatibility_date = 2025-06-01
compatibility_flags = ["nodejs_compat"]
workers_dev = true
account_id = "0123456789abcdef0123456789abcdef"

[vars]
STYLE = "watercolour"
MAX_PROMPT_CHARS = 500
AI_MODEL = "@cf/bytedance/stable-diffusion-xl-lightning"

[ai]
binding = "AI"

[[kv_namespaces]]
binding = "CACHE"
id = "abc"

[env.staging]
name = "imagine-staging"
routes = ["staging.example.com/*"]

[env.staging.vars]
STYLE = "pencil"

[env.staging.ai]
binding = "AI"
`

const wranglerJSONC = `// wrangler.jsonc with comments, trailing commas and a // inside a string
{
  "$schema": "node_modules/wrangler/config-schema.json",
  "name": "imagine", /* the script */
  "main": "./src/index.js",
  "compatibility_date": "2025-06-01",
  "vars": { "URL": "https://example.com/a,}", },
  "ai": { "binding": "AI", },
  "d1_databases": [ { "binding": "DB", "database_id": "x" }, ],
  "env": { "production": { "workers_dev": false, }, },
}
`

// load writes the converted spec and loads it with the real loader, so the importer's output
// is checked by the same code that reads user specs.
func load(t *testing.T, out []byte, env string) *spec.Spec {
	t.Helper()
	return loadWith(t, out, env, func(string) string { return "" })
}

// loadWith is load with the environment getenv (the variables the spec's secrets name).
func loadWith(t *testing.T, out []byte, env string, getenv func(string) string) *spec.Spec {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "src"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "src", "index.js"), []byte("export default { fetch() { return new Response('ok'); } };\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "flareform.yaml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := spec.Load(path, env, getenv)
	if err != nil {
		t.Fatalf("imported spec does not load: %v\n%s", err, out)
	}
	return s
}

func TestConvertTOML(t *testing.T) {
	res, err := Convert("wrangler.toml", []byte(wranglerTOML), Options{Model: "@cf/unused", Today: "2025-07-01", SchemaURL: spec.SchemaURL})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(res.Spec), "# yaml-language-server: $schema="+spec.SchemaURL+"\n") {
		t.Errorf("spec does not start with the schema line:\n%s", res.Spec)
	}
	s := load(t, res.Spec, "")
	w := s.Workers[0]
	if s.Project != "imagine" || w.Name != "imagine" || !strings.HasSuffix(w.Main, "/src/index.js") || w.CompatibilityDate != "2025-06-01" {
		t.Errorf("base worker = project %q, %+v", s.Project, w)
	}
	if s.AccountID != "0123456789abcdef0123456789abcdef" || !w.WorkersDev || len(w.CompatibilityFlags) != 1 || w.CompatibilityFlags[0] != "nodejs_compat" {
		t.Errorf("account %q, workers_dev %t, flags %v", s.AccountID, w.WorkersDev, w.CompatibilityFlags)
	}
	if w.AI == nil || w.AI.Binding != "AI" || w.AI.Model != "@cf/bytedance/stable-diffusion-xl-lightning" {
		t.Errorf("ai = %+v, want binding AI with the AI_MODEL var's model", w.AI)
	}
	if w.Vars["STYLE"] != "watercolour" || w.Vars["MAX_PROMPT_CHARS"] != "500" {
		t.Errorf("vars = %v", w.Vars)
	}

	staging := load(t, res.Spec, "staging").Workers[0]
	if staging.Name != "imagine-staging" || staging.Vars["STYLE"] != "pencil" {
		t.Errorf("staging = %s %v", staging.Name, staging.Vars)
	}
	for _, want := range []string{"kv_namespaces.CACHE: not resolved, left out of the spec: its id \"abc\" is not a KV namespace id",
		"env.staging.routes: flareform deploys to workers.dev only"} {
		if !containsPrefix(res.NotCarried, want) {
			t.Errorf("not carried %q missing from %v", want, res.NotCarried)
		}
	}
	if !containsPrefix(res.Notes, "vars.MAX_PROMPT_CHARS: a int64") {
		t.Errorf("notes %v lack the number var", res.Notes)
	}
}

func TestConvertJSONC(t *testing.T) {
	res, err := Convert("wrangler.jsonc", []byte(wranglerJSONC), Options{Model: "@cf/black-forest-labs/flux-1-schnell", Today: "2025-07-01"})
	if err != nil {
		t.Fatal(err)
	}
	s := load(t, res.Spec, "")
	w := s.Workers[0]
	if w.Vars["URL"] != "https://example.com/a,}" || w.AI == nil || w.AI.Model != "@cf/black-forest-labs/flux-1-schnell" || !w.WorkersDev {
		t.Errorf("worker = %+v", w)
	}
	if prod := load(t, res.Spec, "production").Workers[0]; prod.WorkersDev || prod.Name != "imagine-production" {
		t.Errorf("production = %s workers_dev %t; want imagine-production off", prod.Name, prod.WorkersDev)
	}
	if !containsPrefix(res.NotCarried, "d1_databases.DB: has no database_name") || containsPrefix(res.NotCarried, "$schema") {
		t.Errorf("not carried = %v", res.NotCarried)
	}
	if !containsPrefix(res.Notes, "ai: wrangler names no model") {
		t.Errorf("notes %v do not say where the model came from", res.Notes)
	}
}

func TestStripJSONC(t *testing.T) {
	for in, want := range map[string]string{
		`{"a": 1,}`:                  `{"a": 1 }`,
		`[1, 2, /* c */ ]`:           `[1, 2          ]`,
		"{\"a\": \"//x\" // c\n}":    "{\"a\": \"//x\"     \n}",
		`{"s": "a\",}", "t": [1,],}`: `{"s": "a\",}", "t": [1 ] }`,
	} {
		got, err := stripJSONC([]byte(in))
		if err != nil || string(got) != want {
			t.Errorf("stripJSONC(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := stripJSONC([]byte(`{"a": "open`)); err == nil {
		t.Error("an unterminated string was accepted")
	}
}

func TestConvertRefusesWhatIsNotAWorker(t *testing.T) {
	for name, src := range map[string]string{
		"wrangler.toml": `main = "src/index.js"`,
		"wrangler.json": `{"name": "x"}`,
		"wrangler.yaml": `name: x`,
	} {
		if _, err := Convert(name, []byte(src), Options{}); err == nil {
			t.Errorf("%s %q converted", name, src)
		}
	}
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
