package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseSince(t *testing.T) {
	day := 24 * time.Hour
	for in, want := range map[string]time.Duration{
		"24h": day, "7d": 7 * day, "90d": 90 * day, "1m": time.Minute, "90m": 90 * time.Minute,
		"1h30m": 90 * time.Minute, "1d12h": 36 * time.Hour, "0d5m": 5 * time.Minute, "2160h": 90 * day,
	} {
		if got, err := parseSince(in); err != nil || got != want {
			t.Errorf("parseSince(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for in, why := range map[string]string{
		"":       "want a duration such as 24h, 7d or 90m",
		"7":      "want a duration such as",
		"d":      "want a duration such as",
		"7days":  "want a duration such as",
		"1.5d":   "want a duration such as",
		"-1d":    "want a duration such as",
		"+1d":    "want a duration such as",
		"1d-1h":  "want a duration such as",
		"-24h":   "at least 1m",
		"30s":    "at least 1m",
		"91d":    "at most 90d (Analytics Engine keeps data points for 3 months)",
		"2161h":  "at most 90d",
		"99999d": "want a duration such as",
		"1m30s":  "whole minutes",
	} {
		if _, err := parseSince(in); err == nil || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "--since") {
			t.Errorf("parseSince(%q) = %v; want an error about --since saying %q", in, err, why)
		}
	}
}

// fakeUsageAPI is a Cloudflare API for `usage`: it accepts the token and answers the SQL API
// with rows and the GraphQL API with graphql, counting the calls.
type fakeUsageAPI struct {
	rows    string
	sqlCode int // 0: 200
	graphql string

	mu     sync.Mutex
	sql    []string
	others []string
}

func (f *fakeUsageAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.URL.Path {
	case "/client/v4/user/tokens/verify":
		io.WriteString(w, `{"success":true,"errors":[],"result":{"id":"tok-id","status":"active"}}`)
	case "/client/v4/accounts/0123456789abcdef0123456789abcdef/analytics_engine/sql":
		f.sql = append(f.sql, string(body))
		if f.sqlCode != 0 {
			w.WriteHeader(f.sqlCode)
			io.WriteString(w, `{"success":false,"errors":[{"code":10000,"message":"Authentication error"}]}`)
			return
		}
		io.WriteString(w, `{"meta":[],"data":`+f.rows+`,"rows":0}`)
	case "/client/v4/graphql":
		io.WriteString(w, f.graphql)
	default:
		f.others = append(f.others, r.Method+" "+r.URL.Path)
		http.NotFound(w, r)
	}
}

// `usage` against a fake API: the spec's worker's counts per consumer (another script's rows
// left out), the neurons line, --json valid against its schema with neurons known and unknown
// (exit 0 both times), and refusals before any call: a bad --since, an unknown worker. A 403 on
// the SQL API names the permission usage needs.
func TestUsageCommandAgainstFakeAPI(t *testing.T) {
	fake := &fakeUsageAPI{
		rows: `[{"worker":"images","consumer":"owner","status_class":"2xx","requests":40,"ai_calls":40,"tokens":"0"},
			{"worker":"images","consumer":"-","status_class":"401","requests":3,"ai_calls":0,"tokens":0},
			{"worker":"images","consumer":"owner","status_class":"429","requests":2,"ai_calls":0,"tokens":0},
			{"worker":"not-ours","consumer":"owner","status_class":"2xx","requests":1000,"ai_calls":1000,"tokens":0}]`,
		graphql: `{"data":{"viewer":{"accounts":[{"aiInferenceAdaptiveGroups":[{"sum":{"totalNeurons":15000}}]}]}}}`,
	}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	c := newCLI(t, map[string]string{envAPIToken: "tok", envAccountID: "0123456789abcdef0123456789abcdef", envAPIBaseURL: srv.URL + "/client/v4"})
	specPath := initProject(t, c, "images")
	f := []string{"-f", specPath}

	text := c.mustRun(0, append(f, "usage", "--since", "7d")...).stdout
	for _, want := range []string{"Usage in the last 7 days", "images:", "Neurons today: 15,000 of 10,000 free (150%); excess 5,000 → $0.06"} {
		if !strings.Contains(text, want) {
			t.Errorf("usage printed:\n%s\nwant %q", text, want)
		}
	}
	if strings.Contains(text, "not-ours") || strings.Contains(text, "1,000") || len(fake.sql) != 1 || !strings.Contains(fake.sql[0], "INTERVAL '7' DAY") {
		t.Errorf("usage printed:\n%s\nafter SQL %q; want one 7-day query and only the spec's worker", text, fake.sql)
	}

	schemas := jsonSchemas(t)
	doc := assertJSONShape(t, schemas, "usage", c.mustRun(0, append(f, "usage", "images", "--json")...), "usage --json")
	js, _ := json.Marshal(doc)
	want := `{"neurons":{"free_daily":10000,"today":15000},"workers":[{"consumers":[` +
		`{"ai_calls":40,"consumer":"owner","rate_limited":2,"requests":42,"tokens":0,"unauthorized":0},` +
		`{"ai_calls":0,"consumer":"-","rate_limited":0,"requests":3,"tokens":0,"unauthorized":3}],"worker":"images"}]}`
	if string(js) != want {
		t.Errorf("usage --json =\n%s\nwant\n%s", js, want)
	}

	fake.graphql = `{"data":null,"errors":[{"message":"unknown field aiInferenceAdaptiveGroups"}]}`
	doc = assertJSONShape(t, schemas, "usage", c.mustRun(0, append(f, "usage", "--json")...), "usage --json, neurons unknown")
	if n := doc["neurons"].(map[string]any); n["today"] != nil || !strings.Contains(n["unknown"].(string), "unknown field aiInferenceAdaptiveGroups") {
		t.Errorf("neurons unknown: %v", n)
	}
	text = c.mustRun(0, append(f, "usage")...).stdout
	if !strings.Contains(text, "Neurons today: unknown (the GraphQL API answered with errors: unknown field aiInferenceAdaptiveGroups)") {
		t.Errorf("usage with neurons unknown printed:\n%s", text)
	}

	calls := len(fake.sql)
	r := c.mustRun(exitError, append(f, "usage", "--since", "100d")...)
	if !strings.Contains(r.stderr, "--since 2400h0m0s: want at most 90d") || !strings.Contains(r.stderr, `(got "100d")`) {
		t.Errorf("--since 100d: stderr %q", r.stderr)
	}
	assertJSONShape(t, schemas, "error", c.mustRun(exitError, append(f, "usage", "--since", "soon", "--json")...), "usage --since soon --json")
	r = c.mustRun(exitError, append(f, "usage", "imagez")...)
	if !strings.Contains(r.stderr, `no worker "imagez"`) || !strings.Contains(r.stderr, "its workers: images") {
		t.Errorf("unknown worker: stderr %q", r.stderr)
	}
	c.mustRun(exitError, append(f, "usage", "images", "images")...)
	if len(fake.sql) != calls {
		t.Errorf("refused runs made %d SQL calls", len(fake.sql)-calls)
	}

	fake.sqlCode = http.StatusForbidden
	r = c.mustRun(exitError, append(f, "usage")...)
	if !strings.Contains(r.stderr, "read usage from Analytics Engine") || !strings.Contains(r.stderr, "Account Analytics:Read") {
		t.Errorf("SQL API 403: stderr %q", r.stderr)
	}
	if len(fake.others) != 0 {
		t.Errorf("usage made other calls: %v", fake.others)
	}
}
