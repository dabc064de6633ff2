package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// runInterruptible runs flareform in process against the API at apiBase (a callGate's URL) with
// a context the test cancels, as Ctrl-C cancels main's: it returns the cancel and a channel
// that gets the run's result.
func runInterruptible(t *testing.T, env map[string]string, apiBase string, args ...string) (context.CancelFunc, <-chan result) {
	t.Helper()
	runEnv := map[string]string{}
	for k, v := range env {
		runEnv[k] = v
	}
	runEnv[envAPIBaseURL] = apiBase
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	done := make(chan result, 1)
	go func() {
		ios, stdout, stderr := TestIOStreams("")
		code := run(ctx, ios, args, func(name string) string { return runEnv[name] })
		done <- result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	}()
	return cancel, done
}

// waitGateHeld waits for the gate to hold its call; it fails the test when the run ended first.
func waitGateHeld(t *testing.T, g *callGate, done <-chan result) {
	t.Helper()
	select {
	case <-g.held:
	case r := <-done:
		t.Fatalf("the run ended before the held call: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	case <-time.After(2 * time.Minute):
		t.Fatal("the run reached neither the held call nor its end within 2 minutes")
	}
}

func waitRun(t *testing.T, done <-chan result) result {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(2 * time.Minute):
		t.Fatal("the run did not end within 2 minutes of the Ctrl-C")
		return result{}
	}
}

// TestApplyCtrlCAfterLastChangeIsSuccess: Ctrl-C while apply reads the deployments after its
// smoke test passed (every write of the plan done, nothing left to start). It used to print
// "Apply interrupted ... run apply again to finish" and exit 0 all the same: the exit code and
// the summary disagreed. The Ctrl-C stopped nothing, so this is a plain success: exit 0,
// "Apply complete!", no "interrupted", and a line saying the Ctrl-C came too late to matter.
func TestApplyCtrlCAfterLastChangeIsSuccess(t *testing.T) {
	t.Parallel()
	srv, env := startStandalone(t)
	c := newCLI(t, env)
	specPath := initProject(t, c, "images")

	gate := newCallGate(t, srv.APIBaseURL(), -1, false)
	wroteWorkersDev := false // the run's last write; only holdWhen (under the gate's lock) uses it
	gate.holdWhen = func(r *http.Request) bool {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/scripts/images/subdomain") {
			wroteWorkersDev = true
			return false
		}
		return wroteWorkersDev && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/scripts/images/deployments")
	}
	cancel, done := runInterruptible(t, env, gate.url, "-f", specPath, "apply", "--auto-approve")
	waitGateHeld(t, gate, done)
	cancel() // Ctrl-C: the final read is in flight, the smoke test has passed
	gate.end(true)
	r := waitRun(t, done)

	if r.code != exitOK {
		t.Fatalf("apply with Ctrl-C after its last change: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if missing := lacks(r.stdout, "smoke images: passed", "Apply complete!", "Ctrl-C came after the last change; nothing was left undone"); missing != "" {
		t.Errorf("stdout lacks %q:\n%s", missing, r.stdout)
	}
	if strings.Contains(strings.ToLower(r.stdout+r.stderr), "interrupted") {
		t.Errorf("a run the Ctrl-C did not stop says interrupted:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	key := keyInStore(t, specPath, "images")
	if strings.Contains(r.stdout+r.stderr, key) {
		t.Error("the key appears in the output")
	}
	if got := postWith(t, srv, "images", key); got != http.StatusOK {
		t.Errorf("the key apply deployed gets %d, want 200", got)
	}
	// Nothing was left undone: the next plan has no changes.
	c.mustRun(0, "-f", specPath, "plan", "--detailed-exitcode")
}

// TestApplyCtrlCBeforeLastChangeExits130: Ctrl-C while the upload is answered, before the
// workers.dev write starts. That write is left undone: exit 130, "Apply interrupted" naming the
// worker as not done, never "Apply complete!", and no write after the Ctrl-C.
func TestApplyCtrlCBeforeLastChangeExits130(t *testing.T) {
	t.Parallel()
	srv, env := startStandalone(t)
	c := newCLI(t, env)
	specPath := initProject(t, c, "images")

	gate := newCallGate(t, srv.APIBaseURL(), -1, true) // the upload takes effect, then is held
	gate.holdWhen = func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/scripts/images")
	}
	cancel, done := runInterruptible(t, env, gate.url, "-f", specPath, "apply", "--auto-approve")
	waitGateHeld(t, gate, done)
	cancel()
	before := len(srv.Requests())
	gate.end(true)
	r := waitRun(t, done)

	if r.code != exitInterrupted {
		t.Fatalf("apply with Ctrl-C before its last change: exit %d, want 130\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if missing := lacks(r.stdout, "Apply interrupted", "Not done: images", "not done (stopped by Ctrl-C)"); missing != "" {
		t.Errorf("stdout lacks %q:\n%s", missing, r.stdout)
	}
	if strings.Contains(r.stdout, "Apply complete!") || strings.Contains(r.stdout, "nothing was left undone") {
		t.Errorf("an interrupted apply claims completion:\n%s", r.stdout)
	}
	for _, rec := range srv.Requests()[before:] {
		if isWrite(rec.Method) && strings.HasSuffix(rec.Path, "/subdomain") {
			t.Errorf("a write started after Ctrl-C: %s %s", rec.Method, rec.Path)
		}
	}
}
