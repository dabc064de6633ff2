package ai

import (
	"context"
	"errors"
	"testing"
)

// FuzzRun feeds arbitrary bodies to every task's validator and runner: Run
// must never panic, and every failure must be a Workers AI *Error.
func FuzzRun(f *testing.F) {
	seeds := []string{
		`{"prompt":"x","width":256,"height":256}`,
		`{"prompt":"x","image":[1,2,3],"mask":[0],"seed":-5}`,
		`{"messages":[{"role":"user","content":"hi"}],"stream":true,"max_tokens":2}`,
		`{"text":["a","b"]}`,
		`{"audio":[0,255]}`,
		`{"image":[137,80,78,71],"prompt":"?"}`,
		`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBO"}}]}],"n":2,"stream":true}`,
		`{"requests":[{"text":"a"}]}`, `{"task":"caption","image":"data:,x","stream":false}`,
		`[]`, `null`, `{"prompt":1e400}`, `{"width":-0}`, ``,
	}
	for _, s := range seeds {
		f.Add(s)
	}
	s := NewService()
	models := []string{sdxl, flux, llamaFast, llama70B, glm, gemma, bgeSmall, whisper, llava, moondream}
	f.Fuzz(func(t *testing.T, body string) {
		for _, model := range models {
			out, err := s.Run(context.Background(), model, []byte(body))
			if err != nil {
				var aiErr *Error
				if !errors.As(err, &aiErr) || aiErr.Status < 400 || aiErr.Code == 0 {
					t.Fatalf("%s: %q: error %v is not a Workers AI error", model, body, err)
				}
				continue
			}
			if out.ContentType == "" || (out.Body == nil && out.JSON == nil) {
				t.Fatalf("%s: %q: empty output %+v", model, body, out)
			}
		}
	})
}
