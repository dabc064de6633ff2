package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hollowAnswer replaces the template's image response: the worker still checks the key, but its
// authorised answer is JSON, so only a smoke test that really sends the key can tell.
const (
	imageAnswer  = `return new Response(bytes, { headers: { "content-type": type, ...CORS_HEADERS } });`
	hollowAnswer = `return new Response(JSON.stringify({ ok: true }), { headers: { "content-type": "application/json" } });`
)

// keyInStore reads the project's key store as a file (keys.json) and returns the one key it holds
// for script, failing unless there is exactly one.
func keyInStore(t *testing.T, specPath, script string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(filepath.Dir(specPath), ".flareform", "keys.json"))
	if err != nil {
		t.Fatalf("the project's key store: %v", err)
	}
	var doc struct {
		Keys []struct {
			Script, Key, State string
		} `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("key store is not JSON: %v", err)
	}
	var keys []string
	for _, e := range doc.Keys {
		if e.Script == script {
			keys = append(keys, e.Key)
		}
	}
	if len(keys) != 1 {
		t.Fatalf("key store holds %d keys for %s, want 1", len(keys), script)
	}
	return keys[0]
}

// TestTruthfulHollowSmoke: a worker whose authorised answer is not what the spec expects must
// fail apply's smoke test, because the test now sends the real key (from the project's key
// store); the update is rolled back and plan remembers it. Before, the smoke test had no key
// for a worker an earlier run created, skipped the authorised request and said "smoke passed".
func TestTruthfulHollowSmoke(t *testing.T) {
	t.Parallel()
	srv, env := startStandalone(t)
	b := newBinCLI(t, env)
	specPath := initBinProject(t, b, "images")
	f := []string{"-f", specPath}
	b.mustRun(0, append(f, "apply", "--auto-approve")...)

	worker := filepath.Join(filepath.Dir(specPath), "src", "worker.js")
	editFile(t, worker, imageAnswer, hollowAnswer)
	r := b.run(append(f, "apply", "--auto-approve")...)
	if r.code != exitError {
		t.Fatalf("apply of a worker that answers JSON instead of a PNG: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	// The template expects "image/" (a PNG or a JPEG); the failure names what it wanted.
	if missing := lacks(r.stdout+r.stderr, "rolled back", `want "image/"`); missing != "" || strings.Contains(r.stdout, "Apply complete!") {
		t.Errorf("failed apply output lacks %q (or claims completion):\n%s\n%s", missing, r.stdout, r.stderr)
	}
	key := keyInStore(t, specPath, "images")
	if got := postWith(t, srv, "images", key); got != http.StatusOK {
		t.Errorf("after the rollback the stored key gets %d, want 200", got)
	}

	// The rollback is remembered: the spec's code does not serve, so there is still a change.
	p := b.run(append(f, "plan", "--detailed-exitcode")...)
	if p.code != exitChanges {
		t.Errorf("plan --detailed-exitcode after the rollback: exit %d, want 2\n%s%s", p.code, p.stdout, p.stderr)
	}
	r = b.run(append(f, "apply", "--auto-approve")...)
	if strings.Contains(r.stdout, "No changes") || r.code != exitError {
		t.Errorf("re-apply after the rollback: exit %d, want 1 (the smoke test fails again), not \"No changes\"\n%s", r.code, r.stdout)
	}
}

// TestTruthfulSmokeNeedsKey: without the project's key store and without a key given, apply
// refuses before any write and says how to give the key; --key-file and FLAREFORM_API_KEY
// then work.
func TestTruthfulSmokeNeedsKey(t *testing.T) {
	t.Parallel()
	srv, env := startStandalone(t)
	b := newBinCLI(t, env)
	specPath := initBinProject(t, b, "images")
	f := []string{"-f", specPath}
	b.mustRun(0, append(f, "apply", "--auto-approve")...)
	key := keyInStore(t, specPath, "images")

	store := filepath.Join(filepath.Dir(specPath), ".flareform", "keys.json")
	if err := os.Rename(store, filepath.Join(t.TempDir(), "keys.json")); err != nil {
		t.Fatal(err)
	}
	editFile(t, specPath, `MAX_PROMPT_CHARS: "1000"`, `MAX_PROMPT_CHARS: "900"`)
	before := len(srv.Requests())
	r := b.run(append(f, "apply", "--auto-approve")...)
	if r.code != exitError {
		t.Fatalf("apply without any key: exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if missing := lacks(r.stderr, "images", "--key-file", "--no-smoke"); missing != "" {
		t.Errorf("the refusal does not mention %q:\n%s", missing, r.stderr)
	}
	if n := writesSince(srv, before); n != 0 {
		t.Errorf("the refused apply made %d writes: %v", n, callsOf(srv.Requests()[before:]))
	}

	keyFile := filepath.Join(t.TempDir(), "images.key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = b.mustRun(0, append(f, "apply", "--auto-approve", "--key-file", keyFile)...)
	if !strings.Contains(r.stdout, "Apply complete!") {
		t.Errorf("apply --key-file:\n%s", r.stdout)
	}

	editFile(t, specPath, `MAX_PROMPT_CHARS: "900"`, `MAX_PROMPT_CHARS: "800"`)
	r = b.with(map[string]string{envAPIKey: key}).mustRun(0, append(f, "apply", "--auto-approve")...)
	if !strings.Contains(r.stdout, "Apply complete!") {
		t.Errorf("apply with FLAREFORM_API_KEY:\n%s", r.stdout)
	}
	// A wrong key is no key: apply refuses again rather than skip the authorised request.
	editFile(t, specPath, `MAX_PROMPT_CHARS: "800"`, `MAX_PROMPT_CHARS: "700"`)
	before = len(srv.Requests())
	r = b.with(map[string]string{envAPIKey: "not-the-key-not-the-key-not-the-key-000"}).run(append(f, "apply", "--auto-approve")...)
	if r.code != exitError || writesSince(srv, before) != 0 {
		t.Errorf("apply with a wrong FLAREFORM_API_KEY: exit %d, %d writes; want 1 and none", r.code, writesSince(srv, before))
	}
	if strings.Contains(r.stdout+r.stderr, key) {
		t.Error("a key appears in the output")
	}
}
