package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// importFixtureSecrets are the secret-looking values of testdata/import: no output may hold them.
var importFixtureSecrets = []string{"FIXTUREcanary", "r8_FIXTURE", "whsec_FIXTURE", "sk-FIXTURE"}

// copyImportFixture copies testdata/import/<name> (a wrangler config and its worker) into a
// temp dir, with the wrangler config's text edited by edit (nil: as it is), and returns the
// config's path there.
func copyImportFixture(t *testing.T, name, config string, edit func(string) string) string {
	t.Helper()
	from := filepath.Join("..", "..", "testdata", "import", name)
	dir := filepath.Join(t.TempDir(), name)
	for _, file := range []string{config, filepath.Join("src", "index.js")} {
		data, err := os.ReadFile(filepath.Join(from, file))
		if err != nil {
			t.Fatal(err)
		}
		if file == config && edit != nil {
			data = []byte(edit(string(data)))
		}
		makeDirs(t, filepath.Dir(filepath.Join(dir, file)))
		writeTestFile(t, filepath.Join(dir, file), string(data))
	}
	return filepath.Join(dir, config)
}

// assertNoFixtureSecret fails when any output of c or the written spec holds a fixture secret.
func assertNoFixtureSecret(t *testing.T, c *cli, specPath string) {
	t.Helper()
	spec, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range importFixtureSecrets {
		for _, out := range append(c.transcript, string(spec)) {
			if strings.Contains(out, v) {
				t.Errorf("a secret's value (%s...) is in the output or the spec:\n%s", v, out)
			}
		}
	}
}

// Without credentials import carries R2, D1 and the secret-looking vars over, leaves the KV
// namespaces out (their titles unknown) and says how to add them, in text and in JSON.
func TestImportStorageFixturesWithoutCredentials(t *testing.T) {
	c := newCLI(t, map[string]string{})
	toml := copyImportFixture(t, "imagine", "wrangler.toml", nil)
	specPath := filepath.Join(filepath.Dir(toml), "flareform.yaml")
	r := c.mustRun(exitOK, "import", toml)
	for _, want := range []string{
		"Wrote " + specPath,
		"Not carried over or not resolved",
		"  - kv_namespaces.CACHE: not resolved, left out of the spec: the title of KV namespace 0f2ac74b498b48028cb68387c421e279 is unknown: CLOUDFLARE_API_TOKEN is not set",
		"  - durable_objects: flareform manages no Durable Objects",
		"  note: vars.REPLICATE_API_TOKEN: its name says it is a secret",
		"export REPLICATE_API_TOKEN=<its value> before `flareform apply`",
		"export WEBHOOK_SECRET=<its value> before `flareform apply --env staging`",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("import output lacks %q:\n%s", want, r.stdout)
		}
	}
	spec, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"    secrets:\n      REPLICATE_API_TOKEN: \"env:REPLICATE_API_TOKEN\"\n      WEBHOOK_SECRET: \"env:WEBHOOK_SECRET\"\n",
		"    # kv:\n    #   CACHE: <title of KV namespace 0f2ac74b498b48028cb68387c421e279>\n",
		"    r2:\n      IMAGES: imagine-images\n    d1:\n      DB: imagine-meta\n",
	} {
		if !strings.Contains(string(spec), want) {
			t.Errorf("spec lacks\n%s\nin\n%s", want, spec)
		}
	}
	assertNoFixtureSecret(t, c, specPath)

	// The spec validates once the secrets' variables are exported.
	c.env = map[string]string{"REPLICATE_API_TOKEN": "exported-replicate-token-0123456789", "WEBHOOK_SECRET": "exported-webhook-secret-0123456789"}
	c.mustRun(exitOK, "validate", "-f", specPath)
	c.mustRun(exitOK, "validate", "-f", specPath, "--env", "staging")

	// wrangler.jsonc, with --json: the same report, by the import schema.
	c.env = map[string]string{}
	jsonc := copyImportFixture(t, "ask-docs", "wrangler.jsonc", nil)
	doc := assertJSONShape(t, jsonSchemas(t), "import", c.mustRun(exitOK, "import", jsonc, "--json"), "import --json")
	if got := strings.Join(stringsOf(doc["secret_vars"]), ","); got != "vars.DB_PASSWORD,vars.OPENAI_API_KEY,env.production.vars.OPENAI_API_KEY" {
		t.Errorf("secret_vars = %s", got)
	}
	notCarried := strings.Join(stringsOf(doc["not_carried"]), "\n")
	for _, want := range []string{"kv_namespaces.ANSWERS: not resolved", "r2_buckets.DOCS_EU: the bucket ask-docs-uploads-eu is in the \"eu\" jurisdiction",
		"d1_databases.DB.migrations_dir: flareform applies no D1 migrations", "queues: flareform manages no Queues"} {
		if !strings.Contains(notCarried, want) {
			t.Errorf("not_carried lacks %q:\n%s", want, notCarried)
		}
	}
	assertNoFixtureSecret(t, c, filepath.Join(filepath.Dir(jsonc), "flareform.yaml"))
}

func stringsOf(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, item := range list {
		s, _ := item.(string)
		out = append(out, s)
	}
	return out
}

// With credentials import asks the API for each KV namespace's title by its id, in the
// config's account, with the token, reading only; one it cannot find is noted, not guessed.
func TestImportResolvesKVTitlesThroughTheAPI(t *testing.T) {
	const token = "import-test-token-0123456789abcdef"
	var mu sync.Mutex
	var asked []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.Method+" "+r.URL.Path)
		mu.Unlock()
		if isWrite(r.Method) || r.Header.Get("Authorization") != "Bearer "+token {
			t.Errorf("API request %s %s (authorization %t)", r.Method, r.URL.Path, r.Header.Get("Authorization") == "Bearer "+token)
		}
		titles := map[string]string{
			"/accounts/0123456789abcdef0123456789abcdef/storage/kv/namespaces/0f2ac74b498b48028cb68387c421e279": "imagine-cache",
		}
		w.Header().Set("Content-Type", "application/json")
		if title, ok := titles[r.URL.Path]; ok {
			json.NewEncoder(w).Encode(map[string]any{"success": true, "errors": []any{}, "messages": []any{},
				"result": map[string]any{"id": filepath.Base(r.URL.Path), "title": title, "supports_url_encoding": true}})
			return
		}
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"success":false,"errors":[{"code":10013,"message":"get namespace: 'namespace not found'"}],"messages":[],"result":null}`))
	}))
	t.Cleanup(api.Close)

	c := newCLI(t, map[string]string{envAPIToken: token, envAPIBaseURL: api.URL})
	toml := copyImportFixture(t, "imagine", "wrangler.toml", nil)
	r := c.mustRun(exitOK, "import", toml)
	spec, err := os.ReadFile(filepath.Join(filepath.Dir(toml), "flareform.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(spec), "    kv:\n      CACHE: imagine-cache\n") {
		t.Errorf("the base namespace's title is not in the spec:\n%s", spec)
	}
	want := "  - env.staging.kv_namespaces.CACHE: not resolved, left out of the spec: the title of KV namespace a1b2c3d4e5f60718293a4b5c6d7e8f90 is unknown: " +
		"account 0123456789abcdef0123456789abcdef has no KV namespace of that id"
	if !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "this environment binds the base worker's CACHE: imagine-cache, the wrong namespace") {
		t.Errorf("import output lacks\n%s\nin\n%s", want, r.stdout)
	}
	mu.Lock()
	if len(asked) != 2 {
		t.Errorf("API requests %v, want one GET per namespace", asked)
	}
	mu.Unlock()
	for _, out := range append(c.transcript, string(spec)) {
		if strings.Contains(out, token) {
			t.Errorf("the API token is in the output or the spec")
		}
	}
	assertNoFixtureSecret(t, c, filepath.Join(filepath.Dir(toml), "flareform.yaml"))

	// No account in the config nor the environment: nothing is asked, the reason is noted.
	mu.Lock()
	asked = nil
	mu.Unlock()
	jsonc := copyImportFixture(t, "ask-docs", "wrangler.jsonc", nil)
	r = c.mustRun(exitOK, "import", jsonc)
	if !strings.Contains(r.stdout, "kv_namespaces.ANSWERS: not resolved, left out of the spec: the title of KV namespace 7c9e6679742540de944be07fc1f90ae7 is unknown: "+
		"no account: the wrangler config has no account_id and CLOUDFLARE_ACCOUNT_ID is not set") {
		t.Errorf("import output does not say the account is missing:\n%s", r.stdout)
	}
	mu.Lock()
	if len(asked) != 0 {
		t.Errorf("API requests without an account: %v", asked)
	}
	mu.Unlock()
}

// The KV title comes from the local Cloudflare, as it would from Cloudflare: a namespace created
// there is found by its id, and the imported spec binds it by its title.
func TestImportResolvesKVTitleThroughLocalCloudflare(t *testing.T) {
	srv, env := startStandalone(t)
	var created struct {
		Result struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"result"`
	}
	body, _ := json.Marshal(map[string]string{"title": "imagine-answers-cache"})
	req, err := http.NewRequest(http.MethodPost, srv.APIBaseURL()+"/accounts/"+srv.AccountID()+"/storage/kv/namespaces", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+srv.Token())
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(res.Body).Decode(&created)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK || created.Result.ID == "" {
		t.Fatalf("create a KV namespace in the local Cloudflare: status %d, %v, %+v", res.StatusCode, err, created)
	}

	// The fixture, with the local namespace's id and no account_id (CLOUDFLARE_ACCOUNT_ID
	// names the local account).
	toml := copyImportFixture(t, "imagine", "wrangler.toml", func(s string) string {
		s = strings.Replace(s, "0f2ac74b498b48028cb68387c421e279", created.Result.ID, 1)
		return strings.Replace(s, "account_id = \"0123456789abcdef0123456789abcdef\"\n", "", 1)
	})
	c := newCLI(t, env)
	r := c.mustRun(exitOK, "import", toml, "--json")
	specPath := filepath.Join(filepath.Dir(toml), "flareform.yaml")
	spec, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(spec), "    kv:\n      CACHE: imagine-answers-cache\n") {
		t.Errorf("the local namespace's title is not in the spec:\n%s\n%s", spec, r.stdout)
	}
	if strings.Contains(r.stdout, `"kv_namespaces.CACHE: not resolved`) {
		t.Errorf("the base namespace is reported unresolved:\n%s", r.stdout)
	}

	// The imported spec applies: the namespace is bound as it is, the bucket and the database
	// are created, the secrets come from the environment; a plan after it has nothing to do.
	secrets := map[string]string{"REPLICATE_API_TOKEN": "exported-replicate-token-0123456789", "WEBHOOK_SECRET": "exported-webhook-secret-0123456789"}
	for k, v := range secrets {
		c.env[k] = v
	}
	r = c.mustRun(exitOK, "-f", specPath, "apply", "--auto-approve")
	for _, want := range []string{"r2_bucket imagine-images: create", "d1_database imagine-meta: create", "secrets.WEBHOOK_SECRET: (sensitive, new)"} {
		if !strings.Contains(r.stdout+r.stderr, want) {
			t.Errorf("apply output lacks %q:\n%s\n%s", want, r.stdout, r.stderr)
		}
	}
	c.mustRun(exitOK, "-f", specPath, "plan", "--detailed-exitcode")

	// The imported worker runs with what import bound: the first request draws, keeps the
	// picture in R2, marks it in KV and records it in D1; the same prompt again is served from
	// R2 through the KV mark.
	for i, want := range []string{"miss", "hit"} {
		status, header, body := postWorker(t, srv.WorkersDevAddr(), "imagine."+srv.Subdomain()+".workers.dev", `{"prompt":"a robot"}`)
		if status != http.StatusOK || header.Get("Content-Type") != "image/png" || header.Get("X-Cache") != want || len(body) == 0 {
			t.Errorf("request %d: status %d, content type %q, x-cache %q (want %s): %.200s", i+1, status, header.Get("Content-Type"), header.Get("X-Cache"), want, body)
		}
	}
	assertNoFixtureSecret(t, c, specPath)
	for _, out := range c.transcript {
		for _, v := range secrets {
			if strings.Contains(out, v) {
				t.Errorf("an exported secret's value is in the output:\n%s", out)
			}
		}
	}
}

// postWorker POSTs body to the worker host serves on the local workers.dev address addr.
func postWorker(t *testing.T, addr, host, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+addr+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", host, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, data
}
