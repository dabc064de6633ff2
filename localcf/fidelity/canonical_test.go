package fidelity

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"testing"
	"time"
)

// TestCanonicalWorkerThroughAPI deploys the text-to-image worker with a hand-built upload named
// the way wrangler names parts (part name == module name) and checks the public contract:
// POST with the right key -> a PNG of the requested size, wrong key -> 401, GET -> 405.
func TestCanonicalWorkerThroughAPI(t *testing.T) {
	srv := startServer(t)
	const name, key = "image-api", "canonical-key-0123456789abcdef01234"
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	meta, _ := json.Marshal(map[string]any{
		"main_module":        "index.js",
		"compatibility_date": "2025-06-01",
		"bindings": []map[string]any{
			{"type": "ai", "name": "AI"},
			{"type": "secret_text", "name": "API_KEY", "text": key},
		},
	})
	if err := mw.WriteField("metadata", string(meta)); err != nil {
		t.Fatal(err)
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="index.js"; filename="index.js"`)
	h.Set("Content-Type", "application/javascript+module")
	part, _ := mw.CreatePart(h)
	part.Write(canonicalWorker(t))
	mw.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	api := func(method, path, ctype string, rd io.Reader) map[string]any {
		req, _ := http.NewRequestWithContext(ctx, method, srv.APIBaseURL()+"/accounts/"+srv.AccountID()+path, rd)
		req.Header.Set("Authorization", "Bearer "+srv.Token())
		req.Header.Set("Content-Type", ctype)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var env map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || env["success"] != true {
			t.Fatalf("%s %s: status %d, envelope %v (%v)", method, path, resp.StatusCode, env, err)
		}
		return env
	}
	api(http.MethodPut, "/workers/scripts/"+name+"?bindings_inherit=strict", mw.FormDataContentType(), &body)
	api(http.MethodPost, "/workers/scripts/"+name+"/subdomain", "application/json", bytes.NewReader([]byte(`{"enabled":true}`)))

	expectPNG(t, workersDev(t, srv, name, http.MethodPost, key, map[string]any{"prompt": "a cute robot cooking breakfast", "width": 768, "height": 512}), 768, 512)
	expectStatus(t, workersDev(t, srv, name, http.MethodPost, "not-the-key", map[string]any{"prompt": "x"}), http.StatusUnauthorized)
	expectStatus(t, workersDev(t, srv, name, http.MethodPost, "", map[string]any{"prompt": "x"}), http.StatusUnauthorized)
	expectStatus(t, workersDev(t, srv, name, http.MethodGet, key, nil), http.StatusMethodNotAllowed)
}
