package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flareform/flareform/internal/syncbuf"
)

// TestTailStreamsRedactedEventsAndDeletesItsTail deploys the template with a console.log that
// prints the Authorization header and the key, tails it with --json while requests arrive, and
// checks the events, that the key appears nowhere, and that no tail is left once it returns.
func TestTailStreamsRedactedEventsAndDeletesItsTail(t *testing.T) {
	srv, env := startStandalone(t)
	c := newCLI(t, env)
	specPath := initProject(t, c, "images")
	editFile(t, filepath.Join(filepath.Dir(specPath), "src", "worker.js"), "  async fetch(request, env) {\n",
		"  async fetch(request, env) {\n    console.log(\"auth header\", request.headers.get(\"authorization\"), \"key\", env.API_KEY, new URL(request.url).pathname);\n")
	c.mustRun(0, "-f", specPath, "apply", "--auto-approve", "--no-smoke")
	key := storedKey(t, specPath, "images")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	done := make(chan int, 1)
	go func() {
		ios := &IOStreams{In: strings.NewReader(""), Out: stdout, ErrOut: stderr}
		done <- run(ctx, ios, []string{"-f", specPath, "tail", "images", "--json"}, c.getenv)
	}()

	host := "images." + srv.Subdomain() + ".workers.dev"
	waitFor(t, stdout, "/warm", func() { sendTo(t, srv.WorkersDevAddr(), host, "GET", "/warm", "") })
	sendTo(t, srv.WorkersDevAddr(), host, "POST", "/logged?key="+key, "Bearer "+key)
	sendTo(t, srv.WorkersDevAddr(), host, "POST", "/refused", "Bearer wrong-key")
	waitFor(t, stdout, "/refused", nil)
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("tail exit %d, stderr:\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("tail did not return after its context was cancelled")
	}

	out := stdout.String()
	if strings.Contains(out+stderr.String(), key) || strings.Contains(out+stderr.String(), srv.Token()) {
		t.Fatalf("a secret is in tail's output:\n%s\n%s", out, stderr.String())
	}
	logged := eventFor(t, out, "/logged")
	req := logged["event"].(map[string]any)["request"].(map[string]any)
	if req["method"] != "POST" || !strings.HasSuffix(req["url"].(string), "/logged?key=[redacted]") ||
		req["headers"].(map[string]any)["authorization"] != "[redacted]" {
		t.Errorf("/logged request in the event = %v", req)
	}
	msg, _ := json.Marshal(logged["logs"])
	if !strings.Contains(string(msg), `["auth header","Bearer [redacted]","key","[redacted]","/logged"]`) {
		t.Errorf("/logged logs = %s, want the console.log with the header and key redacted", msg)
	}
	if refused := eventFor(t, out, "/refused"); refused["outcome"] != "ok" {
		t.Errorf("/refused event = %v", refused)
	}
	if n := countTails(t, srv.APIBaseURL(), srv.Token(), srv.AccountID(), "images"); n != 0 {
		t.Errorf("%d tails left after tail returned, want 0", n)
	}
}

// waitFor repeats poke (if any) until out shows text, or fails after 60 s.
func waitFor(t *testing.T, out *syncbuf.Buffer, text string, poke func()) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s event in tail's output:\n%s", text, out.String())
		}
		if poke != nil {
			poke()
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sendTo sends a request to the data plane for host; auth is the Authorization header, if any.
func sendTo(t *testing.T, addr, host, method, path, auth string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(`{"prompt":"a cat"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// eventFor is the JSON line whose request URL contains path.
func eventFor(t *testing.T, out, path string) map[string]any {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("tail --json line is not JSON: %v\n%s", err, line)
		}
		if e, ok := ev["event"].(map[string]any); ok {
			if r, ok := e["request"].(map[string]any); ok && strings.Contains(r["url"].(string), path) {
				return ev
			}
		}
	}
	t.Fatalf("no event for %s in:\n%s", path, out)
	return nil
}

func countTails(t *testing.T, base, token, account, script string) int {
	t.Helper()
	req, err := http.NewRequest("GET", base+"/accounts/"+account+"/workers/scripts/"+script+"/tails", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Result []json.RawMessage `json:"result"`
	}
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &env); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET tails: HTTP %d %s", resp.StatusCode, body)
	}
	return len(env.Result)
}

func TestTailFiltersFromFlags(t *testing.T) {
	opts := &tailOptions{Status: []string{"error"}, Methods: []string{"post"}, Headers: []string{"X-Trace: yes", "Accept"},
		IPs: []string{"self"}, Search: "boom", SampleRate: 0.5, VersionID: "v1"}
	filters, err := tailFilters(opts)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(filters)
	want := `[{"outcome":["exception","exceededCpu","exceededMemory","unknown"]},{"sampling_rate":0.5},{"method":["POST"]},` +
		`{"header":{"key":"X-Trace","query":"yes"}},{"header":{"key":"Accept"}},{"client_ip":["self"]},{"query":"boom"},{"scriptVersion":"v1"}]`
	if !bytes.Equal(got, []byte(want)) {
		t.Errorf("filters = %s\nwant      %s", got, want)
	}
	for _, bad := range []*tailOptions{{Status: []string{"fine"}}, {SampleRate: 1}, {Headers: []string{":x"}}} {
		if _, err := tailFilters(bad); err == nil {
			t.Errorf("tailFilters(%+v) accepted", bad)
		}
	}
}
