package main

// Acceptance tests for the templates, per-key rate limits, AI Gateways and Vectorize indexes,
// driven through the CLI against a standalone local Cloudflare, the way a user meets them:
// init, apply (with its smoke test), then real requests to the workers.dev address.

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg" // the Lightning model answers JPEG
	_ "image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/flareform/flareform/localcf"
	"github.com/flareform/flareform/provision/spec"
)

// deployed is one worker a test deployed from a template, with the key from the project's key
// store.
type deployed struct {
	srv  *localcf.Server
	name string
	key  string
	dir  string // the project directory
}

// answer is one response of a deployed worker, body read.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// call sends body to the worker's workers.dev address at path, with key as the Bearer key.
func (w deployed) call(t *testing.T, key, path, contentType string, body []byte) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+w.srv.WorkersDevAddr()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = w.name + "." + w.srv.Subdomain() + ".workers.dev"
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", contentType)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s to %s: %v", path, w.name, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read the answer of %s: %v", w.name, err)
	}
	return answer{status: res.StatusCode, header: res.Header, body: data}
}

// postJSON sends v as JSON with the stored key and fails unless the answer is 200.
func (w deployed) postJSON(t *testing.T, path string, v any) answer {
	t.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	a := w.call(t, w.key, path, "application/json", body)
	if a.status != http.StatusOK {
		t.Fatalf("POST %s %s: HTTP %d, want 200: %s", w.name, path, a.status, a.body)
	}
	return a
}

// decodeJSON decodes a's body into v, failing on anything but a JSON answer.
func decodeJSON(t *testing.T, a answer, v any) {
	t.Helper()
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want application/json; body %.200s", ct, a.body)
	}
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("answer is not the expected JSON: %v\n%.300s", err, a.body)
	}
}

// applyDoc is the part of apply --json these tests read.
type applyDoc struct {
	Workers []struct {
		Name  string `json:"name"`
		Error string `json:"error"`
		Smoke *struct {
			Passed bool `json:"passed"`
		} `json:"smoke"`
	} `json:"workers"`
	Resources []struct {
		Kind, Name, Action, Error string
	} `json:"resources"`
}

// applyJSON runs apply --auto-approve --json (plus extra) and decodes its result.
func applyJSON(t *testing.T, c *cli, specPath string, extra ...string) applyDoc {
	t.Helper()
	r := c.mustRun(exitOK, append([]string{"-f", specPath, "apply", "--auto-approve", "--json"}, extra...)...)
	var res applyDoc
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("apply --json stdout is not JSON: %v\n%s", err, r.stdout)
	}
	return res
}

// initTemplate writes template into a new directory named name (so the worker is name) and
// returns the spec's path.
func initTemplate(t *testing.T, c *cli, template, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	c.mustRun(exitOK, "init", dir, "--template", template)
	return filepath.Join(dir, "flareform.yaml")
}

// copyEnv gives a parallel subtest its own environment map.
func copyEnv(env map[string]string) map[string]string {
	out := make(map[string]string, len(env))
	for k, v := range env {
		out[k] = v
	}
	return out
}

// templateCase deploys one template (edited by edit, when set) and checks one real request.
type templateCase struct {
	name     string // worker and directory name
	template string
	edit     func(t *testing.T, specPath string)
	check    func(t *testing.T, w deployed)
}

func templateCases() []templateCase {
	return []templateCase{
		{name: "images", template: "text-to-image", check: checkImage("image/png")},
		{name: "images-fast", template: "text-to-image", edit: func(t *testing.T, p string) {
			editFile(t, p, "@cf/stabilityai/stable-diffusion-xl-base-1.0", "@cf/bytedance/stable-diffusion-xl-lightning")
		}, check: checkImage("image/jpeg")},
		{name: "chat", template: "chat", check: checkChat},
		{name: "chat-glm", template: "chat", edit: editChatModel(glmModel), check: checkChat},
		{name: "chat-gemma", template: "chat", edit: editChatModel(gemmaModel), check: checkChat},
		{name: "textgen", template: "text-generation", check: checkChat},
		{name: "embed-small", template: "embeddings", check: checkEmbeddings(384)},
		{name: "embed-base", template: "embeddings", edit: func(t *testing.T, p string) {
			editFile(t, p, "@cf/baai/bge-small-en-v1.5", "@cf/baai/bge-base-en-v1.5")
		}, check: checkEmbeddings(768)},
		{name: "transcribe", template: "speech-to-text", check: checkSpeech},
		{name: "describe", template: "image-to-text", check: checkVision},
		{name: "describe-gemma", template: "image-to-text", edit: func(t *testing.T, p string) {
			editFile(t, p, `model: "@cf/llava-hf/llava-1.5-7b-hf"`, `model: "`+gemmaModel+`"`)
		}, check: checkVision},
		{name: "search", template: "semantic-search", check: checkSearch},
	}
}

// TestEveryTemplateDeploysAndAnswers: every template `init --list` names (and the
// text-generation alias) deploys with its smoke test passing and answers its own request, with
// the key from the project's key store, in the shape docs/spec.md promises.
func TestEveryTemplateDeploysAndAnswers(t *testing.T) {
	srv, env := startStandalone(t)
	assertListedTemplates(t, newCLI(t, env))
	for _, tc := range templateCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCLI(t, copyEnv(env))
			specPath := initTemplate(t, c, tc.template, tc.name)
			assertSchemaLine(t, specPath)
			assertEditorSchemaAccepts(t, specPath)
			if tc.edit != nil {
				tc.edit(t, specPath)
			}
			res := applyJSON(t, c, specPath)
			if len(res.Workers) != 1 || res.Workers[0].Smoke == nil || !res.Workers[0].Smoke.Passed {
				t.Fatalf("apply: %+v; want one worker whose smoke test passed", res.Workers)
			}
			tc.check(t, deployed{srv: srv, name: tc.name, key: storedKey(t, specPath, tc.name), dir: filepath.Dir(specPath)})
		})
	}
}

// assertListedTemplates checks that init --list names exactly the templates tested here.
func assertListedTemplates(t *testing.T, c *cli) {
	t.Helper()
	var list []struct{ Name string }
	r := c.mustRun(exitOK, "init", "--list", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("init --list --json: %v\n%s", err, r.stdout)
	}
	var listed, tested []string
	for _, l := range list {
		listed = append(listed, l.Name)
	}
	for _, tc := range templateCases() {
		if tc.template != "text-generation" && !slices.Contains(tested, tc.template) {
			tested = append(tested, tc.template)
		}
	}
	slices.Sort(listed)
	slices.Sort(tested)
	if !slices.Equal(listed, tested) {
		t.Errorf("init --list names %v; this test covers %v", listed, tested)
	}
}

// assertSchemaLine checks the promise of docs/spec.md: specs that init writes name the JSON
// Schema on their first line, so editors complete and check keys.
func assertSchemaLine(t *testing.T, specPath string) {
	t.Helper()
	b, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	if first != "# yaml-language-server: $schema="+spec.SchemaURL {
		t.Errorf("the spec's first line is %q; want the yaml-language-server schema comment", first)
	}
}

// assertEditorSchemaAccepts checks the spec against the committed JSON Schema its first line
// names: an editor must not flag a spec that init wrote.
func assertEditorSchemaAccepts(t *testing.T, specPath string) {
	t.Helper()
	f, err := os.Open("../../docs/flareform.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("docs/flareform.schema.json: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(spec.SchemaURL, doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile(spec.SchemaURL)
	if err != nil {
		t.Fatalf("compile docs/flareform.schema.json: %v", err)
	}
	raw, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	var value any
	if err := yaml.Unmarshal(raw, &value); err != nil {
		t.Fatalf("%s: %v", specPath, err)
	}
	// Round-trip through JSON so the value has the types the validator expects.
	asJSON, err := json.Marshal(value)
	if err != nil {
		t.Fatal(err)
	}
	instance, err := jsonschema.UnmarshalJSON(bytes.NewReader(asJSON))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(instance); err != nil {
		t.Errorf("the spec init wrote does not match docs/flareform.schema.json: %v", err)
	}
}

// checkImage: the prompt comes back as an image of type want that decodes, and the smoke
// test's cheap request (256x256, 4 steps) reaches the model: the picture has that size.
func checkImage(want string) func(t *testing.T, w deployed) {
	return func(t *testing.T, w deployed) {
		for _, req := range []map[string]any{
			{"prompt": "a lighthouse at dusk"},
			{"prompt": "a lighthouse at dusk", "width": 256, "height": 256, "num_steps": 4},
		} {
			a := w.postJSON(t, "/", req)
			if ct := a.header.Get("Content-Type"); ct != want {
				t.Errorf("Content-Type %q, want %q", ct, want)
			}
			img, format, err := image.Decode(bytes.NewReader(a.body))
			if err != nil {
				t.Fatalf("the answer (%d bytes) does not decode as an image: %v", len(a.body), err)
			}
			if "image/"+format != want || img.Bounds().Dx() == 0 || img.Bounds().Dy() == 0 {
				t.Errorf("decoded a %s image of %v, want a non-empty %s", format, img.Bounds(), want)
			}
			if size, ok := req["width"].(int); ok && (img.Bounds().Dx() != size || img.Bounds().Dy() != size) {
				t.Errorf("asked for %dx%d, got %v: the worker did not pass the size on", size, size, img.Bounds())
			}
		}
	}
}

// The chat template's default and the OpenAI-format models it answers the same way with.
const (
	chatDefaultModel = "@cf/meta/llama-3.1-8b-instruct-fast"
	glmModel         = "@cf/zai-org/glm-4.7-flash"
	gemmaModel       = "@cf/google/gemma-4-26b-a4b-it"
)

// editChatModel points an init-written chat spec at model.
func editChatModel(model string) func(t *testing.T, specPath string) {
	return func(t *testing.T, specPath string) {
		editFile(t, specPath, `model: "`+chatDefaultModel+`"`, `model: "`+model+`"`)
	}
}

// TestChatTemplateSmokeOnEveryChatModel: init --template chat, then apply --local, passes its
// smoke test streamed (the spec as written) and not streamed (the body without stream, a JSON
// {response} expected), on the default model and on the two OpenAI-format models.
func TestChatTemplateSmokeOnEveryChatModel(t *testing.T) {
	for _, model := range []string{chatDefaultModel, glmModel, gemmaModel} {
		t.Run(model, func(t *testing.T) {
			t.Parallel()
			c := newCLI(t, map[string]string{}) // --local: an embedded local Cloudflare per project
			specPath := initTemplate(t, c, "chat", "talk")
			if !strings.Contains(readFile(t, specPath), `model: "`+chatDefaultModel+`"`) {
				t.Fatalf("the chat template does not default to %s:\n%s", chatDefaultModel, readFile(t, specPath))
			}
			if model != chatDefaultModel {
				editChatModel(model)(t, specPath)
			}
			applyLocal := func(what string) {
				t.Helper()
				r := c.mustRun(exitOK, "-f", specPath, "--local", "apply", "--auto-approve", "--json")
				var res applyDoc
				if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
					t.Fatalf("%s: apply --json: %v\n%s", what, err, r.stdout)
				}
				if len(res.Workers) != 1 || res.Workers[0].Smoke == nil || !res.Workers[0].Smoke.Passed {
					t.Fatalf("%s: apply --local: %+v; want the smoke test passed\nstderr: %s", what, res.Workers, r.stderr)
				}
			}
			applyLocal("streamed")
			// A new upload (a changed var), so that apply runs the edited smoke test.
			editFile(t, specPath, `MAX_PROMPT_CHARS: "4000"`, `MAX_PROMPT_CHARS: "3999"`)
			editFile(t, specPath, "        stream: true\n", "")
			editFile(t, specPath, "      expect: text/event-stream\n", "      expect: application/json\n      expect_fields: [response]\n")
			applyLocal("not streamed")
		})
	}
}

// checkChat: a plain request answers {response}; a streamed one is SSE ending in [DONE].
func checkChat(t *testing.T, w deployed) {
	messages := []map[string]string{{"role": "user", "content": "Say hello."}}
	var reply struct {
		Response *string `json:"response"`
	}
	decodeJSON(t, w.postJSON(t, "/", map[string]any{"messages": messages}), &reply)
	if reply.Response == nil || *reply.Response == "" {
		t.Errorf("chat answer has no response text")
	}

	a := w.postJSON(t, "/", map[string]any{"messages": messages, "stream": true})
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("streamed chat: Content-Type %q, want text/event-stream", ct)
	}
	events := sseData(t, a.body)
	if len(events) < 2 || events[len(events)-1] != "[DONE]" {
		t.Fatalf("streamed chat events %q; want data events ending with [DONE]", events)
	}
	for _, e := range events[:len(events)-1] {
		var chunk struct {
			Response *string `json:"response"`
		}
		if err := json.Unmarshal([]byte(e), &chunk); err != nil || chunk.Response == nil {
			t.Errorf("event %q is not a {response} chunk (%v)", e, err)
		}
	}
}

// sseData returns the data of every event in an event stream, failing on a line that is not
// part of an event.
func sseData(t *testing.T, body []byte) []string {
	t.Helper()
	var events []string
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
		case strings.HasPrefix(line, "data:"):
			events = append(events, strings.TrimSpace(strings.TrimPrefix(line, "data:")))
		default:
			t.Errorf("unexpected line in the event stream: %q", line)
		}
	}
	return events
}

// checkEmbeddings: each text gets one row of the model's dimension.
func checkEmbeddings(dims int) func(t *testing.T, w deployed) {
	return func(t *testing.T, w deployed) {
		texts := []string{"hello world", "a cute robot", "the third text"}
		var got struct {
			Shape []int       `json:"shape"`
			Data  [][]float64 `json:"data"`
		}
		decodeJSON(t, w.postJSON(t, "/", map[string]any{"text": texts}), &got)
		if !slices.Equal(got.Shape, []int{len(texts), dims}) || len(got.Data) != len(texts) {
			t.Fatalf("shape %v with %d rows, want [%d %d]", got.Shape, len(got.Data), len(texts), dims)
		}
		for i, row := range got.Data {
			if len(row) != dims {
				t.Errorf("row %d has %d numbers, want %d", i, len(row), dims)
			}
		}
	}
}

// checkSpeech: the template's own WAV comes back as {text}.
func checkSpeech(t *testing.T, w deployed) {
	wav, err := os.ReadFile(filepath.Join(w.dir, "smoke", "silence.wav"))
	if err != nil {
		t.Fatal(err)
	}
	a := w.call(t, w.key, "/", "audio/wav", wav)
	if a.status != http.StatusOK {
		t.Fatalf("HTTP %d, want 200: %s", a.status, a.body)
	}
	var got struct {
		Text *string `json:"text"`
	}
	decodeJSON(t, a, &got)
	if got.Text == nil {
		t.Errorf("speech-to-text answer %s has no text", a.body)
	}
}

// checkVision: a base64 image in JSON comes back as a non-empty {description}.
func checkVision(t *testing.T, w deployed) {
	png, err := os.ReadFile(filepath.Join(w.dir, "smoke", "gradient.png"))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Description *string `json:"description"`
	}
	decodeJSON(t, w.postJSON(t, "/", map[string]any{
		"image": base64.StdEncoding.EncodeToString(png), "prompt": "What is in this picture?",
	}), &got)
	if got.Description == nil || *got.Description == "" {
		t.Errorf("image-to-text answer has no description")
	}
}

// checkSearch: after storing three documents, searching for one's own text finds it first.
func checkSearch(t *testing.T, w deployed) {
	docs := []map[string]string{
		{"id": "tides", "text": "The moon's gravity pulls the oceans and makes the tides."},
		{"id": "bread", "text": "Knead the dough, let it rise overnight, then bake at 230 degrees."},
		{"id": "rust", "text": "The borrow checker makes sure references never outlive their data."},
	}
	var stored struct {
		Count int      `json:"count"`
		IDs   []string `json:"ids"`
	}
	decodeJSON(t, w.postJSON(t, "/documents", docs), &stored)
	if stored.Count != len(docs) {
		t.Fatalf("stored %d documents (%v), want %d", stored.Count, stored.IDs, len(docs))
	}
	for _, d := range docs {
		var found struct {
			Matches []struct {
				ID   string  `json:"id"`
				Text string  `json:"text"`
				Scor float64 `json:"score"`
			} `json:"matches"`
		}
		decodeJSON(t, w.postJSON(t, "/search", map[string]any{"query": d["text"]}), &found)
		if len(found.Matches) == 0 || found.Matches[0].ID != d["id"] || found.Matches[0].Text != d["text"] {
			t.Errorf("search for %q's own text found %+v first; want %q", d["id"], found.Matches, d["id"])
		}
	}
}

// TestTemplateRateLimitIsPerKey: with `rate_limit: {limit: 3, period: 60}` a caller's fourth
// request within the minute gets 429 with Retry-After, while another valid key of the same
// worker (the previous key, inside its rotation window) is still served.
func TestTemplateRateLimitIsPerKey(t *testing.T) {
	t.Parallel()
	srv, env := startStandalone(t)
	c := newCLI(t, env)
	specPath := initTemplate(t, c, "chat", "limited")
	dir := filepath.Dir(specPath)
	editFile(t, specPath, "      limit: 60\n", "      limit: 3\n")
	oldKey, newKey := randomKey(t), randomKey(t)
	writeKeyFile(t, filepath.Join(dir, "old.key"), oldKey)
	writeKeyFile(t, filepath.Join(dir, "new.key"), newKey)
	// No smoke test: it would spend requests of the key under test.
	editFile(t, specPath, "from: generate", "from: file:./old.key")
	c.mustRun(exitOK, "-f", specPath, "apply", "--auto-approve", "--no-smoke")
	// A changed key source rotates: the new key at once, the old one for api_key.grace (24h),
	// which apply sends and so takes from the caller (FLAREFORM_API_KEY).
	editFile(t, specPath, "from: file:./old.key", "from: file:./new.key")
	c.env[envAPIKey] = oldKey
	c.mustRun(exitOK, "-f", specPath, "apply", "--auto-approve", "--no-smoke")
	delete(c.env, envAPIKey)

	w := deployed{srv: srv, name: "limited", key: oldKey, dir: dir}
	body := []byte(`{"prompt":"Say hello."}`)
	inOneWindow(t, time.Minute, 10*time.Second, func() []string {
		var problems []string
		for i := 1; i <= 3; i++ {
			if a := w.call(t, oldKey, "/", "application/json", body); a.status != http.StatusOK {
				problems = append(problems, fmt.Sprintf("request %d with the old key: HTTP %d, want 200: %s", i, a.status, a.body))
			}
		}
		fourth := w.call(t, oldKey, "/", "application/json", body)
		var refusal struct {
			Error string `json:"error"`
		}
		if fourth.status != http.StatusTooManyRequests || fourth.header.Get("Retry-After") != "60" ||
			json.Unmarshal(fourth.body, &refusal) != nil || refusal.Error == "" {
			problems = append(problems, fmt.Sprintf("fourth request with the old key: HTTP %d, Retry-After %q, body %s; want 429, Retry-After 60 and {error}",
				fourth.status, fourth.header.Get("Retry-After"), fourth.body))
		}
		if a := w.call(t, newKey, "/", "application/json", body); a.status != http.StatusOK {
			problems = append(problems, fmt.Sprintf("the new key after the old one was limited: HTTP %d, want 200: %s", a.status, a.body))
		}
		return problems
	})
}

// inOneWindow runs attempt so that all its requests fall into one fixed rate-limit window of
// length period: the local limiter, like Cloudflare's, aligns windows to the clock, so counts
// start over at each window's start. An attempt starts only with at least margin left in the
// window; one that still crossed into the next window is inconclusive and is repeated from
// the start of a window that no earlier request was counted in. attempt returns its problems.
func inOneWindow(t *testing.T, period, margin time.Duration, attempt func() []string) {
	t.Helper()
	for try := 1; ; try++ {
		if left := period - time.Since(time.Now().Truncate(period)); left < margin {
			sleepCtx(t, left)
		}
		start := time.Now()
		problems := attempt()
		end := time.Now()
		if start.Truncate(period).Equal(end.Truncate(period)) {
			for _, p := range problems {
				t.Error(p)
			}
			return
		}
		if try == 3 {
			t.Fatalf("three attempts each crossed a %s window boundary; the machine is too slow for this test", period)
		}
		sleepCtx(t, end.Truncate(period).Add(period).Sub(time.Now()))
	}
}

// sleepCtx waits for d or until the test's context ends.
func sleepCtx(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-time.After(d):
	case <-t.Context().Done():
		t.Fatal(t.Context().Err())
	}
}

// writeKeyFile writes key to path with mode 0600, as a user keeps a key file.
func writeKeyFile(t *testing.T, path, key string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// accountAPI calls the local Cloudflare's account API as a user with the account's token would,
// outside flareform.
func accountAPI(t *testing.T, srv *localcf.Server, method, path string, body any, result any) {
	t.Helper()
	var payload io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		payload = bytes.NewReader(b)
	}
	url := srv.APIBaseURL() + "/accounts/" + srv.AccountID() + path
	req, err := http.NewRequestWithContext(t.Context(), method, url, payload)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+srv.Token())
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	var envelope struct {
		Success bool            `json:"success"`
		Result  json.RawMessage `json:"result"`
	}
	if err := json.NewDecoder(res.Body).Decode(&envelope); err != nil || !envelope.Success {
		t.Fatalf("%s %s: HTTP %d, success %v, err %v", method, path, res.StatusCode, envelope.Success, err)
	}
	if result != nil {
		if err := json.Unmarshal(envelope.Result, result); err != nil {
			t.Fatalf("%s %s: result: %v", method, path, err)
		}
	}
}

// gatewayIDs lists the account's AI Gateways by id.
func gatewayIDs(t *testing.T, srv *localcf.Server) []string {
	t.Helper()
	var gateways []struct{ ID string }
	accountAPI(t, srv, http.MethodGet, "/ai-gateway/gateways?per_page=50", nil, &gateways)
	var ids []string
	for _, g := range gateways {
		ids = append(ids, g.ID)
	}
	slices.Sort(ids)
	return ids
}

// indexNames lists the account's Vectorize indexes by name.
func indexNames(t *testing.T, srv *localcf.Server) []string {
	t.Helper()
	var indexes []struct{ Name string }
	accountAPI(t, srv, http.MethodGet, "/vectorize/v2/indexes", nil, &indexes)
	var names []string
	for _, ix := range indexes {
		names = append(names, ix.Name)
	}
	slices.Sort(names)
	return names
}

// resourcePlan is one entry of plan --json's resources.
type resourcePlan struct {
	Kind, Name, Action, Note string
}

// planResources runs plan --json and returns its gateways and indexes by "kind name".
func planResources(t *testing.T, c *cli, specPath string) map[string]resourcePlan {
	t.Helper()
	r := c.mustRun(exitOK, "-f", specPath, "plan", "--json")
	var plan struct {
		Resources []resourcePlan `json:"resources"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil {
		t.Fatalf("plan --json: %v\n%s", err, r.stdout)
	}
	out := map[string]resourcePlan{}
	for _, res := range plan.Resources {
		if res.Kind != "worker" {
			out[res.Kind+" "+res.Name] = res
		}
	}
	return out
}

// TestGatewayAndIndexLifecycle: an AI Gateway and a Vectorize index a template's spec declares
// are planned, created (the account's API lists them), left alone by a re-apply (no write)
// and removed by destroy; a gateway and an index created over the API, whether a worker of the
// spec uses them or not, are never changed or deleted.
func TestGatewayAndIndexLifecycle(t *testing.T) {
	t.Parallel()
	srv, env := startStandalone(t)
	c := newCLI(t, env)
	for _, id := range []string{"api-gw", "other-gw"} {
		accountAPI(t, srv, http.MethodPost, "/ai-gateway/gateways", map[string]any{"id": id, "cache_ttl": 30}, nil)
	}
	for _, name := range []string{"api-docs", "other-docs"} {
		accountAPI(t, srv, http.MethodPost, "/vectorize/v2/indexes",
			map[string]any{"name": name, "config": map[string]any{"dimensions": 384, "metric": "cosine"}}, nil)
	}
	var apiGatewayBefore json.RawMessage
	accountAPI(t, srv, http.MethodGet, "/ai-gateway/gateways/api-gw", nil, &apiGatewayBefore)

	specPath := initTemplate(t, c, "semantic-search", "docsearch")
	editFile(t, specPath, "      model: \"@cf/baai/bge-small-en-v1.5\"\n",
		"      model: \"@cf/baai/bge-small-en-v1.5\"\n      gateway: { id: docsearch-gw, cache_ttl: 60 }\n")
	// A second worker on the gateway and index made over the API.
	appendFile(t, specPath, `  reuser:
    main: ./src/worker.js
    compatibility_date: "2025-06-01"
    ai: { model: "@cf/baai/bge-small-en-v1.5", gateway: { id: api-gw } }
    vectorize: { index: api-docs, dimensions: 384, metric: cosine }
    api_key: { from: generate }
`)

	planned := planResources(t, c, specPath)
	for _, want := range []string{"ai_gateway docsearch-gw", "vectorize_index docsearch-docs"} {
		if planned[want].Action != "create" {
			t.Errorf("plan: %s is %+v, want to create it", want, planned[want])
		}
	}
	for _, foreign := range []string{"ai_gateway api-gw", "vectorize_index api-docs"} {
		if p := planned[foreign]; p.Action != "no-op" || !strings.Contains(p.Note, "not created by flareform") {
			t.Errorf("plan: %s (made over the API) is %+v, want it left alone", foreign, planned[foreign])
		}
	}

	res := applyJSON(t, c, specPath)
	for _, w := range res.Workers {
		if w.Error != "" || (w.Name == "docsearch" && (w.Smoke == nil || !w.Smoke.Passed)) {
			t.Fatalf("apply: worker %+v; want no error and a passed smoke test", w)
		}
	}
	if got, want := gatewayIDs(t, srv), []string{"api-gw", "docsearch-gw", "other-gw"}; !slices.Equal(got, want) {
		t.Errorf("after apply the account has gateways %v, want %v", got, want)
	}
	if got, want := indexNames(t, srv), []string{"api-docs", "docsearch-docs", "other-docs"}; !slices.Equal(got, want) {
		t.Errorf("after apply the account has indexes %v, want %v", got, want)
	}
	assertCallsThroughGateway(t, srv, deployed{srv: srv, name: "docsearch", key: storedKey(t, specPath, "docsearch")}, "docsearch-gw")

	srv.ResetRequests()
	r := c.mustRun(exitOK, "-f", specPath, "apply", "--auto-approve")
	if n := countWrites(srv.Requests()); n != 0 || !strings.Contains(r.stdout, "No changes.") {
		t.Errorf("re-apply made %d writes, stdout %q; want No changes. and 0 writes", n, r.stdout)
	}
	c.mustRun(exitOK, "-f", specPath, "plan", "--detailed-exitcode")

	c.mustRun(exitOK, "-f", specPath, "destroy", "--auto-approve")
	if got, want := gatewayIDs(t, srv), []string{"api-gw", "other-gw"}; !slices.Equal(got, want) {
		t.Errorf("after destroy the account has gateways %v, want %v", got, want)
	}
	if got, want := indexNames(t, srv), []string{"api-docs", "other-docs"}; !slices.Equal(got, want) {
		t.Errorf("after destroy the account has indexes %v, want %v", got, want)
	}
	var apiGatewayAfter json.RawMessage
	accountAPI(t, srv, http.MethodGet, "/ai-gateway/gateways/api-gw", nil, &apiGatewayAfter)
	if !bytes.Equal(apiGatewayBefore, apiGatewayAfter) {
		t.Errorf("the gateway made over the API changed:\nbefore %s\nafter  %s", apiGatewayBefore, apiGatewayAfter)
	}
	if n := len(listScripts(t, srv.APIBaseURL(), srv.Token(), srv.AccountID())); n != 0 {
		t.Errorf("%d scripts left after destroy", n)
	}
}

// assertCallsThroughGateway checks that a search request's model call went through gateway.
func assertCallsThroughGateway(t *testing.T, srv *localcf.Server, w deployed, gateway string) {
	t.Helper()
	before := len(srv.BindingCalls())
	w.postJSON(t, "/search", map[string]any{"query": "through the gateway"})
	for _, call := range srv.BindingCalls()[before:] {
		if strings.HasPrefix(call.Path, "/run/") && call.Gateway == gateway {
			return
		}
	}
	t.Errorf("no model call of the search went through gateway %s: %+v", gateway, srv.BindingCalls()[before:])
}

// TestBadResourceInputRefusedBeforeAnyWrite: a wrong rate_limit, vectorize or ai.gateway, or a
// binding name clash, in a template's spec makes apply fail at the spec's line with the fix,
// and nothing is written to the account.
func TestBadResourceInputRefusedBeforeAnyWrite(t *testing.T) {
	t.Parallel()
	srv, env := startStandalone(t)
	const withGateway = "      binding: AI\n      gateway: { id: chat-gw }\n"
	tests := []struct {
		name, template string
		edits          [][2]string // old, new: the edits that break the spec
		at             string      // text on the line the error must point at
		want           []string
	}{
		{"rate_limit period", "chat", [][2]string{{"      period: 60\n", "      period: 30\n"}}, "period: 30",
			[]string{"rate_limit.period 30 is not supported", "period: 10 or period: 60"}},
		{"rate_limit limit", "chat", [][2]string{{"      limit: 60\n", "      limit: 0\n"}}, "limit: 0",
			[]string{"rate_limit.limit 0 is not a whole number from 1 to 1000000"}},
		{"vectorize dimensions too big", "semantic-search", [][2]string{{"dimensions: 384", "dimensions: 4096"}}, "dimensions: 4096",
			[]string{"vectorize.dimensions 4096 is not a whole number from 1 to 1536"}},
		{"vectorize dimensions zero", "semantic-search", [][2]string{{"dimensions: 384", "dimensions: 0"}}, "dimensions: 0",
			[]string{"vectorize.dimensions 0 is not a whole number from 1 to 1536"}},
		{"vectorize metric", "semantic-search", [][2]string{{"metric: cosine", "metric: cosin"}}, "metric: cosin",
			[]string{`vectorize.metric "cosin"`, `did you mean "cosine"?`}},
		{"vectorize index name", "semantic-search", [][2]string{{"index: search-docs", "index: 9-docs"}}, "index: 9-docs",
			[]string{`"9-docs"`}},
		{"gateway id", "chat", [][2]string{{"      binding: AI\n", "      binding: AI\n      gateway: { id: My_Gateway }\n"}}, "My_Gateway",
			[]string{`ai.gateway.id "My_Gateway" must be 1 to 64 lowercase letters, digits and '-'`, `use e.g. "my-gateway"`}},
		{"gateway cache_ttl", "chat", [][2]string{{"      binding: AI\n", "      binding: AI\n      gateway: { id: gw, cache_ttl: 2592001 }\n"}}, "cache_ttl",
			[]string{"cache_ttl"}},
		{"vars clash with RATE_LIMITER", "chat", [][2]string{{"    vars:\n", "    vars:\n      RATE_LIMITER: \"1\"\n"}}, `RATE_LIMITER: "1"`,
			[]string{`binding name "RATE_LIMITER" of vars.RATE_LIMITER is already used by rate_limit`}},
		{"vars clash with AI_GATEWAY_ID", "chat", [][2]string{{"      binding: AI\n", withGateway}, {"    vars:\n", "    vars:\n      AI_GATEWAY_ID: other\n"}},
			"AI_GATEWAY_ID: other", []string{`binding name "AI_GATEWAY_ID" of vars.AI_GATEWAY_ID is already used by ai.gateway`}},
		{"vectorize binding clash with AI", "semantic-search", [][2]string{{"binding: VECTORIZE", "binding: AI # the AI binding's name"}}, "the AI binding's name",
			[]string{`binding name "AI" of vectorize.binding is already used by ai.binding`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t, copyEnv(env))
			name := "search"
			if tt.template == "chat" {
				name = "chat"
			}
			specPath := initTemplate(t, c, tt.template, name)
			for _, e := range tt.edits {
				editFile(t, specPath, e[0], e[1])
			}
			want := append([]string{specPath + ":" + strconv.Itoa(lineOf(t, specPath, tt.at)) + ":"}, tt.want...)
			srv.ResetRequests()
			r := c.run("-f", specPath, "apply", "--auto-approve")
			if r.code != exitError {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, exitError, r.stdout, r.stderr)
			}
			for _, w := range want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if n := countWrites(srv.Requests()); n != 0 {
				t.Errorf("%d API writes, want 0", n)
			}
		})
	}
}

// TestRotateKeyWhileCallersAreAtTheRateLimit: rotating the key of a busy worker, whose callers
// have used up their rate_limit for the minute, verifies the keys and hands the new key over,
// instead of failing after SmokeWait. The templates salt the limiter's key with API_KEY
// (lib/auth.js), so the rotation itself starts the callers' counts afresh; once the callers
// have used up the new key's limit too, --finish (which keeps API_KEY) verifies the current
// key by its 429.
func TestRotateKeyWhileCallersAreAtTheRateLimit(t *testing.T) {
	t.Parallel()
	srv, env := startStandalone(t)
	c := newCLI(t, env)
	try := 0
	inOneWindow(t, time.Minute, 15*time.Second, func() []string {
		// Each attempt deploys its own worker, so a repeated one starts with fresh counters.
		try++
		name := fmt.Sprintf("busy%d", try)
		specPath := initTemplate(t, c, "chat", name)
		editFile(t, specPath, "      limit: 60\n", "      limit: 3\n")
		c.mustRun(exitOK, "-f", specPath, "apply", "--auto-approve", "--no-smoke")
		oldKey := storedKey(t, specPath, name)
		w := deployed{srv: srv, name: name, key: oldKey}
		body := []byte(`{"prompt":"Say hello."}`)
		useUp := func(key string) bool {
			for i := 0; i < 4; i++ {
				if w.call(t, key, "/", "application/json", body).status == http.StatusTooManyRequests {
					return true
				}
			}
			return false
		}
		if !useUp(oldKey) {
			return []string{"the old key's fourth request: no 429"}
		}
		keyOut := filepath.Join(t.TempDir(), name+".key")
		r := c.run("-f", specPath, "rotate-key", name, "--grace", "1h", "--key-out", keyOut, "--json")
		if r.code != exitOK {
			return []string{fmt.Sprintf("rotate-key with the old key at its rate limit: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)}
		}
		var problems []string
		if check := rotateCheck(t, r.stdout, "old key still accepted"); !check.Passed {
			problems = append(problems, "rotate-key --json does not report the old key as accepted:\n"+r.stdout)
		}
		newKey := readKey(t, keyOut)
		if !useUp(newKey) {
			return append(problems, "the handed-over key never met its rate limit of 3")
		}
		r = c.run("-f", specPath, "rotate-key", name, "--finish", "--key-file", keyOut, "--json")
		if r.code != exitOK {
			return append(problems, fmt.Sprintf("rotate-key --finish with the current key at its rate limit: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr))
		}
		if check := rotateCheck(t, r.stdout, "current key accepted"); !check.Passed || !strings.Contains(check.Detail, "rate limited (429") {
			problems = append(problems, "rotate-key --finish --json does not report the current key as accepted at its rate limit:\n"+r.stdout)
		}
		return problems
	})
}

// checkJSON is one check in rotate-key's --json output.
type checkJSON struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail"`
}

// rotateCheck is the check called name in rotate-key's --json output (zero when absent).
func rotateCheck(t *testing.T, stdout, name string) checkJSON {
	t.Helper()
	var out struct {
		Checks []checkJSON `json:"checks"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Errorf("rotate-key --json output is not JSON: %v\n%s", err, stdout)
		return checkJSON{}
	}
	for _, c := range out.Checks {
		if c.Name == name {
			return c
		}
	}
	return checkJSON{}
}

// An apply whose smoke test meets the worker's rate limit (its clients used up the key's
// requests) waits for the limit to reset and checks the answer then: it neither reports a
// smoke test it could not run nor rolls back a good deploy.
func TestApplySmokeWaitsOutTheRateLimit(t *testing.T) {
	t.Parallel()
	srv, env := startStandalone(t)
	c := newCLI(t, env)
	specPath := initTemplate(t, c, "chat", "patient")
	editFile(t, specPath, "      limit: 60\n", "      limit: 2\n")
	editFile(t, specPath, "      period: 60\n", "      period: 10\n")
	editFile(t, specPath, `RATE_LIMIT_PERIOD: "60"`, `RATE_LIMIT_PERIOD: "10"`)
	c.mustRun(exitOK, "-f", specPath, "apply", "--auto-approve", "--no-smoke")
	key := storedKey(t, specPath, "patient")
	w := deployed{srv: srv, name: "patient", key: key}
	body := []byte(`{"prompt":"Say hello."}`)
	// The limiter's 10 s windows are aligned to the clock: use the key up early in a window, so
	// the apply's smoke request (well under a second later) meets the limit, not a fresh window.
	const period = 10 * time.Second
	if left := period - time.Since(time.Now().Truncate(period)); left < 7*time.Second {
		sleepCtx(t, left+100*time.Millisecond)
	}
	for w.call(t, key, "/", "application/json", body).status != http.StatusTooManyRequests {
	}
	editFile(t, specPath, `MAX_PROMPT_CHARS: "4000"`, `MAX_PROMPT_CHARS: "3999"`) // a new upload and its smoke test
	r := c.run("-f", specPath, "apply", "--auto-approve")
	if r.code != exitOK || !strings.Contains(r.stderr, "rate limited (429); waiting") || strings.Contains(r.stdout, "rolled back") {
		t.Fatalf("apply against a rate-limited key: exit %d, want 0 after waiting out the limit, no rollback\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}
