package templates

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"path/filepath"
	"slices"
	"strconv"
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

// deployTemplate uploads template name as script with the given AI model and any extra
// bindings (metadata form, e.g. a plain_text AI_GATEWAY_ID). API_KEY is workerdTestKey unless
// extra holds an API_KEY binding.
func deployTemplate(t *testing.T, srv *localcf.Server, name, script, model string, extra ...map[string]any) *deployedTemplate {
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
	bindings := []map[string]any{{"type": "ai", "name": "AI"}, {"type": "plain_text", "name": "AI_MODEL", "text": model}}
	if !slices.ContainsFunc(extra, func(b map[string]any) bool { return b["name"] == "API_KEY" }) {
		bindings = append(bindings, map[string]any{"type": "secret_text", "name": "API_KEY", "text": workerdTestKey})
	}
	meta, err := json.Marshal(map[string]any{
		"main_module":        res.ModuleName,
		"compatibility_date": DefaultCompatibilityDate,
		"bindings":           append(bindings, extra...),
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

// post sends a JSON body with the key to the worker's workers.dev URL, chunked (no
// Content-Length) or with Content-Length.
func (d *deployedTemplate) post(t *testing.T, body []byte, chunked bool) (status int, contentType string, data []byte) {
	t.Helper()
	return d.send(t, "/", "application/json", body, chunked)
}

// send POSTs body of content type ctype with the key to path on the worker.
func (d *deployedTemplate) send(t *testing.T, path, ctype string, body []byte, chunked bool) (status int, contentType string, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+d.srv.WorkersDevAddr()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if chunked {
		// An unknown length makes net/http send Transfer-Encoding: chunked.
		req.ContentLength = -1
	}
	req.Host = d.script + "." + d.srv.Subdomain() + ".workers.dev"
	req.Header.Set("Authorization", "Bearer "+workerdTestKey)
	req.Header.Set("Content-Type", ctype)
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
	chat := deployTemplate(t, srv, "chat", "chat", chatDefault)
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

	t.Run("the smoke test's 256x256 4-step picture reaches the model", func(t *testing.T) {
		// The stand-in draws exactly the size it is asked for: the worker passed it on.
		status, ctype, data := images.post(t, []byte(`{"prompt":"a cute robot cooking breakfast","width":256,"height":256,"num_steps":4}`), false)
		if status != http.StatusOK || ctype != "image/png" {
			t.Fatalf("status %d, content type %q; body: %.300s", status, ctype, data)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil || img.Bounds().Dx() != 256 || img.Bounds().Dy() != 256 {
			t.Errorf("answer %v (%v), want a 256x256 PNG", img.Bounds(), err)
		}
	})

	t.Run("num_steps 0 is the model's to judge, and SDXL's schema allows it", func(t *testing.T) {
		status, ctype, data := images.post(t, []byte(`{"prompt":"a robot","width":256,"height":256,"num_steps":0}`), false)
		if status != http.StatusOK || ctype != "image/png" {
			t.Fatalf("status %d, content type %q; body: %.300s", status, ctype, data)
		}
	})

	t.Run("DreamShaper answer is a PNG", func(t *testing.T) {
		dreamshaper := deployTemplate(t, srv, "text-to-image", "dreamshaper", "@cf/lykon/dreamshaper-8-lcm")
		status, ctype, data := dreamshaper.post(t, []byte(`{"prompt":"a robot","width":256,"height":256}`), false)
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

// sseEvents splits a text/event-stream body into its data: payloads.
func sseEvents(t *testing.T, body []byte) []string {
	t.Helper()
	var events []string
	for _, block := range strings.Split(strings.TrimSpace(string(body)), "\n\n") {
		payload, ok := strings.CutPrefix(block, "data: ")
		if !ok {
			t.Fatalf("event %q is not a data: event", block)
		}
		events = append(events, payload)
	}
	return events
}

// chatDefault is the chat template's model; chatModels are the models it answers the same
// way with (the Workers AI format and the OpenAI Chat Completions format).
const chatDefault = "@cf/meta/llama-3.1-8b-instruct-fast"

var chatModels = []string{chatDefault, "@cf/zai-org/glm-4.7-flash", "@cf/google/gemma-4-26b-a4b-it"}

// TestChatInWorkerd: the chat template answers {response}, and with stream: true a stream of
// data: {"response"} events ending with [DONE], for its default model and for the
// OpenAI-format models alike, also through an AI Gateway.
func TestChatInWorkerd(t *testing.T) {
	srv := localcftest.New(t)
	api(t, srv, http.MethodPost, "/ai-gateway/gateways", "application/json", strings.NewReader(`{"id":"my-gateway","cache_ttl":0,"collect_logs":true}`))

	t.Run("calls go through AI_GATEWAY_ID's gateway", func(t *testing.T) {
		// The local AI binding refuses a gateway the account does not have, so a worker that
		// passes the option shows it here.
		missing := deployTemplate(t, srv, "chat", "chat-missing-gw", chatDefault,
			map[string]any{"type": "plain_text", "name": "AI_GATEWAY_ID", "text": "no-such-gateway"})
		status, ctype, data := missing.post(t, []byte(`{"prompt":"hi"}`), false)
		if msg := jsonErrorOf(t, status, ctype, data, http.StatusBadGateway); !strings.Contains(msg, "no-such-gateway") {
			t.Errorf("error %q does not come from the gateway", msg)
		}
	})

	t.Run("a retired model fails every call", func(t *testing.T) {
		// The template's default until Workers AI retired it on 2026-05-30: a worker still on it
		// answers 502, so its smoke test fails.
		retired := deployTemplate(t, srv, "chat", "chat-retired", "@cf/meta/llama-3.1-8b-instruct")
		status, ctype, data := retired.post(t, []byte(`{"prompt":"hi","stream":true}`), false)
		if msg := jsonErrorOf(t, status, ctype, data, http.StatusBadGateway); !strings.Contains(msg, "5007: No such model") {
			t.Errorf("error %q is not the model's 5007", msg)
		}
	})

	for i, model := range chatModels {
		t.Run(model, func(t *testing.T) {
			chat := deployTemplate(t, srv, "chat", "chat-"+strconv.Itoa(i), model,
				map[string]any{"type": "plain_text", "name": "AI_GATEWAY_ID", "text": "my-gateway"})
			t.Run("messages answer {response} and usage", func(t *testing.T) {
				status, ctype, data := chat.post(t, []byte(`{"messages":[{"role":"user","content":"hello robot"}],"max_tokens":64}`), false)
				var body struct {
					Response string         `json:"response"`
					Usage    map[string]int `json:"usage"`
				}
				if status != http.StatusOK || !strings.HasPrefix(ctype, "application/json") || json.Unmarshal(data, &body) != nil {
					t.Fatalf("status %d, content type %q, body %.300s", status, ctype, data)
				}
				if !strings.Contains(body.Response, "hello robot") || !strings.Contains(body.Response, model) {
					t.Errorf("response %q does not answer the last user message from %s", body.Response, model)
				}
				if model != chatDefault && body.Usage["total_tokens"] == 0 {
					t.Errorf("usage %v: the model's usage was not passed through (body %s)", body.Usage, data)
				}
			})
			t.Run("stream is {response} events ending with [DONE]", func(t *testing.T) {
				status, ctype, data := chat.post(t, []byte(`{"prompt":"hello robot","stream":true,"max_tokens":16}`), false)
				if status != http.StatusOK || ctype != "text/event-stream" {
					t.Fatalf("status %d, content type %q, body %.300s", status, ctype, data)
				}
				events := sseEvents(t, data)
				if len(events) < 2 || events[len(events)-1] != "[DONE]" {
					t.Fatalf("events %q do not end with [DONE]", events)
				}
				var text strings.Builder
				for _, e := range events[:len(events)-1] {
					var token map[string]any
					if err := json.Unmarshal([]byte(e), &token); err != nil || token["response"] == nil {
						t.Fatalf("event %q is not {response}: %v", e, err)
					}
					text.WriteString(token["response"].(string))
				}
				if !strings.Contains(text.String(), "hello robot") {
					t.Errorf("streamed text %q does not answer the prompt", text.String())
				}
			})
		})
	}
}

// TestEmbeddingsInWorkerd: each BGE model's rows have that model's dimension.
func TestEmbeddingsInWorkerd(t *testing.T) {
	srv := localcftest.New(t)
	for model, dims := range map[string]int{
		"@cf/baai/bge-small-en-v1.5": 384,
		"@cf/baai/bge-base-en-v1.5":  768,
		"@cf/baai/bge-large-en-v1.5": 1024,
	} {
		t.Run(model, func(t *testing.T) {
			script := "emb-" + strconv.Itoa(dims)
			d := deployTemplate(t, srv, "embeddings", script, model)
			status, _, data := d.post(t, []byte(`{"text":["hello world","a cute robot"]}`), false)
			var body struct {
				Shape []int       `json:"shape"`
				Data  [][]float64 `json:"data"`
			}
			if status != http.StatusOK || json.Unmarshal(data, &body) != nil {
				t.Fatalf("status %d, body %.300s", status, data)
			}
			if !slices.Equal(body.Shape, []int{2, dims}) || len(body.Data) != 2 || len(body.Data[0]) != dims || len(body.Data[1]) != dims {
				t.Errorf("shape %v, rows %d; want [2 %d] and two rows of %d", body.Shape, len(body.Data), dims, dims)
			}
		})
	}
}

// TestSpeechToTextInWorkerd sends the template's own smoke WAV, raw and as a form.
func TestSpeechToTextInWorkerd(t *testing.T) {
	srv := localcftest.New(t)
	d := deployTemplate(t, srv, "speech-to-text", "speech", "@cf/openai/whisper")
	wav, err := File("speech-to-text", "smoke/silence.wav")
	if err != nil {
		t.Fatal(err)
	}
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	part, err := mw.CreateFormFile("audio", "silence.wav")
	if err != nil {
		t.Fatal(err)
	}
	part.Write(wav)
	mw.Close()
	for name, req := range map[string]struct {
		ctype string
		body  []byte
	}{"raw audio/wav": {"audio/wav", wav}, "multipart": {mw.FormDataContentType(), form.Bytes()}} {
		t.Run(name, func(t *testing.T) {
			status, _, data := d.send(t, "/", req.ctype, req.body, false)
			var body struct {
				Text      string `json:"text"`
				WordCount int    `json:"word_count"`
				VTT       string `json:"vtt"`
			}
			if status != http.StatusOK || json.Unmarshal(data, &body) != nil {
				t.Fatalf("status %d, body %.300s", status, data)
			}
			if !strings.Contains(body.Text, strconv.Itoa(len(wav))+" bytes") || body.WordCount == 0 || !strings.HasPrefix(body.VTT, "WEBVTT") {
				t.Errorf("transcript %+v does not come from the %d-byte WAV", body, len(wav))
			}
		})
	}
	// Chunked only: with a declared 5 MiB Content-Length the worker answers 413 unread, and
	// the local Cloudflare's proxy (localcf/workerd) turns the early answer into a 502 while it
	// is still sending the body. The Content-Length path is covered by the Node harness.
	t.Run("5 MiB chunked upload is 413", func(t *testing.T) {
		status, ctype, data := d.send(t, "/", "audio/wav", make([]byte, 5<<20), true)
		if msg := jsonErrorOf(t, status, ctype, data, http.StatusRequestEntityTooLarge); !strings.Contains(msg, "4194304") {
			t.Errorf("error %q does not name the 4 MiB limit", msg)
		}
	})
}

// TestImageToTextInWorkerd sends the template's own smoke PNG to every kind of vision model
// (LLaVA, Llama 3.2 Vision, Moondream, and Gemma 4 in the OpenAI chat format), as base64 JSON
// and as raw bytes with ?prompt=.
func TestImageToTextInWorkerd(t *testing.T) {
	srv := localcftest.New(t)
	img, err := File("image-to-text", "smoke/gradient.png")
	if err != nil {
		t.Fatal(err)
	}
	for i, model := range []string{"@cf/llava-hf/llava-1.5-7b-hf", "@cf/meta/llama-3.2-11b-vision-instruct",
		"@cf/moondream/moondream3.1-9B-A2B", "@cf/google/gemma-4-26b-a4b-it"} {
		t.Run(model, func(t *testing.T) {
			d := deployTemplate(t, srv, "image-to-text", "vision-"+strconv.Itoa(i), model)
			jsonBody, _ := json.Marshal(map[string]string{"image": base64.StdEncoding.EncodeToString(img), "prompt": "What colours?"})
			cases := []struct {
				path, ctype string
				body        []byte
			}{{"/", "application/json", jsonBody}, {"/?prompt=What%20colours%3F&max_tokens=64", "image/png", img}}
			for _, c := range cases {
				status, _, data := d.send(t, c.path, c.ctype, c.body, false)
				var body struct {
					Description string `json:"description"`
				}
				if status != http.StatusOK || json.Unmarshal(data, &body) != nil {
					t.Fatalf("%s: status %d, body %.300s", c.ctype, status, data)
				}
				if !strings.Contains(body.Description, "16x16 png") || !strings.Contains(body.Description, "What colours?") {
					t.Errorf("%s: description %q does not describe the 16x16 PNG with the prompt", c.ctype, body.Description)
				}
			}
		})
	}
}

// TestSemanticSearchInWorkerd stores documents in a real local Vectorize index through the
// template, finds them by meaning, and hits its rate limit.
func TestSemanticSearchInWorkerd(t *testing.T) {
	srv := localcftest.New(t)
	api(t, srv, http.MethodPost, "/vectorize/v2/indexes", "application/json",
		strings.NewReader(`{"name":"search-docs","config":{"dimensions":384,"metric":"cosine"}}`))
	d := deployTemplate(t, srv, "semantic-search", "search", "@cf/baai/bge-small-en-v1.5",
		map[string]any{"type": "vectorize", "name": "VECTORIZE", "index_name": "search-docs"})

	docs := `[{"id":"cats","text":"cats purr and sleep in the sun"},
		{"id":"rockets","text":"rockets burn fuel to reach orbit"},
		{"id":"bread","text":"bake bread with flour water and yeast"}]`
	status, _, data := d.send(t, "/documents", "application/json", []byte(docs), false)
	if status != http.StatusOK || !strings.Contains(string(data), `"count":3`) {
		t.Fatalf("POST /documents: status %d, body %.300s", status, data)
	}
	status, _, data = d.send(t, "/search", "application/json", []byte(`{"query":"how do rockets reach orbit","topK":2}`), false)
	var found struct {
		Matches []struct {
			ID    string  `json:"id"`
			Score float64 `json:"score"`
			Text  string  `json:"text"`
		} `json:"matches"`
	}
	if status != http.StatusOK || json.Unmarshal(data, &found) != nil {
		t.Fatalf("POST /search: status %d, body %.300s", status, data)
	}
	if len(found.Matches) != 2 || found.Matches[0].ID != "rockets" || found.Matches[0].Text != "rockets burn fuel to reach orbit" ||
		found.Matches[0].Score < found.Matches[1].Score {
		t.Errorf("matches %+v; want rockets first with its text, then one more", found.Matches)
	}
}

// TestRateLimitInWorkerd: with a real ratelimit binding of 2 requests per 60 s, a template
// answers 429 with Retry-After and a JSON error once the key has used them up.
func TestRateLimitInWorkerd(t *testing.T) {
	srv := localcftest.New(t)
	d := deployTemplate(t, srv, "embeddings", "limited", "@cf/baai/bge-small-en-v1.5",
		map[string]any{"type": "ratelimit", "name": "RATE_LIMITER", "namespace_id": "1001", "simple": map[string]any{"limit": 2, "period": 60}},
		map[string]any{"type": "plain_text", "name": "RATE_LIMIT_PERIOD", "text": "60"})
	// The counter's window is fixed: should one roll over between calls, the count restarts,
	// so five calls see a 429 whichever way the clock falls.
	for i := 1; i <= 5; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+srv.WorkersDevAddr()+"/", strings.NewReader(`{"text":"hi"}`))
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		req.Host = d.script + "." + srv.Subdomain() + ".workers.dev"
		req.Header.Set("Authorization", "Bearer "+workerdTestKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		if resp.StatusCode == http.StatusOK {
			continue
		}
		jsonErrorOf(t, resp.StatusCode, resp.Header.Get("Content-Type"), data, http.StatusTooManyRequests)
		if got := resp.Header.Get("Retry-After"); got != "60" {
			t.Errorf("Retry-After %q, want 60", got)
		}
		if i < 3 {
			t.Errorf("call %d was limited; the limit is 2", i)
		}
		return
	}
	t.Fatal("five calls within the window never got a 429")
}

// TestRateLimitKeysAreNotSharedAcrossWorkersInWorkerd: two workers bound to one ratelimit
// namespace, with different API keys, both accept the same caller key (the second as its
// previous key, in the grace window). The limiter keys are salted with each worker's own
// API_KEY, so the caller's calls to one worker do not count against it on the other: with an
// unsalted hash of the caller's key both would share one counter, and the third call, the
// first to the second worker, would be a 429.
func TestRateLimitKeysAreNotSharedAcrossWorkersInWorkerd(t *testing.T) {
	srv := localcftest.New(t)
	limit := func() []map[string]any {
		return []map[string]any{
			{"type": "ratelimit", "name": "RATE_LIMITER", "namespace_id": "1002", "simple": map[string]any{"limit": 2, "period": 60}},
			{"type": "plain_text", "name": "RATE_LIMIT_PERIOD", "text": "60"},
		}
	}
	a := deployTemplate(t, srv, "embeddings", "limited-a", "@cf/baai/bge-small-en-v1.5", limit()...)
	b := deployTemplate(t, srv, "embeddings", "limited-b", "@cf/baai/bge-small-en-v1.5", append(limit(),
		map[string]any{"type": "secret_text", "name": "API_KEY", "text": "other-worker-key-0123456789abcdef0123"},
		map[string]any{"type": "secret_text", "name": "API_KEY_PREVIOUS", "text": workerdTestKey},
		map[string]any{"type": "plain_text", "name": "API_KEY_PREVIOUS_EXPIRES", "text": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)},
	)...)
	// Each worker sees two calls: within its own limit whichever way the window falls.
	for i, d := range []*deployedTemplate{a, a, b, b} {
		status, ctype, data := d.post(t, []byte(`{"text":"hi"}`), false)
		if status != http.StatusOK {
			t.Fatalf("call %d (to %s): status %d (%s), want 200: the workers share the caller's rate limit counter; body %.300s", i+1, d.script, status, ctype, data)
		}
	}
}
