package main

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/flareform/flareform/provision/spec"
)

// invokeShape is what a worker's requests look like: one per template (templates/*/src/worker.js).
// It decides what `invoke --prompt` sends, the default path, and the call apply suggests.
type invokeShape int

const (
	shapeUnknown     invokeShape = iota // {"prompt"}, as most workers take it
	shapeTextToImage                    // {"prompt"} -> an image
	shapeChat                           // {"messages": [{"role": "user", "content"}]} -> {"response"} or SSE
	shapeEmbeddings                     // {"text"} -> {"shape", "data"}
	shapeSearch                         // POST /search {"query"} -> {"matches"}
	shapeSpeech                         // audio bytes -> {"text"}
	shapeVision                         // image bytes, ?prompt= -> {"description"}
)

// shapeOf tells a worker's shape from its spec: the Vectorize binding, then the smoke test
// (written by the template for exactly this request), then the model's task as its name tells it.
func shapeOf(w spec.Worker) invokeShape {
	if w.Vectorize != nil {
		return shapeSearch
	}
	if s := shapeOfSmoke(w.Smoke); s != shapeUnknown {
		return s
	}
	if w.AI != nil {
		return shapeOfModel(w.AI.Model)
	}
	return shapeUnknown
}

func shapeOfSmoke(sm *spec.Smoke) invokeShape {
	if sm == nil {
		return shapeUnknown
	}
	ct := strings.ToLower(sm.ContentType)
	switch {
	case strings.HasPrefix(ct, "audio/"):
		return shapeSpeech
	case strings.HasPrefix(ct, "image/"):
		return shapeVision
	case strings.HasPrefix(sm.Expect, "image/"):
		return shapeTextToImage
	case sm.Expect == "text/event-stream":
		return shapeChat
	}
	var body map[string]any
	_ = json.Unmarshal(sm.Body, &body) // not an object: no field tells
	has := func(field string) bool { _, ok := body[field]; return ok || slices.Contains(sm.ExpectFields, field) }
	switch {
	case has("messages") || has("response"):
		return shapeChat
	case has("query") || has("matches"):
		return shapeSearch
	case has("shape") || (has("text") && !has("prompt")):
		return shapeEmbeddings
	case has("description"):
		return shapeVision
	}
	return shapeUnknown
}

// modelTasks maps parts of Workers AI model names to their catalog task, for workers whose
// spec has no smoke test that tells.
var modelTasks = []struct {
	parts []string
	shape invokeShape
}{
	{[]string{"whisper", "/deepgram/nova"}, shapeSpeech},                                                                           // Automatic Speech Recognition
	{[]string{"/baai/bge-", "embedding", "/e5-", "plamo-embedding"}, shapeEmbeddings},                                              // Text Embeddings
	{[]string{"stable-diffusion", "dreamshaper", "/flux", "lucid-origin", "phoenix"}, shapeTextToImage},                            // Text-to-Image
	{[]string{"llava", "vision", "moondream", "uform"}, shapeVision},                                                               // Image-to-Text
	{[]string{"llama", "mistral", "qwen", "gemma", "glm", "deepseek", "gpt-oss", "kimi", "hermes", "phi-", "instruct"}, shapeChat}, // Text Generation
}

func shapeOfModel(model string) invokeShape {
	m := strings.ToLower(model)
	for _, t := range modelTasks {
		for _, p := range t.parts {
			if strings.Contains(m, p) {
				return t.shape
			}
		}
	}
	return shapeUnknown
}

// promptBody is the JSON body --prompt sends to a worker of shape s; stream asks a chat for
// server-sent events. Workers that take bytes (audio, an image) have none.
func promptBody(s invokeShape, name, prompt string, stream bool) ([]byte, error) {
	var doc map[string]any
	switch s {
	case shapeSpeech:
		return nil, fmt.Errorf("worker %s transcribes audio, not a prompt: send the audio with --data @speech.wav", name)
	case shapeVision:
		return nil, fmt.Errorf("worker %s describes an image: send one with --data @photo.png (--prompt adds the question)", name)
	case shapeChat:
		doc = map[string]any{"messages": []map[string]string{{"role": "user", "content": prompt}}}
	case shapeEmbeddings:
		doc = map[string]any{"text": prompt}
	case shapeSearch:
		doc = map[string]any{"query": prompt}
	default:
		doc = map[string]any{"prompt": prompt}
	}
	if stream && (s == shapeChat || s == shapeUnknown) {
		doc["stream"] = true
	}
	return json.Marshal(doc)
}

// invokePath is where invoke sends a request: --path as given, else the path of the spec's
// smoke test (with its query only for a worker of unknown shape: a template's smoke query
// keeps the test cheap, e.g. max_tokens=16), else /search for a search worker, else /. A
// vision worker's question goes in the query.
func invokePath(flagPath string, w spec.Worker, s invokeShape, visionPrompt string) (string, error) {
	p := flagPath
	if p == "" {
		p = "/"
		if w.Smoke != nil && w.Smoke.Path != "" {
			p = w.Smoke.Path
			if s != shapeUnknown {
				p, _, _ = strings.Cut(p, "?")
			}
		} else if s == shapeSearch {
			p = "/search"
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(u.Path, "/") {
		return "", fmt.Errorf("--path %q: want a path such as /search or /?q=1", p)
	}
	if visionPrompt != "" {
		q := u.Query()
		q.Set("prompt", visionPrompt)
		u.RawQuery = q.Encode()
	}
	return u.RequestURI(), nil
}

// fileTypes are the content types --data @FILE gets from a file's extension when its bytes do
// not tell (http.DetectContentType knows no JSON, and Go's own table no audio).
var fileTypes = map[string]string{
	".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".oga": "audio/ogg", ".opus": "audio/ogg",
	".flac": "audio/flac", ".m4a": "audio/mp4", ".webm": "audio/webm",
	".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp",
	".json": "application/json", ".txt": "text/plain; charset=utf-8",
}

// dataContentType is the content type of a --data @FILE body: what its bytes are when they
// tell (a WAV, PNG or JPEG by its signature), else what its extension says, else JSON when
// it parses as JSON, else what sniffing found (text or application/octet-stream).
func dataContentType(path string, data []byte) string {
	sniffed := http.DetectContentType(data)
	media, _, _ := mime.ParseMediaType(sniffed)
	switch {
	case media == "audio/wave":
		return "audio/wav"
	case strings.HasPrefix(media, "audio/") || strings.HasPrefix(media, "image/"):
		return media
	}
	if t, ok := fileTypes[strings.ToLower(filepath.Ext(path))]; ok {
		return t
	}
	if json.Valid(data) {
		return "application/json"
	}
	return sniffed
}

// isJSONType reports whether a content type is JSON (application/json, +json).
func isJSONType(contentType string) bool {
	media, _, _ := mime.ParseMediaType(contentType)
	return media == "application/json" || strings.HasSuffix(media, "+json")
}

// invokeExamples are the parts of `invoke` calls after the worker's name that fit a worker of
// shape s: what apply suggests to try a worker it deployed.
func invokeExamples(s invokeShape) []string {
	switch s {
	case shapeTextToImage:
		return []string{`--prompt "a lighthouse at dusk" -o answer.png`}
	case shapeChat:
		return []string{`--prompt "Tell me a joke." --stream`}
	case shapeEmbeddings:
		return []string{`--prompt "hello world"`}
	case shapeSearch:
		return []string{`--path /documents --data '{"id": "1", "text": "Cats purr when they are content."}'`, `--prompt "which animal purrs?"`}
	case shapeSpeech:
		return []string{"--data @speech.wav"}
	case shapeVision:
		return []string{`--data @photo.png --prompt "What is in this picture?"`}
	}
	return []string{`--data '{"prompt": "..."}'`}
}
