package localcf

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Each test below runs the same requests under the strict default and under the quirk, and
// checks both readings as docs/local-cloudflare.md documents them: the two must differ on at
// least one request, or the switch would not matter.

// readings runs check once strict (Quirks{}) and once with the named quirk on.
func readings(t *testing.T, quirk string, check func(t *testing.T, srv *Server, c *client, lenient bool)) {
	for _, lenient := range []bool{false, true} {
		name := "strict"
		var q Quirks
		if lenient {
			name = quirk
			var err error
			if q, err = QuirksFromNames([]string{quirk}); err != nil {
				t.Fatal(err)
			}
		}
		t.Run(name, func(t *testing.T) {
			srv := startTestServer(t, Options{Quirks: q})
			check(t, srv, newClient(t, srv), lenient)
		})
	}
}

// sdkStyleUpload sends the module as cloudflare-go's encoder does: part "files", module name
// only in the filename.
func (c *client) sdkStyleUpload(name string) *apiResponse {
	c.t.Helper()
	ct, body := multipartBody(c.t, metaPart(c.t, defaultMeta()),
		part{name: "files", filename: "worker.js", contentType: "application/javascript+module", data: []byte(testWorker("sdk"))})
	return c.do(http.MethodPut, "/workers/scripts/"+name, ct, body)
}

func TestQuirkMainModuleByFilename(t *testing.T) {
	readings(t, "main_module_by_filename", func(t *testing.T, srv *Server, c *client, lenient bool) {
		r := c.sdkStyleUpload("sdk")
		if !lenient {
			expect(t, r, http.StatusBadRequest, codeValidation)
			if msg := r.Env.Errors[0].Message; !strings.Contains(msg, `part named "files"`) {
				t.Errorf("refusal %q does not say which part held the file", msg)
			}
			// Part name = main_module is the form every reading accepts, whatever the filename.
			ct, body := multipartBody(t, metaPart(t, defaultMeta()),
				part{name: "worker.js", filename: "bundle.js", contentType: "application/javascript+module", data: []byte(testWorker("v1"))})
			expect(t, c.do(http.MethodPut, "/workers/scripts/named", ct, body), http.StatusOK, 0)
			c.enableWorkersDev("named")
			expectServing(t, srv, "named", "v1")
			return
		}
		expect(t, r, http.StatusOK, 0)
		c.enableWorkersDev("sdk")
		expectServing(t, srv, "sdk", "sdk")
	})
}

// patchSettings sends a settings PATCH (multipart, one `settings` part).
func (c *client) patchSettings(script string, settings map[string]any) *apiResponse {
	c.t.Helper()
	data, err := json.Marshal(settings)
	if err != nil {
		c.t.Fatal(err)
	}
	ct, body := multipartBody(c.t, part{name: "settings", data: data})
	return c.do(http.MethodPatch, "/workers/scripts/"+script+"/settings", ct, body)
}

// bindingNames lists the script's bindings as GET settings shows them.
func (c *client) bindingNames(script string) []string {
	c.t.Helper()
	var s struct {
		Bindings []struct{ Name string } `json:"bindings"`
	}
	r := c.do(http.MethodGet, "/workers/scripts/"+script+"/settings", "", nil)
	expect(c.t, r, http.StatusOK, 0)
	r.result(c.t, &s)
	var names []string
	for _, b := range s.Bindings {
		names = append(names, b.Name)
	}
	slices.Sort(names)
	return names
}

func TestQuirkSettingsBindingsReplace(t *testing.T) {
	readings(t, "settings_bindings_replace", func(t *testing.T, srv *Server, c *client, lenient bool) {
		c.mustUpload("app", defaultMeta(
			map[string]any{"type": "plain_text", "name": "GREETING", "text": "hi"},
			map[string]any{"type": "json", "name": "CFG", "json": 1},
			map[string]any{"type": "secret_text", "name": "API_KEY", "text": "k"},
		), testWorker("v1"))
		c.enableWorkersDev("app")
		// The PATCH names AI and GREETING only.
		expect(t, c.patchSettings("app", map[string]any{"bindings": []map[string]any{
			{"type": "ai", "name": "AI"}, {"type": "plain_text", "name": "GREETING", "text": "changed"},
		}}), http.StatusOK, 0)
		want := []string{"AI", "API_KEY", "CFG", "GREETING"} // merge: CFG survives
		if lenient {
			want = []string{"AI", "API_KEY", "GREETING"} // replace: CFG is gone, secrets survive
		}
		if got := c.bindingNames("app"); !slices.Equal(got, want) {
			t.Errorf("bindings after the PATCH: %v, want %v", got, want)
		}
		if env := c.envOf("app"); env["greeting"] != "changed" || env["secret"] != "k" || (env["cfg"] != nil) != !lenient {
			t.Errorf("worker env after the PATCH: %v", env)
		}
	})
}

// scriptTags reads the script's tags from GET script-settings.
func (c *client) scriptTags(script string) []string {
	c.t.Helper()
	var s struct {
		Tags []string `json:"tags"`
	}
	r := c.do(http.MethodGet, "/workers/scripts/"+script+"/script-settings", "", nil)
	expect(c.t, r, http.StatusOK, 0)
	r.result(c.t, &s)
	return s.Tags
}

func withTags(tags ...string) map[string]any {
	m := defaultMeta()
	m["tags"] = tags
	return m
}

func TestQuirkScriptTagsReplace(t *testing.T) {
	readings(t, "script_tags_replace", func(t *testing.T, srv *Server, c *client, lenient bool) {
		c.mustUpload("app", withTags("a", "b"), testWorker("v1"))
		c.mustUpload("app", withTags("c"), testWorker("v2"))
		want := []string{"a", "b", "c"}
		if lenient {
			want = []string{"c"}
		}
		if got := c.scriptTags("app"); !slices.Equal(got, want) {
			t.Errorf("tags after the second upload: %v, want %v", got, want)
		}
		// Both readings: the script-settings PATCH replaces the tag set, and an upload
		// without tags leaves it alone.
		expect(t, c.json(http.MethodPatch, "/workers/scripts/app/script-settings", map[string]any{"tags": []string{"d"}}), http.StatusOK, 0)
		c.mustUpload("app", defaultMeta(), testWorker("v3"))
		if got := c.scriptTags("app"); !slices.Equal(got, []string{"d"}) {
			t.Errorf("tags after script-settings PATCH and a tagless upload: %v, want [d]", got)
		}
	})
}

func TestQuirkImplicitSecretRetention(t *testing.T) {
	readings(t, "implicit_secret_retention", func(t *testing.T, srv *Server, c *client, lenient bool) {
		c.mustUpload("app", defaultMeta(map[string]any{"type": "secret_text", "name": "API_KEY", "text": "k1"}), testWorker("v1"))
		c.enableWorkersDev("app")
		keep := defaultMeta()
		keep["keep_bindings"] = []string{"secret_text"}
		c.mustUpload("app", keep, testWorker("v2"))
		if env := c.envOf("app"); env["secret"] != "k1" {
			t.Fatalf("keep_bindings [secret_text] must keep the secret in every reading; env %v", env)
		}
		c.mustUpload("app", defaultMeta(), testWorker("v3"))
		env := c.envOf("app")
		if lenient && env["secret"] != "k1" {
			t.Errorf("implicit retention: the secret is gone after an upload without keep_bindings; env %v", env)
		}
		if !lenient && env["secret"] != nil {
			t.Errorf("strict: the secret survived an upload without keep_bindings; env %v", env)
		}
	})
}

func TestQuirkWorkersDevWithoutSubdomain(t *testing.T) {
	readings(t, "workers_dev_without_subdomain", func(t *testing.T, srv *Server, _ *client, lenient bool) {
		account, token, err := srv.AddAccount("")
		if err != nil {
			t.Fatal(err)
		}
		c := &client{t: t, srv: srv, token: token, account: account}
		expect(t, c.do(http.MethodGet, "/workers/subdomain", "", nil), http.StatusNotFound, codeScriptNotFound)
		c.mustUpload("app", defaultMeta(), testWorker("v1"))
		// Turning it off is fine either way.
		expect(t, c.json(http.MethodPost, "/workers/scripts/app/subdomain", map[string]any{"enabled": false}), http.StatusOK, 0)
		r := c.json(http.MethodPost, "/workers/scripts/app/subdomain", map[string]any{"enabled": true})
		if lenient {
			expect(t, r, http.StatusOK, 0)
		} else {
			expect(t, r, http.StatusNotFound, codeScriptNotFound)
			if !strings.Contains(r.Env.Errors[0].Message, "workers/subdomain") {
				t.Errorf("refusal %q does not say how to register a subdomain", r.Env.Errors[0].Message)
			}
		}
		// Registering a subdomain makes enabling work, and the worker reachable under it.
		expect(t, c.json(http.MethodPut, "/workers/subdomain", map[string]any{"subdomain": "late-sub"}), http.StatusOK, 0)
		expect(t, c.do(http.MethodGet, "/workers/subdomain", "", nil), http.StatusOK, 0)
		c.enableWorkersDev("app")
		if status, body, _ := dev(t, srv, "app", "late-sub", "/"); status != http.StatusOK || string(body) != "ok v1" {
			t.Errorf("app.late-sub.workers.dev: HTTP %d %q", status, body)
		}
	})
}

func TestQuirkNoTagLimit(t *testing.T) {
	eight := []string{"t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8"}
	readings(t, "no_tag_limit", func(t *testing.T, srv *Server, c *client, lenient bool) {
		c.mustUpload("app", withTags(eight...), testWorker("v1"))
		nine := append(slices.Clone(eight), "t9")
		attempts := map[string]func() *apiResponse{
			"upload with 9":               func() *apiResponse { return c.upload("other", withTags(nine...), testWorker("v1")) },
			"upload adding a 9th (merge)": func() *apiResponse { return c.upload("app", withTags("t9"), testWorker("v2")) },
			"settings PATCH with 9":       func() *apiResponse { return c.patchSettings("app", map[string]any{"tags": nine}) },
			"script-settings PATCH with 9": func() *apiResponse {
				return c.json(http.MethodPatch, "/workers/scripts/app/script-settings", map[string]any{"tags": nine})
			},
		}
		for name, attempt := range attempts {
			r := attempt()
			if lenient {
				expect(t, r, http.StatusOK, 0)
				continue
			}
			if r.Status != http.StatusBadRequest || r.code() != codeValidation {
				t.Errorf("%s: HTTP %d code %d, want 400 code 10021", name, r.Status, r.code())
			}
		}
		if !lenient {
			if got := c.scriptTags("app"); !slices.Equal(got, eight) {
				t.Errorf("refused changes altered the tags: %v", got)
			}
		}
	})
}

func TestQuirkDeploymentID(t *testing.T) {
	readings(t, "deployment_id", func(t *testing.T, srv *Server, c *client, lenient bool) {
		var res map[string]any
		c.mustUpload("app", defaultMeta(), testWorker("v1")).result(t, &res)
		id, present := res["deployment_id"].(string)
		if present != lenient {
			t.Fatalf("deployment_id present %t, want %t (answer %v)", present, lenient, res)
		}
		if lenient && !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
			t.Errorf("deployment_id %q is not a hyphenless UUID", id)
		}
	})
}

// adminQuirks calls /__localcf/quirks and decodes the answer.
func adminQuirks(t *testing.T, srv *Server, method, body string) (int, quirksDoc) {
	t.Helper()
	req, err := http.NewRequest(method, strings.TrimSuffix(srv.APIBaseURL(), "/client/v4")+"/__localcf/quirks", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+srv.Token()) // admin endpoints need the token

	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	var doc quirksDoc
	if res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s /__localcf/quirks: %v: %s", method, err, data)
		}
	}
	return res.StatusCode, doc
}

func TestAdminQuirks(t *testing.T) {
	srv := startTestServer(t, Options{Quirks: Quirks{NoTagLimit: true}})
	c := newClient(t, srv)
	status, doc := adminQuirks(t, srv, http.MethodGet, "")
	if status != http.StatusOK || !slices.Equal(doc.Quirks, []string{"no_tag_limit"}) || len(doc.Available) != len(QuirkNames()) {
		t.Fatalf("GET: %d %+v", status, doc)
	}
	if status, _ = adminQuirks(t, srv, http.MethodPut, `{"quirks":["telepathy"]}`); status != http.StatusBadRequest {
		t.Errorf("PUT with an unknown quirk: %d, want 400", status)
	}
	status, doc = adminQuirks(t, srv, http.MethodPut, `{"quirks":["deployment_id"]}`)
	if status != http.StatusOK || !slices.Equal(doc.Quirks, []string{"deployment_id"}) {
		t.Fatalf("PUT: %d %+v", status, doc)
	}
	var res map[string]any
	c.mustUpload("app", defaultMeta(), testWorker("v1")).result(t, &res)
	if res["deployment_id"] == nil {
		t.Error("the quirk switched on over the admin endpoint did not take effect")
	}
	if status, doc = adminQuirks(t, srv, http.MethodDelete, ""); status != http.StatusOK || len(doc.Quirks) != 0 {
		t.Errorf("DELETE: %d %+v", status, doc)
	}
	if q := srv.Quirks(); q != (Quirks{}) {
		t.Errorf("after DELETE: %+v, want all strict", q)
	}
}

func TestParseQuirks(t *testing.T) {
	q, err := ParseQuirks(" deployment_id, no_tag_limit ,")
	if err != nil || !q.DeploymentID || !q.NoTagLimit || q.ScriptTagsReplace {
		t.Fatalf("ParseQuirks: %+v %v", q, err)
	}
	if !slices.Equal(q.Names(), []string{"no_tag_limit", "deployment_id"}) {
		t.Errorf("Names: %v", q.Names())
	}
	if _, err := ParseQuirks("deployment_id,nope"); err == nil || !strings.Contains(err.Error(), "main_module_by_filename") {
		t.Errorf("unknown name: %v, want an error listing the known names", err)
	}
	if all, err := QuirksFromNames(QuirkNames()); err != nil || len(all.Names()) != len(quirkSwitches) {
		t.Errorf("every name once: %+v %v", all, err)
	}
}

func TestQuirkGatewayUpdateAcceptsID(t *testing.T) {
	readings(t, "gateway_update_accepts_id", func(t *testing.T, srv *Server, c *client, lenient bool) {
		expect(t, c.json(http.MethodPost, "/ai-gateway/gateways", map[string]any{"id": "gw", "cache_ttl": 10}), http.StatusOK, 0)
		// The update schema's own fields are taken in every reading.
		expect(t, c.json(http.MethodPut, "/ai-gateway/gateways/gw", map[string]any{"cache_ttl": 20, "collect_logs": false,
			"cache_invalidate_on_update": false, "rate_limiting_interval": 0, "rate_limiting_limit": 0, "rate_limiting_technique": "fixed"}), http.StatusOK, 0)
		for _, body := range []map[string]any{{"id": "gw", "cache_ttl": 30}, {"cache_ttl": 30, "colour": "blue"}} {
			r := c.json(http.MethodPut, "/ai-gateway/gateways/gw", body)
			if lenient {
				expect(t, r, http.StatusOK, 0)
				continue
			}
			expect(t, r, http.StatusBadRequest, codeValidation)
			if msg := r.Env.Errors[0].Message; !strings.Contains(msg, "Unknown field") {
				t.Errorf("refusal of %v: %q does not name the unknown field", body, msg)
			}
		}
		var g struct {
			CacheTTL int `json:"cache_ttl"`
		}
		c.do(http.MethodGet, "/ai-gateway/gateways/gw", "", nil).result(t, &g)
		if want := map[bool]int{false: 20, true: 30}[lenient]; g.CacheTTL != want {
			t.Errorf("cache_ttl after the updates: %d, want %d", g.CacheTTL, want)
		}
		// In every reading an id naming another gateway is refused.
		expect(t, c.json(http.MethodPut, "/ai-gateway/gateways/gw", map[string]any{"id": "other"}), http.StatusBadRequest, codeValidation)
	})
}

func TestQuirkSecretRenameInherit(t *testing.T) {
	readings(t, "secret_rename_inherit", func(t *testing.T, srv *Server, c *client, lenient bool) {
		c.mustUpload("app", defaultMeta(
			map[string]any{"type": "secret_text", "name": "API_KEY", "text": "k1"},
			map[string]any{"type": "plain_text", "name": "GREETING", "text": "hi"},
		), testWorker("v1"))
		c.enableWorkersDev("app")
		var versions struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		}
		c.do(http.MethodGet, "/workers/scripts/app/versions", "", nil).result(t, &versions)
		if len(versions.Items) == 0 {
			t.Fatal("no version")
		}
		pinned := versions.Items[0].ID
		rename := map[string]any{"type": "inherit", "name": "API_KEY_PREVIOUS", "old_name": "API_KEY", "version_id": pinned}
		newKey := map[string]any{"type": "secret_text", "name": "API_KEY", "text": "k2"}

		attempts := map[string]func() *apiResponse{
			"settings PATCH": func() *apiResponse {
				return c.patchSettings("app", map[string]any{"bindings": []map[string]any{newKey, rename}})
			},
			"upload": func() *apiResponse {
				return c.upload("app", defaultMeta(newKey, rename), testWorker("v2"))
			},
		}
		for name, attempt := range attempts {
			r := attempt()
			if lenient {
				expect(t, r, http.StatusOK, 0)
				if !slices.Contains(c.bindingNames("app"), "API_KEY_PREVIOUS") {
					t.Errorf("%s: the renamed secret is missing: %v", name, c.bindingNames("app"))
				}
				continue
			}
			expect(t, r, http.StatusBadRequest, codeValidation)
			if msg := r.Env.Errors[0].Message; !strings.Contains(msg, "old_name") {
				t.Errorf("%s: refusal %q does not name old_name", name, msg)
			}
			if slices.Contains(c.bindingNames("app"), "API_KEY_PREVIOUS") {
				t.Errorf("%s: a refused change left API_KEY_PREVIOUS behind", name)
			}
		}
		if !lenient {
			// What every reading accepts: the old value sent as a secret, an inherit under the
			// same name pinned to a version, and a rename of a binding that is not a secret.
			expect(t, c.patchSettings("app", map[string]any{"bindings": []map[string]any{newKey,
				{"type": "secret_text", "name": "API_KEY_PREVIOUS", "text": "k1"},
				{"type": "inherit", "name": "GREETING", "old_name": "GREETING", "version_id": pinned},
				{"type": "inherit", "name": "SALUTATION", "old_name": "GREETING", "version_id": pinned},
			}}), http.StatusOK, 0)
			want := []string{"AI", "API_KEY", "API_KEY_PREVIOUS", "GREETING", "SALUTATION"}
			if got := c.bindingNames("app"); !slices.Equal(got, want) {
				t.Errorf("bindings: %v, want %v", got, want)
			}
			if env := c.envOf("app"); env["secret"] != "k2" {
				t.Errorf("API_KEY after the PATCH: env %v", env)
			}
		}
	})
}
