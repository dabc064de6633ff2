package ai

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

const (
	sdxl      = "@cf/stabilityai/stable-diffusion-xl-base-1.0"
	lightning = "@cf/bytedance/stable-diffusion-xl-lightning"
	flux      = "@cf/black-forest-labs/flux-1-schnell"
	llamaFast = "@cf/meta/llama-3.1-8b-instruct-fast"
	llama70B  = "@cf/meta/llama-3.3-70b-instruct-fp8-fast"
	glm       = "@cf/zai-org/glm-4.7-flash"
	gemma     = "@cf/google/gemma-4-26b-a4b-it"
	bgeSmall  = "@cf/baai/bge-small-en-v1.5"
	whisper   = "@cf/openai/whisper"
	llava     = "@cf/llava-hf/llava-1.5-7b-hf"
	moondream = "@cf/moondream/moondream3.1-9B-A2B"
	// retiredLlama was the chat template's default until Workers AI retired it on 2026-05-30.
	retiredLlama = "@cf/meta/llama-3.1-8b-instruct"
)

// serviceOn is a Service whose clock reads day (YYYY-MM-DD, noon UTC).
func serviceOn(t testing.TB, day string) *Service {
	t.Helper()
	d, err := time.Parse(time.DateOnly, day)
	if err != nil {
		t.Fatal(err)
	}
	return NewServiceWith(Options{Now: func() time.Time { return d.Add(12 * time.Hour) }})
}

// mustRun runs model with input and fails the test on any error.
func mustRun(t testing.TB, s *Service, model string, input any) *Output {
	t.Helper()
	out, err := s.Run(context.Background(), model, mustJSON(t, input))
	if err != nil {
		t.Fatalf("Run(%s): %v", model, err)
	}
	return out
}

// runError runs model and returns the *Error it must fail with.
func runError(t testing.TB, s *Service, model string, body []byte) *Error {
	t.Helper()
	out, err := s.Run(context.Background(), model, body)
	if err == nil {
		t.Fatalf("Run(%s, %s) succeeded with %s, want an error", model, body, out.ContentType)
	}
	var aiErr *Error
	if !errors.As(err, &aiErr) {
		t.Fatalf("Run(%s, %s) error %v is %T, want *Error", model, body, err, err)
	}
	return aiErr
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	if b, ok := v.(string); ok {
		return []byte(b)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %v: %v", v, err)
	}
	return b
}

// roundTripJSON re-encodes an Output's JSON result the way the wire sees it.
func roundTripJSON(t testing.TB, out *Output, into any) {
	t.Helper()
	if out.ContentType != "application/json" {
		t.Fatalf("content type %q, want application/json", out.ContentType)
	}
	b, err := json.Marshal(out.JSON)
	if err != nil {
		t.Fatalf("marshal result: %v", err)
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatalf("decode result %s: %v", b, err)
	}
}
