package provision

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// The query weights every sum by _sample_interval, counts nothing unweighted, and writes the
// window in the largest unit that divides it.
func TestUsageQueryWeightsSumsAndWritesTheWindow(t *testing.T) {
	for _, tc := range []struct {
		since time.Duration
		want  string
	}{
		{24 * time.Hour, "INTERVAL '1' DAY"},
		{7 * 24 * time.Hour, "INTERVAL '7' DAY"},
		{90 * 24 * time.Hour, "INTERVAL '90' DAY"},
		{36 * time.Hour, "INTERVAL '36' HOUR"},
		{time.Hour, "INTERVAL '1' HOUR"},
		{90 * time.Minute, "INTERVAL '90' MINUTE"},
		{time.Minute, "INTERVAL '1' MINUTE"},
	} {
		q := usageQuery(tc.since)
		if !strings.Contains(q, "WHERE timestamp > NOW() - "+tc.want+"\n") {
			t.Errorf("since %s: query lacks %q:\n%s", tc.since, tc.want, q)
		}
	}
	q := usageQuery(24 * time.Hour)
	for _, want := range []string{
		"SUM(_sample_interval * double1) AS requests", "SUM(_sample_interval * double2) AS ai_calls",
		"SUM(_sample_interval * double3) AS tokens", "FROM flareform_usage", "GROUP BY worker, consumer, status_class", "FORMAT JSON",
		"blob1 AS worker", "blob2 AS consumer", "blob4 AS status_class",
	} {
		if !strings.Contains(q, want) {
			t.Errorf("query lacks %q:\n%s", want, q)
		}
	}
	if strings.Contains(q, "COUNT(") || strings.Count(q, "SUM(") != 3 {
		t.Errorf("query counts or sums something without its sample interval:\n%s", q)
	}
}

func TestCheckUsageSince(t *testing.T) {
	ok := []time.Duration{time.Minute, 24 * time.Hour, 90 * time.Minute, MaxUsageSince}
	for _, d := range ok {
		if err := CheckUsageSince(d); err != nil {
			t.Errorf("CheckUsageSince(%s) = %v, want nil", d, err)
		}
	}
	bad := map[time.Duration]string{
		59 * time.Second:             "at least 1m",
		0:                            "at least 1m",
		-time.Hour:                   "at least 1m",
		MaxUsageSince + time.Minute:  "at most 90d",
		time.Hour + 30*time.Second:   "whole minutes",
		MaxUsageSince + 24*time.Hour: "3 months",
	}
	for d, want := range bad {
		if err := CheckUsageSince(d); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckUsageSince(%s) = %v, want an error saying %q", d, err, want)
		}
	}
}

// Rows per status class add up per consumer: requests count every class, 401 and 429 rows
// also count as unauthorized and rate_limited; weighted (sampled) sums, which may come quoted
// or fractional, are rounded; rows of workers not asked about are dropped; a worker with no
// row is listed with no consumers; owner comes first.
func TestAggregateUsageSumsStatusClassesPerConsumer(t *testing.T) {
	rows := []map[string]any{
		{"worker": "image-api", "consumer": "mobile", "status_class": "2xx", "requests": json.Number("120"), "ai_calls": json.Number("120"), "tokens": json.Number("4800")},
		{"worker": "image-api", "consumer": "mobile", "status_class": "429", "requests": json.Number("30"), "ai_calls": json.Number("0"), "tokens": json.Number("0")},
		// A sampled read: 3 kept data points standing for 10 each, sums quoted as 64-bit integers are.
		{"worker": "image-api", "consumer": "owner", "status_class": "2xx", "requests": "30", "ai_calls": "30", "tokens": "1199.6"},
		{"worker": "image-api", "consumer": "", "status_class": "401", "requests": 7.0, "ai_calls": 0.0, "tokens": nil},
		{"worker": "image-api", "consumer": "mobile", "status_class": "5xx", "requests": json.Number("2"), "ai_calls": json.Number("2")},
		{"worker": "someone-else", "consumer": "owner", "status_class": "2xx", "requests": json.Number("999")},
	}
	got, err := aggregateUsage(rows, []string{"image-api", "quiet-api"})
	if err != nil {
		t.Fatal(err)
	}
	want := []WorkerUsage{
		{Worker: "image-api", Consumers: []ConsumerUsage{
			{Consumer: "owner", Requests: 30, AICalls: 30, Tokens: 1200},
			{Consumer: "", Requests: 7, Unauthorized: 7},
			{Consumer: "mobile", Requests: 152, RateLimited: 30, AICalls: 122, Tokens: 4800},
		}},
		{Worker: "quiet-api", Consumers: []ConsumerUsage{}},
	}
	gotJS, _ := json.Marshal(got)
	wantJS, _ := json.Marshal(want)
	if string(gotJS) != string(wantJS) {
		t.Errorf("aggregateUsage =\n%s\nwant\n%s", gotJS, wantJS)
	}

	for _, bad := range []any{"lots", json.Number("1e400"), -1.0, true, math.Inf(1)} {
		_, err := aggregateUsage([]map[string]any{{"worker": "image-api", "consumer": "owner", "requests": bad}}, []string{"image-api"})
		if err == nil || !strings.Contains(err.Error(), "column requests") {
			t.Errorf("requests = %v: err %v, want it refused naming the column", bad, err)
		}
	}
}

func TestNeuronPrice(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		today        *float64
		excess, cost float64
	}{
		{nil, 0, 0},
		{f(0), 0, 0},
		{f(9999.5), 0, 0},
		{f(10000), 0, 0},
		{f(10001), 1, 0.000011},
		{f(12345), 2345, 0.025795},
		{f(1_010_000), 1_000_000, 11},
	} {
		n := NeuronUsage{Today: tc.today, FreeDaily: FreeNeuronsPerDay}
		excess := n.Excess()
		if excess != tc.excess || math.Abs(NeuronCostUSD(excess)-tc.cost) > 1e-12 {
			t.Errorf("today %v: excess %v costing $%v, want %v costing $%v", tc.today, excess, NeuronCostUSD(excess), tc.excess, tc.cost)
		}
	}
}

// fakeAnalytics is a Cloudflare API answering the two analytics reads: the SQL API with sqlRows
// (after failing the first sqlFailures calls with a 503), the GraphQL API with graphql.
type fakeAnalytics struct {
	t           *testing.T
	sqlRows     string
	sqlFailures int
	graphql     func(w http.ResponseWriter)

	mu        sync.Mutex
	sqlCalls  int
	sqlBodies []string
	variables []map[string]any
}

func (f *fakeAnalytics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer tok" || r.Method != http.MethodPost {
		http.Error(w, `{"success":false,"errors":[{"code":10000,"message":"Authentication error"}]}`, http.StatusForbidden)
		return
	}
	switch r.URL.Path {
	case "/client/v4/accounts/acc-1/analytics_engine/sql":
		f.sqlCalls++
		if ct := r.Header.Get("Content-Type"); ct != "text/plain" {
			f.t.Errorf("SQL Content-Type %q, want text/plain", ct)
		}
		f.sqlBodies = append(f.sqlBodies, string(body))
		if f.sqlCalls <= f.sqlFailures {
			http.Error(w, "upstream busy", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, `{"meta":[{"name":"worker","type":"String"}],"data":`+f.sqlRows+`,"rows":1,"rows_before_limit_at_least":1}`)
	case "/client/v4/graphql":
		var req struct {
			Query     string         `json:"query"`
			Variables map[string]any `json:"variables"`
		}
		if err := json.Unmarshal(body, &req); err != nil || !strings.Contains(req.Query, "aiInferenceAdaptiveGroups") {
			f.t.Errorf("GraphQL request %s: %v", body, err)
		}
		f.variables = append(f.variables, req.Variables)
		f.graphql(w)
	default:
		http.NotFound(w, r)
	}
}

// usageEngine is an engine on fake whose clock says 2026-03-01 23:30 in UTC-5 (already
// 2026-03-02 in UTC), without pacing and with one retry.
func usageEngine(t *testing.T, fake *fakeAnalytics) *Engine {
	t.Helper()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	now := time.Date(2026, 3, 1, 23, 30, 0, 0, time.FixedZone("EST", -5*3600))
	e, err := New(Config{APIBaseURL: srv.URL + "/client/v4", APIToken: "tok", AccountID: "acc-1", RateLimit: -1, MaxRetries: 1,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

const oneRow = `[{"worker":"image-api","consumer":"owner","status_class":"2xx","requests":5,"ai_calls":4,"tokens":"400"}]`

// Against a fake API: the SQL text goes as the body (through the retrier: a 503 is retried),
// the rows come back summed, and the neurons are today's in UTC, summed over the groups.
func TestUsageReadsSQLAndTodaysNeurons(t *testing.T) {
	fake := &fakeAnalytics{t: t, sqlRows: oneRow, sqlFailures: 1, graphql: func(w http.ResponseWriter) {
		io.WriteString(w, `{"data":{"viewer":{"accounts":[{"aiInferenceAdaptiveGroups":[{"sum":{"totalNeurons":12000.5}},{"sum":{"totalNeurons":344.5}}]}]}},"errors":null}`)
	}}
	e := usageEngine(t, fake)
	r, err := e.Usage(t.Context(), "", []string{"image-api"}, 7*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if fake.sqlCalls != 2 || fake.sqlBodies[1] != usageQuery(7*24*time.Hour) || !strings.Contains(fake.sqlBodies[1], "INTERVAL '7' DAY") {
		t.Errorf("SQL calls %d, last body:\n%s\nwant 2 (one 503 retried) with the query as the body", fake.sqlCalls, fake.sqlBodies)
	}
	if len(fake.variables) != 1 || fake.variables[0]["a"] != "acc-1" || fake.variables[0]["d"] != "2026-03-02" {
		t.Errorf("GraphQL variables %v, want account acc-1 and the UTC date 2026-03-02", fake.variables)
	}
	want := []ConsumerUsage{{Consumer: "owner", Requests: 5, AICalls: 4, Tokens: 400}}
	if len(r.Workers) != 1 || r.Workers[0].Worker != "image-api" || len(r.Workers[0].Consumers) != 1 || r.Workers[0].Consumers[0] != want[0] {
		t.Errorf("workers %+v, want image-api with %+v", r.Workers, want)
	}
	if r.Neurons.Today == nil || *r.Neurons.Today != 12345 || r.Neurons.Unknown != "" || r.Neurons.FreeDaily != 10000 || r.Since != 7*24*time.Hour {
		t.Errorf("report %+v, neurons %v; want 12345 neurons known", r, r.Neurons.Today)
	}
	js, _ := json.Marshal(r)
	if string(js) != `{"workers":[{"worker":"image-api","consumers":[{"consumer":"owner","requests":5,"unauthorized":0,"rate_limited":0,"ai_calls":4,"tokens":400}]}],"neurons":{"today":12345,"free_daily":10000}}` {
		t.Errorf("JSON %s", js)
	}
}

// Whatever goes wrong with the GraphQL read, the usage counts come back and the neurons are
// unknown with a one-line reason; today is null in the JSON.
func TestUsageNeuronsUnknownWhenGraphQLFails(t *testing.T) {
	for name, tc := range map[string]struct {
		answer func(w http.ResponseWriter)
		why    string
	}{
		"errors": {func(w http.ResponseWriter) {
			io.WriteString(w, `{"data":null,"errors":[{"message":"unknown field \"aiInferenceAdaptiveGroups\"\non type account","path":["viewer"]}]}`)
		}, `the GraphQL API answered with errors: unknown field "aiInferenceAdaptiveGroups".on type account`},
		"no such field": {func(w http.ResponseWriter) {
			io.WriteString(w, `{"data":{"viewer":{"accounts":[{}]}},"errors":null}`)
		}, "the GraphQL API returned no aiInferenceAdaptiveGroups"},
		"no account": {func(w http.ResponseWriter) {
			io.WriteString(w, `{"data":{"viewer":{"accounts":[]}}}`)
		}, "the GraphQL API returned no data for account acc-1"},
		"no total": {func(w http.ResponseWriter) {
			io.WriteString(w, `{"data":{"viewer":{"accounts":[{"aiInferenceAdaptiveGroups":[{"count":3}]}]}}}`)
		}, "without sum.totalNeurons"},
		"forbidden": {func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"success":false,"errors":[{"code":10000,"message":"Authentication error"}]}`)
		}, "the GraphQL API failed: 403 Authentication error"},
		"not JSON": {func(w http.ResponseWriter) {
			io.WriteString(w, `<html>oops</html>`)
		}, "the GraphQL API failed: decode GraphQL answer"},
	} {
		t.Run(name, func(t *testing.T) {
			e := usageEngine(t, &fakeAnalytics{t: t, sqlRows: oneRow, graphql: tc.answer})
			r, err := e.Usage(t.Context(), "", []string{"image-api"}, 24*time.Hour)
			if err != nil {
				t.Fatalf("Usage failed (%v); the neurons read must not fail it", err)
			}
			if r.Neurons.Today != nil || !strings.Contains(r.Neurons.Unknown, tc.why) || strings.ContainsAny(r.Neurons.Unknown, "\n\r") {
				t.Errorf("neurons %+v, want unknown saying %q on one line", r.Neurons, tc.why)
			}
			if len(r.Workers[0].Consumers) != 1 || r.Workers[0].Consumers[0].Requests != 5 {
				t.Errorf("usage counts %+v lost with the neurons", r.Workers)
			}
			js, _ := json.Marshal(r.Neurons)
			if !strings.HasPrefix(string(js), `{"today":null,"free_daily":10000,"unknown":"`) {
				t.Errorf("neurons JSON %s", js)
			}
		})
	}
}

// The Analytics Engine read is what the report is made of: when it fails, Usage fails, saying
// which read; a worker name that could not be a script is refused before any call.
func TestUsageFailsWhenAnalyticsEngineDoes(t *testing.T) {
	fake := &fakeAnalytics{t: t, sqlRows: oneRow, sqlFailures: 5, graphql: func(w http.ResponseWriter) { io.WriteString(w, `{"data":null}`) }}
	e := usageEngine(t, fake)
	_, err := e.Usage(t.Context(), "", []string{"image-api"}, 24*time.Hour)
	if err == nil || !strings.Contains(err.Error(), "read usage from Analytics Engine (dataset flareform_usage)") || !strings.Contains(err.Error(), "503") {
		t.Errorf("Usage with a failing SQL API: %v", err)
	}
	calls := fake.sqlCalls
	if _, err := e.Usage(t.Context(), "", []string{"x' OR 1=1 --"}, 24*time.Hour); err == nil || fake.sqlCalls != calls {
		t.Errorf("Usage of a hostile worker name: err %v after %d SQL calls; want refused before any", err, fake.sqlCalls-calls)
	}
	if _, err := e.Usage(t.Context(), "", []string{"image-api"}, 30*time.Second); err == nil || fake.sqlCalls != calls {
		t.Errorf("Usage over 30s: err %v; want refused before any call", err)
	}
}
