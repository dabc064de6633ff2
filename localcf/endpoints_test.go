package localcf

import (
	"bytes"
	"image/png"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
)

func TestWorkersAIOverREST(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	r := c.json(http.MethodPost, "/ai/run/@cf/stabilityai/stable-diffusion-xl-base-1.0", map[string]any{"prompt": "a cat", "width": 256, "height": 384})
	if r.Status != 200 || r.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("SDXL over REST: HTTP %d %s %.200s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	img, err := png.Decode(bytes.NewReader(r.Body))
	if err != nil || img.Bounds().Dx() != 256 || img.Bounds().Dy() != 384 {
		t.Fatalf("SDXL PNG: %v %v", err, img)
	}
	expect(t, c.json(http.MethodPost, "/ai/run/@cf/nobody/no-model", map[string]any{"prompt": "x"}), 400, 5007)
	expect(t, c.json(http.MethodPost, "/ai/run/@cf/stabilityai/stable-diffusion-xl-base-1.0", map[string]any{}), 400, 5006)

	r = c.json(http.MethodPost, "/ai/run/@cf/meta/llama-3.1-8b-instruct-fast", map[string]any{"prompt": "hello"})
	expect(t, r, 200, 0)
	var gen map[string]any
	r.result(t, &gen)
	if _, ok := gen["response"].(string); !ok {
		t.Fatalf("text generation result %v", gen)
	}
	r = c.json(http.MethodPost, "/ai/run/@cf/meta/llama-3.1-8b-instruct-fast", map[string]any{"prompt": "hello", "stream": true})
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/event-stream") || !strings.Contains(string(r.Body), "data: [DONE]") {
		t.Fatalf("stream: HTTP %d %s %.200s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}

	r = c.do(http.MethodGet, "/ai/models/search?search=stable-diffusion-xl-base&per_page=5", "", nil)
	expect(t, r, 200, 0)
	var models []struct {
		Name string `json:"name"`
		Task struct {
			Name string `json:"name"`
		} `json:"task"`
	}
	r.result(t, &models)
	if len(models) == 0 || models[0].Name != "@cf/stabilityai/stable-diffusion-xl-base-1.0" || models[0].Task.Name != "Text-to-Image" {
		t.Fatalf("search result %+v", models)
	}
	if r.Env.ResultInfo["per_page"] != float64(5) || r.Env.ResultInfo["total_count"] == nil {
		t.Fatalf("result_info %v", r.Env.ResultInfo)
	}
	r = c.do(http.MethodGet, "/ai/models/schema?model=@cf/stabilityai/stable-diffusion-xl-base-1.0", "", nil)
	expect(t, r, 200, 0)
	if !strings.Contains(string(r.Env.Result), `"contentType":"image/png"`) {
		t.Fatalf("schema %s", r.Env.Result)
	}
	expect(t, c.do(http.MethodGet, "/ai/models/schema?model=@cf/none/none", "", nil), 400, 5007)
}

// TestRetiredModelOverREST: a model Workers AI retired on 2026-05-30 is still listed by
// ai/models/search, with its planned_deprecation_date property in the catalog's form, and
// running it fails as a model that does not exist does (400, code 5007).
func TestRetiredModelOverREST(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	const retired = "@cf/meta/llama-3.1-8b-instruct"
	r := c.json(http.MethodPost, "/ai/run/"+retired, map[string]any{"prompt": "hello"})
	expect(t, r, 400, 5007)
	if !strings.Contains(string(r.Body), "No such model "+retired+" or task") {
		t.Errorf("retired model error %s", r.Body)
	}
	r = c.do(http.MethodGet, "/ai/models/search?search=llama-3.1-8b-instruct&per_page=50", "", nil)
	expect(t, r, 200, 0)
	var models []struct {
		Name       string `json:"name"`
		Properties []struct {
			PropertyID string `json:"property_id"`
			Value      any    `json:"value"`
		} `json:"properties"`
	}
	r.result(t, &models)
	dates := map[string]any{}
	for _, m := range models {
		for _, p := range m.Properties {
			if p.PropertyID == "planned_deprecation_date" {
				dates[m.Name] = p.Value
			}
		}
	}
	if dates[retired] != "2026-05-30" || dates[retired+"-fast"] != nil {
		t.Errorf("planned_deprecation_date by model %v; want 2026-05-30 on %s only (models %+v)", dates, retired, models)
	}
}

// TestModelSchemaIsThePublishedOne: ai/models/schema serves the schemas the stand-in
// validates against, e.g. SDXL's num_steps with a maximum of 20 and no minimum.
func TestModelSchemaIsThePublishedOne(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	r := c.do(http.MethodGet, "/ai/models/schema?model=@cf/stabilityai/stable-diffusion-xl-base-1.0", "", nil)
	expect(t, r, 200, 0)
	var schema struct {
		Input struct {
			Properties map[string]map[string]any `json:"properties"`
		} `json:"input"`
	}
	r.result(t, &schema)
	steps := schema.Input.Properties["num_steps"]
	if _, hasMin := steps["minimum"]; hasMin || steps["maximum"] != float64(20) || schema.Input.Properties["width"]["minimum"] != float64(256) {
		t.Errorf("SDXL input schema %v", schema.Input.Properties)
	}
	r = c.json(http.MethodPost, "/ai/run/@cf/stabilityai/stable-diffusion-xl-base-1.0", map[string]any{"prompt": "a cat", "width": 256, "height": 256, "num_steps": 0})
	if r.Status != 200 || r.Header.Get("Content-Type") != "image/png" {
		t.Errorf("num_steps 0, which the schema allows: HTTP %d %.200s", r.Status, r.Body)
	}
}

func TestSettingsContentAndListings(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	nsID := c.createKV("settings-kv") // a kv_namespace binding needs its namespace
	meta := defaultMeta(
		map[string]any{"type": "plain_text", "name": "GREETING", "text": "hi"},
		map[string]any{"type": "secret_text", "name": "API_KEY", "text": "settings-secret"},
		map[string]any{"type": "kv_namespace", "name": "KV", "namespace_id": nsID},
	)
	meta["tags"] = []string{"flareform", "ff-bundle-0123456789abcdef"}
	c.mustUpload("app", meta, testWorker("v1"))
	c.enableWorkersDev("app")

	r := c.do(http.MethodGet, "/workers/scripts/app/settings", "", nil)
	expect(t, r, 200, 0)
	if strings.Contains(string(r.Body), "settings-secret") {
		t.Fatal("settings leaked a secret")
	}
	var settings struct {
		Bindings          []map[string]any `json:"bindings"`
		CompatibilityDate string           `json:"compatibility_date"`
		Tags              []string         `json:"tags"`
	}
	r.result(t, &settings)
	if len(settings.Bindings) != 4 || settings.CompatibilityDate != "2025-06-01" || len(settings.Tags) != 2 {
		t.Fatalf("settings %+v", settings)
	}

	// PATCH settings with the bindings as read (secret without value) keeps the secret.
	var patch bytes.Buffer
	patch.WriteString(`{"compatibility_date":"2025-07-01","bindings":[`)
	for i, b := range settings.Bindings {
		if b["name"] == "GREETING" {
			b["text"] = "patched"
		}
		data, _ := jsonMarshal(b)
		if i > 0 {
			patch.WriteString(",")
		}
		patch.Write(data)
	}
	patch.WriteString(`]}`)
	ct, body := multipartBody(t, part{name: "settings", contentType: "application/json", data: patch.Bytes()})
	expect(t, c.do(http.MethodPatch, "/workers/scripts/app/settings", ct, body), 200, 0)
	if env := c.envOf("app"); env["greeting"] != "patched" || env["secret"] != "settings-secret" {
		t.Fatalf("after settings PATCH: %v", env)
	}
	if ids := c.versionIDs("app"); len(ids) != 2 {
		t.Fatalf("settings PATCH made %d versions, want 2", len(ids))
	}

	// Script-level settings are unversioned.
	expect(t, c.json(http.MethodPatch, "/workers/scripts/app/script-settings", map[string]any{"logpush": true, "tags": []string{"x"}}), 200, 0)
	var ss map[string]any
	c.do(http.MethodGet, "/workers/scripts/app/script-settings", "", nil).result(t, &ss)
	if ss["logpush"] != true || len(ss["tags"].([]any)) != 1 {
		t.Fatalf("script-settings %v", ss)
	}
	if ids := c.versionIDs("app"); len(ids) != 2 {
		t.Fatalf("script-settings PATCH made a version")
	}

	// List with a tag filter, and the etag the engine diffs on.
	var list []map[string]any
	c.do(http.MethodGet, "/workers/scripts?tags=x:yes", "", nil).result(t, &list)
	if len(list) != 1 || list[0]["id"] != "app" || list[0]["etag"] == "" {
		t.Fatalf("list with tags=x:yes: %v", list)
	}
	c.do(http.MethodGet, "/workers/scripts?tags=x:no", "", nil).result(t, &list)
	if len(list) != 0 {
		t.Fatalf("list with tags=x:no: %v", list)
	}

	// content/v2 is multipart with cf-entrypoint; PUT content swaps only the code.
	r = c.do(http.MethodGet, "/workers/scripts/app/content/v2", "", nil)
	if r.Status != 200 || r.Header.Get("cf-entrypoint") != "worker.js" {
		t.Fatalf("content/v2: HTTP %d entrypoint %q", r.Status, r.Header.Get("cf-entrypoint"))
	}
	if got := readModule(t, r, "worker.js"); got != testWorker("v1") {
		t.Fatalf("content/v2 module differs: %.100s", got)
	}
	raw := c.do(http.MethodGet, "/workers/scripts/app", "", nil)
	if string(raw.Body) != testWorker("v1") {
		t.Fatalf("raw download: %.100s", raw.Body)
	}
	ct, body = multipartBody(t, metaPart(t, map[string]any{"main_module": "worker.js"}), modulePart("worker.js", testWorker("v3")))
	expect(t, c.do(http.MethodPut, "/workers/scripts/app/content", ct, body), 200, 0)
	if env := c.envOf("app"); env["version"] != "v3" || env["greeting"] != "patched" || env["secret"] != "settings-secret" {
		t.Fatalf("after content PUT: %v", env)
	}

	// The empty listings wrangler reads are well-formed, and so is its KV namespace listing.
	for _, p := range []string{"/workers/tails/by-consumer/app", "/workers/durable_objects/namespaces?per_page=1000&page=1"} {
		r := c.do(http.MethodGet, p, "", nil)
		expect(t, r, 200, 0)
		if string(r.Env.Result) != "[]" {
			t.Fatalf("%s result %s", p, r.Env.Result)
		}
	}
	r = c.do(http.MethodGet, "/storage/kv/namespaces?per_page=100&order=title&direction=asc&page=1", "", nil)
	expect(t, r, 200, 0)
	if want := `[{"id":"` + nsID + `","title":"settings-kv","supports_url_encoding":true}]`; string(r.Env.Result) != want {
		t.Fatalf("KV namespaces %s, want %s", r.Env.Result, want)
	}
}

func readModule(t *testing.T, r *apiResponse, name string) string {
	t.Helper()
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(bytes.NewReader(r.Body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("module %s not in content: %v", name, err)
		}
		if p.FormName() == name {
			data, _ := io.ReadAll(p)
			return string(data)
		}
	}
}

// TestSDKStyleParts: cloudflare-go names file parts files.0 and puts the module in the filename,
// which only the main_module_by_filename reading accepts (TestQuirkMainModule has both).
func TestSDKStyleParts(t *testing.T) {
	srv := startTestServer(t, Options{Quirks: Quirks{MainModuleByFilename: true}})
	c := newClient(t, srv)
	meta := metaPart(t, defaultMeta())
	meta.contentType = "application/json"
	ct, body := multipartBody(t, meta,
		part{name: "files.0", filename: "worker.js", contentType: "application/javascript+module", data: []byte(`import {v} from "./lib.js";` + "\n" + strings.Replace(testWorker("sdk"), `const VERSION = "sdk";`, "const VERSION = v;", 1))},
		part{name: "files.1", filename: "lib.js", contentType: "application/javascript+module", data: []byte(`export const v = "sdk";`)},
	)
	expect(t, c.do(http.MethodPut, "/workers/scripts/sdk", ct, body), 200, 0)
	c.enableWorkersDev("sdk")
	expectServing(t, srv, "sdk", "sdk")
}
