package localcf

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// storageWorker exercises env.KV and env.BUCKET; each path is one scenario answering JSON.
const storageWorker = `export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const out = {};
    const attempt = async (name, fn) => {
      try { out[name] = await fn(); } catch (e) { out[name] = "threw: " + e.message; }
    };
    switch (url.pathname) {
      case "/kv": {
        await env.KV.put("greeting", "hello");
        await env.KV.put("obj", JSON.stringify({ a: 1 }), { metadata: { model: "m" }, expirationTtl: 3600 });
        await env.KV.put("bin", new Uint8Array([0, 1, 255]));
        await env.KV.put("buf", new Uint8Array([7, 8]).buffer);
        await env.KV.put("streamed", new Response("from a stream").body);
        out.text = await env.KV.get("greeting");
        out.textType = await env.KV.get("greeting", "text");
        out.json = await env.KV.get("obj", "json");
        out.jsonOpt = await env.KV.get("obj", { type: "json", cacheTtl: 60 });
        out.bin = Array.from(new Uint8Array(await env.KV.get("bin", "arrayBuffer")));
        out.buf = Array.from(new Uint8Array(await env.KV.get("buf", "arrayBuffer")));
        out.stream = await new Response(await env.KV.get("streamed", "stream")).text();
        out.withMeta = await env.KV.getWithMetadata("obj", "json");
        out.noMeta = await env.KV.getWithMetadata("greeting");
        out.missing = await env.KV.get("missing");
        out.missingMeta = await env.KV.getWithMetadata("missing");
        out.page1 = await env.KV.list({ limit: 2 });
        out.page2 = await env.KV.list({ limit: 10, cursor: out.page1.cursor });
        out.prefixed = await env.KV.list({ prefix: "b" });
        await env.KV.delete("greeting");
        out.deleted = await env.KV.get("greeting");
        await env.KV.delete("never-there");
        await attempt("longKey", () => env.KV.put("x".repeat(513), "v"));
        await attempt("shortTtl", () => env.KV.put("ttl", "v", { expirationTtl: 10 }));
        await attempt("bigMeta", () => env.KV.put("m", "v", { metadata: { m: "x".repeat(1100) } }));
        await attempt("badType", () => env.KV.get("obj", "blob"));
        await attempt("badValue", () => env.KV.put("n", 42));
        await attempt("bigValue", () => env.KV.put("big", new Uint8Array(25 * 1024 * 1024 + 1)));
        return Response.json(out);
      }
      case "/r2": {
        const put = await env.BUCKET.put("images/cat.png", new Uint8Array([137, 80, 78, 71]), {
          httpMetadata: { contentType: "image/png", cacheControl: "max-age=60" },
          customMetadata: { prompt: "a cat" },
        });
        out.put = { key: put.key, size: put.size, etag: put.etag, httpEtag: put.httpEtag, uploadedIsDate: put.uploaded instanceof Date,
          httpMetadata: put.httpMetadata, customMetadata: put.customMetadata };
        await env.BUCKET.put("images/dog.png", "woof", { httpMetadata: new Headers({ "content-type": "text/plain" }) });
        await env.BUCKET.put("notes/a.txt", new Response("streamed note").body);
        await env.BUCKET.put("readme", JSON.stringify({ hello: "r2" }));
        const got = await env.BUCKET.get("images/cat.png");
        const headers = new Headers();
        got.writeHttpMetadata(headers);
        out.get = { key: got.key, size: got.size, etag: got.etag, bytes: Array.from(new Uint8Array(await got.arrayBuffer())),
          contentType: headers.get("content-type"), cacheControl: headers.get("cache-control"), custom: got.customMetadata,
          uploadedIsDate: got.uploaded instanceof Date };
        out.text = await (await env.BUCKET.get("notes/a.txt")).text();
        out.json = await (await env.BUCKET.get("readme")).json();
        out.stream = await new Response((await env.BUCKET.get("images/dog.png")).body).text();
        out.range = await (await env.BUCKET.get("notes/a.txt", { range: { offset: 0, length: 8 } })).text();
        out.suffix = await (await env.BUCKET.get("notes/a.txt", { range: { suffix: 4 } })).text();
        const head = await env.BUCKET.head("images/dog.png");
        out.head = { key: head.key, size: head.size, contentType: head.httpMetadata.contentType, hasBody: "body" in head };
        out.missing = await env.BUCKET.get("nope");
        out.missingHead = await env.BUCKET.head("nope");
        const all = await env.BUCKET.list();
        out.all = all.objects.map((o) => o.key);
        out.allTruncated = all.truncated;
        out.allHasMeta = all.objects[0].httpMetadata !== undefined;
        const withMeta = await env.BUCKET.list({ include: ["httpMetadata", "customMetadata"], prefix: "images/" });
        out.included = withMeta.objects.map((o) => o.httpMetadata.contentType);
        const p1 = await env.BUCKET.list({ limit: 2 });
        const p2 = await env.BUCKET.list({ limit: 2, cursor: p1.cursor });
        out.pages = [p1.objects.map((o) => o.key), p1.truncated, p2.objects.map((o) => o.key), p2.truncated];
        const dirs = await env.BUCKET.list({ delimiter: "/" });
        out.delimited = { objects: dirs.objects.map((o) => o.key), prefixes: dirs.delimitedPrefixes };
        await env.BUCKET.delete(["images/dog.png", "readme"]);
        await env.BUCKET.delete("never-there");
        out.afterDelete = (await env.BUCKET.list()).objects.map((o) => o.key);
        await attempt("longKey", () => env.BUCKET.put("k".repeat(1025), "v"));
        await attempt("badMd5", () => env.BUCKET.put("md5", "data", { md5: "00000000000000000000000000000000" }));
        out.md5Missing = await env.BUCKET.head("md5");
        return Response.json(out);
      }
      case "/write": {
        await env.KV.put("durable", url.searchParams.get("v"));
        await env.BUCKET.put("durable.txt", url.searchParams.get("v"));
        return Response.json({ ok: true });
      }
      case "/read": {
        const obj = await env.BUCKET.get("durable.txt");
        return Response.json({ kv: await env.KV.get("durable"), r2: obj && (await obj.text()) });
      }
    }
    return new Response("not found", { status: 404 });
  }
};`

// storageBindings binds the namespace and the bucket as KV and BUCKET.
func storageBindings(nsID, bucket string) []map[string]any {
	return []map[string]any{
		{"type": "kv_namespace", "name": "KV", "namespace_id": nsID},
		{"type": "r2_bucket", "name": "BUCKET", "bucket_name": bucket},
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestKVBindingInWorkerd runs env.KV's whole surface in workerd, and checks the REST API sees
// what the worker wrote.
func TestKVBindingInWorkerd(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	nsID := c.createKV("cache")
	expect(t, c.createBucket("unused-bucket"), http.StatusOK, 0)
	deployWorker(c, "store", storageWorker, storageBindings(nsID, "unused-bucket")...)
	status, out := devCall(t, srv, "store", http.MethodGet, "/kv", nil)
	if status != http.StatusOK {
		t.Fatalf("/kv: HTTP %d %v", status, out)
	}
	checks := map[string]string{
		"text":        `"hello"`,
		"textType":    `"hello"`,
		"json":        `{"a":1}`,
		"jsonOpt":     `{"a":1}`,
		"bin":         `[0,1,255]`,
		"buf":         `[7,8]`,
		"stream":      `"from a stream"`,
		"withMeta":    `{"cacheStatus":null,"metadata":{"model":"m"},"value":{"a":1}}`,
		"noMeta":      `{"cacheStatus":null,"metadata":null,"value":"hello"}`,
		"missing":     `null`,
		"missingMeta": `{"cacheStatus":null,"metadata":null,"value":null}`,
		"deleted":     `null`,
		"longKey":     `"threw: KV PUT failed: 414 UTF-8 encoded length of 513 exceeds key length limit of 512."`,
		"shortTtl":    `"threw: KV PUT failed: 400 Invalid expiration_ttl of 10. Expiration TTL must be at least 60."`,
		"bigMeta":     `"threw: KV PUT failed: 413 Metadata length of 1108 exceeds limit of 1024."`,
		"bigValue":    `"threw: KV PUT failed: 413 Value length of 26214401 exceeds limit of 26214400."`,
	}
	for field, want := range checks {
		if got := jsonOf(t, out[field]); got != want {
			t.Errorf("%s: got %s, want %s", field, got, want)
		}
	}
	for _, field := range []string{"badType", "badValue"} {
		if s, _ := out[field].(string); !strings.HasPrefix(s, "threw: ") {
			t.Errorf("%s: %v, want a thrown error", field, out[field])
		}
	}
	page1, _ := out["page1"].(map[string]any)
	page2, _ := out["page2"].(map[string]any)
	names := func(page map[string]any) []string {
		var out []string
		for _, k := range page["keys"].([]any) {
			out = append(out, k.(map[string]any)["name"].(string))
		}
		return out
	}
	if got := names(page1); !slices.Equal(got, []string{"bin", "buf"}) || page1["list_complete"] != false || page1["cursor"] == nil {
		t.Errorf("page1: %v", page1)
	}
	if got := names(page2); !slices.Equal(got, []string{"greeting", "obj", "streamed"}) || page2["list_complete"] != true {
		t.Errorf("page2: %v", page2)
	}
	if _, has := page2["cursor"]; has {
		t.Errorf("a complete listing has a cursor: %v", page2)
	}
	prefixed, _ := out["prefixed"].(map[string]any)
	if got := names(prefixed); !slices.Equal(got, []string{"bin", "buf"}) {
		t.Errorf("prefix b: %v", got)
	}
	objKey := page2["keys"].([]any)[1].(map[string]any)
	if objKey["metadata"] == nil || objKey["expiration"] == nil {
		t.Errorf("obj in the listing lacks metadata or expiration: %v", objKey)
	}

	// The REST API sees the worker's writes.
	keys, _ := c.kvKeys(nsID, "")
	if got := keyNames(keys); !slices.Equal(got, []string{"bin", "buf", "obj", "streamed"}) {
		t.Errorf("REST keys after the worker ran: %v", got)
	}
	if r := c.do(http.MethodGet, "/storage/kv/namespaces/"+nsID+"/values/bin", "", nil); string(r.Body) != "\x00\x01\xff" {
		t.Errorf("REST value of bin: %q", r.Body)
	}
}

// TestR2BindingInWorkerd runs env.BUCKET's surface in workerd.
func TestR2BindingInWorkerd(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	nsID := c.createKV("unused")
	expect(t, c.createBucket("images"), http.StatusOK, 0)
	deployWorker(c, "store", storageWorker, storageBindings(nsID, "images")...)
	status, out := devCall(t, srv, "store", http.MethodGet, "/r2", nil)
	if status != http.StatusOK {
		t.Fatalf("/r2: HTTP %d %v", status, out)
	}
	checks := map[string]string{
		"text":        `"streamed note"`,
		"json":        `{"hello":"r2"}`,
		"stream":      `"woof"`,
		"range":       `"streamed"`,
		"suffix":      `"note"`,
		"head":        `{"contentType":"text/plain","hasBody":false,"key":"images/dog.png","size":4}`,
		"missing":     `null`,
		"missingHead": `null`,
		"all":         `["images/cat.png","images/dog.png","notes/a.txt","readme"]`,
		"allHasMeta":  `false`,
		"included":    `["image/png","text/plain"]`,
		"pages":       `[["images/cat.png","images/dog.png"],true,["notes/a.txt","readme"],false]`,
		"delimited":   `{"objects":["readme"],"prefixes":["images/","notes/"]}`,
		"afterDelete": `["images/cat.png","notes/a.txt"]`,
		"longKey":     `"threw: put: The specified object name is not valid: 1 to 1024 bytes of UTF-8, not 1025 bytes. (10020)"`,
		"badMd5":      `"threw: put: The Content-MD5 you specified did not match what we received. (10037)"`,
		"md5Missing":  `null`,
	}
	for field, want := range checks {
		if got := jsonOf(t, out[field]); got != want {
			t.Errorf("%s: got %s, want %s", field, got, want)
		}
	}
	put, _ := out["put"].(map[string]any)
	if etag, _ := put["etag"].(string); len(etag) != 32 || put["httpEtag"] != `"`+etag+`"` || put["size"] != float64(4) || put["uploadedIsDate"] != true ||
		jsonOf(t, put["httpMetadata"]) != `{"cacheControl":"max-age=60","contentType":"image/png"}` || jsonOf(t, put["customMetadata"]) != `{"prompt":"a cat"}` {
		t.Errorf("put: %v", put)
	}
	get, _ := out["get"].(map[string]any)
	if jsonOf(t, get["bytes"]) != `[137,80,78,71]` || get["contentType"] != "image/png" || get["cacheControl"] != "max-age=60" ||
		jsonOf(t, get["custom"]) != `{"prompt":"a cat"}` || get["etag"] != put["etag"] || get["uploadedIsDate"] != true {
		t.Errorf("get: %v", get)
	}
	// The bucket holds data: the REST API refuses to delete it and lists what the worker wrote.
	expect(t, c.do(http.MethodDelete, "/r2/buckets/images", "", nil), http.StatusConflict, codeR2NotEmpty)
	if keys, _ := c.listObjectKeys("images", ""); !slices.Equal(keys, []string{"images/cat.png", "notes/a.txt"}) {
		t.Errorf("REST listing after the worker ran: %v", keys)
	}
}

// TestStorageBindingNeedsTarget: an upload binding a KV namespace id or an R2 bucket the
// account does not have is refused (10021) naming it; malformed bindings too.
func TestStorageBindingNeedsTarget(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	missingNS := strings.Repeat("a", 32)
	r := c.upload("store", defaultMeta(map[string]any{"type": "kv_namespace", "name": "KV", "namespace_id": missingNS}), testWorker("v1"))
	expect(t, r, http.StatusBadRequest, codeValidation)
	if msg := r.Env.Errors[0].Message; !strings.Contains(msg, missingNS) || !strings.Contains(msg, "KV namespace") {
		t.Errorf("refusal %q does not name the namespace", msg)
	}
	r = c.upload("store", defaultMeta(map[string]any{"type": "r2_bucket", "name": "B", "bucket_name": "no-such-bucket"}), testWorker("v1"))
	expect(t, r, http.StatusBadRequest, codeValidation)
	if msg := r.Env.Errors[0].Message; !strings.Contains(msg, `"no-such-bucket"`) || !strings.Contains(msg, "R2 bucket") {
		t.Errorf("refusal %q does not name the bucket", msg)
	}
	for _, bad := range []map[string]any{
		{"type": "kv_namespace", "name": "KV"},
		{"type": "kv_namespace", "name": "KV", "namespace_id": ""},
		{"type": "kv_namespace", "name": "KV", "namespace_id": 12},
		{"type": "r2_bucket", "name": "B"},
		{"type": "r2_bucket", "name": "B", "bucket_name": "images", "jurisdiction": "mars"},
	} {
		expect(t, c.upload("store", defaultMeta(bad), testWorker("v1")), http.StatusBadRequest, codeValidation)
	}
	// A bucket in another jurisdiction is not the default one's.
	expect(t, c.do(http.MethodPost, "/r2/buckets", "application/json", []byte(`{"name":"eu-images"}`), "cf-r2-jurisdiction", "eu"), http.StatusOK, 0)
	expect(t, c.upload("store", defaultMeta(map[string]any{"type": "r2_bucket", "name": "B", "bucket_name": "eu-images"}), testWorker("v1")), http.StatusBadRequest, codeValidation)
	c.mustUpload("store", defaultMeta(map[string]any{"type": "r2_bucket", "name": "B", "bucket_name": "eu-images", "jurisdiction": "eu"}), testWorker("v1"))

	// Bound and then deleted: the worker keeps running, its calls fail.
	nsID := c.createKV("short-lived")
	expect(t, c.createBucket("short-lived"), http.StatusOK, 0)
	deployWorker(c, "orphan", storageWorker, storageBindings(nsID, "short-lived")...)
	expect(t, c.do(http.MethodDelete, "/storage/kv/namespaces/"+nsID, "", nil), http.StatusOK, 0)
	if status, _, _ := dev(t, srv, "orphan", srv.Subdomain(), "/read"); status != http.StatusInternalServerError {
		t.Errorf("a worker bound to a deleted namespace: HTTP %d, want 500", status)
	}
}

// TestStorageBindingDurable: what a worker writes survives a redeploy (a new workerd process)
// and a restart of the local Cloudflare on the same state directory.
func TestStorageBindingDurable(t *testing.T) {
	dir := t.TempDir()
	srv, err := Start(t.Context(), Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv)
	nsID := c.createKV("durable")
	expect(t, c.createBucket("durable"), http.StatusOK, 0)
	deployWorker(c, "store", storageWorker, storageBindings(nsID, "durable")...)
	if status, out := devCall(t, srv, "store", http.MethodGet, "/write?v=first", nil); status != http.StatusOK {
		t.Fatalf("/write: HTTP %d %v", status, out)
	}
	// Redeploy: the same data through a new process.
	c.mustUpload("store", map[string]any{"main_module": "worker.js", "compatibility_date": "2025-06-01",
		"bindings": storageBindings(nsID, "durable")}, storageWorker+"\n// v2\n")
	if _, out := devCall(t, srv, "store", http.MethodGet, "/read", nil); fmt.Sprint(out) != "map[kv:first r2:first]" {
		t.Fatalf("after redeploy: %v", out)
	}
	if status, out := devCall(t, srv, "store", http.MethodGet, "/write?v=second", nil); status != http.StatusOK {
		t.Fatalf("/write: HTTP %d %v", status, out)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	srv2 := startTestServer(t, Options{StateDir: dir})
	if _, out := devCall(t, srv2, "store", http.MethodGet, "/read", nil); fmt.Sprint(out) != "map[kv:second r2:second]" {
		t.Fatalf("after restart: %v", out)
	}
}
