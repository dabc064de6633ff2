package localcf

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/flareform/flareform/localcf/workerd"
)

// testWorker is a module worker that reports its bindings and can call env.AI. version marks
// which upload is serving.
func testWorker(version string) string {
	return fmt.Sprintf(`const VERSION = %q;
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/env") {
      return Response.json({version: VERSION, greeting: env.GREETING ?? null, secret: env.API_KEY ?? null, cfg: env.CFG ?? null});
    }
    if (url.pathname === "/image") {
      const img = await env.AI.run("@cf/stabilityai/stable-diffusion-xl-base-1.0", {prompt: "a lighthouse", width: 512, height: 256});
      return new Response(img, {headers: {"content-type": "image/png"}});
    }
    return new Response("ok " + VERSION);
  }
};
`, version)
}

func startTestServer(t testing.TB, opts Options) *Server {
	t.Helper()
	srv, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("start local Cloudflare (workerd must be installed: npm ci): %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// apiResponse is a decoded Cloudflare envelope plus the raw response.
type apiResponse struct {
	Status int
	Header http.Header
	Body   []byte
	Env    struct {
		Success    bool              `json:"success"`
		Errors     []apiMessage      `json:"errors"`
		Result     json.RawMessage   `json:"result"`
		ResultInfo map[string]any    `json:"result_info"`
		Messages   []json.RawMessage `json:"messages"`
	}
}

func (r *apiResponse) code() int {
	if len(r.Env.Errors) == 0 {
		return 0
	}
	return r.Env.Errors[0].Code
}

func (r *apiResponse) result(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Env.Result, v); err != nil {
		t.Fatalf("decode result %s: %v", r.Env.Result, err)
	}
}

// client calls the API as one account.
type client struct {
	t       testing.TB
	srv     *Server
	token   string
	account string
}

func newClient(t testing.TB, srv *Server) *client {
	return &client{t: t, srv: srv, token: srv.Token(), account: srv.AccountID()}
}

// do sends method to the account-relative path ("/workers/scripts/x") or an absolute API path
// ("!/user/tokens/verify").
func (c *client) do(method, path, contentType string, body []byte, headers ...string) *apiResponse {
	c.t.Helper()
	url := c.srv.APIBaseURL() + "/accounts/" + c.account + path
	if rest, ok := strings.CutPrefix(path, "!"); ok {
		url = c.srv.APIBaseURL() + rest
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out := &apiResponse{Status: resp.StatusCode, Header: resp.Header}
	out.Body, _ = io.ReadAll(resp.Body)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(out.Body, &out.Env)
	}
	return out
}

func (c *client) json(method, path string, body any) *apiResponse {
	c.t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.do(method, path, "application/json", data)
}

// expect fails unless the response has the status and (when code != 0) first error code.
func expect(t testing.TB, r *apiResponse, status, code int) {
	t.Helper()
	if r.Status != status || (code != 0 && r.code() != code) || (code == 0 && !r.Env.Success) {
		t.Fatalf("got HTTP %d code %d, want HTTP %d code %d; body: %.400s", r.Status, r.code(), status, code, r.Body)
	}
}

type part struct {
	name, filename, contentType string
	data                        []byte
}

func multipartBody(t testing.TB, parts ...part) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		disp := fmt.Sprintf(`form-data; name=%q`, p.name)
		if p.filename != "" {
			disp += fmt.Sprintf(`; filename=%q`, p.filename)
		}
		h.Set("Content-Disposition", disp)
		if p.contentType != "" {
			h.Set("Content-Type", p.contentType)
		}
		pw, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		pw.Write(p.data)
	}
	w.Close()
	return w.FormDataContentType(), buf.Bytes()
}

func metaPart(t testing.TB, meta any) part {
	data, err := json.Marshal(meta)
	if err != nil {
		t.Fatal(err)
	}
	return part{name: "metadata", data: data}
}

func modulePart(name, code string) part {
	return part{name: name, filename: name, contentType: "application/javascript+module", data: []byte(code)}
}

// defaultMeta is wrangler-style metadata with the bindings the test worker reads.
func defaultMeta(bindings ...map[string]any) map[string]any {
	bs := []map[string]any{{"type": "ai", "name": "AI"}}
	bs = append(bs, bindings...)
	return map[string]any{"main_module": "worker.js", "compatibility_date": "2025-06-01", "bindings": bs}
}

// upload PUTs a script wrangler-style.
func (c *client) upload(name string, meta map[string]any, code string) *apiResponse {
	c.t.Helper()
	ct, body := multipartBody(c.t, metaPart(c.t, meta), modulePart("worker.js", code))
	return c.do(http.MethodPut, "/workers/scripts/"+name+"?bindings_inherit=strict", ct, body)
}

func (c *client) mustUpload(name string, meta map[string]any, code string) *apiResponse {
	c.t.Helper()
	r := c.upload(name, meta, code)
	expect(c.t, r, http.StatusOK, 0)
	return r
}

func (c *client) enableWorkersDev(name string) {
	c.t.Helper()
	expect(c.t, c.json(http.MethodPost, "/workers/scripts/"+name+"/subdomain", map[string]any{"enabled": true}), http.StatusOK, 0)
}

// dev sends a request to https://<script>.<subdomain>.workers.dev<path> via the data plane.
func dev(t testing.TB, srv *Server, script, subdomain, path string) (int, []byte, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+srv.WorkersDevAddr()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = script + "." + subdomain + ".workers.dev"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("workers.dev %s%s: %v", req.Host, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body, resp.Header
}

// expectServing fails unless the script answers "ok <version>" on workers.dev.
func expectServing(t testing.TB, srv *Server, script, version string) {
	t.Helper()
	status, body, _ := dev(t, srv, script, srv.Subdomain(), "/")
	if status != http.StatusOK || string(body) != "ok "+version {
		t.Fatalf("workers.dev %s: HTTP %d %q, want 200 %q", script, status, body, "ok "+version)
	}
}

func expectDevStatus(t testing.TB, srv *Server, script string, want int) {
	t.Helper()
	if status, body, _ := dev(t, srv, script, srv.Subdomain(), "/"); status != want {
		t.Fatalf("workers.dev %s: HTTP %d (%.200s), want %d", script, status, body, want)
	}
}

func (c *client) envOf(script string) map[string]any {
	c.t.Helper()
	status, body, _ := dev(c.t, c.srv, script, c.srv.Subdomain(), "/env")
	if status != http.StatusOK {
		c.t.Fatalf("/env: HTTP %d %s", status, body)
	}
	var env map[string]any
	if err := json.Unmarshal(body, &env); err != nil {
		c.t.Fatalf("/env body %s: %v", body, err)
	}
	return env
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

type (
	wprocess = workerd.Process
	duration = time.Duration
)
