package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flareform/flareform/internal/syncbuf"
)

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer = syncbuf.Buffer

func TestLocalCommandPrintsOneJSONLineAndStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	ios := &IOStreams{In: strings.NewReader(""), Out: stdout, ErrOut: stderr}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, ios, []string{"local", "--memory", "--json"}, func(string) string { return "" })
	}()

	var info localInfo
	deadline := time.Now().Add(30 * time.Second)
	for !strings.HasSuffix(stdout.String(), "\n") {
		if time.Now().After(deadline) {
			t.Fatalf("no JSON line within 30s; stderr:\n%s", stderr.String())
		}
		select {
		case code := <-done:
			t.Fatalf("local exited early with %d; stderr:\n%s", code, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if strings.Count(stdout.String(), "\n") != 1 {
		t.Fatalf("want exactly one line, got %q", stdout.String())
	}
	if err := json.Unmarshal([]byte(stdout.String()), &info); err != nil {
		t.Fatalf("line is not JSON: %v", err)
	}
	if info.APIToken == "" || len(info.AccountID) != 32 || info.Subdomain == "" || info.WorkersDevAddr == "" {
		t.Fatalf("incomplete info: %+v", info)
	}
	n := len(listScripts(t, info.APIBaseURL, info.APIToken, info.AccountID))
	if n != 0 {
		t.Errorf("fresh server lists %d scripts", n)
	}

	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("local exited %d after cancel; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("local did not stop after cancel")
	}
	if _, err := http.Get(info.APIBaseURL + "/accounts"); err == nil {
		t.Error("API still answers after local stopped")
	}
}

func TestLocalRejectsBadFaultRules(t *testing.T) {
	c := newCLI(t, map[string]string{})
	r := c.mustRun(exitError, "local", "--memory", "--faults", "teapot@*")
	if !strings.Contains(r.stderr, "--faults") || !strings.Contains(r.stderr, "teapot") {
		t.Errorf("stderr %q does not explain the bad rule", r.stderr)
	}
}

func TestLocalRefusesRemoteAddrsWithoutAllowRemote(t *testing.T) {
	for _, args := range [][]string{{"--addr", "0.0.0.0:0"}, {"--workers-dev-addr", ":0"}} {
		code, _, stderr := runLocalThenStop(t, args...)
		if code != exitError {
			t.Fatalf("local %v: exit %d, want %d; stderr:\n%s", args, code, exitError, stderr)
		}
		if !strings.Contains(stderr, args[1]) || !strings.Contains(stderr, "--allow-remote") || !strings.Contains(stderr, "127.0.0.1") {
			t.Errorf("local %v: stderr %q does not name the address and the fix", args, stderr)
		}
	}
}

// With --allow-remote the server starts and says on stderr that it is reachable from outside.
func TestLocalAllowRemoteWarns(t *testing.T) {
	code, stdout, stderr := runLocalThenStop(t, "--addr", "0.0.0.0:0", "--allow-remote")
	if code != exitOK {
		t.Fatalf("local --allow-remote exited %d; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "Warning: --allow-remote") || !strings.Contains(stderr, "0.0.0.0:0") {
		t.Errorf("no warning on stderr: %q", stderr)
	}
	if strings.Count(stdout, "\n") != 1 {
		t.Errorf("stdout %q, want the one JSON line", stdout)
	}
}

// runLocalThenStop runs `local --memory --json args...` under a cancelled context: a server
// that starts prints its line and stops at once, so no test can hang on it.
func runLocalThenStop(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	out, errOut := &syncBuffer{}, &syncBuffer{}
	ios := &IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut}
	code = run(ctx, ios, append([]string{"local", "--memory", "--json"}, args...), func(string) string { return "" })
	return code, out.String(), errOut.String()
}

func TestEveryCommandHasHelpWithExample(t *testing.T) {
	ios, _, _ := TestIOStreams("")
	root := newRootCmd(ios, func(string) string { return "" })
	for _, cmd := range root.Commands() {
		if cmd.Name() == "help" || cmd.Name() == "completion" {
			continue
		}
		if cmd.Short == "" || cmd.Long == "" || !strings.Contains(cmd.Example, "flareform "+cmd.Name()) {
			t.Errorf("%s: needs Short, Long and an Example that runs it", cmd.Name())
		}
	}
	c := newCLI(t, map[string]string{})
	r := c.mustRun(0, "apply", "--help")
	for _, want := range []string{"--auto-approve", "--key-out", "--no-smoke", "--smoke-out", "Examples:", "--local", "--file"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("apply --help lacks %q", want)
		}
	}
}

func TestFlagErrors(t *testing.T) {
	c := newCLI(t, map[string]string{})
	r := c.mustRun(exitError, "plan", "--no-such-flag")
	if !strings.Contains(r.stderr, "unknown flag") || !strings.Contains(r.stderr, "flareform plan --help") {
		t.Errorf("stderr %q", r.stderr)
	}
	c.mustRun(exitError, "nosuchcommand")
	c.mustRun(exitError, "init", "a", "b")
	r = c.mustRun(0, "completion", "bash")
	if !strings.Contains(r.stdout, "flareform") {
		t.Error("bash completion does not mention flareform")
	}
	r = c.mustRun(0, "version", "--json")
	var v versionInfo
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.Workerd == "" || v.Go == "" {
		t.Errorf("version --json = %q (%v)", r.stdout, err)
	}
}

func TestInitRefusesToOverwrite(t *testing.T) {
	c := newCLI(t, map[string]string{})
	dir := t.TempDir()
	c.mustRun(0, "init", dir, "--template", "text-generation", "--name", "chat")
	spec := readFile(t, dir+"/flareform.yaml")
	if !strings.Contains(spec, "chat:") {
		t.Errorf("spec does not name the worker chat:\n%s", spec)
	}
	r := c.mustRun(exitError, "init", dir)
	if !strings.Contains(r.stderr, "already exists") {
		t.Errorf("stderr %q", r.stderr)
	}
	c.mustRun(exitError, "init", t.TempDir(), "--template", "nope")
	r = c.mustRun(0, "validate", "-f", dir+"/flareform.yaml")
	if !strings.Contains(r.stdout, "OK") {
		t.Errorf("validate said %q", r.stdout)
	}
}

func TestValidateReportsJavaScriptErrorsAtTheSpecLine(t *testing.T) {
	c := newCLI(t, map[string]string{})
	dir := t.TempDir()
	c.mustRun(0, "init", dir, "--name", "images")
	if err := os.WriteFile(filepath.Join(dir, "src", "worker.js"), []byte("export default {\n  fetch( {\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(dir, "flareform.yaml")
	r := c.mustRun(exitError, "validate", "-f", spec)
	want := spec + ":" + strconv.Itoa(lineOf(t, spec, "main:")) + ":"
	if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "worker.js:") {
		t.Errorf("stderr %q lacks %q and the JavaScript position", r.stderr, want)
	}
}

// TestLocalQuirkFlagAndEnv: --quirk adds to FLAREFORM_LOCALCF_QUIRKS, and the running server
// reports both over its admin endpoint.
func TestLocalQuirkFlagAndEnv(t *testing.T) {
	t.Setenv(envLocalQuirks, "no_tag_limit")
	info, _ := startLocalProcess(t, "--quirk", "deployment_id")
	req, err := http.NewRequest(http.MethodGet, strings.TrimSuffix(info.APIBaseURL, "/client/v4")+"/__localcf/quirks", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+info.APIToken) // admin endpoints need the token
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc struct {
		Quirks []string `json:"quirks"`
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if strings.Join(doc.Quirks, ",") != "no_tag_limit,deployment_id" {
		t.Errorf("quirks in force %v, want [no_tag_limit deployment_id]", doc.Quirks)
	}
}

func TestLocalRejectsUnknownQuirk(t *testing.T) {
	c := newCLI(t, map[string]string{})
	r := c.mustRun(exitError, "local", "--memory", "--quirk", "telepathy")
	if !strings.Contains(r.stderr, "--quirk") || !strings.Contains(r.stderr, "main_module_by_filename") {
		t.Errorf("stderr %q does not name the flag and the known quirks", r.stderr)
	}
}
