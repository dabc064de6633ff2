package localcf

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func (c *client) versionIDs(script string) []string {
	c.t.Helper()
	var res struct {
		Items []struct {
			ID     string `json:"id"`
			Number int    `json:"number"`
		} `json:"items"`
	}
	r := c.do(http.MethodGet, "/workers/scripts/"+script+"/versions", "", nil)
	expect(c.t, r, 200, 0)
	r.result(c.t, &res)
	ids := make([]string, len(res.Items))
	for i, it := range res.Items {
		ids[i] = it.ID
	}
	return ids // newest first
}

func (c *client) deploy(script string, versionID string, force bool) *apiResponse {
	c.t.Helper()
	path := "/workers/scripts/" + script + "/deployments"
	if force {
		path += "?force=true"
	}
	return c.json(http.MethodPost, path, map[string]any{"strategy": "percentage",
		"versions": []map[string]any{{"version_id": versionID, "percentage": 100}}})
}

func TestVersionsDeploymentsRollback(t *testing.T) {
	// The PUT answer's deployment_id names version 1 (wrangler's reading, behind a quirk).
	srv := startTestServer(t, Options{Quirks: Quirks{DeploymentID: true}})
	c := newClient(t, srv)
	put := c.mustUpload("app", defaultMeta(), testWorker("v1"))
	c.enableWorkersDev("app")
	var putRes struct {
		DeploymentID string `json:"deployment_id"`
	}
	put.result(t, &putRes)
	// The hyphenless id from PUT names version 1.
	r := c.do(http.MethodGet, "/workers/scripts/app/versions/"+putRes.DeploymentID, "", nil)
	expect(t, r, 200, 0)
	var v1 struct {
		ID        string `json:"id"`
		Number    int    `json:"number"`
		Resources struct {
			Bindings []map[string]any `json:"bindings"`
			Script   struct{ Etag string }
			Runtime  struct {
				CompatibilityDate string `json:"compatibility_date"`
			} `json:"script_runtime"`
		} `json:"resources"`
	}
	r.result(t, &v1)
	if v1.Number != 1 || strings.ReplaceAll(v1.ID, "-", "") != putRes.DeploymentID || v1.Resources.Script.Etag == "" ||
		v1.Resources.Runtime.CompatibilityDate != "2025-06-01" || len(v1.Resources.Bindings) != 1 {
		t.Fatalf("version 1: %+v", v1)
	}

	// A version upload does not deploy.
	ct, body := multipartBody(t, metaPart(t, defaultMeta()), modulePart("worker.js", testWorker("v2")))
	r = c.do(http.MethodPost, "/workers/scripts/app/versions?bindings_inherit=strict", ct, body)
	expect(t, r, 200, 0)
	var v2 map[string]any
	r.result(t, &v2)
	if v2["number"] != float64(2) || v2["startup_time_ms"] == nil || v2["resources"] == nil {
		t.Fatalf("POST versions result: %v", v2)
	}
	expectServing(t, srv, "app", "v1")

	// Secret and settings edits are refused while the latest version is not deployed.
	expect(t, c.json(http.MethodPut, "/workers/scripts/app/secrets", map[string]string{"name": "K", "text": "v", "type": "secret_text"}), 400, codeNotDeployed)
	ct, body = multipartBody(t, part{name: "settings", contentType: "application/json", data: []byte(`{"compatibility_flags":["nodejs_compat"]}`)})
	expect(t, c.do(http.MethodPatch, "/workers/scripts/app/settings", ct, body), 400, codeNotDeployed)
	if ids := c.versionIDs("app"); len(ids) != 2 {
		t.Fatalf("refused edits created versions: %v", ids)
	}

	ids := c.versionIDs("app")
	expect(t, c.deploy("app", ids[0], false), 200, 0)
	expectServing(t, srv, "app", "v2")
	// Rollback to version 1.
	expect(t, c.deploy("app", ids[1], true), 200, 0)
	expectServing(t, srv, "app", "v1")
	var deps struct {
		Deployments []struct {
			ID       string `json:"id"`
			Strategy string `json:"strategy"`
			Versions []struct {
				VersionID  string  `json:"version_id"`
				Percentage float64 `json:"percentage"`
			} `json:"versions"`
		} `json:"deployments"`
	}
	c.do(http.MethodGet, "/workers/scripts/app/deployments", "", nil).result(t, &deps)
	if len(deps.Deployments) != 3 || deps.Deployments[0].Versions[0].VersionID != ids[1] || deps.Deployments[0].Strategy != "percentage" {
		t.Fatalf("deployments newest first: %+v", deps)
	}
	expect(t, c.do(http.MethodGet, "/workers/scripts/app/deployments/"+deps.Deployments[1].ID, "", nil), 200, 0)
	// The active deployment cannot be deleted; an old one can.
	expect(t, c.do(http.MethodDelete, "/workers/scripts/app/deployments/"+deps.Deployments[0].ID, "", nil), 400, codeValidation)
	expect(t, c.do(http.MethodDelete, "/workers/scripts/app/deployments/"+deps.Deployments[2].ID, "", nil), 200, 0)
	// Bad deployments change nothing.
	expect(t, c.deploy("app", "00000000-0000-4000-8000-000000000000", false), 404, codeScriptNotFound)
	expect(t, c.json(http.MethodPost, "/workers/scripts/app/deployments", map[string]any{"strategy": "percentage",
		"versions": []map[string]any{{"version_id": ids[0], "percentage": 60}}}), 400, codeValidation)
	expectServing(t, srv, "app", "v1")

	// With version 1 deployed again the latest (2) is not deployed: still 10215.
	expect(t, c.json(http.MethodPut, "/workers/scripts/app/secrets", map[string]string{"name": "K", "text": "v", "type": "secret_text"}), 400, codeNotDeployed)
}

func TestSecretsCRUD(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	c.mustUpload("app", defaultMeta(map[string]any{"type": "plain_text", "name": "GREETING", "text": "hi"}), testWorker("v1"))
	c.enableWorkersDev("app")
	putSecret := func(name, value string) {
		t.Helper()
		r := c.json(http.MethodPut, "/workers/scripts/app/secrets", map[string]string{"name": name, "text": value, "type": "secret_text"})
		expect(t, r, 200, 0)
		if strings.Contains(string(r.Body), value) {
			t.Fatalf("secret PUT echoed the value: %s", r.Body)
		}
	}
	putSecret("API_KEY", "first-value")
	if env := c.envOf("app"); env["secret"] != "first-value" || env["greeting"] != "hi" {
		t.Fatalf("after secret put: %v", env)
	}
	putSecret("API_KEY", "second-value")
	putSecret("OTHER/NAME", "other-value")
	if env := c.envOf("app"); env["secret"] != "second-value" {
		t.Fatalf("after overwrite: %v", env)
	}
	r := c.do(http.MethodGet, "/workers/scripts/app/secrets", "", nil)
	if strings.Contains(string(r.Body), "second-value") {
		t.Fatal("secret list leaked a value")
	}
	var list []map[string]string
	r.result(t, &list)
	if len(list) != 2 || list[0]["name"] != "API_KEY" || list[0]["type"] != "secret_text" {
		t.Fatalf("secret list %v", list)
	}
	expect(t, c.do(http.MethodGet, "/workers/scripts/app/secrets/API_KEY", "", nil), 200, 0)
	expect(t, c.do(http.MethodGet, "/workers/scripts/app/secrets/NOPE", "", nil), 404, 10056)
	// wrangler deletes with url_encoded=true and an encodeURIComponent'ed name.
	expect(t, c.do(http.MethodDelete, "/workers/scripts/app/secrets/"+url.PathEscape("OTHER/NAME")+"?url_encoded=true", "", nil), 200, 0)

	// Secrets survive an upload that does not list them when it keeps them.
	keep := defaultMeta(map[string]any{"type": "plain_text", "name": "GREETING", "text": "hello"})
	keep["keep_bindings"] = []string{"secret_text"}
	c.mustUpload("app", keep, testWorker("v2"))
	if env := c.envOf("app"); env["secret"] != "second-value" || env["greeting"] != "hello" || env["version"] != "v2" {
		t.Fatalf("after re-upload: %v", env)
	}
	// Bulk patch: set one, delete another.
	r = c.do(http.MethodPatch, "/workers/scripts/app/secrets-bulk", "application/merge-patch+json",
		[]byte(`{"secrets":{"NEW":{"name":"NEW","text":"n","type":"secret_text"},"API_KEY":null}}`))
	expect(t, r, 200, 0)
	if env := c.envOf("app"); env["secret"] != nil {
		t.Fatalf("API_KEY still bound after bulk delete: %v", env)
	}
	expect(t, c.do(http.MethodDelete, "/workers/scripts/app/secrets/API_KEY", "", nil), 404, 10056)
	c.do(http.MethodGet, "/workers/scripts/app/secrets", "", nil).result(t, &list)
	if len(list) != 1 || list[0]["name"] != "NEW" {
		t.Fatalf("after bulk: %v", list)
	}
}

func TestSubdomainToggleAndDelete(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	c.mustUpload("app", defaultMeta(), testWorker("v1"))
	var st subdomainState
	c.do(http.MethodGet, "/workers/scripts/app/subdomain", "", nil).result(t, &st)
	if st.Enabled || st.PreviewsEnabled {
		t.Fatalf("new script subdomain state %+v, want disabled", st)
	}
	expectDevStatus(t, srv, "app", http.StatusNotFound)
	c.enableWorkersDev("app")
	expectServing(t, srv, "app", "v1")
	var worker struct {
		Subdomain subdomainState `json:"subdomain"`
	}
	c.do(http.MethodGet, "/workers/workers/app", "", nil).result(t, &worker)
	if !worker.Subdomain.Enabled {
		t.Fatalf("workers/workers/app subdomain %+v", worker.Subdomain)
	}
	expect(t, c.do(http.MethodDelete, "/workers/scripts/app/subdomain", "", nil), 200, 0)
	expectDevStatus(t, srv, "app", http.StatusNotFound)
	c.enableWorkersDev("app")

	// Account subdomain: rename moves the host; availability probe answers 10031/10032.
	old := srv.Subdomain()
	expect(t, c.do(http.MethodGet, "/workers/subdomains/"+old, "", nil), 409, codeSubdomainTaken)
	expect(t, c.do(http.MethodGet, "/workers/subdomains/free-name", "", nil), 400, codeSubdomainFree)
	expect(t, c.do(http.MethodPut, "/workers/subdomain", "", []byte(`"renamed"`)), 200, 0)
	if status, _, _ := dev(t, srv, "app", old, "/"); status != http.StatusNotFound {
		t.Fatalf("old subdomain still serves: %d", status)
	}
	expectServing(t, srv, "app", "v1")
	if _, _, err := srv.AddAccount("renamed"); err == nil {
		t.Fatal("AddAccount took a subdomain that is in use")
	}

	// Delete through services (wrangler) stops serving and everything answers not found.
	expect(t, c.do(http.MethodGet, "/workers/services/app", "", nil), 200, 0)
	expect(t, c.do(http.MethodGet, "/workers/scripts/app/references", "", nil), 200, 0)
	expect(t, c.do(http.MethodDelete, "/workers/services/app?force=false", "", nil), 200, 0)
	expectDevStatus(t, srv, "app", http.StatusNotFound)
	expect(t, c.do(http.MethodGet, "/workers/scripts/app/settings", "", nil), 404, codeScriptNotFound)
	expect(t, c.do(http.MethodDelete, "/workers/scripts/app", "", nil), 404, codeScriptNotFound)
	expect(t, c.do(http.MethodGet, "/workers/services/app", "", nil), 404, codeServiceNotFound)
	// An unknown host is Cloudflare's nothing-here page.
	if status, _, _ := dev(t, srv, "app", "nobody", "/"); status != http.StatusNotFound {
		t.Fatalf("unknown subdomain: %d", status)
	}
	// Account subdomain delete: GET then answers 10007.
	expect(t, c.do(http.MethodDelete, "/workers/subdomain", "", nil), 200, 0)
	expect(t, c.do(http.MethodGet, "/workers/subdomain", "", nil), 404, codeScriptNotFound)
}
