package localcf

import (
	"encoding/json"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flareform/flareform/localcf/ai"
)

// analyticsWorker writes the data points flareform's templates write (docs/consumers.md), calls
// env.AI, and reports what writeDataPoint throws for points over a limit.
const analyticsWorker = `export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const p = url.searchParams;
    if (url.pathname === "/write") {
      env.USAGE.writeDataPoint({
        indexes: [p.get("consumer")],
        blobs: ["api", p.get("consumer"), "@cf/meta/llama-3.1-8b-instruct-fast", p.get("status")],
        doubles: [1, Number(p.get("ai")), Number(p.get("tokens"))],
      });
      return Response.json({ ok: true });
    }
    if (url.pathname === "/ai") {
      await env.AI.run("@cf/meta/llama-3.1-8b-instruct-fast", { prompt: "hello there, tell me a story" });
      return Response.json({ ok: true });
    }
    const kind = p.get("kind");
    const points = {
      blobs: { blobs: Array(21).fill("x") },
      doubles: { doubles: Array(21).fill(1) },
      indexes: { indexes: ["a", "b"] },
      index: { indexes: ["x".repeat(97)] },
      bytes: { blobs: ["x".repeat(8192), "y".repeat(8193)] },
      fits: { indexes: ["x".repeat(96)], blobs: Array(20).fill("z".repeat(819)), doubles: Array(20).fill(2) },
    };
    try {
      if (kind === "points") {
        for (let i = 0; i < 251; i++) env.USAGE.writeDataPoint({ blobs: ["burst"] });
      } else {
        env.USAGE.writeDataPoint(points[kind]);
      }
      return Response.json({ error: null });
    } catch (e) {
      return Response.json({ error: e.name + ": " + e.message });
    }
  }
};`

var usageBinding = map[string]any{"type": "analytics_engine", "name": "USAGE", "dataset": "flareform_usage"}

// sql posts a query to the SQL API.
func (c *client) sql(query string) *apiResponse {
	c.t.Helper()
	return c.do(http.MethodPost, "/analytics_engine/sql", "text/plain", []byte(query))
}

// sqlRows polls query (points are stored after the response, as writeDataPoint does not
// block) until it answers want rows, and returns the data.
func (c *client) sqlRows(query string, want int) []map[string]any {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := c.sql(query)
		var out struct {
			Data []map[string]any `json:"data"`
			Rows int              `json:"rows"`
		}
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &out) != nil {
			c.t.Fatalf("SQL API: HTTP %d %s", r.Status, r.Body)
		}
		if out.Rows == want || time.Now().After(deadline) {
			if out.Rows != want {
				c.t.Fatalf("%s\nanswered %d rows, want %d: %s", query, out.Rows, want, r.Body)
			}
			return out.Data
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAnalyticsEngineThroughWorkerd(t *testing.T) {
	dir := t.TempDir()
	srv := startTestServer(t, Options{StateDir: dir, now: fixedClock()})
	c := newClient(t, srv)
	deployWorker(c, "api", analyticsWorker, usageBinding, map[string]any{"type": "ai", "name": "AI"})
	writes := []string{
		"consumer=mobile&status=2xx&ai=1&tokens=30",
		"consumer=mobile&status=2xx&ai=1&tokens=12",
		"consumer=web&status=429&ai=0&tokens=0",
	}
	for _, q := range writes {
		if status, out := devCall(t, srv, "api", http.MethodGet, "/write?"+q, nil); status != http.StatusOK || out["ok"] != true {
			t.Fatalf("/write?%s: HTTP %d %v", q, status, out)
		}
	}
	c.sqlValue("SELECT COUNT() AS n FROM flareform_usage", "3") // stored after the responses
	want := `[{"worker":"api","consumer":"mobile","status_class":"2xx","requests":2,"ai_calls":2,"tokens":42},` +
		`{"worker":"api","consumer":"web","status_class":"429","requests":1,"ai_calls":0,"tokens":0}]`
	if got, _ := json.Marshal(c.sqlRows(usageQuery+"\n", 2)); !sameJSON(t, got, want) {
		t.Fatalf("usage query: %s, want %s", got, want)
	}
	checkLimits(t, srv, c)

	// Everything is in the state dir: a restarted server answers the same.
	srv.Close()
	srv = startTestServer(t, Options{StateDir: dir, now: fixedClock()})
	c = newClient(t, srv)
	rows := c.sqlRows(usageQuery, 4) // with the two groups of checkLimits' points
	if got, _ := json.Marshal(rows[:2]); !sameJSON(t, got, want) {
		t.Fatalf("after a restart: %s, want %s first", got, want)
	}
	c.sqlValue("SELECT COUNT() AS n FROM flareform_usage", "254")
}

// checkLimits: each point over a documented limit throws workerd's TypeError and is not
// stored; a point at every limit is stored; the 251st point of one run throws.
func checkLimits(t *testing.T, srv *Server, c *client) {
	t.Helper()
	refusals := map[string]string{
		"blobs":   "TypeError: writeDataPoint(): Maximum of 20 blobs supported.",
		"doubles": "TypeError: writeDataPoint(): Maximum of 20 doubles supported.",
		"indexes": "TypeError: writeDataPoint(): Maximum of 1 indexes supported.",
		"index":   "TypeError: writeDataPoint(): Size of indexes[0] exceeds 96 bytes).",
		"bytes":   "TypeError: writeDataPoint(): Cumulative size of blobs exceeds 16384 bytes).",
		"points":  "Error: writeDataPoint(): Maximum of 250 data points per invocation exceeded.",
		"fits":    "",
	}
	for kind, want := range refusals {
		_, out := devCall(t, srv, "api", http.MethodGet, "/limit?kind="+kind, nil)
		if got, _ := out["error"].(string); got != want {
			t.Errorf("%s: threw %q, want %q", kind, got, want)
		}
	}
	// 3 points before, 250 of the burst, the one that fits; none of the refused ones.
	c.sqlValue("SELECT COUNT() AS n FROM flareform_usage", "254")
	c.sqlValue("SELECT COUNT() AS n FROM flareform_usage WHERE blob1 = 'burst'", "250")
	fits := "SELECT SUM(_sample_interval * double20) AS n FROM flareform_usage WHERE index1 = '" + strings.Repeat("x", 96) + "' AND blob20 = '" + strings.Repeat("z", 819) + "'"
	c.sqlValue(fits, 2.0)
}

// sqlValue polls a one-row query until its column n is want.
func (c *client) sqlValue(query string, want any) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows := c.sqlRows(query, 1)
		if rows[0]["n"] == want {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s\nanswered %v, want n = %v", query, rows, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sameJSON compares two JSON texts by value.
func sameJSON(t *testing.T, a []byte, b string) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		t.Fatalf("not JSON: %s / %s", a, b)
	}
	ax, _ := json.Marshal(x)
	by, _ := json.Marshal(y)
	return string(ax) == string(by)
}

func TestAppendLogDropsACutLastRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "points.jsonl")
	log, err := openAppendLog[dataPoint](path)
	if err != nil {
		t.Fatal(err)
	}
	for _, ds := range []string{"a", "b"} {
		if err := log.add(dataPoint{Dataset: ds}); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"dataset":"c","timest`) // a crash mid-write
	f.Close()
	log, err = openAppendLog[dataPoint](path)
	if err != nil {
		t.Fatal(err)
	}
	if err := log.add(dataPoint{Dataset: "d"}); err != nil {
		t.Fatal(err)
	}
	log, err = openAppendLog[dataPoint](path)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	log.each(func(p *dataPoint) { got = append(got, p.Dataset) })
	if strings.Join(got, ",") != "a,b,d" {
		t.Fatalf("records after a cut write and a new one: %v, want a,b,d", got)
	}
	data, _ := os.ReadFile(path)
	os.WriteFile(path, append([]byte("not json\n"), data...), 0o600)
	if _, err := openAppendLog[dataPoint](path); err == nil || !strings.Contains(err.Error(), "byte 0") {
		t.Fatalf("a damaged record before the last: %v, want an error naming its offset", err)
	}
}

// graphQL posts a GraphQL query with variables.
func (c *client) graphQL(query string, vars map[string]any) map[string]any {
	c.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	r := c.do(http.MethodPost, "!/graphql", "application/json", body)
	var out map[string]any
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &out) != nil {
		c.t.Fatalf("GraphQL: HTTP %d %s", r.Status, r.Body)
	}
	return out
}

// neuronsQuery is the reference's example (cloudflare-operations.md 4.2).
const neuronsQuery = `query($a: String!, $d: Date!) { viewer { accounts(filter:{accountTag:$a}) {
  aiInferenceAdaptiveGroups(limit: 100, filter:{date:$d}, orderBy: [sum_totalNeurons_DESC]) {
    dimensions { modelId } sum { totalNeurons } count } } } }`

type neuronGroup struct {
	Dimensions struct {
		ModelID string `json:"modelId"`
	} `json:"dimensions"`
	Sum struct {
		TotalNeurons float64 `json:"totalNeurons"`
	} `json:"sum"`
	Count int `json:"count"`
}

func neuronGroups(t *testing.T, out map[string]any) []neuronGroup {
	t.Helper()
	var doc struct {
		Data struct {
			Viewer struct {
				Accounts []struct {
					Groups []neuronGroup `json:"aiInferenceAdaptiveGroups"`
				} `json:"accounts"`
			} `json:"viewer"`
		} `json:"data"`
	}
	raw, _ := json.Marshal(out)
	if err := json.Unmarshal(raw, &doc); err != nil || out["errors"] != nil || len(doc.Data.Viewer.Accounts) != 1 {
		t.Fatalf("GraphQL answer %s: %v", raw, err)
	}
	return doc.Data.Viewer.Accounts[0].Groups
}

func TestGraphQLNeuronsAfterAICalls(t *testing.T) {
	srv := startTestServer(t, Options{now: fixedClock()})
	c := newClient(t, srv)
	deployWorker(c, "api", analyticsWorker, usageBinding, map[string]any{"type": "ai", "name": "AI"})
	for range 2 {
		if status, out := devCall(t, srv, "api", http.MethodGet, "/ai", nil); status != http.StatusOK {
			t.Fatalf("/ai: HTTP %d %v", status, out)
		}
	}
	r := c.json(http.MethodPost, "/ai/run/@cf/zai-org/glm-4.7-flash", map[string]any{"messages": []map[string]string{{"role": "user", "content": "count the neurons"}}})
	expect(t, r, http.StatusOK, 0)
	var glm struct {
		Usage struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	r.result(t, &glm)
	in, outRate, known := ai.NeuronRate("@cf/zai-org/glm-4.7-flash")
	wantGLM := (float64(glm.Usage.PromptTokens)*in + float64(glm.Usage.CompletionTokens)*outRate) / 1e6
	if !known || wantGLM <= 0 {
		t.Fatalf("glm-4.7-flash rate %v/%v known=%v, usage %+v", in, outRate, known, glm.Usage)
	}

	groups := neuronGroups(t, c.graphQL(neuronsQuery, map[string]any{"a": c.account, "d": "2026-01-01"}))
	if len(groups) != 2 {
		t.Fatalf("groups %+v, want one per model", groups)
	}
	byModel := map[string]neuronGroup{}
	for _, g := range groups {
		byModel[g.Dimensions.ModelID] = g
	}
	if g := byModel["@cf/zai-org/glm-4.7-flash"]; g.Count != 1 || math.Abs(g.Sum.TotalNeurons-wantGLM) > 1e-9 {
		t.Fatalf("glm-4.7-flash: %+v, want 1 call of %v neurons", g, wantGLM)
	}
	if g := byModel["@cf/meta/llama-3.1-8b-instruct-fast"]; g.Count != 2 || g.Sum.TotalNeurons <= 0 {
		t.Fatalf("llama through the binding: %+v, want 2 calls with neurons", g)
	}
	if groups[0].Sum.TotalNeurons < groups[1].Sum.TotalNeurons {
		t.Fatalf("orderBy sum_totalNeurons_DESC not applied: %+v", groups)
	}
	if g := neuronGroups(t, c.graphQL(neuronsQuery, map[string]any{"a": c.account, "d": "2025-12-31"})); len(g) != 0 {
		t.Fatalf("another day: %+v, want no groups", g)
	}
	checkGraphQLRefusals(t, c)
}

// checkGraphQLRefusals: another account, and fields the dataset does not have, are errors.
func checkGraphQLRefusals(t *testing.T, c *client) {
	t.Helper()
	other, _, err := c.srv.AddAccount("")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		query string
		want  string
	}{
		"other account":  {neuronsQuery, "not authorized for that account"},
		"unknown field":  {`{ viewer { accounts(filter:{accountTag:"` + c.account + `"}) { aiInferenceAdaptiveGroups(limit: 1) { avg { totalNeurons } } } } }`, `unknown field "avg"`},
		"date dimension": {`{ viewer { accounts(filter:{accountTag:"` + c.account + `"}) { aiInferenceAdaptiveGroups(limit: 1) { dimensions { date } } } } }`, `unknown field "date"`},
		"syntax":         {`{ viewer { accounts`, "syntax error"},
	}
	for name, tc := range cases {
		out := c.graphQL(tc.query, map[string]any{"a": other, "d": "2026-01-01"})
		errs, _ := out["errors"].([]any)
		raw, _ := json.Marshal(out)
		if out["data"] != nil || len(errs) != 1 || !strings.Contains(errs[0].(map[string]any)["message"].(string), tc.want) {
			t.Errorf("%s: %s, want data null and an error containing %q", name, raw, tc.want)
		}
	}
}

func TestQuirkGraphQLNoAIDataset(t *testing.T) {
	readings(t, "graphql_no_ai_dataset", func(t *testing.T, srv *Server, c *client, lenient bool) {
		r := c.json(http.MethodPost, "/ai/run/@cf/zai-org/glm-4.7-flash", map[string]any{"messages": []map[string]string{{"role": "user", "content": "hi"}}})
		expect(t, r, http.StatusOK, 0)
		today := time.Now().UTC().Format(time.DateOnly)
		out := c.graphQL(neuronsQuery, map[string]any{"a": c.account, "d": today})
		if !lenient {
			if g := neuronGroups(t, out); len(g) != 1 || g[0].Count != 1 || g[0].Sum.TotalNeurons <= 0 {
				t.Fatalf("strict: groups %+v, want the call's neurons", g)
			}
			return
		}
		raw, _ := json.Marshal(out)
		want := `{"data":null,"errors":[{"message":"unknown field \"aiInferenceAdaptiveGroups\" on type \"account\"","path":["viewer","accounts",0,"aiInferenceAdaptiveGroups"]}]}`
		if string(raw) != want {
			t.Fatalf("quirk on: %s, want %s", raw, want)
		}
	})
}

// TestAnalyticsWriteRefusesOverLimits: the backend drops a point the shim should have refused.
func TestAnalyticsWriteRefusesOverLimits(t *testing.T) {
	str := func(s string) *string { return &s }
	big := strings.Repeat("b", aeMaxBlobBytes/2)
	cases := map[string]analyticsWrite{
		"Maximum of 1 indexes":          {Indexes: []*string{str("a"), str("b")}},
		"Size of indexes[0] exceeds 96": {Indexes: []*string{str(strings.Repeat("i", 97))}},
		"Maximum of 20 blobs":           {Blobs: make([]*string, 21)},
		"Cumulative size of blobs":      {Blobs: []*string{str(big), str(big + "!")}},
		"Maximum of 20 doubles":         {Doubles: make([]*float64, 21)},
	}
	for want, w := range cases {
		w.Account, w.Dataset = "acct", "ds"
		if _, err := w.point(time.Now()); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", want, err)
		}
	}
	ok := analyticsWrite{Account: "acct", Dataset: "ds", Indexes: []*string{nil}, Blobs: []*string{nil, str("x")}, Doubles: []*float64{nil}}
	p, err := ok.point(time.Now())
	if err != nil || p.Index1 != "" || strings.Join(p.Blobs, ",") != ",x" || p.Doubles[0] != 0 || p.SampleInterval != 1 {
		t.Fatalf("nulls: %+v %v, want empty index, blob1 \"\", blob2 x, double1 0", p, err)
	}
}
