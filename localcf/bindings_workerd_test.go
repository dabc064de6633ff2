package localcf

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// fixedClock pins the server's clock so fixed rate-limit windows cannot roll over mid-test.
func fixedClock() func() time.Time {
	now := time.Date(2026, 1, 1, 12, 0, 5, 0, time.UTC)
	return func() time.Time { return now }
}

// devCall sends method+JSON body to the script on workers.dev and decodes the JSON answer.
func devCall(t testing.TB, srv *Server, script, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var reader io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		reader = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+srv.WorkersDevAddr()+path, reader)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = script + "." + srv.Subdomain() + ".workers.dev"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, req.Host, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%s %s: HTTP %d, body %.300s is not a JSON object", method, path, resp.StatusCode, data)
	}
	return resp.StatusCode, out
}

// deployWorker uploads code with the bindings and enables workers.dev.
func deployWorker(c *client, name, code string, bindings ...map[string]any) {
	c.t.Helper()
	meta := map[string]any{"main_module": "worker.js", "compatibility_date": "2025-06-01", "bindings": bindings}
	c.mustUpload(name, meta, code)
	c.enableWorkersDev(name)
}

const rateLimitWorker = `export default {
  async fetch(request, env) {
    const key = new URL(request.url).searchParams.get("key");
    const { success } = await env.RATE_LIMITER.limit({ key });
    return Response.json({ success }, { status: success ? 200 : 429 });
  }
};`

// TestRateLimitBindingInWorkerd: with limit 3 per 60 s the fourth call with one key fails
// and another key still passes.
func TestRateLimitBindingInWorkerd(t *testing.T) {
	srv := startTestServer(t, Options{now: fixedClock()})
	c := newClient(t, srv)
	deployWorker(c, "limited", rateLimitWorker, map[string]any{
		"type": "ratelimit", "name": "RATE_LIMITER", "namespace_id": "1001", "simple": map[string]any{"limit": 3, "period": 60}})
	for i := 1; i <= 4; i++ {
		status, out := devCall(t, srv, "limited", http.MethodGet, "/?key=alice", nil)
		if want := i <= 3; out["success"] != want {
			t.Fatalf("call %d for alice: HTTP %d %v, want success=%v", i, status, out, want)
		}
	}
	if _, out := devCall(t, srv, "limited", http.MethodGet, "/?key=bob", nil); out["success"] != true {
		t.Fatalf("first call for bob: %v, want success", out)
	}
}

// TestRateLimitBindingValidation refuses malformed ratelimit bindings and keeps a good one
// in the version and in GET settings.
func TestRateLimitBindingValidation(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	bad := []map[string]any{
		{"type": "ratelimit", "name": "RL", "namespace_id": "abc", "simple": map[string]any{"limit": 3, "period": 60}},
		{"type": "ratelimit", "name": "RL", "namespace_id": "0", "simple": map[string]any{"limit": 3, "period": 60}},
		{"type": "ratelimit", "name": "RL", "namespace_id": 1001, "simple": map[string]any{"limit": 3, "period": 60}},
		{"type": "ratelimit", "name": "RL", "namespace_id": "1001", "simple": map[string]any{"limit": 0, "period": 60}},
		{"type": "ratelimit", "name": "RL", "namespace_id": "1001", "simple": map[string]any{"limit": 3, "period": 30}},
		{"type": "ratelimit", "name": "RL", "namespace_id": "1001"},
	}
	for _, b := range bad {
		expect(t, c.upload("rl", defaultMeta(b), testWorker("v1")), http.StatusBadRequest, codeValidation)
	}
	good := map[string]any{"type": "ratelimit", "name": "RL", "namespace_id": "1001", "simple": map[string]any{"limit": 3, "period": 10}}
	c.mustUpload("rl", defaultMeta(good), testWorker("v1"))
	r := c.do(http.MethodGet, "/workers/scripts/rl/settings", "", nil)
	expect(t, r, http.StatusOK, 0)
	if !strings.Contains(string(r.Env.Result), `{"name":"RL","namespace_id":"1001","simple":{"limit":3,"period":10},"type":"ratelimit"}`) &&
		!strings.Contains(string(r.Env.Result), `{"type":"ratelimit","name":"RL","namespace_id":"1001","simple":{"limit":3,"period":10}}`) {
		t.Fatalf("settings do not show the ratelimit binding as uploaded: %s", r.Env.Result)
	}
}

// TestVectorizeBindingNeedsIndex: an upload or settings PATCH binding a missing index is refused.
func TestVectorizeBindingNeedsIndex(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	vec := map[string]any{"type": "vectorize", "name": "VECTORIZE", "index_name": "docs"}
	r := c.upload("search", defaultMeta(vec), testWorker("v1"))
	expect(t, r, http.StatusBadRequest, codeValidation)
	if !strings.Contains(r.Env.Errors[0].Message, `"docs"`) {
		t.Fatalf("error %q does not name the index", r.Env.Errors[0].Message)
	}
	c.mustUpload("search", defaultMeta(), testWorker("v1"))
	expect(t, c.patchSettings("search", map[string]any{"bindings": []any{vec}}), http.StatusBadRequest, codeValidation)

	expect(t, c.json(http.MethodPost, "/vectorize/v2/indexes", map[string]any{"name": "docs", "config": map[string]any{"dimensions": 3, "metric": "cosine"}}), http.StatusOK, 0)
	c.mustUpload("search", defaultMeta(vec), testWorker("v2"))
	r = c.do(http.MethodGet, "/workers/scripts/search/settings", "", nil)
	if !strings.Contains(string(r.Env.Result), `"index_name":"docs"`) {
		t.Fatalf("settings do not show the vectorize binding: %s", r.Env.Result)
	}
}

const vectorizeWorker = `export default {
  async fetch(request, env) {
    const path = new URL(request.url).pathname;
    const body = request.method === "POST" ? await request.json() : null;
    try {
      switch (path) {
        case "/upsert": return Response.json(await env.VECTORIZE.upsert(body));
        case "/insert": return Response.json(await env.VECTORIZE.insert(body));
        case "/query": return Response.json(await env.VECTORIZE.query(new Float32Array(body.vector), body.options));
        case "/get": return Response.json({ vectors: await env.VECTORIZE.getByIds(body) });
        case "/delete": return Response.json(await env.VECTORIZE.deleteByIds(body));
        case "/describe": return Response.json(await env.VECTORIZE.describe());
      }
      return Response.json({ error: "no route" }, { status: 404 });
    } catch (err) {
      return Response.json({ error: String(err.message) }, { status: 500 });
    }
  }
};`

// unitVectors have norm 1, so for every metric a vector's own values score best.
var unitVectors = map[string][]float64{
	"east":  {1, 0, 0},
	"north": {0, 1, 0},
	"mixed": {0.6, 0.8, 0},
	"up":    {0, 0.6, 0.8},
}

// TestVectorizeBindingInWorkerd upserts vectors through a worker's env.VECTORIZE and queries
// each one's own values: for cosine, euclidean and dot-product it comes first.
func TestVectorizeBindingInWorkerd(t *testing.T) {
	dir := t.TempDir()
	srv := startTestServer(t, Options{StateDir: dir})
	c := newClient(t, srv)
	for _, metric := range []string{"cosine", "euclidean", "dot-product"} {
		t.Run(metric, func(t *testing.T) {
			name := "ix-" + metric
			expect(t, c.json(http.MethodPost, "/vectorize/v2/indexes", map[string]any{"name": name, "config": map[string]any{"dimensions": 3, "metric": metric}}), http.StatusOK, 0)
			script := "search-" + metric
			deployWorker(c, script, vectorizeWorker, map[string]any{"type": "vectorize", "name": "VECTORIZE", "index_name": name})
			var batch []map[string]any
			for id, values := range unitVectors {
				batch = append(batch, map[string]any{"id": id, "values": values, "metadata": map[string]any{"label": id}})
			}
			status, out := devCall(t, srv, script, http.MethodPost, "/upsert", batch)
			if status != http.StatusOK || out["count"] != float64(4) || out["mutationId"] == "" {
				t.Fatalf("upsert: HTTP %d %v", status, out)
			}
			for id, values := range unitVectors {
				status, out := devCall(t, srv, script, http.MethodPost, "/query", map[string]any{
					"vector": values, "options": map[string]any{"topK": 2, "returnMetadata": true}})
				matches, _ := out["matches"].([]any)
				if status != http.StatusOK || len(matches) != 2 || out["count"] != float64(2) {
					t.Fatalf("query %s: HTTP %d %v, want 2 matches", id, status, out)
				}
				first := matches[0].(map[string]any)
				meta, _ := first["metadata"].(map[string]any)
				if first["id"] != id || meta["label"] != id {
					t.Fatalf("query with %s's values: first match %v, want %s with its metadata", id, first, id)
				}
			}
		})
	}
}

// TestVectorizeOperations covers insert (existing ids kept), getByIds, deleteByIds, describe,
// dimension checks, metadata filters and persistence of the vectors across a restart.
func TestVectorizeOperations(t *testing.T) {
	dir := t.TempDir()
	srv := startTestServer(t, Options{StateDir: dir})
	c := newClient(t, srv)
	expect(t, c.json(http.MethodPost, "/vectorize/v2/indexes", map[string]any{"name": "docs", "config": map[string]any{"dimensions": 3, "metric": "cosine"}}), http.StatusOK, 0)
	deployWorker(c, "ops", vectorizeWorker, map[string]any{"type": "vectorize", "name": "VECTORIZE", "index_name": "docs"})

	devCall(t, srv, "ops", http.MethodPost, "/upsert", []map[string]any{
		{"id": "a", "values": []float64{1, 0, 0}, "metadata": map[string]any{"lang": "en", "year": 2020}},
		{"id": "b", "values": []float64{0, 1, 0}, "metadata": map[string]any{"lang": "fr", "year": 2024}}})
	_, out := devCall(t, srv, "ops", http.MethodPost, "/insert", []map[string]any{
		{"id": "a", "values": []float64{0, 0, 1}}, {"id": "c", "values": []float64{0, 0, 1}}})
	if out["count"] != float64(1) {
		t.Fatalf("insert of an existing and a new id: %v, want count 1 (insert keeps existing ids)", out)
	}
	status, out := devCall(t, srv, "ops", http.MethodPost, "/upsert", []map[string]any{{"id": "d", "values": []float64{1, 0}}})
	if status != http.StatusInternalServerError || !strings.Contains(out["error"].(string), "expected 3 dimensions") {
		t.Fatalf("upsert with 2 of 3 dimensions: HTTP %d %v, want a dimension error", status, out)
	}
	_, out = devCall(t, srv, "ops", http.MethodPost, "/query", map[string]any{
		"vector": []float64{1, 1, 0}, "options": map[string]any{"topK": 5, "filter": map[string]any{"year": map[string]any{"$gte": 2021}}}})
	if matches := out["matches"].([]any); len(matches) != 1 || matches[0].(map[string]any)["id"] != "b" {
		t.Fatalf("query filtered on year >= 2021: %v, want only b", out)
	}
	_, out = devCall(t, srv, "ops", http.MethodPost, "/delete", []string{"b", "missing"})
	if out["count"] != float64(1) {
		t.Fatalf("deleteByIds(b, missing): %v, want count 1", out)
	}
	srv.Close()

	srv = startTestServer(t, Options{StateDir: dir})
	_, out = devCall(t, srv, "ops", http.MethodGet, "/describe", nil)
	if out["vectorCount"] != float64(2) || out["dimensions"] != float64(3) {
		t.Fatalf("describe after a restart: %v, want 2 vectors of 3 dimensions", out)
	}
	_, out = devCall(t, srv, "ops", http.MethodPost, "/get", []string{"a", "b", "c"})
	vectors := out["vectors"].([]any)
	if len(vectors) != 2 || vectors[0].(map[string]any)["id"] != "a" || vectors[1].(map[string]any)["id"] != "c" {
		t.Fatalf("getByIds(a, b, c) after deleting b: %v", out)
	}
	if got := vectors[0].(map[string]any)["values"].([]any); got[0] != float64(1) {
		t.Fatalf("a's values %v: insert must not have replaced them", got)
	}
}

const gatewayWorker = `export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const gateway = { id: url.searchParams.get("gw") };
    if (url.searchParams.has("skip")) gateway.skipCache = true;
    try {
      const result = await env.AI.run("@cf/meta/llama-3.1-8b-instruct-fast", { prompt: "Say hello" }, { gateway });
      return Response.json({ result, logId: env.AI.aiGatewayLogId });
    } catch (err) {
      return Response.json({ error: String(err.message) }, { status: 500 });
    }
  }
};`

// gatewayCalls lists the cache status of each AI call through gateway in the binding log.
func gatewayCalls(srv *Server, gateway string) []string {
	var out []string
	for _, rec := range srv.BindingCalls() {
		if rec.Gateway == gateway {
			out = append(out, rec.CacheStatus)
		}
	}
	return out
}

// TestAIGatewayCacheInWorkerd: the same AI.run twice through a gateway with a cache TTL is a
// MISS then a HIT with the same answer; skipCache misses; an unknown gateway throws.
func TestAIGatewayCacheInWorkerd(t *testing.T) {
	srv := startTestServer(t, Options{now: fixedClock()})
	c := newClient(t, srv)
	expect(t, c.json(http.MethodPost, "/ai-gateway/gateways", map[string]any{"id": "my-gateway", "cache_ttl": 3600}), http.StatusOK, 0)
	expect(t, c.json(http.MethodPost, "/ai-gateway/gateways", map[string]any{"id": "no-cache"}), http.StatusOK, 0)
	deployWorker(c, "chat", gatewayWorker, map[string]any{"type": "ai", "name": "AI"})

	status, first := devCall(t, srv, "chat", http.MethodGet, "/?gw=my-gateway", nil)
	if status != http.StatusOK || first["logId"] == nil {
		t.Fatalf("first call: HTTP %d %v", status, first)
	}
	_, second := devCall(t, srv, "chat", http.MethodGet, "/?gw=my-gateway", nil)
	if got, want := second["result"], first["result"]; !jsonEqual(got, want) {
		t.Fatalf("cached answer %v differs from the first %v", got, want)
	}
	devCall(t, srv, "chat", http.MethodGet, "/?gw=my-gateway&skip=1", nil)
	if got := gatewayCalls(srv, "my-gateway"); strings.Join(got, ",") != "MISS,HIT,MISS" {
		t.Fatalf("cache statuses %v, want MISS,HIT,MISS (skipCache bypasses the cache)", got)
	}
	devCall(t, srv, "chat", http.MethodGet, "/?gw=no-cache", nil)
	devCall(t, srv, "chat", http.MethodGet, "/?gw=no-cache", nil)
	if got := gatewayCalls(srv, "no-cache"); strings.Join(got, ",") != "MISS,MISS" {
		t.Fatalf("a gateway without cache_ttl: %v, want MISS,MISS", got)
	}

	status, out := devCall(t, srv, "chat", http.MethodGet, "/?gw=nope", nil)
	if msg, _ := out["error"].(string); status != http.StatusInternalServerError || !strings.Contains(msg, "does not exist") {
		t.Fatalf("unknown gateway: HTTP %d %v, want the AI call to throw", status, out)
	}

	// The admin endpoint shows the cache header of each call.
	req, _ := http.NewRequest(http.MethodGet, strings.TrimSuffix(srv.APIBaseURL(), "/client/v4")+"/__localcf/binding-calls", nil)
	req.Header.Set("Authorization", "Bearer "+srv.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var recs []RequestRecord
	if err := json.NewDecoder(resp.Body).Decode(&recs); err != nil {
		t.Fatal(err)
	}
	hits := 0
	for _, rec := range recs {
		if rec.ResponseHeaders["cf-aig-cache-status"] == "HIT" {
			hits++
		}
	}
	if hits != 1 {
		t.Fatalf("/__localcf/binding-calls shows %d calls with cf-aig-cache-status: HIT, want 1: %+v", hits, recs)
	}
}

// TestAIGatewayRateLimitInWorkerd: a gateway allowing 1 request per 60 s refuses the second.
func TestAIGatewayRateLimitInWorkerd(t *testing.T) {
	srv := startTestServer(t, Options{now: fixedClock()})
	c := newClient(t, srv)
	expect(t, c.json(http.MethodPost, "/ai-gateway/gateways", map[string]any{
		"id": "tight", "rate_limiting_limit": 1, "rate_limiting_interval": 60, "rate_limiting_technique": "fixed"}), http.StatusOK, 0)
	deployWorker(c, "chat", gatewayWorker, map[string]any{"type": "ai", "name": "AI"})
	if status, out := devCall(t, srv, "chat", http.MethodGet, "/?gw=tight", nil); status != http.StatusOK {
		t.Fatalf("first call: HTTP %d %v", status, out)
	}
	status, out := devCall(t, srv, "chat", http.MethodGet, "/?gw=tight", nil)
	if msg, _ := out["error"].(string); status != http.StatusInternalServerError || !strings.Contains(msg, "rate limited") {
		t.Fatalf("second call: HTTP %d %v, want a rate-limit error", status, out)
	}
}

func jsonEqual(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
