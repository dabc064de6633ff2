package localcf

import (
	"bytes"
	"image/png"
	"net/http"
	"testing"
)

func TestUploadServesThroughWorkerd(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	r := c.mustUpload("hello", defaultMeta(
		map[string]any{"type": "plain_text", "name": "GREETING", "text": "hi"},
		map[string]any{"type": "secret_text", "name": "API_KEY", "text": "s3cr3t-value"},
		map[string]any{"type": "json", "name": "CFG", "json": map[string]any{"steps": 20}},
	), testWorker("v1"))
	var res map[string]any
	r.result(t, &res)
	if res["id"] != "hello" || res["etag"] == "" || res["startup_time_ms"] == nil {
		t.Fatalf("PUT result %v lacks id/etag/startup_time_ms", res)
	}
	if _, ok := res["deployment_id"]; ok {
		t.Fatalf("PUT result has deployment_id %v; only the deployment_id quirk adds it", res["deployment_id"])
	}
	// New scripts start with workers.dev disabled.
	expectDevStatus(t, srv, "hello", http.StatusNotFound)
	c.enableWorkersDev("hello")
	expectServing(t, srv, "hello", "v1")

	env := c.envOf("hello")
	if env["greeting"] != "hi" || env["secret"] != "s3cr3t-value" || env["cfg"].(map[string]any)["steps"] != float64(20) {
		t.Fatalf("bindings in the worker: %v", env)
	}
	status, body, hdr := dev(t, srv, "hello", srv.Subdomain(), "/image")
	if status != http.StatusOK || hdr.Get("Content-Type") != "image/png" {
		t.Fatalf("/image: HTTP %d %s %.200s", status, hdr.Get("Content-Type"), body)
	}
	img, err := png.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("decode PNG from env.AI: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 512 || b.Dy() != 256 {
		t.Fatalf("image is %dx%d, want 512x256", b.Dx(), b.Dy())
	}
}
