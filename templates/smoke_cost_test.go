package templates

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/flareform/flareform/provision/spec"
)

// smokeBody loads a spec and returns its one worker's smoke test, with the JSON body decoded.
func smokeBody(t *testing.T, specPath string) (*spec.Smoke, map[string]any) {
	t.Helper()
	s, err := spec.Load(specPath, "", testEnv)
	if err != nil {
		t.Fatalf("%s: %v", specPath, err)
	}
	if len(s.Workers) != 1 || s.Workers[0].Smoke == nil {
		t.Fatalf("%s: want one worker with a smoke test, got %+v", specPath, s.Workers)
	}
	sm := s.Workers[0].Smoke
	var body map[string]any
	if sm.Body != nil {
		if err := json.Unmarshal(sm.Body, &body); err != nil {
			t.Fatalf("%s: smoke body %s: %v", specPath, sm.Body, err)
		}
	}
	return sm, body
}

// TestTextToImageSmokeIsTheCheapestPicture: every deploy runs the smoke test on the real model
// and pays for it, so the default text-to-image spec (the template and examples/text-to-image)
// asks for the smallest picture the models draw, 256x256, in at most 4 steps.
func TestTextToImageSmokeIsTheCheapestPicture(t *testing.T) {
	dir, _ := writeTemplate(t, "text-to-image", "image-api")
	for _, path := range []string{filepath.Join(dir, "flareform.yaml"), filepath.Join(exampleDir, "flareform.yaml")} {
		sm, body := smokeBody(t, path)
		steps, _ := body["num_steps"].(float64)
		if sm.Prompt != "" || body["prompt"] == "" || body["width"] != float64(256) || body["height"] != float64(256) ||
			steps < 1 || steps > 4 {
			t.Errorf("%s: smoke prompt %q, body %s; want a body with the prompt, width and height 256 and 1 to 4 num_steps",
				path, sm.Prompt, sm.Body)
		}
	}
}

// TestSmokeRequestsAreCheap: the other templates' smoke requests are the least that proves the
// path works: a short streamed chat answer of a few tokens, one short text to embed, a tiny
// image with a small token limit, a fraction of a second of audio.
func TestSmokeRequestsAreCheap(t *testing.T) {
	load := func(name string) (*spec.Smoke, map[string]any) {
		dir, _ := writeTemplate(t, name, "my-api")
		return smokeBody(t, filepath.Join(dir, "flareform.yaml"))
	}
	if _, body := load("chat"); body["stream"] != true || body["max_tokens"] == nil || body["max_tokens"].(float64) > 16 {
		t.Errorf("chat smoke body %v; want stream: true and max_tokens of at most 16", body)
	}
	if _, body := load("embeddings"); body["text"] != "hello world" {
		t.Errorf("embeddings smoke body %v; want one short text", body)
	}
	if sm, _ := load("image-to-text"); sm.Path != "/?max_tokens=16" || filepath.Base(sm.BodyFile) != "gradient.png" {
		t.Errorf("image-to-text smoke path %q, file %q; want the 16x16 PNG with max_tokens=16", sm.Path, sm.BodyFile)
	}
	if sm, _ := load("speech-to-text"); filepath.Base(sm.BodyFile) != "silence.wav" {
		t.Errorf("speech-to-text smoke file %q; want the 0.2 s WAV", sm.BodyFile)
	}
	for name, file := range map[string]string{"image-to-text": "smoke/gradient.png", "speech-to-text": "smoke/silence.wav"} {
		data, err := File(name, file)
		if err != nil || len(data) > 8<<10 {
			t.Errorf("%s's %s: %d bytes (%v); keep smoke fixtures tiny", name, file, len(data), err)
		}
	}
}
