package ai

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"math"
	"strings"
	"testing"
)

func TestEncodeOpaquePNGIsLossless(t *testing.T) {
	seed := newImageSeed(sdxl, "pixels", "", 3)
	img, err := renderImage(context.Background(), seed, 300, 257)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := encodeOpaquePNG(context.Background(), &buf, newPicture(seed, 300, 257)); err != nil {
		t.Fatal(err)
	}
	decoded, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if decoded.Bounds() != img.Bounds() {
		t.Fatalf("bounds %v, want %v", decoded.Bounds(), img.Bounds())
	}
	for y := 0; y < 257; y++ {
		for x := 0; x < 300; x++ {
			wr, wg, wb, _ := img.At(x, y).RGBA()
			gr, gg, gb, ga := decoded.At(x, y).RGBA()
			if wr != gr || wg != gg || wb != gb || ga != 0xffff {
				t.Fatalf("pixel (%d,%d) = %v, want %v", x, y, decoded.At(x, y), img.At(x, y))
			}
		}
	}
}

type textOut struct {
	Response string `json:"response"`
	Usage    *struct {
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

func TestTextGeneration(t *testing.T) {
	s := NewService()
	var a, b, c textOut
	roundTripJSON(t, mustRun(t, s, llamaFast, map[string]any{"prompt": "Tell me about otters"}), &a)
	roundTripJSON(t, mustRun(t, s, llamaFast, map[string]any{"prompt": "Tell me about otters"}), &b)
	roundTripJSON(t, mustRun(t, s, llamaFast, map[string]any{"messages": []map[string]string{
		{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Why is the sky blue?"}}}), &c)
	if a.Response != b.Response {
		t.Errorf("same prompt gave %q and %q", a.Response, b.Response)
	}
	if !strings.Contains(a.Response, "Tell me about otters") || !strings.Contains(a.Response, "stand-in") {
		t.Errorf("response %q should echo the prompt and say it is a stand-in", a.Response)
	}
	if !strings.Contains(c.Response, "Why is the sky blue?") || strings.Contains(c.Response, "terse") {
		t.Errorf("chat response %q should echo the last user message only", c.Response)
	}
	if a.Usage != nil {
		t.Errorf("%s answered usage; its schema lists only response and tool_calls", llamaFast)
	}
	var short textOut
	roundTripJSON(t, mustRun(t, s, llama70B, map[string]any{"prompt": "Tell me about otters", "max_tokens": 3}), &short)
	if got := len(strings.Fields(short.Response)); got != 3 || short.Usage == nil || short.Usage.CompletionTokens != 3 {
		t.Errorf("max_tokens 3 gave %d words (%q), usage %+v", got, short.Response, short.Usage)
	}
}

// sseEvents splits an event stream into its data payloads, the last of which must be [DONE].
func sseEvents(t *testing.T, body []byte) []string {
	t.Helper()
	text := string(body)
	if !strings.HasSuffix(text, "data: [DONE]\n\n") {
		t.Fatalf("stream does not end with data: [DONE]: %q", text)
	}
	var payloads []string
	for _, ev := range strings.Split(strings.TrimSuffix(text, "\n\n"), "\n\n") {
		payload, ok := strings.CutPrefix(ev, "data: ")
		if !ok {
			t.Fatalf("event %q lacks the data: prefix", ev)
		}
		payloads = append(payloads, payload)
	}
	return payloads[:len(payloads)-1]
}

func TestTextGenerationStream(t *testing.T) {
	s := NewService()
	out := mustRun(t, s, llamaFast, map[string]any{"prompt": "Stream please", "stream": true})
	if out.ContentType != "text/event-stream" {
		t.Fatalf("content type %q, want text/event-stream", out.ContentType)
	}
	events := sseEvents(t, out.Body)
	var joined strings.Builder
	for _, payload := range events {
		var tok map[string]any
		if err := json.Unmarshal([]byte(payload), &tok); err != nil || len(tok) != 1 || tok["response"] == nil {
			t.Fatalf("event payload %q is not {\"response\":...}: %v", payload, err)
		}
		joined.WriteString(tok["response"].(string))
	}
	if len(events) < 2 {
		t.Fatalf("only %d events", len(events))
	}
	var whole textOut
	roundTripJSON(t, mustRun(t, s, llamaFast, map[string]any{"prompt": "Stream please"}), &whole)
	if joined.String() != whole.Response {
		t.Errorf("streamed tokens join to %q, non-streamed response is %q", joined.String(), whole.Response)
	}
}

type completionOut struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		Delta *struct {
			Role    string  `json:"role"`
			Content *string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
}

// TestOpenAIChatCompletion: glm-4.7-flash and gemma-4 answer a Chat Completions object.
func TestOpenAIChatCompletion(t *testing.T) {
	s := serviceOn(t, "2026-12-06")
	for _, model := range []string{glm, gemma} {
		var got completionOut
		roundTripJSON(t, mustRun(t, s, model, map[string]any{
			"messages": []map[string]string{{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello robot"}}}), &got)
		if got.Object != "chat.completion" || !strings.HasPrefix(got.ID, "chatcmpl-") || got.Model != model || got.Created != 1796558400 ||
			len(got.Choices) != 1 {
			t.Fatalf("%s: %+v", model, got)
		}
		c := got.Choices[0]
		if c.Index != 0 || c.Message.Role != "assistant" || !strings.Contains(c.Message.Content, "hello robot") ||
			c.FinishReason == nil || *c.FinishReason != "stop" {
			t.Errorf("%s: choice %+v", model, c)
		}
		if u := got.Usage; u == nil || u.PromptTokens != 4 || u.CompletionTokens == 0 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
			t.Errorf("%s: usage %+v", model, got.Usage)
		}
		roundTripJSON(t, mustRun(t, s, model, map[string]any{"prompt": "hello robot", "max_completion_tokens": 2}), &got)
		if words := strings.Fields(got.Choices[0].Message.Content); len(words) != 2 || *got.Choices[0].FinishReason != "length" {
			t.Errorf("%s: max_completion_tokens 2 gave %q, finish %v", model, got.Choices[0].Message.Content, *got.Choices[0].FinishReason)
		}
	}
}

// TestOpenAIChatStream: streamed, the same answer comes as chat.completion.chunk events whose
// deltas join to it, a last chunk with finish_reason, usage when asked for, then [DONE].
func TestOpenAIChatStream(t *testing.T) {
	s := NewService()
	var whole completionOut
	roundTripJSON(t, mustRun(t, s, glm, map[string]any{"prompt": "stream please"}), &whole)
	out := mustRun(t, s, glm, map[string]any{"prompt": "stream please", "stream": true, "stream_options": map[string]bool{"include_usage": true}})
	if out.ContentType != "text/event-stream" {
		t.Fatalf("content type %q", out.ContentType)
	}
	events := sseEvents(t, out.Body)
	var joined strings.Builder
	var finish string
	var usage bool
	for i, payload := range events {
		var chunk completionOut
		if err := json.Unmarshal([]byte(payload), &chunk); err != nil || chunk.Object != "chat.completion.chunk" || chunk.Model != glm {
			t.Fatalf("event %d %q is not a chat.completion.chunk (%v)", i, payload, err)
		}
		if chunk.Usage != nil {
			usage = len(chunk.Choices) == 0
			continue
		}
		d := chunk.Choices[0].Delta
		if d == nil {
			t.Fatalf("chunk %q has no delta", payload)
		}
		if i == 0 && d.Role != "assistant" {
			t.Errorf("first delta %+v has no assistant role", d)
		}
		if d.Content != nil {
			joined.WriteString(*d.Content)
		}
		if f := chunk.Choices[0].FinishReason; f != nil {
			finish = *f
		}
	}
	if joined.String() != whole.Choices[0].Message.Content || finish != "stop" || !usage {
		t.Errorf("deltas join to %q (want %q), finish %q, usage chunk %v", joined.String(), whole.Choices[0].Message.Content, finish, usage)
	}
}

// TestVisionModelsSeeTheImage: an image sent to gemma as an image_url data URI, or to Llama
// 3.2 Vision as image bytes, is named in the answer.
func TestVisionModelsSeeTheImage(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 7, 5))
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	uri := "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())
	var got completionOut
	roundTripJSON(t, mustRun(t, NewService(), gemma, map[string]any{"messages": []any{map[string]any{"role": "user", "content": []any{
		map[string]any{"type": "text", "text": "What is this?"},
		map[string]any{"type": "image_url", "image_url": map[string]string{"url": uri}},
	}}}}), &got)
	if text := got.Choices[0].Message.Content; !strings.Contains(text, "7x5 png image") || !strings.Contains(text, "What is this?") {
		t.Errorf("gemma answer %q does not name the 7x5 PNG and the question", text)
	}
	var legacy textOut
	roundTripJSON(t, mustRun(t, NewService(), "@cf/meta/llama-3.2-11b-vision-instruct",
		map[string]any{"prompt": "What is this?", "image": byteInts(buf.Bytes())}), &legacy)
	if !strings.Contains(legacy.Response, "7x5 png image") {
		t.Errorf("llama vision answer %q does not name the 7x5 PNG", legacy.Response)
	}
}

func byteInts(b []byte) []int {
	ints := make([]int, len(b))
	for i, v := range b {
		ints[i] = int(v)
	}
	return ints
}

type embedOut struct {
	Shape []int       `json:"shape"`
	Data  [][]float64 `json:"data"`
}

func cosine(a, b []float64) float64 {
	var dot float64
	for i := range a {
		dot += a[i] * b[i]
	}
	return dot
}

func TestEmbeddings(t *testing.T) {
	s := NewService()
	dims := map[string]int{
		"@cf/baai/bge-small-en-v1.5": 384,
		"@cf/baai/bge-base-en-v1.5":  768,
		"@cf/baai/bge-large-en-v1.5": 1024,
	}
	texts := []string{"the cat sat on the mat", "a cat on a mat", "quarterly revenue grew", "!!!"}
	for model, dim := range dims {
		var out embedOut
		roundTripJSON(t, mustRun(t, s, model, map[string]any{"text": texts}), &out)
		if len(out.Shape) != 2 || out.Shape[0] != len(texts) || out.Shape[1] != dim || len(out.Data) != len(texts) {
			t.Fatalf("%s: shape %v with %d vectors, want [%d %d]", model, out.Shape, len(out.Data), len(texts), dim)
		}
		for i, vec := range out.Data {
			if len(vec) != dim {
				t.Fatalf("%s: vector %d has %d dims, want %d", model, i, len(vec), dim)
			}
			if norm := math.Sqrt(cosine(vec, vec)); math.Abs(norm-1) > 1e-9 {
				t.Errorf("%s: vector %d has norm %v, want 1", model, i, norm)
			}
		}
		related, unrelated := cosine(out.Data[0], out.Data[1]), cosine(out.Data[0], out.Data[2])
		if related <= unrelated {
			t.Errorf("%s: similarity of texts sharing words %v <= unrelated %v", model, related, unrelated)
		}
	}
	var one, again embedOut
	roundTripJSON(t, mustRun(t, s, bgeSmall, map[string]any{"text": "hello world"}), &one)
	roundTripJSON(t, mustRun(t, s, bgeSmall, map[string]any{"text": []string{"hello world"}}), &again)
	if one.Shape[0] != 1 || cosine(one.Data[0], again.Data[0]) < 1-1e-12 {
		t.Errorf("a string and a one-item array should embed identically: shape %v", one.Shape)
	}
}

func TestWhisper(t *testing.T) {
	var out struct {
		Text      string `json:"text"`
		WordCount int    `json:"word_count"`
		Words     []struct {
			Word       string
			Start, End float64
		} `json:"words"`
		VTT string `json:"vtt"`
	}
	roundTripJSON(t, mustRun(t, NewService(), whisper, map[string]any{"audio": []int{1, 2, 3, 250}}), &out)
	if out.Text == "" || out.WordCount != len(strings.Fields(out.Text)) || len(out.Words) != out.WordCount {
		t.Errorf("text %q, word_count %d, %d words: counts disagree", out.Text, out.WordCount, len(out.Words))
	}
	if !strings.HasPrefix(out.VTT, "WEBVTT\n") || !strings.Contains(out.VTT, out.Text) {
		t.Errorf("vtt %q should be WebVTT containing the text", out.VTT)
	}
}

func TestImageToTextDescribesRealImages(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 7, 5))
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Description string `json:"description"`
	}
	// encoding/json sends []byte as base64, which LLaVA also takes.
	roundTripJSON(t, mustRun(t, NewService(), llava, map[string]any{"image": buf.Bytes(), "prompt": "What is shown?"}), &out)
	if !strings.Contains(out.Description, "7x5 png image") || !strings.Contains(out.Description, "What is shown?") {
		t.Errorf("description %q", out.Description)
	}
	// LLaVA takes image and prompt; messages are not among its inputs and say nothing.
	roundTripJSON(t, mustRun(t, NewService(), llava, map[string]any{"image": byteInts(buf.Bytes()),
		"messages": []map[string]string{{"role": "user", "content": "Which colour?"}}}), &out)
	if !strings.Contains(out.Description, "7x5 png image") || strings.Contains(out.Description, "Which colour?") {
		t.Errorf("description %q should name the image and ignore messages", out.Description)
	}
}

func TestMoondream(t *testing.T) {
	uri := "data:image/png;base64," + base64.StdEncoding.EncodeToString(pngOf(t, 3, 4))
	var got struct {
		FinishReason string          `json:"finish_reason"`
		Metrics      map[string]any  `json:"metrics"`
		Answer       string          `json:"answer"`
		Reasoning    json.RawMessage `json:"reasoning"`
	}
	roundTripJSON(t, mustRun(t, NewService(), moondream, map[string]any{"image": uri, "question": "How big?", "stream": false}), &got)
	if got.FinishReason != "stop" || len(got.Metrics) != 5 || !strings.Contains(got.Answer, "3x4 png image") || got.Reasoning == nil {
		t.Errorf("moondream answer %+v", got)
	}
	// It streams unless told not to.
	if out := mustRun(t, NewService(), moondream, map[string]any{"image": uri, "task": "caption"}); out.ContentType != "text/event-stream" {
		t.Errorf("moondream without stream: %s, want an event stream", out.ContentType)
	}
	if e := runError(t, NewService(), moondream, []byte(`{"task":"detect"}`)); e.Code != CodeInvalidInput {
		t.Errorf("detect without an image: %v", e)
	}
}

func pngOf(t *testing.T, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewNRGBA(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestAsyncBatchAnswersARequestID: the batch form is queued on Cloudflare; the stand-in
// answers the async response's shape.
func TestAsyncBatchAnswersARequestID(t *testing.T) {
	var got map[string]string
	roundTripJSON(t, mustRun(t, NewService(), bgeSmall, map[string]any{"requests": []map[string]any{{"text": "a"}}}), &got)
	if len(got) != 1 || got["request_id"] == "" {
		t.Errorf("batch answer %v, want {request_id}", got)
	}
}

func TestConcurrentRunsAgree(t *testing.T) {
	s := NewService()
	body := []byte(`{"prompt":"shared service","width":256,"height":256}`)
	want := mustRun(t, s, sdxl, string(body)).Body
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			out, err := s.Run(context.Background(), sdxl, body)
			if err == nil && !bytes.Equal(out.Body, want) {
				err = errors.New("concurrent run produced different bytes")
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestWhisperTakesTheAudioItself: the catalog documents Whisper's input as the audio bytes or
// {"audio": [...]}; REST callers send the file as the body (any Content-Type but JSON's), the
// binding sends the object. A bare JSON array is neither.
func TestWhisperTakesTheAudioItself(t *testing.T) {
	s := NewService()
	audio := []byte("RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00")
	want := transcribe(audio).Text
	for name, req := range map[string]struct {
		ctype string
		body  []byte
	}{
		"object":                  {"application/json", mustJSON(t, map[string]any{"audio": byteInts(audio)})},
		"object, charset":         {"application/json; charset=utf-8", mustJSON(t, map[string]any{"audio": byteInts(audio)})},
		"raw bytes":               {"audio/wav", audio},
		"raw bytes, no type":      {"", audio},
		"curl --data-binary form": {"application/x-www-form-urlencoded", audio},
	} {
		out, err := s.RunRequest(context.Background(), whisper, req.ctype, req.body)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := out.JSON.(speechResult).Text; got != want {
			t.Errorf("%s: text %q, want %q", name, got, want)
		}
	}
	// Only application/json is JSON: with another type the body is the audio, whatever it holds.
	body := mustJSON(t, map[string]any{"audio": []int{1, 2}})
	out, err := s.RunRequest(context.Background(), whisper, "application/jsonl", body)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.JSON.(speechResult).Text; got != transcribe(body).Text {
		t.Errorf("application/jsonl body was read as JSON: %q", got)
	}
	for name, body := range map[string][]byte{
		"bare byte array":                        []byte("[1, 2]"),
		"object sans audio":                      []byte(`{"sound": [1]}`),
		"Uint8Array as JSON.stringify writes it": []byte(`{"audio": {"0": 1, "1": 2}}`),
	} {
		if e := runError(t, s, whisper, body); e.Code != CodeInvalidInput {
			t.Errorf("%s: code %d (%s), want %d", name, e.Code, e.Message, CodeInvalidInput)
		}
	}
	sch, _ := s.Schema(whisper)
	if oneOf, _ := sch["input"].(map[string]any)["oneOf"].([]any); len(oneOf) != 2 {
		t.Errorf("whisper input schema %v should be oneOf [binary, object] like the catalog's", sch["input"])
	}
	if e := runError(t, s, sdxl, []byte("\x89PNG raw")); e.Code != CodeInvalidInput {
		t.Errorf("a model without a binary input took raw bytes: code %d", e.Code)
	}
	// A JSON-only model reads its body as JSON whatever the label (Cloudflare's curl examples
	// send -d '{...}' as application/x-www-form-urlencoded).
	if _, err := s.RunRequest(context.Background(), llamaFast, "application/x-www-form-urlencoded", []byte(`{"prompt":"hi"}`)); err != nil {
		t.Errorf("llama fast with a form Content-Type: %v", err)
	}
}
