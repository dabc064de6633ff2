package workerd

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// recordingBackend answers every binding call with {"success":true,...} and keeps the calls.
type recordingBackend struct {
	mu    sync.Mutex
	calls []string // "<path> <body>"
}

func (b *recordingBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	b.calls = append(b.calls, r.URL.Path+" "+string(body))
	b.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"success":true,"matches":[],"count":0}`)
}

func (b *recordingBackend) last() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.calls) == 0 {
		return ""
	}
	return b.calls[len(b.calls)-1]
}

const backendWorker = `export default {
  async fetch(request, env) {
    const path = new URL(request.url).pathname;
    if (path === "/limit") return Response.json(await env.RL.limit({ key: "k1" }));
    if (path === "/query") return Response.json(await env.VEC.query(new Float32Array([0.5, 1]), { topK: 1 }));
    return Response.json({ hasConfig: "config" in env.RL, keys: Object.keys(env.VEC) });
  }
};`

// TestBackendBindingsCarryTheirConfig: the ratelimit and vectorize shims call the backend with
// their config (set by localcf) plus the call's arguments, and user code cannot see the config.
func TestBackendBindingsCarryTheirConfig(t *testing.T) {
	backend := &recordingBackend{}
	srv := httptest.NewServer(backend)
	t.Cleanup(srv.Close)
	p := startTest(t, Options{AIAddr: strings.TrimPrefix(srv.URL, "http://")}, esmWorker("backend", backendWorker,
		Binding{Name: "RL", Type: "ratelimit", Config: json.RawMessage(`{"account":"acct","namespace_id":"1001","limit":3,"period":60}`)},
		Binding{Name: "VEC", Type: "vectorize", Config: json.RawMessage(`{"account":"acct","index":"docs"}`)}))
	base := serve(t, p)

	resp, body := get(t, base+"/limit", "backend.test")
	if resp.StatusCode != http.StatusOK || string(body) != `{"success":true}` {
		t.Fatalf("limit: %d %s", resp.StatusCode, body)
	}
	if got, want := backend.last(), `/ratelimit {"account":"acct","namespace_id":"1001","limit":3,"period":60,"key":"k1"}`; got != want {
		t.Fatalf("backend saw %q, want %q", got, want)
	}
	resp, body = get(t, base+"/query", "backend.test")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("query: %d %s", resp.StatusCode, body)
	}
	if got, want := backend.last(), `/vectorize/query {"account":"acct","index":"docs","vector":[0.5,1],"options":{"topK":1}}`; got != want {
		t.Fatalf("backend saw %q, want %q", got, want)
	}
	resp, body = get(t, base+"/", "backend.test")
	if resp.StatusCode != http.StatusOK || string(body) != `{"hasConfig":false,"keys":[]}` {
		t.Fatalf("the binding objects expose %s; the config must stay private", body)
	}
}
