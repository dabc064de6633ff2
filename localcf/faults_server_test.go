package localcf

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// putAdminFaults sets fault rules through the admin endpoint, as tests of other tools would.
func putAdminFaults(t *testing.T, srv *Server, seed int64, rules ...FaultRule) {
	t.Helper()
	if rules == nil {
		rules = []FaultRule{}
	}
	body, _ := json.Marshal(map[string]any{"seed": seed, "rules": rules})
	req, _ := http.NewRequest(http.MethodPut, strings.TrimSuffix(srv.APIBaseURL(), "/client/v4")+"/__localcf/faults", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+srv.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("PUT /__localcf/faults: HTTP %d %s", resp.StatusCode, msg)
	}
}

// secretNames is the script's secret names, read with faults off.
func secretNames(t *testing.T, c *client, script string) string {
	t.Helper()
	r := c.do(http.MethodGet, "/workers/scripts/"+script+"/secrets", "", nil)
	expect(t, r, http.StatusOK, 0)
	var list []struct{ Name string }
	r.result(t, &list)
	names := make([]string, len(list))
	for i, s := range list {
		names[i] = s.Name
	}
	return strings.Join(names, ",")
}

// TestFaultsThroughServer: every fault kind, set through the admin endpoint, answers with the
// exact status and code on the matching path only, and the faulted write changes nothing.
func TestFaultsThroughServer(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	c.mustUpload("app", defaultMeta(map[string]any{"type": "secret_text", "name": "API_KEY", "text": "k1"}), testWorker("v1"))
	c.enableWorkersDev("app")
	before := secretNames(t, c, "app")
	put := func() *apiResponse {
		return c.json(http.MethodPut, "/workers/scripts/app/secrets", map[string]string{"name": "NEW_SECRET", "text": "v", "type": "secret_text"})
	}
	cases := []struct {
		kind   string
		status int
		code   int // envelope code; 0 for the HTML edge pages
	}{
		{"429", http.StatusTooManyRequests, 971},
		{"500", http.StatusInternalServerError, 10002},
		{"502", http.StatusBadGateway, 0},
		{"503", http.StatusServiceUnavailable, 0},
	}
	for _, tc := range cases {
		rule := FaultRule{Kind: tc.kind, Path: "*/secrets", Method: http.MethodPut}
		if tc.kind == "429" {
			rule.RetryAfter = 3
		}
		putAdminFaults(t, srv, 1, rule)
		r := put()
		if r.Status != tc.status || r.Header.Get("X-Localcf-Fault") != tc.kind {
			t.Errorf("%s: HTTP %d fault header %q, want %d and %q", tc.kind, r.Status, r.Header.Get("X-Localcf-Fault"), tc.status, tc.kind)
		}
		if tc.code != 0 && r.code() != tc.code {
			t.Errorf("%s: code %d, want %d", tc.kind, r.code(), tc.code)
		}
		if tc.kind == "429" && r.Header.Get("Retry-After") != "3" {
			t.Errorf("429: Retry-After %q, want 3", r.Header.Get("Retry-After"))
		}
		// Only the matching method and path are faulted; state did not change.
		putAdminFaults(t, srv, 1)
		if got := secretNames(t, c, "app"); got != before {
			t.Fatalf("%s: secrets changed from %q to %q by a faulted request", tc.kind, before, got)
		}
	}

	// drop: the connection closes with no response, and nothing changes.
	putAdminFaults(t, srv, 1, FaultRule{Kind: "drop", Path: "*/secrets", Method: http.MethodPut})
	body, _ := json.Marshal(map[string]string{"name": "NEW_SECRET", "text": "v", "type": "secret_text"})
	req, _ := http.NewRequest(http.MethodPut, srv.APIBaseURL()+"/accounts/"+srv.AccountID()+"/workers/scripts/app/secrets", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+srv.Token())
	req.Header.Set("Content-Type", "application/json")
	if resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("drop: got HTTP %d, want a connection closed without a response", resp.StatusCode)
	} else if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset") && !strings.Contains(err.Error(), "EOF") {
		t.Fatalf("drop: error %v, want EOF or reset", err)
	}
	putAdminFaults(t, srv, 1)
	if got := secretNames(t, c, "app"); got != before {
		t.Fatalf("drop: secrets changed from %q to %q", before, got)
	}

	// latency: the request is slowed and then does go through.
	putAdminFaults(t, srv, 1, FaultRule{Kind: "latency", Path: "*/secrets", Method: http.MethodPut, LatencyMS: 150})
	start := time.Now()
	expect(t, put(), http.StatusOK, 0)
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Errorf("latency: the request took %s, want at least 150ms", took)
	}
	putAdminFaults(t, srv, 1)
	if got := secretNames(t, c, "app"); got != before+",NEW_SECRET" && got != "NEW_SECRET,"+before {
		t.Errorf("after the slowed request secrets are %q, want NEW_SECRET added", got)
	}
	// The data plane is never faulted.
	putAdminFaults(t, srv, 1, FaultRule{Kind: "500"})
	expectServing(t, srv, "app", "v1")
}

// TestFaultSeedRepeatable: the same seed and rules give the same fault sequence.
func TestFaultSeedRepeatable(t *testing.T) {
	srv := startTestServer(t, Options{})
	c := newClient(t, srv)
	run := func() string {
		srv.SetFaults([]FaultRule{{Kind: "503", Probability: 0.5}}, 42)
		var seq strings.Builder
		for i := 0; i < 40; i++ {
			if c.do(http.MethodGet, "/workers/subdomain", "", nil).Status == http.StatusServiceUnavailable {
				seq.WriteByte('x')
			} else {
				seq.WriteByte('.')
			}
		}
		return seq.String()
	}
	first, second := run(), run()
	if first != second || !strings.Contains(first, "x") || !strings.Contains(first, ".") {
		t.Fatalf("sequences %q and %q: want equal and mixed", first, second)
	}
}
