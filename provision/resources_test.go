package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flareform/flareform/localcf"
	"github.com/flareform/flareform/provision/spec"
)

// plainWorker is a minimal worker that uses a gateway, an index and a rate limit.
func plainWorker(t testing.TB, name string) spec.Worker {
	t.Helper()
	dir := t.TempDir()
	main := filepath.Join(dir, "worker.js")
	code := `export default { async fetch(req, env) { return new Response("ok " + env.AI_GATEWAY_ID) } }`
	if err := os.WriteFile(main, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	return spec.Worker{
		Key: name, Name: name, Main: main, CompatibilityDate: "2025-06-01", WorkersDev: true,
		AI:        &spec.AIBinding{Binding: "AI", Model: sdxl, Gateway: &spec.AIGateway{ID: name + "-gw", CacheTTL: 3600, CollectLogs: true}},
		Vectorize: &spec.VectorizeIndex{Binding: "VECTORIZE", Index: name + "-docs", Dimensions: 768, Metric: "cosine"},
		RateLimit: &spec.RateLimit{Limit: 3, Period: 60},
		Pos:       map[string]spec.Position{"": {Line: 2, Col: 3}, "vectorize.dimensions": {Line: 9, Col: 19}},
	}
}

func projectSpec(workers ...spec.Worker) *spec.Spec {
	s := specOf(workers...)
	s.Project = "search-app"
	// plainWorker writes each main into a folder of its own: the spec lies in the folder above
	// them all, so they are inside its project tree, the only files a bundle may read.
	s.File = filepath.Join(commonDir(workers), "flareform.yaml")
	return s
}

// commonDir is the deepest folder holding every worker's main.
func commonDir(workers []spec.Worker) string {
	dir := filepath.Dir(workers[0].Main)
	for _, w := range workers[1:] {
		for !strings.HasPrefix(w.Main, dir+string(filepath.Separator)) {
			dir = filepath.Dir(dir)
		}
	}
	return dir
}

// api sends one request to the local Cloudflare and returns the status and the result.
func (h *harness) api(t testing.TB, method, path, body string) (int, json.RawMessage) {
	t.Helper()
	url := fmt.Sprintf("%s/accounts/%s/%s", h.srv.APIBaseURL(), h.srv.AccountID(), path)
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+h.srv.Token())
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	var env struct {
		Result json.RawMessage `json:"result"`
	}
	_ = json.Unmarshal(data, &env)
	return res.StatusCode, env.Result
}

func (h *harness) exists(t testing.TB, path string) bool {
	t.Helper()
	status, _ := h.api(t, http.MethodGet, path, "")
	return status == http.StatusOK
}

// scriptBindings reads a script's bindings as the API reports them.
func (h *harness) scriptBindings(t testing.TB, name string) map[string]map[string]any {
	t.Helper()
	status, raw := h.api(t, http.MethodGet, "workers/scripts/"+name+"/settings", "")
	if status != http.StatusOK {
		t.Fatalf("read settings of %s: %d", name, status)
	}
	var settings struct {
		Bindings []map[string]any `json:"bindings"`
	}
	if err := json.Unmarshal(raw, &settings); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, b := range settings.Bindings {
		out[b["name"].(string)] = b
	}
	return out
}

func kindsAndActions(p *Plan) []string {
	var out []string
	for _, st := range p.Steps() {
		if r := st.Resource; r != nil {
			out = append(out, fmt.Sprintf("%s %s %s", r.Kind, r.Name, r.Action))
		} else {
			out = append(out, fmt.Sprintf("worker %s %s", st.Worker.Name, st.Worker.Action))
		}
	}
	return out
}

// hasNewValue reports whether changes hold one at path with op whose new value starts with newPrefix.
func hasNewValue(changes []Change, path, op, newPrefix string) bool {
	return slices.ContainsFunc(changes, func(c Change) bool {
		return c.Path == path && c.Op == op && strings.HasPrefix(c.New, newPrefix)
	})
}

func TestGatewayAndIndexArePlannedCreatedKeptAndDestroyed(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	s := projectSpec(plainWorker(t, "search"))

	p := h.plan(t, s)
	want := []string{"ai_gateway search-gw create", "vectorize_index search-docs create", "worker search create"}
	if got := kindsAndActions(p); !slices.Equal(got, want) {
		t.Fatalf("plan resources %v, want %v", got, want)
	}
	// (How a plan reads is cmd/flareform/view's test; here, what it holds.)
	if !hasNewValue(p.Resources[1].Changes, "dimensions", OpAdd, "768") || !hasNewValue(p.Workers[0].Changes, "rate_limit", OpAdd, "3 per 60s (namespace ") {
		t.Errorf("plan changes: index %+v, worker %+v", p.Resources[1].Changes, p.Workers[0].Changes)
	}
	res, err := h.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true})
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, h.log)
	}
	if len(res.Resources) != 2 {
		t.Errorf("apply results %+v, want the gateway and the index", res.Resources)
	}
	if !h.exists(t, "ai-gateway/gateways/search-gw") || !h.exists(t, "vectorize/v2/indexes/search-docs") {
		t.Fatal("apply did not create the gateway and the index")
	}
	bindings := h.scriptBindings(t, "search")
	rl := bindings["RATE_LIMITER"]
	ns, _ := rl["namespace_id"].(string)
	if rl["type"] != "ratelimit" || ns == "" || ns == "0" || fmt.Sprint(rl["simple"]) != "map[limit:3 period:60]" {
		t.Errorf("RATE_LIMITER binding %v", rl)
	}
	if b := bindings["VECTORIZE"]; b["type"] != "vectorize" || b["index_name"] != "search-docs" {
		t.Errorf("VECTORIZE binding %v", b)
	}
	if b := bindings["AI_GATEWAY_ID"]; b["text"] != "search-gw" {
		t.Errorf("AI_GATEWAY_ID %v", b)
	}

	// Re-apply: nothing to do, and a no-op plan makes no API call.
	p = h.plan(t, s)
	if p.HasChanges() {
		t.Fatalf("second plan has changes: %v %+v", kindsAndActions(p), p.Workers[0].Changes)
	}
	h.srv.ResetRequests()
	if _, err := h.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true}); err != nil {
		t.Fatal(err)
	}
	if total, _ := h.apiCalls(); total != 0 {
		t.Errorf("no-op apply made %d API calls", total)
	}

	// A new limit keeps the counter's namespace.
	s.Workers[0].RateLimit = &spec.RateLimit{Limit: 10, Period: 10}
	h.deploy(t, s, ApplyOptions{SkipSmoke: true})
	if rl := h.scriptBindings(t, "search")["RATE_LIMITER"]; rl["namespace_id"] != ns || fmt.Sprint(rl["simple"]) != "map[limit:10 period:10]" {
		t.Errorf("after a limit change RATE_LIMITER is %v, want namespace %s kept", rl, ns)
	}

	p, err = h.eng.PlanDestroy(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"worker search delete", "ai_gateway search-gw delete", "vectorize_index search-docs delete"}
	if got := kindsAndActions(p); !slices.Equal(got, want) {
		t.Fatalf("destroy plan %v, want %v", got, want)
	}
	if _, err := h.eng.Apply(ctx, p, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if h.exists(t, "ai-gateway/gateways/search-gw") || h.exists(t, "vectorize/v2/indexes/search-docs") {
		t.Fatal("destroy left the gateway or the index")
	}
}

func TestResourcesDroppedFromTheSpecAreDeletedAfterTheWorker(t *testing.T) {
	h := newHarness(t)
	s := projectSpec(plainWorker(t, "search"))
	h.deploy(t, s, ApplyOptions{SkipSmoke: true})

	s.Workers[0].Vectorize = nil
	s.Workers[0].AI.Gateway = nil
	p := h.plan(t, s)
	want := []string{"worker search update", "ai_gateway search-gw delete", "vectorize_index search-docs delete"}
	if got := kindsAndActions(p); !slices.Equal(got, want) {
		t.Fatalf("plan %v, want %v", got, want)
	}
	h.deploy(t, s, ApplyOptions{SkipSmoke: true})
	if h.exists(t, "ai-gateway/gateways/search-gw") || h.exists(t, "vectorize/v2/indexes/search-docs") {
		t.Fatal("the dropped gateway or index still exists")
	}
	if b := h.scriptBindings(t, "search"); b["VECTORIZE"] != nil || b["AI_GATEWAY_ID"] != nil {
		t.Errorf("the worker still binds them: %v", b)
	}
	if p := h.plan(t, s); p.HasChanges() {
		t.Errorf("plan after removal has changes: %v", kindsAndActions(p))
	}
}

func TestResourcesFlareformDidNotCreateAreNeverTouched(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if status, _ := h.api(t, http.MethodPost, "ai-gateway/gateways", `{"id":"shared-gw","cache_ttl":60,"collect_logs":false}`); status != http.StatusOK {
		t.Fatalf("create gateway: %d", status)
	}
	if status, _ := h.api(t, http.MethodPost, "vectorize/v2/indexes", `{"name":"shared-docs","config":{"dimensions":768,"metric":"cosine"}}`); status != http.StatusOK {
		t.Fatalf("create index: %d", status)
	}
	w := plainWorker(t, "search")
	w.AI.Gateway.ID, w.Vectorize.Index = "shared-gw", "shared-docs"
	s := projectSpec(w)

	p := h.plan(t, s)
	want := []string{"ai_gateway shared-gw no-op", "vectorize_index shared-docs no-op", "worker search create"}
	if got := kindsAndActions(p); !slices.Equal(got, want) {
		t.Fatalf("plan %v, want %v", got, want)
	}
	for _, r := range p.Resources {
		if !strings.Contains(r.Note, "was not created by flareform: used as it is") {
			t.Errorf("plan does not say %s %s is used as it is: note %q", r.Kind, r.Name, r.Note)
		}
	}
	h.srv.ResetRequests()
	h.deploy(t, s, ApplyOptions{SkipSmoke: true})
	for _, r := range h.srv.Requests() {
		if r.Method != http.MethodGet && (strings.Contains(r.Path, "/ai-gateway/") || strings.Contains(r.Path, "/vectorize/")) {
			t.Errorf("apply wrote to a resource it did not create: %s %s", r.Method, r.Path)
		}
	}
	if p := h.plan(t, s); p.HasChanges() {
		t.Errorf("re-plan has changes: %v", kindsAndActions(p))
	}

	// Removing them from the spec and destroying leave them as they are.
	s.Workers[0].Vectorize = nil
	if p := h.plan(t, s); slices.ContainsFunc(p.Resources, func(r ResourcePlan) bool { return r.Kind == vectorizeKind{}.name() }) {
		t.Errorf("plan deletes an index flareform did not create: %v", kindsAndActions(p))
	}
	s.Workers[0].Vectorize = w.Vectorize
	p, err := h.eng.PlanDestroy(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"worker search delete", "ai_gateway shared-gw no-op", "vectorize_index shared-docs no-op"}
	if got := kindsAndActions(p); !slices.Equal(got, want) {
		t.Fatalf("destroy plan %v, want %v", got, want)
	}
	if _, err := h.eng.Apply(ctx, p, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if !h.exists(t, "ai-gateway/gateways/shared-gw") || !h.exists(t, "vectorize/v2/indexes/shared-docs") {
		t.Fatal("destroy deleted a resource flareform did not create")
	}

	// An index it did not create with other dimensions is refused at the spec line.
	w.Vectorize = &spec.VectorizeIndex{Binding: "VECTORIZE", Index: "shared-docs", Dimensions: 384, Metric: "cosine"}
	_, err = h.eng.Plan(ctx, projectSpec(w))
	var se *spec.Error
	if !errors.As(err, &se) || se.Line != 9 || !strings.Contains(se.Msg, "flareform did not create it") {
		t.Fatalf("plan with mismatched foreign index: %v", err)
	}
}

func TestIndexDimensionChangeNeedsAllowReplace(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	s := projectSpec(plainWorker(t, "search"))
	h.deploy(t, s, ApplyOptions{SkipSmoke: true})

	s.Workers[0].Vectorize.Dimensions = 384
	p := h.plan(t, s)
	want := []string{"ai_gateway search-gw no-op", "vectorize_index search-docs replace", "worker search no-op"}
	if got := kindsAndActions(p); !slices.Equal(got, want) {
		t.Fatalf("plan %v, want %v", got, want)
	}
	if r := p.Resources[1]; !r.Destructive || !strings.Contains(r.Note, "vectors are lost") {
		t.Errorf("plan does not show the replacement as destructive: %+v", r)
	}
	h.srv.ResetRequests()
	_, err := h.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true})
	if !errors.Is(err, ErrReplaceRefused) {
		t.Fatalf("apply without AllowReplace: %v", err)
	}
	if _, writes := h.apiCalls(); writes != 0 {
		t.Fatalf("refused apply made %d writes", writes)
	}
	if _, err := h.eng.Apply(ctx, p, ApplyOptions{SkipSmoke: true, AllowReplace: true}); err != nil {
		t.Fatal(err)
	}
	_, raw := h.api(t, http.MethodGet, "vectorize/v2/indexes/search-docs", "")
	if !strings.Contains(string(raw), `"dimensions":384`) {
		t.Errorf("index after replacement: %s", raw)
	}
	if p := h.plan(t, s); p.HasChanges() {
		t.Errorf("plan after replacement has changes: %v", kindsAndActions(p))
	}
}

func TestRateLimitNamespacesAreStableAndDistinct(t *testing.T) {
	var ws []spec.Worker
	for i := range 50 {
		ws = append(ws, spec.Worker{Name: fmt.Sprintf("w%d", i), RateLimit: &spec.RateLimit{Limit: 1, Period: 60}})
	}
	ws = append(ws, spec.Worker{Name: "no-limit"})
	a, b := rateLimitNamespaces("acc", ws), rateLimitNamespaces("acc", ws)
	if fmt.Sprint(a) != fmt.Sprint(b) || len(a) != 50 {
		t.Fatalf("namespaces not stable or wrong count: %d", len(a))
	}
	seen := map[string]bool{}
	for _, ns := range a {
		if seen[ns] || ns == "0" || strings.HasPrefix(ns, "-") {
			t.Fatalf("namespace %s repeated or not positive", ns)
		}
		seen[ns] = true
	}
	if other := rateLimitNamespaces("other-account", ws); other["w0"] == a["w0"] {
		t.Error("namespaces do not depend on the account")
	}
}

func TestResourcesOfAWorkerRemovedFromTheSpecAreDeleted(t *testing.T) {
	h := newHarness(t)
	s := projectSpec(plainWorker(t, "search"), plainWorker(t, "other"))
	h.deploy(t, s, ApplyOptions{SkipSmoke: true})

	s = projectSpec(s.Workers[0]) // "other" is no longer in the spec
	p := h.plan(t, s)
	want := []string{"ai_gateway search-gw no-op", "vectorize_index search-docs no-op", "worker search no-op",
		"worker other delete", "ai_gateway other-gw delete", "vectorize_index other-docs delete"}
	if got := kindsAndActions(p); !slices.Equal(got, want) {
		t.Fatalf("plan %v, want %v", got, want)
	}
	h.deploy(t, s, ApplyOptions{SkipSmoke: true})
	if h.exists(t, "ai-gateway/gateways/other-gw") || h.exists(t, "vectorize/v2/indexes/other-docs") || !h.exists(t, "vectorize/v2/indexes/search-docs") {
		t.Fatal("wrong resources left after removing a worker")
	}
}

// limitedSearchWorker answers POSTs through RATE_LIMITER (429 with Retry-After over the limit)
// with a Vectorize round trip through VECTORIZE, and GETs with 405 before counting them.
const limitedSearchWorker = `export default {
  async fetch(req, env) {
    if (req.method !== "POST") return new Response("method not allowed", { status: 405 });
    const { success } = await env.RATE_LIMITER.limit({ key: "caller" });
    if (!success) {
      return Response.json({ error: "rate limited" }, { status: 429, headers: { "Retry-After": "60" } });
    }
    const { text } = await req.json();
    const values = Array.from({ length: 768 }, (_, i) => (i === text.length ? 1 : 0));
    await env.VECTORIZE.upsert([{ id: "doc-" + text.length, values, metadata: { text } }]);
    const found = await env.VECTORIZE.query(values, { topK: 1, returnMetadata: true });
    return Response.json({ gateway: env.AI_GATEWAY_ID, matches: found.matches, count: found.count });
  },
};
`

func TestRateLimitedSearchWorkerEndToEnd(t *testing.T) {
	h := newHarness(t)
	w := plainWorker(t, "search")
	if err := os.WriteFile(w.Main, []byte(limitedSearchWorker), 0o644); err != nil {
		t.Fatal(err)
	}
	w.Smoke = &spec.Smoke{Path: "/", Method: "POST", Body: []byte(`{"text":"hello"}`), Expect: "application/json",
		ExpectFields: []string{"gateway", "matches", "count"}, Status: 200, MethodStatus: 405}
	_, res := h.deploy(t, projectSpec(w), ApplyOptions{})
	if sm := res.Workers[0].Smoke; sm == nil || !sm.Passed {
		t.Fatalf("smoke: %+v", sm)
	}

	passed, limited := 0, 0
	for range 8 {
		req, _ := http.NewRequest(http.MethodPost, "http://"+h.srv.WorkersDevAddr()+"/", strings.NewReader(`{"text":"hi"}`))
		req.Host = "search." + h.srv.Subdomain() + ".workers.dev"
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		switch r.StatusCode {
		case http.StatusOK:
			passed++
			if !strings.Contains(string(body), `"gateway":"search-gw"`) || !strings.Contains(string(body), `"text":"hi"`) {
				t.Errorf("answer %s lacks the gateway id or the vector's metadata", body)
			}
		case http.StatusTooManyRequests:
			limited++
			if r.Header.Get("Retry-After") != "60" {
				t.Errorf("429 without Retry-After: 60: %v", r.Header)
			}
		default:
			t.Fatalf("status %d: %s", r.StatusCode, body)
		}
	}
	// 3 per 60 s, counted in clock-aligned windows: 8 quick requests (after the smoke test's
	// one) cannot all pass, and at most two windows' worth can.
	if limited == 0 || passed > 6 {
		t.Errorf("%d passed and %d were limited; want some limited with rate_limit 3 per 60s", passed, limited)
	}
}

// The update is a PUT of the settings flareform manages, without the `id` a create body has:
// the update schema has none, and whether the API ignores or refuses it is UNCONFIRMED (quirk
// gateway_update_accepts_id), so the update works under both readings.
func TestOwnedGatewaySettingsAreUpdatedInPlace(t *testing.T) {
	for _, lenient := range []bool{false, true} {
		t.Run(map[bool]string{false: "strict", true: "gateway_update_accepts_id"}[lenient], func(t *testing.T) {
			testGatewayUpdatedInPlace(t, localcf.Quirks{GatewayUpdateAcceptsID: lenient})
		})
	}
}

func testGatewayUpdatedInPlace(t *testing.T, q localcf.Quirks) {
	rec := &recordingTransport{next: http.DefaultTransport}
	h := newHarness(t, func(c *Config) { c.HTTPClient = &http.Client{Transport: rec, Timeout: 2 * time.Minute} })
	h.srv.SetQuirks(q)
	s := projectSpec(plainWorker(t, "search"))
	h.deploy(t, s, ApplyOptions{SkipSmoke: true})

	s.Workers[0].AI.Gateway = &spec.AIGateway{ID: "search-gw", CacheTTL: 60, RateLimit: &spec.RateLimit{Limit: 100, Period: 60}}
	p := h.plan(t, s)
	want := []string{"ai_gateway search-gw update", "vectorize_index search-docs no-op", "worker search no-op"}
	if got := kindsAndActions(p); !slices.Equal(got, want) {
		t.Fatalf("plan %v, want %v", got, want)
	}
	changes := fmt.Sprint(p.Resources[0].Changes)
	for _, c := range []string{"cache_ttl change 3600 60", "collect_logs change true false", "rate_limit change none 100 per 60s"} {
		if !strings.Contains(changes, "{"+c+"}") {
			t.Errorf("gateway changes %s lack %q", changes, c)
		}
	}
	h.deploy(t, s, ApplyOptions{SkipSmoke: true})
	_, raw := h.api(t, http.MethodGet, "ai-gateway/gateways/search-gw", "")
	var g gatewaySettings
	if err := json.Unmarshal(raw, &g); err != nil || g.CacheTTL != 60 || g.CollectLogs || g.RateLimitingLimit != 100 || g.RateLimitingInterval != 60 {
		t.Errorf("gateway after update: %+v (%v)", g, err)
	}
	if p := h.plan(t, s); p.HasChanges() {
		t.Errorf("plan after the update has changes: %v", kindsAndActions(p))
	}
	puts := 0
	for _, r := range rec.all() {
		if r.method != http.MethodPut || !strings.HasSuffix(r.path, "/ai-gateway/gateways/search-gw") {
			continue
		}
		puts++
		var body map[string]json.RawMessage
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatalf("gateway update body %s: %v", r.body, err)
		}
		if _, ok := body["id"]; ok {
			t.Errorf("gateway update body carries id: %s", r.body)
		}
		for _, field := range []string{"cache_ttl", "cache_invalidate_on_update", "collect_logs", "rate_limiting_interval", "rate_limiting_limit"} {
			if _, ok := body[field]; !ok {
				t.Errorf("gateway update body lacks %s, required by the update schema: %s", field, r.body)
			}
		}
	}
	if puts != 1 {
		t.Errorf("%d gateway update PUTs, want 1", puts)
	}
}

func TestRecordOwnershipTagsEveryWorkerUsingAnOwnedResource(t *testing.T) {
	w := spec.Worker{Name: "b", Vectorize: &spec.VectorizeIndex{Binding: "VECTORIZE", Index: "docs", Dimensions: 3, Metric: "cosine"}}
	tag := vectorizeKind{}.ownerTag("docs")
	newPlan := func(liveTags ...string) *Plan {
		return &Plan{Workers: []WorkerPlan{{Name: "b", Action: ActionNoOp,
			desired: &desiredWorker{worker: w, tags: []string{managedTag}},
			live:    &liveWorker{exists: true, tags: liveTags}}}}
	}
	owned := []ResourcePlan{{Kind: vectorizeKind{}.name(), Name: "docs", Action: ActionNoOp, ownedAfter: true}}

	p := newPlan(managedTag) // another worker of the project created the index
	recordOwnership(p, owned)
	wp := p.Workers[0]
	if wp.Action != ActionUpdate || !wp.desired.upload || !slices.Contains(wp.desired.tags, tag) || len(wp.Changes) != 1 || wp.Changes[0].Path != "ownership" {
		t.Errorf("untagged user of an owned index: action %s, upload %t, tags %v, changes %+v", wp.Action, wp.desired.upload, wp.desired.tags, wp.Changes)
	}

	p = newPlan(managedTag, tag)
	recordOwnership(p, owned)
	if wp := p.Workers[0]; wp.Action != ActionNoOp || len(wp.Changes) != 0 || !slices.Contains(wp.desired.tags, tag) {
		t.Errorf("tagged user: action %s, changes %+v, tags %v", wp.Action, wp.Changes, wp.desired.tags)
	}

	p = newPlan(managedTag, tag)
	recordOwnership(p, []ResourcePlan{{Kind: vectorizeKind{}.name(), Name: "docs", Action: ActionNoOp}}) // not flareform's
	if wp := p.Workers[0]; wp.Action != ActionUpdate || slices.Contains(wp.desired.tags, tag) {
		t.Errorf("a stale ownership tag is not dropped: action %s, tags %v", wp.Action, wp.desired.tags)
	}
}

func TestFailedResourceStopsBeforeAnyWorkerWrite(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxRetries = -1 })
	s := projectSpec(plainWorker(t, "search"))
	p := h.plan(t, s)
	// Another run (or a person) takes the gateway id between plan and apply.
	if status, _ := h.api(t, http.MethodPost, "ai-gateway/gateways", `{"id":"search-gw"}`); status != http.StatusOK {
		t.Fatalf("create gateway: %d", status)
	}
	res, err := h.eng.Apply(context.Background(), p, ApplyOptions{SkipSmoke: true})
	if err == nil || !strings.Contains(err.Error(), "create ai_gateway search-gw") {
		t.Fatalf("apply over a taken gateway id: %v", err)
	}
	if len(res.Workers) != 1 || res.Workers[0].Name != "search" || !strings.Contains(res.Workers[0].Error, "not started") {
		t.Errorf("worker result %+v", res.Workers)
	}
	if names := h.scriptNames(t); len(names) != 0 {
		t.Errorf("a worker was uploaded after its gateway failed: %v", names)
	}
	if h.exists(t, "vectorize/v2/indexes/search-docs") {
		t.Error("apply went on to the index after the gateway failed")
	}
}
