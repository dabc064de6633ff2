package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLocalServesTheProjectStateThatLocalCommandsUse: `flareform local -f SPEC` serves
// <spec dir>/.flareform/local, and apply/invoke/plan --local of that project talk to it while it
// runs, then use the same state on their own once it stops.
func TestLocalServesTheProjectStateThatLocalCommandsUse(t *testing.T) {
	c := newCLI(t, map[string]string{})
	spec := initProject(t, c, "shared")
	projectDir := filepath.Join(filepath.Dir(spec), ".flareform")

	// An embedded server stops with the command: apply says how to reach the worker later.
	r := c.mustRun(0, "apply", "-f", spec, "--local", "--auto-approve")
	for _, want := range []string{"The local Cloudflare stopped", "flareform local -f " + spec, "flareform invoke -f " + spec + " --local shared"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("apply --local output lacks %q:\n%s", want, r.stdout)
		}
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		ios := &IOStreams{In: strings.NewReader(""), Out: stdout, ErrOut: stderr}
		done <- run(ctx, ios, []string{"local", "-f", spec, "--json"}, func(string) string { return "" })
	}()
	info := waitForLocalLine(t, stdout, stderr, done)

	// The server serves what the embedded one deployed: one state.
	out := filepath.Join(t.TempDir(), "answer.png")
	c.mustRun(0, "invoke", "shared", "-f", spec, "--local", "--prompt", "a boat", "-o", out)
	assertPNGIn(t, filepath.Dir(out))

	editFile(t, spec, `MAX_PROMPT_CHARS: "1000"`, `MAX_PROMPT_CHARS: "500"`)
	r = c.mustRun(0, "apply", "-f", spec, "--local", "--auto-approve")
	if strings.Contains(r.stdout, "The local Cloudflare stopped") || !strings.Contains(r.stdout, "1 updated") {
		t.Errorf("apply against the running local server:\n%s", r.stdout)
	}
	if n := len(listScripts(t, info.APIBaseURL, info.APIToken, info.AccountID)); n != 1 {
		t.Fatalf("the running local server has %d scripts after apply --local, want 1", n)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("local exited %d: %s", code, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(projectDir, localServerFile)); !os.IsNotExist(err) {
		t.Errorf("%s left behind after the server stopped: %v", localServerFile, err)
	}
	// Same state without the server: the embedded one finds the worker deployed.
	r = c.mustRun(0, "plan", "-f", spec, "--local", "--detailed-exitcode")
	if !strings.Contains(r.stdout, "No changes.") {
		t.Errorf("plan --local after the server stopped:\n%s", r.stdout)
	}
}

func waitForLocalLine(t *testing.T, stdout, stderr *syncBuffer, done chan int) localInfo {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.HasSuffix(stdout.String(), "\n") {
		if time.Now().After(deadline) {
			t.Fatalf("no JSON line from local; stderr:\n%s", stderr.String())
		}
		select {
		case code := <-done:
			t.Fatalf("local exited early with %d; stderr:\n%s", code, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	var info localInfo
	if err := json.Unmarshal([]byte(stdout.String()), &info); err != nil {
		t.Fatalf("local --json: %v: %q", err, stdout.String())
	}
	return info
}
