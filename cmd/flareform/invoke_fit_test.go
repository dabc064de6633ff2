package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flareform/flareform/provision/spec"
	"github.com/flareform/flareform/templates"
)

// jsonCall is an invoke request with a JSON body.
func jsonCall(body string) invokeCall {
	return invokeCall{body: []byte(body), contentType: "application/json", path: "/"}
}

// wavBytes is the start of a RIFF WAVE file: enough for its signature.
var wavBytes = append([]byte("RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00"), make([]byte, 32)...)

// pngBytes is the PNG signature and the start of an IHDR chunk.
var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00")

// templateWorker loads the worker `init --template name` writes.
func templateSpecWorker(t *testing.T, template string) spec.Worker {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "w")
	if _, err := templates.Write(dir, templates.Options{Template: template, WorkerName: "w"}); err != nil {
		t.Fatal(err)
	}
	s, err := spec.Load(filepath.Join(dir, "flareform.yaml"), "", offlineEnv(func(string) string { return "" }))
	if err != nil {
		t.Fatal(err)
	}
	return s.Workers[0]
}

// TestInvokeRequestFitsEveryTemplate: --prompt becomes the input each template's worker takes
// (templates/*/src/worker.js), sent where it listens; audio and images go as --data @FILE bytes
// with the content type the file tells.
func TestInvokeRequestFitsEveryTemplate(t *testing.T) {
	dir := t.TempDir()
	wav, png := filepath.Join(dir, "speech.wav"), filepath.Join(dir, "photo.png")
	os.WriteFile(wav, wavBytes, 0o644)
	os.WriteFile(png, pngBytes, 0o644)
	cases := []struct {
		template string
		opts     invokeOptions
		body     string // "" when the body is a file's bytes
		ctype    string
		path     string
		wantErr  string
	}{
		{template: "text-to-image", opts: invokeOptions{Prompt: "a boat"}, body: `{"prompt":"a boat"}`, ctype: "application/json", path: "/"},
		{template: "chat", opts: invokeOptions{Prompt: "hi"}, body: `{"messages":[{"content":"hi","role":"user"}]}`, ctype: "application/json", path: "/"},
		{template: "chat", opts: invokeOptions{Prompt: "hi", Stream: true}, body: `{"messages":[{"content":"hi","role":"user"}],"stream":true}`, ctype: "application/json", path: "/"},
		{template: "embeddings", opts: invokeOptions{Prompt: "hello"}, body: `{"text":"hello"}`, ctype: "application/json", path: "/"},
		{template: "semantic-search", opts: invokeOptions{Prompt: "cats"}, body: `{"query":"cats"}`, ctype: "application/json", path: "/search"},
		{template: "semantic-search", opts: invokeOptions{Data: `{"id":"1","text":"x"}`, Path: "/documents"}, body: `{"id":"1","text":"x"}`, ctype: "application/json", path: "/documents"},
		{template: "speech-to-text", opts: invokeOptions{Data: "@" + wav}, ctype: "audio/wav", path: "/"},
		{template: "speech-to-text", opts: invokeOptions{Prompt: "hi"}, wantErr: "--data @speech.wav"},
		{template: "image-to-text", opts: invokeOptions{Data: "@" + png}, ctype: "image/png", path: "/"},
		{template: "image-to-text", opts: invokeOptions{Data: "@" + png, Prompt: "What is this?"}, ctype: "image/png", path: "/?prompt=What+is+this%3F"},
		{template: "image-to-text", opts: invokeOptions{Prompt: "What is this?"}, wantErr: "--data @photo.png"},
		{template: "text-to-image", opts: invokeOptions{Data: "@" + png, Prompt: "x"}, wantErr: "give one of them"},
		{template: "speech-to-text", opts: invokeOptions{Data: "@" + png, ContentType: "audio/mpeg"}, ctype: "audio/mpeg", path: "/"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s %+v", tc.template, tc.opts), func(t *testing.T) {
			w := templateSpecWorker(t, tc.template)
			d, err := readInvokeData(&tc.opts)
			var call invokeCall
			if err == nil {
				call, err = newInvokeCall(&tc.opts, w, d)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.body != "" && string(call.body) != tc.body {
				t.Errorf("body %s, want %s", call.body, tc.body)
			}
			if tc.body == "" && !bytes.Equal(call.body, d.body) {
				t.Errorf("body is not the file's bytes")
			}
			if call.contentType != tc.ctype || call.path != tc.path {
				t.Errorf("content type %q path %q, want %q %q", call.contentType, call.path, tc.ctype, tc.path)
			}
		})
	}
}

func TestInvokeDataContentType(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		return "@" + p
	}
	for _, tt := range []struct {
		opts    invokeOptions
		want    string
		wantErr string
	}{
		{invokeOptions{Data: write("a.wav", wavBytes)}, "audio/wav", ""},
		{invokeOptions{Data: write("recording", wavBytes)}, "audio/wav", ""}, // the bytes tell
		{invokeOptions{Data: write("a.png", pngBytes)}, "image/png", ""},
		{invokeOptions{Data: write("a.jpg", []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"))}, "image/jpeg", ""},
		{invokeOptions{Data: write("a.mp3", []byte("not really mp3 bytes"))}, "audio/mpeg", ""},
		{invokeOptions{Data: write("body.json", []byte(`{"prompt":"x"}`))}, "application/json", ""},
		{invokeOptions{Data: write("body", []byte(`{"prompt":"x"}`))}, "application/json", ""},
		{invokeOptions{Data: write("bad.json", []byte(`{"prompt":`))}, "", "not a JSON document"},
		{invokeOptions{Data: `{"a":1}`}, "application/json", ""},
		{invokeOptions{Data: "not json"}, "", "not a JSON document"},
		{invokeOptions{Data: "plain words", ContentType: "text/plain"}, "text/plain", ""},
		{invokeOptions{Data: write("b.bin", []byte{1, 2, 3}), ContentType: "audio/wav"}, "audio/wav", ""},
		{invokeOptions{Prompt: "x", ContentType: "audio/wav"}, "", "give --data too"},
		{invokeOptions{Data: "{}", ContentType: "not a type"}, "", "not a media type"},
		{invokeOptions{}, "", "needs a request body"},
	} {
		d, err := readInvokeData(&tt.opts)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%+v: err %v, want %q", tt.opts, err, tt.wantErr)
			}
			continue
		}
		if err != nil || d.contentType != tt.want {
			t.Errorf("%+v: content type %q, %v; want %q", tt.opts, d.contentType, err, tt.want)
		}
	}
}

// The worker receives the file's bytes with their type: a WAV reaches speech-to-text whole.
func TestInvokeSendsFileBytesWithTheirType(t *testing.T) {
	var got []byte
	var gotType string
	addr := fakeWorker(t, "k", func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		b.ReadFrom(r.Body)
		got, gotType = b.Bytes(), r.Header.Get("Content-Type")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"text":"hello"}`)
	})
	opts, stdout, _ := invokeOpts(false, false, "")
	call := invokeCall{body: wavBytes, contentType: "audio/wav", path: "/"}
	if err := callWorker(t.Context(), opts, "w", invokeRequest{URL: "https://w.example.workers.dev/", Dial: addr}, "k", call); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, wavBytes) || gotType != "audio/wav" {
		t.Errorf("worker got %d bytes of %q", len(got), gotType)
	}
	if stdout.String() != `{"text":"hello"}` {
		t.Errorf("stdout %q, want the answer as sent", stdout.String())
	}
}

// A chat answer prints as its text on a terminal; piped and with --json it is the raw answer.
func TestInvokeChatAnswerIsTextOnATerminal(t *testing.T) {
	answer := `{"response":"Hello there.","usage":{"prompt_tokens":2}}`
	addr := fakeWorker(t, "k", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, answer)
	})
	target := invokeRequest{URL: "https://w.example.workers.dev/", Dial: addr}
	opts, stdout, _ := invokeOpts(false, true, "")
	if err := callWorker(t.Context(), opts, "w", target, "k", jsonCall(`{}`)); err != nil || stdout.String() != "Hello there.\n" {
		t.Errorf("terminal: %q, %v; want the answer's text", stdout.String(), err)
	}
	opts, stdout, _ = invokeOpts(false, false, "")
	if err := callWorker(t.Context(), opts, "w", target, "k", jsonCall(`{}`)); err != nil || stdout.String() != answer {
		t.Errorf("pipe: %q, %v; want the raw answer", stdout.String(), err)
	}
	opts, stdout, _ = invokeOpts(true, true, "")
	if err := callWorker(t.Context(), opts, "w", target, "k", jsonCall(`{}`)); err != nil {
		t.Fatal(err)
	}
	var res struct{ Body json.RawMessage }
	var body bytes.Buffer
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || json.Compact(&body, res.Body) != nil || body.String() != answer {
		t.Errorf("--json body %s (%v), want the raw answer %s", res.Body, err, answer)
	}
}

// Other JSON reads indented on a terminal: speech-to-text's {text}.
func TestInvokeJSONIsIndentedOnATerminal(t *testing.T) {
	addr := fakeWorker(t, "k", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"text":"hello","word_count":1}`)
	})
	opts, stdout, _ := invokeOpts(false, true, "")
	if err := callWorker(t.Context(), opts, "w", invokeRequest{URL: "https://w.example.workers.dev/", Dial: addr}, "k", jsonCall(`{}`)); err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"text\": \"hello\",\n  \"word_count\": 1\n}\n"; stdout.String() != want {
		t.Errorf("terminal: %q, want %q", stdout.String(), want)
	}
}

// A streamed chat in the OpenAI form flows as one text too; other events keep their own lines.
func TestInvokeStreamFlowsAsText(t *testing.T) {
	var out bytes.Buffer
	in := "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n" +
		"data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n" +
		"data: {\"choices\":[{\"delta\":{}}],\"usage\":{\"total_tokens\":3}}\n\n" +
		"data: [DONE]\n\n"
	if err := copyEvents(&out, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if want := "Hello\n{\"choices\":[{\"delta\":{}}],\"usage\":{\"total_tokens\":3}}\n"; out.String() != want {
		t.Errorf("stream output %q, want %q", out.String(), want)
	}
}

// apply's hint suggests, per worker, the call its template takes.
func TestInvokeExampleFitsEveryTemplate(t *testing.T) {
	want := map[string]string{
		"text-to-image":   `--prompt "a lighthouse at dusk" -o answer.png`,
		"chat":            `--prompt`,
		"embeddings":      `--prompt`,
		"semantic-search": `--path /documents`,
		"speech-to-text":  `--data @speech.wav`,
		"image-to-text":   `--data @photo.png --prompt`,
	}
	for _, name := range templates.Names() {
		ex := strings.Join(invokeExamples(shapeOf(templateSpecWorker(t, name))), "\n")
		if want[name] == "" || !strings.Contains(ex, want[name]) {
			t.Errorf("%s: suggested %q, want it to hold %q", name, ex, want[name])
		}
		if name != "text-to-image" && strings.Contains(ex, "answer.png") {
			t.Errorf("%s: suggested the text-to-image call %q", name, ex)
		}
	}
}

// A worker without a telling smoke test is known by its model's task.
func TestInvokeShapeFromTheModel(t *testing.T) {
	for model, want := range map[string]invokeShape{
		"@cf/openai/whisper-large-v3-turbo":            shapeSpeech,
		"@cf/baai/bge-m3":                              shapeEmbeddings,
		"@cf/black-forest-labs/flux-1-schnell":         shapeTextToImage,
		"@cf/meta/llama-3.2-11b-vision-instruct":       shapeVision,
		"@cf/meta/llama-3.3-70b-instruct-fp8-fast":     shapeChat,
		"@cf/myshell-ai/melotts":                       shapeUnknown,
		"@cf/stabilityai/stable-diffusion-xl-base-1.0": shapeTextToImage,
	} {
		if got := shapeOf(spec.Worker{AI: &spec.AIBinding{Model: model}}); got != want {
			t.Errorf("%s: shape %d, want %d", model, got, want)
		}
	}
}

// A worker no template made gets {"prompt"} (with "stream" when asked), as before.
func TestInvokePromptForAWorkerOfNoTemplate(t *testing.T) {
	w := spec.Worker{Key: "x", Name: "x"}
	for _, tt := range []struct {
		opts invokeOptions
		want string
	}{
		{invokeOptions{Prompt: "hi"}, `{"prompt":"hi"}`},
		{invokeOptions{Prompt: "hi", Stream: true}, `{"prompt":"hi","stream":true}`},
		{invokeOptions{Data: `{"a":1}`}, `{"a":1}`},
	} {
		d, err := readInvokeData(&tt.opts)
		if err != nil {
			t.Fatal(err)
		}
		call, err := newInvokeCall(&tt.opts, w, d)
		if err != nil || string(call.body) != tt.want || call.path != "/" || call.contentType != "application/json" {
			t.Errorf("%+v: %s %s %s, %v; want %s to /", tt.opts, call.body, call.contentType, call.path, err, tt.want)
		}
	}
}
