package templates

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flareform/flareform/bundler"
	"github.com/flareform/flareform/localcf"
	"github.com/flareform/flareform/localcf/localcftest"
)

const workerdTestKey = "template-test-key-0123456789abcdef"

// deployedTemplate is a template written by Write, bundled and uploaded to a local Cloudflare,
// so requests run through real workerd and the local Workers AI stand-in.
type deployedTemplate struct {
	srv    *localcf.Server
	script string
}

// deployTemplate uploads template name as script with the given AI model.
func deployTemplate(t *testing.T, srv *localcf.Server, name, script, model string) *deployedTemplate {
	t.Helper()
	dir := t.TempDir()
	if _, err := Write(dir, Options{Template: name, WorkerName: script}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := bundler.Bundle(ctx, bundler.Options{Entry: filepath.Join(dir, "src", "worker.js")})
	if err != nil {
		t.Fatalf("bundle %s: %v", name, err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	meta, err := json.Marshal(map[string]any{
		"main_module":        res.ModuleName,
		"compatibility_date": DefaultCompatibilityDate,
		"bindings": []map[string]any{
			{"type": "ai", "name": "AI"},
			{"type": "plain_text", "name": "AI_MODEL", "text": model},
			{"type": "secret_text", "name": "API_KEY", "text": workerdTestKey},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := mw.WriteField("metadata", string(meta)); err != nil {
		t.Fatal(err)
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, res.ModuleName, res.ModuleName))
	h.Set("Content-Type", "application/javascript+module")
	part, err := mw.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	part.Write(res.Code)
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	api(t, srv, http.MethodPut, "/workers/scripts/"+script, mw.FormDataContentType(), &body)
	api(t, srv, http.MethodPost, "/workers/scripts/"+script+"/subdomain", "application/json", strings.NewReader(`{"enabled":true}`))
	return &deployedTemplate{srv: srv, script: script}
}

// api calls the local Cloudflare API and fails the test unless the envelope says success.
func api(t *testing.T, srv *localcf.Server, method, path, ctype string, body io.Reader) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, srv.APIBaseURL()+"/accounts/"+srv.AccountID()+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+srv.Token())
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var env struct {
		Success bool `json:"success"`
		Errors  any  `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || !env.Success {
		t.Fatalf("%s %s: status %d, errors %v (%v)", method, path, resp.StatusCode, env.Errors, err)
	}
}

// post sends body with the key to the worker's workers.dev URL, chunked (no Content-Length)
// or with Content-Length.
func (d *deployedTemplate) post(t *testing.T, body []byte, chunked bool) (status int, contentType string, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+d.srv.WorkersDevAddr()+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if chunked {
		// An unknown length makes net/http send Transfer-Encoding: chunked.
		req.ContentLength = -1
	}
	req.Host = d.script + "." + d.srv.Subdomain() + ".workers.dev"
	req.Header.Set("Authorization", "Bearer "+workerdTestKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", req.Host, err)
	}
	defer resp.Body.Close()
	data, err = io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read answer from %s: %v", req.Host, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), data
}

// jsonErrorOf asserts a JSON {"error"} answer with the given status and returns the message.
func jsonErrorOf(t *testing.T, status int, ctype string, data []byte, want int) string {
	t.Helper()
	if status != want {
		t.Fatalf("status %d, want %d; body: %.300s", status, want, data)
	}
	if !strings.HasPrefix(ctype, "application/json") {
		t.Fatalf("content type %q, want application/json; body: %.300s", ctype, data)
	}
	var body struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(data, &body); err != nil || body.Error == "" {
		t.Fatalf("body %.300s is not {\"error\": ...} (%v)", data, err)
	}
	return body.Error
}

// paddedPrompt is a valid JSON request of exactly n bytes (JSON allows trailing whitespace).
func paddedPrompt(t *testing.T, fields string, n int) []byte {
	t.Helper()
	b := []byte(`{"prompt":"a robot"` + fields + `}`)
	if len(b) > n {
		t.Fatalf("request %s is longer than %d bytes", b, n)
	}
	return append(b, bytes.Repeat([]byte(" "), n-len(b))...)
}

// TestTemplatesInWorkerd deploys every template to a local Cloudflare and checks the answers
// that depend on the runtime and the model: the body cap (with and without Content-Length),
// model input errors and the image content type.
func TestTemplatesInWorkerd(t *testing.T) {
	srv := localcftest.New(t)
	const maxBody = 64 << 10

	images := deployTemplate(t, srv, "text-to-image", "images", "@cf/stabilityai/stable-diffusion-xl-base-1.0")
	chat := deployTemplate(t, srv, "text-generation", "chat", "@cf/meta/llama-3.1-8b-instruct")
	for _, d := range []*deployedTemplate{images, chat} {
		for _, chunked := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s 100 KB body chunked=%v is 413", d.script, chunked), func(t *testing.T) {
				status, ctype, data := d.post(t, paddedPrompt(t, "", 100<<10), chunked)
				msg := jsonErrorOf(t, status, ctype, data, http.StatusRequestEntityTooLarge)
				if !strings.Contains(msg, "65536") {
					t.Errorf("error %q does not name the limit", msg)
				}
			})
		}
	}
	t.Run("chat body of exactly 64 KiB is accepted", func(t *testing.T) {
		status, _, data := chat.post(t, paddedPrompt(t, "", maxBody), true)
		if status != http.StatusOK {
			t.Fatalf("status %d, want 200; body: %.300s", status, data)
		}
	})

	t.Run("width 100000 is 400 with the model's message", func(t *testing.T) {
		status, ctype, data := images.post(t, []byte(`{"prompt":"a robot","width":100000}`), false)
		msg := jsonErrorOf(t, status, ctype, data, http.StatusBadRequest)
		if !strings.Contains(msg, "5006: Invalid input: /width must be <= 2048") {
			t.Errorf("error %q lacks the model's message", msg)
		}
	})

	t.Run("PNG answer is image/png", func(t *testing.T) {
		status, ctype, data := images.post(t, []byte(`{"prompt":"a robot","width":256,"height":256,"num_steps":1}`), false)
		if status != http.StatusOK || ctype != "image/png" {
			t.Fatalf("status %d, content type %q; want 200 image/png; body: %.300s", status, ctype, data)
		}
		if _, err := png.Decode(bytes.NewReader(data)); err != nil {
			t.Errorf("answer is not a PNG: %v", err)
		}
	})

	t.Run("JPEG answer is image/jpeg", func(t *testing.T) {
		// The local stand-in answers this model with JPEG bytes, as the real one reportedly does.
		lightning := deployTemplate(t, srv, "text-to-image", "lightning", "@cf/bytedance/stable-diffusion-xl-lightning")
		status, ctype, data := lightning.post(t, []byte(`{"prompt":"a robot","width":256,"height":256,"num_steps":1}`), false)
		if status != http.StatusOK || ctype != "image/jpeg" {
			t.Fatalf("status %d, content type %q; want 200 image/jpeg; body: %.300s", status, ctype, data)
		}
		if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
			t.Errorf("answer is not a JPEG: %v", err)
		}
	})
}
