package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flareform/flareform/localcf"
)

// quirkMatrixBase is the reading of every quirk a matrix row does not vary: the local
// Cloudflare's default, the strictest reading of everything.
var quirkMatrixBase = localcf.Quirks{}

// TestQuirkMatrix runs flareform's whole lifecycle against a local Cloudflare with each quirk
// (docs/local-cloudflare.md) set to each of its readings, the others at quirkMatrixBase: a
// client that works against only one reading of an UNCONFIRMED behaviour fails a row here.
func TestQuirkMatrix(t *testing.T) {
	for _, name := range localcf.QuirkNames() {
		for _, lenient := range []bool{false, true} {
			names := slices.DeleteFunc(quirkMatrixBase.Names(), func(n string) bool { return n == name })
			row := name + "=strict"
			if lenient {
				names, row = append(names, name), name+"=on"
			}
			q, err := localcf.QuirksFromNames(names)
			if err != nil {
				t.Fatal(err)
			}
			t.Run(row, func(t *testing.T) {
				t.Parallel()
				runQuirkLifecycle(t, q, name == "workers_dev_without_subdomain")
			})
		}
	}
}

// lifecycleWorld is one local Cloudflare account that a matrix row deploys into.
type lifecycleWorld struct {
	t         *testing.T
	srv       *localcf.Server
	c         *cli
	spec      string
	subdomain string
	keys      string // directory for key files
}

// runQuirkLifecycle: apply create, apply update, an AI Gateway created and updated, apply
// no-op, a failed smoke rolled back, rotate / finish / revoke, plan, destroy. noSubdomain
// starts from an account without a workers.dev subdomain, which flareform must report before
// registering one makes it work.
func runQuirkLifecycle(t *testing.T, q localcf.Quirks, noSubdomain bool) {
	srv, err := localcf.Start(context.Background(), localcf.Options{Quirks: q})
	if err != nil {
		t.Fatalf("start local Cloudflare (workerd is required; run npm ci in the repository): %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	w := &lifecycleWorld{t: t, srv: srv, subdomain: srv.Subdomain(), keys: t.TempDir()}
	account, token := srv.AccountID(), srv.Token()
	if noSubdomain {
		if account, token, err = srv.AddAccount(""); err != nil {
			t.Fatal(err)
		}
	}
	w.c = newCLI(t, map[string]string{envAPIBaseURL: srv.APIBaseURL(), envAPIToken: token, envAccountID: account})
	w.spec = initProject(t, w.c, "images")
	f := []string{"-f", w.spec}
	k1 := w.keyFile("k1")

	if noSubdomain {
		r := w.c.mustRun(exitError, append(f, "apply", "--auto-approve", "--key-out", w.keyFile("k0"))...)
		if !strings.Contains(r.stderr, "workers.dev subdomain") {
			t.Fatalf("apply on an account without a workers.dev subdomain: stderr does not say so:\n%s", r.stderr)
		}
		w.subdomain = "late-" + account[:8]
		registerSubdomain(t, srv, account, token, w.subdomain)
	}

	// 1. Create.
	w.c.mustRun(0, append(f, "apply", "--auto-approve", "--key-out", k1)...)
	first := readKey(t, k1)
	w.expectKey("after create", first, http.StatusOK)

	// 2. Update code and a var together.
	editFile(t, w.spec, `MAX_PROMPT_CHARS: "1000"`, `MAX_PROMPT_CHARS: "500"`)
	w.editWorker("export default", "// updated\nexport default")
	w.c.mustRun(0, append(f, "apply", "--auto-approve")...)
	w.expectKey("after update", first, http.StatusOK)
	w.c.mustRun(exitOK, append(f, "plan", "--detailed-exitcode")...)

	// 2b. An AI Gateway: created, then its settings updated in place (a PUT whose body the
	// gateway_update_accepts_id reading may refuse fields of).
	editFile(t, w.spec, `      model: "@cf/stabilityai/stable-diffusion-xl-base-1.0"`,
		"      model: \"@cf/stabilityai/stable-diffusion-xl-base-1.0\"\n      gateway: {id: images-gw, cache_ttl: 60}")
	w.c.mustRun(0, append(f, "apply", "--auto-approve")...)
	editFile(t, w.spec, "cache_ttl: 60}", "cache_ttl: 120}")
	w.c.mustRun(0, append(f, "apply", "--auto-approve")...)
	w.c.mustRun(exitOK, append(f, "plan", "--detailed-exitcode")...)
	w.expectKey("after the gateway update", first, http.StatusOK)

	// 3. No-op: nothing written.
	srv.ResetRequests()
	if r := w.c.mustRun(0, append(f, "apply", "--auto-approve")...); !strings.Contains(r.stdout, "No changes.") {
		t.Errorf("no-op apply said %q, want No changes.", r.stdout)
	}
	if n := countWrites(srv.Requests()); n != 0 {
		t.Errorf("no-op apply made %d API writes", n)
	}

	// 4. A failed smoke is rolled back; the previous version serves; fixing the code converges.
	// (GET now answers 200 instead of 405, which the smoke test's method check catches.)
	w.editWorker(`const refused = await guard(request, env);`, `const refused = request.method === "GET" ? Response.json({}) : await guard(request, env);`)
	if r := w.c.mustRun(exitError, append(f, "apply", "--auto-approve")...); !strings.Contains(r.stderr, "rolled back") {
		t.Errorf("failed smoke: stderr does not report the rollback:\n%s", r.stderr)
	}
	w.expectPNG("after the rollback", first)
	w.editWorker(`const refused = request.method === "GET" ? Response.json({}) : await guard(request, env);`, `const refused = await guard(request, env);`)
	w.c.mustRun(0, append(f, "apply", "--auto-approve")...)
	w.c.mustRun(exitOK, append(f, "plan", "--detailed-exitcode")...)

	// 5. Rotate: both keys work during the window.
	k2 := w.keyFile("k2")
	w.c.mustRun(0, append(f, "rotate-key", "images", "--key-out", k2)...)
	second := readKey(t, k2)
	w.expectKey("during the window (old key)", first, http.StatusOK)
	w.expectKey("during the window (new key)", second, http.StatusOK)
	w.c.mustRun(exitOK, append(f, "plan", "--detailed-exitcode")...)

	// 6. Finish: the old key is refused.
	r := w.c.mustRun(0, append(f, "rotate-key", "images", "--finish", "--key-file", k2, "--old-key-file", k1)...)
	if !strings.Contains(r.stderr, "finished (phase stable)") {
		t.Errorf("finish summary:\n%s", r.stderr)
	}
	w.expectKey("after finish (old key)", first, http.StatusUnauthorized)
	w.expectKey("after finish (new key)", second, http.StatusOK)
	if r := w.c.mustRun(0, append(f, "rotate-key", "images", "--finish", "--key-file", k2)...); !strings.Contains(r.stderr, "unchanged") {
		t.Errorf("a second finish must change nothing:\n%s", r.stderr)
	}

	// 7. Revoke: a new key, every earlier one refused at once.
	k3 := w.keyFile("k3")
	w.c.mustRun(0, append(f, "rotate-key", "images", "--revoke", "--key-out", k3, "--old-key-file", k2)...)
	third := readKey(t, k3)
	w.expectKey("after revoke (revoked key)", second, http.StatusUnauthorized)
	w.expectKey("after revoke (new key)", third, http.StatusOK)

	// 7b. A canary of changed vars, promoted, then rolled back, and the spec applied again:
	// every rollout write and check under this reading of the API.
	editFile(t, w.spec, `MAX_PROMPT_CHARS: "500"`, `MAX_PROMPT_CHARS: "900"`)
	w.c.mustRun(0, append(f, "apply", "--canary", "10", "--auto-approve")...)
	w.c.mustRun(0, append(f, "promote", "--auto-approve")...)
	w.expectPNG("after promote", third)
	w.c.mustRun(0, append(f, "rollback", "--auto-approve")...)
	w.expectPNG("after rollback", third)
	w.c.mustRun(exitChanges, append(f, "plan", "--detailed-exitcode")...)
	w.c.mustRun(0, append(f, "apply", "--auto-approve")...)

	// 8. Plan is clean, a no-op apply stays one, destroy leaves nothing.
	w.c.mustRun(exitOK, append(f, "plan", "--detailed-exitcode")...)
	w.c.mustRun(0, append(f, "destroy", "--auto-approve")...)
	if n := len(listScripts(t, srv.APIBaseURL(), token, account)); n != 0 {
		t.Errorf("%d scripts left after destroy", n)
	}
	w.c.mustRun(exitChanges, append(f, "plan", "--detailed-exitcode")...)
}

func (w *lifecycleWorld) keyFile(name string) string { return filepath.Join(w.keys, name+".key") }

// editWorker edits the project's worker source.
func (w *lifecycleWorld) editWorker(old, new string) {
	w.t.Helper()
	editFile(w.t, filepath.Join(filepath.Dir(w.spec), "src", "worker.js"), old, new)
}

// callWorker POSTs the text-to-image request with key to the deployed worker.
func (w *lifecycleWorld) callWorker(key string) (int, string) {
	w.t.Helper()
	req, err := http.NewRequestWithContext(w.t.Context(), http.MethodPost, "http://"+w.srv.WorkersDevAddr()+"/",
		strings.NewReader(`{"prompt":"a lighthouse"}`))
	if err != nil {
		w.t.Fatal(err)
	}
	req.Host = "images." + w.subdomain + ".workers.dev"
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, res.Header.Get("Content-Type")
}

func (w *lifecycleWorld) expectKey(when, key string, want int) {
	w.t.Helper()
	if got, _ := w.callWorker(key); got != want {
		w.t.Errorf("%s: HTTP %d, want %d", when, got, want)
	}
}

func (w *lifecycleWorld) expectPNG(when, key string) {
	w.t.Helper()
	if status, ct := w.callWorker(key); status != http.StatusOK || ct != "image/png" {
		w.t.Errorf("%s: HTTP %d %q, want 200 image/png", when, status, ct)
	}
}

// registerSubdomain gives the account a workers.dev subdomain, as a user does once per account.
func registerSubdomain(t *testing.T, srv *localcf.Server, account, token, name string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"subdomain": name})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, srv.APIBaseURL()+"/accounts/"+account+"/workers/subdomain", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(res.Body)
		t.Fatalf("register subdomain %s: HTTP %d %s", name, res.StatusCode, data)
	}
}
