package main

// Tests of the one guarded write (provision/guard.go) on the two paths routed through it: the
// rollback after a failed smoke test and destroy's script delete. Each holds one API call of a
// run on a callGate and lets a second run, from another checkout, complete meanwhile.

import (
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/flareform/flareform/localcf"
)

// isScriptCall reports whether r is a call on the script name (suffix "" for the script itself,
// "/deployments" …) with method.
func isScriptCall(r *http.Request, method, name, suffix string) bool {
	return r.Method == method && strings.HasSuffix(r.URL.Path, "/workers/scripts/"+name+suffix)
}

// gatedCLI returns b pointed at a callGate in front of srv; the gate holds the first call
// holdWhen matches (before the server sees it, or after it took effect when afterHandled).
func gatedCLI(t *testing.T, b *binCLI, srv *localcf.Server, afterHandled bool, holdWhen func(*http.Request) bool) (*binCLI, *callGate) {
	t.Helper()
	gate := newCallGate(t, srv.APIBaseURL(), -1, afterHandled)
	gate.holdWhen = holdWhen
	return b.with(map[string]string{envAPIBaseURL: gate.url}), gate
}

// twoCheckouts deploys a text-to-image worker "images" from one checkout and copies it (with
// the key store) to a second one, as a second machine would have it. It returns both specs and
// the key the first apply handed over.
func twoCheckouts(t *testing.T, b *binCLI) (specA, specB, keyFile string) {
	t.Helper()
	specA = initBinProject(t, b, "images")
	keyFile = filepath.Join(t.TempDir(), "first.key")
	b.mustRun(0, "-f", specA, "apply", "--auto-approve", "--no-smoke", "--key-out", keyFile)
	specB = filepath.Join(t.TempDir(), "images", "flareform.yaml")
	copyProject(t, filepath.Dir(specA), filepath.Dir(specB), true)
	return specA, specB, keyFile
}

// TestGuardedRollbackKeepsARotation: rotate-key from a second checkout completes (exit 0, a new
// key handed over) while an apply's upload is on its way; the upload lands on top and the
// apply's smoke test fails. The apply must exit 1 without rolling back to the version its plan
// read, and the rotation's keys must still open the worker. It used to roll back, and the key
// rotate-key had handed over got 401.
func TestGuardedRollbackKeepsARotation(t *testing.T) {
	t.Parallel()
	srv, env := startStandalone(t)
	b := newBinCLI(t, env)
	specA, specB, oldKeyFile := twoCheckouts(t, b)
	oldKey := readKey(t, oldKeyFile)
	editFile(t, filepath.Join(filepath.Dir(specA), "src", "worker.js"), imageAnswer, hollowAnswer)

	gated, gate := gatedCLI(t, b, srv, false, func(r *http.Request) bool { return isScriptCall(r, http.MethodPut, "images", "") })
	apply := gated.start("-f", specA, "apply", "--auto-approve")
	if !gate.waitHeld(t, apply) {
		t.Fatalf("apply ended without uploading:\n%s", apply.wait(t).stderr)
	}
	newKeyFile := filepath.Join(t.TempDir(), "new.key")
	b.mustRun(0, "-f", specB, "rotate-key", "images", "--key-out", newKeyFile, "--old-key-file", oldKeyFile)
	newKey := readKey(t, newKeyFile)
	gate.end(true)
	r := apply.wait(t)
	t.Logf("apply: exit %d: %s", r.code, lastLine(r.stderr))

	if r.code != exitError {
		t.Fatalf("apply whose smoke test failed: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, "rolled back to version") {
		t.Errorf("apply rolled back over the rotation:\n%s", r.stderr)
	}
	if missing := lacks(r.stderr, "smoke", "changed while this run was applying", "images"); missing != "" {
		t.Errorf("apply's error lacks %q:\n%s", missing, r.stderr)
	}
	for what, key := range map[string]string{"rotate-key's new key": newKey, "the old key (in its window)": oldKey} {
		if got := postWith(t, srv, "images", key); got != http.StatusOK {
			t.Errorf("after the failed apply, %s gets %d, want 200\napply stderr:\n%s", what, got, r.stderr)
		}
	}
}

// TestGuardedRollbackKeepsAnotherApply: apply A's smoke test fails; while A is between its
// smoke test and what follows it, apply B of another checkout changes a variable and exits 0.
// A must not roll B's change back: B's change still serves and B's plan has nothing to do. It
// used to roll back to the version A's plan read, and B's plan --detailed-exitcode said 2.
func TestGuardedRollbackKeepsAnotherApply(t *testing.T) {
	t.Parallel()
	srv, env := startStandalone(t)
	b := newBinCLI(t, env)
	specA, specB, _ := twoCheckouts(t, b)
	editFile(t, filepath.Join(filepath.Dir(specA), "src", "worker.js"), imageAnswer, hollowAnswer)
	editFile(t, specB, `MAX_PROMPT_CHARS: "1000"`, `MAX_PROMPT_CHARS: "900"`)

	// A's first deployments call after its upload: the check (or, before, the rollback itself)
	// after the failed smoke test.
	var mu sync.Mutex
	uploaded := false
	gated, gate := gatedCLI(t, b, srv, false, func(r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		if isScriptCall(r, http.MethodPut, "images", "") {
			uploaded = true
		}
		return uploaded && strings.HasSuffix(r.URL.Path, "/workers/scripts/images/deployments")
	})
	a := gated.start("-f", specA, "apply", "--auto-approve")
	if !gate.waitHeld(t, a) {
		r := a.wait(t)
		t.Logf("apply A: exit %d: %s", r.code, lastLine(r.stderr))
		t.Fatalf("apply A ended (exit %d) without a deployments call after its upload:\n%s", r.code, r.stderr)
	}
	b.mustRun(0, "-f", specB, "apply", "--auto-approve")
	gate.end(true)
	r := a.wait(t)
	t.Logf("apply A: exit %d: %s", r.code, lastLine(r.stderr))

	if r.code != exitError {
		t.Fatalf("apply A: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, "rolled back to version") {
		t.Errorf("apply A rolled back over B's change:\n%s", r.stderr)
	}
	if missing := lacks(r.stderr, "smoke", "changed while this run was applying", "serves"); missing != "" {
		t.Errorf("apply A's error lacks %q:\n%s", missing, r.stderr)
	}
	if p := b.run("-f", specB, "plan", "--detailed-exitcode"); p.code != exitOK {
		t.Errorf("B's plan --detailed-exitcode after A failed: exit %d, want 0 (B's change serves)\n%s%s", p.code, p.stdout, p.stderr)
	}
	if got := postWith(t, srv, "images", keyInStore(t, specB, "images")); got != http.StatusOK {
		t.Errorf("B's key gets %d", got)
	}
}

// TestGuardedDestroyNoWorkerLeft: an apply from another checkout creates the worker again
// after destroy's delete took effect, before destroy saw the answer. Destroy must not exit 0:
// a worker is left. It used to say "Destroy complete!".
func TestGuardedDestroyNoWorkerLeft(t *testing.T) {
	t.Parallel()
	srv, env := startStandalone(t)
	b := newBinCLI(t, env)
	specA, specB, _ := twoCheckouts(t, b)

	gated, gate := gatedCLI(t, b, srv, true, func(r *http.Request) bool { return isScriptCall(r, http.MethodDelete, "images", "") })
	destroy := gated.start("-f", specB, "destroy", "--auto-approve")
	if !gate.waitHeld(t, destroy) {
		t.Fatalf("destroy ended without deleting:\n%s", destroy.wait(t).stderr)
	}
	keyFile := filepath.Join(t.TempDir(), "again.key")
	b.mustRun(0, "-f", specA, "apply", "--auto-approve", "--no-smoke", "--key-out", keyFile)
	gate.end(true)
	r := destroy.wait(t)
	t.Logf("destroy: exit %d: %s", r.code, lastLine(r.stderr))

	if r.code != exitError {
		t.Fatalf("destroy: exit %d with %v left on the account\nstdout:\n%s\nstderr:\n%s", r.code, scriptNames(t, srv), r.stdout, r.stderr)
	}
	if missing := lacks(r.stderr, "images", "created it again", "changed while this run was applying"); missing != "" {
		t.Errorf("destroy's error lacks %q:\n%s", missing, r.stderr)
	}
	// The apply's exit 0 stays true: its key opens the worker it created.
	if got := postWith(t, srv, "images", readKey(t, keyFile)); got != http.StatusOK {
		t.Errorf("the key the apply handed over gets %d", got)
	}
	// The worker is still the project's: destroy run again deletes it.
	b.mustRun(0, "-f", specB, "destroy", "--auto-approve")
	assertScripts(t, srv)
}

// TestGuardedDestroyKeepsANewerDeploy: an apply from another checkout deploys a change and
// exits 0 after destroy's plan read the worker and before its delete. Destroy must not delete
// the version it never read: it exits 1 saying another run deployed, the apply's change keeps
// serving, and a destroy run again deletes it. It used to delete it and exit 0.
func TestGuardedDestroyKeepsANewerDeploy(t *testing.T) {
	t.Parallel()
	srv, env := startStandalone(t)
	b := newBinCLI(t, env)
	specA, specB, _ := twoCheckouts(t, b)
	editFile(t, specA, `MAX_PROMPT_CHARS: "1000"`, `MAX_PROMPT_CHARS: "900"`)

	// Destroy's check before its delete (its second read of the deployments, after the
	// plan's), or the delete itself where there is no such check.
	var mu sync.Mutex
	reads := 0
	gated, gate := gatedCLI(t, b, srv, false, func(r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		if isScriptCall(r, http.MethodGet, "images", "/deployments") {
			reads++
			return reads == 2
		}
		return isScriptCall(r, http.MethodDelete, "images", "")
	})
	destroy := gated.start("-f", specB, "destroy", "--auto-approve")
	if !gate.waitHeld(t, destroy) {
		t.Fatalf("destroy ended without deleting:\n%s", destroy.wait(t).stderr)
	}
	b.mustRun(0, "-f", specA, "apply", "--auto-approve", "--no-smoke")
	gate.end(true)
	r := destroy.wait(t)
	t.Logf("destroy: exit %d: %s", r.code, lastLine(r.stderr))

	if r.code != exitError {
		t.Fatalf("destroy after another run deployed: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if missing := lacks(r.stderr, "images", "changed while this run was applying", "did not delete the script"); missing != "" {
		t.Errorf("destroy's error lacks %q:\n%s", missing, r.stderr)
	}
	if p := b.run("-f", specA, "plan", "--detailed-exitcode"); p.code != exitOK {
		t.Errorf("the apply's plan after the failed destroy: exit %d, want 0 (its change serves)\n%s%s", p.code, p.stdout, p.stderr)
	}
	if got := postWith(t, srv, "images", keyInStore(t, specA, "images")); got != http.StatusOK {
		t.Errorf("the apply's key gets %d", got)
	}
	b.mustRun(0, "-f", specB, "destroy", "--auto-approve")
	assertScripts(t, srv)
}
