package importer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/flareform/flareform/provision/spec"
)

// The import fixtures: wrangler configs of Workers AI endpoints that keep pictures in R2, cache
// answers in KV and metadata in D1, with vars that look like secrets.
var fixtures = map[string]string{
	"imagine":  "../testdata/import/imagine/wrangler.toml",
	"ask-docs": "../testdata/import/ask-docs/wrangler.jsonc",
}

// fixtureSecrets are the secret-looking values of the fixtures: no output may hold them.
var fixtureSecrets = []string{
	"r8_FIXTUREcanary0replicate0token0Zq9", "whsec_FIXTUREcanary0webhook0secret0Xw4", "whsec_FIXTUREcanary0staging0secret0Pm2",
	"sk-FIXTUREcanary0openai0key0000000Lm7", "FIXTUREcanary0db0password0Rt5", "sk-FIXTUREcanary0production0key00000Vb3",
	"FIXTUREcanary", // every one of them
}

// kvTitles stands in for the API: the fixtures' namespaces by id.
var kvTitles = map[string]string{
	"0f2ac74b498b48028cb68387c421e279": "imagine-cache",
	"a1b2c3d4e5f60718293a4b5c6d7e8f90": "imagine-cache-staging",
	"7c9e6679742540de944be07fc1f90ae7": "ask-docs-answers",
}

func fakeKV(asked *[]string) KVTitleFunc {
	return func(account, id string) (string, error) {
		*asked = append(*asked, account+"/"+id)
		if title, ok := kvTitles[id]; ok {
			return title, nil
		}
		return "", errors.New("account has no KV namespace of that id")
	}
}

func convertFixture(t *testing.T, name string, opts Options) *Result {
	t.Helper()
	path := fixtures[name]
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	opts.Model, opts.Today = "@cf/unused", "2025-07-01"
	res, err := Convert(path, data, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// yamlWorker decodes the spec's worker (base, or of environment env) as plain YAML: the
// importer's output as the spec parser reads it, key by key.
func yamlWorker(t *testing.T, out []byte, env, worker string) map[string]any {
	t.Helper()
	var doc struct {
		Workers      map[string]map[string]any `yaml:"workers"`
		Environments map[string]struct {
			Workers map[string]map[string]any `yaml:"workers"`
		} `yaml:"environments"`
	}
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("spec is not YAML: %v\n%s", err, out)
	}
	if env == "" {
		return doc.Workers[worker]
	}
	return doc.Environments[env].Workers[worker]
}

// bindingsOf is the spec's secrets, kv, r2 and d1 of w as "key.BINDING=target" lines.
func bindingsOf(w map[string]any) []string {
	var out []string
	for _, key := range []string{"secrets", "kv", "r2", "d1"} {
		m, _ := w[key].(map[string]any)
		for _, b := range sortedKeys(m) {
			out = append(out, key+"."+b+"="+stringOf(m[b]))
		}
	}
	return out
}

// loadFixtureSpec writes the converted spec next to a copy of the fixture's worker and loads it
// with the real loader, with every secret's variable exported.
func loadFixtureSpec(t *testing.T, name string, out []byte, env string) spec.Worker {
	t.Helper()
	code, err := os.ReadFile(filepath.Join(filepath.Dir(fixtures[name]), "src", "index.js"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "src"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "src", "index.js"), code, 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "flareform.yaml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := spec.Load(path, env, func(v string) string { return "exported-" + strings.ToLower(v) + "-0123456789abcdef" })
	if err != nil {
		t.Fatalf("imported spec does not load (env %q): %v\n%s", env, err, out)
	}
	return s.Workers[0]
}

// specBindings is what the loaded worker binds, as bindingsOf writes it.
func specBindings(w spec.Worker) []string {
	var out []string
	for _, s := range w.Secrets {
		out = append(out, "secrets."+s.Binding+"="+s.From+":"+s.Ref)
	}
	for _, k := range []struct {
		key  string
		list []spec.StorageBinding
	}{{"kv", w.KV}, {"r2", w.R2}, {"d1", w.D1}} {
		for _, b := range k.list {
			out = append(out, k.key+"."+b.Binding+"="+b.Name)
		}
	}
	return out
}

func TestImportStorageWithTitlesResolved(t *testing.T) {
	cases := []struct {
		fixture string
		env     string
		want    []string // the spec's bindings as written (an environment: its override)
		loaded  []string // the loaded worker's bindings (an environment: merged over the base)
	}{
		{"imagine", "", []string{
			"secrets.REPLICATE_API_TOKEN=env:REPLICATE_API_TOKEN", "secrets.WEBHOOK_SECRET=env:WEBHOOK_SECRET",
			"kv.CACHE=imagine-cache", "r2.IMAGES=imagine-images", "d1.DB=imagine-meta",
		}, nil},
		{"imagine", "staging", []string{
			"secrets.WEBHOOK_SECRET=env:WEBHOOK_SECRET",
			"kv.CACHE=imagine-cache-staging", "r2.IMAGES=imagine-images-staging", "d1.DB=imagine-meta-staging",
		}, []string{
			"secrets.REPLICATE_API_TOKEN=env:REPLICATE_API_TOKEN", "secrets.WEBHOOK_SECRET=env:WEBHOOK_SECRET",
			"kv.CACHE=imagine-cache-staging", "r2.IMAGES=imagine-images-staging", "d1.DB=imagine-meta-staging",
		}},
		{"ask-docs", "", []string{
			"secrets.DB_PASSWORD=env:DB_PASSWORD", "secrets.OPENAI_API_KEY=env:OPENAI_API_KEY",
			"kv.ANSWERS=ask-docs-answers", "r2.DOCS=ask-docs-uploads", "d1.DB=ask-docs-meta",
		}, nil},
	}
	for _, tc := range cases {
		var asked []string
		res := convertFixture(t, tc.fixture, Options{KVTitle: fakeKV(&asked)})
		got := bindingsOf(yamlWorker(t, res.Spec, tc.env, tc.fixture))
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%s %s: spec binds\n  %v\nwant\n  %v\n%s", tc.fixture, tc.env, got, tc.want, res.Spec)
		}
		loaded := tc.loaded
		if loaded == nil {
			loaded = tc.want
		}
		if got := specBindings(loadFixtureSpec(t, tc.fixture, res.Spec, tc.env)); strings.Join(got, " ") != strings.Join(loaded, " ") {
			t.Errorf("%s %s: loaded worker binds\n  %v\nwant\n  %v", tc.fixture, tc.env, got, loaded)
		}
		if tc.fixture == "imagine" && strings.Join(asked, " ") !=
			"0123456789abcdef0123456789abcdef/0f2ac74b498b48028cb68387c421e279 0123456789abcdef0123456789abcdef/a1b2c3d4e5f60718293a4b5c6d7e8f90" {
			t.Errorf("imagine: titles asked for %v, want each namespace once, in the config's account", asked)
		}
		assertNoSecretIn(t, tc.fixture, res)
	}

	// What stays behind, each with why.
	res := convertFixture(t, "ask-docs", Options{KVTitle: fakeKV(new([]string))})
	for _, want := range []string{
		"r2_buckets.DOCS_EU: the bucket ask-docs-uploads-eu is in the \"eu\" jurisdiction",
		"d1_databases.DB.migrations_dir: flareform applies no D1 migrations",
		"queues: flareform manages no Queues",
		"services: flareform manages no service bindings",
		// production's own namespace is not found: it would bind the base one meanwhile.
		"env.production.kv_namespaces.ANSWERS: not resolved, left out of the spec",
	} {
		if !containsPrefix(res.NotCarried, want) {
			t.Errorf("ask-docs: not carried lacks %q:\n%s", want, strings.Join(res.NotCarried, "\n"))
		}
	}
	if !strings.Contains(strings.Join(res.NotCarried, "\n"), "this environment binds the base worker's ANSWERS: ask-docs-answers, the wrong namespace") {
		t.Errorf("the unresolved production namespace does not warn of the base one it binds meanwhile:\n%s", strings.Join(res.NotCarried, "\n"))
	}
	if !containsPrefix(res.Notes, "env.production.r2_buckets: not set: wrangler gives an environment none of the base r2_buckets") {
		t.Errorf("notes do not say production now binds the base bucket:\n%s", strings.Join(res.Notes, "\n"))
	}
	for _, gone := range []string{"ask-docs-uploads-eu", "c3e0f0a4", "db/migrations"} {
		if strings.Contains(string(res.Spec), gone) {
			t.Errorf("spec holds %q:\n%s", gone, res.Spec)
		}
	}
	res = convertFixture(t, "imagine", Options{KVTitle: fakeKV(new([]string))})
	for _, want := range []string{"durable_objects: flareform manages no Durable Objects", "d1_databases.DB.migrations_dir:"} {
		if !containsPrefix(res.NotCarried, want) {
			t.Errorf("imagine: not carried lacks %q: %v", want, res.NotCarried)
		}
	}
	for _, want := range []string{"kv_namespaces.CACHE.preview_id: wrangler dev's preview namespace", "r2_buckets.IMAGES.preview_bucket_name:"} {
		if !containsPrefix(res.Notes, want) {
			t.Errorf("imagine: notes lack %q: %v", want, res.Notes)
		}
	}
}

// Without credentials no title is known: the KV bindings are left out of the spec (never bound
// to a made-up namespace that apply would create empty), shown as a comment where they belong,
// and listed with how to add them; the rest is carried over and the spec loads.
func TestImportStorageWithoutCredentials(t *testing.T) {
	res := convertFixture(t, "imagine", Options{NoLookup: "CLOUDFLARE_API_TOKEN is not set"})
	w := yamlWorker(t, res.Spec, "", "imagine")
	if _, ok := w["kv"]; ok {
		t.Errorf("an unresolved namespace is in the spec:\n%s", res.Spec)
	}
	want := []string{"secrets.REPLICATE_API_TOKEN=env:REPLICATE_API_TOKEN", "secrets.WEBHOOK_SECRET=env:WEBHOOK_SECRET",
		"r2.IMAGES=imagine-images", "d1.DB=imagine-meta"}
	if got := bindingsOf(w); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("spec binds %v, want %v", got, want)
	}
	for _, comment := range []string{
		"    # kv:\n    #   CACHE: <title of KV namespace 0f2ac74b498b48028cb68387c421e279>\n    r2:\n",
		"        # kv:\n        #   CACHE: <title of KV namespace a1b2c3d4e5f60718293a4b5c6d7e8f90>\n        r2:\n",
	} {
		if !strings.Contains(string(res.Spec), comment) {
			t.Errorf("spec lacks the comment\n%s\nin\n%s", comment, res.Spec)
		}
	}
	for _, where := range []string{"kv_namespaces.CACHE", "env.staging.kv_namespaces.CACHE"} {
		line := ""
		for _, n := range res.NotCarried {
			if strings.HasPrefix(n, where+": ") {
				line = n
			}
		}
		for _, part := range []string{"not resolved, left out of the spec", "CLOUDFLARE_API_TOKEN is not set", "add CACHE: <title> under the worker's kv:",
			"import again with --force"} {
			if !strings.Contains(line, part) {
				t.Errorf("not carried line of %s %q lacks %q", where, line, part)
			}
		}
	}
	assertNoSecretIn(t, "imagine", res)
	if got := specBindings(loadFixtureSpec(t, "imagine", res.Spec, "staging")); !strings.Contains(strings.Join(got, " "), "r2.IMAGES=imagine-images-staging") {
		t.Errorf("staging binds %v", got)
	}

	// A namespace the lookup cannot find, or an id that is none, is noted alike.
	res = convertFixture(t, "ask-docs", Options{KVTitle: func(string, string) (string, error) { return "", errors.New("403 Authentication error (code 10000)") }})
	if !containsPrefix(res.NotCarried, "kv_namespaces.ANSWERS: not resolved, left out of the spec: the title of KV namespace 7c9e6679742540de944be07fc1f90ae7 is unknown: 403 Authentication error") {
		t.Errorf("not carried = %v", res.NotCarried)
	}
	src := "name = \"x\"\nmain = \"src/index.js\"\n[[kv_namespaces]]\nbinding = \"CACHE\"\nid = \"${KV_ID}\"\n[[kv_namespaces]]\nbinding = \"SESSIONS\"\n"
	asked := 0
	res, err := Convert("wrangler.toml", []byte(src), Options{Today: "2025-07-01", KVTitle: func(string, string) (string, error) { asked++; return "t", nil }})
	if err != nil {
		t.Fatal(err)
	}
	if asked != 0 || !containsPrefix(res.NotCarried, `kv_namespaces.CACHE: not resolved, left out of the spec: its id "${KV_ID}" is not a KV namespace id`) ||
		!containsPrefix(res.NotCarried, "kv_namespaces.SESSIONS: not resolved, left out of the spec: it has no id") {
		t.Errorf("asked %d times; not carried = %v", asked, res.NotCarried)
	}
}

// Bindings the spec could not hold are listed, never written: a name that is not an
// identifier or is flareform's, a name used twice, a bucket or database name the spec refuses.
func TestImportStorageRefusesWhatTheSpecCannotHold(t *testing.T) {
	src := `name = "x"
main = "src/index.js"
compatibility_date = "2025-06-01"
[ai]
binding = "AI"
[vars]
STYLE = "plain"
[[r2_buckets]]
binding = "STYLE"
bucket_name = "styles"
[[r2_buckets]]
binding = "USAGE"
bucket_name = "usage-logs"
[[r2_buckets]]
binding = "my-bucket"
bucket_name = "mine"
[[r2_buckets]]
binding = "UPPER"
bucket_name = "Upper_Case"
[[d1_databases]]
binding = "AI"
database_name = "clash"
[[d1_databases]]
binding = "DB"
database_name = "My DB"
[[d1_databases]]
binding = "OK_DB"
database_name = "ok-db"
[[env.staging.r2_buckets]]
binding = "STYLE"
bucket_name = "staging-styles"
[[env.staging.d1_databases]]
binding = "OK_DB"
database_name = "ok-db-staging"
`
	res, err := Convert("wrangler.toml", []byte(src), Options{Today: "2025-07-01", Model: "@cf/black-forest-labs/flux-1-schnell"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"r2_buckets.STYLE: binding name STYLE is already used by vars.STYLE",
		"r2_buckets.USAGE: binding name USAGE is reserved",
		"r2_buckets.my-bucket: binding name my-bucket is not a JavaScript identifier",
		`r2_buckets.UPPER: bucket_name "Upper_Case" is not an R2 bucket name`,
		"d1_databases.AI: binding name AI is already used by ai.binding",
		`d1_databases.DB: database_name "My DB" is not a D1 database name`,
		// An environment keeps the base vars: their names are taken there too.
		"env.staging.r2_buckets.STYLE: binding name STYLE is already used by vars.STYLE",
	} {
		if !containsPrefix(res.NotCarried, want) {
			t.Errorf("not carried lacks %q:\n%s", want, strings.Join(res.NotCarried, "\n"))
		}
	}
	w := load(t, res.Spec, "").Workers[0]
	if got := specBindings(w); strings.Join(got, " ") != "d1.OK_DB=ok-db" {
		t.Errorf("loaded worker binds %v, want only d1.OK_DB=ok-db\n%s", got, res.Spec)
	}
	// The environment's database of the same binding name replaces the base one.
	if got := specBindings(load(t, res.Spec, "staging").Workers[0]); strings.Join(got, " ") != "d1.OK_DB=ok-db-staging" {
		t.Errorf("staging binds %v, want only d1.OK_DB=ok-db-staging\n%s", got, res.Spec)
	}
}

// Values the spec would expand (${VAR}) stay the text they are in wrangler: a KV title and a
// var holding $ load as written.
func TestImportKeepsDollarsLiteral(t *testing.T) {
	src := "name = \"x\"\nmain = \"src/index.js\"\ncompatibility_date = \"2025-06-01\"\n[vars]\nGREETING = \"costs $5, ${HOME} and $$\"\n" +
		"[[kv_namespaces]]\nbinding = \"CACHE\"\nid = \"0f2ac74b498b48028cb68387c421e279\"\n"
	res, err := Convert("wrangler.toml", []byte(src), Options{Today: "2025-07-01",
		KVTitle: func(string, string) (string, error) { return "cache ${HOME} $1", nil }})
	if err != nil {
		t.Fatal(err)
	}
	w := load(t, res.Spec, "").Workers[0]
	if w.Vars["GREETING"] != "costs $5, ${HOME} and $$" || len(w.KV) != 1 || w.KV[0].Name != "cache ${HOME} $1" {
		t.Errorf("vars %v, kv %v; want the text as written\n%s", w.Vars, w.KV, res.Spec)
	}
}

// A config naming more namespaces than MaxKVLookups gets that many lookups, no more.
func TestImportBoundsKVLookups(t *testing.T) {
	src := "name = \"x\"\nmain = \"src/index.js\"\ncompatibility_date = \"2025-06-01\"\n"
	for i := range MaxKVLookups + 10 {
		src += fmt.Sprintf("[[kv_namespaces]]\nbinding = \"NS%d\"\nid = \"%032x\"\n", i, i+1)
	}
	asked := 0
	res, err := Convert("wrangler.toml", []byte(src), Options{Today: "2025-07-01",
		KVTitle: func(_, id string) (string, error) { asked++; return "ns-" + id[24:], nil }})
	if err != nil {
		t.Fatal(err)
	}
	if asked != MaxKVLookups || len(load(t, res.Spec, "").Workers[0].KV) != MaxKVLookups {
		t.Errorf("asked %d times, want %d", asked, MaxKVLookups)
	}
	if !strings.Contains(strings.Join(res.NotCarried, "\n"), fmt.Sprintf("not looked up: import asks for at most %d", MaxKVLookups)) {
		t.Errorf("the namespaces beyond the bound are not reported: %v", res.NotCarried)
	}
}

// assertNoSecretIn fails when the spec or the report of res holds a secret-looking value of the
// fixtures.
func assertNoSecretIn(t *testing.T, fixture string, res *Result) {
	t.Helper()
	all := strings.Join(append(append(append([]string{string(res.Spec)}, res.Notes...), res.NotCarried...), res.SecretVars...), "\n")
	for _, v := range fixtureSecrets {
		if strings.Contains(all, v) {
			t.Errorf("%s: a secret's value %q is in the spec or the report", fixture, v)
		}
	}
}
