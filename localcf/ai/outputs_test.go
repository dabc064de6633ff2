package ai

import (
	"bytes"
	"context"
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
	Usage    struct {
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

func TestTextGeneration(t *testing.T) {
	s := NewService()
	var a, b, c textOut
	roundTripJSON(t, mustRun(t, s, llama3, map[string]any{"prompt": "Tell me about otters"}), &a)
	roundTripJSON(t, mustRun(t, s, llama3, map[string]any{"prompt": "Tell me about otters"}), &b)
	roundTripJSON(t, mustRun(t, s, llama3, map[string]any{"messages": []map[string]string{
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
	var short textOut
	roundTripJSON(t, mustRun(t, s, llama3, map[string]any{"prompt": "Tell me about otters", "max_tokens": 3}), &short)
	if got := len(strings.Fields(short.Response)); got != 3 || short.Usage.CompletionTokens != 3 {
		t.Errorf("max_tokens 3 gave %d words (%q), usage %d", got, short.Response, short.Usage.CompletionTokens)
	}
}

func TestTextGenerationStream(t *testing.T) {
	s := NewService()
	out := mustRun(t, s, llama3, map[string]any{"prompt": "Stream please", "stream": true})
	if out.ContentType != "text/event-stream" {
		t.Fatalf("content type %q, want text/event-stream", out.ContentType)
	}
	body := string(out.Body)
	if !strings.HasSuffix(body, "data: [DONE]\n\n") {
		t.Fatalf("stream does not end with data: [DONE]: %q", body)
	}
	events := strings.Split(strings.TrimSuffix(body, "\n\n"), "\n\n")
	var joined strings.Builder
	for _, ev := range events[:len(events)-1] {
		payload, ok := strings.CutPrefix(ev, "data: ")
		if !ok {
			t.Fatalf("event %q lacks the data: prefix", ev)
		}
		var tok struct {
			Response *string `json:"response"`
		}
		if err := json.Unmarshal([]byte(payload), &tok); err != nil || tok.Response == nil {
			t.Fatalf("event payload %q is not {\"response\":...}: %v", payload, err)
		}
		joined.WriteString(*tok.Response)
	}
	if len(events) < 3 {
		t.Fatalf("only %d events", len(events))
	}
	var whole textOut
	roundTripJSON(t, mustRun(t, s, llama3, map[string]any{"prompt": "Stream please"}), &whole)
	if joined.String() != whole.Response {
		t.Errorf("streamed tokens join to %q, non-streamed response is %q", joined.String(), whole.Response)
	}
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
	roundTripJSON(t, mustRun(t, NewService(), "@cf/llava-hf/llava-1.5-7b-hf",
		map[string]any{"image": buf.Bytes(), "prompt": "What is shown?"}), &out)
	// encoding/json sends []byte as base64, which the models also accept.
	if !strings.Contains(out.Description, "encoded image") || !strings.Contains(out.Description, "What is shown?") {
		t.Errorf("description %q", out.Description)
	}
	ints := make([]int, buf.Len())
	for i, b := range buf.Bytes() {
		ints[i] = int(b)
	}
	roundTripJSON(t, mustRun(t, NewService(), uform, map[string]any{"image": ints}), &out)
	if !strings.Contains(out.Description, "7x5 png image") {
		t.Errorf("description %q should name the decoded size", out.Description)
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
// {"audio": [...]}; REST callers send the file as the body, the workerd shim sends a bare
// byte array for env.AI.run(model, uint8Array). All three transcribe the same bytes.
func TestWhisperTakesTheAudioItself(t *testing.T) {
	s := NewService()
	audio := []byte("RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00")
	asNumbers := make([]int, len(audio))
	for i, b := range audio {
		asNumbers[i] = int(b)
	}
	want := transcribe(audio).Text
	for name, body := range map[string][]byte{
		"object":     mustJSON(t, map[string]any{"audio": asNumbers}),
		"byte array": mustJSON(t, asNumbers),
		"raw bytes":  audio,
	} {
		out, err := s.Run(context.Background(), whisper, body)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := out.JSON.(speechResult).Text; got != want {
			t.Errorf("%s: text %q, want %q", name, got, want)
		}
	}
	for name, body := range map[string][]byte{
		"byte out of range": []byte("[1, 256]"),
		"JSON string":       []byte(`"audio"`),
		"object sans audio": []byte(`{"sound": [1]}`),
	} {
		if e := runError(t, s, whisper, body); e.Code != CodeInvalidInput {
			t.Errorf("%s: code %d (%s), want %d", name, e.Code, e.Message, CodeInvalidInput)
		}
	}
	sch, _ := s.Schema(whisper)
	if oneOf, _ := sch["input"].(map[string]any)["oneOf"].([]any); len(oneOf) != 2 {
		t.Errorf("whisper input schema %v should be oneOf [binary, object] like the catalog's", sch["input"])
	}
	if e := runError(t, s, uform, []byte("\x89PNG raw")); e.Code != CodeInvalidInput {
		t.Errorf("a model without a binary input took raw bytes: code %d", e.Code)
	}
}
