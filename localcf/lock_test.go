package localcf

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// deadlockGuard only turns a request that never finishes into a failure instead of a hung test
// run; no assertion depends on how fast anything is.
const deadlockGuard = 30 * time.Second

// heldStart is a start gate (Options.startGate) that holds the next workerd start of one script
// until the test releases it: a deterministic stand-in for a worker that is slow to start.
type heldStart struct {
	mu      sync.Mutex
	script  string // armed for this script; "" = let every start through
	entered chan struct{}
	release chan struct{}
}

func (h *heldStart) gate(ctx context.Context, script string) error {
	h.mu.Lock()
	if h.script == "" || h.script != script {
		h.mu.Unlock()
		return nil
	}
	h.script = "" // one start only: a retry of the held change goes straight through
	entered, release := h.entered, h.release
	h.mu.Unlock()
	close(entered)
	select {
	case <-release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// arm makes the next start of script wait; entered closes once it waits, and calling the
// returned func lets it go on (also at cleanup, so a failed test never leaves it waiting).
func (h *heldStart) arm(t *testing.T, script string) (entered <-chan struct{}, release func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.script = script
	h.entered, h.release = make(chan struct{}), make(chan struct{})
	ch := h.release
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	t.Cleanup(release)
	return h.entered, release
}

func startGatedServer(t *testing.T) (*Server, *client, *heldStart) {
	h := &heldStart{}
	srv := startTestServer(t, Options{startGate: h.gate})
	return srv, newClient(t, srv), h
}

// inBackground runs call in a goroutine; the channel yields its response.
func inBackground(call func() *apiResponse) <-chan *apiResponse {
	done := make(chan *apiResponse, 1)
	go func() { done <- call() }()
	return done
}

// waitHeld waits until the held start is reached, failing if the change ends without it.
func waitHeld(t *testing.T, entered <-chan struct{}, change <-chan *apiResponse) {
	t.Helper()
	select {
	case <-entered:
	case r := <-change:
		t.Fatalf("the change finished without starting workerd: HTTP %d %.300s", r.Status, r.Body)
	case <-time.After(deadlockGuard):
		t.Fatal("the change never reached its workerd start")
	}
}

// mustFinish waits for a request that must not wait for the held start.
func mustFinish(t *testing.T, what string, done <-chan *apiResponse) *apiResponse {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(deadlockGuard):
		t.Fatalf("%s is blocked behind another script's workerd start", what)
		return nil
	}
}

// stillRunning fails unless the held change has not answered yet.
func stillRunning(t *testing.T, change <-chan *apiResponse) {
	t.Helper()
	select {
	case r := <-change:
		t.Fatalf("the held change answered HTTP %d while its workerd start was still held", r.Status)
	default:
	}
}

func (c *client) putSecret(script, name, text string) *apiResponse {
	return c.json(http.MethodPut, "/workers/scripts/"+script+"/secrets", map[string]string{"name": name, "text": text, "type": "secret_text"})
}

func (c *client) putContent(script, code string) *apiResponse {
	ct, body := multipartBody(c.t, metaPart(c.t, map[string]any{"main_module": "worker.js"}), modulePart("worker.js", code))
	return c.do(http.MethodPut, "/workers/scripts/"+script+"/content", ct, body)
}

func (c *client) secretNames(script string) []string {
	c.t.Helper()
	var list []struct{ Name string }
	r := c.do(http.MethodGet, "/workers/scripts/"+script+"/secrets", "", nil)
	expect(c.t, r, http.StatusOK, 0)
	r.result(c.t, &list)
	var names []string
	for _, s := range list {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	return names
}

// Every change that starts workerd holds no global lock while it does: while one script's start
// is held, another script can be changed, read and served.
func TestSlowStartDoesNotBlockOtherScripts(t *testing.T) {
	changes := []struct {
		name string
		call func(c *client, firstVersion string) *apiResponse
	}{
		{"upload", func(c *client, _ string) *apiResponse { return c.upload("slow", defaultMeta(), testWorker("v2")) }},
		{"version upload", func(c *client, _ string) *apiResponse {
			ct, body := multipartBody(c.t, metaPart(c.t, defaultMeta()), modulePart("worker.js", testWorker("v2")))
			return c.do(http.MethodPost, "/workers/scripts/slow/versions", ct, body)
		}},
		{"content PUT", func(c *client, _ string) *apiResponse { return c.putContent("slow", testWorker("v2")) }},
		{"secret PUT", func(c *client, _ string) *apiResponse { return c.putSecret("slow", "API_KEY", "s2") }},
		{"secret DELETE", func(c *client, _ string) *apiResponse {
			return c.do(http.MethodDelete, "/workers/scripts/slow/secrets/API_KEY", "", nil)
		}},
		{"secrets bulk PATCH", func(c *client, _ string) *apiResponse {
			return c.do(http.MethodPatch, "/workers/scripts/slow/secrets-bulk", "application/merge-patch+json",
				[]byte(`{"secrets":{"NEW":{"name":"NEW","text":"n","type":"secret_text"}}}`))
		}},
		{"settings PATCH", func(c *client, _ string) *apiResponse {
			return c.patchSettings("slow", map[string]any{"bindings": []map[string]any{{"type": "plain_text", "name": "GREETING", "text": "hi"}}})
		}},
		{"deployment POST", func(c *client, firstVersion string) *apiResponse { return c.deploy("slow", firstVersion, false) }},
	}
	for _, change := range changes {
		t.Run(change.name, func(t *testing.T) {
			_, c, held := startGatedServer(t)
			c.mustUpload("slow", defaultMeta(map[string]any{"type": "secret_text", "name": "API_KEY", "text": "s1"}), testWorker("v1"))
			first := c.versionIDs("slow")[0]
			c.mustUpload("other", defaultMeta(), testWorker("o1"))
			c.enableWorkersDev("other")

			entered, release := held.arm(t, "slow")
			done := inBackground(func() *apiResponse { return change.call(c, first) })
			waitHeld(t, entered, done)

			r := mustFinish(t, "a secret PUT on another script", inBackground(func() *apiResponse { return c.putSecret("other", "API_KEY", "o") }))
			expect(t, r, http.StatusOK, 0)
			r = mustFinish(t, "a GET of another script", inBackground(func() *apiResponse { return c.do(http.MethodGet, "/workers/scripts/other/settings", "", nil) }))
			expect(t, r, http.StatusOK, 0)
			if env := c.envOf("other"); env["secret"] != "o" {
				t.Fatalf("other script serves secret %v, want the one just set", env["secret"])
			}
			stillRunning(t, done)

			release()
			expect(t, mustFinish(t, "the held change", done), http.StatusOK, 0)
		})
	}
}

// Two changes of one script that overlap (the second commits while the first is starting
// workerd) both apply, in commit order: the first is rebuilt on top of the second, or answers
// what it would have answered had it arrived after it. No update is lost silently.
func TestOverlappingChangesOfOneScriptLoseNothing(t *testing.T) {
	cases := []struct {
		name          string
		held, between func(c *client, firstVersion string) *apiResponse
		heldStatus    int
		heldCode      int
		check         func(t *testing.T, c *client)
	}{
		{
			name:    "secret PUT during secret PUT",
			held:    func(c *client, _ string) *apiResponse { return c.putSecret("app", "FIRST", "1") },
			between: func(c *client, _ string) *apiResponse { return c.putSecret("app", "SECOND", "2") },
			check: func(t *testing.T, c *client) {
				if got := c.secretNames("app"); !slices.Equal(got, []string{"API_KEY", "FIRST", "SECOND"}) {
					t.Fatalf("secrets %v, want API_KEY, FIRST and SECOND", got)
				}
			},
		},
		{
			name: "settings PATCH during content PUT",
			held: func(c *client, _ string) *apiResponse { return c.putContent("app", testWorker("v2")) },
			between: func(c *client, _ string) *apiResponse {
				return c.patchSettings("app", map[string]any{"bindings": []map[string]any{{"type": "plain_text", "name": "GREETING", "text": "hi"}}})
			},
			check: func(t *testing.T, c *client) {
				if env := c.envOf("app"); env["version"] != "v2" || env["greeting"] != "hi" || env["secret"] != "s1" {
					t.Fatalf("serving %v, want the new code with GREETING and the secret", env)
				}
			},
		},
		{
			name: "secret DELETE during settings PATCH",
			held: func(c *client, _ string) *apiResponse {
				return c.patchSettings("app", map[string]any{"bindings": []map[string]any{{"type": "plain_text", "name": "GREETING", "text": "hi"}}})
			},
			between: func(c *client, _ string) *apiResponse {
				return c.do(http.MethodDelete, "/workers/scripts/app/secrets/API_KEY", "", nil)
			},
			check: func(t *testing.T, c *client) {
				if env := c.envOf("app"); env["greeting"] != "hi" || env["secret"] != nil {
					t.Fatalf("serving %v, want GREETING set and API_KEY deleted", env)
				}
			},
		},
		{
			name:    "rollback during secret PUT",
			held:    func(c *client, _ string) *apiResponse { return c.putSecret("app", "API_KEY", "s2") },
			between: func(c *client, first string) *apiResponse { return c.deploy("app", first, false) },
			// After the rollback the latest version is not deployed, so the secret PUT answers
			// as it would have had it arrived later, instead of silently undoing the rollback.
			heldStatus: http.StatusBadRequest, heldCode: codeNotDeployed,
			check: func(t *testing.T, c *client) {
				if env := c.envOf("app"); env["version"] != "v1" || env["secret"] != "s1" {
					t.Fatalf("serving %v, want the rolled-back version 1", env)
				}
			},
		},
		{
			// Forced, as a rollback across a secret change must be (10220 otherwise, below).
			name:    "secret PUT during rollback",
			held:    func(c *client, first string) *apiResponse { return c.deploy("app", first, true) },
			between: func(c *client, _ string) *apiResponse { return c.putSecret("app", "API_KEY", "s3") },
			check: func(t *testing.T, c *client) {
				if ids := c.versionIDs("app"); len(ids) != 3 {
					t.Fatalf("%d versions, want 3 (the secret PUT made one)", len(ids))
				}
				if env := c.envOf("app"); env["version"] != "v1" || env["secret"] != "s1" {
					t.Fatalf("serving %v, want version 1, deployed after the secret PUT", env)
				}
			},
		},
		{
			// Arriving after the secret PUT, the unforced rollback would cross a secret change.
			name:       "secret PUT during unforced rollback",
			held:       func(c *client, first string) *apiResponse { return c.deploy("app", first, false) },
			between:    func(c *client, _ string) *apiResponse { return c.putSecret("app", "API_KEY", "s3") },
			heldStatus: http.StatusBadRequest, heldCode: codeSecretsChanged,
			check: func(t *testing.T, c *client) {
				if env := c.envOf("app"); env["version"] != "v1b" || env["secret"] != "s3" {
					t.Fatalf("serving %v, want the secret PUT's version of v1b", env)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, c, held := startGatedServer(t)
			c.mustUpload("app", defaultMeta(map[string]any{"type": "secret_text", "name": "API_KEY", "text": "s1"}), testWorker("v1"))
			first := c.versionIDs("app")[0]
			c.mustUpload("app", defaultMeta(map[string]any{"type": "secret_text", "name": "API_KEY", "text": "s1"}), testWorker("v1b"))
			c.enableWorkersDev("app")

			entered, release := held.arm(t, "app")
			done := inBackground(func() *apiResponse { return tc.held(c, first) })
			waitHeld(t, entered, done)
			expect(t, mustFinish(t, "the second change of the script", inBackground(func() *apiResponse { return tc.between(c, first) })), http.StatusOK, 0)
			stillRunning(t, done)
			release()

			r := mustFinish(t, "the held change", done)
			if tc.heldStatus == 0 {
				expect(t, r, http.StatusOK, 0)
			} else {
				expect(t, r, tc.heldStatus, tc.heldCode)
			}
			tc.check(t, c)
		})
	}
}
