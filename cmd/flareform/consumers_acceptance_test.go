package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flareform/flareform/localcf"
)

// consumersBlock is the spec's consumers (issue 24's acceptance): mobile with a limit of its
// own, partner with a key from the environment, web generated without a limit of its own.
const consumersBlock = `    consumers:
      mobile: { rate_limit: { limit: 3, period: 60 } }
      partner: { from: "env:PARTNER_KEY" }
      web: {}
`

// TestConsumersAcceptance is issue 24's acceptance, end to end against the local Cloudflare: a
// text-to-image worker from `flareform init` with consumers mobile (3 a minute), partner (env
// key) and web, and usage on.
//   - apply --key-out hands mobile's and web's keys over; every consumer key and the owner's
//     open the worker (an image for a prompt) and GET /.well-known/flareform names each one's
//     consumer;
//   - apply checked every handed-over key without a model call: its model calls are exactly
//     its smoke test's (counted in the local Workers AI's binding log), and the checks it made
//     show in the usage data as requests of each consumer with no AI call;
//   - mobile's fourth request within the minute gets 429 while partner is still served;
//   - keys --json lists owner, mobile, partner and web, and no key appears in its output;
//   - usage --json shows mobile with at least 4 requests and exactly 1 rate limited, and the
//     neurons known;
//   - removing partner and applying again makes partner's key 401 while web's still works.
func TestConsumersAcceptance(t *testing.T) {
	srv, env := startStandalone(t)
	env["PARTNER_KEY"] = "partner-acceptance-0123456789abcdef01234567"
	c := newCLI(t, env)
	specPath := initProject(t, c, "images")
	requireUsageOn(t, specPath)
	editFile(t, specPath, "    workers_dev: true\n", "    workers_dev: true\n"+consumersBlock)
	f := []string{"-f", specPath}
	keyFile := filepath.Join(t.TempDir(), "keys.txt")

	calls := modelCallCount(srv)
	c.mustRun(0, append(f, "apply", "--auto-approve", "--key-out", keyFile)...)
	applyCalls := modelCallCount(srv) - calls

	content, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	handed := keyFileConsumers(string(content))["images"]
	if len(handed) != 2 || handed["mobile"] == "" || handed["web"] == "" {
		t.Fatalf("--key-out holds consumer keys for %v, want mobile and web (partner's is the caller's own)", sortedNames(handed))
	}
	keys := map[string]string{"mobile": handed["mobile"], "partner": env["PARTNER_KEY"], "web": handed["web"]}
	owner := storedKey(t, specPath, "images")
	if owner == "" {
		t.Fatal("no owner key in the key store after apply")
	}
	if strings.Contains(string(content), keys["partner"]) {
		t.Error("--key-out repeats partner's env key")
	}

	// The checks apply made: a data point per consumer, written by GET /.well-known/flareform
	// (usage's data points come only from requests to the worker, none of which the test has
	// sent yet), with no AI call.
	checked := waitUsage(t, c, f, func(d usageDoc) bool {
		for name := range keys {
			if d.consumer("images", name).Requests < 1 {
				return false
			}
		}
		return true
	})
	for name := range keys {
		if got := checked.consumer("images", name); got.Requests < 1 || got.AICalls != 0 {
			t.Errorf("after apply, usage shows %s with %+v: want its key check (at least 1 request) and no AI call", name, got)
		}
	}

	// apply's model calls are its smoke test's, no more: smoke alone makes as many.
	calls = modelCallCount(srv)
	c.mustRun(0, append(f, "smoke")...)
	smokeCalls := modelCallCount(srv) - calls
	if smokeCalls < 1 {
		t.Fatalf("smoke made %d model calls; the test cannot tell a key check's model call from none", smokeCalls)
	}
	t.Logf("model calls: apply %d, smoke %d", applyCalls, smokeCalls)
	if applyCalls != smokeCalls {
		t.Errorf("apply made %d model calls, its smoke test alone %d: the consumer key checks must make none", applyCalls, smokeCalls)
	}

	// Every key opens the worker, and /.well-known/flareform names its consumer.
	for name, key := range keys {
		if got := wellKnownConsumer(t, srv, "images", key); got != name {
			t.Errorf("GET /.well-known/flareform with %s's key: %s, want consumer %q", name, got, name)
		}
	}
	if got := wellKnownConsumer(t, srv, "images", owner); got != "owner" {
		t.Errorf("GET /.well-known/flareform with the owner's key: %s, want consumer \"owner\"", got)
	}
	if got := wellKnownConsumer(t, srv, "images", "not-a-key-not-a-key-not-a-key-not-a-key-00"); got != "status 401" {
		t.Errorf("GET /.well-known/flareform with a wrong key: %s, want status 401", got)
	}
	// mobile through invoke, with its key in FLAREFORM_API_KEY, as a client holding it would.
	out := filepath.Join(t.TempDir(), "mobile.png")
	c.env[envAPIKey] = keys["mobile"]
	c.mustRun(0, append(f, "invoke", "images", "--prompt", "a robot", "-o", out)...)
	delete(c.env, envAPIKey)
	assertPNGIn(t, filepath.Dir(out))
	for _, name := range []string{"partner", "web"} {
		wantImage(t, srv, name+"'s key", keys[name])
	}

	// mobile's limit is 3 a minute: two more are served, the fourth gets 429; partner still
	// gets its image.
	for i := 2; i <= 3; i++ {
		if status, body := postPrompt(t, srv, "images", keys["mobile"]); status != http.StatusOK {
			t.Errorf("mobile's request %d within the minute: status %d, want 200 (%.200s)", i, status, body)
		}
	}
	if status, body := postPrompt(t, srv, "images", keys["mobile"]); status != http.StatusTooManyRequests {
		t.Errorf("mobile's fourth request within the minute: status %d, want 429 (%.200s)", status, body)
	}
	wantImage(t, srv, "partner's key after mobile's 429", keys["partner"])
	if got := wellKnownConsumer(t, srv, "images", keys["mobile"]); got != "mobile" {
		t.Errorf("GET /.well-known/flareform with mobile's key while its counter is full: %s, want consumer \"mobile\" (the check is not rate limited)", got)
	}

	// keys --json: owner and the three consumers, no key.
	r := c.mustRun(0, append(f, "keys", "images", "--json")...)
	var listed struct {
		Keys []struct {
			Consumer, Fingerprint, State string
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil {
		t.Fatalf("keys --json: %v\n%s", err, r.stdout)
	}
	var names []string
	for _, k := range listed.Keys {
		names = append(names, k.Consumer)
		if k.State != "active" {
			t.Errorf("keys --json: %s is %q, want active", k.Consumer, k.State)
		}
	}
	if strings.Join(names, ",") != "owner,mobile,partner,web" {
		t.Errorf("keys --json lists %v, want owner, mobile, partner, web", names)
	}
	all := map[string]string{"owner": owner, "mobile": keys["mobile"], "partner": keys["partner"], "web": keys["web"]}
	for name, key := range all {
		if strings.Contains(r.stdout+r.stderr, key) {
			t.Errorf("keys --json printed %s's key", name)
		}
	}

	// usage: mobile's four requests (and apply's check), one of them rate limited.
	doc := waitUsage(t, c, f, func(d usageDoc) bool {
		m := d.consumer("images", "mobile")
		return m.Requests >= 5 && m.RateLimited >= 1
	})
	t.Logf("usage of mobile: %+v", doc.consumer("images", "mobile"))
	if m := doc.consumer("images", "mobile"); m.Requests < 4 || m.RateLimited != 1 || m.AICalls != 3 {
		t.Errorf("usage --json shows mobile with %+v, want at least 4 requests, 1 rate limited and 3 AI calls", m)
	}
	if doc.Neurons.Today == nil || *doc.Neurons.Today <= 0 {
		t.Errorf("usage --json: neurons today %v (%q), want known and above 0", doc.Neurons.Today, doc.Neurons.Unknown)
	}

	// partner leaves the spec: its key gets 401 after the next apply, web's still works.
	editFile(t, specPath, "      partner: { from: \"env:PARTNER_KEY\" }\n", "")
	calls = modelCallCount(srv)
	c.mustRun(0, append(f, "apply", "--auto-approve")...)
	if d := modelCallCount(srv) - calls; d > smokeCalls {
		t.Errorf("the apply that removed partner made %d model calls, its smoke test %d", d, smokeCalls)
	}
	if status, body := postPrompt(t, srv, "images", keys["partner"]); status != http.StatusUnauthorized {
		t.Errorf("partner's key after partner left the spec: status %d, want 401 (%.200s)", status, body)
	}
	if got := wellKnownConsumer(t, srv, "images", keys["partner"]); got != "status 401" {
		t.Errorf("GET /.well-known/flareform with partner's key after partner left the spec: %s, want status 401", got)
	}
	wantImage(t, srv, "web's key after partner left the spec", keys["web"])
	for _, name := range []string{"mobile", "web"} {
		if got := wellKnownConsumer(t, srv, "images", keys[name]); got != name {
			t.Errorf("GET /.well-known/flareform with %s's key after partner left the spec: %s", name, got)
		}
	}
	wantImage(t, srv, "the owner's key after partner left the spec", owner)
	if r := c.run(append(f, "plan", "--detailed-exitcode")...); r.code != exitOK {
		t.Errorf("plan after the second apply: exit %d, want 0\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = c.mustRun(0, append(f, "keys", "images", "--json")...)
	if strings.Contains(r.stdout, `"partner"`) {
		t.Errorf("keys --json still lists partner after it left the spec:\n%s", r.stdout)
	}

	// No key in any output (keys --json and usage --json included), nor in any project file
	// other than the key store; the key file is where keys are handed over.
	secrets := map[string]string{"API token": srv.Token()}
	for name, key := range all {
		secrets[name+"'s key"] = key
	}
	assertSecretsOnlyIn(t, secrets, c.transcript, keyFile, filepath.Dir(specPath), filepath.Dir(keyFile))
}

// modelCallCount is how many calls workers have made to Workers AI through their AI binding.
func modelCallCount(srv *localcf.Server) int {
	n := 0
	for _, c := range srv.BindingCalls() {
		if strings.HasPrefix(c.Path, "/run/") {
			n++
		}
	}
	return n
}

// keyFileConsumers reads the `<worker>/<consumer>=<key>` lines of a --key-out file.
func keyFileConsumers(content string) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, line := range strings.Split(content, "\n") {
		line = strings.TrimSpace(line)
		name, key, ok := strings.Cut(line, "=")
		worker, consumer, isConsumer := strings.Cut(name, "/")
		if !ok || !isConsumer || key == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if out[worker] == nil {
			out[worker] = map[string]string{}
		}
		out[worker][consumer] = key
	}
	return out
}

// workerRequest sends one request to worker's workers.dev URL on the local Cloudflare with key
// as its Bearer token.
func workerRequest(t *testing.T, srv *localcf.Server, worker, method, path, body, key string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, "http://"+srv.WorkersDevAddr()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = worker + "." + srv.Subdomain() + ".workers.dev"
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s to %s: %v", method, path, worker, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, data
}

// postPrompt asks worker for a picture with key.
func postPrompt(t *testing.T, srv *localcf.Server, worker, key string) (int, []byte) {
	t.Helper()
	return workerRequest(t, srv, worker, http.MethodPost, "/", smokePrompt, key)
}

// wantImage checks that key gets a decodable PNG from the images worker.
func wantImage(t *testing.T, srv *localcf.Server, what, key string) {
	t.Helper()
	status, body := postPrompt(t, srv, "images", key)
	if status != http.StatusOK {
		t.Errorf("%s: status %d, want 200 (%.200s)", what, status, body)
		return
	}
	if _, err := png.Decode(bytes.NewReader(body)); err != nil {
		t.Errorf("%s: 200 but not a PNG: %v", what, err)
	}
}

// wellKnownConsumer is the consumer GET /.well-known/flareform names for key, or "status N"
// when it does not answer 200 with one.
func wellKnownConsumer(t *testing.T, srv *localcf.Server, worker, key string) string {
	t.Helper()
	status, body := workerRequest(t, srv, worker, http.MethodGet, "/.well-known/flareform", "", key)
	var got struct {
		Consumer string `json:"consumer"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &got) != nil || got.Consumer == "" {
		return "status " + strconv.Itoa(status)
	}
	return got.Consumer
}

// waitUsage reads usage --json until done holds or 20 seconds passed (the worker writes its
// data points without waiting for them), and returns the last read.
func waitUsage(t *testing.T, c *cli, f []string, done func(usageDoc) bool) usageDoc {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		d := readUsageDoc(t, c, f)
		if done(d) || time.Now().After(deadline) {
			return d
		}
		time.Sleep(200 * time.Millisecond)
	}
}
