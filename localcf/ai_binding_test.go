package localcf

import (
	"net/http"
	"strings"
	"testing"
)

const aiFidelityWorker = `export default {
  async fetch(request, env) {
    const bytes = new Uint8Array([82, 73, 70, 70]);
    const calls = {
      retired: () => env.AI.run("@cf/meta/llama-3.1-8b-instruct", { prompt: "hi" }),
      live: () => env.AI.run("@cf/meta/llama-3.1-8b-instruct-fast", { prompt: "hi" }),
      typed: () => env.AI.run("@cf/openai/whisper", { audio: bytes }),
      spread: () => env.AI.run("@cf/openai/whisper", { audio: [...bytes] }),
    };
    try {
      return Response.json({ result: await calls[new URL(request.url).searchParams.get("call")]() });
    } catch (err) {
      return Response.json({ error: String(err.message) }, { status: 500 });
    }
  }
};`

// TestAIBindingLikeCloudflares: inside workerd, env.AI.run fails for a retired model (so a
// deployed worker's smoke test fails too), and sends its inputs as JSON.stringify does: a
// Uint8Array is an object the schema refuses, [...bytes] an array it takes.
func TestAIBindingLikeCloudflares(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	deployWorker(c, "fidelity", aiFidelityWorker, map[string]any{"type": "ai", "name": "AI"})
	cases := []struct {
		call   string
		status int
		want   string // in the error, or in the result
	}{
		{"retired", http.StatusInternalServerError, "5007: No such model @cf/meta/llama-3.1-8b-instruct or task"},
		{"live", http.StatusOK, "stand-in for @cf/meta/llama-3.1-8b-instruct-fast"},
		{"typed", http.StatusInternalServerError, "5006: Invalid input: /audio must be array"},
		{"spread", http.StatusOK, "transcript of 4 bytes"},
	}
	for _, tc := range cases {
		status, out := devCall(t, srv, "fidelity", http.MethodGet, "/?call="+tc.call, nil)
		got, _ := out["error"].(string)
		if result, ok := out["result"].(map[string]any); ok {
			got, _ = result["response"].(string)
			if text, ok := result["text"].(string); ok {
				got = text
			}
		}
		if status != tc.status || !strings.Contains(got, tc.want) {
			t.Errorf("%s: HTTP %d %v; want %d with %q", tc.call, status, out, tc.status, tc.want)
		}
	}
}
