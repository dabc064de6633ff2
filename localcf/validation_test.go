package localcf

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// stateSnapshot captures what a refused request must leave untouched.
type stateSnapshot struct {
	versions, deployments int
	secrets               string
}

func (c *client) snapshot(script string) stateSnapshot {
	c.t.Helper()
	var snap stateSnapshot
	var vs struct {
		Items []any `json:"items"`
	}
	if r := c.do(http.MethodGet, "/workers/scripts/"+script+"/versions?deployable=true", "", nil); r.Status == http.StatusOK {
		r.result(c.t, &vs)
		snap.versions = len(vs.Items)
	}
	var ds struct {
		Deployments []any `json:"deployments"`
	}
	if r := c.do(http.MethodGet, "/workers/scripts/"+script+"/deployments", "", nil); r.Status == http.StatusOK {
		r.result(c.t, &ds)
		snap.deployments = len(ds.Deployments)
	}
	snap.secrets = string(c.do(http.MethodGet, "/workers/scripts/"+script+"/secrets", "", nil).Env.Result)
	return snap
}

func TestUploadValidation(t *testing.T) {
	// A fixed clock after the runtime's newest date, so "future" and "too new" differ.
	now := time.Date(2027, 1, 15, 12, 0, 0, 0, time.UTC)
	srv := startTestServer(t, Options{MaxScriptBytes: 4096, MaxVars: 3, now: func() time.Time { return now }})
	c := newClient(t, srv)
	c.mustUpload("app", defaultMeta(map[string]any{"type": "secret_text", "name": "API_KEY", "text": "k1"}), testWorker("v1"))
	c.enableWorkersDev("app")
	before := c.snapshot("app")

	meta := func(edit func(m map[string]any)) map[string]any {
		m := defaultMeta()
		edit(m)
		return m
	}
	withBinding := func(b map[string]any) map[string]any {
		return meta(func(m map[string]any) { m["bindings"] = []map[string]any{b} })
	}
	plain := func(i int) map[string]any {
		return map[string]any{"type": "plain_text", "name": "V" + string(rune('A'+i)), "text": "x"}
	}
	upload := func(m map[string]any, code string) func() *apiResponse {
		return func() *apiResponse { return c.upload("app", m, code) }
	}
	raw := func(ct string, parts ...part) func() *apiResponse {
		return func() *apiResponse {
			mct, body := multipartBody(t, parts...)
			if ct == "" {
				ct = mct
			}
			return c.do(http.MethodPut, "/workers/scripts/app", ct, body)
		}
	}
	good := modulePart("worker.js", testWorker("v2"))
	cases := []struct {
		name         string
		send         func() *apiResponse
		status, code int
		msg          string
	}{
		{"not multipart", func() *apiResponse { return c.json(http.MethodPut, "/workers/scripts/app", defaultMeta()) }, 400, codeUnsupportedType, ""},
		{"metadata not JSON", raw("", part{name: "metadata", data: []byte("{nope")}, good), 400, codeParseBody, ""},
		{"metadata missing", raw("", good), 400, codeParseBody, ""},
		{"no main_module", upload(meta(func(m map[string]any) { delete(m, "main_module") }), testWorker("v2")), 400, codeValidation, "main_module"},
		{"main_module not uploaded", upload(meta(func(m map[string]any) { m["main_module"] = "other.js" }), testWorker("v2")), 400, codeValidation, "other.js"},
		{"unknown binding type", upload(withBinding(map[string]any{"type": "telepathy", "name": "X"}), testWorker("v2")), 400, codeValidation, "telepathy"},
		{"binding without name", upload(withBinding(map[string]any{"type": "ai"}), testWorker("v2")), 400, codeBindingNoName, ""},
		{"plain_text without text", upload(withBinding(map[string]any{"type": "plain_text", "name": "X"}), testWorker("v2")), 400, codeValidation, "text"},
		{"secret_text without text", upload(withBinding(map[string]any{"type": "secret_text", "name": "X"}), testWorker("v2")), 400, codeValidation, "text"},
		{"json without json", upload(withBinding(map[string]any{"type": "json", "name": "X"}), testWorker("v2")), 400, codeValidation, "json"},
		{"kv without namespace_id", upload(withBinding(map[string]any{"type": "kv_namespace", "name": "KV"}), testWorker("v2")), 400, codeValidation, "namespace_id"},
		{"date format", upload(meta(func(m map[string]any) { m["compatibility_date"] = "2025-6-1" }), testWorker("v2")), 400, codeValidation, "YYYY-MM-DD"},
		{"date in the future", upload(meta(func(m map[string]any) { m["compatibility_date"] = "2027-02-01" }), testWorker("v2")), 400, codeValidation, "future"},
		{"date newer than workerd", upload(meta(func(m map[string]any) { m["compatibility_date"] = "2026-12-01" }), testWorker("v2")), 400, codeValidation, "2026-11-17"},
		{"script too large", upload(defaultMeta(), testWorker("v2")+strings.Repeat("//pad\n", 1000)), 400, codeScriptTooLarge, ""},
		{"too many vars", upload(meta(func(m map[string]any) {
			m["bindings"] = []map[string]any{plain(0), plain(1), plain(2)} // + the kept secret = 4 > 3
			m["keep_bindings"] = []string{"secret_text"}
		}), testWorker("v2")), 400, codeTooManyVars, ""},
		{"value over 5 KiB", upload(withBinding(map[string]any{"type": "plain_text", "name": "BIG", "text": strings.Repeat("x", 5*1024+1)}), testWorker("v2")), 400, codeVarTooLarge, ""},
		{"duplicate binding names", upload(meta(func(m map[string]any) { m["bindings"] = []map[string]any{plain(0), plain(0)} }), testWorker("v2")), 400, codeBindingNameInUse, ""},
		{"strict inherit of nothing", upload(withBinding(map[string]any{"type": "inherit", "name": "NOPE"}), testWorker("v2")), 400, 10056, ""},
		{"syntax error", upload(defaultMeta(), "export default { fetch( {"), 400, codeValidation, "SyntaxError"},
		{"startup exception", upload(defaultMeta(), `throw new Error("boom at startup"); export default {}`), 400, codeValidation, "boom at startup"},
		{"bad import", upload(defaultMeta(), `import x from "./missing.js"; export default { fetch() { return new Response(x) } }`), 400, codeValidation, "missing.js"},
		{"python module", raw("", metaPart(t, defaultMeta()), good, part{name: "x.py", filename: "x.py", contentType: "text/x-python", data: []byte("x")}), 400, codeValidation, "Python"},
		{"invalid name", func() *apiResponse { return c.upload("Bad.Name", defaultMeta(), testWorker("v2")) }, 400, codeInvalidName, ""},
		{"name too long", func() *apiResponse { return c.upload(strings.Repeat("a", 64), defaultMeta(), testWorker("v2")) }, 400, codeInvalidName, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.send()
			expect(t, r, tc.status, tc.code)
			if r.Env.Success || r.Env.Result == nil || string(r.Env.Result) != "null" {
				t.Fatalf("failure envelope must have success=false and result=null: %s", r.Body)
			}
			if tc.msg != "" && !strings.Contains(r.Env.Errors[0].Message, tc.msg) {
				t.Fatalf("message %q does not mention %q", r.Env.Errors[0].Message, tc.msg)
			}
			if after := c.snapshot("app"); after != before {
				t.Fatalf("state changed: %+v -> %+v", before, after)
			}
			expectServing(t, srv, "app", "v1")
		})
	}
	// Only the valid names were refused: underscores and 63 characters are fine.
	c.mustUpload("ok_name-1", defaultMeta(), testWorker("x"))
	c.mustUpload(strings.Repeat("a", 63), defaultMeta(), testWorker("x"))
}

func TestSecretBeforeScriptExists(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	r := c.json(http.MethodPut, "/workers/scripts/ghost/secrets", map[string]string{"name": "K", "text": "v", "type": "secret_text"})
	expect(t, r, http.StatusNotFound, codeScriptNotFound)
	expect(t, c.do(http.MethodGet, "/workers/scripts/ghost/settings", "", nil), http.StatusNotFound, codeScriptNotFound)
	expect(t, c.do(http.MethodGet, "/workers/scripts/ghost/deployments", "", nil), http.StatusNotFound, codeScriptNotFound)
	expect(t, c.do(http.MethodGet, "/workers/scripts/ghost/secrets", "", nil), http.StatusNotFound, codeScriptNotFound)
	expect(t, c.do(http.MethodGet, "/workers/services/ghost", "", nil), http.StatusNotFound, codeServiceNotFound)
	var list []any
	c.do(http.MethodGet, "/workers/scripts", "", nil).result(t, &list)
	if len(list) != 0 {
		t.Fatalf("a refused secret created a script: %v", list)
	}
}

func TestSecretValueLimits(t *testing.T) {
	srv := startTestServer(t, Options{MaxVars: 2})
	c := newClient(t, srv)
	c.mustUpload("app", defaultMeta(map[string]any{"type": "plain_text", "name": "GREETING", "text": "hi"}), testWorker("v1"))
	put := func(name, value string) *apiResponse {
		return c.json(http.MethodPut, "/workers/scripts/app/secrets", map[string]string{"name": name, "text": value, "type": "secret_text"})
	}
	expect(t, put("BIG", strings.Repeat("s", 5*1024+1)), http.StatusBadRequest, codeVarTooLarge)
	expect(t, put("A", "1"), http.StatusOK, 0)
	expect(t, put("B", "2"), http.StatusBadRequest, codeTooManyVars)
	expect(t, put("GREETING", "clash"), http.StatusBadRequest, codeBindingNameInUse)
	expect(t, c.json(http.MethodPut, "/workers/scripts/app/secrets", map[string]string{"text": "v", "type": "secret_text"}), http.StatusBadRequest, codeBindingNoName)
	var secrets []map[string]string
	c.do(http.MethodGet, "/workers/scripts/app/secrets", "", nil).result(t, &secrets)
	if len(secrets) != 1 || secrets[0]["name"] != "A" {
		t.Fatalf("secrets after refusals: %v", secrets)
	}
}
